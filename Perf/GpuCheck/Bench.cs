using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Vgg.Engine.Cuda;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Network;
using Vgg.Engine.Cuda.Runtime;

namespace Vgg.GpuCheck;

/// <summary>One measured configuration.</summary>
/// <param name="Engine">"vgg" (the engine's kernels) or "cudnn" (cuDNN/cuBLAS baseline).</param>
/// <param name="Precision">"fp32", "fp16", "int8".</param>
/// <param name="Batch">Images per run.</param>
/// <param name="Mode">"eager" or "graph".</param>
/// <param name="LatencyMs">Median wall time of one whole run (input copy, kernels, output copy, synchronize), ms.</param>
/// <param name="KernelMs">Median GPU time of the kernels alone (CUDA events), ms.</param>
/// <param name="ImagesPerSecond">Batch / LatencyMs.</param>
/// <param name="Tflops">VGG-16's 30.95 GFLOP per image over KernelMs, TFLOP/s.</param>
/// <param name="Spread">(p90 − p10) / median of the run latencies.</param>
/// <param name="Runs">Timed runs.</param>
public sealed record BenchRow(string Engine, string Precision, int Batch, string Mode, double LatencyMs, double KernelMs, double ImagesPerSecond, double Tflops, double Spread, int Runs);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(List<BenchRow>))]
internal sealed partial class BenchJson : JsonSerializerContext
{
}

/// <summary>The VGG-16 benchmark (224×224, seeded random weights, torchvision architecture).</summary>
public static class Bench
{
    /// <summary>Multiply-adds of VGG-16 at 224×224 per image (convolutions 15.35 G + classifier 0.12 G), times 2.</summary>
    public const double Vgg16GflopPerImage = 30.95;

    public static int Run(string[] args)
    {
        var batches = Program.IntList(Program.Option(args, "--batches"), new[] { 1, 8, 64 });
        var precisions = (Program.Option(args, "--precisions") ?? "fp32,fp16,int8").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p switch
            {
                "fp32" => CudaPrecision.Float32,
                "fp16" => CudaPrecision.Float16,
                "int8" => CudaPrecision.Int8,
                _ => throw new ArgumentException($"unknown precision '{p}' (fp32, fp16, int8)"),
            }).ToArray();
        int iterations = Program.IntList(Program.Option(args, "--iterations"), new[] { 0 })[0];
        var jsonPath = Program.Option(args, "--json");
        bool cudnn = !args.Contains("--no-cudnn");
        bool layers = args.Contains("--layers");

        if (!CudaBackend.TryCreate(out var backend, out var reason, new CudaBackendOptions { Precision = CudaPrecision.Float32 }))
        {
            Console.Error.WriteLine("vgg-gpu-check bench: " + reason);
            return 3;
        }
        using (backend)
        {
            var b = backend!;
            Console.WriteLine($"bench on {b.Device}; kernels {b.Kernels.Target}");
            Ceilings(b.Context);
            var def = NetworkDefinition.RandomVgg("vgg16", seed: 1);
            var rows = new List<BenchRow>();
            using var stream = b.Context.CreateStream();
            IReadOnlyDictionary<string, float>? scales = null;
            foreach (var p in precisions)
            {
                if (p == CudaPrecision.Int8)
                {
                    var calib = Input(8, 99);
                    scales = b.Calibrate(def, new[] { calib }, 224, 224);
                }
                var sw = Stopwatch.StartNew();
                using var weights = CudaModelWeights.Upload(b.Context, def, p, p == CudaPrecision.Int8 ? scales : null);
                Console.WriteLine($"{Name(p)}: weights {weights.Bytes / 1e6:F0} MB uploaded in {sw.Elapsed.TotalMilliseconds:F0} ms");
                foreach (var n in batches)
                {
                    using var net = new CudaNetwork(b.Kernels, weights, n, 224, 224);
                    rows.AddRange(Measure("vgg", Name(p), n, net, b.Context, stream, iterations));
                    if (layers && n == batches[0]) Layers(net, stream, Name(p), n);
                }
                if (cudnn && p != CudaPrecision.Int8)
                {
                    foreach (var n in batches)
                    {
                        try
                        {
                            using var net = new CudnnNetwork(b.Context, b.Kernels, def, p, n, 224, 224);
                            rows.AddRange(Measure("cudnn", Name(p), n, net, b.Context, stream, iterations));
                        }
                        catch (Exception e) when (e is NotSupportedException or DllNotFoundException or CudaException or EntryPointNotFoundException)
                        {
                            Console.WriteLine($"cudnn {Name(p)} n{n}: not measured ({e.GetType().Name}: {e.Message})");
                        }
                    }
                }
            }
            Console.WriteLine();
            Console.WriteLine(Table(rows));
            if (jsonPath is not null) File.WriteAllText(jsonPath, JsonSerializer.Serialize(rows, BenchJson.Default.ListBenchRow));
        }
        return 0;
    }

    private static string Name(CudaPrecision p) => p switch { CudaPrecision.Float32 => "fp32", CudaPrecision.Float16 => "fp16", _ => "int8" };

    private static float[] Input(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[(long)n * 3 * 224 * 224];
        for (long i = 0; i < a.Length; i++) a[i] = (float)(r.NextDouble() * 4 - 2);
        return a;
    }

    /// <summary>The device-to-device copy bandwidth (bytes read + written), the memory ceiling the GEMV is compared with.</summary>
    private static void Ceilings(CudaContext ctx)
    {
        const long bytes = 1L << 30;
        using var a = ctx.Allocate(bytes);
        using var c = ctx.Allocate(bytes);
        using var s = ctx.CreateStream();
        using var e0 = ctx.CreateEvent();
        using var e1 = ctx.CreateEvent();
        s.CopyDeviceToDevice(c.Pointer, a.Pointer, bytes);
        s.Synchronize();
        var t = new List<double>();
        for (int i = 0; i < 10; i++)
        {
            e0.Record(s);
            s.CopyDeviceToDevice(c.Pointer, a.Pointer, bytes);
            e1.Record(s);
            e1.Synchronize();
            t.Add(e1.ElapsedSince(e0));
        }
        t.Sort();
        double ms = t[t.Count / 2];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ceiling: device-to-device copy {2.0 * bytes / (ms * 1e-3) / 1e12:F2} TB/s (1 GiB, median of 10)"));
    }

    private static IEnumerable<BenchRow> Measure(string engine, string precision, int n, ICudaNetworkInstance net, CudaContext ctx, CudaStream stream, int iterations)
    {
        net.SetInput(Input(n, 7));
        for (int i = 0; i < 3; i++) net.Run(stream, useGraph: false);   // warm-up: modules, clocks, caches
        var rows = new List<BenchRow> { Time(engine, precision, n, "eager", net, ctx, stream, iterations, false) };
        try
        {
            net.CaptureGraph(stream);
            for (int i = 0; i < 3; i++) net.Run(stream, useGraph: true);
            rows.Add(Time(engine, precision, n, "graph", net, ctx, stream, iterations, true));
        }
        catch (CudaException e)
        {
            Console.WriteLine($"{engine} {precision} n{n}: graph capture failed ({e.Message}); eager only");
        }
        foreach (var r in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Engine,-5} {r.Precision} n{r.Batch,-3} {r.Mode,-5} latency {r.LatencyMs,8:F3} ms  kernels {r.KernelMs,8:F3} ms  {r.ImagesPerSecond,8:F0} img/s  {r.Tflops,6:F1} TFLOP/s  spread {r.Spread:P0}"));
        return rows;
    }

    private static BenchRow Time(string engine, string precision, int n, string mode, ICudaNetworkInstance net, CudaContext ctx, CudaStream stream, int iterations, bool graph)
    {
        // enough runs for about 0.5 s, at least 10, at most 200 (or as asked)
        var probe = Stopwatch.StartNew();
        net.Run(stream, graph);
        double one = Math.Max(probe.Elapsed.TotalMilliseconds, 0.01);
        int runs = iterations > 0 ? iterations : (int)Math.Clamp(500 / one, 10, 200);
        var wall = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            net.Run(stream, graph);
            wall[i] = sw.Elapsed.TotalMilliseconds;
        }
        using var e0 = ctx.CreateEvent();
        using var e1 = ctx.CreateEvent();
        var gpu = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            e0.Record(stream);
            net.EnqueueKernels(stream, graph);
            e1.Record(stream);
            e1.Synchronize();
            gpu[i] = e1.ElapsedSince(e0);
        }
        Array.Sort(wall);
        Array.Sort(gpu);
        double lat = wall[runs / 2], k = gpu[runs / 2];
        double spread = (wall[(int)(runs * 0.9)] - wall[(int)(runs * 0.1)]) / lat;
        return new BenchRow(engine, precision, n, mode, lat, k, n * 1000.0 / lat, Vgg16GflopPerImage * n / k / 1e3, spread, runs);
    }

    private static void Layers(CudaNetwork net, CudaStream stream, string precision, int n)
    {
        Console.WriteLine($"per-step GPU time, {precision} batch {n} (eager, median of 20):");
        foreach (var (step, ms) in net.ProfileSteps(stream, 20))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {step,-28} {ms,8:F3} ms"));
    }

    /// <summary>The short table printed last: one line per (engine, precision, batch).</summary>
    public static string Table(IReadOnlyList<BenchRow> rows)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("VGG-16 224x224  latency ms (wall, copies included) / images/s  eager | graph");
        sb.AppendLine($"{"engine",-6} {"prec",-5} {"batch",5}  {"eager ms",9} {"img/s",8}  {"graph ms",9} {"img/s",8}");
        foreach (var g in rows.GroupBy(r => (r.Engine, r.Precision, r.Batch)))
        {
            var e = g.FirstOrDefault(r => r.Mode == "eager");
            var gr = g.FirstOrDefault(r => r.Mode == "graph");
            string Cell(BenchRow? r) => r is null ? $"{"n/a",9} {"",8}" : string.Create(CultureInfo.InvariantCulture, $"{r.LatencyMs,9:F3} {r.ImagesPerSecond,8:F0}");
            sb.AppendLine($"{g.Key.Engine,-6} {g.Key.Precision,-5} {g.Key.Batch,5}  {Cell(e)}  {Cell(gr)}");
        }
        return sb.ToString();
    }
}
