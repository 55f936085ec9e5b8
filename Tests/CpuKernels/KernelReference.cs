using System.Text;
using Vgg.Engine.Cpu.Kernels;

namespace Vgg.Engine.Tests.CpuKernels;

/// <summary>
/// Naive references for the optimized CPU kernels: direct loops over the definitions, accumulated in
/// float64, NCHW. Deliberately share no code with Engine/Cpu/Kernels (layout changes included).
/// </summary>
internal static class KernelReference
{
    /// <summary>ONNX Conv / torch Conv2d (group 1) in float64: y[n][m][oy][ox] = b[m] + Σ x·w with zero padding.</summary>
    public static double[] Conv2d(float[] x, int n, int c, int h, int w, float[] wt, float[] bias, ConvParams p, out int oh, out int ow)
    {
        int m = p.M;
        oh = p.OutH(h);
        ow = p.OutW(w);
        int ohl = oh, owl = ow;
        var y = new double[(long)n * m * oh * ow];
        Parallel.For(0, n * m, nm =>
        {
            int img = nm / m, mo = nm % m;
            var acc = new double[ohl * owl];
            for (int ci = 0; ci < c; ci++)
                for (int ky = 0; ky < p.KernelH; ky++)
                    for (int kx = 0; kx < p.KernelW; kx++)
                    {
                        double wv = wt[((mo * c + ci) * p.KernelH + ky) * p.KernelW + kx];
                        // Output columns whose tap ix = ox·s − pad + kx·d falls inside [0, w).
                        int off = kx * p.DilationW - p.PadLeft;
                        int ox0 = off >= 0 ? 0 : (-off + p.StrideW - 1) / p.StrideW;
                        int ox1 = w - 1 - off < 0 ? 0 : Math.Min(owl, (w - 1 - off) / p.StrideW + 1);
                        for (int oy = 0; oy < ohl; oy++)
                        {
                            int iy = oy * p.StrideH - p.PadTop + ky * p.DilationH;
                            if (iy < 0 || iy >= h) continue;
                            int xrow = ((img * c + ci) * h + iy) * w + off;
                            int arow = oy * owl;
                            for (int ox = ox0; ox < ox1; ox++)
                                acc[arow + ox] += wv * x[xrow + ox * p.StrideW];
                        }
                    }
            double b = bias.Length == 0 ? 0 : bias[mo];
            for (int i = 0; i < acc.Length; i++) y[(long)nm * ohl * owl + i] = acc[i] + b;
        });
        return y;
    }

    public static void ReluInPlace(double[] y)
    {
        for (int i = 0; i < y.Length; i++) if (y[i] < 0) y[i] = 0;
    }

    /// <summary>torch MaxPool2d(k, s, padding, ceil_mode) on NCHW, float64.</summary>
    public static double[] MaxPool(double[] x, int n, int c, int h, int w, int k, int s, int pad, bool ceil, out int oh, out int ow)
    {
        static int Out(int len, int k, int s, int pad, bool ceil)
        {
            int span = len + 2 * pad - k;
            int o = (ceil ? (span + s - 1) / s : span / s) + 1;
            if (ceil && (o - 1) * s >= len + pad) o--;
            return o;
        }
        oh = Out(h, k, s, pad, ceil);
        ow = Out(w, k, s, pad, ceil);
        var y = new double[(long)n * c * oh * ow];
        for (int pl = 0; pl < n * c; pl++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    double mx = double.NegativeInfinity;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                        {
                            int iy = oy * s - pad + ky, ix = ox * s - pad + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            mx = Math.Max(mx, x[((long)pl * h + iy) * w + ix]);
                        }
                    y[((long)pl * oh + oy) * ow + ox] = mx;
                }
        return y;
    }

    /// <summary>y[n][o] = b[o] + Σ_k x[n][k]·W[o][k], float64.</summary>
    public static double[] Linear(float[] x, int n, int k, float[] wt, float[] bias, int outF)
    {
        var y = new double[n * outF];
        Parallel.For(0, outF, o =>
        {
            for (int r = 0; r < n; r++)
            {
                double acc = bias.Length == 0 ? 0 : bias[o];
                for (int i = 0; i < k; i++) acc += (double)x[r * k + i] * wt[(long)o * k + i];
                y[r * outF + o] = acc;
            }
        });
        return y;
    }

    /// <summary>NCHW → NCHWc16 with zero padded lanes (independent of LayoutNchwc).</summary>
    public static float[] ToNchwc(float[] x, int n, int c, int h, int w)
    {
        int cb = (c + 15) / 16;
        var y = new float[(long)n * cb * 16 * h * w];
        for (int img = 0; img < n; img++)
            for (int ci = 0; ci < c; ci++)
                for (int i = 0; i < h * w; i++)
                    y[(((long)img * cb + ci / 16) * h * w + i) * 16 + ci % 16] = x[((long)img * c + ci) * h * w + i];
        return y;
    }

    /// <summary>NCHWc16 → NCHW, and checks that padded lanes are exactly zero.</summary>
    public static float[] FromNchwc(float[] y, int n, int c, int h, int w)
    {
        int cb = (c + 15) / 16;
        var x = new float[(long)n * c * h * w];
        for (int img = 0; img < n; img++)
            for (int cc = 0; cc < cb * 16; cc++)
                for (int i = 0; i < h * w; i++)
                {
                    float v = y[(((long)img * cb + cc / 16) * h * w + i) * 16 + cc % 16];
                    if (cc < c) x[((long)img * c + cc) * h * w + i] = v;
                    else if (v != 0f) Assert.Fail($"padded lane: channel {cc} (C={c}) of image {img}, pixel {i} holds {v}, expected 0");
                }
        return x;
    }
}

/// <summary>Seeded test inputs (xorshift64*): uniform in [−a, a), never all zeros.</summary>
internal sealed class TestRng
{
    private ulong _s;
    public TestRng(ulong seed) { Seed = seed; _s = seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL; }
    public ulong Seed { get; }
    public float Next(float a = 1f)
    {
        _s ^= _s >> 12; _s ^= _s << 25; _s ^= _s >> 27;
        return (float)(((_s * 2685821657736338717UL) >> 40) * (1.0 / (1UL << 24)) * 2 - 1) * a;
    }
    public float[] Array(long count, float a = 1f)
    {
        var r = new float[count];
        for (long i = 0; i < count; i++) r[i] = Next(a);
        return r;
    }
}

/// <summary>Tolerance checks that say where and by how much on failure.</summary>
internal static class Close
{
    /// <summary>
    /// Passes when every |actual − expected| ≤ tol·max|expected| (a bound relative to the tensor's scale,
    /// which is how accumulation error of a sum of K products behaves) and, when given, the whole-tensor
    /// relative error ‖a − e‖₂/‖e‖₂ ≤ relL2. Returns the normalized max error.
    /// </summary>
    public static double Check(ReadOnlySpan<float> actual, double[] expected, string what, double tol, double relL2 = double.NaN)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: element count");
        double scale = 0, num = 0, den = 0, worst = -1;
        long worstI = -1;
        for (int i = 0; i < expected.Length; i++) scale = Math.Max(scale, Math.Abs(expected[i]));
        if (scale == 0) scale = 1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(actual[i])) d = double.PositiveInfinity;
            num += d * d;
            den += expected[i] * expected[i];
            if (d > worst) { worst = d; worstI = i; }
        }
        double norm = worst / scale;
        double l2 = den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
        if (norm > tol || (!double.IsNaN(relL2) && l2 > relL2))
        {
            var sb = new StringBuilder();
            sb.AppendLine($"{what}: max |a−e|/max|e| = {norm:E3} (tol {tol:E1}), rel L2 = {l2:E3} (tol {relL2:E1}), scale {scale:G6}");
            sb.AppendLine($"  worst index {worstI}: actual {actual[(int)worstI]:G9}, expected {expected[worstI]:G9}");
            sb.Append("  first pairs:");
            for (int i = 0; i < Math.Min(6, expected.Length); i++) sb.Append($" ({actual[i]:G7}, {expected[i]:G7})");
            Assert.Fail(sb.ToString());
        }
        return norm;
    }
}
