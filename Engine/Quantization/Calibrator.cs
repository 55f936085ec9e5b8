using System.Numerics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vgg.Engine.Backends;
using Vgg.Engine.Cpu;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.IR;
using Vgg.Engine.Models;
using Vgg.Engine.Planning;

namespace Vgg.Engine.Quantization;

/// <summary>Options of <see cref="Calibrator"/>.</summary>
public sealed record CalibrationOptions
{
    /// <summary>Range rule: max |x| (default, QUANTIZATION.md) or a percentile of |x|.</summary>
    public CalibrationMethod Method { get; init; } = CalibrationMethod.Max;

    /// <summary>The percentile of |x| for <see cref="CalibrationMethod.Percentile"/>, in (0, 100]; 99.99 by default.</summary>
    public double Percentile { get; init; } = 99.99;

    /// <summary>CPU threads; 0 means every core.</summary>
    public int Threads { get; init; }

    /// <summary>Receives the number of samples (images) observed so far after each batch; null for none.</summary>
    public IProgress<int>? Progress { get; init; }

    /// <summary>Where progress messages go; null for none.</summary>
    public ILogger? Logger { get; init; }
}

/// <summary>
/// Measures per-tensor activation ranges of a model by running it in float32 on the CPU backend over calibration
/// inputs, and turns them into a <see cref="CalibrationTable"/> (Engine/Cuda/QUANTIZATION.md: scale = range / 127).
/// </summary>
/// <remarks>
/// <para>Every float32 value a node of the (constant-folded) graph produces is observed, plus the float32 graph inputs,
/// so the table serves any fusion the INT8 plan makes: a fused conv+ReLU+pool writes the pool's output value, whose
/// range is recorded. The observation graph marks those values as graph outputs and runs on the CPU backend's fast
/// float32 kernels (convs unfused: a value that is observed is not fused away); the arena then holds every value of one
/// batch at once (about 110 MB per 224×224 image for VGG-16), so feed batches of a few images.</para>
/// <para>Cost: one float32 inference per image plus a pass over every activation (and, for the percentile method, a
/// histogram update): VGG-16 on 32 images of 224×224 takes on the order of a minute on two cores.</para>
/// <para>Inputs are preprocessed tensors (the model's <see cref="Preprocessing"/>); the Loader's image-folder helper
/// (Vgg.Engine.Loader.Quantization.CalibrationImages) makes them from image files. The set should be representative
/// of what the model will see; a few hundred images is typical; tiny sets give ranges that clip unseen inputs.</para>
/// </remarks>
public static class Calibrator
{
    /// <summary>Calibrates <paramref name="model"/> (single input) on <paramref name="batches"/>.</summary>
    /// <param name="model">The model as loaded (its <see cref="Model.Graph"/> is what the table's hash pins).</param>
    /// <param name="batches">Float32 NCHW batches [N, C, H, W] of preprocessed inputs (any N ≥ 1; sizes may vary between batches).</param>
    /// <param name="options">Method, threads, progress.</param>
    /// <exception cref="CalibrationException">No input at all, a non-finite activation (names the value), or a bad percentile.</exception>
    /// <exception cref="InvalidInputException">A batch that does not fit the model.</exception>
    public static CalibrationTable Calibrate(Model model, IEnumerable<Tensor> batches, CalibrationOptions? options = null) =>
        Calibrate(model.Graph, batches, options);

    /// <summary>Calibrates a single-input graph on <paramref name="batches"/> (see <see cref="Calibrate(Model, IEnumerable{Tensor}, CalibrationOptions?)"/>).</summary>
    public static CalibrationTable Calibrate(Graph graph, IEnumerable<Tensor> batches, CalibrationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var inputs = graph.Inputs.Where(i => !graph.Initializers.ContainsKey(i.Name)).ToList();
        if (inputs.Count != 1)
            throw new InvalidInputException(inputs.Count == 0 ? "(none)" : inputs[0].Name, $"the graph has {inputs.Count} inputs; use the overload that takes inputs by name");
        return Calibrate(graph, batches.Select(b => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor> { [inputs[0].Name] = b }), options);
    }

    /// <summary>Calibrates <paramref name="graph"/> on named input batches.</summary>
    /// <exception cref="CalibrationException">No input at all, a non-finite activation (names the value), or a bad percentile.</exception>
    /// <exception cref="InvalidInputException">A batch that does not fit the model.</exception>
    public static CalibrationTable Calibrate(Graph graph, IEnumerable<IReadOnlyDictionary<string, Tensor>> batches, CalibrationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(batches);
        options ??= new CalibrationOptions();
        if (options.Method == CalibrationMethod.Percentile && !(options.Percentile > 0 && options.Percentile <= 100))
            throw new CalibrationException(null, $"percentile {options.Percentile} must be in (0, 100]");
        var log = options.Logger ?? NullLogger.Instance;
        graph.Validate();
        string hash = CalibrationTable.ComputeModelHash(graph);

        var folded = ConstantFolding.Fold(graph);
        var types = ShapeInference.Infer(folded);
        var observed = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in folded.Nodes)
            foreach (var o in n.Outputs)
                if (o.Length > 0 && types.TryGetValue(o, out var t) && t.DType == DType.Float32 && seen.Add(o)) observed.Add(o);
        var obs = folded.Clone();
        obs.Outputs.Clear();
        foreach (var v in observed) obs.Outputs.Add(types[v]);
        var floatInputs = graph.Inputs.Where(i => !graph.Initializers.ContainsKey(i.Name) && i.DType == DType.Float32).Select(i => i.Name).ToList();

        var stats = new Dictionary<string, ValueStats>(StringComparer.Ordinal);
        foreach (var v in floatInputs.Concat(observed)) stats.TryAdd(v, new ValueStats(options.Method == CalibrationMethod.Percentile));

        using var backend = new CpuBackend(options.Threads);
        var plannerOptions = backend.ConfigurePlanner(new PlannerOptions());
        var prepared = Planner.Prepare(obs, plannerOptions);
        var plans = new Dictionary<string, (IPreparedPlan Plan, IExecutionContext Context)>(StringComparer.Ordinal);
        float[] buffer = Array.Empty<float>();
        int samples = 0, batchIndex = 0;
        try
        {
            foreach (var batch in batches)
            {
                ReferenceCheck(graph, batch);
                var shapes = batch.ToDictionary(p => p.Key, p => p.Value.ShapeArray(), StringComparer.Ordinal);
                string key = string.Join(";", shapes.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + string.Join(",", p.Value)));
                if (!plans.TryGetValue(key, out var pc))
                {
                    ExecutionPlan plan;
                    try
                    {
                        plan = Planner.Plan(prepared, shapes, plannerOptions);
                    }
                    catch (GraphException e)
                    {
                        var first = batch.First();
                        throw new InvalidInputException(first.Key, $"calibration batch {batchIndex} {first.Value} does not fit the model: {e.Message}");
                    }
                    var pp = backend.Prepare(plan);
                    pc = (pp, pp.CreateContext());
                    plans[key] = pc;
                }
                var ctx = pc.Context;
                for (int i = 0; i < ctx.Plan.Inputs.Count; i++) ctx.SetInput(i, batch[ctx.Plan.Inputs[i].Name].Bytes);
                ctx.Execute();
                foreach (var name in floatInputs)
                    if (batch.TryGetValue(name, out var t)) stats[name].Observe(name, t.AsSpan<float>(), batchIndex);
                for (int i = 0; i < ctx.Plan.Outputs.Count; i++)
                {
                    var o = ctx.Plan.Outputs[i];
                    if (buffer.Length < o.ElementCount) buffer = new float[o.ElementCount];
                    var span = buffer.AsSpan(0, (int)o.ElementCount);
                    ctx.GetOutput(i, MemoryMarshal.AsBytes(span));
                    stats[o.Name].Observe(o.Name, span, batchIndex);
                }
                int n = batch.Values.First().Rank > 0 ? batch.Values.First().Shape[0] : 1;
                samples += n;
                batchIndex++;
                options.Progress?.Report(samples);
                log.LogDebug("calibration: {Samples} samples observed", samples);
            }
        }
        finally
        {
            foreach (var (plan, context) in plans.Values)
            {
                context.Dispose();
                plan.Dispose();
            }
        }
        if (samples == 0) throw new CalibrationException(null, "no calibration input was given; calibrate on representative inputs (a few hundred images is typical)");
        var values = new Dictionary<string, ValueRange>(StringComparer.Ordinal);
        foreach (var (name, s) in stats)
        {
            float range = options.Method == CalibrationMethod.Percentile ? s.PercentileAbs(options.Percentile) : s.MaxAbs;
            values[name] = new ValueRange(s.Min, s.Max, s.MaxAbs, range, Int8Scheme.ActivationScale(range));
        }
        log.LogInformation("calibrated '{Graph}' on {Samples} samples: {Values} values ({Method})", graph.Name, samples, values.Count, options.Method);
        return new CalibrationTable(graph.Name, hash, options.Method, options.Percentile, samples, values);
    }

    private static void ReferenceCheck(Graph graph, IReadOnlyDictionary<string, Tensor> batch)
    {
        foreach (var (name, t) in batch)
        {
            var decl = graph.Inputs.FirstOrDefault(i => i.Name == name)
                ?? throw new InvalidInputException(name, $"is not an input of graph '{graph.Name}'");
            if (t.DType != decl.DType) throw new InvalidInputException(name, $"is {t}, expected dtype {decl.DType.Name()}");
        }
    }

    /// <summary>Running min, max, max |x| and (optionally) a histogram of |x| of one value.</summary>
    internal sealed class ValueStats
    {
        /// <summary>Histogram bins over [0, range).</summary>
        public const int Bins = 2048;

        private readonly long[]? _hist;
        private double _range;
        private long _count;

        public ValueStats(bool histogram) => _hist = histogram ? new long[Bins] : null;

        public float Min { get; private set; } = float.PositiveInfinity;
        public float Max { get; private set; } = float.NegativeInfinity;
        public float MaxAbs => Math.Max(Math.Abs(Min), Math.Abs(Max)) is var m && float.IsFinite(m) ? m : 0f;

        /// <summary>Adds every element of <paramref name="x"/>.</summary>
        /// <exception cref="CalibrationException">A NaN or infinite element (names the value and the batch).</exception>
        public void Observe(string name, ReadOnlySpan<float> x, int batch)
        {
            if (x.IsEmpty) return;
            var (lo, hi) = MinMax(x);
            if (!float.IsFinite(lo) || !float.IsFinite(hi))
                throw new CalibrationException(null, $"value '{name}' holds a non-finite element (NaN or ±∞) on calibration batch {batch}; the float32 model itself is not finite on this input");
            Min = Math.Min(Min, lo);
            Max = Math.Max(Max, hi);
            if (_hist is null) return;
            double batchMax = Math.Max(Math.Abs(lo), Math.Abs(hi));
            if (batchMax > 0 && batchMax >= _range)
            {
                if (_range == 0) _range = batchMax * (1 + 1e-6);
                else
                {
                    int f = 1;
                    while (_range * f <= batchMax) f *= 2;
                    var merged = new long[Bins];
                    for (int i = 0; i < Bins; i++) merged[i / f] += _hist[i];
                    Array.Copy(merged, _hist, Bins);
                    _range *= f;
                }
            }
            _count += x.Length;
            if (_range == 0) { _hist[0] += x.Length; return; }
            float k = (float)(Bins / _range);
            foreach (var v in x)
            {
                int b = (int)(MathF.Abs(v) * k);
                _hist[b < Bins ? b : Bins - 1]++;
            }
        }

        /// <summary>The smallest bin upper edge e with at least p% of all elements ≤ e, at most max |x|.</summary>
        public float PercentileAbs(double p)
        {
            if (_hist is null || _count == 0 || _range == 0) return MaxAbs;
            long target = (long)Math.Ceiling(p / 100.0 * _count);
            long cum = 0;
            for (int i = 0; i < Bins; i++)
            {
                cum += _hist[i];
                if (cum >= target) return (float)Math.Min((i + 1) * _range / Bins, MaxAbs);
            }
            return MaxAbs;
        }

        private static (float Min, float Max) MinMax(ReadOnlySpan<float> x)
        {
            int i = 0;
            float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
            bool nan = false;
            if (Vector.IsHardwareAccelerated && x.Length >= Vector<float>.Count)
            {
                var vlo = new Vector<float>(float.PositiveInfinity);
                var vhi = new Vector<float>(float.NegativeInfinity);
                var bad = Vector<int>.Zero;
                var vs = MemoryMarshal.Cast<float, Vector<float>>(x);
                foreach (var v in vs)
                {
                    vlo = Vector.Min(vlo, v);
                    vhi = Vector.Max(vhi, v);
                    bad |= ~Vector.Equals(v, v);
                }
                i = vs.Length * Vector<float>.Count;
                nan = bad != Vector<int>.Zero;
                for (int j = 0; j < Vector<float>.Count; j++)
                {
                    lo = Math.Min(lo, vlo[j]);
                    hi = Math.Max(hi, vhi[j]);
                }
            }
            for (; i < x.Length; i++)
            {
                float v = x[i];
                if (float.IsNaN(v)) nan = true;
                lo = Math.Min(lo, v);
                hi = Math.Max(hi, v);
            }
            return nan ? (float.NaN, float.NaN) : (lo, hi);
        }
    }
}
