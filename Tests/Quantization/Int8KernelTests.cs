using Vgg.Engine.Cpu.Int8;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.Cuda.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Quantization;
using Vgg.Engine.Runtime;

namespace Vgg.Engine.Tests.Quantization;

/// <summary>
/// The CPU INT8 steps against the CPU INT8 reference of the CUDA backend (Int8Reference, Int8Scheme): bit-exact on every
/// instruction-set path (forced through Int8Cpu.Forced), on VGG-16's layer shapes at reduced spatial size and on odd
/// geometries (strides, dilations, kernel sizes, channel counts that are not multiples of the k-step or of the 64-channel
/// block, signed and non-negative inputs, fused 2×2 and general pools, batches).
/// </summary>
[NonParallelizable]
public class Int8KernelTests
{
    /// <summary>Every INT8 path, by name (Int8Isa is internal; test methods are public).</summary>
    public static readonly string[] Isas = Enum.GetNames<Int8Isa>();

    public sealed record ConvCase(string Name, int N, int H, int W, int C, int K, int KH = 3, int KW = 3, int Stride = 1, int[]? Pads = null, int Dilation = 1,
        bool Relu = true, MaxPoolOp? Pool = null, bool NonNegative = true)
    {
        public override string ToString() => Name;
    }

    private static readonly MaxPoolOp Pool2 = MaxPoolOp.MaxPool2d(2, 2);

    public static IEnumerable<ConvCase> ConvCases()
    {
        // VGG-16's layers (channels as in torchvision) at reduced spatial size
        yield return new("conv1_1 3->64 9x11 signed input", 1, 9, 11, 3, 64, NonNegative: false);
        yield return new("conv1_2 64->64 10x10 +pool", 1, 10, 10, 64, 64, Pool: Pool2);
        yield return new("conv2_1 64->128 7x9", 1, 7, 9, 64, 128);
        yield return new("conv2_2 128->128 7x9 +pool (odd: floor)", 1, 7, 9, 128, 128, Pool: Pool2);
        yield return new("conv3_1 128->256 6x6", 1, 6, 6, 128, 256);
        yield return new("conv3_3 256->256 5x5 +pool", 1, 5, 5, 256, 256, Pool: Pool2);
        yield return new("conv4_1 256->512 4x4", 1, 4, 4, 256, 512);
        yield return new("conv5_3 512->512 3x5 +pool", 1, 3, 5, 512, 512, Pool: Pool2);
        // odd geometries
        yield return new("5->70 stride 2 signed no relu", 2, 9, 8, 5, 70, Stride: 2, Relu: false, NonNegative: false);
        yield return new("8->16 5x5 pad 2", 1, 7, 6, 8, 16, KH: 5, KW: 5, Pads: new[] { 2, 2, 2, 2 });
        yield return new("6->20 dilation 2 pad 2", 1, 8, 9, 6, 20, Pads: new[] { 2, 2, 2, 2 }, Dilation: 2);
        yield return new("16->24 1x1 pad 0", 3, 5, 4, 16, 24, KH: 1, KW: 1, Pads: new[] { 0, 0, 0, 0 });
        yield return new("12->33 asymmetric pads, general pool 3x3/2 ceil", 1, 9, 10, 12, 33, Pads: new[] { 1, 0, 0, 1 },
            Pool: MaxPoolOp.MaxPool2d(3, 2, 0, ceilMode: true));
        yield return new("7->65 3x1 kernel, batch 2, pool", 2, 8, 6, 7, 65, KH: 3, KW: 1, Pads: new[] { 1, 0, 1, 0 }, Pool: Pool2, NonNegative: false);
    }

    public static IEnumerable<TestCaseData> ConvData() =>
        from c in ConvCases() from isa in Isas select new TestCaseData(c, isa).SetName($"Int8Conv({c.Name}, {isa})");

    /// <summary>Random codes, bias and multipliers that spread the outputs over the code range (some saturate).</summary>
    private static (sbyte[] X, sbyte[] W, int[] B, float[] M) RandomConv(int seed, ConvCase c)
    {
        var rng = new Random(seed);
        var x = new sbyte[(long)c.N * c.H * c.W * c.C];
        for (int i = 0; i < x.Length; i++) x[i] = (sbyte)(c.NonNegative ? rng.Next(0, 128) : rng.Next(-128, 128));
        int k = c.KH * c.KW * c.C;
        var w = new sbyte[(long)c.K * k];
        for (int i = 0; i < w.Length; i++) w[i] = (sbyte)rng.Next(-127, 128);
        var b = Enumerable.Range(0, c.K).Select(_ => rng.Next(-20000, 20000)).ToArray();
        double typical = Math.Sqrt(k) * 73 * (c.NonNegative ? 64 : 73);
        var m = Enumerable.Range(0, c.K).Select(_ => (float)(60 / typical * (0.5 + rng.NextDouble()))).ToArray();
        return (x, w, b, m);
    }

    private static Graph SingleNode(Op op, ValueInfo input, Dictionary<string, Tensor> constants, string[] inputNames, DType outType)
    {
        var g = new Graph { Name = "single" };
        g.Inputs.Add(input);
        foreach (var (k, v) in constants) g.Initializers[k] = v;
        g.Nodes.Add(new Node("op", op, inputNames, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", outType, null));
        return g;
    }

    [TestCaseSource(nameof(ConvData))]
    public void ConvMatchesInt8ReferenceBitExactly(ConvCase c, string isa)
    {
        QuantTestNets.RequireIsa(Enum.Parse<Int8Isa>(isa));
        var (x, w, b, m) = RandomConv(17, c);
        var pads = c.Pads ?? new[] { 1, 1, 1, 1 };
        var conv = new ConvOp(new[] { c.KH, c.KW }, new[] { c.Stride, c.Stride }, pads, new[] { c.Dilation, c.Dilation }, 1)
        {
            Activation = c.Relu ? Activation.Relu : Activation.None,
            FusedMaxPool = c.Pool,
        };
        var op = new Int8ConvOp(conv, 0.02f, 0.05f, c.NonNegative);
        var g = SingleNode(op, new ValueInfo("x", DType.Int8, new[] { -1, c.H, c.W, c.C }),
            new Dictionary<string, Tensor>
            {
                ["w"] = Tensor.From(w, c.K, c.KH, c.KW, c.C), ["b"] = Tensor.From(b, c.K), ["m"] = Tensor.From(m, c.K),
            }, new[] { "x", "w", "b", "m" }, DType.Int8);

        // the reference, computed here from Int8Reference
        var geo = new ConvGeometry(c.N, c.H, c.W, c.C, c.K, c.KH, c.KW, c.Stride, c.Stride, pads[0], pads[1], pads[2], pads[3], c.Dilation, c.Dilation);
        var q = Int8Reference.Requantize(Int8Reference.ConvAccumulators(x, w, b, geo), m, c.Relu);
        Tensor expected;
        if (c.Pool is { } p)
        {
            var axes = SpatialGeometry.Resolve("pool", new[] { geo.OutH, geo.OutW }, p.KernelShape, p.Strides, p.Pads, p.Dilations, p.AutoPad, p.CeilMode);
            expected = Tensor.From(Int8Reference.MaxPool(q, c.N, geo.OutH, geo.OutW, c.K, axes[0].Output, axes[1].Output, axes[0].Kernel, axes[1].Kernel,
                axes[0].Stride, axes[1].Stride, axes[0].PadBegin, axes[1].PadBegin), c.N, axes[0].Output, axes[1].Output, c.K);
        }
        else expected = Tensor.From(q, c.N, geo.OutH, geo.OutW, c.K);

        QuantTestNets.WithIsa(Enum.Parse<Int8Isa>(isa), () =>
        {
            using var s = new Session(g, QuantTestNets.Cpu());
            var plan = s.GetPlan(new[] { c.N, c.H, c.W, c.C });
            Assert.That(plan.Steps.Single().Op, Is.TypeOf<Int8ConvOp>());
            var y = s.Run(Tensor.From(x, c.N, c.H, c.W, c.C));
            QuantTestNets.BitExact(expected, y, $"{c.Name} on {isa}");
        });
        if (c.N > 1)
        {
            // the batch in groups of one image (the workspace budget that large images hit)
            var old = Int8ConvStep.GroupBudgetBytes;
            Int8ConvStep.GroupBudgetBytes = 1;
            try
            {
                QuantTestNets.WithIsa(Enum.Parse<Int8Isa>(isa), () =>
                {
                    using var s = new Session(g, QuantTestNets.Cpu());
                    QuantTestNets.BitExact(expected, s.Run(Tensor.From(x, c.N, c.H, c.W, c.C)), $"{c.Name} on {isa}, one image per group");
                });
            }
            finally
            {
                Int8ConvStep.GroupBudgetBytes = old;
            }
        }
    }

    [Test]
    public void ConvOpEvaluateIsTheReference()
    {
        // the op record's own Evaluate (what the reference executor and the CPU backend's fallback run) against Int8Reference
        var c = ConvCases().ElementAt(12);
        var (x, w, b, m) = RandomConv(3, c);
        var conv = new ConvOp(new[] { 3, 3 }, new[] { 1, 1 }, c.Pads!, new[] { 1, 1 }, 1) { Activation = Activation.Relu, FusedMaxPool = c.Pool };
        var y = new Int8ConvOp(conv, 1, 1, true).Evaluate("op", new[] { Tensor.From(x, c.N, c.H, c.W, c.C), Tensor.From(w, c.K, 3, 3, c.C), Tensor.From(b, c.K), Tensor.From(m, c.K) })[0];
        var geo = new ConvGeometry(c.N, c.H, c.W, c.C, c.K, 3, 3, 1, 1, 1, 0, 0, 1);
        var q = Int8Reference.Requantize(Int8Reference.ConvAccumulators(x, w, b, geo), m, true);
        var p = Int8Reference.MaxPool(q, c.N, geo.OutH, geo.OutW, c.K, y.Shape[1], y.Shape[2], 3, 3, 2, 2, 0, 0);
        QuantTestNets.BitExact(Tensor.From(p, c.N, y.Shape[1], y.Shape[2], c.K), y, "Int8ConvOp.Evaluate");
    }

    public sealed record LinearCase(string Name, int N, int K, int O, bool Relu, bool Dequantize, bool NonNegative)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<LinearCase> LinearCases()
    {
        yield return new("GEMV 1x512->64 relu", 1, 512, 64, true, false, true);
        yield return new("GEMV 1x1536->130 (partial block)", 1, 1536, 130, true, false, true);
        yield return new("1x25->10 (K not a multiple of 4) dequantized logits", 1, 25, 10, false, true, true);
        yield return new("3x300->100 dequantized relu", 3, 300, 100, true, true, true);
        yield return new("5x1024->70 signed input", 5, 1024, 70, true, false, false);
        yield return new("2x33->64 signed dequantized", 2, 33, 64, false, true, false);
    }

    public static IEnumerable<TestCaseData> LinearData() =>
        from c in LinearCases() from isa in Isas select new TestCaseData(c, isa).SetName($"Int8Linear({c.Name}, {isa})");

    [TestCaseSource(nameof(LinearData))]
    public void LinearMatchesInt8ReferenceBitExactly(LinearCase c, string isa)
    {
        QuantTestNets.RequireIsa(Enum.Parse<Int8Isa>(isa));
        var rng = new Random(5);
        var x = new sbyte[c.N * c.K];
        for (int i = 0; i < x.Length; i++) x[i] = (sbyte)(c.NonNegative ? rng.Next(0, 128) : rng.Next(-128, 128));
        var w = new sbyte[c.O * c.K];
        for (int i = 0; i < w.Length; i++) w[i] = (sbyte)rng.Next(-127, 128);
        var b = Enumerable.Range(0, c.O).Select(_ => rng.Next(-50000, 50000)).ToArray();
        double typical = Math.Sqrt(c.K) * 73 * 70;
        var e = Enumerable.Range(0, c.O).Select(_ => (float)((c.Dequantize ? 1e-4 : 60 / typical) * (0.5 + rng.NextDouble()))).ToArray();
        var op = new Int8GemmOp(c.Relu, c.Dequantize, 0.1f, 0.2f, c.NonNegative);
        var g = SingleNode(op, new ValueInfo("x", DType.Int8, new[] { -1, c.K }),
            new Dictionary<string, Tensor> { ["w"] = Tensor.From(w, c.O, c.K), ["b"] = Tensor.From(b, c.O), ["e"] = Tensor.From(e, c.O) },
            new[] { "x", "w", "b", "e" }, c.Dequantize ? DType.Float32 : DType.Int8);
        var acc = Int8Reference.GemmAccumulators(x, w, b, c.N, c.O, c.K);
        var expected = c.Dequantize ? Tensor.From(Int8Reference.Dequantize(acc, e, c.Relu), c.N, c.O) : Tensor.From(Int8Reference.Requantize(acc, e, c.Relu), c.N, c.O);
        QuantTestNets.WithIsa(Enum.Parse<Int8Isa>(isa), () =>
        {
            using var s = new Session(g, QuantTestNets.Cpu());
            var y = s.Run(Tensor.From(x, c.N, c.K));
            QuantTestNets.BitExact(expected, y, $"{c.Name} on {isa}");
        });
    }

    [Test]
    public unsafe void RequantizeEpilogueMatchesTheSchemeOnTiesSaturationAndLargeAccumulators()
    {
        // ties (m = 0.5: odd accumulators land on .5), values beyond ±127/−128, accumulators beyond 2^24 (float conversion rounds)
        var accs = new List<int> { 0, 1, -1, 3, -3, 5, -5, 7, -7, 253, 255, 257, -255, -257, -256, -258, 16777217, -16777217, int.MaxValue, int.MinValue, 1 << 25, 33554435 };
        var rng = new Random(9);
        while (accs.Count < 64 * 3) accs.Add(rng.Next(-1000, 1000));
        foreach (float m in new[] { 0.5f, 1f, 0.25f, 1.5f, 3.0517578e-05f, 0.0123f })
            foreach (bool relu in new[] { false, true })
            {
                var a = accs.ToArray();
                var mm = Enumerable.Repeat(m, a.Length).ToArray();
                var y = new sbyte[a.Length];
                var f = new float[a.Length];
                fixed (int* pa = a)
                fixed (float* pm = mm)
                fixed (sbyte* py = y)
                fixed (float* pf = f)
                    for (int off = 0; off < a.Length; off += 64)
                    {
                        int cnt = Math.Min(64, a.Length - off);
                        Int8Kernels.Requantize(pa + off, pm + off, relu, py + off, cnt);
                        Int8Kernels.Dequantize(pa + off, pm + off, relu, pf + off, cnt);
                    }
                for (int i = 0; i < a.Length; i++)
                {
                    Assert.That(y[i], Is.EqualTo(Int8Scheme.Requantize(a[i], m, relu)), $"requantize acc {a[i]} m {m} relu {relu} (index {i})");
                    Assert.That(BitConverter.SingleToInt32Bits(f[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(Int8Scheme.Dequantize(a[i], m, relu))), $"dequantize acc {a[i]} m {m} relu {relu}");
                }
            }
    }

    [TestCase(3, 2, 1, false, TestName = "Int8MaxPool 3x3/2 pad 1")]
    [TestCase(3, 2, 0, true, TestName = "Int8MaxPool 3x3/2 ceil")]
    [TestCase(2, 1, 0, false, TestName = "Int8MaxPool 2x2/1")]
    public void MaxPoolOnCodesMatchesReference(int k, int stride, int pad, bool ceil)
    {
        var rng = new Random(11);
        int n = 2, h = 9, w = 8, c = 70;
        var x = new sbyte[n * h * w * c];
        for (int i = 0; i < x.Length; i++) x[i] = (sbyte)rng.Next(-128, 128);
        var p = MaxPoolOp.MaxPool2d(k, stride, pad, ceil);
        var axes = SpatialGeometry.Resolve("pool", new[] { h, w }, p.KernelShape, p.Strides, p.Pads, p.Dilations, p.AutoPad, p.CeilMode);
        var expected = Tensor.From(Int8Reference.MaxPool(x, n, h, w, c, axes[0].Output, axes[1].Output, k, k, stride, stride, pad, pad), n, axes[0].Output, axes[1].Output, c);
        var g = SingleNode(new Int8MaxPoolOp(p), new ValueInfo("x", DType.Int8, new[] { -1, h, w, c }), new(), new[] { "x" }, DType.Int8);
        using var s = new Session(g, QuantTestNets.Cpu());
        QuantTestNets.BitExact(expected, s.Run(Tensor.From(x, n, h, w, c)), "int8 max-pool");
    }

    [TestCase(10, 9, 7, 7, TestName = "Int8AdaptiveAvgPool 10x9 -> 7x7 (overlapping bins)")]
    [TestCase(5, 6, 1, 1, TestName = "Int8AdaptiveAvgPool global")]
    [TestCase(7, 7, 7, 7, TestName = "Int8AdaptiveAvgPool identity 7x7")]
    public void AdaptiveAveragePoolOnCodesMatchesReference(int h, int w, int oh, int ow)
    {
        var rng = new Random(12);
        int n = 2, c = 40;
        var x = new sbyte[n * h * w * c];
        for (int i = 0; i < x.Length; i++) x[i] = (sbyte)rng.Next(-128, 128);
        var expected = Tensor.From(Int8Reference.AdaptiveAvgPool(x, n, h, w, c, oh, ow), n, oh, ow, c);
        var g = SingleNode(new Int8AdaptiveAvgPoolOp(oh, ow), new ValueInfo("x", DType.Int8, new[] { -1, h, w, c }), new(), new[] { "x" }, DType.Int8);
        using var s = new Session(g, QuantTestNets.Cpu());
        QuantTestNets.BitExact(expected, s.Run(Tensor.From(x, n, h, w, c)), "int8 adaptive average pool");
    }

    [Test]
    public void FlattenOfNhwcCodesIsNchwOrder()
    {
        int n = 2, h = 3, w = 4, c = 5;
        var x = Enumerable.Range(0, n * h * w * c).Select(i => (sbyte)(i % 251 - 125)).ToArray();
        var g = SingleNode(new Int8FlattenOp(), new ValueInfo("x", DType.Int8, new[] { -1, h, w, c }), new(), new[] { "x" }, DType.Int8);
        using var s = new Session(g, QuantTestNets.Cpu());
        var y = s.Run(Tensor.From(x, n, h, w, c)).AsSpan<sbyte>().ToArray();
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                        Assert.That(y[b * c * h * w + (ch * h + i) * w + j], Is.EqualTo(x[((b * h + i) * w + j) * c + ch]), $"n {b} c {ch} h {i} w {j}");
    }

    [Test]
    public void QuantizeAndDequantizeStepsMatchTheScheme()
    {
        float s = 0.05f;
        int n = 2, c = 3, h = 5, w = 11;
        var x = QuantTestNets.Normal(21, n * c * h * w, 3.0);
        // exact ties (k + 0.5)·s where representable, and values far beyond the range
        for (int i = 0; i < 20; i++) x[i * 7] = (i - 10 + 0.5f) * s;
        x[1] = 1000f;
        x[2] = -1000f;
        x[3] = float.NaN;     // the scheme sends NaN to −128 (vector lanes too)
        x[100] = float.NaN;
        var gq = SingleNode(new QuantizeNhwcOp(s), new ValueInfo("x", DType.Float32, new[] { -1, c, h, w }), new(), new[] { "x" }, DType.Int8);
        using var sq = new Session(gq, QuantTestNets.Cpu());
        var q = sq.Run(Tensor.From(x, n, c, h, w));
        var expected = new sbyte[x.Length];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < h * w; i++)
                    expected[(b * h * w + i) * c + ch] = Int8Scheme.QuantizeActivation(x[(b * c + ch) * h * w + i], s);
        QuantTestNets.BitExact(Tensor.From(expected, n, h, w, c), q, "quantize NCHW -> NHWC");

        var gd = SingleNode(new DequantizeNhwcOp(s), new ValueInfo("q", DType.Int8, new[] { -1, h, w, c }), new(), new[] { "q" }, DType.Float32);
        using var sd = new Session(gd, QuantTestNets.Cpu());
        var d = sd.Run(q);
        var back = new float[x.Length];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < h * w; i++)
                    back[(b * c + ch) * h * w + i] = expected[(b * h * w + i) * c + ch] * s;
        QuantTestNets.BitExact(Tensor.From(back, n, c, h, w), d, "dequantize NHWC -> NCHW");
    }
}
