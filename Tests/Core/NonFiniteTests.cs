namespace Vgg.Engine.Tests.Core;

/// <summary><see cref="NonFinite"/>: the vectorized count and first index agree with a scalar scan, in the vector body and the tail.</summary>
public class NonFiniteTests
{
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(7)]
    [TestCase(64)]
    [TestCase(1001)]
    public void CountAndFirstIndexMatchAScalarScan(int length)
    {
        var rng = new Random(length);
        var values = Enumerable.Range(0, length).Select(_ => (float)(rng.NextDouble() * 2e6 - 1e6)).ToArray();
        Assert.That(NonFinite.Count(values), Is.Zero);
        Assert.That(NonFinite.IndexOfFirst(values), Is.EqualTo(-1));
        if (length == 0) return;
        var specials = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity };
        for (int k = 0; k < Math.Min(length, 5); k++) values[rng.Next(length)] = specials[k % 3];
        values[length - 1] = float.MaxValue; // finite, and x − x = 0 for it
        long expected = values.Count(v => !float.IsFinite(v));
        int first = Array.FindIndex(values, v => !float.IsFinite(v));
        Assert.That(NonFinite.Count(values), Is.EqualTo(expected));
        Assert.That(NonFinite.IndexOfFirst(values), Is.EqualTo(first));
    }
}
