using Vgg.Engine.Cpu.Kernels;

namespace Vgg.Engine.Tests.CpuKernels;

/// <summary>NCHW ↔ NCHWc16 layout changes (exact) and NCHWc16 max-pool against the reference (exact: a max rounds nothing).</summary>
[TestFixture]
public class LayoutAndPoolTests
{
    [TestCase(1, 3, 224, 224)]
    [TestCase(3, 17, 7, 5)]
    [TestCase(2, 33, 1, 3)]
    [TestCase(1, 512, 7, 7)]
    public unsafe void LayoutRoundTripIsExact(int n, int c, int h, int w)
    {
        var x = new TestRng((ulong)(n + c + h + w)).Array((long)n * c * h * w);
        var blocked = new float[Nchwc.Floats(n, c, h, w)];
        Array.Fill(blocked, float.NaN);
        var back = new float[x.Length];
        fixed (float* px = x, pb = blocked, pr = back)
        {
            LayoutNchwc.ToNchwc(px, pb, n, c, h, w, KernelThreadPool.Shared);
            LayoutNchwc.FromNchwc(pb, pr, n, c, h, w, KernelThreadPool.Shared);
        }
        Assert.That(blocked, Is.EqualTo(KernelReference.ToNchwc(x, n, c, h, w)), "NCHWc16 layout (padded lanes zero)");
        Assert.That(back, Is.EqualTo(x), "round trip");
    }

    [TestCase((int)SimdLevel.Avx512, 1, 64, 224, 224, 2, 2, 0, false)]
    [TestCase((int)SimdLevel.Avx512, 3, 17, 7, 9, 3, 2, 1, true)]
    [TestCase((int)SimdLevel.Avx2, 1, 5, 13, 15, 3, 2, 0, true)]
    [TestCase((int)SimdLevel.Portable, 3, 33, 15, 13, 2, 2, 0, false)]
    [TestCase((int)SimdLevel.Portable, 1, 3, 1, 1, 3, 1, 1, false)]
    public unsafe void MaxPoolMatchesReference(int levelValue, int n, int c, int h, int w, int k, int s, int pad, bool ceil)
    {
        var level = (SimdLevel)levelValue;
        if (level > CpuSimd.Detected) Assert.Ignore($"ignored: this machine has no {level}");
        var x = new TestRng((ulong)(n * 7 + c * 3 + h + w + k)).Array((long)n * c * h * w);
        var xd = Array.ConvertAll(x, v => (double)v);
        var expected = KernelReference.MaxPool(xd, n, c, h, w, k, s, pad, ceil, out int oh, out int ow);
        var y = new float[Nchwc.Floats(n, c, oh, ow)];
        var xb = KernelReference.ToNchwc(x, n, c, h, w);
        fixed (float* px = xb, py = y)
            MaxPoolNchwc.Run(px, py, n, c, h, w, k, k, s, s, pad, pad, pad, pad, ceil, level, KernelThreadPool.Shared);
        var actual = KernelReference.FromNchwc(y, n, c, oh, ow);
        Close.Check(actual, expected, $"MaxPool {level} n{n} c{c} {h}x{w} k{k} s{s} p{pad} ceil={ceil}", 0);
        var plain = new float[(long)n * c * oh * ow];
        fixed (float* px = xb, py = plain)
            MaxPoolNchwc.Run(px, py, n, c, h, w, k, k, s, s, pad, pad, pad, pad, oh, ow, level, KernelThreadPool.Shared, outputNchw: true);
        Close.Check(plain, expected, $"MaxPool NCHW out {level} n{n} c{c} {h}x{w} k{k} s{s} p{pad} ceil={ceil}", 0);
    }
}
