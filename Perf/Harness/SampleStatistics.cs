namespace Vgg.Perf.Harness;

/// <summary>
/// Summary of repeated measurements (latencies in ms, ratios, rates): order statistics, moments and
/// robust spread. Percentiles interpolate linearly between order statistics (Hyndman and Fan type 7,
/// NumPy's default <c>numpy.percentile(..., method="linear")</c>): for sorted x[0..n−1] and p in [0, 100],
/// h = (n − 1)·p/100 and P = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
/// </summary>
/// <param name="Count">Number of samples.</param>
/// <param name="Min">Smallest sample.</param>
/// <param name="Max">Largest sample.</param>
/// <param name="Mean">Arithmetic mean.</param>
/// <param name="StdDev">Sample standard deviation (divisor n − 1; 0 for one sample).</param>
/// <param name="Median">50th percentile.</param>
/// <param name="P10">10th percentile.</param>
/// <param name="P90">90th percentile.</param>
/// <param name="P99">99th percentile (with fewer than 100 samples this interpolates towards the maximum).</param>
/// <param name="Mad">Median absolute deviation from the median, unscaled: median(|x − median(x)|).
/// Multiply by 1.4826 for a normal-consistent estimate of σ.</param>
public sealed record SampleStatistics(int Count, double Min, double Max, double Mean, double StdDev,
    double Median, double P10, double P90, double P99, double Mad)
{
    /// <summary>Scale factor that makes the MAD a consistent estimator of σ for normal data (1/Φ⁻¹(3/4)).</summary>
    public const double MadToSigma = 1.482602218505602;

    /// <summary>MAD over the median: the relative robust spread (0.02 = ±2 %); NaN when the median is 0.</summary>
    public double RelativeMad => Median == 0 ? double.NaN : Mad / Math.Abs(Median);

    /// <summary>Summarizes <paramref name="samples"/> (not modified; any order).</summary>
    /// <exception cref="ArgumentException">No samples, or a NaN or infinite sample.</exception>
    public static SampleStatistics Of(IReadOnlyCollection<double> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0) throw new ArgumentException("no samples to summarize", nameof(samples));
        var x = samples.ToArray();
        foreach (var v in x)
            if (!double.IsFinite(v)) throw new ArgumentException($"sample {v} is not a finite number", nameof(samples));
        Array.Sort(x);
        int n = x.Length;
        double mean = 0;
        foreach (var v in x) mean += v;
        mean /= n;
        double ss = 0;
        foreach (var v in x) ss += (v - mean) * (v - mean);
        double sd = n > 1 ? Math.Sqrt(ss / (n - 1)) : 0;
        double median = PercentileOfSorted(x, 50);
        var dev = new double[n];
        for (int i = 0; i < n; i++) dev[i] = Math.Abs(x[i] - median);
        Array.Sort(dev);
        return new SampleStatistics(n, x[0], x[^1], mean, sd, median,
            PercentileOfSorted(x, 10), PercentileOfSorted(x, 90), PercentileOfSorted(x, 99), PercentileOfSorted(dev, 50));
    }

    /// <summary>The <paramref name="p"/>-th percentile (0..100) of ascending <paramref name="sorted"/>, linear interpolation (type 7).</summary>
    /// <exception cref="ArgumentException">Empty input or p outside [0, 100].</exception>
    public static double PercentileOfSorted(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0) throw new ArgumentException("no samples", nameof(sorted));
        if (!(p >= 0 && p <= 100)) throw new ArgumentException($"percentile {p} is outside [0, 100]", nameof(p));
        double h = (sorted.Count - 1) * p / 100.0;
        int lo = (int)Math.Floor(h);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>A one-line description: "median [p10–p90] ±MAD (n)" with the given unit.</summary>
    public string Describe(string unit, string format = "F3") =>
        $"{Median.ToString(format)} {unit} [p10 {P10.ToString(format)}, p90 {P90.ToString(format)}] MAD {Mad.ToString(format)} (n={Count})";
}
