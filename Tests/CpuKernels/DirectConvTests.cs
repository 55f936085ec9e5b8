using Vgg.Engine.Cpu.Kernels;

namespace Vgg.Engine.Tests.CpuKernels;

/// <summary>
/// Direct convolution (first-layer and general path) against the float64 reference: VGG-16's conv1_1
/// at full 224×224, and odd shapes: kernels 1×1 to 7×7, strides 1–3, asymmetric pads, dilation 2,
/// NCHW and NCHWc16 inputs, widths that are not a multiple of the 6-pixel register block, with and
/// without ReLU and the fused 2×2 pool, batch 1 and 3, on every vector path.
/// </summary>
/// <remarks>
/// Tolerance: max |y − ref| ≤ 1e-5·max|ref|. The kernel sums the K = C·kh·kw products of each output in
/// FP32 with FMA in a fixed order; the rounding error of such a sum is of order √K·ε relative to the
/// terms' scale (K ≤ 2500 here: ≈ 6e-6 worst case, measured ≤ 1e-6).
/// </remarks>
[TestFixture]
public class DirectConvTests
{
    private const double Tol = 1e-5;

    public static IEnumerable<TestCaseData> Cases()
    {
        // VGG-16 conv1_1: 3→64, 224×224, NCHW image in.
        yield return Case(SimdLevel.Avx512, 1, ConvParams.Square(3, 64, 3, 1, 1), 224, 224, false, true, false, "conv1_1");
        yield return Case(SimdLevel.Avx2, 1, ConvParams.Square(3, 64, 3, 1, 1), 56, 56, false, true, false, "conv1_1 small");
        yield return Case(SimdLevel.Portable, 3, ConvParams.Square(3, 64, 3, 1, 1), 20, 17, false, true, true, "conv1_1 small");
        foreach (var level in new[] { SimdLevel.Avx512, SimdLevel.Avx2, SimdLevel.Portable })
        {
            yield return Case(level, 1, ConvParams.Square(5, 17, 1), 7, 13, true, false, false, "1x1");
            yield return Case(level, 3, ConvParams.Square(3, 33, 3, 2, 1), 15, 13, false, true, false, "3x3 s2");
            yield return Case(level, 1, ConvParams.Square(17, 65, 5, 1, 2), 13, 15, true, true, true, "5x5");
            yield return Case(level, 3, ConvParams.Square(1, 5, 7, 3, 3), 15, 7, false, false, false, "7x7 s3");
            yield return Case(level, 1, new ConvParams(33, 3, 3, 2, 1, 2, 0, 1, 2, 0, 2, 1), 13, 15, true, true, false, "3x2 pads asym dil 2");
            yield return Case(level, 1, ConvParams.Square(3, 64, 3, 1, 1), 1, 1, false, true, false, "1x1 image");
            yield return Case(level, 3, ConvParams.Square(5, 7, 3, 1, 0), 3, 3, true, true, false, "valid 3x3 on 3x3");
            yield return Case(level, 1, ConvParams.Square(17, 130, 3, 1, 1), 7, 15, true, true, true, "3x3 C17 M130");
        }
    }

    private static TestCaseData Case(SimdLevel level, int n, ConvParams p, int h, int w, bool nchwc, bool relu, bool pool, string tag) =>
        new TestCaseData((int)level, n, p.C, p.M, p.KernelH, p.KernelW, p.StrideH, p.StrideW, p.PadTop, p.PadLeft, p.PadBottom, p.PadRight,
                p.DilationH, p.DilationW, h, w, nchwc, relu, pool)
            .SetName($"Direct {tag} {level} n{n} {p} {h}x{w} in={(nchwc ? "NCHWc16" : "NCHW")}{(relu ? " relu" : "")}{(pool ? " pool" : "")}");

    [TestCaseSource(nameof(Cases))]
    public unsafe void MatchesFloat64Reference(int levelValue, int n, int c, int m, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr,
        int dh, int dw, int h, int w, bool nchwc, bool relu, bool pool)
    {
        var level = (SimdLevel)levelValue;
        if (level > CpuSimd.Detected) Assert.Ignore($"ignored: this machine has no {level} (detected {CpuSimd.Detected})");
        var p = new ConvParams(c, m, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw);
        ulong seed = (ulong)(n * 7919 + c * 131 + m * 17 + h * 5 + w + kh);
        var rng = new TestRng(seed);
        var x = rng.Array((long)n * c * h * w);
        var wt = rng.Array((long)m * c * kh * kw, MathF.Sqrt(3f / (c * kh * kw)));
        var b = rng.Array(m, 0.1f);
        var ep = new ConvEpilogue(relu, pool);
        var expected = ConvCheck.Expected(x, n, c, h, w, wt, b, p, ep, out int oh, out int ow);
        using var k = new DirectConv(p, wt, b, ep, nchwc, level);
        Assert.That((k.OutH(h), k.OutW(w)), Is.EqualTo((oh, ow)));
        var xin = nchwc ? KernelReference.ToNchwc(x, n, c, h, w) : x;
        var y = new float[Nchwc.Floats(n, m, oh, ow)];
        Array.Fill(y, float.NaN);
        var pool2 = KernelThreadPool.Shared;
        using var ws = new NativeBuffer(k.WorkspaceBytes(n, h, w, pool2) / sizeof(float));
        fixed (float* px = xin, py = y)
            k.Run(px, py, n, h, w, ws.Pointer, pool2);
        var actual = KernelReference.FromNchwc(y, n, m, oh, ow);
        double err = Close.Check(actual, expected, $"Direct {level} {p} n{n} {h}x{w} {ep} seed {seed}", Tol);
        TestContext.Out.WriteLine($"seed {seed}: max |y−ref|/max|ref| = {err:E2}");
    }

    [TestCase(1, 3, 20, 9, 11, false, true)]
    [TestCase(3, 17, 33, 8, 7, true, false)]
    [TestCase(2, 5, 64, 6, 6, false, true)]
    public unsafe void PlainNchwOutputMatchesTheReference(int n, int c, int m, int h, int w, bool inputBlocked, bool pool)
    {
        var p = new ConvParams(c, m, 3, 2, 2, 1, 1, 0, 1, 1);
        var rng = new TestRng((ulong)(n * 11 + c * 5 + m + h + w));
        var x = rng.Array((long)n * c * h * w);
        var wt = rng.Array((long)m * c * 6, MathF.Sqrt(3f / (c * 6)));
        var b = rng.Array(m, 0.1f);
        var ep = new ConvEpilogue(true, pool);
        var expected = ConvCheck.Expected(x, n, c, h, w, wt, b, p, ep, out int oh, out int ow);
        using var k = new DirectConv(p, wt, b, ep, inputBlocked);
        var xin = inputBlocked ? KernelReference.ToNchwc(x, n, c, h, w) : x;
        var y = new float[(long)n * m * oh * ow];
        Array.Fill(y, float.NaN);
        var pool2 = KernelThreadPool.Shared;
        using var ws = new NativeBuffer(k.WorkspaceBytes(n, h, w, pool2) / sizeof(float));
        fixed (float* px = xin, py = y)
            k.RunWithLayouts(px, py, n, h, w, ws.Pointer, pool2, inputBlocked, outputBlocked: false);
        Close.Check(y, expected, $"Direct NCHW out {p} n{n} {h}x{w} pool={pool}", Tol);
    }

    [Test]
    public void GroupsAndEmptyOutputsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new DirectConv(ConvParams.Square(4, 4, 3) with { Groups = 2 }, new float[4 * 4 * 9], default, default, false));
        using var k = new DirectConv(ConvParams.Square(1, 1, 5), new float[25], default, default, false);
        var ex = Assert.Throws<ArgumentException>(() => RunEmpty(k));
        Assert.That(ex!.Message, Does.Contain("empty output"));

        static unsafe void RunEmpty(DirectConv k) => k.Run(null, null, 1, 3, 3, null, KernelThreadPool.Shared);
    }
}
