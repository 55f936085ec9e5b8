using Vgg.Perf.Harness;

namespace Vgg.Engine.Tests.Perf;

/// <summary>
/// Statistics on known samples. Expected values are NumPy 1.24's: numpy.percentile(x, p) (method "linear"),
/// numpy.std(x, ddof=1), numpy.median(numpy.abs(x − numpy.median(x))).
/// </summary>
public class SampleStatisticsTests
{
    private const double Tol = 1e-12;

    [Test]
    public void OneToTen()
    {
        var s = SampleStatistics.Of(Enumerable.Range(1, 10).Select(i => (double)i).Reverse().ToArray());
        Assert.Multiple(() =>
        {
            Assert.That(s.Count, Is.EqualTo(10));
            Assert.That(s.Min, Is.EqualTo(1.0));
            Assert.That(s.Max, Is.EqualTo(10.0));
            Assert.That(s.Mean, Is.EqualTo(5.5).Within(Tol));
            Assert.That(s.StdDev, Is.EqualTo(3.0276503540974917).Within(Tol));
            Assert.That(s.P10, Is.EqualTo(1.9).Within(Tol));
            Assert.That(s.Median, Is.EqualTo(5.5).Within(Tol));
            Assert.That(s.P90, Is.EqualTo(9.1).Within(Tol));
            Assert.That(s.P99, Is.EqualTo(9.91).Within(Tol));
            Assert.That(s.Mad, Is.EqualTo(2.5).Within(Tol));
            Assert.That(s.RelativeMad, Is.EqualTo(2.5 / 5.5).Within(Tol));
        });
    }

    [Test]
    public void UnsortedWithTies()
    {
        var s = SampleStatistics.Of(new double[] { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5 });
        Assert.Multiple(() =>
        {
            Assert.That(s.Mean, Is.EqualTo(4.0).Within(Tol));
            Assert.That(s.StdDev, Is.EqualTo(2.3664319132398464).Within(Tol));
            Assert.That(s.P10, Is.EqualTo(1.0).Within(Tol));
            Assert.That(s.Median, Is.EqualTo(4.0).Within(Tol));
            Assert.That(s.P90, Is.EqualTo(6.0).Within(Tol));
            Assert.That(s.P99, Is.EqualTo(8.7).Within(1e-9));
            Assert.That(s.Mad, Is.EqualTo(1.0).Within(Tol));
        });
    }

    [Test]
    public void OneSampleHasNoSpread()
    {
        var s = SampleStatistics.Of(new[] { 0.7 });
        Assert.That((s.Median, s.P99, s.StdDev, s.Mad), Is.EqualTo((0.7, 0.7, 0.0, 0.0)));
    }

    [Test]
    public void MadIgnoresOneOutlierThatMovesTheStdDev()
    {
        var calm = Enumerable.Range(0, 99).Select(i => 10.0 + (i % 3) * 0.1).ToList();
        var withSpike = calm.Append(1000.0).ToList();
        var a = SampleStatistics.Of(calm);
        var b = SampleStatistics.Of(withSpike);
        Assert.That(b.Mad, Is.EqualTo(a.Mad).Within(1e-12), "one spike must not move the MAD");
        Assert.That(b.StdDev, Is.GreaterThan(50 * a.StdDev), "the same spike dominates the standard deviation");
    }

    [Test]
    public void PercentileEnds()
    {
        var sorted = new double[] { 2, 4, 8 };
        Assert.That(SampleStatistics.PercentileOfSorted(sorted, 0), Is.EqualTo(2));
        Assert.That(SampleStatistics.PercentileOfSorted(sorted, 100), Is.EqualTo(8));
        Assert.That(SampleStatistics.PercentileOfSorted(sorted, 75), Is.EqualTo(6));
        Assert.Throws<ArgumentException>(() => SampleStatistics.PercentileOfSorted(sorted, 101));
    }

    [Test]
    public void BadSamplesAreRefused()
    {
        Assert.Throws<ArgumentException>(() => SampleStatistics.Of(Array.Empty<double>()));
        var e = Assert.Throws<ArgumentException>(() => SampleStatistics.Of(new[] { 1.0, double.NaN }));
        Assert.That(e!.Message, Does.Contain("NaN"));
    }
}
