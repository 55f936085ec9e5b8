using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.Cuda.Reference;

namespace Vgg.Engine.Tests.Cuda;

/// <summary>The INT8 scheme's arithmetic on hand-worked values (the GPU kernels must match these bits).</summary>
public class Int8SchemeTests
{
    [TestCase(2.5f, 1f, (sbyte)2)]     // ties to even
    [TestCase(3.5f, 1f, (sbyte)4)]
    [TestCase(-2.5f, 1f, (sbyte)-2)]
    [TestCase(-0.5f, 1f, (sbyte)0)]
    [TestCase(1000f, 1f, (sbyte)127)]  // saturates
    [TestCase(-1000f, 1f, (sbyte)-128)]
    [TestCase(0.3f, 0.1f, (sbyte)3)]   // 0.3f / 0.1f = 2.9999998 in float32 -> 3
    public void ActivationQuantizationRoundsHalfToEvenAndSaturates(float x, float s, sbyte q) =>
        Assert.That(Int8Scheme.QuantizeActivation(x, s), Is.EqualTo(q));

    [Test]
    public void WeightScalesArePerOutputChannelAndCodesSymmetric()
    {
        float[] w = { 0.5f, -1.27f, 0.0f, /* channel 1 */ 2.54f, 1.27f, -2.54f, /* channel 2 */ 0f, 0f, 0f };
        var s = Int8Scheme.WeightScales(w, 3);
        Assert.That(s, Is.EqualTo(new[] { 1.27f / 127, 2.54f / 127, 1f }));
        var q = Int8Scheme.QuantizeWeights(w, s);
        Assert.That(q, Is.EqualTo(new sbyte[] { 50, -127, 0, 127, 64, -127, 0, 0, 0 }).AsCollection);
    }

    [Test]
    public void BiasIsRoundedInAccumulatorUnits()
    {
        var b = Int8Scheme.QuantizeBias(new[] { 1.0f, -0.25f }, 0.5f, new[] { 0.1f, 0.2f });
        Assert.That(b, Is.EqualTo(new[] { 20, -2 })); // 1/(0.05) = 20; -0.25/0.1 = -2.5 -> -2 (even)
    }

    [Test]
    public void RequantizationIsOneFloatMultiplyThenRoundHalfEven()
    {
        // m = 0.5: 5 * 0.5 = 2.5 -> 2, 7 * 0.5 = 3.5 -> 4, -5 * 0.5 = -2.5 -> -2
        Assert.That(Int8Scheme.Requantize(5, 0.5f, false), Is.EqualTo((sbyte)2));
        Assert.That(Int8Scheme.Requantize(7, 0.5f, false), Is.EqualTo((sbyte)4));
        Assert.That(Int8Scheme.Requantize(-5, 0.5f, false), Is.EqualTo((sbyte)-2));
        Assert.That(Int8Scheme.Requantize(-5, 0.5f, true), Is.EqualTo((sbyte)0));
        Assert.That(Int8Scheme.Requantize(1 << 20, 1f, false), Is.EqualTo((sbyte)127));
        Assert.That(Int8Scheme.Requantize(int.MinValue, 1f, false), Is.EqualTo((sbyte)-128));
        // float32(16777217) = 16777216: the int -> float conversion rounds, as cvt.rn.f32.s32 does
        Assert.That(Int8Scheme.Dequantize(16777217, 1f, false), Is.EqualTo(16777216f));
        Assert.That(Int8Scheme.Dequantize(-3, 0.25f, true), Is.EqualTo(0f));
    }

    [Test]
    public void MultipliersAreComputedInDoubleThenRounded()
    {
        var m = Int8Scheme.RequantizeMultipliers(0.1f, new[] { 0.3f }, 0.7f);
        Assert.That(m[0], Is.EqualTo((float)(0.1f * (double)0.3f / 0.7f)));
    }

    [TestCase(10, 4, (sbyte)2)]    // 2.5 -> 2
    [TestCase(14, 4, (sbyte)4)]    // 3.5 -> 4
    [TestCase(-10, 4, (sbyte)-2)]  // -2.5 -> -2
    [TestCase(-14, 4, (sbyte)-4)]  // -3.5 -> -4
    [TestCase(-11, 4, (sbyte)-3)]  // -2.75 -> -3
    [TestCase(7, 3, (sbyte)2)]     // 2.33 -> 2
    public void RoundedMeanIsExact(int sum, int count, sbyte q) => Assert.That(Int8Scheme.RoundedMean(sum, count), Is.EqualTo(q));

    [Test]
    public void ReferenceConvOnAHandWorkedCase()
    {
        // 1 image 2x2, 1 channel, one 3x3 filter of ones, padding 1: every output sums the whole image.
        sbyte[] x = { 1, 2, 3, 4 };
        sbyte[] w = Enumerable.Repeat((sbyte)1, 9).ToArray();
        var acc = Int8Reference.ConvAccumulators(x, w, new[] { 100 }, ConvGeometry.Conv3x3(1, 2, 2, 1, 1));
        Assert.That(acc, Is.EqualTo(new[] { 110, 110, 110, 110 }));
        // stride 2, no padding, 2 groups of one channel each
        var g = new ConvGeometry(1, 3, 3, 2, 2, R: 2, S: 2, StrideH: 1, StrideW: 1, PadTop: 0, PadLeft: 0, PadBottom: 0, PadRight: 0, Groups: 2);
        sbyte[] x2 = new sbyte[18];
        for (int i = 0; i < 9; i++) { x2[2 * i] = (sbyte)i; x2[2 * i + 1] = (sbyte)(-i); }
        sbyte[] w2 = { 1, 1, 1, 1, /* group 1 */ 2, 0, 0, 0 };
        var acc2 = Int8Reference.ConvAccumulators(x2, w2, ReadOnlySpan<int>.Empty, g);
        // output (0,0): group 0 sums x[0,1,3,4] = 8; group 1: 2 * (-0) = 0
        Assert.That(acc2[0], Is.EqualTo(8));
        Assert.That(acc2[1], Is.EqualTo(0));
        // output (1,1) (index 3): group 0 sums 4+5+7+8 = 24; group 1: 2 * (-4) = -8
        Assert.That(acc2[3 * 2], Is.EqualTo(24));
        Assert.That(acc2[3 * 2 + 1], Is.EqualTo(-8));
    }

    [Test]
    public void ReferencePoolsFollowPyTorchBins()
    {
        sbyte[] x = { 1, 5, -3, 2, /* row 1 */ 7, -8, 0, 4 }; // 1x2x4x1
        var mp = Int8Reference.MaxPool(x, 1, 2, 4, 1, 1, 2, 2, 2, 2, 2, 0, 0);
        Assert.That(mp, Is.EqualTo(new sbyte[] { 7, 4 }));
        var ap = Int8Reference.AdaptiveAvgPool(x, 1, 2, 4, 1, 1, 3); // bins [0,2) [1,3) [2,4) over columns
        // col bins: {1,5,7,-8} sum 5 /4 = 1.25 -> 1; {5,-3,-8,0} = -6/4 = -1.5 -> -2; {-3,2,0,4} = 3/4 = 0.75 -> 1
        Assert.That(ap, Is.EqualTo(new sbyte[] { 1, -2, 1 }));
    }
}
