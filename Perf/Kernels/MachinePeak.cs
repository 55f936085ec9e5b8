using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Vgg.Perf.Kernels;

/// <summary>
/// The machine's ceilings, measured in the same run as the kernels they are compared with:
/// FP32 FMA peak (GFLOP/s) on 1 and T threads, and memory bandwidth (copy: bytes read + written per
/// second; read: a streaming sum) over buffers far larger than the last-level cache. Timed by the same
/// clock as the kernels (<see cref="Clock"/>: wall, or process CPU time with --cpu, where it is the
/// per-core ceiling unaffected by other processes' time slices).
/// </summary>
internal static unsafe class MachinePeak
{
    public sealed record Result(double FmaGflops1, double FmaGflopsT, double CopyGBs, double ReadGBs, int Threads)
    {
        public override string ToString() =>
            $"FMA peak {FmaGflops1:F1} GFLOP/s (1 thread), {FmaGflopsT:F1} GFLOP/s ({Threads} threads); copy {CopyGBs:F1} GB/s (read+write), read {ReadGBs:F1} GB/s";
    }

    public static Result Measure(int threads)
    {
        double f1 = Fma(1), ft = Fma(threads);
        var (copy, read) = Bandwidth(threads);
        return new Result(f1, ft, copy, read, threads);
    }

    private static double Fma(int threads)
    {
        const long iters = 20_000_000;
        double best = 0;
        for (int rep = 0; rep < 3; rep++)
        {
            double t0 = Clock.NowMs();
            RunOnThreads(threads, _ => FmaLoop(iters));
            double s = (Clock.NowMs() - t0) / 1e3;
            best = Math.Max(best, threads * iters * 16.0 * 32 / s / 1e9);
        }
        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop(long iters)
    {
        var m = Vector512.Create(0.999999f);
        var a = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        Vector512<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
        for (long i = 0; i < iters; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, m, a); c1 = Vector512.FusedMultiplyAdd(c1, m, a);
            c2 = Vector512.FusedMultiplyAdd(c2, m, a); c3 = Vector512.FusedMultiplyAdd(c3, m, a);
            c4 = Vector512.FusedMultiplyAdd(c4, m, a); c5 = Vector512.FusedMultiplyAdd(c5, m, a);
            c6 = Vector512.FusedMultiplyAdd(c6, m, a); c7 = Vector512.FusedMultiplyAdd(c7, m, a);
            c8 = Vector512.FusedMultiplyAdd(c8, m, a); c9 = Vector512.FusedMultiplyAdd(c9, m, a);
            c10 = Vector512.FusedMultiplyAdd(c10, m, a); c11 = Vector512.FusedMultiplyAdd(c11, m, a);
            c12 = Vector512.FusedMultiplyAdd(c12, m, a); c13 = Vector512.FusedMultiplyAdd(c13, m, a);
            c14 = Vector512.FusedMultiplyAdd(c14, m, a); c15 = Vector512.FusedMultiplyAdd(c15, m, a);
        }
        var s = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15));
        return Vector512.Sum(s);
    }

    private static (double Copy, double Read) Bandwidth(int threads)
    {
        const long bytes = 256L << 20;
        var src = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        var dst = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            NativeMemory.Fill(src, (nuint)bytes, 1);
            NativeMemory.Fill(dst, (nuint)bytes, 2);
            double copy = 0, read = 0;
            long chunk = bytes / threads;
            for (int rep = 0; rep < 4; rep++)
            {
                double t0 = Clock.NowMs();
                RunOnThreads(threads, t => { Buffer.MemoryCopy(src + t * chunk, dst + t * chunk, chunk, chunk); return 0f; });
                double t1 = Clock.NowMs();
                copy = Math.Max(copy, 2.0 * bytes / ((t1 - t0) / 1e3) / 1e9);
                RunOnThreads(threads, t => ReadLoop((float*)(src + t * chunk), chunk / 4));
                read = Math.Max(read, bytes / ((Clock.NowMs() - t1) / 1e3) / 1e9);
            }
            return (copy, read);
        }
        finally
        {
            NativeMemory.AlignedFree(src);
            NativeMemory.AlignedFree(dst);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float ReadLoop(float* p, long n)
    {
        Vector512<float> a = default, b = default, c = default, d = default;
        for (long i = 0; i + 64 <= n; i += 64)
        {
            a += Vector512.Load(p + i); b += Vector512.Load(p + i + 16);
            c += Vector512.Load(p + i + 32); d += Vector512.Load(p + i + 48);
        }
        return Vector512.Sum(a + b + c + d);
    }

    private static void RunOnThreads(int threads, Func<int, float> body)
    {
        var ts = new Thread[threads];
        using var start = new Barrier(threads);
        float sink = 0;
        for (int t = 0; t < threads; t++)
        {
            int ti = t;
            ts[t] = new Thread(() => { start.SignalAndWait(); float r = body(ti); Interlocked.Exchange(ref sink, r); });
            ts[t].Start();
        }
        foreach (var t in ts) t.Join();
        GC.KeepAlive(sink);
    }
}
