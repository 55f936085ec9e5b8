using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Tests.Core;

namespace Vgg.Engine.Tests.Cpu;

/// <summary>Hand-worked cases for reference-operator behaviour the ONNX node cases do not cover.</summary>
public class ReferenceOpsTests
{
    private static Tensor[] Eval(Op op, params Tensor?[] inputs) => Eval(op, 1, inputs);

    private static Tensor[] Eval(Op op, int outputs, params Tensor?[] inputs)
    {
        var node = new Node("n", op, inputs.Select((t, i) => t is null ? "" : $"i{i}"), Enumerable.Range(0, outputs).Select(i => $"o{i}"));
        return ReferenceOps.Evaluate(node, inputs);
    }

    [Test]
    public void QuantizeRoundsHalfToEvenAndSaturates()
    {
        var x = Tensor.From(new[] { 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000f, -1000f, 3.49f });
        var q = Eval(new QuantizeLinearOp(), x, Tensor.Scalar(1f), Tensor.FromSpan<sbyte>(new sbyte[] { 0 }, Array.Empty<int>()))[0];
        Assert.That(q.DType, Is.EqualTo(DType.Int8));
        Assert.That(q.AsSpan<sbyte>().ToArray(), Is.EqualTo(new sbyte[] { 0, 2, 2, -0, -2, 127, -128, 3 }));
        var u = Eval(new QuantizeLinearOp(), x, Tensor.Scalar(0.5f), Tensor.FromSpan<byte>(new byte[] { 10 }, Array.Empty<int>()))[0];
        Assert.That(u.AsSpan<byte>().ToArray(), Is.EqualTo(new byte[] { 11, 13, 15, 9, 7, 255, 0, 17 }));
    }

    [Test]
    public void PerAxisQuantizeDequantizeRoundTrip()
    {
        // x [2, 3], per-axis scales along axis 1 (one per column).
        var x = Tensor.From(new[] { 1f, -2f, 3f, 0.3f, 0.6f, -12f }, 2, 3);
        var s = Tensor.From(new[] { 0.1f, 0.2f, 0.5f });
        var z = Tensor.From(new sbyte[] { 0, 1, -1 });
        var q = Eval(new QuantizeLinearOp(Axis: 1), x, s, z)[0];
        Assert.That(q.AsSpan<sbyte>().ToArray(), Is.EqualTo(new sbyte[] { 10, -9, 5, 3, 4, -25 }));
        var d = Eval(new DequantizeLinearOp(Axis: 1), q, s, z)[0];
        TensorAssert.Close(Tensor.From(new[] { 1f, -2f, 3f, 0.3f, 0.6f, -12f }, 2, 3), d, 1e-6, 1e-6, "dequantized");
        var wrongZero = Tensor.From(new byte[] { 0, 1, 2 });
        Assert.Throws<GraphException>(() => Eval(new DequantizeLinearOp(Axis: 1), q, s, wrongZero));
    }

    [Test]
    public void MaxPoolIndicesRowAndColumnMajor()
    {
        // 1×1×2×3 input; 2×2 window stride 1 → 1×2 outputs.
        var x = Tensor.From(new[] { 1f, 9f, 2f, 3f, 4f, 8f }, 1, 1, 2, 3);
        var op = new MaxPoolOp(new[] { 2, 2 }, new[] { 1, 1 }, new[] { 0, 0, 0, 0 }, new[] { 1, 1 });
        var rm = Eval(op, 2, x);
        Assert.That(rm[0].ToFloatArray(), Is.EqualTo(new[] { 9f, 9f }));
        Assert.That(rm[1].ToInt64Array(), Is.EqualTo(new long[] { 1, 1 })); // (h 0, w 1) row-major: 0·3 + 1
        var cm = Eval(op with { StorageOrder = 1 }, 2, x);
        Assert.That(cm[1].ToInt64Array(), Is.EqualTo(new long[] { 2, 2 })); // column-major: w·H + h = 1·2 + 0
        var u8 = Eval(op, Tensor.From(new byte[] { 1, 255, 2, 3, 4, 200 }, 1, 1, 2, 3))[0];
        Assert.That(u8.AsSpan<byte>().ToArray(), Is.EqualTo(new byte[] { 255, 255 }));
    }

    [Test]
    public void AveragePoolCeilModeDividesByValidCount()
    {
        // 1×1×1×5, kernel 2 stride 2 ceil → 3 windows: [0,1], [2,3], [4] (the last is clipped: divisor 1).
        var x = Tensor.From(new[] { 1f, 3f, 5f, 7f, 10f }, 1, 1, 1, 5);
        var op = new AveragePoolOp(new[] { 1, 2 }, new[] { 1, 2 }, new[] { 0, 0, 0, 0 }, new[] { 1, 1 }, CeilMode: true);
        Assert.That(Eval(op, x)[0].ToFloatArray(), Is.EqualTo(new[] { 2f, 6f, 10f }));
        // count_include_pad with pad 1: windows [-1,0], [1,2], [3,4] → divisor 2 including the pad tap.
        var padded = new AveragePoolOp(new[] { 1, 2 }, new[] { 1, 2 }, new[] { 0, 1, 0, 1 }, new[] { 1, 1 }, CountIncludePad: true);
        Assert.That(Eval(padded, x)[0].ToFloatArray(), Is.EqualTo(new[] { 0.5f, 4f, 8.5f }));
    }

    [Test]
    public void AdaptiveAvgPoolUsesOverlappingPyTorchBins()
    {
        // L = 5 → O = 3: bins [0,2), [1,4), [3,5) (floor(i·5/3), ceil((i+1)·5/3)).
        var x = Tensor.From(new[] { 1f, 2f, 3f, 4f, 5f }, 1, 1, 1, 5);
        var y = Eval(new AdaptiveAvgPoolOp(1, 3), x)[0];
        Assert.That(y.ToFloatArray(), Is.EqualTo(new[] { 1.5f, 3f, 4.5f }));
    }

    [Test]
    public void SoftmaxCoerce2DDiffersFromAxisSemantics()
    {
        var x = Tensor.From(new[] { 1f, 2f, 3f, 4f }, 1, 2, 2);
        var axis = Eval(new SoftmaxOp(1), x)[0].ToFloatArray();
        var coerced = Eval(new SoftmaxOp(1, Coerce2D: true), x)[0].ToFloatArray();
        Assert.That(axis[0] + axis[2], Is.EqualTo(1f).Within(1e-6));  // softmax over dim 1 only
        Assert.That(coerced.Sum(), Is.EqualTo(1f).Within(1e-6));       // softmax over the flattened [2·2]
        var log = Eval(new LogSoftmaxOp(-1), x)[0].ToFloatArray();
        Assert.That(Math.Exp(log[0]) + Math.Exp(log[1]), Is.EqualTo(1.0).Within(1e-6));
    }

    [Test]
    public void ReshapeAllowZeroAndFlattenNegativeAxis()
    {
        var x = Tensor.From(new float[6], 2, 3, 1);
        var r = Eval(new ReshapeOp(), x, Tensor.From(new long[] { 0, -1 }))[0];
        Assert.That(r.Shape, Is.EqualTo(new[] { 2, 3 }));
        var empty = new Tensor(DType.Float32, new[] { 0, 3 });
        Assert.That(Eval(new ReshapeOp(AllowZero: true), empty, Tensor.From(new long[] { 3, 0 }))[0].Shape, Is.EqualTo(new[] { 3, 0 }));
        Assert.That(Eval(new FlattenOp(-1), x)[0].Shape, Is.EqualTo(new[] { 6, 1 }));
    }

    [Test]
    public void IntegerArithmeticWrapsAndDivisionByZeroIsAnError()
    {
        var a = Tensor.From(new byte[] { 250, 3 });
        var b = Tensor.From(new byte[] { 10, 4 });
        Assert.That(Eval(new BinaryOp(BinaryKind.Add), a, b)[0].AsSpan<byte>().ToArray(), Is.EqualTo(new byte[] { 4, 7 }));
        Assert.That(Eval(new BinaryOp(BinaryKind.Sub), b, a)[0].AsSpan<byte>().ToArray(), Is.EqualTo(new byte[] { 16, 1 }));
        var i = Tensor.From(new long[] { 7, -7 });
        Assert.That(Eval(new BinaryOp(BinaryKind.Div), i, Tensor.From(new long[] { 2, 2 }))[0].ToInt64Array(), Is.EqualTo(new long[] { 3, -3 }));
        var ex = Assert.Throws<GraphException>(() => Eval(new BinaryOp(BinaryKind.Div), i, Tensor.From(new long[] { 1, 0 })));
        Assert.That(ex!.NodeName, Is.EqualTo("n"));
    }

    [Test]
    public void UnsupportedDtypeNamesTheNode()
    {
        var x = Tensor.From(new int[] { 1, 2, 3, 4 }, 1, 1, 2, 2);
        var ex = Assert.Throws<UnsupportedOperatorException>(() => Eval(new AveragePoolOp(new[] { 2, 2 }, new[] { 1, 1 }, new int[4], new[] { 1, 1 }), x));
        Assert.That(ex!.Message, Does.Contain("node 'n'").And.Contain("int32"));
    }

    [Test]
    public void CastRoundsToNearestEvenForHalfAndBFloat16()
    {
        var x = Tensor.From(new[] { 1.00390625f, 1.01171875f, 65520f, float.NaN });
        var bf = Eval(new CastOp(DType.BFloat16), x)[0].AsSpan<ushort>().ToArray();
        Assert.That(bf[..2], Is.EqualTo(new ushort[] { 0x3F80, 0x3F82 }));
        Assert.That(DTypes.BFloat16ToSingle(bf[3]), Is.NaN);
        var h = Eval(new CastOp(DType.Float16), x)[0].AsSpan<Half>().ToArray();
        Assert.That(Half.IsPositiveInfinity(h[2]), Is.True, "65520 rounds to +inf in binary16 (ties to even beyond 65504)");
        var back = Eval(new CastOp(DType.Int32), Tensor.From(new[] { -2.7f, 2.7f }))[0].AsSpan<int>().ToArray();
        Assert.That(back, Is.EqualTo(new[] { -2, 2 }));
    }

    [Test]
    public void FusedConvReluMaxPoolEqualsTheUnfusedChain()
    {
        var rng = new Random(11);
        float R() => (float)(rng.NextDouble() * 2 - 1);
        var x = Tensor.From(Enumerable.Range(0, 2 * 3 * 9 * 9).Select(_ => R()).ToArray(), 2, 3, 9, 9);
        var w = Tensor.From(Enumerable.Range(0, 4 * 3 * 9).Select(_ => R()).ToArray(), 4, 3, 3, 3);
        var b = Tensor.From(Enumerable.Range(0, 4).Select(_ => R()).ToArray());
        var conv = ConvOp.Conv2d(3, 1, 1);
        var pool = MaxPoolOp.MaxPool2d(2, ceilMode: true);
        var y1 = Eval(new MaxPoolOp(pool.KernelShape, pool.Strides, pool.Pads, pool.Dilations, true), Eval(new UnaryOp(UnaryKind.Relu), Eval(conv, x, w, b)[0])[0])[0];
        var y2 = Eval(conv with { Activation = Activation.Relu, FusedMaxPool = pool }, x, w, b)[0];
        Assert.That(y2.Shape, Is.EqualTo(new[] { 2, 4, 5, 5 }));
        Assert.That(y2.ToFloatArray(), Is.EqualTo(y1.ToFloatArray()));
    }
}
