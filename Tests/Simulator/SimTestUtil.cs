using System.Globalization;
using System.Text;
using Vgg.Engine.Simulator;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>Helpers shared by the simulator tests: seeded inputs, comparisons that print the worst element, PTX snippet wrapping.</summary>
internal static class SimTestUtil
{
    /// <summary>Seeded uniform floats in [lo, hi).</summary>
    public static float[] RandomFloats(int n, int seed, float lo = -1f, float hi = 1f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (float)r.NextDouble() * (hi - lo);
        return a;
    }

    public static sbyte[] RandomInt8(int n, int seed)
    {
        var r = new Random(seed);
        var a = new sbyte[n];
        for (int i = 0; i < n; i++) a[i] = (sbyte)r.Next(-128, 128);
        return a;
    }

    /// <summary>Asserts |a − b| ≤ atol + rtol·|ref| elementwise; on failure prints the shape, worst index, worst values and the first pairs.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        int worst = -1;
        double worstExcess = 0;
        int bad = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            double tol = atol + rtol * Math.Abs(e);
            double err = double.IsNaN(a) || double.IsNaN(e) ? double.PositiveInfinity : Math.Abs(a - e);
            if (err > tol)
            {
                bad++;
                if (err - tol > worstExcess || worst < 0) { worstExcess = err - tol; worst = i; }
            }
        }
        if (bad == 0) return;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{what}: {bad} of {expected.Length} elements outside atol {atol:G3} + rtol {rtol:G3}; worst at [{worst}]: expected {expected[worst]:G9}, actual {actual[worst]:G9}. First pairs:");
        for (int i = 0; i < Math.Min(8, expected.Length); i++) sb.Append(CultureInfo.InvariantCulture, $" ({expected[i]:G6}, {actual[i]:G6})");
        Assert.Fail(sb.ToString());
    }

    /// <summary>Asserts exact equality; on failure prints the worst (first) index and values.</summary>
    public static void AssertEqual<T>(ReadOnlySpan<T> expected, ReadOnlySpan<T> actual, string what) where T : IEquatable<T>
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        int bad = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
            if (!expected[i].Equals(actual[i])) { bad++; if (first < 0) first = i; }
        if (bad > 0) Assert.Fail($"{what}: {bad} of {expected.Length} elements differ; first at [{first}]: expected {expected[first]}, actual {actual[first]}");
    }

    /// <summary>A device with deterministic settings for tests (blocks on 2 workers so the parallel path is exercised).</summary>
    public static SimDevice Device(int parallel = 2) => new(new SimulatorOptions { MaxParallelBlocks = parallel });

    /// <summary>Wraps an entry body in a module header: <c>.version 7.8 / .target sm_80 / .address_size 64</c>.</summary>
    public static PtxModule Snippet(string entries) => PtxModule.Parse(".version 7.8\n.target sm_80\n.address_size 64\n" + entries, "snippet.ptx");
}
