using Vgg.Engine;
using Vgg.Engine.IR;

namespace Vgg.Perf.Harness;

/// <summary>A tensor a layer reads or writes: shape (concrete), dtype and whether it is a constant (weights).</summary>
public sealed record TensorArg(int[] Shape, DType DType, bool IsConstant = false)
{
    /// <summary>Number of elements.</summary>
    public long Elements => Tensor.Product(Shape);

    /// <summary>Dense size in bytes (elements · dtype size).</summary>
    public long Bytes => Elements * DType.SizeOf();

    public override string ToString() => Tensor.FormatShape(DType, Shape) + (IsConstant ? "(const)" : "");
}

/// <summary>
/// One layer (plan step or ONNX Runtime node) as the harness sees it: its op, the tensors it reads
/// (null for an absent optional input) and writes. <see cref="Op"/> is null where only the op type
/// name and shapes are known (ONNX Runtime's profile).
/// </summary>
public sealed record BenchLayer(int Index, string Name, string OpType, Op? Op, IReadOnlyList<TensorArg?> Inputs, IReadOnlyList<TensorArg> Outputs, bool IsView = false)
{
    /// <summary>A layer of the graph IR from its node and inferred value types.</summary>
    /// <exception cref="GraphException">A value without a concrete shape (names the node).</exception>
    public static BenchLayer FromNode(int index, Node node, IReadOnlyDictionary<string, ValueInfo> types, ISet<string> constants, bool isView = false)
    {
        TensorArg Arg(string v)
        {
            if (!types.TryGetValue(v, out var t) || t.Shape is null || t.Shape.Any(d => d < 0))
                throw new GraphException(node.Name, $"value '{v}' has no concrete shape; the cost of a layer needs concrete input shapes");
            return new TensorArg(t.Shape, t.DType, constants.Contains(v));
        }
        var ins = node.Inputs.Select(v => v.Length == 0 ? null : Arg(v)).ToArray();
        var outs = node.Outputs.Where(v => v.Length > 0).Select(Arg).ToArray();
        return new BenchLayer(index, node.Name, node.Op.OpType, node.Op, ins, outs, isView);
    }
}

/// <summary>Work of one layer execution: floating-point (or integer) operations and the fewest bytes it must move.</summary>
/// <param name="Flops">Operations; for convolution and matrix products 2 per multiply-add (the usual GFLOP/s convention).</param>
/// <param name="Bytes">Compulsory memory traffic: every input read once (weights included) and every output written once.</param>
/// <param name="WeightBytes">The part of <see cref="Bytes"/> that is constant inputs (weights, biases).</param>
/// <param name="Row">The registry row that produced it (formulas for the report).</param>
public sealed record OpCost(long Flops, long Bytes, long WeightBytes, OpCostRow Row)
{
    /// <summary>Arithmetic intensity, FLOP per byte (0 when no bytes).</summary>
    public double Intensity => Bytes == 0 ? 0 : (double)Flops / Bytes;
}

/// <summary>
/// One registry row: an (op type, variant) and how its work is counted. <see cref="Variant"/> "" is the
/// row for every variant of the op that has no row of its own.
/// </summary>
/// <param name="OpType">Op type as in the IR (<see cref="Op.OpType"/>) or ONNX Runtime's node op name.</param>
/// <param name="Variant">Kernel variant the backend reports (<c>IStepProfiler</c>'s kernel), or "".</param>
/// <param name="FlopFormula">The FLOP count in words and symbols, printed in reports.</param>
/// <param name="ByteFormula">The byte count in words and symbols.</param>
/// <param name="CountFlops">Computes the FLOP count of a layer.</param>
/// <param name="CountBytes">Computes the byte count; null: <see cref="OpCostRegistry.CompulsoryBytes"/>.</param>
public sealed record OpCostRow(string OpType, string Variant, string FlopFormula, string ByteFormula,
    Func<BenchLayer, long> CountFlops, Func<BenchLayer, long>? CountBytes = null);

/// <summary>
/// The FLOP and byte formulas of every op kind, one row per (op type, variant), so that every timing
/// in the harness prints GFLOP/s, GB/s and the share of the machine's ceiling (the llm.c/ggml way).
/// </summary>
/// <remarks>
/// <para>Conventions. Convolution: 2·N·M·(C/group)·kh·kw·oh·ow, where oh×ow is the convolution's own
/// output (before a fused max-pool); a Winograd or FFT kernel is credited with the same direct count, so
/// its GFLOP/s is an effective rate and may exceed the FMA peak. Gemm: 2·M·N·K; MatMul: 2·(output
/// elements)·K. The fused epilogue (bias, ReLU, pool) is not counted in FLOPs (under 0.1 % of a VGG
/// conv's work) but its traffic is in the bytes. Bytes are the compulsory traffic: each input read once,
/// each output written once, at the stored dtype; views move nothing. Element-wise and pooling ops count
/// one operation per window element or output element as each row says.</para>
/// <para>Operation counts are those of torchvision's VGG as counted from torch's own module shapes
/// (Tests/Fixtures/perf/make_vgg_costs.py): VGG-16 at 224×224 is 15 470 264 320 multiply-adds,
/// 30.94 GFLOP.</para>
/// </remarks>
public sealed class OpCostRegistry
{
    private readonly Dictionary<(string, string), OpCostRow> _rows = new();

    /// <summary>The registry with every built-in row (IR ops, ONNX Runtime's fused and layout ops).</summary>
    public static OpCostRegistry Default { get; } = CreateDefault();

    /// <summary>Every row, ordered by op type then variant.</summary>
    public IEnumerable<OpCostRow> Rows => _rows.Values.OrderBy(r => r.OpType, StringComparer.Ordinal).ThenBy(r => r.Variant, StringComparer.Ordinal);

    /// <summary>Adds or replaces the row for (<see cref="OpCostRow.OpType"/>, <see cref="OpCostRow.Variant"/>).</summary>
    public void Register(OpCostRow row) => _rows[(row.OpType, row.Variant)] = row;

    /// <summary>Adds a row for <paramref name="alias"/> (e.g. ONNX Runtime's "FusedConv") counted as <paramref name="opType"/>'s default row.</summary>
    public void RegisterAlias(string alias, string opType)
    {
        var row = _rows[(opType, "")];
        Register(row with { OpType = alias });
    }

    /// <summary>The row for (op type, variant), falling back to the op type's default row; null when the op type is unknown.</summary>
    public OpCostRow? Find(string opType, string? variant = null)
    {
        if (!string.IsNullOrEmpty(variant) && _rows.TryGetValue((opType, variant), out var v)) return v;
        return _rows.TryGetValue((opType, ""), out var d) ? d : null;
    }

    /// <summary>
    /// The work of one execution of <paramref name="layer"/>. An op type without a row is counted as
    /// 0 FLOPs with compulsory bytes (row "?"), so an unknown op never breaks a report.
    /// </summary>
    public OpCost Cost(BenchLayer layer, string? variant = null)
    {
        var row = Find(layer.OpType, variant) ?? Unknown(layer.OpType);
        long flops = layer.IsView ? 0 : row.CountFlops(layer);
        long bytes = layer.IsView ? 0 : (row.CountBytes ?? CompulsoryBytes)(layer);
        long weights = layer.IsView ? 0 : layer.Inputs.Where(i => i is { IsConstant: true }).Sum(i => i!.Bytes);
        return new OpCost(flops, bytes, weights, row);
    }

    /// <summary>Every input (present) read once plus every output written once, in bytes.</summary>
    public static long CompulsoryBytes(BenchLayer l) => l.Inputs.Where(i => i is not null).Sum(i => i!.Bytes) + l.Outputs.Sum(o => o.Bytes);

    private static OpCostRow Unknown(string opType) =>
        new(opType, "?", "not in the registry: 0", "inputs + outputs", _ => 0);

    private static long OutElems(BenchLayer l) => l.Outputs.Count == 0 ? 0 : l.Outputs[0].Elements;
    private static long InElems(BenchLayer l) => l.Inputs.Count == 0 || l.Inputs[0] is null ? 0 : l.Inputs[0]!.Elements;

    /// <summary>2·N·M·(C/g)·kh·kw·oh·ow from W [M, C/g, k...] and the conv's own output size.</summary>
    public static long ConvFlops(BenchLayer l)
    {
        var x = l.Inputs[0] ?? throw new ArgumentException($"{l.Name}: Conv without input X");
        var w = l.Inputs.Count > 1 ? l.Inputs[1] : null;
        if (w is null) throw new ArgumentException($"{l.Name}: Conv without weight W");
        long perOutput = 1;
        for (int i = 1; i < w.Shape.Length; i++) perOutput *= w.Shape[i]; // (C/g)·kh·kw
        long m = w.Shape[0], n = x.Shape[0];
        long spatial;
        if (l.Op is ConvOp { FusedMaxPool: not null } conv)
        {
            var axes = SpatialGeometry.Resolve(l.Name, x.Shape[2..], conv.KernelShape, conv.Strides, conv.Pads, conv.Dilations, conv.AutoPad, false);
            spatial = axes.Aggregate(1L, (a, ax) => a * ax.Output);
        }
        else
        {
            var y = l.Outputs[0].Shape;
            spatial = 1;
            for (int i = 2; i < y.Length; i++) spatial *= y[i];
        }
        return 2 * n * m * perOutput * spatial;
    }

    /// <summary>2·M·N·K for Y [M, N] = op(A) [M, K] · op(B) [K, N]; K = elements(A) / M.</summary>
    public static long GemmFlops(BenchLayer l)
    {
        var a = l.Inputs[0] ?? throw new ArgumentException($"{l.Name}: Gemm without A");
        var y = l.Outputs[0];
        long rows = y.Shape.Length == 2 ? y.Shape[0] : 1;
        long k = rows == 0 ? 0 : a.Elements / rows;
        return 2 * y.Elements * k;
    }

    /// <summary>2·(output elements)·K, K the last axis of A (numpy matmul, 1-D A promoted).</summary>
    public static long MatMulFlops(BenchLayer l)
    {
        var a = l.Inputs[0] ?? throw new ArgumentException($"{l.Name}: MatMul without A");
        long k = a.Shape.Length == 0 ? 1 : a.Shape[^1];
        return 2 * OutElems(l) * k;
    }

    private static long WindowFlops(BenchLayer l, int[]? kernel)
    {
        if (kernel is null) return InElems(l); // shapes only: about one op per input element
        long win = kernel.Aggregate(1L, (a, k) => a * k);
        return OutElems(l) * win;
    }

    private static long AdaptiveFlops(BenchLayer l)
    {
        var x = l.Inputs[0];
        if (l.Op is not AdaptiveAvgPoolOp op || x is null || x.Shape.Length != 4) return InElems(l);
        long nc = (long)x.Shape[0] * x.Shape[1], sum = 0;
        for (int i = 0; i < op.OutputHeight; i++)
        {
            var (h0, h1) = SpatialGeometry.AdaptiveBin(i, x.Shape[2], op.OutputHeight);
            for (int j = 0; j < op.OutputWidth; j++)
            {
                var (w0, w1) = SpatialGeometry.AdaptiveBin(j, x.Shape[3], op.OutputWidth);
                sum += (long)(h1 - h0) * (w1 - w0);
            }
        }
        return nc * sum;
    }

    private static OpCostRegistry CreateDefault()
    {
        var r = new OpCostRegistry();
        const string io = "inputs (weights included) + outputs, each once";
        r.Register(new("Conv", "", "2·N·M·(C/group)·kh·kw·oh·ow (conv output before a fused pool; epilogue not counted)", io, ConvFlops));
        r.Register(new("Gemm", "", "2·M·N·K", io, GemmFlops));
        r.Register(new("MatMul", "", "2·(output elements)·K", io, MatMulFlops));
        r.Register(new("MaxPool", "", "output elements · kh·kw comparisons", io, l => WindowFlops(l, (l.Op as MaxPoolOp)?.KernelShape)));
        r.Register(new("AveragePool", "", "output elements · kh·kw adds", io, l => WindowFlops(l, (l.Op as AveragePoolOp)?.KernelShape)));
        r.Register(new("AdaptiveAvgPool", "", "Σ over output bins of the bin area, times N·C", io, AdaptiveFlops));
        r.Register(new("GlobalAveragePool", "", "input elements", io, InElems));
        r.Register(new("GlobalMaxPool", "", "input elements", io, InElems));
        r.Register(new("ReduceMean", "", "input elements", io, InElems));
        foreach (var u in Enum.GetNames<UnaryKind>())
            r.Register(new(u, "", "output elements", io, OutElems));
        foreach (var b in Enum.GetNames<BinaryKind>())
            r.Register(new(b, "", "output elements", io, OutElems));
        r.Register(new("BatchNormalization", "", "2 · elements (scale and shift after folding)", io, l => 2 * OutElems(l)));
        r.Register(new("Softmax", "", "4 · elements (max, exp, sum, divide)", io, l => 4 * OutElems(l)));
        r.Register(new("LogSoftmax", "", "4 · elements (max, exp, sum, log-subtract)", io, l => 4 * OutElems(l)));
        r.Register(new("Cast", "", "elements", io, OutElems));
        r.Register(new("QuantizeLinear", "", "2 · elements (scale, round)", io, l => 2 * OutElems(l)));
        r.Register(new("DequantizeLinear", "", "2 · elements (subtract, scale)", io, l => 2 * OutElems(l)));
        r.Register(new("Dropout", "", "0 (inference: identity)", io, _ => 0));
        r.Register(new("Concat", "", "0 (a copy)", io, _ => 0));
        foreach (var v in new[] { "Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze" })
            r.Register(new(v, "", "0 (a view)", "0 when executed as a view, else inputs + outputs", _ => 0));
        foreach (var s in new[] { "Shape", "Gather", "Constant", "ConstantOfShape" })
            r.Register(new(s, "", "0 (shape arithmetic)", io, _ => 0));
        // ONNX Runtime's CPU execution provider fuses and re-lays out (profile op names).
        r.RegisterAlias("FusedConv", "Conv");
        r.RegisterAlias("FusedGemm", "Gemm");
        r.RegisterAlias("FusedMatMul", "MatMul");
        r.Register(new("ReorderInput", "", "0 (NCHW → NCHWc layout copy)", io, _ => 0));
        r.Register(new("ReorderOutput", "", "0 (NCHWc → NCHW layout copy)", io, _ => 0));
        return r;
    }
}
