using System.Globalization;
using Spectre.Console;

namespace Vgg.Perf.Harness;

/// <summary>The parsed <c>vgg bench</c> command line (see <see cref="BenchCommand.Usage"/>).</summary>
public sealed record BenchCommandLine
{
    /// <summary>Runner options (batches, threads, repetitions, order, modes, goal ...).</summary>
    public BenchOptions Options { get; init; } = new();

    /// <summary>--onnx: the model as ONNX, for ONNX Runtime (and for our engine once it imports ONNX).</summary>
    public string? OnnxPath { get; init; }

    /// <summary>--arch: a torchvision architecture for our engine (vgg11 ... vgg19_bn), seeded weights unless --weights.</summary>
    public string? Arch { get; init; }

    /// <summary>--weights: a checkpoint for our engine.</summary>
    public string? Weights { get; init; }

    /// <summary>--spec: a JSON model spec for our engine.</summary>
    public string? Spec { get; init; }

    /// <summary>--weights-seed: seed of the seeded weights for --arch without --weights (default 0).</summary>
    public int WeightsSeed { get; init; }

    /// <summary>--image-shape C,H,W where the model's input size is dynamic.</summary>
    public int[]? ImageShape { get; init; }

    /// <summary>Time our engine (false with --no-ours).</summary>
    public bool Ours { get; init; } = true;

    /// <summary>Time ONNX Runtime as the baseline (false with --no-ort; needs --onnx).</summary>
    public bool Ort { get; init; } = true;

    /// <summary>--ort-provider cpu|cuda.</summary>
    public OrtProvider OrtProvider { get; init; } = OrtProvider.Cpu;

    /// <summary>--backend cpu|cuda|reference for our engine.</summary>
    public string Backend { get; init; } = "cpu";

    /// <summary>--precision fp32|fp16|int8 for our engine.</summary>
    public string Precision { get; init; } = "fp32";

    /// <summary>--calibration FILE: the INT8 calibration table (vgg calibrate); without it INT8 is calibrated on seeded synthetic images (timing only).</summary>
    public string? Calibration { get; init; }

    /// <summary>--json FILE: write the report as JSON.</summary>
    public string? JsonPath { get; init; }

    /// <summary>--plot FILE.png: write the throughput plot.</summary>
    public string? PlotPath { get; init; }

    /// <summary>--micro: run the BenchmarkDotNet micro-benchmarks instead; arguments after it go to BenchmarkDotNet.</summary>
    public bool Micro { get; init; }

    /// <summary>--quick (with --micro): BenchmarkDotNet's short job.</summary>
    public bool MicroQuick { get; init; }

    /// <summary>BenchmarkDotNet's own arguments (after --micro).</summary>
    public string[] MicroArgs { get; init; } = [];
}

/// <summary>
/// <c>vgg bench</c>: parses the command line, builds the targets (ours through the supplied factory,
/// ONNX Runtime from --onnx), runs <see cref="BenchRunner"/>, prints the tables and writes JSON and the plot.
/// The CLI wires its verb to <see cref="Run"/>.
/// </summary>
public static class BenchCommand
{
    /// <summary>Usage text.</summary>
    public const string Usage = """
        usage: vgg bench [model] [options]
          model (ours):   --arch vgg16 [--weights FILE | --weights-seed N] | --spec FILE.json [--weights FILE] | --weights FILE | --onnx FILE
          baseline:       ONNX Runtime on our model exported by OnnxExporter (default), or on --onnx FILE
                          (--onnx alone: both engines run that file) [--ort-provider cpu|cuda] | --no-ort
          --backend cpu|cuda|reference   our backend (default cpu)       --precision fp32|fp16|int8 (default fp32)
          --calibration FILE             INT8 scales (vgg calibrate); default: calibrated on 4 seeded synthetic images (timing only)
          --no-ours                      time ONNX Runtime alone
          --batch 1,8,32 (--batch-size)  batch sizes (default 1)           --threads T (default: all logical CPUs)
          --image-shape C,H,W            input size where the model's is dynamic
          --warmup N (3)  --reps N (fixed count)  --min-reps N (10)  --max-reps N (1000)  --time S (10 s per batch)
          --layers N                     profiled runs for the per-layer table (5; 0: none)
          --order abba|abab              order of targets within a round (abba)
          --mode eager|graph|both        GPU: eager launches, CUDA graph replay or both (eager)
          --goal R                       judge the ratio ours/baseline against R (e.g. 0.8)
          --seed N (--input-seed N)      seed of the random input (1234); the weights' seed is --weights-seed
          --no-ceiling  --no-memory      skip the FMA/bandwidth ceilings or the peak-memory pass
          --json FILE  --plot FILE.png   write the report as JSON and throughput against batch size as PNG
          --micro [--quick] [BenchmarkDotNet args]   single-op micro-benchmarks (BenchmarkDotNet, in-process)
        """;

    /// <summary>Parses <paramref name="args"/>.</summary>
    /// <exception cref="ArgumentException">An unknown option or a bad value (the message names it).</exception>
    public static BenchCommandLine Parse(string[] args)
    {
        var c = new BenchCommandLine();
        var o = new BenchOptions();
        bool fixedReps = false;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            int NextInt() => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw new ArgumentException($"{a} needs an integer, got '{args[i]}'");
            double NextDouble() => double.TryParse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : throw new ArgumentException($"{a} needs a number, got '{args[i]}'");
            int[] NextInts() => Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw new ArgumentException($"{a} needs comma-separated integers, got '{args[i]}'")).ToArray();
            switch (a)
            {
                case "--onnx": c = c with { OnnxPath = Next() }; break;
                case "--arch": c = c with { Arch = Next() }; break;
                case "--weights": c = c with { Weights = Next() }; break;
                case "--spec": c = c with { Spec = Next() }; break;
                case "--weights-seed": c = c with { WeightsSeed = NextInt() }; break;
                case "--image-shape":
                    var img = NextInts();
                    if (img.Length != 3 || img.Any(d => d < 1)) throw new ArgumentException($"--image-shape needs C,H,W (three positive integers), got '{args[i]}'");
                    c = c with { ImageShape = img };
                    break;
                case "--no-ours": c = c with { Ours = false }; break;
                case "--no-ort": c = c with { Ort = false }; break;
                case "--ort-provider": c = c with { OrtProvider = Next() switch { "cpu" => OrtProvider.Cpu, "cuda" => OrtProvider.Cuda, var p => throw new ArgumentException($"--ort-provider is cpu or cuda, got '{p}'") } }; break;
                case "--backend": c = c with { Backend = Next() is "cpu" or "cuda" or "reference" ? args[i] : throw new ArgumentException($"--backend is cpu, cuda or reference, got '{args[i]}'") }; break;
                case "--precision": c = c with { Precision = Next() is "fp32" or "fp16" or "int8" ? args[i] : throw new ArgumentException($"--precision is fp32, fp16 or int8, got '{args[i]}'") }; break;
                case "--calibration": c = c with { Calibration = Next() }; break;
                case "--batch" or "--batch-size": o = o with { BatchSizes = NextInts() }; break;
                case "--threads": o = o with { Threads = NextInt() }; break;
                case "--warmup": o = o with { WarmupRuns = NextInt() }; break;
                case "--reps": { int n = NextInt(); o = o with { MinRuns = n, MaxRuns = n }; fixedReps = true; break; }
                case "--min-reps": o = o with { MinRuns = NextInt() }; break;
                case "--max-reps": o = o with { MaxRuns = NextInt() }; break;
                case "--time": o = o with { TimeBudgetSeconds = NextDouble() }; break;
                case "--layers": o = o with { LayerRuns = NextInt() }; break;
                case "--order": o = o with { Order = Next() switch { "abba" => InterleaveOrder.ABBA, "abab" => InterleaveOrder.ABAB, var s => throw new ArgumentException($"--order is abba or abab, got '{s}'") } }; break;
                case "--mode":
                    o = o with
                    {
                        Modes = Next() switch
                        {
                            "eager" => [BenchMode.Eager],
                            "graph" => [BenchMode.GraphReplay],
                            "both" => [BenchMode.Eager, BenchMode.GraphReplay],
                            var s => throw new ArgumentException($"--mode is eager, graph or both, got '{s}'"),
                        },
                    };
                    break;
                case "--goal": o = o with { RatioGoal = NextDouble() }; break;
                case "--seed" or "--input-seed": o = o with { Seed = NextInt() }; break;
                case "--no-ceiling": o = o with { MeasureCeiling = false }; break;
                case "--no-memory": o = o with { MeasureMemory = false }; break;
                case "--json": c = c with { JsonPath = Next() }; break;
                case "--plot": c = c with { PlotPath = Next() }; break;
                case "--micro":
                    var rest = args[(i + 1)..];
                    bool quick = rest.Contains("--quick");
                    return c with { Micro = true, MicroQuick = quick, MicroArgs = rest.Where(r => r != "--quick").ToArray() };
                default: throw new ArgumentException($"unknown option '{a}'");
            }
        }
        if (fixedReps && o.MinRuns != o.MaxRuns) throw new ArgumentException("--reps fixes the count; do not combine it with --min-reps/--max-reps");
        string model = c.Arch ?? (c.Spec is not null ? Path.GetFileName(c.Spec) : c.OnnxPath is not null ? Path.GetFileName(c.OnnxPath) : "model");
        o = o with { Model = model };
        o.Validate();
        if (c.Calibration is not null && c.Precision != "int8") throw new ArgumentException("--calibration goes with --precision int8");
        if (!c.Ours && !c.Ort) throw new ArgumentException("--no-ours and --no-ort leave nothing to time");
        if (c.Ort && c.OnnxPath is null && !c.Ours) throw new ArgumentException("ONNX Runtime alone (--no-ours) needs --onnx FILE");
        return c with { Options = o };
    }

    /// <summary>
    /// Runs <c>vgg bench</c>. <paramref name="ourTarget"/> builds our engine's target from the command line;
    /// null: <see cref="BenchTargets.FromCommandLine"/> (a <c>Session</c> on the model of --arch/--spec/--weights).
    /// </summary>
    /// <returns>0 on success, 2 for a usage error, 1 when the benchmark failed (the message says why).</returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, Func<BenchCommandLine, IBenchTarget>? ourTarget = null)
    {
        BenchCommandLine c;
        try { c = Parse(args); }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"vgg bench: {e.Message}");
            stderr.WriteLine(Usage);
            return 2;
        }
        if (c.Micro)
        {
            var summaries = Micro.MicroBench.Run(c.MicroArgs, c.MicroQuick);
            return summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;
        }

        var factories = new List<BenchTargetFactory>();
        string? exported = null;
        if (c.Ours)
        {
            if (ourTarget is null && !BenchTargets.HasModel(c))
            {
                stderr.WriteLine("vgg bench: our engine needs a model: --arch NAME [--weights FILE], --spec FILE [--weights FILE], --weights FILE or --onnx FILE; or --no-ours with --onnx to time ONNX Runtime alone");
                return 2;
            }
            var make = ourTarget ?? BenchTargets.FromCommandLine;
            factories.Add(new BenchTargetFactory("vgg", () => make(c)));
        }
        string? onnx = c.OnnxPath;
        if (c.Ort && onnx is null && c.Ours)
        {
            // ONNX Runtime on the same model and weights: our exporter writes them for it.
            exported = Path.Combine(Path.GetTempPath(), $"vgg-bench-{Environment.ProcessId}-{Guid.NewGuid():N}.onnx");
            try
            {
                stderr.WriteLine($"exporting the model with OnnxExporter for ONNX Runtime: {exported}");
                BenchTargets.ExportForBaseline(c, exported);
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }
            catch (Exception e) when (e is Vgg.Engine.VggEngineException or IOException or ArgumentException)
            {
                stderr.WriteLine($"vgg bench: no ONNX Runtime baseline: {e.Message}");
                stderr.WriteLine("vgg bench: run with --no-ort to time the engine alone");
                File.Delete(exported);
                return 1;
            }
            onnx = exported;
        }
        if (c.Ort && onnx is not null)
            factories.Add(new BenchTargetFactory("ort", () => new OrtBenchTarget(onnx, c.Options.Threads, c.OrtProvider, c.ImageShape), IsBaseline: true));

        BenchReport report;
        try
        {
            report = new BenchRunner(c.Options, log: line => stderr.WriteLine(line)).Run(factories);
        }
        catch (Exception e) when (e is Vgg.Engine.VggEngineException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or IOException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            stderr.WriteLine($"vgg bench: {e.Message}");
            return 1;
        }
        finally
        {
            if (exported is not null) File.Delete(exported);
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
        if (Console.IsOutputRedirected || stdout != Console.Out) console.Profile.Width = 220; // a file or pipe: no wrapping of the wide tables
        ConsoleReport.Write(console, report);
        if (c.JsonPath is not null)
        {
            File.WriteAllText(c.JsonPath, BenchJson.Serialize(report));
            stderr.WriteLine($"report written to {c.JsonPath}");
        }
        if (c.PlotPath is not null)
        {
            ThroughputPlot.TryWrite(report, c.PlotPath, out var msg);
            stderr.WriteLine(msg);
        }
        return 0;
    }
}
