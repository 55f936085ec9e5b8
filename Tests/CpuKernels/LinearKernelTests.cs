using Vgg.Engine.Cpu.Kernels;

namespace Vgg.Engine.Tests.CpuKernels;

/// <summary>
/// Packed linear layer (GEMV at batch 1, GEMM above) against the float64 reference: VGG-16's fc7 and
/// fc8 shapes, a reduced fc6, and odd sizes (K = 1, 3, 17, 1100 across the K-block; Out not a multiple
/// of the 64-wide panel; batch 1, 3, 6, 7 and 8 around the 6-row register block), with and without ReLU,
/// on every vector path.
/// </summary>
/// <remarks>
/// Tolerance: max |y − ref| ≤ 1e-5·max|ref| (FP32 sums of K ≤ 4096 products with FMA, error of order
/// √K·ε; measured ≤ 1e-6).
/// </remarks>
[TestFixture]
public class LinearKernelTests
{
    private const double Tol = 1e-5;

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return Case(SimdLevel.Avx512, 1, 4096, 1000, false, "fc8");
        yield return Case(SimdLevel.Avx512, 8, 4096, 1000, false, "fc8");
        yield return Case(SimdLevel.Avx512, 1, 4096, 4096, true, "fc7");
        yield return Case(SimdLevel.Avx512, 8, 2048, 512, true, "fc6 reduced");
        foreach (var level in new[] { SimdLevel.Avx512, SimdLevel.Avx2, SimdLevel.Portable })
            foreach (var (n, k, o) in new[] { (1, 1, 1), (3, 3, 5), (6, 17, 63), (7, 1100, 65), (8, 33, 130), (1, 1100, 17), (2, 5, 64) })
                yield return Case(level, n, k, o, (n + k) % 2 == 0, "odd");
    }

    private static TestCaseData Case(SimdLevel level, int n, int k, int o, bool relu, string tag) =>
        new TestCaseData((int)level, n, k, o, relu).SetName($"Linear {tag} {level} n{n} K{k} Out{o}{(relu ? " relu" : "")}");

    [TestCaseSource(nameof(Cases))]
    public unsafe void MatchesFloat64Reference(int levelValue, int n, int k, int o, bool relu)
    {
        var level = (SimdLevel)levelValue;
        if (level > CpuSimd.Detected) Assert.Ignore($"ignored: this machine has no {level} (detected {CpuSimd.Detected})");
        ulong seed = (ulong)(n * 100003 + k * 101 + o);
        var rng = new TestRng(seed);
        var x = rng.Array((long)n * k);
        var wt = rng.Array((long)o * k, MathF.Sqrt(3f / k));
        var b = rng.Array(o, 0.1f);
        var expected = KernelReference.Linear(x, n, k, wt, b, o);
        if (relu) KernelReference.ReluInPlace(expected);
        using var lin = new LinearKernel(k, o, wt, b, relu, level);
        var y = new float[n * o];
        Array.Fill(y, float.NaN);
        var pool = KernelThreadPool.Shared;
        using var ws = new NativeBuffer(lin.WorkspaceBytes(n, pool) / sizeof(float));
        fixed (float* px = x, py = y)
            lin.Run(px, py, n, ws.Pointer, pool);
        double err = Close.Check(y, expected, $"Linear {level} n{n} K{k} Out{o} relu={relu} seed {seed}", Tol);
        TestContext.Out.WriteLine($"seed {seed}: max |y−ref|/max|ref| = {err:E2}");
    }

    [Test]
    public void WrongWeightSizeNamesTheExpectedCount()
    {
        var ex = Assert.Throws<ArgumentException>(() => new LinearKernel(10, 3, new float[29], new float[3], false));
        Assert.That(ex!.Message, Does.Contain("30"));
    }
}
