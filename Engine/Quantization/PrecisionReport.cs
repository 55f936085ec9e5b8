using System.Globalization;
using Vgg.Engine.Models;
using Vgg.Engine.Runtime;

namespace Vgg.Engine.Quantization;

/// <summary>
/// How a reduced-precision model's outputs compare with the float32 model's on the same inputs (first output,
/// read as [N, classes] scores: logits, probabilities or log-probabilities, whatever the model returns).
/// </summary>
/// <param name="Samples">Rows (images) compared.</param>
/// <param name="Top1Agreements">Rows whose arg-max class is the same in both.</param>
/// <param name="MaxRelativeError">Largest per-row relative error, where a row's error is max_i |c_i − r_i| / max_i |r_i| (r: float32, c: candidate).</param>
/// <param name="MeanRelativeError">Mean of the per-row relative errors.</param>
/// <param name="MaxAbsoluteError">Largest |c_i − r_i| over all rows and classes.</param>
public sealed record PrecisionComparison(int Samples, int Top1Agreements, double MaxRelativeError, double MeanRelativeError, double MaxAbsoluteError)
{
    /// <summary>Top1Agreements / Samples (1 when there are no samples).</summary>
    public double Top1Agreement => Samples == 0 ? 1 : (double)Top1Agreements / Samples;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Samples} samples: top-1 agreement {Top1Agreements}/{Samples} ({Top1Agreement:P1}), relative error max {MaxRelativeError:E3} mean {MeanRelativeError:E3}, absolute max {MaxAbsoluteError:E3}");
}

/// <summary>
/// Accuracy of a reduced precision against float32: runs a float32 session and a candidate session (Fp16 or Int8) of the
/// same model on the same inputs and compares their first outputs row by row (<see cref="PrecisionComparison"/>). Used by
/// the tests and by <c>vgg bench</c>/the CLI to report what a precision costs.
/// </summary>
public static class PrecisionReport
{
    /// <summary>Compares <paramref name="candidate"/> against <paramref name="reference"/> on every batch.</summary>
    /// <param name="reference">The float32 session.</param>
    /// <param name="candidate">The reduced-precision session of the same model.</param>
    /// <param name="batches">NCHW float32 batches (single-input models).</param>
    /// <exception cref="ArgumentException">Outputs whose shapes differ, or an output that is not 2-D.</exception>
    public static PrecisionComparison Compare(Session reference, Session candidate, IEnumerable<Tensor> batches)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(candidate);
        var acc = new Accumulator();
        foreach (var b in batches) acc.Add(reference.Run(b), candidate.Run(b));
        return acc.Result();
    }

    /// <summary>
    /// Builds a float32 CPU session and a <paramref name="precision"/> CPU session of <paramref name="model"/> and compares
    /// them on <paramref name="batches"/>.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="precision">Fp16 or Int8.</param>
    /// <param name="calibration">The table for Int8 (made on other inputs than <paramref name="batches"/> for an honest figure).</param>
    /// <param name="batches">NCHW float32 batches.</param>
    /// <param name="options">Base session options (backend, threads); Precision and Calibration are set here.</param>
    /// <exception cref="CalibrationException">Int8 without a usable table.</exception>
    public static PrecisionComparison Compare(Model model, Precision precision, CalibrationTable? calibration, IEnumerable<Tensor> batches, SessionOptions? options = null)
    {
        options ??= new SessionOptions();
        using var fp32 = new Session(model, options with { Precision = Precision.Fp32, Calibration = null });
        using var low = new Session(model, options with { Precision = precision, Calibration = calibration });
        return Compare(fp32, low, batches);
    }

    /// <summary>Compares two [N, classes] outputs (float32 reference first).</summary>
    /// <exception cref="ArgumentException">Shapes differ or are not 2-D.</exception>
    public static PrecisionComparison Compare(Tensor reference, Tensor candidate)
    {
        var acc = new Accumulator();
        acc.Add(reference, candidate);
        return acc.Result();
    }

    private sealed class Accumulator
    {
        private int _rows, _agree;
        private double _maxRel, _sumRel, _maxAbs;

        public void Add(Tensor r, Tensor c)
        {
            if (r.Rank != 2 || !r.Shape.SequenceEqual(c.Shape))
                throw new ArgumentException($"outputs {r} and {c}: expected two [N, classes] tensors of one shape");
            var rf = r.ToFloatArray();
            var cf = c.ToFloatArray();
            int n = r.Shape[0], k = r.Shape[1];
            for (int i = 0; i < n; i++)
            {
                double maxRef = 0, maxDiff = 0;
                int ar = 0, ac = 0;
                for (int j = 0; j < k; j++)
                {
                    float a = rf[i * k + j], b = cf[i * k + j];
                    maxRef = Math.Max(maxRef, Math.Abs(a));
                    maxDiff = Math.Max(maxDiff, Math.Abs((double)b - a));
                    if (a > rf[i * k + ar]) ar = j;
                    if (b > cf[i * k + ac]) ac = j;
                }
                double rel = maxRef == 0 ? maxDiff : maxDiff / maxRef;
                _rows++;
                if (ar == ac) _agree++;
                _maxRel = Math.Max(_maxRel, rel);
                _sumRel += rel;
                _maxAbs = Math.Max(_maxAbs, maxDiff);
            }
        }

        public PrecisionComparison Result() => new(_rows, _agree, _maxRel, _rows == 0 ? 0 : _sumRel / _rows, _maxAbs);
    }
}
