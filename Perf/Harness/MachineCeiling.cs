using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Vgg.Perf.Harness;

/// <summary>
/// The machine's two ceilings, measured in the same run as the layers compared with them (METHOD.md:
/// datasheet rates are leads, measured rates are the reference):
/// an FP32 fused-multiply-add peak from a register-resident loop (16 independent accumulator vectors,
/// no memory traffic) on every benchmark thread, and a copy bandwidth from a large memcpy split across
/// the same threads (bytes read plus bytes written; write-allocate traffic is not counted).
/// </summary>
/// <param name="Isa">The vector width and instruction set the FMA loop ran with (e.g. "Vector512&lt;float&gt; FMA (AVX-512F)").</param>
/// <param name="Threads">Threads that ran the loops (the benchmark's thread count).</param>
/// <param name="PeakGflops">FMA peak on <see cref="Threads"/> threads, GFLOP/s (2 per lane per FMA); best of the repetitions.</param>
/// <param name="PeakGflopsOneThread">FMA peak on one thread, GFLOP/s.</param>
/// <param name="CopyGBps">Copy bandwidth on <see cref="Threads"/> threads, GB/s (10⁹ bytes/s, read + write); best of the repetitions.</param>
/// <param name="CopyBufferBytes">Size of each of the two copy buffers, bytes.</param>
/// <param name="Repetitions">Repetitions of each measurement (the best is kept: interference from other processes only slows a loop down).</param>
/// <param name="PeakGflopsMedian">Median over the repetitions of the FMA rate on <see cref="Threads"/> threads: far below the best, the machine was busy.</param>
/// <param name="CopyGBpsMedian">Median over the repetitions of the copy bandwidth.</param>
/// <param name="ReadGBps">Read-only stream bandwidth (a vector sum over the source buffer on every thread), GB/s, best of the repetitions:
/// the ceiling of a weight-streaming GEMV; informational, the shares use <see cref="CopyGBps"/>.</param>
public sealed record MachineCeiling(string Isa, int Threads, double PeakGflops, double PeakGflopsOneThread, double CopyGBps, long CopyBufferBytes, int Repetitions,
    double PeakGflopsMedian, double CopyGBpsMedian, double ReadGBps = 0)
{
    /// <summary>Default size of each copy buffer: 256 MiB, far above any last-level cache here.</summary>
    public const long DefaultCopyBytes = 256L << 20;

    public override string ToString() =>
        $"FMA peak {PeakGflops:F1} GFLOP/s on {Threads} thread(s) (median of {Repetitions}: {PeakGflopsMedian:F1}; best on 1 thread {PeakGflopsOneThread:F1}), {Isa}; " +
        $"copy {CopyGBps:F1} GB/s (median {CopyGBpsMedian:F1}; read + write, 2×{CopyBufferBytes >> 20} MiB); read-only stream {ReadGBps:F1} GB/s";

    /// <summary>
    /// Two measurements of the same machine (e.g. before and after the timed runs) as one: the best rate of each
    /// ceiling (interference only slows a loop down), the mean of the medians, the repetitions added.
    /// </summary>
    public static MachineCeiling Combine(MachineCeiling a, MachineCeiling b) =>
        a with
        {
            PeakGflops = Math.Max(a.PeakGflops, b.PeakGflops),
            PeakGflopsOneThread = Math.Max(a.PeakGflopsOneThread, b.PeakGflopsOneThread),
            CopyGBps = Math.Max(a.CopyGBps, b.CopyGBps),
            ReadGBps = Math.Max(a.ReadGBps, b.ReadGBps),
            PeakGflopsMedian = (a.PeakGflopsMedian + b.PeakGflopsMedian) / 2,
            CopyGBpsMedian = (a.CopyGBpsMedian + b.CopyGBpsMedian) / 2,
            Repetitions = a.Repetitions + b.Repetitions,
        };

    /// <summary>The widest FMA form this process can run: 512-, 256- or 128-bit vectors.</summary>
    public static string DetectIsa()
    {
        if (Vector512.IsHardwareAccelerated) return "Vector512<float> FMA (AVX-512F)";
        if (Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported) return "Vector256<float> FMA (AVX2+FMA3)";
        if (System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported) return "Vector128<float> FMA (AdvSIMD)";
        return "Vector128<float> (no hardware FMA detected; multiply-add may be emulated)";
    }

    /// <summary>
    /// Measures both ceilings (about two seconds with the defaults). Many short repetitions, best kept: on a
    /// shared machine a short burst is more likely to find the cores free than one long run.
    /// </summary>
    /// <param name="threads">Threads to run on (≥ 1).</param>
    /// <param name="copyBytes">Size of each copy buffer in bytes (≥ 1 MiB).</param>
    /// <param name="repetitions">Repetitions of each loop, best kept (≥ 1).</param>
    /// <param name="fmaSeconds">Target duration of one FMA repetition, seconds.</param>
    /// <param name="clockSeconds">The clock the loops are timed by, in seconds from an arbitrary origin: wall time
    /// (<see cref="Stopwatch"/>) when null; a process-CPU-time clock gives the per-core ceiling that time slices
    /// taken by other processes do not lower (then run on one thread: CPU time adds up over threads).</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument below its minimum.</exception>
    public static MachineCeiling Measure(int threads, long copyBytes = DefaultCopyBytes, int repetitions = 10, double fmaSeconds = 0.05,
        Func<double>? clockSeconds = null)
    {
        var clock = clockSeconds ?? WallSeconds;
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(copyBytes, 1L << 20);
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        // Calibrate the iteration count on one thread so each repetition lasts about fmaSeconds.
        long iters = 1 << 16;
        while (true)
        {
            var sw = Stopwatch.StartNew();
            FmaLoop(iters);
            if (sw.Elapsed.TotalSeconds > 0.02 || iters > (1L << 40)) { iters = (long)(iters * fmaSeconds / Math.Max(sw.Elapsed.TotalSeconds, 1e-6)); break; }
            iters *= 4;
        }
        iters = Math.Max(iters, 1 << 16);
        double flopsPerIter = 16.0 * 2 * LanesOfFmaLoop;
        double best1 = 0;
        var rates = new double[repetitions];
        for (int r = 0; r < repetitions; r++)
        {
            best1 = Math.Max(best1, flopsPerIter * iters / TimeOnThreads(clock, 1, _ => FmaLoop(iters)) / 1e9);
            rates[r] = threads * flopsPerIter * iters / TimeOnThreads(clock, threads, _ => FmaLoop(iters)) / 1e9;
        }
        int copyReps = Math.Max(1, repetitions / 2);
        var (copy, read) = Bandwidth(clock, threads, copyBytes, copyReps);
        return new MachineCeiling(DetectIsa(), threads, rates.Max(), best1, copy.Max(), copyBytes, repetitions,
            SampleStatistics.Of(rates).Median, SampleStatistics.Of(copy).Median, read.Max());
    }

    private static int LanesOfFmaLoop => Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 4;

    private static float FmaLoop(long iters) =>
        Vector512.IsHardwareAccelerated ? Fma512(iters) : Vector256.IsHardwareAccelerated ? Fma256(iters) : Fma128(iters);

    // 16 independent accumulators hide the FMA latency (4-5 cycles × 2 pipes); all operands stay in registers.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma512(long iters)
    {
        var m = Vector512.Create(0.9999999f);
        var a = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0 + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a, c6 = c5 + a, c7 = c6 + a;
        Vector512<float> c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a, c12 = c11 + a, c13 = c12 + a, c14 = c13 + a, c15 = c14 + a;
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
        return Vector512.Sum(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15)));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma256(long iters)
    {
        var m = Vector256.Create(0.9999999f);
        var a = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0 + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a, c6 = c5 + a, c7 = c6 + a;
        Vector256<float> c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a, c12 = c11 + a, c13 = c12 + a, c14 = c13 + a, c15 = c14 + a;
        for (long i = 0; i < iters; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, m, a); c1 = Vector256.FusedMultiplyAdd(c1, m, a);
            c2 = Vector256.FusedMultiplyAdd(c2, m, a); c3 = Vector256.FusedMultiplyAdd(c3, m, a);
            c4 = Vector256.FusedMultiplyAdd(c4, m, a); c5 = Vector256.FusedMultiplyAdd(c5, m, a);
            c6 = Vector256.FusedMultiplyAdd(c6, m, a); c7 = Vector256.FusedMultiplyAdd(c7, m, a);
            c8 = Vector256.FusedMultiplyAdd(c8, m, a); c9 = Vector256.FusedMultiplyAdd(c9, m, a);
            c10 = Vector256.FusedMultiplyAdd(c10, m, a); c11 = Vector256.FusedMultiplyAdd(c11, m, a);
            c12 = Vector256.FusedMultiplyAdd(c12, m, a); c13 = Vector256.FusedMultiplyAdd(c13, m, a);
            c14 = Vector256.FusedMultiplyAdd(c14, m, a); c15 = Vector256.FusedMultiplyAdd(c15, m, a);
        }
        return Vector256.Sum(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15)));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma128(long iters)
    {
        var m = Vector128.Create(0.9999999f);
        var a = Vector128.Create(1e-7f);
        Vector128<float> c0 = Vector128.Create(1f), c1 = c0 + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a, c6 = c5 + a, c7 = c6 + a;
        Vector128<float> c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a, c12 = c11 + a, c13 = c12 + a, c14 = c13 + a, c15 = c14 + a;
        for (long i = 0; i < iters; i++)
        {
            c0 = Vector128.FusedMultiplyAdd(c0, m, a); c1 = Vector128.FusedMultiplyAdd(c1, m, a);
            c2 = Vector128.FusedMultiplyAdd(c2, m, a); c3 = Vector128.FusedMultiplyAdd(c3, m, a);
            c4 = Vector128.FusedMultiplyAdd(c4, m, a); c5 = Vector128.FusedMultiplyAdd(c5, m, a);
            c6 = Vector128.FusedMultiplyAdd(c6, m, a); c7 = Vector128.FusedMultiplyAdd(c7, m, a);
            c8 = Vector128.FusedMultiplyAdd(c8, m, a); c9 = Vector128.FusedMultiplyAdd(c9, m, a);
            c10 = Vector128.FusedMultiplyAdd(c10, m, a); c11 = Vector128.FusedMultiplyAdd(c11, m, a);
            c12 = Vector128.FusedMultiplyAdd(c12, m, a); c13 = Vector128.FusedMultiplyAdd(c13, m, a);
            c14 = Vector128.FusedMultiplyAdd(c14, m, a); c15 = Vector128.FusedMultiplyAdd(c15, m, a);
        }
        return Vector128.Sum(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15)));
    }

    private static unsafe (double[] Copy, double[] Read) Bandwidth(Func<double> clock, int threads, long bytes, int repetitions)
    {
        bytes = bytes / (64L * threads) * 64L * threads; // whole cache lines per thread
        var src = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        var dst = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            // Touch every page first so page faults stay out of the timing; non-zero data.
            NativeMemory.Fill(src, (nuint)bytes, 0x5A);
            NativeMemory.Fill(dst, (nuint)bytes, 0xA5);
            long chunk = bytes / threads;
            var rates = new double[repetitions];
            var reads = new double[repetitions];
            for (int r = 0; r < repetitions + 1; r++) // the first repetition warms up
            {
                double s = TimeOnThreads(clock, threads, t => { Buffer.MemoryCopy(src + t * chunk, dst + t * chunk, chunk, chunk); return 0f; });
                if (r > 0) rates[r - 1] = 2.0 * bytes / s / 1e9;
                s = TimeOnThreads(clock, threads, t => ReadSum((float*)(dst + t * chunk), chunk / sizeof(float)));
                if (r > 0) reads[r - 1] = bytes / s / 1e9;
            }
            return (rates, reads);
        }
        finally
        {
            NativeMemory.AlignedFree(src);
            NativeMemory.AlignedFree(dst);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe float ReadSum(float* p, long n)
    {
        Vector256<float> a = default, b = default, c = default, d = default;
        long i = 0;
        for (; i + 32 <= n; i += 32)
        {
            a += Vector256.Load(p + i); b += Vector256.Load(p + i + 8);
            c += Vector256.Load(p + i + 16); d += Vector256.Load(p + i + 24);
        }
        float s = Vector256.Sum((a + b) + (c + d));
        for (; i < n; i++) s += p[i];
        return s;
    }

    private static double WallSeconds() => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    /// <summary>Runs <paramref name="body"/> on <paramref name="threads"/> new threads released together; seconds of <paramref name="clock"/> from release to the last finish.</summary>
    private static double TimeOnThreads(Func<double> clock, int threads, Func<int, float> body)
    {
        var ts = new Thread[threads];
        using var ready = new CountdownEvent(threads);
        using var go = new ManualResetEventSlim(false);
        float sink = 0;
        for (int t = 0; t < threads; t++)
        {
            int ti = t;
            ts[t] = new Thread(() => { ready.Signal(); go.Wait(); float r = body(ti); Interlocked.Exchange(ref sink, r); }) { IsBackground = true };
            ts[t].Start();
        }
        ready.Wait();
        double t0 = clock();
        go.Set();
        foreach (var t in ts) t.Join();
        double s = clock() - t0;
        GC.KeepAlive(sink);
        return s;
    }
}
