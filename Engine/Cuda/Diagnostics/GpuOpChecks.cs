using System.Runtime.InteropServices;
using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.Cuda.Reference;

namespace Vgg.Engine.Cuda.Diagnostics;

/// <summary>
/// The per-kernel correctness checks: every kernel variant (tile, split-K, fused pool, output mode)
/// on VGG-16's layer shapes and on odd sizes that are not multiples of any tile, against the float64
/// references (FP32: rtol 1e-5; FP16: rtol 1e-2; both with atol = rtol·max|reference|) and the INT8
/// reference (bit-exact). Large layers are checked at 4,096 seeded random positions plus the first and
/// last 64; small ones everywhere. Outputs are poisoned (0xFF bytes, NaN for floats) before each run,
/// so an unwritten element fails.
/// </summary>
public static class GpuOpChecks
{
    /// <summary>Relative tolerance of the FP32 checks.</summary>
    public const double Fp32Tolerance = 1e-5;

    /// <summary>Relative tolerance of the FP16 checks.</summary>
    public const double Fp16Tolerance = 1e-2;

    private static readonly CudaPrecision[] AllPrecisions = { CudaPrecision.Float32, CudaPrecision.Float16, CudaPrecision.Int8 };

    /// <summary>VGG-16's convolutions (name, H = W, C, K, followed by a 2×2 pool).</summary>
    public static readonly (string Name, int Size, int C, int K, bool Pool)[] Vgg16Convs =
    {
        ("conv1_1", 224, 3, 64, false), ("conv1_2", 224, 64, 64, true),
        ("conv2_1", 112, 64, 128, false), ("conv2_2", 112, 128, 128, true),
        ("conv3_1", 56, 128, 256, false), ("conv3_2", 56, 256, 256, false), ("conv3_3", 56, 256, 256, true),
        ("conv4_1", 28, 256, 512, false), ("conv4_2", 28, 512, 512, false), ("conv4_3", 28, 512, 512, true),
        ("conv5_1", 14, 512, 512, false), ("conv5_3", 14, 512, 512, true),
    };

    /// <summary>Every check, in a stable order.</summary>
    public static IReadOnlyList<GpuCheck> All() => Build().ToList();

    private static IEnumerable<GpuCheck> Build()
    {
        int seed = 1000;
        foreach (var p in AllPrecisions)
        {
            string s = p.Suffix();
            int v = p.VectorElements();
            // every variant on odd shapes
            foreach (var tile in new[] { 64, 128 })
                foreach (var pool in new[] { false, true })
                {
                    int sd = seed++;
                    yield return Conv(p, $"conv3x3 {s} {tile}x{tile}{(pool ? " pool" : "")} n2 13x11 c{v} k24", 2, 13, 11, v, 24, pool, true, tile, 1, OutputMode.Native, sd);
                    sd = seed++;
                    yield return Conv(p, $"conv3x3 {s} {tile}x{tile}{(pool ? " pool" : "")} n3 9x7 c{3 * v} k37 (odd K)", 3, 9, 7, 3 * v, 37, pool, false, tile, 1, OutputMode.Native, sd);
                    sd = seed++;
                    yield return Conv(p, $"conv3x3 {s} {tile}x{tile}{(pool ? " pool" : "")} n1 6x6 c{32 * v} k136 splitk5", 1, 6, 6, 32 * v, 136, pool, true, tile, 5, OutputMode.Native, sd);
                }
            if (p != CudaPrecision.Float32)
            {
                int sd = seed++;
                yield return Conv(p, $"conv3x3 {s} 64x64 n2 10x10 c{2 * v} k40 float32 out", 2, 10, 10, 2 * v, 40, false, true, 64, 1, OutputMode.Float32, sd);
                sd = seed++;
                yield return Conv(p, $"conv3x3 {s} 128x128 pool n1 12x12 c{4 * v} k130 float32 out splitk3", 1, 12, 12, 4 * v, 130, true, true, 128, 3, OutputMode.Float32, sd);
            }
            // VGG-16's layers with the planner's own choice, batch 1, and two at batch 8
            foreach (var (name, size, c, k, pool) in Vgg16Convs)
            {
                int sd = seed++;
                int cp = p.PadChannels(c);
                yield return Conv(p, $"conv3x3 {s} auto vgg16 {name} n1 {size}x{size} c{cp} k{k}{(pool ? " pool" : "")}", 1, size, size, cp, k, pool, true, 0, 0, OutputMode.Native, sd, realC: c);
            }
            foreach (var (name, size, c, k, pool) in Vgg16Convs.Where(l => l.Name is "conv3_3" or "conv5_1"))
            {
                int sd = seed++;
                yield return Conv(p, $"conv3x3 {s} auto vgg16 {name} n8 {size}x{size} c{c} k{k}{(pool ? " pool" : "")}", 8, size, size, c, k, pool, true, 0, 0, OutputMode.Native, sd);
            }

            // linear layers: every path and variant
            foreach (var m in new[] { 1, 2, 3, 5, 8, 13 })
            {
                int sd = seed++;
                yield return Linear(p, $"linear {s} gemv m{m} k{64 * v} n37", m, 37, 64 * v, true, LinearLauncher.Path.Gemv, 0, 0, OutputMode.Native, sd);
            }
            foreach (var tile in new[] { 64, 128 })
                foreach (var (m, splits) in new[] { (19, 1), (70, 1), (33, 4) })
                {
                    int sd = seed++;
                    yield return Linear(p, $"linear {s} gemm {tile}x{tile} m{m} k{40 * v} n{(tile == 64 ? 72 : 130)}{(splits > 1 ? $" splitk{splits}" : "")}", m, tile == 64 ? 72 : 130, 40 * v, m % 2 == 1, LinearLauncher.Path.Gemm, tile, splits, OutputMode.Native, sd);
                }
            {
                int sd = seed++;
                yield return Linear(p, $"linear {s} naive m5 k{v + 3} n11 (K not a multiple of {v})", 5, 11, v + 3, true, LinearLauncher.Path.Naive, 0, 0, OutputMode.Native, sd);
                sd = seed++;
                yield return Linear(p, $"linear {s} auto vgg16 fc6 m1 k25088 n4096", 1, 4096, 25088, true, null, 0, 0, OutputMode.Native, sd);
                sd = seed++;
                yield return Linear(p, $"linear {s} auto vgg16 fc7 m8 k4096 n4096", 8, 4096, 4096, true, null, 0, 0, OutputMode.Native, sd);
                sd = seed++;
                yield return Linear(p, $"linear {s} auto vgg16 fc8 m64 k4096 n1000 float32 out", 64, 1000, 4096, false, null, 0, 0, OutputMode.Float32, sd);
                sd = seed++;
                yield return Linear(p, $"linear {s} auto vgg16 fc6 m64 k25088 n4096", 64, 4096, 25088, true, null, 0, 0, OutputMode.Native, sd);
            }

            // pools
            foreach (var (kh, st, pad, dil, ceil, h, w) in new[] { (2, 2, 0, 1, false, 14, 14), (2, 2, 0, 1, true, 7, 9), (3, 2, 1, 1, false, 13, 10), (3, 1, 1, 2, false, 9, 8), (3, 2, 1, 1, true, 8, 11) })
            {
                int sd = seed++;
                yield return MaxPool(p, $"maxpool {s} k{kh} s{st} p{pad} d{dil}{(ceil ? " ceil" : "")} n2 {h}x{w} c19", 2, h, w, 19, kh, st, pad, dil, ceil, sd);
            }
            foreach (var (h, w, oh, ow) in new[] { (14, 14, 7, 7), (10, 13, 7, 7), (7, 7, 7, 7), (9, 5, 1, 1), (5, 3, 7, 7) })
            {
                int sd = seed++;
                yield return AvgPool(p, $"adaptive avgpool {s} n2 {h}x{w} -> {oh}x{ow} c21", 2, h, w, 21, oh, ow, sd);
            }
            // conversions
            {
                int sd = seed++;
                yield return ToNhwc(p, $"convert nchw f32 -> nhwc {s} n2 c3 7x5 pad {p.PadChannels(3)}", 2, 3, 7, 5, p.PadChannels(3), sd);
                sd = seed++;
                yield return ToNchw(p, $"convert nhwc {s} -> nchw f32 n2 c5 4x6 (stored {p.PadChannels(5)})", 2, 5, 4, 6, p.PadChannels(5), sd);
                sd = seed++;
                yield return Permute(p, $"permute nhwc -> nchw b{p.ElementSize()} n3 c10 3x4", 3, 10, 3, 4, sd);
                sd = seed++;
                yield return Relu(p, $"relu {s} 1001 elements", 1001, sd);
            }
            // the general (slow) convolution
            foreach (var (r, st, pad, dil, groups) in new[] { (5, 2, 2, 1, 1), (1, 1, 0, 1, 1), (3, 1, 2, 2, 1), (3, 1, 1, 1, 2), (7, 3, 1, 1, 1) })
            {
                int sd = seed++;
                yield return General(p, $"conv general {s} k{r} s{st} p{pad} d{dil} g{groups} n2 11x9 c6 k8", new ConvGeometry(2, 11, 9, 6, 8, r, r, st, st, pad, pad, pad + (r == 7 ? 1 : 0), pad, dil, dil, groups), true, sd);
            }
        }
        yield return Softmax(false, "softmax f32 [3, 1000]", 3, 1000, 1, seed++);
        yield return Softmax(true, "log_softmax f32 [3, 1000]", 3, 1000, 1, seed++);
        yield return Softmax(false, "softmax f32 [2, 5, 7] axis 1", 2, 5, 7, seed++);
        yield return Convert("convert f32 <-> f16 4099 elements", seed++);
        yield return Quantize("quantize / dequantize per tensor and per row", seed++);
        foreach (var c in GpuProgramChecks.All()) yield return c;
    }

    // ------------------------------------------------------------------ data

    private static float[] Uniform(Random r, long n, float scale = 1f)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return a;
    }

    private static sbyte[] Codes(Random r, long n, int lo, int hi)
    {
        var a = new sbyte[n];
        for (long i = 0; i < n; i++) a[i] = (sbyte)r.Next(lo, hi + 1);
        return a;
    }

    private static Half[] ToHalf(float[] f) => f.Select(x => (Half)x).ToArray();

    private static float[] FromHalf(Half[] h) => h.Select(x => (float)x).ToArray();

    /// <summary>Per-channel multipliers that spread requantized outputs over the int8 range (some saturate).</summary>
    private static float[] Multipliers(Random r, int k, int kdim) =>
        Enumerable.Range(0, k).Select(_ => (float)((0.5 + r.NextDouble()) * 100.0 / (Math.Sqrt(kdim) * 74 * 74))).ToArray();

    private static float[] Factors(Random r, int k) => Enumerable.Range(0, k).Select(_ => (float)((0.5 + r.NextDouble()) * 1e-3)).ToArray();

    /// <summary>The kernel's output read back as doubles (f32, f16) for float comparisons.</summary>
    private static double[] ReadFloats(IGpuCheckDevice ctx, ulong y, long count, bool half)
    {
        if (half) return ctx.Download<Half>(y, count).Select(h => (double)(float)h).ToArray();
        return ctx.Download<float>(y, count).Select(f => (double)f).ToArray();
    }

    private static void NoPoison(string what, IReadOnlyList<double> all)
    {
        for (int i = 0; i < all.Count; i++)
            if (double.IsNaN(all[i])) throw new GpuCheckFailedException($"{what}: output element {i} was never written (still the NaN poison)");
    }

    private static T[] Pick<T>(T[] all, long[] idx) => idx.Select(i => all[i]).ToArray();

    // ------------------------------------------------------------------ conv3x3

    private static GpuCheck Conv(CudaPrecision p, string name, int n, int h, int w, int c, int k, bool pool, bool relu, int tile, int splits, OutputMode om, int seed, int realC = -1) =>
        new(name, "conv3x3", Work: (long)n * h * w * k * 9 * c, Body: ctx =>
        {
            var rng = new Random(seed);
            var L = new Conv3x3Launcher(p, n, h, w, c, k, relu, pool, om);
            var choice = L.Plan(ctx.Multiprocessors, tile, splits);
            var g = ConvGeometry.Conv3x3(n, h, w, c, k);
            long xCount = (long)n * h * w * c, wCount = (long)k * 9 * c, outCount = (long)n * L.OutH * L.OutW * k;
            var shape = new[] { n, L.OutH, L.OutW, k };
            var pos = GpuCompare.Positions(outCount, 4096, seed + 1);
            string what = $"{name} (seed {seed}, {choice})";
            int rc = realC < 0 ? c : realC;
            (int nn, int oh, int ow, int kk) Coord(long i) { int kk = (int)(i % k); long t = i / k; int ow = (int)(t % L.OutW); t /= L.OutW; return ((int)(t / L.OutH), (int)(t % L.OutH), ow, kk); }
            IEnumerable<(int, int)> Taps(int oh, int ow) => pool ? new[] { (2 * oh, 2 * ow), (2 * oh, 2 * ow + 1), (2 * oh + 1, 2 * ow), (2 * oh + 1, 2 * ow + 1) } : new[] { (oh, ow) };
            ulong ws = choice.WorkspaceBytes > 0 ? ctx.Output(choice.WorkspaceBytes, 0) : 0;

            if (p == CudaPrecision.Int8)
            {
                var x = Codes(rng, xCount, -128, 127);
                var wq = Codes(rng, wCount, -127, 127);
                if (rc < c) { for (long i = 0; i < xCount; i++) if (i % c >= rc) x[i] = 0; for (long i = 0; i < wCount; i++) if (i % c >= rc) wq[i] = 0; }
                var bias = Enumerable.Range(0, k).Select(_ => rng.Next(-3000, 3001)).ToArray();
                var scale = om == OutputMode.Native ? Multipliers(rng, k, 9 * c) : Factors(rng, k);
                ulong y = ctx.Output(outCount * (om == OutputMode.Native ? 1 : 4));
                ctx.Run(L.Launches(choice, ctx.Upload(x), ctx.Upload(wq), ctx.Upload(bias), ctx.Upload(scale), y, ws));
                if (om == OutputMode.Native)
                {
                    var got = ctx.Download<sbyte>(y, outCount);
                    var exp = pos.Select(i =>
                    {
                        var (nn, oh, ow, kk) = Coord(i);
                        return Taps(oh, ow).Select(t => Int8Scheme.Requantize(Int8Reference.ConvAccumulatorAt(x, wq, bias, g, nn, t.Item1, t.Item2, kk), scale[kk], relu)).Max();
                    }).ToArray();
                    return GpuCompare.Exact(what, shape, pos, Pick(got, pos), exp);
                }
                else
                {
                    var got = ctx.Download<float>(y, outCount);
                    var exp = pos.Select(i =>
                    {
                        var (nn, oh, ow, kk) = Coord(i);
                        return Taps(oh, ow).Select(t => Int8Scheme.Dequantize(Int8Reference.ConvAccumulatorAt(x, wq, bias, g, nn, t.Item1, t.Item2, kk), scale[kk], relu)).Max();
                    }).ToArray();
                    return GpuCompare.Exact(what, shape, pos, Pick(got, pos), exp);
                }
            }

            var xf = Uniform(rng, xCount);
            var wf = Uniform(rng, wCount, (float)(1 / Math.Sqrt(9 * rc)));
            if (rc < c) { for (long i = 0; i < xCount; i++) if (i % c >= rc) xf[i] = 0; for (long i = 0; i < wCount; i++) if (i % c >= rc) wf[i] = 0; }
            var bf = Uniform(rng, k, 0.1f);
            bool half = p == CudaPrecision.Float16;
            ulong X, W;
            if (half)
            {
                var xh = ToHalf(xf); var wh = ToHalf(wf);
                xf = FromHalf(xh); wf = FromHalf(wh);
                X = ctx.Upload(xh); W = ctx.Upload(wh);
            }
            else
            {
                X = ctx.Upload(xf); W = ctx.Upload(wf);
            }
            bool outHalf = half && om == OutputMode.Native;
            ulong yy = ctx.Output(outCount * (outHalf ? 2 : 4));
            ctx.Run(L.Launches(choice, X, W, ctx.Upload(bf), 0, yy, ws));
            var all = ReadFloats(ctx, yy, outCount, outHalf);
            NoPoison(what, all);
            var expected = pos.Select(i =>
            {
                var (nn, oh, ow, kk) = Coord(i);
                return Taps(oh, ow).Select(t => { double v = FloatReference.ConvAt(xf, wf, bf, g, nn, t.Item1, t.Item2, kk); return relu ? Math.Max(v, 0) : v; }).Max();
            }).ToArray();
            double tol = half ? Fp16Tolerance : Fp32Tolerance;
            return GpuCompare.Close(what, shape, pos, Pick(all, pos), expected, tol, tol);
        });

    // ------------------------------------------------------------------ linear

    private static GpuCheck Linear(CudaPrecision p, string name, int m, int n, int k, bool relu, LinearLauncher.Path? path, int tile, int splits, OutputMode om, int seed) =>
        new(name, "linear", Work: (long)m * n * k, Body: ctx =>
        {
            var rng = new Random(seed);
            var L = new LinearLauncher(p, m, n, k, relu, om) { ForcePath = path, ForceTile = tile, ForceSplits = splits };
            long outCount = (long)m * n;
            var shape = new[] { m, n };
            var pos = GpuCompare.Positions(outCount, 4096, seed + 1);
            long wsBytes = L.WorkspaceBytes(ctx.Multiprocessors);
            ulong ws = wsBytes > 0 ? ctx.Output(wsBytes, 0) : 0;
            string what = $"{name} (seed {seed}, {L.Choose()}{(L.Choose() == LinearLauncher.Path.Gemm ? " " + L.PlanGemm(ctx.Multiprocessors) : "")})";
            if (p == CudaPrecision.Int8)
            {
                var x = Codes(rng, (long)m * k, -128, 127);
                var w = Codes(rng, (long)n * k, -127, 127);
                var bias = Enumerable.Range(0, n).Select(_ => rng.Next(-3000, 3001)).ToArray();
                var scale = om == OutputMode.Native ? Multipliers(rng, n, k) : Factors(rng, n);
                ulong y = ctx.Output(outCount * (om == OutputMode.Native ? 1 : 4));
                ctx.Run(L.Launches(ctx.Multiprocessors, ctx.Upload(x), ctx.Upload(w), ctx.Upload(bias), ctx.Upload(scale), y, ws));
                if (om == OutputMode.Native)
                {
                    var got = ctx.Download<sbyte>(y, outCount);
                    var exp = pos.Select(i => Int8Scheme.Requantize(Int8Reference.GemmAccumulatorAt(x, w, bias, k, (int)(i / n), (int)(i % n)), scale[i % n], relu)).ToArray();
                    return GpuCompare.Exact(what, shape, pos, Pick(got, pos), exp);
                }
                var gotf = ctx.Download<float>(y, outCount);
                var expf = pos.Select(i => Int8Scheme.Dequantize(Int8Reference.GemmAccumulatorAt(x, w, bias, k, (int)(i / n), (int)(i % n)), scale[i % n], relu)).ToArray();
                return GpuCompare.Exact(what, shape, pos, Pick(gotf, pos), expf);
            }
            var xf = Uniform(rng, (long)m * k);
            var wf = Uniform(rng, (long)n * k, (float)(1 / Math.Sqrt(k)));
            var bf = Uniform(rng, n, 0.1f);
            bool half = p == CudaPrecision.Float16;
            ulong X, W;
            if (half)
            {
                var xh = ToHalf(xf); var wh = ToHalf(wf);
                xf = FromHalf(xh); wf = FromHalf(wh);
                X = ctx.Upload(xh); W = ctx.Upload(wh);
            }
            else
            {
                X = ctx.Upload(xf); W = ctx.Upload(wf);
            }
            bool outHalf = half && om == OutputMode.Native;
            ulong yy = ctx.Output(outCount * (outHalf ? 2 : 4));
            ctx.Run(L.Launches(ctx.Multiprocessors, X, W, ctx.Upload(bf), 0, yy, ws));
            var all = ReadFloats(ctx, yy, outCount, outHalf);
            NoPoison(what, all);
            var expected = pos.Select(i => { double v = FloatReference.GemmAt(xf, wf, bf, k, (int)(i / n), (int)(i % n)); return relu ? Math.Max(v, 0) : v; }).ToArray();
            double tol = half ? Fp16Tolerance : Fp32Tolerance;
            return GpuCompare.Close(what, shape, pos, Pick(all, pos), expected, tol, tol);
        });

    // ------------------------------------------------------------------ pools

    /// <summary>PyTorch's pooled length: floor or ceil of (L + pads − d·(k−1) − 1)/s + 1, a ceil-mode window starting in the end padding dropped.</summary>
    public static int PooledLength(int len, int k, int s, int padBegin, int padEnd, int d, bool ceil)
    {
        int span = len + padBegin + padEnd - d * (k - 1) - 1;
        int o = (ceil ? (span + s - 1) / s : span / s) + 1;
        if (ceil && (o - 1) * s >= len + padBegin) o--;
        return o;
    }

    private static GpuCheck MaxPool(CudaPrecision p, string name, int n, int h, int w, int c, int kk, int st, int pad, int dil, bool ceil, int seed) =>
        new(name, "pool", Work: (long)n * h * w * c * kk * kk, Body: ctx =>
        {
            var rng = new Random(seed);
            int oh = PooledLength(h, kk, st, pad, pad, dil, ceil), ow = PooledLength(w, kk, st, pad, pad, dil, ceil);
            long inCount = (long)n * h * w * c, outCount = (long)n * oh * ow * c;
            var shape = new[] { n, oh, ow, c };
            var pos = GpuCompare.Positions(outCount, 4096, seed);
            string what = $"{name} (seed {seed}) -> {oh}x{ow}";
            if (p == CudaPrecision.Int8)
            {
                var x = Codes(rng, inCount, -128, 127);
                ulong y = ctx.Output(outCount);
                ctx.Run(new[] { SimpleLaunchers.MaxPool(p, ctx.Multiprocessors, ctx.Upload(x), y, n, h, w, c, oh, ow, kk, kk, st, st, pad, pad, dil, dil) });
                var exp = Int8Reference.MaxPool(x, n, h, w, c, oh, ow, kk, kk, st, st, pad, pad, dil, dil);
                return GpuCompare.Exact(what, shape, pos, Pick(ctx.Download<sbyte>(y, outCount), pos), Pick(exp, pos));
            }
            var xf = Uniform(rng, inCount);
            bool half = p == CudaPrecision.Float16;
            ulong X;
            if (half) { var xh = ToHalf(xf); xf = FromHalf(xh); X = ctx.Upload(xh); } else X = ctx.Upload(xf);
            ulong yy = ctx.Output(outCount * (half ? 2 : 4));
            ctx.Run(new[] { SimpleLaunchers.MaxPool(p, ctx.Multiprocessors, X, yy, n, h, w, c, oh, ow, kk, kk, st, st, pad, pad, dil, dil) });
            var all = ReadFloats(ctx, yy, outCount, half);
            NoPoison(what, all);
            var expected = pos.Select(i =>
            {
                int ch = (int)(i % c); long t = i / c; int x0 = (int)(t % ow); t /= ow;
                return FloatReference.MaxPoolAt(xf, h, w, c, (int)(t / oh), (int)(t % oh), x0, ch, kk, kk, st, st, pad, pad, dil, dil);
            }).ToArray();
            return GpuCompare.Exact(what, shape, pos, Pick(all, pos).Select(v => (float)v).ToArray(), expected);
        });

    private static GpuCheck AvgPool(CudaPrecision p, string name, int n, int h, int w, int c, int oh, int ow, int seed) =>
        new(name, "pool", Work: (long)n * h * w * c, Body: ctx =>
        {
            var rng = new Random(seed);
            long inCount = (long)n * h * w * c, outCount = (long)n * oh * ow * c;
            var shape = new[] { n, oh, ow, c };
            var pos = GpuCompare.Positions(outCount, 4096, seed);
            string what = $"{name} (seed {seed})";
            if (p == CudaPrecision.Int8)
            {
                var x = Codes(rng, inCount, -128, 127);
                ulong y = ctx.Output(outCount);
                ctx.Run(new[] { SimpleLaunchers.AdaptiveAvgPool(p, ctx.Multiprocessors, ctx.Upload(x), y, n, h, w, c, oh, ow) });
                var exp = Int8Reference.AdaptiveAvgPool(x, n, h, w, c, oh, ow);
                return GpuCompare.Exact(what, shape, pos, Pick(ctx.Download<sbyte>(y, outCount), pos), Pick(exp, pos));
            }
            var xf = Uniform(rng, inCount);
            bool half = p == CudaPrecision.Float16;
            ulong X;
            if (half) { var xh = ToHalf(xf); xf = FromHalf(xh); X = ctx.Upload(xh); } else X = ctx.Upload(xf);
            ulong yy = ctx.Output(outCount * (half ? 2 : 4));
            ctx.Run(new[] { SimpleLaunchers.AdaptiveAvgPool(p, ctx.Multiprocessors, X, yy, n, h, w, c, oh, ow) });
            var all = ReadFloats(ctx, yy, outCount, half);
            NoPoison(what, all);
            var expected = pos.Select(i =>
            {
                int ch = (int)(i % c); long t = i / c; int x0 = (int)(t % ow); t /= ow;
                return FloatReference.AdaptiveAvgAt(xf, h, w, c, oh, ow, (int)(t / oh), (int)(t % oh), x0, ch);
            }).ToArray();
            double tol = half ? Fp16Tolerance : Fp32Tolerance;
            return GpuCompare.Close(what, shape, pos, Pick(all, pos), expected, tol, tol);
        });

    // ------------------------------------------------------------------ softmax, conversions

    private static GpuCheck Softmax(bool log, string name, int outer, int axis, int inner, int seed) =>
        new(name, "softmax", Work: (long)outer * axis * inner, Body: ctx =>
        {
            var rng = new Random(seed);
            var x = Uniform(rng, (long)outer * axis * inner, 8f);
            ulong y = ctx.Output(x.Length * 4L);
            ctx.Run(new[] { SimpleLaunchers.Softmax(log, ctx.Upload(x), y, outer, axis, inner) });
            var got = ctx.Download<float>(y, x.Length).Select(f => (double)f).ToArray();
            var exp = FloatReference.Softmax(x, outer, axis, inner, log);
            var idx = Enumerable.Range(0, x.Length).Select(i => (long)i).ToArray();
            return GpuCompare.Close($"{name} (seed {seed})", new[] { outer, axis, inner }, idx, got, exp, Fp32Tolerance, 1e-6);
        });

    private static GpuCheck ToNhwc(CudaPrecision p, string name, int n, int c, int h, int w, int cPad, int seed) =>
        new(name, "convert", Work: (long)n * c * h * w, Body: ctx =>
        {
            var rng = new Random(seed);
            var x = Uniform(rng, (long)n * c * h * w, 3f);
            float scale = 0.02f;
            long outCount = (long)n * h * w * cPad;
            ulong y = ctx.Output(outCount * p.ElementSize());
            ctx.Run(new[] { SimpleLaunchers.NchwToNhwc(p, ctx.Multiprocessors, ctx.Upload(x), y, n, c, h, w, cPad, scale) });
            var idx = Enumerable.Range(0, (int)outCount).Select(i => (long)i).ToArray();
            float Src(long o) { int ch = (int)(o % cPad); long t = o / cPad; int xw = (int)(t % w); t /= w; int xh = (int)(t % h); int nn = (int)(t / h); return ch < c ? x[((nn * c + ch) * h + xh) * w + xw] : 0f; }
            var shape = new[] { n, h, w, cPad };
            return p switch
            {
                CudaPrecision.Float32 => GpuCompare.Exact(name, shape, idx, ctx.Download<float>(y, outCount), idx.Select(Src).ToArray()),
                CudaPrecision.Float16 => GpuCompare.Exact(name, shape, idx, ctx.Download<Half>(y, outCount), idx.Select(o => (Half)Src(o)).ToArray()),
                _ => GpuCompare.Exact(name, shape, idx, ctx.Download<sbyte>(y, outCount), idx.Select(o => Int8Scheme.QuantizeActivation(Src(o), scale)).ToArray()),
            };
        });

    private static GpuCheck ToNchw(CudaPrecision p, string name, int n, int c, int h, int w, int cPad, int seed) =>
        new(name, "convert", Work: (long)n * c * h * w, Body: ctx =>
        {
            var rng = new Random(seed);
            long inCount = (long)n * h * w * cPad, outCount = (long)n * c * h * w;
            float scale = 0.05f;
            float[] src;
            ulong X;
            switch (p)
            {
                case CudaPrecision.Float32: src = Uniform(rng, inCount); X = ctx.Upload(src); break;
                case CudaPrecision.Float16: { var hh = ToHalf(Uniform(rng, inCount)); src = FromHalf(hh); X = ctx.Upload(hh); break; }
                default: { var q = Codes(rng, inCount, -128, 127); src = q.Select(v => (float)v * scale).ToArray(); X = ctx.Upload(q); break; }
            }
            ulong y = ctx.Output(outCount * 4);
            ctx.Run(new[] { SimpleLaunchers.NhwcToNchwF32(p, ctx.Multiprocessors, X, y, n, c, h, w, cPad, scale) });
            var idx = Enumerable.Range(0, (int)outCount).Select(i => (long)i).ToArray();
            var exp = idx.Select(o => { int xw = (int)(o % w); long t = o / w; int xh = (int)(t % h); t /= h; int ch = (int)(t % c); int nn = (int)(t / c); return src[((nn * h + xh) * w + xw) * cPad + ch]; }).ToArray();
            return GpuCompare.Exact(name, new[] { n, c, h, w }, idx, ctx.Download<float>(y, outCount), exp);
        });

    private static GpuCheck Permute(CudaPrecision p, string name, int n, int c, int h, int w, int seed) =>
        new(name, "convert", Work: (long)n * c * h * w, Body: ctx =>
        {
            var rng = new Random(seed);
            long count = (long)n * c * h * w;
            var bytes = new byte[count * p.ElementSize()];
            rng.NextBytes(bytes);
            ulong y = ctx.Output(bytes.Length);
            ctx.Run(new[] { SimpleLaunchers.NhwcToNchw(p, ctx.Multiprocessors, ctx.Upload(bytes), y, n, c, h, w, c) });
            var got = ctx.Download<byte>(y, bytes.Length);
            int es = p.ElementSize();
            var idx = Enumerable.Range(0, (int)count).Select(i => (long)i).ToArray();
            var exp = new List<byte>();
            var act = new List<byte>();
            foreach (var o in idx)
            {
                int xw = (int)(o % w); long t = o / w; int xh = (int)(t % h); t /= h; int ch = (int)(t % c); int nn = (int)(t / c);
                long src = (((long)nn * h + xh) * w + xw) * c + ch;
                for (int b = 0; b < es; b++) { exp.Add(bytes[src * es + b]); act.Add(got[o * es + b]); }
            }
            return GpuCompare.Exact(name, new[] { n, c, h, w, es }, Enumerable.Range(0, exp.Count).Select(i => (long)i).ToArray(), act, exp);
        });

    private static GpuCheck Relu(CudaPrecision p, string name, int count, int seed) =>
        new(name, "convert", Work: count, Body: ctx =>
        {
            var rng = new Random(seed);
            var idx = Enumerable.Range(0, count).Select(i => (long)i).ToArray();
            var shape = new[] { count };
            var kernel = "vgg_relu_" + p.Suffix();
            switch (p)
            {
                case CudaPrecision.Float32:
                {
                    var x = Uniform(rng, count);
                    ulong y = ctx.Output(count * 4L);
                    ctx.Run(new[] { SimpleLaunchers.Elementwise(kernel, ctx.Multiprocessors, ctx.Upload(x), y, count) });
                    return GpuCompare.Exact(name, shape, idx, ctx.Download<float>(y, count), x.Select(v => MathF.Max(v, 0)).ToArray());
                }
                case CudaPrecision.Float16:
                {
                    var x = ToHalf(Uniform(rng, count));
                    x[0] = Half.NegativeZero;
                    ulong y = ctx.Output(count * 2L);
                    ctx.Run(new[] { SimpleLaunchers.Elementwise(kernel, ctx.Multiprocessors, ctx.Upload(x), y, count) });
                    var exp = x.Select(v => v < Half.Zero || Half.IsNegative(v) ? Half.Zero : v).ToArray();
                    return GpuCompare.Exact(name, shape, idx, ctx.Download<ushort>(y, count), exp.Select(BitConverter.HalfToUInt16Bits).ToArray());
                }
                default:
                {
                    var x = Codes(rng, count, -128, 127);
                    ulong y = ctx.Output(count);
                    ctx.Run(new[] { SimpleLaunchers.Elementwise(kernel, ctx.Multiprocessors, ctx.Upload(x), y, count) });
                    return GpuCompare.Exact(name, shape, idx, ctx.Download<sbyte>(y, count), x.Select(v => (sbyte)Math.Max((int)v, 0)).ToArray());
                }
            }
        });

    private static GpuCheck Convert(string name, int seed) =>
        new(name, "convert", Work: 4099, Body: ctx =>
        {
            var rng = new Random(seed);
            int count = 4099;
            var x = Uniform(rng, count, 70000f);   // includes values that overflow f16 to infinity
            x[1] = 1.00048828125f;                  // exactly halfway between two halves: ties to even
            var idx = Enumerable.Range(0, count).Select(i => (long)i).ToArray();
            ulong h = ctx.Output(count * 2L);
            ulong f = ctx.Output(count * 4L);
            ctx.Run(new[]
            {
                SimpleLaunchers.Elementwise("vgg_convert_f32_to_f16", ctx.Multiprocessors, ctx.Upload(x), h, count),
                SimpleLaunchers.Elementwise("vgg_convert_f16_to_f32", ctx.Multiprocessors, h, f, count),
            });
            var gotH = ctx.Download<ushort>(h, count);
            var r1 = GpuCompare.Exact(name + " f32->f16", new[] { count }, idx, gotH, x.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray());
            var r2 = GpuCompare.Exact(name + " f16->f32", new[] { count }, idx, ctx.Download<float>(f, count), gotH.Select(b => (float)BitConverter.UInt16BitsToHalf(b)).ToArray());
            return r1 + "; " + r2;
        });

    private static GpuCheck Quantize(string name, int seed) =>
        new(name, "convert", Work: 13 * 77, Body: ctx =>
        {
            var rng = new Random(seed);
            int rows = 13, cols = 77, count = rows * cols;
            var x = Uniform(rng, count, 4f);
            var idx = Enumerable.Range(0, count).Select(i => (long)i).ToArray();
            float s = 0.021f;
            var scales = Int8Scheme.WeightScales(x, rows);
            ulong X = ctx.Upload(x), S = ctx.Upload(scales);
            ulong q = ctx.Output(count), d = ctx.Output(count * 4L), qr = ctx.Output(count), dr = ctx.Output(count * 4L);
            ctx.Run(new[]
            {
                SimpleLaunchers.Elementwise("vgg_quantize_f32_i8", ctx.Multiprocessors, X, q, count, s),
                SimpleLaunchers.Elementwise("vgg_dequantize_i8_f32", ctx.Multiprocessors, q, d, count, s),
                SimpleLaunchers.Rows(true, ctx.Multiprocessors, X, qr, rows, cols, S),
                SimpleLaunchers.Rows(false, ctx.Multiprocessors, qr, dr, rows, cols, S),
            });
            var gotQ = ctx.Download<sbyte>(q, count);
            var r1 = GpuCompare.Exact(name + " quantize", new[] { count }, idx, gotQ, x.Select(v => Int8Scheme.QuantizeActivation(v, s)).ToArray());
            var r2 = GpuCompare.Exact(name + " dequantize", new[] { count }, idx, ctx.Download<float>(d, count), gotQ.Select(v => (float)v * s).ToArray());
            var gotR = ctx.Download<sbyte>(qr, count);
            var r3 = GpuCompare.Exact(name + " quantize rows", new[] { rows, cols }, idx, gotR, Int8Scheme.QuantizeWeights(x, scales));
            var r4 = GpuCompare.Exact(name + " dequantize rows", new[] { rows, cols }, idx, ctx.Download<float>(dr, count), idx.Select(i => (float)gotR[i] * scales[i / cols]).ToArray());
            return string.Join("; ", r1, r2, r3, r4);
        });

    // ------------------------------------------------------------------ general conv

    private static GpuCheck General(CudaPrecision p, string name, ConvGeometry g, bool relu, int seed) =>
        new(name, "conv general", Work: (long)g.N * g.OutH * g.OutW * g.K * g.R * g.S * g.C / g.Groups, Body: ctx =>
        {
            var rng = new Random(seed);
            var L = new ConvGeneralLauncher(p, g, relu);
            long xCount = (long)g.N * g.H * g.W * g.C, wCount = (long)g.K * g.R * g.S * (g.C / g.Groups), outCount = (long)g.N * g.OutH * g.OutW * g.K;
            var shape = new[] { g.N, g.OutH, g.OutW, g.K };
            var idx = Enumerable.Range(0, (int)outCount).Select(i => (long)i).ToArray();
            string what = $"{name} (seed {seed}) -> {g.OutH}x{g.OutW}";
            if (p == CudaPrecision.Int8)
            {
                var x = Codes(rng, xCount, -128, 127);
                var w = Codes(rng, wCount, -127, 127);
                var bias = Enumerable.Range(0, g.K).Select(_ => rng.Next(-500, 501)).ToArray();
                var scale = Multipliers(rng, g.K, g.R * g.S * g.C / g.Groups);
                ulong y = ctx.Output(outCount);
                ctx.Run(new[] { L.Launch(ctx.Multiprocessors, ctx.Upload(x), ctx.Upload(w), ctx.Upload(bias), ctx.Upload(scale), y) });
                var exp = Int8Reference.Requantize(Int8Reference.ConvAccumulators(x, w, bias, g), scale, relu);
                return GpuCompare.Exact(what, shape, idx, ctx.Download<sbyte>(y, outCount), exp);
            }
            var xf = Uniform(rng, xCount);
            var wf = Uniform(rng, wCount, 0.3f);
            var bf = Uniform(rng, g.K, 0.1f);
            bool half = p == CudaPrecision.Float16;
            ulong X, W;
            if (half) { var xh = ToHalf(xf); var wh = ToHalf(wf); xf = FromHalf(xh); wf = FromHalf(wh); X = ctx.Upload(xh); W = ctx.Upload(wh); }
            else { X = ctx.Upload(xf); W = ctx.Upload(wf); }
            ulong yy = ctx.Output(outCount * (half ? 2 : 4));
            ctx.Run(new[] { L.Launch(ctx.Multiprocessors, X, W, ctx.Upload(bf), 0, yy) });
            var all = ReadFloats(ctx, yy, outCount, half);
            NoPoison(what, all);
            var expected = idx.Select(i =>
            {
                int kk = (int)(i % g.K); long t = i / g.K; int ow = (int)(t % g.OutW); t /= g.OutW;
                double v = FloatReference.ConvAt(xf, wf, bf, g, (int)(t / g.OutH), (int)(t % g.OutH), ow, kk);
                return relu ? Math.Max(v, 0) : v;
            }).ToArray();
            double tol = half ? Fp16Tolerance : Fp32Tolerance;
            return GpuCompare.Close(what, shape, idx, all, expected, tol, tol);
        });
}
