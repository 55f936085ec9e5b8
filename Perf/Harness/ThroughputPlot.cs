namespace Vgg.Perf.Harness;

/// <summary>
/// A PNG plot (ScottPlot 5) of throughput (images/s at the median latency, with the p10–p90 latency range
/// as error bars) against batch size, one line per target and mode.
/// </summary>
public static class ThroughputPlot
{
    /// <summary>
    /// Writes the plot to <paramref name="pngPath"/>. Returns false with the reason in <paramref name="message"/>
    /// when it cannot be drawn (e.g. SkiaSharp's native library does not load on this machine); the JSON keeps
    /// the same numbers, so nothing is lost.
    /// </summary>
    public static bool TryWrite(BenchReport report, string pngPath, out string message, int width = 900, int height = 600)
    {
        try
        {
            var plt = new ScottPlot.Plot();
            foreach (var g in report.Latency.GroupBy(l => (l.Target, l.Mode, l.Precision)))
            {
                var pts = g.OrderBy(l => l.Batch).ToArray();
                double[] xs = pts.Select(p => (double)p.Batch).ToArray();
                double[] ys = pts.Select(p => p.ImagesPerSecond).ToArray();
                var sc = plt.Add.Scatter(xs, ys);
                sc.LegendText = $"{g.Key.Target} {g.Key.Precision} {g.Key.Mode}";
                // bars: up to the throughput at the p10 latency, down to the one at the p90 latency
                var eb = new ScottPlot.Plottables.ErrorBar(xs, ys, null, null,
                    pts.Select(p => Math.Max(0, p.ImagesPerSecondP90 - p.ImagesPerSecond)).ToArray(),
                    pts.Select(p => Math.Max(0, p.ImagesPerSecond - p.ImagesPerSecondP10)).ToArray());
                plt.Add.Plottable(eb);
                eb.Color = sc.Color;
            }
            plt.Title($"{report.Settings.Model}: throughput vs batch size ({report.Machine.Threads} threads, {report.Machine.CpuModel})");
            var batches = report.Latency.Select(l => l.Batch).Distinct().Order().ToArray();
            plt.Axes.Bottom.SetTicks(batches.Select(b => (double)b).ToArray(), batches.Select(b => b.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
            plt.XLabel("batch size");
            plt.YLabel("images/s (median latency; bars: p10-p90)");
            plt.ShowLegend();
            var dir = Path.GetDirectoryName(Path.GetFullPath(pngPath));
            if (dir is not null) Directory.CreateDirectory(dir);
            plt.SavePng(pngPath, width, height);
            message = $"plot written to {pngPath}";
            return true;
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or BadImageFormatException or EntryPointNotFoundException or IOException or UnauthorizedAccessException)
        {
            message = $"no plot: ScottPlot could not draw here ({e.GetType().Name}: {(e.InnerException ?? e).Message}); the numbers are in the JSON report";
            return false;
        }
    }
}
