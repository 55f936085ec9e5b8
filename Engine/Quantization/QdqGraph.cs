using Vgg.Engine.IR;
using Vgg.Engine.Planning;

namespace Vgg.Engine.Quantization;

/// <summary>
/// The QDQ form of an INT8 plan, in standard ONNX operators only (for <c>vgg export --onnx</c> of an INT8 model, so
/// ONNX Runtime and other tools run it): every int8 tensor of the plan is an int8 NCHW value made by QuantizeLinear
/// (per-tensor scale, zero point int8 0) and read through DequantizeLinear; conv and linear weights are int8
/// initializers (OIHW / [out, in]) with DequantizeLinear per output channel (axis 0, zero points 0); biases are int32
/// in accumulator units with DequantizeLinear of scale s_x·s_w[k] (axis 0) — the pattern ONNX Runtime fuses into
/// QLinearConv / QGemm-style kernels. The graph is written by <c>OnnxExporter</c> like any other.
/// </summary>
/// <remarks>
/// <para>Mapping from the INT8 plan (<see cref="PrecisionPass.ToInt8"/>): QuantizeNhwc(s) → QuantizeLinear(s);
/// Int8Conv → DQ(x) · DQ(W) + DQ(b) → Conv → [Relu] → Q(s_y) and, with a fused pool, → DQ → MaxPool → Q(s_y) (max-pool
/// commutes with the monotonic quantization, so this is the plan's pool on codes); Int8MaxPool / Int8AdaptiveAvgPool →
/// DQ → pool → Q(same scale); Int8Flatten → Flatten of the int8 NCHW tensor; Int8Linear → DQ(x) · DQ(W)ᵀ + DQ(b) → Gemm →
/// [Relu] → Q(s_y), or the float output directly when the plan dequantizes; DequantizeNhwc → DequantizeLinear.</para>
/// <para>Numerics: the same codes, weights, biases and scales as the INT8 plan, but a QDQ runtime computes the
/// requantization as round(y / s_y) of a float y (ONNX Runtime's fused kernels: float32(acc)·float32(s_x·s_w/s_y) with
/// the multiplier rounded in float32, not computed in float64 as Engine/Cuda/QUANTIZATION.md does) and the average pool
/// as a float mean: codes may differ by one where a value lands within rounding of a .5 boundary, and such differences
/// propagate. Expect close, not bit-identical, results (the tests state the tolerance).</para>
/// </remarks>
public static class QdqGraph
{
    /// <summary>The QDQ graph of <paramref name="model"/> in INT8 with <paramref name="calibration"/> (prepared with the default planner options, as the CPU backend fuses).</summary>
    /// <exception cref="CalibrationException">The table does not fit the model.</exception>
    public static Graph Build(Graph model, CalibrationTable calibration)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        calibration.CheckModel(model);
        return FromInt8Graph(Planner.Prepare(model, new PlannerOptions { Precision = Precision.Int8, Calibration = calibration }));
    }

    /// <summary>The QDQ graph of an INT8 graph (<see cref="PrecisionPass.ToInt8"/>'s output, e.g. a session's OptimizedGraph).</summary>
    /// <exception cref="ArgumentException">An INT8 op without its weight-scale input (made by an older pass).</exception>
    public static Graph FromInt8Graph(Graph int8)
    {
        var g = new Graph { Name = int8.Name, Opset = int8.Opset };
        g.Inputs.AddRange(int8.Inputs);
        g.Outputs.AddRange(int8.Outputs);
        foreach (var (k, v) in int8.Initializers)
            if (int8.Nodes.Any(n => n.Op is not ILowPrecisionOp && n.Inputs.Contains(k))) g.Initializers[k] = v;
        var names = new HashSet<string>(int8.Initializers.Keys, StringComparer.Ordinal);
        foreach (var n in int8.Nodes) foreach (var o in n.Outputs) names.Add(o);
        foreach (var i in int8.Inputs) names.Add(i.Name);
        string Unique(string b)
        {
            var s = b;
            for (int k = 1; names.Contains(s); k++) s = $"{b}_{k}";
            names.Add(s);
            return s;
        }
        var zeroPoint = new Dictionary<string, string>(StringComparer.Ordinal);
        var scaleOf = new Dictionary<string, string>(StringComparer.Ordinal); // scalar scale initializers by value
        string Scalar(float s)
        {
            string key = BitConverter.SingleToInt32Bits(s).ToString("X8");
            if (scaleOf.TryGetValue(key, out var n)) return n;
            n = Unique($"scale_{key}");
            g.Initializers[n] = Tensor.FromSpan<float>(new[] { s }, Array.Empty<int>());
            return scaleOf[key] = n;
        }
        string Zero8()
        {
            if (zeroPoint.TryGetValue("i8", out var n)) return n;
            n = Unique("zero_point_int8");
            g.Initializers[n] = Tensor.FromSpan<sbyte>(new sbyte[] { 0 }, Array.Empty<int>());
            return zeroPoint["i8"] = n;
        }
        string Q(string origin, string x, float s, string y)
        {
            g.Nodes.Add(new Node(Unique(origin + "/quantize"), new QuantizeLinearOp(), new[] { x, Scalar(s), Zero8() }, new[] { y }));
            return y;
        }
        string Dq(string origin, string q, float s)
        {
            var y = Unique(q + ".dq");
            g.Nodes.Add(new Node(Unique(origin + "/dequantize"), new DequantizeLinearOp(), new[] { q, Scalar(s), Zero8() }, new[] { y }));
            return y;
        }
        // per-output-channel weight: int8 codes with DequantizeLinear(axis 0); bias int32 with scale s_x·s_w
        string DqWeight(string origin, string codesName, Tensor codes, Tensor scales)
        {
            int m = codes.Shape[0];
            var wq = Unique(codesName);
            g.Initializers[wq] = codes;
            var sn = Unique(codesName + ".scale");
            g.Initializers[sn] = scales;
            var zn = Unique(codesName + ".zero_point");
            g.Initializers[zn] = new Tensor(DType.Int8, new[] { m });
            var y = Unique(codesName + ".dq");
            g.Nodes.Add(new Node(Unique(origin + "/dequantize_weight"), new DequantizeLinearOp(0), new[] { wq, sn, zn }, new[] { y }));
            return y;
        }
        string DqBias(string origin, Tensor bias, float inputScale, Tensor weightScales)
        {
            int m = bias.Shape[0];
            var bn = Unique(origin + ".bias_int32");
            g.Initializers[bn] = bias;
            var ws = weightScales.AsSpan<float>();
            var s = new float[m];
            for (int k = 0; k < m; k++) s[k] = (float)((double)inputScale * ws[k]);
            var sn = Unique(origin + ".bias_scale");
            g.Initializers[sn] = Tensor.From(s, m);
            var zn = Unique(origin + ".bias_zero_point");
            g.Initializers[zn] = new Tensor(DType.Int32, new[] { m });
            var y = Unique(origin + ".bias.dq");
            g.Nodes.Add(new Node(Unique(origin + "/dequantize_bias"), new DequantizeLinearOp(0), new[] { bn, sn, zn }, new[] { y }));
            return y;
        }
        Tensor WeightScales(Node n)
        {
            if (n.Inputs.Count < 5 || !int8.Initializers.TryGetValue(n.Inputs[4], out var s))
                throw new ArgumentException($"node '{n.Name}' ({n.Op.OpType}) has no weight-scale input; rebuild the INT8 graph with this engine's PrecisionPass");
            return s;
        }

        var scale = new Dictionary<string, float>(StringComparer.Ordinal); // int8 value → its scale
        foreach (var n in int8.Nodes)
        {
            switch (n.Op)
            {
                case QuantizeNhwcOp q:
                    Q(n.Name, n.Inputs[0], q.Scale, n.Outputs[0]);
                    scale[n.Outputs[0]] = q.Scale;
                    break;
                case DequantizeNhwcOp d:
                    g.Nodes.Add(new Node(n.Name, new DequantizeLinearOp(), new[] { n.Inputs[0], Scalar(d.Scale), Zero8() }, new[] { n.Outputs[0] }));
                    break;
                case Int8ConvOp c:
                {
                    var x = Dq(n.Name, n.Inputs[0], c.InputScale);
                    var krsc = int8.Initializers[n.Inputs[1]];
                    var ws = WeightScales(n);
                    var w = DqWeight(n.Name, n.Inputs[1].Replace(".int8_krsc", "", StringComparison.Ordinal) + ".int8", KrscToOihw(krsc), ws);
                    var b = DqBias(n.Name, int8.Initializers[n.Inputs[2]], c.InputScale, ws);
                    var conv = Unique(n.Outputs[0] + ".conv");
                    g.Nodes.Add(new Node(n.Name, c.Conv with { Activation = Activation.None, FusedMaxPool = null }, new[] { x, w, b }, new[] { conv }));
                    var cur = conv;
                    if (c.Relu)
                    {
                        var r = Unique(n.Outputs[0] + ".relu");
                        g.Nodes.Add(new Node(Unique(n.Name + "/relu"), new UnaryOp(UnaryKind.Relu), new[] { cur }, new[] { r }));
                        cur = r;
                    }
                    if (c.Conv.FusedMaxPool is { } p)
                    {
                        var pre = Q(n.Name, cur, c.OutputScale, Unique(n.Outputs[0] + ".prepool"));
                        var pd = Dq(n.Name, pre, c.OutputScale);
                        cur = Unique(n.Outputs[0] + ".pool");
                        g.Nodes.Add(new Node(Unique(n.Name + "/pool"), p, new[] { pd }, new[] { cur }));
                    }
                    Q(n.Name, cur, c.OutputScale, n.Outputs[0]);
                    scale[n.Outputs[0]] = c.OutputScale;
                    break;
                }
                case Int8GemmOp m:
                {
                    var x = Dq(n.Name, n.Inputs[0], m.InputScale);
                    var ws = WeightScales(n);
                    var w = DqWeight(n.Name, n.Inputs[1], int8.Initializers[n.Inputs[1]], ws);
                    var b = DqBias(n.Name, int8.Initializers[n.Inputs[2]], m.InputScale, ws);
                    string y = m.DequantizeOutput && !m.Relu ? n.Outputs[0] : Unique(n.Outputs[0] + ".gemm");
                    g.Nodes.Add(new Node(n.Name, GemmOp.Linear(), new[] { x, w, b }, new[] { y }));
                    if (m.Relu)
                    {
                        var r = m.DequantizeOutput ? n.Outputs[0] : Unique(n.Outputs[0] + ".relu");
                        g.Nodes.Add(new Node(Unique(n.Name + "/relu"), new UnaryOp(UnaryKind.Relu), new[] { y }, new[] { r }));
                        y = r;
                    }
                    if (!m.DequantizeOutput)
                    {
                        Q(n.Name, y, m.OutputScale, n.Outputs[0]);
                        scale[n.Outputs[0]] = m.OutputScale;
                    }
                    break;
                }
                case Int8MaxPoolOp p:
                {
                    float s = scale[n.Inputs[0]];
                    var pooled = Unique(n.Outputs[0] + ".pool");
                    g.Nodes.Add(new Node(n.Name, p.Pool, new[] { Dq(n.Name, n.Inputs[0], s) }, new[] { pooled }));
                    Q(n.Name, pooled, s, n.Outputs[0]);
                    scale[n.Outputs[0]] = s;
                    break;
                }
                case Int8AdaptiveAvgPoolOp a:
                {
                    float s = scale[n.Inputs[0]];
                    var pooled = Unique(n.Outputs[0] + ".pool");
                    g.Nodes.Add(new Node(n.Name, new AdaptiveAvgPoolOp(a.OutputHeight, a.OutputWidth), new[] { Dq(n.Name, n.Inputs[0], s) }, new[] { pooled }));
                    Q(n.Name, pooled, s, n.Outputs[0]);
                    scale[n.Outputs[0]] = s;
                    break;
                }
                case Int8FlattenOp:
                    g.Nodes.Add(new Node(n.Name, new FlattenOp(1), new[] { n.Inputs[0] }, new[] { n.Outputs[0] }));
                    scale[n.Outputs[0]] = scale[n.Inputs[0]];
                    break;
                case ILowPrecisionOp:
                    throw new ArgumentException($"node '{n.Name}' ({n.Op.OpType}) has no QDQ form (FP16 graphs export in float32)");
                default:
                    g.Nodes.Add(n.Clone());
                    break;
            }
        }
        return g;
    }

    /// <summary>KRSC [M, KH, KW, C] codes → OIHW [M, C, KH, KW].</summary>
    private static Tensor KrscToOihw(Tensor krsc)
    {
        int m = krsc.Shape[0], kh = krsc.Shape[1], kw = krsc.Shape[2], c = krsc.Shape[3];
        var src = krsc.AsSpan<sbyte>();
        var dst = new sbyte[src.Length];
        for (int o = 0; o < m; o++)
            for (int r = 0; r < kh; r++)
                for (int s = 0; s < kw; s++)
                    for (int ch = 0; ch < c; ch++)
                        dst[((o * c + ch) * kh + r) * kw + s] = src[((o * kh + r) * kw + s) * c + ch];
        return Tensor.From(dst, m, c, kh, kw);
    }
}
