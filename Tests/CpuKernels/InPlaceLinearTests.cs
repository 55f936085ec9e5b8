using Vgg.Engine.Cpu.Kernels;
using Vgg.Engine.Cpu.Ops;

namespace Vgg.Engine.Tests.CpuKernels;

/// <summary>
/// <see cref="FastGemmKernel.RowMajorGemv"/>: a Linear layer at batch 1 reads torch's weight [N, K] in place (no
/// packed copy) and agrees with a float64 reference and with the packed-panel path on odd sizes (N not a multiple of
/// the 16-column task or of 4, K past the 4096 chunk and not a multiple of the vector width); batches of two or
/// more use the packed panels.
/// </summary>
public class InPlaceLinearTests
{
    private static float[] Random(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    private static unsafe float[] RunGemm(IGemmKernel kernel, float[] a, Tensor b, float[] bias, int m, int n, int k, float alpha, bool relu, WeightCache cache)
    {
        var prepared = kernel.Prepare(m, n, k, transA: false, transB: true, alpha, relu, b, threads: 2, cache);
        var y = new float[m * n];
        for (int r = 0; r < m; r++) bias.CopyTo(y, r * n); // the caller prefills the bias
        var ws = new float[Math.Max(1, prepared.WorkspaceFloatsPerSlot)];
        fixed (float* pa = a, py = y, pw = ws)
            for (int t = 0; t < prepared.Tasks; t++) prepared.Execute(t, pa, null, py, pw);
        return y;
    }

    [TestCase(1, 37, 5003, 1f, false)]
    [TestCase(1, 64, 4096, 1f, true)]
    [TestCase(1, 19, 9000, 0.5f, true)]
    [TestCase(1, 3, 17, 1f, false)]
    [TestCase(1, 40, 8193, 2f, true)]
    public void MatchesTheReferenceAndThePackedPanels(int m, int n, int k, float alpha, bool relu)
    {
        Assume.That(FastConvStep.Enabled, "fast kernels switched off (VGG_CPU_FAST_KERNELS=0)");
        var rng = new Random(m * 1000 + n);
        var a = Random(rng, m * k);
        var w = Random(rng, n * k);
        var bias = Random(rng, n);
        var b = Tensor.FromSpan<float>(w, n, k);
        var kernel = new FastGemmKernel(new PackedGemmKernel());

        var cache = new WeightCache();
        var inPlace = RunGemm(kernel, a, b, bias, m, n, k, alpha, relu, cache);
        Assert.That(cache.Bytes, Is.Zero, "the in-place path keeps no copy of the weights");

        bool saved = FastGemmKernel.InPlaceEnabled;
        FastGemmKernel.InPlaceEnabled = false;
        float[] packed;
        var packedCache = new WeightCache();
        try { packed = RunGemm(kernel, a, b, bias, m, n, k, alpha, relu, packedCache); }
        finally { FastGemmKernel.InPlaceEnabled = saved; }
        Assert.That(packedCache.Bytes, Is.GreaterThanOrEqualTo((long)n * k * 4), "the panel path packs a copy");

        double worst = 0, scale = 0;
        int worstAt = -1;
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
            {
                double s = 0, magnitude = 0;
                for (int i = 0; i < k; i++)
                {
                    double p = (double)a[r * k + i] * w[j * k + i];
                    s += p;
                    magnitude += Math.Abs(p);
                }
                double e = bias[j] + alpha * s;
                if (relu && e < 0) e = 0;
                // float32 summation error scales with Σ|aᵢ·wᵢ| (not with the result, which cancels): bound 1e-6 of it.
                double tol = 1e-6 * (Math.Abs(bias[j]) + Math.Abs(alpha) * magnitude);
                scale = Math.Max(scale, Math.Abs(e));
                double d = Math.Abs(inPlace[r * n + j] - e);
                if (d / tol > worst) { worst = d / tol; worstAt = r * n + j; }
                Assert.That(inPlace[r * n + j], Is.EqualTo(e).Within(tol), $"row {r}, column {j}: in place vs float64");
                Assert.That(inPlace[r * n + j], Is.EqualTo(packed[r * n + j]).Within(2 * tol), $"row {r}, column {j}: in place vs packed");
            }
        TestContext.Out.WriteLine($"[{m}, {n}] K={k}: worst |in place − float64| = {worst:F3} of the bound, at flat index {worstAt}; output scale {scale:G4}");
    }

    [Test]
    public void TwoRowsUseThePackedPanels()
    {
        var rng = new Random(9);
        var b = Tensor.FromSpan<float>(Random(rng, 20 * 30), 20, 30);
        var kernel = new FastGemmKernel(new PackedGemmKernel());
        Assert.That(kernel.Prepare(1, 20, 30, false, true, 1f, false, b, 2, new WeightCache()), Is.InstanceOf<FastGemmKernel.RowMajorGemv>());
        Assert.That(kernel.Prepare(2, 20, 30, false, true, 1f, false, b, 2, new WeightCache()), Is.Not.InstanceOf<FastGemmKernel.RowMajorGemv>());
    }
}
