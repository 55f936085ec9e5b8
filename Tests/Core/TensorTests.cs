namespace Vgg.Engine.Tests.Core;

public class TensorTests
{
    [Test]
    public void ReshapeInfersOneDimensionAndSharesData()
    {
        var t = Tensor.From(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var v = t.Reshape(3, -1);
        Assert.That(v.Shape, Is.EqualTo(new[] { 3, 2 }));
        v.AsSpan<float>()[5] = 60;
        Assert.That(t.AsSpan<float>()[5], Is.EqualTo(60f));
        Assert.Throws<ArgumentException>(() => t.Reshape(4, -1));
        Assert.Throws<ArgumentException>(() => t.Reshape(-1, -1));
    }

    [Test]
    public void ReadingWithTheWrongElementTypeThrows()
    {
        var t = Tensor.From(new long[] { 1, 2 });
        Assert.Throws<InvalidOperationException>(() => t.AsSpan<float>());
        Assert.That(t.ToInt64Array(), Is.EqualTo(new long[] { 1, 2 }));
    }

    [TestCase(1.5f, (ushort)0x3FC0)]
    [TestCase(-2.5f, (ushort)0xC020)]
    [TestCase(1.00390625f, (ushort)0x3F80)] // halfway between 0x3F80 and 0x3F81: ties to even
    [TestCase(1.01171875f, (ushort)0x3F82)] // halfway between 0x3F81 and 0x3F82: ties to even
    public void BFloat16RoundsToNearestEven(float value, ushort bits)
    {
        Assert.That(DTypes.SingleToBFloat16(value), Is.EqualTo(bits));
    }

    [Test]
    public void ConvertsEveryNumericTypeToFloat()
    {
        Assert.That(Tensor.From(new sbyte[] { -128, 127 }).ToFloatArray(), Is.EqualTo(new[] { -128f, 127f }));
        Assert.That(Tensor.From(new Half[] { (Half)1.5f, (Half)(-2.25f) }).ToFloatArray(), Is.EqualTo(new[] { 1.5f, -2.25f }));
        Assert.That(Tensor.From(new bool[] { true, false }).ToFloatArray(), Is.EqualTo(new[] { 1f, 0f }));
        var bf = new Tensor(DType.BFloat16, new[] { 1 });
        bf.AsSpan<ushort>()[0] = 0x3FC0;
        Assert.That(bf.ToFloatArray(), Is.EqualTo(new[] { 1.5f }));
    }
}
