namespace Vgg.Perf.Harness;

/// <summary>Order of the targets within each timed round.</summary>
public enum InterleaveOrder
{
    /// <summary>A B, A B, ...: every round in the same order.</summary>
    ABAB,

    /// <summary>A B, B A, A B, ...: the order alternates, so a steady drift and any first-in-round effect cancel in the paired ratios.</summary>
    ABBA,
}

/// <summary>
/// What <see cref="BenchRunner"/> measures and how. Repetitions end when <see cref="MaxRuns"/> rounds
/// have run, or when at least <see cref="MinRuns"/> rounds have run and <see cref="TimeBudgetSeconds"/>
/// has passed (per batch size and mode, all targets together). Set MinRuns = MaxRuns for a fixed count.
/// </summary>
public sealed record BenchOptions
{
    /// <summary>Model label for the report (file name or architecture).</summary>
    public string Model { get; init; } = "model";

    /// <summary>Batch sizes, each measured separately (default 1).</summary>
    public int[] BatchSizes { get; init; } = [1];

    /// <summary>Intra-op threads for every target and for the ceiling loops (default: all logical processors).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Untimed runs of each target before timing (interleaved like the timed ones).</summary>
    public int WarmupRuns { get; init; } = 3;

    /// <summary>Fewest timed rounds.</summary>
    public int MinRuns { get; init; } = 10;

    /// <summary>Most timed rounds.</summary>
    public int MaxRuns { get; init; } = 1000;

    /// <summary>Time budget per batch size and mode, seconds, once <see cref="MinRuns"/> is reached.</summary>
    public double TimeBudgetSeconds { get; init; } = 10;

    /// <summary>Profiled runs for the per-layer table; 0 skips it.</summary>
    public int LayerRuns { get; init; } = 5;

    /// <summary>Order within each round.</summary>
    public InterleaveOrder Order { get; init; } = InterleaveOrder.ABBA;

    /// <summary>Execution modes to measure; a target that lacks a mode is skipped in it, with a note.</summary>
    public BenchMode[] Modes { get; init; } = [BenchMode.Eager];

    /// <summary>Seed of the input data (uniform in [−1, 1), never zeros).</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Measure the FMA peak and copy bandwidth first (needed for the shares of ceiling).</summary>
    public bool MeasureCeiling { get; init; } = true;

    /// <summary>Size of each copy buffer of the bandwidth ceiling, bytes.</summary>
    public long CeilingCopyBytes { get; init; } = MachineCeiling.DefaultCopyBytes;

    /// <summary>Measure peak memory: each target is created alone first, its peak resident set read around its runs.</summary>
    public bool MeasureMemory { get; init; } = true;

    /// <summary>Ratio goal to judge (e.g. 0.8 for issue 5's CPU goal); null: none.</summary>
    public double? RatioGoal { get; init; }

    /// <summary>Checks the values, naming the first bad one.</summary>
    /// <exception cref="ArgumentException">A batch size, thread count or run count out of range.</exception>
    public void Validate()
    {
        if (BatchSizes.Length == 0 || BatchSizes.Any(b => b < 1)) throw new ArgumentException($"batch sizes must be ≥ 1 (got {string.Join(",", BatchSizes)})");
        if (Threads < 1) throw new ArgumentException($"threads must be ≥ 1 (got {Threads})");
        if (WarmupRuns < 0) throw new ArgumentException($"warm-up runs must be ≥ 0 (got {WarmupRuns})");
        if (MinRuns < 1 || MaxRuns < MinRuns) throw new ArgumentException($"need 1 ≤ min runs ≤ max runs (got {MinRuns}, {MaxRuns})");
        if (!(TimeBudgetSeconds >= 0)) throw new ArgumentException($"time budget must be ≥ 0 s (got {TimeBudgetSeconds})");
        if (LayerRuns < 0) throw new ArgumentException($"layer runs must be ≥ 0 (got {LayerRuns})");
        if (Modes.Length == 0) throw new ArgumentException("at least one mode is needed");
        if (RatioGoal is double g && !(g > 0)) throw new ArgumentException($"ratio goal must be > 0 (got {g})");
    }

    internal BenchSettings ToSettings() =>
        new(Model, BatchSizes, Threads, WarmupRuns, MinRuns, MaxRuns, TimeBudgetSeconds, LayerRuns, Order.ToString(),
            Modes.Select(m => m.ToString()).ToArray(), Seed, RatioGoal);
}
