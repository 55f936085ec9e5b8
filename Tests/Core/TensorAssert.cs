using System.Globalization;
using System.Text;

namespace Vgg.Engine.Tests.Core;

/// <summary>
/// Elementwise comparison |actual − expected| ≤ atol + rtol·|expected| (NaN equals NaN, infinities must
/// match exactly), integers and bools exactly. A failure prints the shape, the worst index and values,
/// the whole-tensor relative error and the first few pairs.
/// </summary>
internal static class TensorAssert
{
    public static void Close(Tensor expected, Tensor actual, double rtol, double atol, string what)
    {
        Assert.That(actual.DType, Is.EqualTo(expected.DType), $"{what}: dtype");
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), $"{what}: shape {Tensor.FormatShape(actual.Shape)} vs expected {Tensor.FormatShape(expected.Shape)}");
        bool exact = !expected.DType.IsFloatingPoint();
        long n = expected.ElementCount;
        long worst = -1, failures = 0;
        double worstExcess = 0, num = 0, den = 0;
        for (long i = 0; i < n; i++)
        {
            double e = expected.GetDouble(i), a = actual.GetDouble(i);
            bool ok;
            double excess = 0;
            if (double.IsNaN(e) || double.IsNaN(a)) ok = double.IsNaN(e) && double.IsNaN(a);
            else if (double.IsInfinity(e) || double.IsInfinity(a)) ok = e == a;
            else if (exact) ok = e == a;
            else
            {
                double d = Math.Abs(a - e);
                excess = d - (atol + rtol * Math.Abs(e));
                ok = excess <= 0;
                num += d * d;
                den += e * e;
            }
            if (!ok)
            {
                failures++;
                if (worst < 0 || excess > worstExcess || double.IsNaN(excess)) { worst = i; worstExcess = excess; }
            }
        }
        if (failures == 0) return;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{what}: {failures} of {n} elements differ (rtol {rtol}, atol {atol}); shape {expected}; ");
        sb.Append(CultureInfo.InvariantCulture, $"worst at flat index {worst} {Coord(expected.Shape, worst)}: actual {actual.GetDouble(worst):R}, expected {expected.GetDouble(worst):R}; ");
        if (den > 0) sb.Append(CultureInfo.InvariantCulture, $"relative L2 error {Math.Sqrt(num / den):E3}; ");
        sb.Append("first pairs (actual/expected):");
        for (long i = 0; i < Math.Min(n, 6); i++) sb.Append(CultureInfo.InvariantCulture, $" {actual.GetDouble(i):G7}/{expected.GetDouble(i):G7}");
        Assert.Fail(sb.ToString());
    }

    /// <summary>Largest |a − e| / max(|e|) over the tensor: the "relative error" of whole-output checks.</summary>
    public static double MaxRelativeError(Tensor expected, Tensor actual)
    {
        double maxAbs = 0, maxDiff = 0;
        for (long i = 0; i < expected.ElementCount; i++)
        {
            double e = expected.GetDouble(i), a = actual.GetDouble(i);
            maxAbs = Math.Max(maxAbs, Math.Abs(e));
            maxDiff = Math.Max(maxDiff, Math.Abs(a - e));
        }
        return maxAbs == 0 ? maxDiff : maxDiff / maxAbs;
    }

    private static string Coord(IReadOnlyList<int> shape, long flat)
    {
        var c = new long[shape.Count];
        for (int d = shape.Count - 1; d >= 0; d--)
        {
            if (shape[d] == 0) return "[]";
            c[d] = flat % shape[d];
            flat /= shape[d];
        }
        return "[" + string.Join(", ", c) + "]";
    }
}
