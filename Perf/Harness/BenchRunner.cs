using System.Diagnostics;

namespace Vgg.Perf.Harness;

/// <summary>
/// Runs a benchmark: ceilings, peak memory, interleaved end-to-end timing of every target at every batch
/// size and mode with ratios to the baseline, and per-layer tables, into one <see cref="BenchReport"/>.
/// </summary>
/// <remarks>
/// Order of work: (1) the FMA peak and copy bandwidth (<see cref="MachineCeiling"/>); (2) peak memory,
/// each target created alone and run once per batch size, the process's peak resident set reset before
/// and read after; (3) for each batch size and mode: every target prepared on the same seeded input,
/// outputs compared with the baseline's, warm-up rounds, then timed rounds in which each target runs once
/// (order per <see cref="BenchOptions.Order"/>), then profiled runs for the per-layer tables (eager mode);
/// (4) the ceilings once more, the best of both kept (on a shared machine one measurement may find the
/// cores busy), and the per-layer tables built against them.
/// Whole runs are timed with <see cref="Stopwatch"/> around <see cref="IBenchTarget.Run"/>; profiled runs
/// are never mixed into the end-to-end numbers.
/// </remarks>
public sealed class BenchRunner
{
    private readonly BenchOptions _o;
    private readonly OpCostRegistry _registry;
    private readonly Action<string> _log;
    private readonly Func<double> _nowMs;

    /// <param name="options">What to measure.</param>
    /// <param name="registry">FLOP/byte formulas; null for <see cref="OpCostRegistry.Default"/>.</param>
    /// <param name="log">Progress lines (null: none).</param>
    /// <param name="clockMs">A monotonic clock in milliseconds; null for <see cref="Stopwatch"/>. Tests pass a fake clock that their fake targets advance.</param>
    /// <exception cref="ArgumentException">Invalid options.</exception>
    public BenchRunner(BenchOptions options, OpCostRegistry? registry = null, Action<string>? log = null, Func<double>? clockMs = null)
    {
        options.Validate();
        _o = options;
        _registry = registry ?? OpCostRegistry.Default;
        _log = log ?? (_ => { });
        _nowMs = clockMs ?? (() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency);
    }

    /// <summary>Measures the targets made by <paramref name="factories"/> (at most one baseline).</summary>
    /// <param name="gpu">GPU name for the machine info, when a GPU target is included.</param>
    /// <exception cref="ArgumentException">No target, two baselines, or targets that disagree on the input shape.</exception>
    public BenchReport Run(IReadOnlyList<BenchTargetFactory> factories, string? gpu = null)
    {
        if (factories.Count == 0) throw new ArgumentException("no target to measure");
        if (factories.Count(f => f.IsBaseline) > 1) throw new ArgumentException("at most one target can be the baseline");
        var notes = new List<string>();
        var machine = MachineProbe.Describe(_o.Threads, gpu);

        MachineCeiling? ceiling = null;
        if (_o.MeasureCeiling)
        {
            _log($"measuring ceilings on {_o.Threads} thread(s) ...");
            ceiling = MachineCeiling.Measure(_o.Threads, _o.CeilingCopyBytes);
            _log(ceiling.ToString());
        }

        var memory = new List<MemoryResult>();
        if (_o.MeasureMemory) memory.AddRange(MeasureMemory(factories, notes));

        var targets = new List<(IBenchTarget T, bool IsBaseline)>();
        var latency = new List<LatencyResult>();
        var ratios = new List<RatioResult>();
        var layers = new List<LayerTable>();
        var checks = new List<OutputCheck>();
        var pendingLayers = new List<(string Target, string Mode, int Batch, LayerTimings Timings)>();
        try
        {
            foreach (var f in factories)
            {
                _log($"creating {f.Name} ...");
                targets.Add((f.Create(), f.IsBaseline));
            }
            foreach (var (t, _) in targets) _log($"  {t.Name}: {t.Description}");
            foreach (int batch in _o.BatchSizes)
            {
                var shape = targets[0].T.InputShape(batch);
                foreach (var (t, _) in targets)
                    if (!t.InputShape(batch).SequenceEqual(shape))
                        throw new ArgumentException($"targets disagree on the input shape at batch {batch}: {targets[0].T.Name} [{string.Join(",", shape)}], {t.Name} [{string.Join(",", t.InputShape(batch))}]");
                var input = BenchInput.Create(shape, _o.Seed + batch);
                foreach (var mode in _o.Modes)
                    MeasureBatchMode(targets, batch, mode, input, latency, ratios, pendingLayers, checks, notes);
            }
        }
        finally
        {
            foreach (var (t, _) in targets) t.Dispose();
        }

        if (_o.MeasureCeiling && ceiling is not null)
        {
            _log("measuring ceilings again ...");
            var again = MachineCeiling.Measure(_o.Threads, _o.CeilingCopyBytes);
            _log(again.ToString());
            ceiling = MachineCeiling.Combine(ceiling, again);
        }
        foreach (var (t, m, b, lt) in pendingLayers)
            layers.Add(LayerTableBuilder.Build(t, m, b, lt, _registry, ceiling));

        var infos = targets.Select(p => new TargetInfo(p.T.Name, p.T.Backend, p.T.Precision, p.T.Description, p.IsBaseline)).ToList();
        return new BenchReport(BenchReport.CurrentSchema, machine, _o.ToSettings(), ceiling, infos, latency, ratios, layers, memory, checks, notes);
    }

    private void MeasureBatchMode(List<(IBenchTarget T, bool IsBaseline)> targets, int batch, BenchMode mode, float[] input,
        List<LatencyResult> latency, List<RatioResult> ratios, List<(string, string, int, LayerTimings)> layers, List<OutputCheck> checks, List<string> notes)
    {
        // Participants: every target that supports the mode; a baseline without it runs eagerly beside them.
        var part = new List<(IBenchTarget T, bool IsBaseline, BenchMode Mode)>();
        foreach (var (t, isBase) in targets)
        {
            if (t.Modes.Contains(mode)) part.Add((t, isBase, mode));
            else if (isBase && targets.Any(o => !o.IsBaseline && o.T.Modes.Contains(mode))) part.Add((t, isBase, BenchMode.Eager));
            else notes.Add($"{t.Name} does not support {mode}; skipped at batch {batch} in that mode");
        }
        if (part.Count == 0) return;
        _log($"batch {batch}, {mode}: preparing {string.Join(", ", part.Select(p => p.T.Name))}");
        foreach (var p in part) p.T.Prepare(batch, p.Mode, input);
        foreach (var p in part) p.T.Run();

        int baseIdx = part.FindIndex(p => p.IsBaseline);
        if (baseIdx >= 0)
        {
            var b = part[baseIdx].T.Output.ToArray();
            foreach (var p in part.Where(p => !p.IsBaseline))
            {
                var (rel, maxAbs) = Compare(p.T.Output, b);
                checks.Add(new OutputCheck(p.T.Name, part[baseIdx].T.Name, mode.ToString(), batch, b.Length, rel, maxAbs));
                _log($"  {p.T.Name} vs {part[baseIdx].T.Name}: relative L2 error {rel:E2}, max |diff| {maxAbs:E2} over {b.Length} outputs");
            }
        }

        for (int w = 0; w < _o.WarmupRuns; w++)
            foreach (int i in Interleaving.RoundOrder(w, part.Count, _o.Order)) part[i].T.Run();

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var samples = part.Select(_ => new List<double>()).ToArray();
        double start = _nowMs();
        int round = 0;
        while (round < _o.MaxRuns && (round < _o.MinRuns || _nowMs() - start < _o.TimeBudgetSeconds * 1000))
        {
            foreach (int i in Interleaving.RoundOrder(round, part.Count, _o.Order))
            {
                double t0 = _nowMs();
                part[i].T.Run();
                samples[i].Add(_nowMs() - t0);
            }
            round++;
        }

        for (int i = 0; i < part.Count; i++)
        {
            var s = SampleStatistics.Of(samples[i]);
            var (t, _, m) = part[i];
            latency.Add(new LatencyResult(t.Name, t.Backend, t.Precision, m.ToString(), batch, s,
                batch * 1000.0 / s.Median, batch * 1000.0 / s.P90, batch * 1000.0 / s.P10, samples[i].ToArray()));
            _log($"  {t.Name} ({m}): {s.Describe("ms")}; {batch * 1000.0 / s.Median:F2} images/s");
        }
        if (baseIdx >= 0)
            for (int i = 0; i < part.Count; i++)
            {
                if (i == baseIdx) continue;
                var r = Interleaving.PairedRatios(samples[i], samples[baseIdx]);
                var rs = SampleStatistics.Of(r);
                double rom = SampleStatistics.Of(samples[i]).Median / SampleStatistics.Of(samples[baseIdx]).Median;
                bool? met = _o.RatioGoal is double g ? rs.Median <= g : null;
                ratios.Add(new RatioResult(part[i].T.Name, part[baseIdx].T.Name, part[i].Mode.ToString(), batch, rs, rom, round, _o.Order.ToString(), _o.RatioGoal, met));
                _log($"  {part[i].T.Name}/{part[baseIdx].T.Name}: {rs.Describe("", "F3")}; ratio of medians {rom:F3}");
            }

        if (mode == BenchMode.Eager && _o.LayerRuns > 0)
            foreach (var p in part.Where(p => p.Mode == BenchMode.Eager))
            {
                var lt = p.T.ProfileLayers(_o.LayerRuns);
                if (lt is null) { notes.Add($"{p.T.Name} cannot time layers; no per-layer table"); continue; }
                layers.Add((p.T.Name, mode.ToString(), batch, lt));
            }
    }

    private List<MemoryResult> MeasureMemory(IReadOnlyList<BenchTargetFactory> factories, List<string> notes)
    {
        var results = new List<MemoryResult>();
        if (!MachineProbe.CanMeasurePeakRss) notes.Add("peak memory: the peak resident set cannot be read on this OS; the process's peak working set is used and cannot be reset");
        foreach (var f in factories)
        {
            // Return freed managed memory to the OS first (GCCollectionMode.Aggressive decommits it), so memory a
            // previous target or an export step freed but kept resident does not hide this target's allocations.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            long rss0 = MachineProbe.ResidentBytes();
            long heap0 = GC.GetGCMemoryInfo().HeapSizeBytes;
            bool reset = MachineProbe.ResetPeakResident();
            string method = reset
                ? "peak resident set (VmHWM, reset through /proc/self/clear_refs before creating the target) minus the resident set before; target created alone, one run per batch size in ascending order"
                : "peak working set of the process (not resettable here) minus the working set before; an upper bound";
            _log($"memory: creating {f.Name} alone ...");
            using var t = f.Create();
            foreach (int batch in _o.BatchSizes.Order())
            {
                var input = BenchInput.Create(t.InputShape(batch), _o.Seed + batch);
                t.Prepare(batch, BenchMode.Eager, input);
                t.Run();
                long peak = MachineProbe.PeakResidentBytes() - rss0;
                long heap = GC.GetGCMemoryInfo().HeapSizeBytes - heap0;
                var planned = t.PlannedMemory;
                double? ratio = planned is { TotalBytes: > 0 } ? (double)peak / planned.TotalBytes : null;
                results.Add(new MemoryResult(t.Name, batch, planned, peak, heap, ratio, ratio is double r ? Math.Abs(r - 1) <= 0.10 : null, method));
                _log($"  {t.Name} batch {batch}: measured peak {peak / 1048576.0:F1} MiB" + (planned is null ? "" : $", planned {planned.TotalBytes / 1048576.0:F1} MiB (arena {planned.ArenaBytes / 1048576.0:F1}, weights {planned.WeightBytes / 1048576.0:F1}, prepared weights {planned.PreparedWeightBytes / 1048576.0:F1}, workspace {planned.WorkspaceBytes / 1048576.0:F1})"));
            }
        }
        return results;
    }

    /// <summary>‖a − b‖₂/‖b‖₂ and max |a − b|; a length mismatch gives NaN.</summary>
    internal static (double RelativeL2, double MaxAbs) Compare(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) return (double.NaN, double.NaN);
        double num = 0, den = 0, max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = (double)a[i] - b[i];
            num += d * d;
            den += (double)b[i] * b[i];
            max = Math.Max(max, Math.Abs(d));
            if (double.IsNaN(d)) return (double.NaN, double.NaN);
        }
        return (den == 0 ? (num == 0 ? 0 : double.PositiveInfinity) : Math.Sqrt(num / den), max);
    }
}

/// <summary>Seeded input data for benchmarks.</summary>
public static class BenchInput
{
    /// <summary>float32 values uniform in [−1, 1) for <paramref name="shape"/>, from <see cref="Random"/>(<paramref name="seed"/>); exact zeros are replaced by 0.5 (never time on zeros).</summary>
    public static float[] Create(int[] shape, int seed)
    {
        long n = Vgg.Engine.Tensor.Product(shape);
        var rng = new Random(seed);
        var x = new float[n];
        for (long i = 0; i < n; i++)
        {
            float v = (float)(rng.NextDouble() * 2 - 1);
            x[i] = v == 0 ? 0.5f : v;
        }
        return x;
    }
}

/// <summary>The order of targets in each round and the ratios of paired samples.</summary>
public static class Interleaving
{
    /// <summary>
    /// Indices of <paramref name="count"/> participants in round <paramref name="round"/>: 0..count−1 for
    /// ABAB; for ABBA the same on even rounds and reversed on odd rounds.
    /// </summary>
    public static int[] RoundOrder(int round, int count, InterleaveOrder order)
    {
        var idx = Enumerable.Range(0, count).ToArray();
        if (order == InterleaveOrder.ABBA && (round & 1) == 1) Array.Reverse(idx);
        return idx;
    }

    /// <summary>Per-round ratios target[i] / baseline[i].</summary>
    /// <exception cref="ArgumentException">Different lengths, no samples, or a baseline sample ≤ 0.</exception>
    public static double[] PairedRatios(IReadOnlyList<double> target, IReadOnlyList<double> baseline)
    {
        if (target.Count != baseline.Count) throw new ArgumentException($"paired samples differ in count ({target.Count} vs {baseline.Count})");
        if (target.Count == 0) throw new ArgumentException("no paired samples");
        var r = new double[target.Count];
        for (int i = 0; i < r.Length; i++)
        {
            if (!(baseline[i] > 0)) throw new ArgumentException($"baseline sample {i} is {baseline[i]}; a ratio needs a positive time");
            r[i] = target[i] / baseline[i];
        }
        return r;
    }
}

/// <summary>Turns per-layer times into a <see cref="LayerTable"/> with the registry's work counts and the measured ceilings.</summary>
public static class LayerTableBuilder
{
    /// <summary>
    /// The fewest seconds a layer can take on this machine: the largest of FLOPs / FMA peak, all bytes / copy bandwidth
    /// (read + write) and, where a read-only stream was measured, the bytes read / read bandwidth (a weight-streaming
    /// GEMV reads far more than it writes, and a read-only stream is faster than a copy). Bytes read are the layer's
    /// bytes minus its outputs.
    /// </summary>
    public static double RooflineFloorSeconds(OpCost cost, BenchLayer layer, MachineCeiling ceiling)
    {
        double compute = ceiling.PeakGflops > 0 ? cost.Flops / (ceiling.PeakGflops * 1e9) : 0;
        double copy = ceiling.CopyGBps > 0 ? cost.Bytes / (ceiling.CopyGBps * 1e9) : 0;
        long written = layer.IsView ? 0 : layer.Outputs.Sum(o => o.Bytes);
        long read = Math.Max(0, cost.Bytes - written);
        double stream = ceiling.ReadGBps > 0 ? read / (ceiling.ReadGBps * 1e9) : 0;
        return Math.Max(compute, Math.Max(copy, stream));
    }

    /// <summary>One row per layer with at least one sample, in layer order.</summary>
    public static LayerTable Build(string target, string mode, int batch, LayerTimings timings, OpCostRegistry registry, MachineCeiling? ceiling)
    {
        var rows = new List<LayerRow>();
        var meds = timings.Layers.Where(l => l.Milliseconds.Count > 0).Select(l => SampleStatistics.Of(l.Milliseconds.ToArray()).Median).ToList();
        double total = meds.Sum();
        foreach (var (layer, kernel, ms) in timings.Layers.OrderBy(l => l.Layer.Index))
        {
            if (ms.Count == 0) continue;
            var s = SampleStatistics.Of(ms.ToArray());
            var cost = registry.Cost(layer, kernel);
            double sec = s.Median / 1000.0;
            double gflops = sec > 0 ? cost.Flops / sec / 1e9 : 0;
            double gbps = sec > 0 ? cost.Bytes / sec / 1e9 : 0;
            double? fma = null, bw = null, roof = null;
            if (ceiling is not null && sec > 0)
            {
                fma = ceiling.PeakGflops > 0 ? gflops / ceiling.PeakGflops : null;
                bw = ceiling.CopyGBps > 0 ? gbps / ceiling.CopyGBps : null;
                roof = RooflineFloorSeconds(cost, layer, ceiling) / sec;
            }
            string shapes = string.Join(' ', layer.Inputs.Where(i => i is not null)) + " → " + string.Join(' ', layer.Outputs);
            rows.Add(new LayerRow(layer.Index, layer.Name, layer.OpType, kernel, shapes, cost.Flops, cost.Bytes, cost.Row.FlopFormula,
                s.Median, s.Min, s.Mad, gflops, gbps, fma, bw, roof, total > 0 ? s.Median / total : 0));
        }
        return new LayerTable(target, mode, batch, timings.Runs, timings.Source, total, rows);
    }
}
