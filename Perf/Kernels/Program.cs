using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Vgg.Engine.Cpu.Kernels;
using Vgg.Perf.Harness;

namespace Vgg.Perf.Kernels;

/// <summary>
/// Kernel micro-benchmarks (a Stopwatch harness): our CPU kernels beside ONNX Runtime (CPU execution
/// provider, default graph optimizations, same thread count) in one run, reported as time ratios since
/// absolute times drift on a shared machine. Commands:
/// <list type="bullet">
/// <item><c>peak</c>: FMA peak and memory bandwidth (the ceilings).</item>
/// <item><c>layers</c>: every VGG-16 layer alone: ours vs a one-node ORT graph of the same shape.</item>
/// <item><c>vgg16</c>: the whole network, ours (<see cref="Vgg16Chain"/>) vs ORT on the same weights, with the logits' agreement.</item>
/// <item><c>engine-vgg16</c>: the whole network through the engine (Session, CPU backend with these kernels plugged in) vs ORT.</item>
/// <item><c>ort-vgg16</c>: ORT alone.</item>
/// <item><c>micro [--quick] [BenchmarkDotNet args]</c>: single kernels under BenchmarkDotNet (<see cref="KernelMicroBenchmarks"/>).</item>
/// </list>
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string cmd = args.Length > 0 ? args[0] : "help";
        if (cmd == "micro")
        {
            // BenchmarkDotNet through the harness's runner; the remaining arguments are BenchmarkDotNet's.
            bool quick = args.Contains("--quick");
            var rest = args.Skip(1).Where(a => a != "--quick").ToArray();
            if (!rest.Contains("--filter")) rest = rest.Concat(new[] { "--filter", "*KernelMicroBenchmarks*" }).ToArray();
            var summaries = Vgg.Perf.Harness.Micro.MicroBench.Run(rest, quick, typeof(KernelMicroBenchmarks).Assembly);
            return summaries.Count > 0 ? 0 : 1;
        }
        Options o;
        try { o = Options.Parse(args.Skip(1).ToArray()); }
        catch (Exception e) { Console.Error.WriteLine(e.Message); return 2; }
        Clock.UseCpu = o.CpuTime;
        Console.WriteLine($"# {cmd} {string.Join(' ', args.Skip(1))}  | {Environment.ProcessorCount} logical CPUs, SIMD {CpuSimd.Detected}, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        switch (cmd)
        {
            case "peak":
                Console.WriteLine(Clock.MeasurePeak(o.Threads));
                return 0;
            case "layers":
                Layers.Run(o);
                return 0;
            case "vgg16":
                EndToEnd.Run(o);
                return 0;
            case "engine-vgg16":
                EndToEnd.Engine(o);
                return 0;
            case "ort-vgg16":
                EndToEnd.OrtOnly(o);
                return 0;
            default:
                Console.WriteLine("usage: Vgg.Perf.Kernels peak|layers|vgg16|engine-vgg16|ort-vgg16|micro [--batch N] [--threads T] [--reps R] [--only NAME] [--level Avx512|Avx2|Portable] [--no-peak]");
                return cmd == "help" ? 0 : 2;
        }
    }
}

internal sealed class Options
{
    public int Batch = 1, Threads = 2, Reps = 5;
    public string? Only;
    public SimdLevel? Level;
    public bool Peak = true;
    /// <summary>Time by process CPU time (CLOCK_PROCESS_CPUTIME_ID) instead of wall clock: immune to
    /// preemption on a shared machine; meaningful with --threads 1 (spinning threads would count).</summary>
    public bool CpuTime;
    public (int, int)? Plan;

    public static Options Parse(string[] a)
    {
        var o = new Options();
        for (int i = 0; i < a.Length; i++)
        {
            switch (a[i])
            {
                case "--batch": o.Batch = int.Parse(a[++i]); break;
                case "--threads": o.Threads = int.Parse(a[++i]); break;
                case "--reps": o.Reps = int.Parse(a[++i]); break;
                case "--only": o.Only = a[++i]; break;
                case "--level":
                    o.Level = Enum.Parse<SimdLevel>(a[++i]);
                    CpuSimd.Default = o.Level.Value; // the engine path (engine-vgg16) takes the default level
                    break;
                case "--no-peak": o.Peak = false; break;
                case "--cpu": o.CpuTime = true; break;
                case "--no-hugepages": NativeBuffer.UseHugePages = false; break;
                case "--plan":
                    var parts = a[++i].Split(',');
                    o.Plan = (int.Parse(parts[0]), int.Parse(parts[1]));
                    break;
                default: throw new ArgumentException($"unknown option {a[i]}");
            }
        }
        return o;
    }
}

/// <summary>Wall clock, or process CPU time (Linux clock_gettime(CLOCK_PROCESS_CPUTIME_ID)).</summary>
internal static class Clock
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec { public long Sec, Nsec; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec ts);

    public static bool UseCpu;

    /// <summary>Milliseconds from an arbitrary origin.</summary>
    /// <summary>
    /// The machine's ceilings (FMA peak on 1 and T threads, copy and read-only bandwidth) from the harness's
    /// <see cref="MachineCeiling"/>, timed by this clock: wall time, or with --cpu process CPU time (per-core ceilings).
    /// </summary>
    public static MachineCeiling MeasurePeak(int threads) =>
        MachineCeiling.Measure(threads, clockSeconds: () => NowMs() / 1e3);

    public static double NowMs()
    {
        if (!UseCpu) return Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;
        ClockGetTime(2 /* CLOCK_PROCESS_CPUTIME_ID */, out var ts);
        return ts.Sec * 1e3 + ts.Nsec / 1e6;
    }
}

/// <summary>Median, min, max of repeated timings.</summary>
internal sealed class Stats
{
    private readonly List<double> _v = new();
    public void Add(double ms) => _v.Add(ms);
    public double Median { get { var s = _v.Order().ToList(); return s.Count == 0 ? double.NaN : s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2; } }
    public double Min => _v.Min();
    public double Max => _v.Max();
    public int Count => _v.Count;
    public override string ToString() => $"{Median:F2} ms [{Min:F2}–{Max:F2}]";
}

/// <summary>An ORT session with pre-bound input and output buffers (OrtValues over pinned arrays).</summary>
internal sealed class OrtRunner : IDisposable
{
    private readonly InferenceSession _s;
    private readonly OrtValue _in, _out;
    private readonly RunOptions _ro = new();
    private readonly string[] _inNames, _outNames;
    public readonly float[] Output;

    public OrtRunner(byte[] model, int threads, float[] input, long[] inShape, long[] outShape)
    {
        var so = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        _s = new InferenceSession(model, so);
        _inNames = new[] { _s.InputMetadata.Keys.First() };
        _outNames = new[] { _s.OutputMetadata.Keys.First() };
        Output = new float[outShape.Aggregate(1L, (a, b) => a * b)];
        _in = OrtValue.CreateTensorValueFromMemory(input, inShape);
        _out = OrtValue.CreateTensorValueFromMemory(Output, outShape);
    }

    public void Run() => _s.Run(_ro, _inNames, new[] { _in }, _outNames, new[] { _out });

    public void Dispose()
    {
        _in.Dispose(); _out.Dispose(); _ro.Dispose(); _s.Dispose();
    }
}

internal static unsafe class Layers
{
    private sealed record Spec(string Name, int C, int M, int H, bool Pool, bool IsFc, bool Relu);

    private static IEnumerable<Spec> Vgg16Layers()
    {
        int h = 224, c = 3, i = 0;
        string[] names = Vgg16Chain.LayerNames;
        for (int k = 0; k < Vgg16Model.Plan.Length; k++)
        {
            if (Vgg16Model.Plan[k] < 0) continue;
            int m = Vgg16Model.Plan[k];
            bool pool = k + 1 < Vgg16Model.Plan.Length && Vgg16Model.Plan[k + 1] < 0;
            yield return new Spec(names[i++], c, m, h, pool, false, true);
            if (pool) h /= 2;
            c = m;
        }
        yield return new Spec("fc6", 25088, 4096, 1, false, true, true);
        yield return new Spec("fc7", 4096, 4096, 1, false, true, true);
        yield return new Spec("fc8", 4096, 1000, 1, false, true, false);
    }

    public static void Run(Options o)
    {
        MachineCeiling? peak = o.Peak ? Clock.MeasurePeak(o.Threads) : null;
        if (peak is not null) Console.WriteLine(peak);
        using var pool = new KernelThreadPool(o.Threads);
        int n = o.Batch;
        Console.WriteLine($"batch {n}, threads {o.Threads}, {o.Reps} timed reps after 2 warm-up, ours and ORT interleaved; GFLOP/s counts direct-convolution FLOPs (2·N·M·C·9·H·W)");
        foreach (var row in PerfRegistry.All)
            Console.WriteLine($"  row {row.Op}/{row.Variant}: FLOPs {row.FlopFormula}; bytes {row.ByteFormula}");
        Console.WriteLine($"{"layer",-14} {"ours ms",22} {"ORT ms",22} {"ours/ORT",8} {"GFLOP/s",8} {"% peak",7} {"GB/s",6} {"% bw",5} {"ORT GF/s",8}  notes");
        double sumOurs = 0, sumOrt = 0;
        foreach (var spec in Vgg16Layers())
        {
            if (o.Only is not null && !spec.Name.StartsWith(o.Only, StringComparison.Ordinal)) continue;
            var rng = new Rng((ulong)(spec.C * 7 + spec.M));
            float[] w = rng.Uniform(spec.C * spec.M * (spec.IsFc ? 1 : 9), MathF.Sqrt(6f / (spec.C * (spec.IsFc ? 1 : 9))));
            float[] b = rng.Uniform(spec.M, 0.1f);
            int h = spec.H;
            float[] x = rng.Uniform((long)n * spec.C * h * h > int.MaxValue ? 0 : n * spec.C * h * h, 1f);
            var ours = new Stats();
            var ort = new Stats();
            string notes = "";
            var shape = new LayerShape(n, spec.C, spec.M, h, h, spec.IsFc ? 1 : 3, spec.Pool ? h / 2 : h, spec.Pool ? h / 2 : h);
            var prow = spec.IsFc ? PerfRegistry.Linear : spec.C == 3 ? PerfRegistry.ConvDirect : PerfRegistry.ConvWinograd;
            double flops = prow.Flops(shape), bytes = prow.Bytes(shape);
            // ORT graph
            var g = new OnnxGraphBuilder();
            long[] inShape = spec.IsFc ? new long[] { n, spec.C } : new long[] { n, spec.C, h, h };
            int oh = spec.Pool ? h / 2 : h;
            long[] outShape = spec.IsFc ? new long[] { n, spec.M } : new long[] { n, spec.M, oh, oh };
            g.Input("x", inShape);
            g.Initializer("w", w, spec.IsFc ? new long[] { spec.M, spec.C } : new long[] { spec.M, spec.C, 3, 3 });
            g.Initializer("b", b, spec.M);
            if (spec.IsFc) g.Node("Gemm", new[] { "x", "w", "b" }, new[] { "g" }, ("transB", 1L));
            else g.Node("Conv", new[] { "x", "w", "b" }, new[] { "g" }, ("kernel_shape", new long[] { 3, 3 }), ("pads", new long[] { 1, 1, 1, 1 }));
            string last = "g";
            if (spec.Relu) { g.Node("Relu", new[] { last }, new[] { "r" }); last = "r"; }
            if (spec.Pool) { g.Node("MaxPool", new[] { last }, new[] { "p" }, ("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })); last = "p"; }
            g.Output(last, outShape);
            using var ortRun = new OrtRunner(g.Build(), o.Threads, x, inShape, outShape);

            Action oursRun;
            IDisposable? owner;
            NativeBuffer? xin = null, yout = null, ws = null;
            if (spec.IsFc)
            {
                var lin = new LinearKernel(spec.C, spec.M, w, b, spec.Relu, o.Level);
                owner = lin;
                xin = new NativeBuffer(x.Length);
                x.CopyTo(xin.AsSpan());
                yout = new NativeBuffer((long)n * spec.M);
                ws = new NativeBuffer(lin.WorkspaceBytes(n, pool) / 4 + 16);
                var (px, py, pw) = ((nint)xin.Pointer, (nint)yout.Pointer, (nint)ws.Pointer);
                oursRun = () => lin.Run((float*)px, (float*)py, n, (float*)pw, pool);
                notes = $"weights {(double)spec.C * spec.M * 4 / 1e6:F0} MB";
            }
            else if (spec.C == 3)
            {
                var dc = new DirectConv(ConvParams.Square(spec.C, spec.M, 3, 1, 1), w, b, new ConvEpilogue(true, spec.Pool), inputNchwc: false, o.Level);
                owner = dc;
                xin = new NativeBuffer(x.Length);
                x.CopyTo(xin.AsSpan());
                yout = new NativeBuffer(Nchwc.Floats(n, spec.M, dc.OutH(h), dc.OutW(h)));
                ws = new NativeBuffer(dc.WorkspaceBytes(n, h, h, pool) / 4 + 16);
                var (px, py, pw) = ((nint)xin.Pointer, (nint)yout.Pointer, (nint)ws.Pointer);
                oursRun = () => dc.Run((float*)px, (float*)py, n, h, h, (float*)pw, pool);
                notes = "direct, NCHW in";
            }
            else
            {
                var wc = new WinogradConv3x3(spec.C, spec.M, w, b, new ConvEpilogue(true, spec.Pool), o.Level);
                if (o.Plan is { } pl) wc.ForcePlan = pl;
                owner = wc;
                xin = new NativeBuffer(Nchwc.Floats(n, spec.C, h, h));
                fixed (float* px0 = x) LayoutNchwc.ToNchwc(px0, xin.Pointer, n, spec.C, h, h, pool);
                yout = new NativeBuffer(Nchwc.Floats(n, spec.M, wc.OutH(h), wc.OutW(h)));
                ws = new NativeBuffer(wc.WorkspaceBytes(n, h, h, pool) / 4 + 16);
                var (px, py, pw) = ((nint)xin.Pointer, (nint)yout.Pointer, (nint)ws.Pointer);
                oursRun = () => wc.Run((float*)px, (float*)py, n, h, h, (float*)pw, pool);
                var plan = wc.GetPlan(n, h, h, pool.Threads);
                notes = $"winograd, tiles {plan.Tiles}, block {plan.TileBlock}, split {plan.Splits}, ws {plan.WorkspaceFloats * 4 / 1e6:F1} MB";
            }
            for (int r = 0; r < 2; r++) { oursRun(); ortRun.Run(); }
            // Validate before timing (llm.c): our output against ORT's, elementwise, scale-relative.
            {
                int oc = spec.M;
                long count = (long)n * oc * outShape.Skip(2).Aggregate(1L, (a, b) => a * b);
                var ourOut = new float[count];
                fixed (float* po = ourOut)
                {
                    if (spec.IsFc) new Span<float>(yout!.Pointer, (int)count).CopyTo(ourOut);
                    else LayoutNchwc.FromNchwc(yout!.Pointer, po, n, oc, (int)outShape[2], (int)outShape[3], pool);
                }
                double scale = 0, worst = 0;
                for (long i = 0; i < count; i++) scale = Math.Max(scale, Math.Abs(ortRun.Output[i]));
                for (long i = 0; i < count; i++) worst = Math.Max(worst, Math.Abs(ourOut[i] - ortRun.Output[i]));
                double tol = spec.IsFc || spec.C == 3 ? 1e-5 : 5e-5;
                notes += $", max|ours−ORT|/max|ORT| {worst / Math.Max(scale, 1e-30):E1}";
                if (!(worst <= tol * scale))
                    throw new InvalidOperationException($"{spec.Name}: ours differs from ORT by {worst:G4} of scale {scale:G4} (> {tol:E0} relative); not timing a wrong kernel");
            }
            for (int r = 0; r < o.Reps; r++)
            {
                double t0 = Clock.NowMs();
                oursRun();
                double t1 = Clock.NowMs();
                ortRun.Run();
                double t2 = Clock.NowMs();
                ours.Add(t1 - t0);
                ort.Add(t2 - t1);
            }
            owner.Dispose(); xin?.Dispose(); yout?.Dispose(); ws?.Dispose();
            double gf = flops / (ours.Median * 1e6);
            double ortGf = flops / (ort.Median * 1e6);
            double gbs = bytes / (ours.Median * 1e6);
            string pk = peak is null ? "" : $"{100 * gf / peak.PeakGflops,6:F0}%";
            string bw = peak is null ? "" : $"{100 * gbs / peak.ReadGBps,4:F0}%";
            if (prow.ArithmeticFlops is { } af && peak is not null)
                notes += $", arithmetic {af(shape) / (ours.Median * 1e6):F1} GFLOP/s = {100 * af(shape) / (ours.Median * 1e6) / peak.PeakGflops:F0}% of peak";
            Console.WriteLine($"{spec.Name,-14} {ours,22} {ort,22} {ours.Median / ort.Median,8:F3} {gf,8:F1} {pk,7} {gbs,6:F1} {bw,5} {ortGf,8:F1}  {notes}");
            sumOurs += ours.Median;
            sumOrt += ort.Median;
        }
        Console.WriteLine($"{"sum",-14} {sumOurs,19:F2} ms {sumOrt,19:F2} ms {sumOurs / sumOrt,8:F3}");
    }
}

internal static unsafe class EndToEnd
{
    public static void Run(Options o)
    {
        MachineCeiling? peak = o.Peak ? Clock.MeasurePeak(o.Threads) : null;
        if (peak is not null) Console.WriteLine(peak);
        int n = o.Batch;
        var model = new Vgg16Model();
        var x = new Rng(7).Uniform(n * 3 * 224 * 224, 1f);
        var sw = Stopwatch.StartNew();
        using var ort = new OrtRunner(model.ToOnnx(n), o.Threads, x, new long[] { n, 3, 224, 224 }, new long[] { n, model.NumClasses });
        Console.WriteLine($"ORT session ready in {sw.ElapsedMilliseconds} ms");
        using var pool = new KernelThreadPool(o.Threads);
        sw.Restart();
        using var chain = new Vgg16Chain(model, pool, o.Level);
        Console.WriteLine($"ours prepared in {sw.ElapsedMilliseconds} ms; prepared weights {chain.PreparedBytes / 1e6:F0} MB");
        var logits = new float[n * model.NumClasses];
        var layerMs = new double[Vgg16Chain.LayerNames.Length];
        fixed (float* px = x, pl = logits)
        {
            for (int r = 0; r < 2; r++) { chain.Run(px, pl, n); ort.Run(); }
            long alloc0 = GC.GetTotalAllocatedBytes(true);
            chain.Run(px, pl, n);
            Console.WriteLine($"managed allocation in one steady-state run of the kernels: {GC.GetTotalAllocatedBytes(true) - alloc0} bytes");
            var ours = new Stats();
            var theirs = new Stats();
            var ratios = new Stats();
            for (int r = 0; r < o.Reps; r++)
            {
                double t0 = Clock.NowMs();
                chain.Run(px, pl, n, layerMs);
                double t1 = Clock.NowMs();
                ort.Run();
                double t2 = Clock.NowMs();
                double a = t1 - t0, b = t2 - t1;
                ours.Add(a); theirs.Add(b); ratios.Add(a / b);
            }
            Console.WriteLine($"buffers (activations + workspace) {chain.BufferBytes / 1e6:F0} MB");
            Console.WriteLine("per layer (ours, mean of timed reps):");
            for (int i = 0; i < layerMs.Length; i++) Console.Write($" {Vgg16Chain.LayerNames[i]} {layerMs[i] / o.Reps:F1}");
            Console.WriteLine();
            double maxRef = 0, maxDiff = 0, num = 0, den = 0;
            for (int i = 0; i < logits.Length; i++)
            {
                double d = Math.Abs(logits[i] - ort.Output[i]);
                maxRef = Math.Max(maxRef, Math.Abs(ort.Output[i]));
                maxDiff = Math.Max(maxDiff, d);
                num += d * d;
                den += (double)ort.Output[i] * ort.Output[i];
            }
            Console.WriteLine($"logits vs ORT: max|diff|/max|ORT| = {maxDiff / maxRef:E2}, rel L2 = {Math.Sqrt(num / den):E2} (goal ≤ 1e-4); |logit| max {maxRef:G4}");
            Console.WriteLine($"VGG-16 batch {n} threads {o.Threads}: ours {ours}  ORT {theirs}  ratio of medians {ours.Median / theirs.Median:F3}  per-pair ratio {ratios.Median:F3} [{ratios.Min:F3}–{ratios.Max:F3}]  ({o.Reps} reps)");
        }
    }

    /// <summary>VGG-16 through Session (planner + CPU backend + fast kernels) beside ORT, same weights and input.</summary>
    public static void Engine(Options o)
    {
        MachineCeiling? peak = o.Peak ? Clock.MeasurePeak(o.Threads) : null;
        if (peak is not null) Console.WriteLine(peak);
        int n = o.Batch;
        var model = new Vgg16Model();
        var x = new Rng(7).Uniform(n * 3 * 224 * 224, 1f);
        var sw = Stopwatch.StartNew();
        using var ort = new OrtRunner(model.ToOnnx(n), o.Threads, x, new long[] { n, 3, 224, 224 }, new long[] { n, model.NumClasses });
        Console.WriteLine($"ORT session ready in {sw.ElapsedMilliseconds} ms");
        var sd = new Vgg.Engine.Models.StateDict(null, "benchmark");
        int fi = 0, ci = 0;
        foreach (int v in Vgg16Model.Plan)
        {
            if (v < 0) { fi++; continue; }
            var (C, M, W, B, _) = model.Convs[ci++];
            sd.Add($"features.{fi}.weight", Vgg.Engine.Tensor.From(W, M, C, 3, 3));
            sd.Add($"features.{fi}.bias", Vgg.Engine.Tensor.From(B, M));
            fi += 2;
        }
        for (int i = 0; i < 3; i++)
        {
            var (In, Out, W, B, _) = model.Linears[i];
            sd.Add($"classifier.{3 * i}.weight", Vgg.Engine.Tensor.From(W, Out, In));
            sd.Add($"classifier.{3 * i}.bias", Vgg.Engine.Tensor.From(B, Out));
        }
        var m = Vgg.Engine.Models.ModelFactory.FromStateDict(sd);
        sw.Restart();
        using var session = new Vgg.Engine.Runtime.Session(m, new Vgg.Engine.Runtime.SessionOptions { Backend = Vgg.Engine.Backends.BackendChoice.Cpu, Threads = o.Threads });
        var logits = new float[n * model.NumClasses];
        var shape = new[] { n, 3, 224, 224 };
        session.Run(x, shape, logits);
        Console.WriteLine($"engine session ({session.BackendName}) first run (plan + weight preparation) {sw.ElapsedMilliseconds} ms");
        var plan = session.GetPlan(shape);
        Console.WriteLine($"plan: arena {plan.ArenaBytes / 1e6:F1} MB (lower bound {plan.LowerBoundBytes / 1e6:F1} MB), workspace {plan.WorkspaceBytes / 1e6:F1} MB");
        for (int r = 0; r < 2; r++) { session.Run(x, shape, logits); ort.Run(); }
        long alloc0 = GC.GetTotalAllocatedBytes(true);
        session.Run(x, shape, logits);
        Console.WriteLine($"managed allocation in one steady-state engine run: {GC.GetTotalAllocatedBytes(true) - alloc0} bytes");
        var ours = new Stats();
        var theirs = new Stats();
        var ratios = new Stats();
        for (int r = 0; r < o.Reps; r++)
        {
            double t0 = Clock.NowMs();
            session.Run(x, shape, logits);
            double t1 = Clock.NowMs();
            ort.Run();
            double t2 = Clock.NowMs();
            ours.Add(t1 - t0); theirs.Add(t2 - t1); ratios.Add((t1 - t0) / (t2 - t1));
        }
        double maxRef = 0, maxDiff = 0, num = 0, den = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double d = Math.Abs(logits[i] - ort.Output[i]);
            maxRef = Math.Max(maxRef, Math.Abs(ort.Output[i]));
            maxDiff = Math.Max(maxDiff, d);
            num += d * d;
            den += (double)ort.Output[i] * ort.Output[i];
        }
        Console.WriteLine($"logits vs ORT: max|diff|/max|ORT| = {maxDiff / maxRef:E2}, rel L2 = {Math.Sqrt(num / den):E2} (goal ≤ 1e-4)");
        Console.WriteLine($"process peak RSS {PeakRssMb():F0} MB (both engines' weights and buffers)");
        Console.WriteLine($"VGG-16 (engine Session) batch {n} threads {o.Threads}: ours {ours}  ORT {theirs}  ratio of medians {ours.Median / theirs.Median:F3}  per-pair ratio {ratios.Median:F3} [{ratios.Min:F3}–{ratios.Max:F3}]  ({o.Reps} reps{(Clock.UseCpu ? ", CPU time" : ", wall clock")})");
    }

    private static double PeakRssMb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
        }
        catch (IOException) { }
        return double.NaN;
    }

    public static void OrtOnly(Options o)
    {
        int n = o.Batch;
        var model = new Vgg16Model();
        var x = new Rng(7).Uniform(n * 3 * 224 * 224, 1f);
        using var ort = new OrtRunner(model.ToOnnx(n), o.Threads, x, new long[] { n, 3, 224, 224 }, new long[] { n, model.NumClasses });
        ort.Run(); ort.Run();
        var s = new Stats();
        for (int r = 0; r < o.Reps; r++) { var sw = Stopwatch.StartNew(); ort.Run(); s.Add(sw.Elapsed.TotalMilliseconds); }
        Console.WriteLine($"ORT VGG-16 batch {n} threads {o.Threads}: {s}");
    }
}
