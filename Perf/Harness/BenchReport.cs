using System.Text.Json;
using System.Text.Json.Serialization;

namespace Vgg.Perf.Harness;

/// <summary>
/// Everything one <c>vgg bench</c> run measured; serialized as JSON with <see cref="BenchJson"/>. The schema
/// is described field by field in Perf/Harness/SCHEMA.md; <see cref="Schema"/> names its version.
/// Units are in the names: ms (milliseconds), bytes, GFLOP/s (10⁹ FLOP/s), GB/s (10⁹ bytes/s), images/s.
/// </summary>
public sealed record BenchReport(
    string Schema,
    MachineInfo Machine,
    BenchSettings Settings,
    MachineCeiling? Ceiling,
    IReadOnlyList<TargetInfo> Targets,
    IReadOnlyList<LatencyResult> Latency,
    IReadOnlyList<RatioResult> Ratios,
    IReadOnlyList<LayerTable> Layers,
    IReadOnlyList<MemoryResult> Memory,
    IReadOnlyList<OutputCheck> Checks,
    IReadOnlyList<string> Notes)
{
    /// <summary>The schema version this code writes.</summary>
    public const string CurrentSchema = "vgg-bench/1";
}

/// <summary>The machine and software a report was measured on.</summary>
/// <param name="CpuModel">CPU model name (/proc/cpuinfo "model name" on Linux).</param>
/// <param name="LogicalCores">Logical processors visible to the process.</param>
/// <param name="Isa">Vector instruction sets the runtime reports as supported (e.g. "AVX-512F AVX-512BW AVX2 FMA").</param>
/// <param name="Os">Operating system description.</param>
/// <param name="DotNet">.NET runtime version.</param>
/// <param name="OrtVersion">ONNX Runtime native version, or null when it could not be loaded.</param>
/// <param name="Threads">Intra-op threads used by every target.</param>
/// <param name="UtcDate">When the run started (UTC, ISO 8601).</param>
/// <param name="Gc">Garbage collector mode ("workstation, concurrent" ...).</param>
/// <param name="Gpu">GPU name where one was used, else null.</param>
public sealed record MachineInfo(string CpuModel, int LogicalCores, string Isa, string Os, string DotNet, string? OrtVersion, int Threads, DateTime UtcDate, string Gc, string? Gpu);

/// <summary>The settings the run used (echo of <see cref="BenchOptions"/>).</summary>
public sealed record BenchSettings(string Model, int[] BatchSizes, int Threads, int WarmupRuns, int MinRuns, int MaxRuns, double TimeBudgetSeconds,
    int LayerRuns, string Order, string[] Modes, int Seed, double? RatioGoal);

/// <summary>One target as it described itself.</summary>
public sealed record TargetInfo(string Name, string Backend, string Precision, string Description, bool IsBaseline);

/// <summary>End-to-end latency of one target at one batch size and mode.</summary>
/// <param name="LatencyMs">Statistics of the per-run latency, ms.</param>
/// <param name="ImagesPerSecond">Throughput at the median latency: batch / median seconds.</param>
/// <param name="ImagesPerSecondP10">Throughput at the 90th-percentile latency (the slow end): batch / p90 seconds.</param>
/// <param name="ImagesPerSecondP90">Throughput at the 10th-percentile latency (the fast end): batch / p10 seconds.</param>
/// <param name="SamplesMs">Every timed run in order, ms (for drift analysis).</param>
public sealed record LatencyResult(string Target, string Backend, string Precision, string Mode, int Batch, SampleStatistics LatencyMs,
    double ImagesPerSecond, double ImagesPerSecondP10, double ImagesPerSecondP90, double[] SamplesMs);

/// <summary>
/// Target over baseline, from interleaved runs: each round times both back to back, and the ratio of
/// that round's two latencies is one sample, so drift common to both cancels.
/// </summary>
/// <param name="PairedRatio">Statistics of the per-round ratios target/baseline (&lt; 1: the target is faster).</param>
/// <param name="RatioOfMedians">Median latency of the target over median latency of the baseline.</param>
/// <param name="Rounds">Interleaved rounds.</param>
/// <param name="Order">"ABAB" (target first every round) or "ABBA" (the order alternates per round).</param>
/// <param name="Goal">Ratio goal, when one was set (e.g. 0.8: at most 0.8 × the baseline's time).</param>
/// <param name="GoalMet">Median paired ratio ≤ goal, when a goal was set.</param>
public sealed record RatioResult(string Target, string Baseline, string Mode, int Batch, SampleStatistics PairedRatio, double RatioOfMedians, int Rounds, string Order, double? Goal, bool? GoalMet);

/// <summary>Per-layer times of one target at one batch size.</summary>
/// <param name="Source">How layers were timed.</param>
/// <param name="SumOfMediansMs">Sum of the layers' median times, ms (profiled runs are slower than plain ones).</param>
public sealed record LayerTable(string Target, string Mode, int Batch, int Runs, string Source, double SumOfMediansMs, IReadOnlyList<LayerRow> Rows);

/// <summary>One layer: work, median time, rates and their share of the measured ceilings.</summary>
/// <param name="Shapes">Inputs → outputs, e.g. "f32[1,3,224,224] f32[64,3,3,3](const) → f32[1,64,224,224]".</param>
/// <param name="Flops">Operations per run (registry row <see cref="FlopFormula"/>).</param>
/// <param name="Bytes">Compulsory bytes per run (inputs + outputs once).</param>
/// <param name="MedianMs">Median time, ms.</param>
/// <param name="MinMs">Fastest time, ms.</param>
/// <param name="MadMs">Median absolute deviation of the time, ms.</param>
/// <param name="Gflops">Flops / median time, GFLOP/s.</param>
/// <param name="GBps">Bytes / median time, GB/s.</param>
/// <param name="FmaShare">Gflops over the measured FMA peak (null without a ceiling).</param>
/// <param name="BandwidthShare">GBps over the measured copy bandwidth (null without a ceiling).</param>
/// <param name="RooflineShare">The roofline floor over the measured time (1.0 = at the ceiling): max(flops/FMA peak, bytes/copy bandwidth,
/// bytes read/read bandwidth) / time (<see cref="LayerTableBuilder.RooflineFloorSeconds"/>).</param>
/// <param name="TimeShare">This layer's median over the sum of medians.</param>
public sealed record LayerRow(int Index, string Name, string OpType, string Kernel, string Shapes, long Flops, long Bytes, string FlopFormula,
    double MedianMs, double MinMs, double MadMs, double Gflops, double GBps, double? FmaShare, double? BandwidthShare, double? RooflineShare, double TimeShare);

/// <summary>
/// Peak memory of one target at one batch size: the planner's figure beside the process's measured peak.
/// </summary>
/// <param name="Planned">Arena, weights and workspace the target's planner reports (null for ONNX Runtime).</param>
/// <param name="MeasuredPeakBytes">Peak resident set (Linux VmHWM, reset before the target was created) minus the resident set before, bytes.</param>
/// <param name="ManagedHeapDeltaBytes">GC heap size after the runs minus before (GC.GetGCMemoryInfo), bytes.</param>
/// <param name="MeasuredOverPlanned">MeasuredPeakBytes / Planned.TotalBytes (null without a planned figure).</param>
/// <param name="Within10Percent">|MeasuredOverPlanned − 1| ≤ 0.10 (issue 5), null without a planned figure.</param>
/// <param name="Method">How the peak was measured, in words.</param>
public sealed record MemoryResult(string Target, int Batch, PlannedMemory? Planned, long MeasuredPeakBytes, long ManagedHeapDeltaBytes, double? MeasuredOverPlanned, bool? Within10Percent, string Method);

/// <summary>Agreement of a target's output with the baseline's on the same input (not a test: a sanity line in the report).</summary>
/// <param name="RelativeL2">‖target − baseline‖₂ / ‖baseline‖₂.</param>
/// <param name="MaxAbsDiff">Largest |target − baseline| over elements.</param>
public sealed record OutputCheck(string Target, string Baseline, string Mode, int Batch, int Elements, double RelativeL2, double MaxAbsDiff);

/// <summary>JSON (System.Text.Json, source-generated so it works trimmed) for <see cref="BenchReport"/>.</summary>
public static class BenchJson
{
    /// <summary>Indented JSON of <paramref name="report"/>.</summary>
    public static string Serialize(BenchReport report) => JsonSerializer.Serialize(report, BenchJsonContext.Default.BenchReport);

    /// <summary>Reads a report written by <see cref="Serialize"/>.</summary>
    /// <exception cref="JsonException">Malformed JSON or a different schema version.</exception>
    public static BenchReport Deserialize(string json)
    {
        var r = JsonSerializer.Deserialize(json, BenchJsonContext.Default.BenchReport) ?? throw new JsonException("the JSON holds null, not a bench report");
        if (r.Schema != BenchReport.CurrentSchema)
            throw new JsonException($"bench report schema '{r.Schema}' is not the supported '{BenchReport.CurrentSchema}'");
        return r;
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, UseStringEnumConverter = true)]
[JsonSerializable(typeof(BenchReport))]
internal sealed partial class BenchJsonContext : JsonSerializerContext
{
}
