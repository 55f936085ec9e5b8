using Vgg.Perf.Harness;

namespace Vgg.Engine.Tests.Perf;

/// <summary>
/// The runner's logic with fake targets on a fake clock: round order, warm-up, stopping rules, paired
/// ratios under drift, output checks, modes, layer tables and the report. No real time is asserted.
/// </summary>
public class BenchRunnerTests
{
    private static BenchOptions Quick(int min, int max, double budget = 0) => new()
    {
        Model = "fake", BatchSizes = [1], Threads = 1, WarmupRuns = 2, MinRuns = min, MaxRuns = max, TimeBudgetSeconds = budget,
        LayerRuns = 0, MeasureCeiling = false, MeasureMemory = false,
    };

    private static (BenchReport R, List<string> Log) RunPair(BenchOptions o, double aMs, double bMs, double drift = 0, float bScale = 1f)
    {
        var clock = new FakeClock();
        var log = new List<string>();
        var a = new FakeTarget("A", clock, aMs, log, () => log.Count, drift);
        var b = new FakeTarget("B", clock, bMs, log, () => log.Count, drift, bScale);
        var r = new BenchRunner(o, clockMs: clock.Read).Run([new("A", () => a), new("B", () => b, IsBaseline: true)]);
        return (r, log);
    }

    [Test]
    public void AbbaAlternatesTheOrderEveryRound()
    {
        var (_, log) = RunPair(Quick(4, 4) with { Order = InterleaveOrder.ABBA }, 2, 1);
        // 1 first run each, 2 warm-up rounds, 4 timed rounds
        Assert.That(string.Concat(log), Is.EqualTo("AB" + "AB" + "BA" + "AB" + "BA" + "AB" + "BA"));
    }

    [Test]
    public void AbabKeepsTheOrder()
    {
        var (_, log) = RunPair(Quick(3, 3) with { Order = InterleaveOrder.ABAB, WarmupRuns = 1 }, 2, 1);
        Assert.That(string.Concat(log), Is.EqualTo("AB" + "AB" + "AB" + "AB" + "AB"));
    }

    [Test]
    public void TimeBudgetStopsAfterMinRunsWhenSpent()
    {
        // each round costs 3 fake ms; the budget of 50 ms is spent after 17 rounds (51 ms); MinRuns 5 is below that
        var (r, _) = RunPair(Quick(5, 1000, budget: 0.050), 2, 1);
        Assert.That(r.Ratios[0].Rounds, Is.EqualTo(17));
        Assert.That(r.Latency.Select(l => l.LatencyMs.Count), Is.All.EqualTo(17));
    }

    [Test]
    public void MinRunsWinOverASpentBudgetAndMaxRunsOverAnUnspentOne()
    {
        Assert.That(RunPair(Quick(8, 1000, budget: 0.001), 2, 1).R.Ratios[0].Rounds, Is.EqualTo(8));
        Assert.That(RunPair(Quick(2, 6, budget: 1000), 2, 1).R.Ratios[0].Rounds, Is.EqualTo(6));
    }

    [Test]
    public void PairedRatioCancelsDrift()
    {
        // every run is 0.2 % slower than the one before: over 300 rounds the latencies drift by more than 2×,
        // yet A is always twice B at the same moment; interleaved pairs recover 2 within the one-step drift.
        var (r, _) = RunPair(Quick(300, 300), 2, 1, drift: 0.002);
        var a = r.Latency.Single(l => l.Target == "A");
        Assert.That(a.LatencyMs.Max / a.LatencyMs.Min, Is.GreaterThan(2.0), "the fake drift is real");
        var ratio = r.Ratios.Single();
        Assert.That((ratio.Target, ratio.Baseline), Is.EqualTo(("A", "B")));
        Assert.That(ratio.PairedRatio.Median, Is.EqualTo(2.0).Within(0.01), "median of per-round ratios");
        // ABBA: the ratio alternates just above and just below 2, so the spread stays within one drift step
        Assert.That(ratio.PairedRatio.P90 - ratio.PairedRatio.P10, Is.LessThan(0.02));
    }

    [Test]
    public void ExactRatiosWithoutDrift()
    {
        var (r, _) = RunPair(Quick(10, 10) with { RatioGoal = 0.8 }, 1.5, 2.0);
        var x = r.Ratios.Single();
        Assert.That(x.PairedRatio.Median, Is.EqualTo(0.75).Within(1e-12));
        Assert.That(x.PairedRatio.Mad, Is.EqualTo(0).Within(1e-12));
        Assert.That(x.RatioOfMedians, Is.EqualTo(0.75).Within(1e-12));
        Assert.That(x.GoalMet, Is.True);
        var a = r.Latency.Single(l => l.Target == "A");
        Assert.That(a.ImagesPerSecond, Is.EqualTo(1000 / 1.5).Within(1e-9), "batch / median seconds");
        Assert.That(a.SamplesMs, Has.Length.EqualTo(10));
        Assert.That(RunPair(Quick(10, 10) with { RatioGoal = 0.7 }, 1.5, 2.0).R.Ratios.Single().GoalMet, Is.False);
    }

    [Test]
    public void OutputsAreComparedWithTheBaseline()
    {
        var (r, _) = RunPair(Quick(2, 2), 1, 1, bScale: 1.25f);
        var c = r.Checks.Single();
        // A = x, B = 1.25 x: ‖A − B‖ / ‖B‖ = 0.25 / 1.25 exactly (up to float rounding of the scaled outputs)
        Assert.That(c.RelativeL2, Is.EqualTo(0.2).Within(1e-6));
        Assert.That(c.Elements, Is.EqualTo(10));
    }

    [Test]
    public void EveryBatchSizeIsPreparedAndTimed()
    {
        var clock = new FakeClock();
        var log = new List<string>();
        var a = new FakeTarget("A", clock, 1, log);
        var r = new BenchRunner(Quick(3, 3) with { BatchSizes = [1, 4, 16] }, clockMs: clock.Read).Run([new("A", () => a)]);
        Assert.That(a.Prepared.Select(p => p.Batch), Is.EqualTo(new[] { 1, 4, 16 }));
        Assert.That(r.Latency.Select(l => (l.Batch, l.LatencyMs.Median)), Is.EqualTo(new[] { (1, 1.0), (4, 4.0), (16, 16.0) }));
        Assert.That(r.Latency.Select(l => l.ImagesPerSecond), Is.All.EqualTo(1000.0).Within(1e-9), "fake time is linear in the batch");
        Assert.That(r.Ratios, Is.Empty, "no baseline, no ratios");
    }

    [Test]
    public void GraphModeRunsWhereSupportedAndTheBaselineRunsEagerBeside()
    {
        var clock = new FakeClock();
        var log = new List<string>();
        var gpu = new FakeTarget("gpu", clock, 1, log, modes: [BenchMode.Eager, BenchMode.GraphReplay]);
        var ort = new FakeTarget("ort", clock, 2, log);
        var r = new BenchRunner(Quick(2, 2) with { Modes = [BenchMode.Eager, BenchMode.GraphReplay] }, clockMs: clock.Read)
            .Run([new("gpu", () => gpu), new("ort", () => ort, IsBaseline: true)]);
        Assert.That(gpu.Prepared.Select(p => p.Mode), Is.EqualTo(new[] { BenchMode.Eager, BenchMode.GraphReplay }));
        Assert.That(ort.Prepared.Select(p => p.Mode), Is.EqualTo(new[] { BenchMode.Eager, BenchMode.Eager }));
        Assert.That(r.Ratios.Select(x => x.Mode), Is.EqualTo(new[] { "Eager", "GraphReplay" }));
        Assert.That(r.Latency.Select(l => $"{l.Target}:{l.Mode}"), Is.EqualTo(new[] { "gpu:Eager", "ort:Eager", "gpu:GraphReplay", "ort:Eager" }));
        Assert.That(r.Settings.Modes, Is.EqualTo(new[] { "Eager", "GraphReplay" }));

        var lone = new FakeTarget("cpu", clock, 1, log);
        var r2 = new BenchRunner(Quick(2, 2) with { Modes = [BenchMode.GraphReplay] }, clockMs: clock.Read).Run([new("cpu", () => lone)]);
        Assert.That(r2.Latency, Is.Empty);
        Assert.That(r2.Notes, Has.Some.Contains("cpu does not support GraphReplay"));
    }

    [Test]
    public void LayerTablesUseTheRegistryAndTheCeiling()
    {
        var clock = new FakeClock();
        var a = new FakeTarget("A", clock, 2, new List<string>());
        var r = new BenchRunner(Quick(2, 2) with { LayerRuns = 3 }, clockMs: clock.Read).Run([new("A", () => a)]);
        var t = r.Layers.Single();
        Assert.That((t.Target, t.Runs, t.Rows.Count), Is.EqualTo(("A", 3, 2)));
        var conv = t.Rows[0];
        long flops = 2L * 8 * 3 * 9 * 16;
        Assert.That(conv.Flops, Is.EqualTo(flops));
        Assert.That(conv.MedianMs, Is.EqualTo(1.5));
        Assert.That(conv.Gflops, Is.EqualTo(flops / 1.5e-3 / 1e9).Within(1e-9));
        Assert.That(conv.Kernel, Is.EqualTo("direct"));
        Assert.That(conv.TimeShare, Is.EqualTo(0.75).Within(1e-12));
        Assert.That(conv.FmaShare, Is.Null, "no ceiling measured");

        // with a ceiling: shares are rate / ceiling and the roofline share is the larger floor over the time
        var ceiling = new MachineCeiling("test", 1, PeakGflops: 0.001, PeakGflopsOneThread: 0.001, CopyGBps: 0.01, CopyBufferBytes: 1 << 20, Repetitions: 1, PeakGflopsMedian: 0.001, CopyGBpsMedian: 0.01);
        var lt = a.ProfileLayers(1)!;
        var table = LayerTableBuilder.Build("A", "Eager", 1, lt, OpCostRegistry.Default, ceiling);
        var c = table.Rows[0];
        double sec = 1.5e-3, bytes = c.Bytes;
        Assert.That(c.FmaShare, Is.EqualTo(flops / sec / 1e9 / 0.001).Within(1e-9));
        Assert.That(c.BandwidthShare, Is.EqualTo(bytes / sec / 1e9 / 0.01).Within(1e-9));
        Assert.That(c.RooflineShare, Is.EqualTo(Math.Max(flops / 1e6, bytes / 1e7) / sec).Within(1e-9));

        // with a read-only stream: a layer that mostly reads (weights) is bounded by bytes read / read bandwidth
        var gemv = new BenchLayer(0, "fc", "Gemm", Vgg.Engine.IR.GemmOp.Linear(),
            [new TensorArg([1, 1000], DType.Float32), new TensorArg([100, 1000], DType.Float32, true), new TensorArg([100], DType.Float32, true)],
            [new TensorArg([1, 100], DType.Float32)]);
        var cost = OpCostRegistry.Default.Cost(gemv);
        var withRead = ceiling with { PeakGflops = 1000, CopyGBps = 10, ReadGBps = 1 };
        long read = 4L * (1000 + 100 * 1000 + 100), written = 4L * 100;
        Assert.That(cost.Bytes, Is.EqualTo(read + written));
        Assert.That(LayerTableBuilder.RooflineFloorSeconds(cost, gemv, withRead), Is.EqualTo(read / 1e9).Within(1e-15), "read-bound");
        Assert.That(LayerTableBuilder.RooflineFloorSeconds(cost, gemv, withRead with { ReadGBps = 100 }), Is.EqualTo((read + written) / 10e9).Within(1e-15), "copy-bound");
    }

    [Test]
    public void MismatchedInputShapesAndTwoBaselinesAreRefused()
    {
        var clock = new FakeClock();
        var log = new List<string>();
        var o = Quick(1, 1);
        Assert.Throws<ArgumentException>(() => new BenchRunner(o).Run([]));
        Assert.Throws<ArgumentException>(() => new BenchRunner(o).Run([
            new("A", () => new FakeTarget("A", clock, 1, log), true), new("B", () => new FakeTarget("B", clock, 1, log), true)]));
        Assert.Throws<ArgumentException>(() => new BenchRunner(o with { MinRuns = 5, MaxRuns = 2 }));
        Assert.Throws<ArgumentException>(() => new BenchRunner(o with { BatchSizes = [0] }));
    }

    [Test]
    public void PlannedMemoryIsSetBesideTheMeasuredPeak()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("ignored: the peak resident set is read from /proc on Linux only");
        const long bytes = 64L << 20;
        var clock = new FakeClock();
        var planned = new PlannedMemory(bytes / 2, bytes / 4, bytes / 4);
        var r = new BenchRunner(Quick(1, 1) with { MeasureMemory = true }, clockMs: clock.Read)
            .Run([new("A", () => new FakeTarget("A", clock, 1, new List<string>(), planned: planned, allocateBytes: bytes))]);
        var m = r.Memory.Single();
        Assert.That(m.Planned, Is.EqualTo(planned));
        // 64 MiB of touched native pages are resident: the peak delta is at least that (plus some runtime noise)
        Assert.That(m.MeasuredPeakBytes, Is.GreaterThanOrEqualTo(bytes));
        Assert.That(m.MeasuredOverPlanned, Is.EqualTo((double)m.MeasuredPeakBytes / bytes).Within(1e-12));
        Assert.That(m.Within10Percent, Is.EqualTo(Math.Abs(m.MeasuredOverPlanned!.Value - 1) <= 0.1));
        Assert.That(m.Method, Does.Contain("VmHWM"));
    }

    [Test]
    public void InputIsSeededAndNeverZero()
    {
        var a = BenchInput.Create([2, 3, 8, 8], 5);
        Assert.That(a, Is.EqualTo(BenchInput.Create([2, 3, 8, 8], 5)));
        Assert.That(a, Is.Not.EqualTo(BenchInput.Create([2, 3, 8, 8], 6)));
        Assert.That(a, Has.None.EqualTo(0f));
        Assert.That(a.Min(), Is.GreaterThanOrEqualTo(-1f));
        Assert.That(a.Max(), Is.LessThan(1f));
    }

    [Test]
    public void PairedRatiosNeedMatchingPositiveSamples()
    {
        Assert.That(Interleaving.PairedRatios([2, 3], [1, 2]), Is.EqualTo(new[] { 2.0, 1.5 }));
        Assert.Throws<ArgumentException>(() => Interleaving.PairedRatios([1], [1, 2]));
        Assert.Throws<ArgumentException>(() => Interleaving.PairedRatios([1], [0]));
        Assert.That(Interleaving.RoundOrder(1, 3, InterleaveOrder.ABBA), Is.EqualTo(new[] { 2, 1, 0 }));
        Assert.That(Interleaving.RoundOrder(1, 3, InterleaveOrder.ABAB), Is.EqualTo(new[] { 0, 1, 2 }));
    }
}

public class MachineCeilingTests
{
    [Test]
    public void TwoMeasurementsKeepTheBestRates()
    {
        var a = new MachineCeiling("isa", 2, 50, 40, 6, 1 << 20, 10, 30, 5, 8);
        var b = new MachineCeiling("isa", 2, 70, 35, 5, 1 << 20, 10, 50, 4, 9);
        var c = MachineCeiling.Combine(a, b);
        Assert.That((c.PeakGflops, c.PeakGflopsOneThread, c.CopyGBps, c.ReadGBps), Is.EqualTo((70.0, 40.0, 6.0, 9.0)));
        Assert.That((c.PeakGflopsMedian, c.CopyGBpsMedian, c.Repetitions), Is.EqualTo((40.0, 4.5, 20)));
    }

    [Test]
    public void IsaNamesTheVectorWidth()
    {
        Assert.That(MachineCeiling.DetectIsa(), Does.StartWith("Vector"));
        Assert.Throws<ArgumentOutOfRangeException>(() => MachineCeiling.Measure(0));
    }
}
