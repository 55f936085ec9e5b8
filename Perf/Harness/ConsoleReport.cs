using System.Globalization;
using Spectre.Console;

namespace Vgg.Perf.Harness;

/// <summary>Writes a <see cref="BenchReport"/> as console tables (Spectre.Console).</summary>
public static class ConsoleReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A console that writes plain text (no colour, no ANSI codes) to <paramref name="writer"/>, e.g. for a file or a test.</summary>
    public static IAnsiConsole PlainConsole(TextWriter writer, int width = 200)
    {
        var c = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(writer),
            Interactive = InteractionSupport.No,
        });
        c.Profile.Width = width;
        return c;
    }

    /// <summary>Writes every section of <paramref name="r"/>; <paramref name="layers"/> false leaves the per-layer tables out.</summary>
    public static void Write(IAnsiConsole console, BenchReport r, bool layers = true)
    {
        var m = r.Machine;
        console.WriteLine($"{r.Settings.Model}: {m.CpuModel}, {m.LogicalCores} logical cores, {m.Threads} thread(s); {m.Isa}; {m.DotNet}; ONNX Runtime {m.OrtVersion ?? "not loaded"}; {m.UtcDate.ToString("yyyy-MM-dd HH:mm", Inv)} UTC" + (m.Gpu is null ? "" : $"; GPU {m.Gpu}"));
        if (r.Ceiling is { } c) console.WriteLine("ceilings (measured in this run): " + c);
        foreach (var t in r.Targets) console.WriteLine($"  {t.Name}{(t.IsBaseline ? " (baseline)" : "")}: {t.Description}");
        console.WriteLine($"repetitions: warm-up {r.Settings.WarmupRuns}, then {r.Settings.MinRuns}..{r.Settings.MaxRuns} rounds within {r.Settings.TimeBudgetSeconds.ToString(Inv)} s, order {r.Settings.Order}; input seed {r.Settings.Seed}");

        var lat = new Table().Title("end-to-end latency (ms) and throughput");
        foreach (var h in new[] { "target", "backend", "prec", "mode", "batch", "p50", "p90", "p99", "min", "mean ± sd", "MAD", "images/s", "runs" }) lat.AddColumn(h);
        foreach (var l in r.Latency)
        {
            var s = l.LatencyMs;
            lat.AddRow(l.Target, l.Backend, l.Precision, l.Mode, I(l.Batch), F(s.Median), F(s.P90), F(s.P99), F(s.Min),
                $"{F(s.Mean)} ± {F(s.StdDev)}", $"{F(s.Mad)} ({P(s.RelativeMad)})", l.ImagesPerSecond.ToString("F2", Inv), I(s.Count));
        }
        console.Write(lat);

        if (r.Ratios.Count > 0)
        {
            var rt = new Table().Title("time ratio target / baseline from interleaved rounds (< 1: target faster)");
            foreach (var h in new[] { "target / baseline", "mode", "batch", "median ratio", "p10 .. p90", "MAD", "ratio of medians", "rounds", "order", "goal" }) rt.AddColumn(h);
            foreach (var x in r.Ratios)
                rt.AddRow($"{x.Target} / {x.Baseline}", x.Mode, I(x.Batch), x.PairedRatio.Median.ToString("F3", Inv),
                    $"{x.PairedRatio.P10.ToString("F3", Inv)} .. {x.PairedRatio.P90.ToString("F3", Inv)}", x.PairedRatio.Mad.ToString("F3", Inv),
                    x.RatioOfMedians.ToString("F3", Inv), I(x.Rounds), x.Order,
                    x.Goal is double g ? $"≤ {g.ToString("F2", Inv)}: {(x.GoalMet == true ? "met" : "not met")}" : "");
            console.Write(rt);
        }

        if (r.Checks.Count > 0)
        {
            var ct = new Table().Title("output agreement with the baseline (same input)");
            foreach (var h in new[] { "target", "baseline", "mode", "batch", "elements", "relative L2", "max |diff|" }) ct.AddColumn(h);
            foreach (var x in r.Checks)
                ct.AddRow(x.Target, x.Baseline, x.Mode, I(x.Batch), I(x.Elements), x.RelativeL2.ToString("E2", Inv), x.MaxAbsDiff.ToString("E2", Inv));
            console.Write(ct);
        }

        if (r.Memory.Count > 0)
        {
            var mt = new Table().Title("peak memory (MiB): planned vs measured");
            foreach (var h in new[] { "target", "batch", "arena", "weights", "prepared weights", "workspace", "planned total", "measured peak", "measured / planned", "within 10 %", "GC heap Δ" }) mt.AddColumn(h);
            foreach (var x in r.Memory)
                mt.AddRow(x.Target, I(x.Batch), Mb(x.Planned?.ArenaBytes), Mb(x.Planned?.WeightBytes), Mb(x.Planned?.PreparedWeightBytes), Mb(x.Planned?.WorkspaceBytes), Mb(x.Planned?.TotalBytes),
                    Mb(x.MeasuredPeakBytes), x.MeasuredOverPlanned is double q ? q.ToString("F3", Inv) : "-", x.Within10Percent is bool w ? (w ? "yes" : "no") : "-", Mb(x.ManagedHeapDeltaBytes));
            console.Write(mt);
            console.WriteLine("memory method: " + r.Memory[0].Method);
        }

        if (layers)
            foreach (var t in r.Layers)
            {
                var lt = new Table().Title($"{t.Target}, batch {t.Batch}, {t.Mode}: per layer, median of {t.Runs} profiled runs ({t.Source}); sum {F(t.SumOfMediansMs)} ms");
                foreach (var h in new[] { "#", "layer", "op", "kernel", "ms", "MAD", "GFLOP", "MB", "GFLOP/s", "GB/s", "% FMA peak", "% copy BW", "% roofline", "% time" }) lt.AddColumn(h);
                foreach (var x in t.Rows)
                    lt.AddRow(I(x.Index), Trim(x.Name, 40), x.OpType, Trim(x.Kernel, 24), F(x.MedianMs), F(x.MadMs), (x.Flops / 1e9).ToString("F3", Inv), (x.Bytes / 1e6).ToString("F2", Inv),
                        x.Gflops.ToString("F1", Inv), x.GBps.ToString("F1", Inv), P(x.FmaShare), P(x.BandwidthShare), P(x.RooflineShare), P(x.TimeShare));
                console.Write(lt);
            }
        if (layers && r.Layers.Count > 0)
            console.WriteLine("legend: GFLOP counts 2 per multiply-add (direct convolution count, also for Winograd: an effective rate); MB = inputs + weights + outputs once. " +
                "% copy BW above 100 % means the layer's data stayed in cache or only streamed reads (the copy ceiling counts read + write from DRAM); " +
                "% roofline = max(FLOP/FMA peak, bytes/copy BW, bytes read/read BW) / time.");

        foreach (var n in r.Notes) console.WriteLine("note: " + n);
    }

    private static string I(long v) => v.ToString(Inv);
    private static string F(double v) => v.ToString(v < 10 ? "F3" : "F2", Inv);
    private static string P(double? v) => v is double d && double.IsFinite(d) ? (100 * d).ToString("F1", Inv) + " %" : "-";
    private static string Mb(long? b) => b is long x ? (x / 1048576.0).ToString("F1", Inv) : "-";
    private static string Trim(string s, int n) => Markup.Escape(s.Length <= n ? s : "…" + s[^(n - 1)..]);
}
