using System.Diagnostics;
using System.Globalization;
using Vgg.Engine;
using Vgg.Engine.Backends;
using Vgg.Engine.Cpu.Int8;
using Vgg.Engine.IR;
using Vgg.Engine.Models;
using Vgg.Engine.Quantization;
using Vgg.Engine.Runtime;

// CPU precision benchmarks (not tests): FP32 vs FP16 (weights) vs INT8 on the CPU backend.
//   dotnet run -c Release --project Perf/Precision -- [layers] [vgg16] [--threads N] [--reps R]
// Variants are interleaved (A, B, C, A, B, C, ...) so that drift on a shared machine hits all of them alike;
// each line prints the median and the minimum over the repetitions, after two warm-up runs.

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var argList = args.ToList();
int Opt(string name, int fallback)
{
    int i = argList.IndexOf(name);
    return i >= 0 && i + 1 < argList.Count ? int.Parse(argList[i + 1], CultureInfo.InvariantCulture) : fallback;
}
if (argList.Contains("help") || argList.Contains("--help"))
{
    Console.WriteLine("usage: Vgg.Perf.Precision [layers] [vgg16] [calibrate] [--threads N (2)] [--reps R (layers 20, vgg16 8)] [--batch B (1)] [--images N (calibrate: 32)]");
    return;
}
int threads = Opt("--threads", 2);
bool all = !argList.Contains("layers") && !argList.Contains("vgg16") && !argList.Contains("calibrate");
Console.WriteLine($"CPU: {Environment.ProcessorCount} logical processors, threads {threads}; INT8 path {CpuPrecisionInfo.Int8Path}; FP16 {CpuPrecisionInfo.Fp16Path}; AVX-512F {System.Runtime.Intrinsics.X86.Avx512F.IsSupported}");
Console.WriteLine($"load average at start: {LoadAverage()}");
if (all || argList.Contains("layers")) Bench.Layers(threads, Opt("--reps", 20));
if (all || argList.Contains("vgg16")) Bench.Vgg16(threads, Opt("--reps", 8), Opt("--batch", 1));
if (argList.Contains("calibrate")) Bench.CalibrationTime(threads, Opt("--images", 32), Opt("--batch", 1));
Console.WriteLine($"load average at end: {LoadAverage()}");

static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

internal static class Bench
{
    private static SessionOptions Cpu(int threads, Precision p = Precision.Fp32, CalibrationTable? t = null) =>
        new() { Backend = BackendChoice.Cpu, Threads = threads, Precision = p, Calibration = t };

    private static Tensor Normal(int seed, DType dtype, params int[] shape)
    {
        var rng = new Random(seed);
        var t = new Tensor(dtype, shape);
        if (dtype == DType.Float32)
        {
            var f = t.AsSpan<float>();
            for (int i = 0; i < f.Length; i++) f[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }
        else
        {
            var q = t.AsSpan<sbyte>();
            for (int i = 0; i < q.Length; i++) q[i] = (sbyte)rng.Next(0, 128); // post-ReLU codes
        }
        return t;
    }

    /// <summary>Runs each (name, action) interleaved; returns median and min in ms per variant.</summary>
    private static List<(string Name, double Median, double Min)> Interleaved(IReadOnlyList<(string Name, Action Run)> variants, int reps)
    {
        foreach (var v in variants) { v.Run(); v.Run(); }
        var times = variants.Select(_ => new List<double>()).ToList();
        for (int r = 0; r < reps; r++)
            for (int i = 0; i < variants.Count; i++)
            {
                var sw = Stopwatch.StartNew();
                variants[i].Run();
                times[i].Add(sw.Elapsed.TotalMilliseconds);
            }
        return variants.Select((v, i) =>
        {
            var s = times[i].OrderBy(x => x).ToList();
            return (v.Name, s[s.Count / 2], s[0]);
        }).ToList();
    }

    private static Graph OneNode(string name, Op op, ValueInfo input, Dictionary<string, Tensor> constants, string[] inputs, DType outType)
    {
        var g = new Graph { Name = name };
        g.Inputs.Add(input);
        foreach (var (k, v) in constants) g.Initializers[k] = v;
        g.Nodes.Add(new Node(name, op, inputs, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", outType, null));
        return g;
    }

    public static void Layers(int threads, int reps)
    {
        Console.WriteLine();
        Console.WriteLine("## single layers, batch 1 (INT8 on int8 NHWC codes in and out; FP32 on NCHW float32)");
        Console.WriteLine("| layer | FP32 ms (min) | FP16 ms (min) | INT8 ms (min) | INT8 speed-up | work |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var (name, c, k, hw, pool) in new[] { ("conv1_2 64→64 @224 +pool", 64, 64, 224, true), ("conv3_2 256→256 @56", 256, 256, 56, false), ("conv5_1 512→512 @14", 512, 512, 14, false) })
        {
            var w = Normal(1, DType.Float32, k, c, 3, 3);
            var conv = ConvOp.Conv2d(3, 1, 1) with { Activation = Activation.Relu, FusedMaxPool = pool ? MaxPoolOp.MaxPool2d(2, 2) : null };
            var gf = OneNode(name, conv, new ValueInfo("x", DType.Float32, new[] { -1, c, hw, hw }), new() { ["w"] = w }, new[] { "x", "w" }, DType.Float32);
            var (codes, bias, mult) = PrecisionPass.ConvWeights(w, new float[k], 0.02f, 0.05f);
            var gq = OneNode(name, new Int8ConvOp(conv, 0.02f, 0.05f, true), new ValueInfo("x", DType.Int8, new[] { -1, hw, hw, c }),
                new() { ["w"] = Tensor.From(codes, k, 3, 3, c), ["b"] = Tensor.From(bias, k), ["m"] = Tensor.From(mult, k) }, new[] { "x", "w", "b", "m" }, DType.Int8);
            using var sf = new Session(gf, Cpu(threads));
            using var sq = new Session(gq, Cpu(threads));
            var xf = Normal(2, DType.Float32, 1, c, hw, hw);
            var xq = Normal(2, DType.Int8, 1, hw, hw, c);
            var r = Interleaved(new (string, Action)[] { ("fp32", () => sf.Run(xf)), ("int8", () => sq.Run(xq)) }, reps);
            double gflop = 2.0 * k * c * 9 * hw * hw / 1e9;
            Console.WriteLine($"| {name} | {r[0].Median:F2} ({r[0].Min:F2}) | = FP32 (conv weights FP16-rounded, FP32 panels) | {r[1].Median:F2} ({r[1].Min:F2}) | {r[0].Median / r[1].Median:F2}× | {gflop:F2} GFLOP: FP32 {gflop / r[0].Median * 1e3:F0} GFLOP/s, INT8 {gflop / r[1].Median * 1e3:F0} GOP/s |");
        }
        foreach (var (name, kIn, nOut, batch) in new[] { ("fc6 GEMV 25088→4096", 25088, 4096, 1), ("fc7 GEMV 4096→4096", 4096, 4096, 1), ("fc6 batch 8", 25088, 4096, 8) })
        {
            var w = Normal(3, DType.Float32, nOut, kIn);
            for (int i = 0; i < w.ElementCount; i++) w.AsSpan<float>()[i] *= 0.01f;
            var op = GemmOp.Linear() with { Activation = Activation.Relu };
            var gf = OneNode(name, op, new ValueInfo("x", DType.Float32, new[] { -1, kIn }), new() { ["w"] = w }, new[] { "x", "w" }, DType.Float32);
            var ws = Vgg.Engine.Cuda.Quantization.Int8Scheme.WeightScales(w.AsSpan<float>(), nOut);
            var codes = Vgg.Engine.Cuda.Quantization.Int8Scheme.QuantizeWeights(w.AsSpan<float>(), ws);
            var mult = Vgg.Engine.Cuda.Quantization.Int8Scheme.RequantizeMultipliers(0.02f, ws, 0.05f);
            var gq = OneNode(name, new Int8GemmOp(true, false, 0.02f, 0.05f, true), new ValueInfo("x", DType.Int8, new[] { -1, kIn }),
                new() { ["w"] = Tensor.From(codes, nOut, kIn), ["b"] = new Tensor(DType.Int32, new[] { nOut }), ["m"] = Tensor.From(mult, nOut) }, new[] { "x", "w", "b", "m" }, DType.Int8);
            using var sf = new Session(gf, Cpu(threads));
            using var sh = new Session(gf, Cpu(threads, Precision.Fp16));
            using var sq = new Session(gq, Cpu(threads));
            var xf = Normal(4, DType.Float32, batch, kIn);
            var xq = Normal(4, DType.Int8, batch, kIn);
            var r = Interleaved(new (string, Action)[] { ("fp32", () => sf.Run(xf)), ("fp16", () => sh.Run(xf)), ("int8", () => sq.Run(xq)) }, reps);
            double mw = (double)kIn * nOut;
            string Bw(double bytes, double ms) => $"{bytes / ms / 1e6:F1} GB/s";
            Console.WriteLine($"| {name} | {r[0].Median:F2} ({r[0].Min:F2}) | {r[1].Median:F2} ({r[1].Min:F2}) | {r[2].Median:F2} ({r[2].Min:F2}) | {r[0].Median / r[2].Median:F2}× (FP16 {r[0].Median / r[1].Median:F2}×) | weights {mw * 4 / 1e6:F0}/{mw * 2 / 1e6:F0}/{mw / 1e6:F0} MB: {Bw(mw * 4, r[0].Median)}, {Bw(mw * 2, r[1].Median)}, {Bw(mw, r[2].Median)} |");
        }
    }

    public static void CalibrationTime(int threads, int images, int batch)
    {
        Console.WriteLine();
        Console.WriteLine($"## VGG-16 calibration time: {images} seeded 224×224 inputs, batches of {batch}, {threads} threads");
        var model = ModelFactory.Seeded("vgg16", 1);
        foreach (var method in new[] { CalibrationMethod.Max, CalibrationMethod.Percentile })
        {
            var sw = Stopwatch.StartNew();
            var t = Calibrator.Calibrate(model, Enumerable.Range(0, (images + batch - 1) / batch).Select(i => Normal(100 + i, DType.Float32, Math.Min(batch, images - i * batch), 3, 224, 224)),
                new CalibrationOptions { Threads = threads, Method = method });
            Console.WriteLine($"{method}: {sw.Elapsed.TotalSeconds:F1} s ({sw.Elapsed.TotalSeconds / images:F2} s per image); {t}");
        }
    }

    public static void Vgg16(int threads, int reps, int batch)
    {
        Console.WriteLine();
        Console.WriteLine($"## VGG-16 (torchvision topology, seeded weights), 224×224, batch {batch}, {threads} threads");
        var model = ModelFactory.Seeded("vgg16", 1);
        var sw = Stopwatch.StartNew();
        var table = Calibrator.Calibrate(model, new[] { Normal(10, DType.Float32, 1, 3, 224, 224), Normal(11, DType.Float32, 1, 3, 224, 224) }, new CalibrationOptions { Threads = threads });
        Console.WriteLine($"calibration on 2 seeded 224×224 inputs: {sw.Elapsed.TotalSeconds:F1} s");
        sw.Restart();
        using var fp32 = new Session(model, Cpu(threads));
        using var fp16 = new Session(model, Cpu(threads, Precision.Fp16));
        using var int8 = new Session(model, Cpu(threads, Precision.Int8, table));
        var x = Normal(12, DType.Float32, batch, 3, 224, 224);
        var r = Interleaved(new (string, Action)[] { ("fp32", () => fp32.Run(x)), ("fp16", () => fp16.Run(x)), ("int8", () => int8.Run(x)) }, reps);
        Console.WriteLine($"sessions created and warmed in {sw.Elapsed.TotalSeconds:F1} s (includes {reps} timed runs)");
        Console.WriteLine("| precision | median ms | min ms | vs FP32 |");
        Console.WriteLine("| --- | --- | --- | --- |");
        foreach (var v in r) Console.WriteLine($"| {v.Name} | {v.Median:F1} | {v.Min:F1} | {r[0].Median / v.Median:F2}× |");
        var eval = Enumerable.Range(0, 3).Select(i => Normal(20 + i, DType.Float32, 1, 3, 224, 224)).ToList();
        Console.WriteLine($"INT8 vs FP32 on 3 more seeded inputs (random weights and inputs, so only the numerics, not accuracy): {PrecisionReport.Compare(fp32, int8, eval)}");
        Console.WriteLine($"FP16 vs FP32 on the same: {PrecisionReport.Compare(fp32, fp16, eval)}");
        var plan = int8.GetPlan(new[] { batch, 3, 224, 224 });
        Console.WriteLine($"INT8 plan: arena {plan.ArenaBytes / 1e6:F1} MB, constants {plan.ConstantBytes / 1e6:F1} MB; FP32 plan: arena {fp32.GetPlan(new[] { batch, 3, 224, 224 }).ArenaBytes / 1e6:F1} MB, constants {fp32.GetPlan(new[] { batch, 3, 224, 224 }).ConstantBytes / 1e6:F1} MB; FP16 constants {fp16.GetPlan(new[] { batch, 3, 224, 224 }).ConstantBytes / 1e6:F1} MB");
    }
}
