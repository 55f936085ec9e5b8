using Vgg.Engine.Cpu.Fp16;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.IR;
using Vgg.Engine.Quantization;

namespace Vgg.Engine.Tests.Quantization;

/// <summary>Load-time weight conversion of the precision pass: INT8 per-channel codes, int32 biases, multipliers; FP16 rounding.</summary>
public class WeightQuantizationTests
{
    [Test]
    public void ConvWeightsArePerOutputChannelKrscWithAnAllZeroChannelAtScaleOne()
    {
        // [M=3, C=2, 1, 2] OIHW: channel 0 max |w| 1.27, channel 1 all zero, channel 2 max 2.54
        var w = Tensor.From(new[] { 0.5f, -1.27f, 0.0f, 0.635f, /**/ 0f, 0f, 0f, 0f, /**/ 2.54f, 1.27f, -2.54f, 0.01f }, 3, 2, 1, 2);
        var (codes, bias, mult) = PrecisionPass.ConvWeights(w, new[] { 0.1f, 0.2f, -0.3f }, 0.5f, 0.25f);
        // KRSC by hand: [m][r=0][s][c] = w[m][c][0][s]
        var krsc = new[] { 0.5f, 0.0f, -1.27f, 0.635f, /**/ 0f, 0f, 0f, 0f, /**/ 2.54f, -2.54f, 1.27f, 0.01f };
        var s = Int8Scheme.WeightScales(krsc, 3);
        Assert.That(s, Is.EqualTo(new[] { 1.27f / 127, 1f, 2.54f / 127 }));
        Assert.That(codes, Is.EqualTo(Int8Scheme.QuantizeWeights(krsc, s)).AsCollection);
        Assert.That(codes[0], Is.EqualTo(50));
        Assert.That(codes[2], Is.EqualTo(-127));
        Assert.That(codes.Skip(4).Take(4), Is.All.EqualTo(0), "the all-zero channel");
        Assert.That(codes[8], Is.EqualTo(127));
        Assert.That(codes[9], Is.EqualTo(-127));
        Assert.That(bias, Is.EqualTo(Int8Scheme.QuantizeBias(new[] { 0.1f, 0.2f, -0.3f }, 0.5f, s)));
        Assert.That(bias[1], Is.EqualTo(0), "0.2 / (0.5 · 1) = 0.4 → 0");
        Assert.That(mult, Is.EqualTo(Int8Scheme.RequantizeMultipliers(0.5f, s, 0.25f)));
        Assert.That(mult[1], Is.EqualTo(2f), "scale 1 for the all-zero channel: 0.5 · 1 / 0.25");
    }

    [Test]
    public void BiasRoundsHalfToEvenInAccumulatorUnitsAndSaturates()
    {
        // s_x·s_w = 0.5·0.25 = 0.125 exactly: b/0.125 = 2.5 → 2, 3.5 → 4, −2.5 → −2, −3.5 → −4; 1e12 saturates
        var b = Int8Scheme.QuantizeBias(new[] { 0.3125f, 0.4375f, -0.3125f, -0.4375f, 1e12f, -1e12f }, 0.5f, Enumerable.Repeat(0.25f, 6).ToArray());
        Assert.That(b, Is.EqualTo(new[] { 2, 4, -2, -4, int.MaxValue, int.MinValue }));
    }

    [Test]
    public void Int8PassConvertsLinearWeightsPerRowAndTransposesTransBFalse()
    {
        var g = new Graph { Name = "lin" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { -1, 3 }));
        // B [K=3, N=2] (TransB false): column n is output channel n
        g.Initializers["B"] = Tensor.From(new[] { 1f, 0.1f, -2f, 0.2f, 0.5f, -0.4f }, 3, 2);
        g.Initializers["C"] = Tensor.From(new[] { 0.25f, -0.25f }, 2);
        g.Nodes.Add(new Node("fc", new GemmOp(Beta: 2f), new[] { "x", "B", "C" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, null));
        var table = CalibrationTable.FromMaxAbs(null, new Dictionary<string, float> { ["x"] = 1.27f });
        var q = PrecisionPass.ToInt8(g, table);
        var node = q.Nodes.Single(n => n.Op is Int8GemmOp);
        var op = (Int8GemmOp)node.Op;
        Assert.That(op.DequantizeOutput, Is.True, "an output with no INT8 consumer dequantizes");
        var codes = q.Initializers[node.Inputs[1]];
        Assert.That(codes.Shape, Is.EqualTo(new[] { 2, 3 }));
        // row 0 = (1, -2, 0.5): scale 2/127 → (64 (63.5 → 64), -127, 32 (31.75 → 32)); row 1 = (0.1, 0.2, -0.4): scale 0.4/127
        var w0 = new[] { 1f, -2f, 0.5f };
        var w1 = new[] { 0.1f, 0.2f, -0.4f };
        var s = Int8Scheme.WeightScales(w0.Concat(w1).ToArray(), 2);
        Assert.That(codes.AsSpan<sbyte>().ToArray(), Is.EqualTo(Int8Scheme.QuantizeWeights(w0.Concat(w1).ToArray(), s)).AsCollection);
        var bias = q.Initializers[node.Inputs[2]].AsSpan<int>().ToArray();
        Assert.That(bias, Is.EqualTo(Int8Scheme.QuantizeBias(new[] { 0.5f, -0.5f }, 1.27f / 127, s)), "bias = Beta · C");
        var d = q.Initializers[node.Inputs[3]].AsSpan<float>().ToArray();
        Assert.That(d, Is.EqualTo(Int8Scheme.DequantizeFactors(1.27f / 127, s)));
    }

    [Test]
    public void Fp16PassRoundsToNearestEvenAndRejectsOverflow()
    {
        var g = new Graph { Name = "f16" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { -1, 1, 3, 3 }));
        // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties to even → 1; 1 + 3·2^-11 → 1 + 2^-9
        g.Initializers["w"] = Tensor.From(new[] { 1f + MathF.Pow(2, -11), 1f + 3 * MathF.Pow(2, -11), 0.1f, -65504f }, 4, 1, 1, 1);
        g.Initializers["fc"] = Tensor.From(new[] { 0.1f, 0.2f, 0.3f, 0.4f }, 1, 4);
        g.Nodes.Add(new Node("conv", ConvOp.Conv2d(1), new[] { "x", "w" }, new[] { "c" }));
        g.Nodes.Add(new Node("gap", new GlobalAveragePoolOp(), new[] { "c" }, new[] { "p" }));
        g.Nodes.Add(new Node("flat", new FlattenOp(1), new[] { "p" }, new[] { "f" }));
        g.Nodes.Add(new Node("fc", GemmOp.Linear(), new[] { "f", "fc" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, null));
        var h = PrecisionPass.ToFp16(g);
        var conv = h.Nodes.Single(n => n.Op is ConvOp);
        var w = h.Initializers[conv.Inputs[1]].AsSpan<float>().ToArray();
        Assert.That(w, Is.EqualTo(new[] { 1f, 1f + MathF.Pow(2, -9), (float)(Half)0.1f, -65504f }));
        Assert.That(h.Nodes.Single(n => n.Op is Fp16GemmOp).Inputs[1], Is.EqualTo("fc.fp16"));
        Assert.That(h.Initializers["fc.fp16"].DType, Is.EqualTo(DType.Float16));
        // the pass recognises its output: applying it again changes nothing (same tensors, so weight caches hit)
        var again = PrecisionPass.ToFp16(h);
        Assert.That(again.Initializers[conv.Inputs[1]], Is.SameAs(h.Initializers[conv.Inputs[1]]));
        Assert.That(PrecisionPass.ToFp16(g).Initializers[conv.Inputs[1]], Is.SameAs(h.Initializers[conv.Inputs[1]]), "one rounded copy per weight tensor");

        g.Initializers["w"] = Tensor.From(new[] { 70000f, 0f, 0f, 0f }, 4, 1, 1, 1);
        var e = Assert.Throws<GraphException>(() => PrecisionPass.ToFp16(g))!;
        Assert.That(e.Message, Does.Contain("'w'"));
        Assert.That(e.Message, Does.Contain("65504"));
    }

    [Test]
    public void HalfWideningIsExactForEveryBitPattern()
    {
        var bits = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        var f = new float[bits.Length];
        HalfWidening.Widen(bits, f);
        for (int i = 0; i < bits.Length; i++)
        {
            float e = (float)BitConverter.UInt16BitsToHalf(bits[i]);
            if (float.IsNaN(e))
            {
                Assert.That(float.IsNaN(f[i]), $"0x{i:X4} is a NaN");
                Assert.That(BitConverter.SingleToUInt32Bits(f[i]) & 0x803FE000u, Is.EqualTo(BitConverter.SingleToUInt32Bits(e) & 0x803FE000u), $"0x{i:X4} sign and payload");
            }
            else Assert.That(BitConverter.SingleToInt32Bits(f[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(e)), $"0x{i:X4}: {f[i]} vs {e}");
        }
    }
}
