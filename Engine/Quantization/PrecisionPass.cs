using System.Runtime.CompilerServices;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.IR;

namespace Vgg.Engine.Quantization;

/// <summary>
/// The graph pass that turns an (optimized) float32 graph into the graph of a precision: a pure function like
/// the other passes (the input graph and its tensors are not changed; converted weights are new initializers).
/// Run by <see cref="Planning.Planner.Prepare"/> after folding and fusion when <c>PlannerOptions.Precision</c> asks.
/// </summary>
/// <remarks>
/// <para><b>INT8</b> (Engine/Cuda/QUANTIZATION.md): every 2-D convolution with constant float32 weights and every
/// linear layer (Gemm with alpha 1, constant weights, a row-broadcast bias) becomes an INT8 op when the calibration
/// table holds the scales it needs: weights quantized per output channel at this point (int8 codes, KRSC for convs),
/// bias in int32 accumulator units, requantization multipliers s_x·s_w[k]/s_y (or dequantization factors s_x·s_w[k]).
/// INT8 values are NHWC codes named "<i>value</i>.int8". Between INT8 ops, max-pools, adaptive/global average pools
/// and flatten run on codes (scale unchanged). A float value an INT8 op reads is quantized with its own calibrated
/// scale (the network input first); an INT8 value a float op or a graph output reads is dequantized (code · scale)
/// under its original name. A convolution always requantizes; a linear layer dequantizes its accumulators directly to
/// float32 when none of its consumers is an INT8 op (the logits before softmax). The scale of an INT8 op's output is
/// the calibrated scale of the value it writes in this graph (after fusion: the pooled ReLU output of a fused
/// conv+ReLU+pool). Missing scales are one <see cref="CalibrationException"/> naming every missing value.</para>
/// <para><b>FP16</b>: every conv weight is rounded to binary16 (kept float32 for the conv kernels); every linear layer
/// (Gemm with constant B) becomes <see cref="Fp16GemmOp"/> with its weight stored as float16 [N, K]. A weight beyond
/// binary16's range (|w| &gt; 65504) is an error naming it.</para>
/// <para>Applying a pass to its own result changes nothing.</para>
/// </remarks>
public static class PrecisionPass
{
    // FP16-rounded copies of conv weights, by original tensor (so every plan of a model shares one copy and the
    // backends' weight caches hit), and the copies themselves (so the pass recognises its own output).
    private static readonly ConditionalWeakTable<Tensor, Tensor> Fp16Rounded = new();
    private static readonly ConditionalWeakTable<Tensor, object> Fp16RoundedOutputs = new();

    /// <summary>Applies the pass for <paramref name="precision"/>.</summary>
    /// <param name="graph">A float32 graph in topological order (folded and fused for best results).</param>
    /// <param name="precision">Target precision; Fp32 returns the graph unchanged.</param>
    /// <param name="calibration">Activation scales (required for Int8).</param>
    /// <exception cref="CalibrationException">Int8 without a table, or a table without a needed scale (lists the values).</exception>
    /// <exception cref="GraphException">FP16: a weight outside binary16's range (names the node and initializer).</exception>
    public static Graph Apply(Graph graph, Precision precision, CalibrationTable? calibration) => precision switch
    {
        Precision.Fp32 => graph,
        Precision.Fp16 => ToFp16(graph),
        Precision.Int8 => ToInt8(graph, calibration ?? throw MissingTable()),
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "unknown precision"),
    };

    /// <summary>The error for INT8 without a calibration table, saying what to do.</summary>
    public static CalibrationException MissingTable() => new(null,
        "INT8 needs a calibration table (per-tensor activation scales measured on representative inputs); none was given. " +
        "Make one with Calibrator.Calibrate(model, inputs) or `vgg calibrate`, load it with CalibrationTable.Load(path), " +
        "and set SessionOptions.Calibration (CLI: --calibration FILE)");

    // ------------------------------------------------------------------ INT8

    private sealed record Rep(string Name, float Scale, bool NonNegative, bool FourD);

    /// <summary>The INT8 graph (see the class remarks).</summary>
    public static Graph ToInt8(Graph graph, CalibrationTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (graph.Nodes.Any(n => n.Op is ILowPrecisionOp)) return graph;
        var types = ShapeInference.Infer(graph);
        var g = graph.Clone();
        g.Nodes.Clear();
        var names = new HashSet<string>(graph.Initializers.Keys, StringComparer.Ordinal);
        foreach (var i in graph.Inputs) names.Add(i.Name);
        foreach (var n in graph.Nodes) foreach (var o in n.Outputs) names.Add(o);
        string Unique(string baseName)
        {
            var s = baseName;
            for (int k = 1; names.Contains(s); k++) s = $"{baseName}_{k}";
            names.Add(s);
            return s;
        }
        var producer = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes) foreach (var o in n.Outputs) if (o.Length > 0) producer[o] = n;
        var consumers = new Dictionary<string, List<Node>>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes)
            foreach (var i in n.Inputs.Where(i => i.Length > 0).Distinct())
                (consumers.TryGetValue(i, out var l) ? l : consumers[i] = new List<Node>()).Add(n);

        Tensor? Init(string? name, DType dtype, int rank) =>
            name is not null && graph.Initializers.TryGetValue(name, out var t) && t.DType == dtype && t.Rank == rank ? t : null;
        bool IsFloat(string v, int rank) => types.TryGetValue(v, out var vi) && vi.DType == DType.Float32 && vi.Shape?.Length == rank && !graph.Initializers.ContainsKey(v);

        bool IsQConv(Node n) => n.Op is ConvOp c && n.Outputs.Count == 1 && c.KernelShape.Length is 0 or 2
            && (c.FusedMaxPool is null || c.FusedMaxPool.KernelShape.Length == 2)
            && IsFloat(n.Inputs[0], 4) && Init(n.InputOrNull(1), DType.Float32, 4) is not null
            && (n.InputOrNull(2) is null || Init(n.InputOrNull(2), DType.Float32, 1) is not null);
        Tensor? GemmBias(Node n, out bool ok)
        {
            ok = true;
            var cName = n.InputOrNull(2);
            if (cName is null) return null;
            if (!graph.Initializers.TryGetValue(cName, out var c) || c.DType != DType.Float32) { ok = false; return null; }
            var gm = (GemmOp)n.Op;
            var b = Init(n.InputOrNull(1), DType.Float32, 2);
            int outs = b is null ? -1 : gm.TransB ? b.Shape[0] : b.Shape[1];
            ok = c.ElementCount == 1 || (c.Rank == 1 && c.Shape[0] == outs) || (c.Rank == 2 && c.Shape[0] == 1 && c.Shape[1] == outs);
            return c;
        }
        bool IsQGemm(Node n) => n.Op is GemmOp { Alpha: 1f, TransA: false } && n.Outputs.Count == 1
            && IsFloat(n.Inputs[0], 2) && Init(n.InputOrNull(1), DType.Float32, 2) is not null && GemmBias(n, out bool ok) is var _ && ok;
        bool IsQ(Node n) => IsQConv(n) || IsQGemm(n);

        var missing = new List<string>();
        float Need(string value, string node)
        {
            if (table.TryGetScale(value, out var s)) return s;
            missing.Add($"{value} (read or written by node '{node}')");
            return 1f;
        }

        var rep = new Dictionary<string, Rep>(StringComparer.Ordinal);     // value → its int8 codes
        var asFloat = new HashSet<string>(StringComparer.Ordinal);         // values present as float32
        foreach (var i in graph.Inputs) asFloat.Add(i.Name);
        foreach (var k in graph.Initializers.Keys) asFloat.Add(k);

        bool ProducedNonNegative(string v) => producer.TryGetValue(v, out var p) && p.Op switch
        {
            UnaryOp { Kind: UnaryKind.Relu } => true,
            ConvOp c => c.Activation == Activation.Relu,
            GemmOp m => m.Activation == Activation.Relu,
            _ => false,
        };

        Rep Int8Of(string v, string node)
        {
            if (rep.TryGetValue(v, out var r)) return r;
            bool fourD = types[v].Shape?.Length == 4;
            var q = Unique(v + ".int8");
            float s = Need(v, node);
            g.Nodes.Add(new Node(Unique(v + ".quantize"), new QuantizeNhwcOp(s), new[] { v }, new[] { q }));
            return rep[v] = new Rep(q, s, ProducedNonNegative(v), fourD);
        }
        void EnsureFloat(string v)
        {
            if (v.Length == 0 || asFloat.Contains(v) || !rep.TryGetValue(v, out var r)) return;
            g.Nodes.Add(new Node(Unique(v + ".dequantize"), new DequantizeNhwcOp(r.Scale), new[] { r.Name }, new[] { v }));
            asFloat.Add(v);
        }
        string AddInit(string baseName, Tensor t)
        {
            var name = Unique(baseName);
            g.Initializers[name] = t;
            return name;
        }

        foreach (var n in graph.Nodes)
        {
            if (IsQConv(n))
            {
                var c = (ConvOp)n.Op;
                var x = Int8Of(n.Inputs[0], n.Name);
                var v = n.Outputs[0];
                float sy = Need(v, n.Name);
                var w = graph.Initializers[n.Inputs[1]];
                var bias = n.InputOrNull(2) is { } bn ? graph.Initializers[bn].ToFloatArray() : new float[w.Shape[0]];
                var (codes, bq, mult) = ConvWeights(w, bias, x.Scale, sy);
                int m = w.Shape[0], cg = w.Shape[1], kh = w.Shape[2], kw = w.Shape[3];
                var ws = Int8Scheme.WeightScales(w.AsSpan<float>(), m);
                var q = Unique(v + ".int8");
                g.Nodes.Add(new Node(n.Name, new Int8ConvOp(c, x.Scale, sy, x.NonNegative),
                    new[]
                    {
                        x.Name, AddInit(n.Inputs[1] + ".int8_krsc", Tensor.From(codes, m, kh, kw, cg)), AddInit(n.Name + ".bias_int32", Tensor.From(bq, m)),
                        AddInit(n.Name + ".requantize", Tensor.From(mult, m)), AddInit(n.Inputs[1] + ".scale", Tensor.From(ws, m)),
                    },
                    new[] { q }));
                rep[v] = new Rep(q, sy, c.Activation == Activation.Relu, true);
                continue;
            }
            if (IsQGemm(n))
            {
                var gm = (GemmOp)n.Op;
                var x = Int8Of(n.Inputs[0], n.Name);
                var v = n.Outputs[0];
                bool int8Out = consumers.TryGetValue(v, out var cons) && cons.Any(IsQ);
                float sy = int8Out ? Need(v, n.Name) : 1f;
                var w = graph.Initializers[n.Inputs[1]];
                var wf = gm.TransB ? w.ToFloatArray() : Transpose(w.ToFloatArray(), w.Shape[0], w.Shape[1]);
                int o = gm.TransB ? w.Shape[0] : w.Shape[1], k = gm.TransB ? w.Shape[1] : w.Shape[0];
                var cT = GemmBias(n, out _);
                var bias = new float[o];
                if (cT is not null)
                {
                    var cf = cT.ToFloatArray();
                    for (int j = 0; j < o; j++) bias[j] = gm.Beta * cf[cf.Length == 1 ? 0 : j];
                }
                var ws = Int8Scheme.WeightScales(wf, o);
                var codes = Int8Scheme.QuantizeWeights(wf, ws);
                var bq = Int8Scheme.QuantizeBias(bias, x.Scale, ws);
                var epi = int8Out ? Int8Scheme.RequantizeMultipliers(x.Scale, ws, sy) : Int8Scheme.DequantizeFactors(x.Scale, ws);
                var outName = int8Out ? Unique(v + ".int8") : v;
                g.Nodes.Add(new Node(n.Name, new Int8GemmOp(gm.Activation == Activation.Relu, !int8Out, x.Scale, sy, x.NonNegative),
                    new[] { x.Name, AddInit(n.Inputs[1] + ".int8", Tensor.From(codes, o, k)), AddInit(n.Name + ".bias_int32", Tensor.From(bq, o)),
                        AddInit(n.Name + (int8Out ? ".requantize" : ".dequantize"), Tensor.From(epi, o)), AddInit(n.Inputs[1] + ".scale", Tensor.From(ws, o)) },
                    new[] { outName }));
                if (int8Out) rep[v] = new Rep(outName, sy, gm.Activation == Activation.Relu, false);
                else asFloat.Add(v);
                continue;
            }
            var x0 = n.Inputs.Count > 0 ? n.Inputs[0] : "";
            if (x0.Length > 0 && rep.TryGetValue(x0, out var xr) && xr.FourD && n.Outputs.Count >= 1)
            {
                Op? qop = n.Op switch
                {
                    MaxPoolOp p when p.KernelShape.Length == 2 && (n.Outputs.Count == 1 || n.Outputs[1].Length == 0) => new Int8MaxPoolOp(p),
                    AdaptiveAvgPoolOp a => new Int8AdaptiveAvgPoolOp(a.OutputHeight, a.OutputWidth),
                    GlobalAveragePoolOp => new Int8AdaptiveAvgPoolOp(1, 1),
                    FlattenOp { Axis: 1 } => new Int8FlattenOp(),
                    _ => null,
                };
                if (qop is not null)
                {
                    var v = n.Outputs[0];
                    var q = Unique(v + ".int8");
                    g.Nodes.Add(new Node(n.Name, qop, new[] { xr.Name }, new[] { q }));
                    rep[v] = new Rep(q, xr.Scale, xr.NonNegative, qop is not Int8FlattenOp);
                    continue;
                }
            }
            foreach (var i in n.Inputs) EnsureFloat(i);
            g.Nodes.Add(n.Clone());
            foreach (var o in n.Outputs) if (o.Length > 0) asFloat.Add(o);
        }
        foreach (var o in graph.Outputs) EnsureFloat(o.Name);
        if (missing.Count > 0)
            throw new CalibrationException(null,
                $"the calibration table (model '{table.ModelName}', {table.Values.Count} values) lacks the scale of {missing.Count} value(s) that INT8 ops read or write: {string.Join("; ", missing.Take(10))}{(missing.Count > 10 ? "; …" : "")}. " +
                "Was it made for another model? Calibrate this one (Calibrator.Calibrate or `vgg calibrate`)",
                missing.Select(m => m[..m.IndexOf(" (", StringComparison.Ordinal)]).ToList());
        IR.ConstantFolding.RemoveDead(g);
        return g;
    }

    /// <summary>
    /// One conv's weights in the INT8 scheme: OIHW float32 [M, C/g, KH, KW] → KRSC codes [M, KH, KW, C/g] with
    /// per-output-channel scales (<see cref="Int8Scheme.WeightScales"/>), int32 bias (<see cref="Int8Scheme.QuantizeBias"/>)
    /// and requantization multipliers (<see cref="Int8Scheme.RequantizeMultipliers"/>).
    /// </summary>
    public static (sbyte[] Codes, int[] Bias, float[] Multipliers) ConvWeights(Tensor weight, float[] bias, float inputScale, float outputScale)
    {
        int m = weight.Shape[0], cg = weight.Shape[1], kh = weight.Shape[2], kw = weight.Shape[3];
        var w = weight.AsSpan<float>();
        var krsc = new float[w.Length];
        for (int o = 0; o < m; o++)
            for (int c = 0; c < cg; c++)
                for (int r = 0; r < kh; r++)
                    for (int s = 0; s < kw; s++)
                        krsc[((o * kh + r) * kw + s) * cg + c] = w[((o * cg + c) * kh + r) * kw + s];
        var ws = Int8Scheme.WeightScales(krsc, m);
        return (Int8Scheme.QuantizeWeights(krsc, ws), Int8Scheme.QuantizeBias(bias, inputScale, ws), Int8Scheme.RequantizeMultipliers(inputScale, ws, outputScale));
    }

    private static float[] Transpose(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
        return t;
    }

    // ------------------------------------------------------------------ FP16

    /// <summary>The FP16 graph (see the class remarks).</summary>
    public static Graph ToFp16(Graph graph)
    {
        if (graph.Nodes.Any(n => n.Op is ILowPrecisionOp)) return graph;
        var g = graph.Clone();
        for (int i = 0; i < g.Nodes.Count; i++)
        {
            var n = g.Nodes[i];
            if (n.Op is ConvOp && n.InputOrNull(1) is { } wName && graph.Initializers.TryGetValue(wName, out var w) && w.DType == DType.Float32)
            {
                if (Fp16RoundedOutputs.TryGetValue(w, out _)) continue;
                var r = Fp16Rounded.GetValue(w, t => RoundToFp16(t, n.Name, wName));
                var name = wName + ".fp16_rounded";
                for (int k = 1; g.Initializers.TryGetValue(name, out var existing) && !ReferenceEquals(existing, r); k++) name = $"{wName}.fp16_rounded_{k}";
                g.Initializers[name] = r;
                var inputs = n.Inputs.ToList();
                inputs[1] = name;
                g.Nodes[i] = new Node(n.Name, n.Op, inputs, n.Outputs);
            }
            else if (n.Op is GemmOp { TransA: false } gm && n.InputOrNull(1) is { } bName && graph.Initializers.TryGetValue(bName, out var b)
                     && b.DType == DType.Float32 && b.Rank == 2 && !graph.Initializers.ContainsKey(n.Inputs[0])
                     && (n.InputOrNull(2) is null || graph.Initializers.TryGetValue(n.InputOrNull(2)!, out var cT) && cT.DType == DType.Float32 && cT.Rank <= 2))
            {
                var bf = b.ToFloatArray();
                if (!gm.TransB) bf = Transpose(bf, b.Shape[0], b.Shape[1]);
                int rows = gm.TransB ? b.Shape[0] : b.Shape[1], k = gm.TransB ? b.Shape[1] : b.Shape[0];
                var h = new Half[bf.Length];
                for (int j = 0; j < h.Length; j++) h[j] = ToHalfChecked(bf[j], n.Name, bName);
                var name = bName + ".fp16";
                for (int kk = 1; g.Initializers.ContainsKey(name); kk++) name = $"{bName}.fp16_{kk}";
                g.Initializers[name] = Tensor.From(h, rows, k);
                var inputs = n.Inputs.ToList();
                inputs[1] = name;
                g.Nodes[i] = new Node(n.Name, new Fp16GemmOp(gm with { TransB = true }), inputs, n.Outputs);
            }
        }
        IR.ConstantFolding.RemoveDead(g);
        return g;
    }

    private static Tensor RoundToFp16(Tensor w, string node, string name)
    {
        var src = w.AsSpan<float>();
        var r = new Tensor(DType.Float32, w.ShapeArray());
        var dst = r.AsSpan<float>();
        for (int i = 0; i < src.Length; i++) dst[i] = (float)ToHalfChecked(src[i], node, name);
        Fp16RoundedOutputs.AddOrUpdate(r, new object());
        return r;
    }

    /// <summary>float32 → binary16, round to nearest even (.NET's IEEE conversion); a finite value beyond ±65504 is an error.</summary>
    private static Half ToHalfChecked(float v, string node, string initializer)
    {
        var h = (Half)v;
        if (Half.IsInfinity(h) && float.IsFinite(v))
            throw new GraphException(node, $"weight '{initializer}' holds {v}, beyond FP16's range (±65504); run this model in Fp32 or Int8");
        return h;
    }
}
