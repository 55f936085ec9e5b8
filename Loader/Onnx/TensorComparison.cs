using System.Globalization;

namespace Vgg.Engine.Loader.Onnx;

/// <summary>
/// The result of comparing an actual tensor with an expected one: elementwise
/// |actual − expected| ≤ atol + rtol·|expected| for floating-point tensors (numpy <c>assert_allclose</c>,
/// NaN equal to NaN, infinities equal when of the same sign), exact equality for integer and bool tensors.
/// </summary>
public sealed record TensorComparison
{
    /// <summary>True when dtype and shape match and every element is within tolerance.</summary>
    public bool Passed { get; init; }

    /// <summary>One line: what differed, how many elements, the worst index and values; "ok" text when passed.</summary>
    public string Summary { get; init; } = "";

    /// <summary>Elements outside tolerance (0 when shapes or dtypes differ).</summary>
    public long Mismatches { get; init; }

    /// <summary>Flat (row-major) index of the element with the largest |actual − expected| / (atol + rtol·|expected|), or −1.</summary>
    public long WorstIndex { get; init; } = -1;

    /// <summary>Expected and actual value at <see cref="WorstIndex"/> (as doubles).</summary>
    public double WorstExpected { get; init; }

    /// <inheritdoc cref="WorstExpected"/>
    public double WorstActual { get; init; }

    /// <summary>Largest |actual − expected| / max(|expected|, tiny) over the tensor (floating point only).</summary>
    public double MaxRelativeError { get; init; }

    /// <summary>Compares <paramref name="actual"/> with <paramref name="expected"/>; see the type's summary for the rule.</summary>
    public static TensorComparison Compare(Tensor expected, Tensor actual, double rtol, double atol)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        if (expected.DType != actual.DType)
            return new TensorComparison { Summary = $"dtype {actual.DType.Name()}, expected {expected.DType.Name()}" };
        if (!expected.Shape.SequenceEqual(actual.Shape))
            return new TensorComparison { Summary = $"shape {Tensor.FormatShape(actual.Shape)}, expected {Tensor.FormatShape(expected.Shape)}" };
        bool exact = !expected.DType.IsFloatingPoint();
        long n = expected.ElementCount, bad = 0, worst = -1;
        double worstScore = -1, maxRel = 0;
        for (long i = 0; i < n; i++)
        {
            double e = expected.GetDouble(i), a = actual.GetDouble(i);
            double score;
            if (exact)
            {
                bool eq = expected.DType is DType.Int64 or DType.UInt64 ? expected.GetInt64(i) == actual.GetInt64(i) : e == a;
                score = eq ? 0 : double.PositiveInfinity;
            }
            else if (double.IsNaN(e) || double.IsNaN(a)) score = double.IsNaN(e) && double.IsNaN(a) ? 0 : double.PositiveInfinity;
            else if (double.IsInfinity(e) || double.IsInfinity(a)) score = e == a ? 0 : double.PositiveInfinity;
            else
            {
                double diff = Math.Abs(a - e), allowed = atol + rtol * Math.Abs(e);
                score = allowed > 0 ? diff / allowed : (diff == 0 ? 0 : double.PositiveInfinity);
                maxRel = Math.Max(maxRel, diff / Math.Max(Math.Abs(e), 1e-30));
            }
            if (score > 1) bad++;
            if (score > worstScore) { worstScore = score; worst = i; }
        }
        double we = worst >= 0 ? expected.GetDouble(worst) : 0, wa = worst >= 0 ? actual.GetDouble(worst) : 0;
        string rule = exact ? "exact" : $"|a−e| ≤ {atol.ToString("G3", CultureInfo.InvariantCulture)} + {rtol.ToString("G3", CultureInfo.InvariantCulture)}·|e|";
        string where = worst >= 0 ? $"worst at {Index(expected.Shape, worst)}: expected {Fmt(we)}, actual {Fmt(wa)}" : "empty tensor";
        return new TensorComparison
        {
            Passed = bad == 0,
            Mismatches = bad,
            WorstIndex = worst,
            WorstExpected = we,
            WorstActual = wa,
            MaxRelativeError = maxRel,
            Summary = bad == 0
                ? $"{Tensor.FormatShape(expected.DType, expected.Shape)} within {rule} (max rel. error {maxRel.ToString("G3", CultureInfo.InvariantCulture)}; {where})"
                : $"{bad} of {n} elements of {Tensor.FormatShape(expected.DType, expected.Shape)} outside {rule}; {where}",
        };
    }

    /// <summary>"[1, 2, 3] (flat 27)" for a flat index into <paramref name="shape"/>.</summary>
    public static string Index(IReadOnlyList<int> shape, long flat)
    {
        var idx = new long[shape.Count];
        long r = flat;
        for (int d = shape.Count - 1; d >= 0; d--)
        {
            if (shape[d] > 0) { idx[d] = r % shape[d]; r /= shape[d]; }
        }
        return $"[{string.Join(", ", idx)}] (flat {flat})";
    }

    private static string Fmt(double v) => v.ToString("G9", CultureInfo.InvariantCulture);
}
