using Vgg.Engine.Cpu.Reference;

namespace Vgg.Engine.IR;

/// <summary>
/// Output dtypes and shapes of every node from its input types and, where an operator needs them,
/// constant input values (Reshape's shape, ReduceMean/Unsqueeze/Squeeze axes inputs, ConstantOfShape's
/// shape, Gather indices). Follows the ONNX operator specification (https://onnx.ai/onnx/operators/)
/// for each op record in <see cref="Op"/>. Dynamic dimensions (−1) propagate; a null shape is an
/// unknown rank.
/// </summary>
/// <remarks>
/// Small constant values are propagated while inferring (ONNX's "data propagation"): a node whose
/// inputs are all constants and whose output is small (shape arithmetic: Shape, Gather, Unsqueeze,
/// Concat, Cast, ...) is evaluated with <see cref="ReferenceOps"/>, and Shape of a fully known shape is a
/// constant, so Shape→Gather→Unsqueeze→Concat→Reshape chains resolve whenever the input shape is known.
/// Nothing in the graph is changed; <see cref="ConstantFolding"/> does that.
/// </remarks>
public static class ShapeInference
{
    /// <summary>Largest output (elements) that inference evaluates to propagate a constant value.</summary>
    public const int MaxPropagatedElements = 4096;

    /// <summary>
    /// Most elements one tensor (and so one dimension) may have: 2^31 − 1. Dimensions are <see cref="int"/>,
    /// host tensors hold at most <see cref="Array.MaxLength"/> bytes, the CPU kernels index with spans and the CUDA
    /// kernels with 32-bit element offsets. A node whose output would be larger fails shape inference with a
    /// <see cref="GraphException"/> naming the node instead of overflowing later.
    /// </summary>
    public const long MaxTensorElements = int.MaxValue;

    /// <summary>
    /// Infers the type of every value in <paramref name="graph"/>: graph inputs (declared shapes, or
    /// <paramref name="inputShapes"/> where given), initializers and every node output.
    /// </summary>
    /// <param name="graph">A graph whose nodes are in topological order.</param>
    /// <param name="inputShapes">Concrete shapes for some graph inputs (e.g. NCHW of this batch); each must
    /// have the declared rank and agree with every declared fixed dimension.</param>
    /// <returns>Value name → type (dtype, shape with −1 for dynamic dimensions).</returns>
    /// <exception cref="GraphException">An undefined value, or shapes that do not agree (names the node and values).</exception>
    /// <exception cref="InvalidInputException">An input shape that contradicts the declared one.</exception>
    public static Dictionary<string, ValueInfo> Infer(Graph graph, IReadOnlyDictionary<string, int[]>? inputShapes = null) =>
        InferWithConstants(graph, inputShapes, out _);

    /// <summary>
    /// As <see cref="Infer"/>, and also returns the constant values known after propagation (initializers,
    /// Constant outputs, and small values computed from them or from known shapes).
    /// </summary>
    public static Dictionary<string, ValueInfo> InferWithConstants(Graph graph, IReadOnlyDictionary<string, int[]>? inputShapes, out Dictionary<string, Tensor> constants)
    {
        var types = new Dictionary<string, ValueInfo>(StringComparer.Ordinal);
        constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in graph.Initializers)
        {
            types[name] = new ValueInfo(name, t.DType, t.ShapeArray());
            constants[name] = t;
        }
        foreach (var input in graph.Inputs)
        {
            // ONNX IR < 4 lists weights as graph inputs too; the initializer is then the value.
            if (graph.Initializers.ContainsKey(input.Name)) continue;
            int[]? shape = input.Shape;
            if (inputShapes is not null && inputShapes.TryGetValue(input.Name, out var given))
            {
                CheckGivenShape(input, given);
                shape = given.ToArray();
            }
            types[input.Name] = input with { Shape = shape };
        }

        foreach (var node in graph.Nodes)
        {
            var ins = new ValueInfo?[node.Inputs.Count];
            var cons = new Tensor?[node.Inputs.Count];
            for (int i = 0; i < node.Inputs.Count; i++)
            {
                var name = node.Inputs[i];
                if (name.Length == 0) continue;
                if (!types.TryGetValue(name, out var vi))
                    throw new GraphException(node.Name, $"input '{name}' is not defined by an earlier node, a graph input or an initializer");
                ins[i] = vi;
                constants.TryGetValue(name, out cons[i]);
            }
            var outs = InferNode(node, ins, cons, graph.Opset);
            for (int i = 0; i < node.Outputs.Count && i < outs.Length; i++)
                if (node.Outputs[i].Length > 0) types[node.Outputs[i]] = outs[i];

            Propagate(node, ins, cons, outs, constants, graph.Opset);
        }
        return types;
    }

    private static void Propagate(Node node, ValueInfo?[] ins, Tensor?[] cons, ValueInfo[] outs, Dictionary<string, Tensor> constants, int opset)
    {
        if (node.Op is ConstantOp c)
        {
            if (node.Outputs.Count > 0) constants[node.Outputs[0]] = c.Value;
            return;
        }
        if (node.Op is ShapeOp && ins.Length > 0 && ins[0]?.Shape is { } s && s.All(d => d >= 0))
        {
            constants[node.Outputs[0]] = ReferenceOps.ShapeOf(s, (ShapeOp)node.Op);
            return;
        }
        for (int i = 0; i < node.Inputs.Count; i++)
            if (node.Inputs[i].Length > 0 && cons[i] is null) return;
        foreach (var o in outs)
            if (o.Shape is null || o.Shape.Any(d => d < 0) || Tensor.Product(o.Shape) > MaxPropagatedElements) return;
        if (node.Outputs.Count == 0) return;
        Tensor[] values;
        try
        {
            values = ReferenceOps.Evaluate(node, cons, opset);
        }
        catch (UnsupportedOperatorException)
        {
            return; // not evaluable here; execution will report it
        }
        for (int i = 0; i < values.Length && i < node.Outputs.Count; i++)
            if (node.Outputs[i].Length > 0) constants[node.Outputs[i]] = values[i];
    }

    private static void CheckGivenShape(ValueInfo declared, int[] given)
    {
        if (given.Any(d => d < 0))
            throw new InvalidInputException(declared.Name, $"shape {Tensor.FormatShape(given)} has a negative dimension");
        if (declared.Shape is null) return;
        if (declared.Shape.Length != given.Length)
            throw new InvalidInputException(declared.Name, $"expected rank {declared.Shape.Length} {Tensor.FormatShape(declared.DType, declared.Shape)}, got shape {Tensor.FormatShape(given)}");
        for (int i = 0; i < given.Length; i++)
            if (declared.Shape[i] >= 0 && declared.Shape[i] != given[i])
                throw new InvalidInputException(declared.Name, $"dimension {i} is {given[i]}, expected {declared.Shape[i]} (shape {Tensor.FormatShape(declared.DType, declared.Shape)}, ? = any)");
    }

    /// <summary>
    /// Types of one node's outputs.
    /// </summary>
    /// <param name="node">The node.</param>
    /// <param name="inputs">Type of each input in node order (null for an absent optional input).</param>
    /// <param name="constants">Value of each input when it is constant, else null (same length as <paramref name="inputs"/>).</param>
    /// <param name="opset">Default-domain opset, for messages.</param>
    /// <returns>One <see cref="ValueInfo"/> per node output, named as the outputs.</returns>
    /// <exception cref="GraphException">Inputs that do not fit the operator (names the node and the values).</exception>
    /// <exception cref="UnsupportedOperatorException">An op record the engine does not know.</exception>
    public static ValueInfo[] InferNode(Node node, IReadOnlyList<ValueInfo?> inputs, IReadOnlyList<Tensor?> constants, int opset = 17)
    {
        var ctx = new Ctx(node, inputs, constants, opset);
        (DType, int[]?)[] r = node.Op switch
        {
            ConvOp op => new[] { Conv(ctx, op) },
            GemmOp op => new[] { Gemm(ctx, op) },
            MatMulOp => new[] { MatMul(ctx) },
            BinaryOp => new[] { Binary(ctx) },
            UnaryOp => new[] { Same(ctx) },
            MaxPoolOp op => MaxPool(ctx, op),
            AveragePoolOp op => new[] { Pool(ctx, op.KernelShape, op.Strides, op.Pads, op.Dilations, op.AutoPad, op.CeilMode) },
            AdaptiveAvgPoolOp op => new[] { AdaptiveAvgPool(ctx, op) },
            GlobalAveragePoolOp or GlobalMaxPoolOp => new[] { GlobalPool(ctx) },
            FlattenOp op => new[] { Flatten(ctx, op) },
            ReshapeOp op => new[] { Reshape(ctx, op) },
            BatchNormOp => new[] { BatchNorm(ctx) },
            DropoutOp => Dropout(ctx),
            SoftmaxOp op => new[] { AxisOp(ctx, op.Axis) },
            LogSoftmaxOp op => new[] { AxisOp(ctx, op.Axis) },
            ReduceMeanOp op => new[] { ReduceMean(ctx, op) },
            IdentityOp => new[] { Same(ctx) },
            CastOp op => new[] { (op.To, ctx.In(0).Shape) },
            QuantizeLinearOp op => new[] { Quantize(ctx, op) },
            DequantizeLinearOp op => new[] { Dequantize(ctx, op) },
            ConstantOfShapeOp op => new[] { ConstantOfShape(ctx, op) },
            ShapeOp op => new[] { Shape(ctx, op) },
            GatherOp op => new[] { Gather(ctx, op) },
            UnsqueezeOp op => new[] { Unsqueeze(ctx, op) },
            SqueezeOp op => new[] { Squeeze(ctx, op) },
            ConcatOp op => new[] { Concat(ctx, op) },
            ConstantOp op => new[] { (op.Value.DType, (int[]?)op.Value.ShapeArray()) },
            ISelfDescribingOp op => op.InferOutputs(node.Name, inputs),
            _ => throw new UnsupportedOperatorException(node.Name, node.Op.OpType, "", opset, "no shape inference for this operator"),
        };
        if (node.Outputs.Count > r.Length && !(node.Op is DropoutOp or MaxPoolOp))
            throw new GraphException(node.Name, $"{node.Op.OpType} has {node.Outputs.Count} outputs; the engine supports {r.Length} (inference mode)");
        var result = new ValueInfo[Math.Min(r.Length, node.Outputs.Count)];
        for (int i = 0; i < result.Length; i++)
        {
            if (r[i].Item2 is { } shape) CheckElementCount(ctx, node.Outputs[i], shape);
            result[i] = new ValueInfo(node.Outputs[i], r[i].Item1, r[i].Item2);
        }
        return result;
    }

    // ---------------------------------------------------------------- helpers

    private readonly struct Ctx
    {
        public readonly Node Node;
        public readonly IReadOnlyList<ValueInfo?> Inputs;
        public readonly IReadOnlyList<Tensor?> Constants;
        public readonly int Opset;

        public Ctx(Node node, IReadOnlyList<ValueInfo?> inputs, IReadOnlyList<Tensor?> constants, int opset)
        {
            Node = node; Inputs = inputs; Constants = constants; Opset = opset;
        }

        public string Name => Node.Name;
        public string OpType => Node.Op.OpType;

        public ValueInfo In(int i) =>
            i < Inputs.Count && Inputs[i] is { } v ? v : throw new GraphException(Node.Name, $"{OpType} needs input {i}, which is absent");

        public ValueInfo? Opt(int i) => i < Inputs.Count ? Inputs[i] : null;
        public Tensor? Const(int i) => i < Constants.Count ? Constants[i] : null;

        public GraphException Fail(string message) => new(Node.Name, $"{OpType}: {message}");
    }

    private static string Fmt(int[] s) => Tensor.FormatShape(s);

    /// <summary>"[1099511627776, 1099511627776]" for a shape operand that may hold values beyond int.</summary>
    private static string FmtLong(long[] s) => "[" + string.Join(", ", s) + "]";

    /// <summary>Element count of the known dimensions of <paramref name="shape"/> (dynamic ones skipped), saturating at long.MaxValue.</summary>
    private static long KnownElements(int[] shape) => Tensor.Product(shape.Where(d => d >= 0).ToArray());

    /// <summary>"2,147,483,648" or, when the count saturated, "more than 9,223,372,036,854,775,807".</summary>
    private static string Count(long n) => n == long.MaxValue
        ? "more than " + long.MaxValue.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)
        : n.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Fails when a fully or partly known output shape already has more than <see cref="MaxTensorElements"/> elements.</summary>
    private static void CheckElementCount(Ctx c, string output, int[] shape)
    {
        long n = KnownElements(shape);
        if (n > MaxTensorElements)
            throw c.Fail($"output '{output}' {Fmt(shape)} would have {Count(n)} elements{(shape.Any(d => d < 0) ? " (known dimensions only)" : "")}, more than the {Count(MaxTensorElements)} (2^31 − 1) one tensor may hold" +
                (shape.Length > 1 && shape[0] > 1 && n / shape[0] <= MaxTensorElements ? $"; run the batch of {shape[0]} in parts of at most {MaxTensorElements / (n / shape[0])}" : ""));
    }

    /// <summary>A dimension computed in 64 bits, or a typed error naming the node when it exceeds 2^31 − 1.</summary>
    private static int Dim(string nodeName, string opType, long value, string what)
    {
        if (value > MaxTensorElements)
            throw new GraphException(nodeName, $"{opType}: {what} is {Count(value)}, more than {Count(MaxTensorElements)} (2^31 − 1), the most elements one tensor may hold");
        return (int)value;
    }

    /// <summary>Normalizes an axis in [−rank, rank) (or [−rank, rank] when <paramref name="inclusiveEnd"/>).</summary>
    private static int Axis(Ctx c, int axis, int rank, string what, bool inclusiveEnd = false)
    {
        int hi = inclusiveEnd ? rank : rank - 1;
        if (axis < -rank || axis > hi)
            throw c.Fail($"{what} {axis} is out of range for rank {rank} (allowed {-rank}..{hi})");
        return axis < 0 ? axis + rank : axis;
    }

    private static (DType, int[]?) Same(Ctx c) => (c.In(0).DType, c.In(0).Shape);

    private static void SameDType(Ctx c, ValueInfo a, ValueInfo b)
    {
        if (a.DType != b.DType)
            throw c.Fail($"input '{a.Name}' is {a.DType.Name()} but '{b.Name}' is {b.DType.Name()}; both must have the same dtype");
    }

    /// <summary>Numpy (ONNX multidirectional) broadcast of two shapes; −1 is dynamic.</summary>
    internal static int[] Broadcast(string nodeName, int[] a, int[] b)
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            int db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (da == db) o[i] = da;
            else if (da == 1) o[i] = db;
            else if (db == 1) o[i] = da;
            else if (da < 0) o[i] = db;
            else if (db < 0) o[i] = da;
            else throw new GraphException(nodeName, $"shapes {Fmt(a)} and {Fmt(b)} do not broadcast: dimension {i} is {da} against {db}");
        }
        return o;
    }

    // ---------------------------------------------------------------- operators

    private static (DType, int[]?) Conv(Ctx c, ConvOp op)
    {
        var x = c.In(0);
        var w = c.In(1);
        SameDType(c, x, w);
        if (w.Shape is null || x.Shape is null) return (x.DType, null);
        var xs = x.Shape;
        var ws = w.Shape;
        if (xs.Length < 3) throw c.Fail($"input '{x.Name}' has shape {Fmt(xs)}; expected [N, C, spatial...] with 1 or more spatial axes");
        if (ws.Length != xs.Length) throw c.Fail($"weight '{w.Name}' has rank {ws.Length} {Fmt(ws)}, the input '{x.Name}' rank {xs.Length} {Fmt(xs)}");
        int group = op.Group;
        if (group <= 0) throw c.Fail($"group {group} must be positive");
        int m = ws[0];
        if (m >= 0 && m % group != 0) throw c.Fail($"weight has {m} output channels, not a multiple of group {group}");
        if (xs[1] >= 0 && ws[1] >= 0 && xs[1] != (long)ws[1] * group)
            throw c.Fail(group == 1
                ? $"conv input has {xs[1]} channels, weight expects {ws[1]} (input '{x.Name}' {Fmt(xs)}, weight '{w.Name}' {Fmt(ws)})"
                : $"conv input has {xs[1]} channels, weight expects {ws[1]}·group {group} = {(long)ws[1] * group} (input '{x.Name}' {Fmt(xs)}, weight '{w.Name}' {Fmt(ws)})");
        if (c.Opt(2) is { } b)
        {
            SameDType(c, x, b);
            if (b.Shape is not null && (b.Shape.Length != 1 || (b.Shape[0] >= 0 && m >= 0 && b.Shape[0] != m)))
                throw c.Fail($"bias '{b.Name}' has shape {Fmt(b.Shape)}, expected [{m}] (one per output channel)");
        }
        var kernel = ws[2..];
        if (op.KernelShape.Length > 0)
        {
            if (op.KernelShape.Length != kernel.Length || !op.KernelShape.Zip(kernel).All(p => p.Second < 0 || p.First == p.Second))
                throw c.Fail($"kernel_shape {Fmt(op.KernelShape)} does not match the weight's spatial dimensions {Fmt(kernel)}");
            kernel = op.KernelShape;
        }
        if (kernel.Any(k => k < 0)) return (x.DType, null);
        var axes = SpatialGeometry.Resolve(c.Name, xs[2..], kernel, op.Strides, op.Pads, op.Dilations, op.AutoPad, false);
        var o = new int[xs.Length];
        o[0] = xs[0];
        o[1] = m;
        for (int i = 0; i < axes.Length; i++) o[2 + i] = axes[i].Output;
        if (op.FusedMaxPool is { } mp)
        {
            var pa = SpatialGeometry.Resolve(c.Name, o[2..], mp.KernelShape, mp.Strides, mp.Pads, mp.Dilations, mp.AutoPad, mp.CeilMode);
            for (int i = 0; i < pa.Length; i++) o[2 + i] = pa[i].Output;
        }
        return (x.DType, o);
    }

    private static (DType, int[]?) Gemm(Ctx c, GemmOp op)
    {
        var a = c.In(0);
        var b = c.In(1);
        SameDType(c, a, b);
        if (a.Shape is null || b.Shape is null) return (a.DType, null);
        if (a.Shape.Length != 2) throw c.Fail($"A '{a.Name}' has shape {Fmt(a.Shape)}; Gemm needs a matrix (flatten it first)");
        if (b.Shape.Length != 2) throw c.Fail($"B '{b.Name}' has shape {Fmt(b.Shape)}; Gemm needs a matrix");
        int m = op.TransA ? a.Shape[1] : a.Shape[0];
        int ka = op.TransA ? a.Shape[0] : a.Shape[1];
        int kb = op.TransB ? b.Shape[1] : b.Shape[0];
        int n = op.TransB ? b.Shape[0] : b.Shape[1];
        if (ka >= 0 && kb >= 0 && ka != kb)
            throw c.Fail(op.TransB
                ? $"linear input has {ka} features, weight expects {kb} (A '{a.Name}' {Fmt(a.Shape)}{(op.TransA ? "ᵀ" : "")}, B '{b.Name}' {Fmt(b.Shape)}ᵀ)"
                : $"inner dimensions differ: A '{a.Name}' {Fmt(a.Shape)}{(op.TransA ? "ᵀ" : "")} has K = {ka}, B '{b.Name}' {Fmt(b.Shape)} has K = {kb}");
        if (c.Opt(2) is { } cc)
        {
            SameDType(c, a, cc);
            if (cc.Shape is not null)
            {
                if (cc.Shape.Length > 2) throw c.Fail($"C '{cc.Name}' has shape {Fmt(cc.Shape)}, not broadcastable to [{m}, {n}]");
                var full = new[] { m, n };
                for (int i = 0; i < cc.Shape.Length; i++)
                {
                    int d = cc.Shape[cc.Shape.Length - 1 - i];
                    int t = full[1 - i];
                    if (d != 1 && d >= 0 && t >= 0 && d != t)
                        throw c.Fail($"C '{cc.Name}' has shape {Fmt(cc.Shape)}, not broadcastable to [{m}, {n}]");
                }
            }
        }
        return (a.DType, new[] { m, n });
    }

    private static (DType, int[]?) MatMul(Ctx c)
    {
        var a = c.In(0);
        var b = c.In(1);
        SameDType(c, a, b);
        if (a.Shape is null || b.Shape is null) return (a.DType, null);
        var sa = a.Shape;
        var sb = b.Shape;
        if (sa.Length == 0 || sb.Length == 0) throw c.Fail($"MatMul operands must have rank ≥ 1, got {Fmt(sa)} and {Fmt(sb)}");
        var pa = sa.Length == 1 ? new[] { 1, sa[0] } : sa;
        var pb = sb.Length == 1 ? new[] { sb[0], 1 } : sb;
        int ka = pa[^1], kb = pb[^2];
        if (ka >= 0 && kb >= 0 && ka != kb)
            throw c.Fail($"inner dimensions differ: '{a.Name}' {Fmt(sa)} has K = {ka}, '{b.Name}' {Fmt(sb)} has K = {kb}");
        var batch = Broadcast(c.Name, pa[..^2], pb[..^2]);
        var o = new List<int>(batch);
        if (sa.Length != 1) o.Add(pa[^2]);
        if (sb.Length != 1) o.Add(pb[^1]);
        return (a.DType, o.ToArray());
    }

    private static (DType, int[]?) Binary(Ctx c)
    {
        var a = c.In(0);
        var b = c.In(1);
        SameDType(c, a, b);
        if (a.Shape is null || b.Shape is null) return (a.DType, null);
        return (a.DType, Broadcast(c.Name, a.Shape, b.Shape));
    }

    private static (DType, int[]?) Pool(Ctx c, int[] kernel, int[] strides, int[] pads, int[] dilations, AutoPad autoPad, bool ceilMode)
    {
        var x = c.In(0);
        if (x.Shape is null) return (x.DType, null);
        var xs = x.Shape;
        if (xs.Length < 3) throw c.Fail($"input '{x.Name}' has shape {Fmt(xs)}; expected [N, C, spatial...] with 1 or more spatial axes");
        var axes = SpatialGeometry.Resolve(c.Name, xs[2..], kernel, strides, pads, dilations, autoPad, ceilMode);
        var o = (int[])xs.Clone();
        for (int i = 0; i < axes.Length; i++) o[2 + i] = axes[i].Output;
        return (x.DType, o);
    }

    private static (DType, int[]?)[] MaxPool(Ctx c, MaxPoolOp op)
    {
        if (op.StorageOrder is not (0 or 1)) throw c.Fail($"storage_order {op.StorageOrder} must be 0 (row-major) or 1 (column-major)");
        var y = Pool(c, op.KernelShape, op.Strides, op.Pads, op.Dilations, op.AutoPad, op.CeilMode);
        return new[] { y, (DType.Int64, y.Item2) };
    }

    private static (DType, int[]?) AdaptiveAvgPool(Ctx c, AdaptiveAvgPoolOp op)
    {
        var x = c.In(0);
        if (op.OutputHeight <= 0 || op.OutputWidth <= 0) throw c.Fail($"output size ({op.OutputHeight}, {op.OutputWidth}) must be positive");
        if (x.Shape is null) return (x.DType, null);
        if (x.Shape.Length != 4) throw c.Fail($"input '{x.Name}' has shape {Fmt(x.Shape)}; expected NCHW");
        return (x.DType, new[] { x.Shape[0], x.Shape[1], op.OutputHeight, op.OutputWidth });
    }

    private static (DType, int[]?) GlobalPool(Ctx c)
    {
        var x = c.In(0);
        if (x.Shape is null) return (x.DType, null);
        if (x.Shape.Length < 3) throw c.Fail($"input '{x.Name}' has shape {Fmt(x.Shape)}; expected [N, C, spatial...]");
        var o = (int[])x.Shape.Clone();
        for (int i = 2; i < o.Length; i++) o[i] = 1;
        return (x.DType, o);
    }

    private static (DType, int[]?) Flatten(Ctx c, FlattenOp op)
    {
        var x = c.In(0);
        if (x.Shape is null) return (x.DType, new[] { -1, -1 });
        int r = x.Shape.Length;
        int axis = Axis(c, op.Axis, r, "axis", inclusiveEnd: true);
        return (x.DType, new[] { ProductOrDynamic(c, x.Shape, 0, axis), ProductOrDynamic(c, x.Shape, axis, r) });
    }

    private static int ProductOrDynamic(Ctx c, int[] shape, int from, int to)
    {
        var dims = shape[from..to];
        if (dims.Any(d => d < 0)) return -1;
        return Dim(c.Name, c.OpType, Tensor.Product(dims), $"the product of dimensions {from}..{to - 1} of {Fmt(shape)}");
    }

    /// <summary>ONNX Reshape's output shape for a known input shape and shape operand (0 copies unless allowzero, −1 inferred).</summary>
    internal static int[] ReshapeTarget(string nodeName, int[] input, long[] target, bool allowZero)
    {
        var o = new int[target.Length];
        int infer = -1;
        for (int i = 0; i < target.Length; i++)
        {
            long t = target[i];
            if (t == -1)
            {
                if (infer >= 0) throw new GraphException(nodeName, $"Reshape: shape [{string.Join(", ", target)}] has more than one -1");
                infer = i;
                o[i] = -1;
            }
            else if (t == 0 && !allowZero)
            {
                if (i >= input.Length) throw new GraphException(nodeName, $"Reshape: shape [{string.Join(", ", target)}] copies dimension {i} (0), but the input {Fmt(input)} has rank {input.Length}");
                o[i] = input[i];
            }
            else if (t < 0) throw new GraphException(nodeName, $"Reshape: shape [{string.Join(", ", target)}] has the invalid entry {t}");
            else o[i] = Dim(nodeName, "Reshape", t, $"dimension {i} of the target shape {FmtLong(target)}");
        }
        if (allowZero && infer >= 0 && o.Contains(0))
            throw new GraphException(nodeName, $"Reshape: shape [{string.Join(", ", target)}] has both 0 (allowzero=1) and -1");

        // Element counts: dynamic input dimensions cancel only when copied one to one by a 0 entry.
        // Products saturate at long.MaxValue (Tensor.Product), so no count wraps around.
        var inCounted = new List<int>();
        int inDynamic = 0;
        for (int i = 0; i < input.Length; i++)
        {
            bool copied = !allowZero && i < target.Length && target[i] == 0;
            if (input[i] < 0) { if (!copied) inDynamic++; }
            else if (!copied) inCounted.Add(input[i]);
        }
        var outCounted = new List<int>();
        for (int i = 0; i < target.Length; i++)
        {
            bool copied = !allowZero && target[i] == 0;
            if (i == infer || copied) continue;
            outCounted.Add(o[i]);
        }
        long inKnown = Tensor.Product(inCounted), outKnown = Tensor.Product(outCounted);
        long outElements = KnownElements(o);
        if (outElements > MaxTensorElements)
            throw new GraphException(nodeName, $"Reshape: the target shape {FmtLong(target)} gives {Fmt(o)}, {Count(outElements)} elements{(o.Any(d => d < 0) ? " without the inferred dimension" : "")}, more than the {Count(MaxTensorElements)} (2^31 − 1) one tensor may hold");
        if (inDynamic > 0) return o; // an inferred dimension stays dynamic
        if (infer >= 0)
        {
            if (outKnown == 0 || inKnown % outKnown != 0)
                throw new GraphException(nodeName, $"Reshape: cannot reshape {Fmt(input)} to [{string.Join(", ", target)}]: {Count(inKnown)} elements are not divisible by {Count(outKnown)}");
            o[infer] = Dim(nodeName, "Reshape", inKnown / outKnown, $"the inferred dimension {infer} of the target shape {FmtLong(target)} for input {Fmt(input)}");
        }
        else if (inKnown != outKnown)
            throw new GraphException(nodeName, $"Reshape: cannot reshape {Fmt(input)} ({Count(Tensor.Product(input))} elements) to {Fmt(o)} ({Count(Tensor.Product(o))} elements)");
        return o;
    }

    private static (DType, int[]?) Reshape(Ctx c, ReshapeOp op)
    {
        var x = c.In(0);
        var s = c.In(1);
        if (s.DType != DType.Int64) throw c.Fail($"shape operand '{s.Name}' is {s.DType.Name()}, expected int64");
        if (s.Shape is not null && s.Shape.Length != 1) throw c.Fail($"shape operand '{s.Name}' has shape {Fmt(s.Shape)}, expected 1-D");
        if (c.Const(1) is { } target)
        {
            if (x.Shape is null)
            {
                var t = target.ToInt64Array();
                return (x.DType, t.Select((v, i) => v > 0 ? Dim(c.Name, c.OpType, v, $"dimension {i} of the target shape {FmtLong(t)}") : -1).ToArray());
            }
            return (x.DType, ReshapeTarget(c.Name, x.Shape, target.ToInt64Array(), op.AllowZero));
        }
        if (s.Shape is { Length: 1 } && s.Shape[0] >= 0) return (x.DType, Enumerable.Repeat(-1, s.Shape[0]).ToArray());
        return (x.DType, null);
    }

    private static (DType, int[]?) BatchNorm(Ctx c)
    {
        var x = c.In(0);
        if (x.Shape is null) return (x.DType, null);
        if (x.Shape.Length < 2) throw c.Fail($"input '{x.Name}' has shape {Fmt(x.Shape)}; expected [N, C, ...]");
        int ch = x.Shape[1];
        string[] roles = { "scale", "B", "mean", "var" };
        for (int i = 1; i <= 4; i++)
        {
            var p = c.In(i);
            if (!p.DType.IsFloatingPoint()) throw c.Fail($"{roles[i - 1]} '{p.Name}' is {p.DType.Name()}, expected a floating-point type");
            if (p.Shape is null) continue;
            if (p.Shape.Length != 1 || (ch >= 0 && p.Shape[0] >= 0 && p.Shape[0] != ch))
                throw c.Fail($"batch norm input has {ch} channels, {roles[i - 1]} '{p.Name}' has shape {Fmt(p.Shape)} (expected [{ch}])");
        }
        return (x.DType, x.Shape);
    }

    private static (DType, int[]?)[] Dropout(Ctx c)
    {
        var x = c.In(0);
        return new[] { (x.DType, x.Shape), (DType.Bool, x.Shape) };
    }

    private static (DType, int[]?) AxisOp(Ctx c, int axis)
    {
        var x = c.In(0);
        if (x.Shape is null) return (x.DType, null);
        if (x.Shape.Length == 0) throw c.Fail($"input '{x.Name}' is a scalar; {c.OpType} needs rank ≥ 1");
        Axis(c, axis, x.Shape.Length, "axis");
        return (x.DType, x.Shape);
    }

    /// <summary>The reduced axes of a ReduceMean (normalized, sorted), or null when the axes input is not constant.</summary>
    internal static int[]? ReduceAxes(string nodeName, ReduceMeanOp op, int rank, Tensor? axesInput, bool axesInputPresent)
    {
        long[]? axes = op.Axes?.Select(a => (long)a).ToArray();
        if (axes is null && axesInputPresent)
        {
            if (axesInput is null) return null;
            axes = axesInput.ToInt64Array();
        }
        if (axes is null || axes.Length == 0)
            return op.NoopWithEmptyAxes ? Array.Empty<int>() : Enumerable.Range(0, rank).ToArray();
        var r = new SortedSet<int>();
        foreach (var a in axes)
        {
            if (a < -rank || a >= rank) throw new GraphException(nodeName, $"ReduceMean: axis {a} is out of range for rank {rank}");
            if (!r.Add((int)(a < 0 ? a + rank : a))) throw new GraphException(nodeName, $"ReduceMean: axis {a} is repeated");
        }
        return r.ToArray();
    }

    private static (DType, int[]?) ReduceMean(Ctx c, ReduceMeanOp op)
    {
        var x = c.In(0);
        if (x.Shape is null) return (x.DType, null);
        bool present = c.Opt(1) is not null;
        var axes = ReduceAxes(c.Name, op, x.Shape.Length, c.Const(1), present);
        if (axes is null)
            return (x.DType, op.KeepDims ? Enumerable.Repeat(-1, x.Shape.Length).ToArray() : null);
        var o = new List<int>();
        for (int i = 0; i < x.Shape.Length; i++)
        {
            if (Array.IndexOf(axes, i) < 0) o.Add(x.Shape[i]);
            else if (op.KeepDims) o.Add(1);
        }
        return (x.DType, o.ToArray());
    }

    private static void CheckScaleLayout(Ctx c, int[]? xs, ValueInfo scale, ValueInfo? zp, int axisAttr, int blockSize)
    {
        if (zp is not null && zp.Shape is not null && scale.Shape is not null && !zp.Shape.SequenceEqual(scale.Shape))
            throw c.Fail($"zero point '{zp.Name}' has shape {Fmt(zp.Shape)}, the scale '{scale.Name}' {Fmt(scale.Shape)}; they must match");
        if (xs is null || scale.Shape is null) return;
        var ss = scale.Shape;
        bool perTensor = ss.Length == 0 || (ss.Length == 1 && ss[0] == 1 && blockSize == 0);
        if (perTensor) return;
        int axis = Axis(c, axisAttr, xs.Length, "axis");
        if (blockSize > 0)
        {
            if (ss.Length != xs.Length) throw c.Fail($"blocked scale '{scale.Name}' has shape {Fmt(ss)}, expected rank {xs.Length} like the input {Fmt(xs)}");
            for (int i = 0; i < xs.Length; i++)
            {
                int expect = i == axis ? (xs[i] < 0 ? -1 : (int)(((long)xs[i] + blockSize - 1) / blockSize)) : xs[i];
                if (expect >= 0 && ss[i] >= 0 && ss[i] != expect)
                    throw c.Fail($"blocked scale '{scale.Name}' has shape {Fmt(ss)}; for input {Fmt(xs)}, axis {axis}, block_size {blockSize} dimension {i} must be {expect}");
            }
            return;
        }
        if (ss.Length != 1) throw c.Fail($"scale '{scale.Name}' has shape {Fmt(ss)}; expected a scalar, [C] along axis {axis}, or a blocked layout with block_size");
        if (xs[axis] >= 0 && ss[0] != xs[axis])
            throw c.Fail($"per-axis scale '{scale.Name}' has {ss[0]} entries, the input {Fmt(xs)} has {xs[axis]} along axis {axis}");
    }

    private static (DType, int[]?) Quantize(Ctx c, QuantizeLinearOp op)
    {
        var x = c.In(0);
        var scale = c.In(1);
        var zp = c.Opt(2);
        CheckScaleLayout(c, x.Shape, scale, zp, op.Axis, op.BlockSize);
        var dt = zp?.DType ?? op.OutputDType ?? DType.UInt8;
        if (zp is not null && op.OutputDType is { } od && od != zp.DType)
            throw c.Fail($"output_dtype {od.Name()} differs from the zero point '{zp.Name}' dtype {zp.DType.Name()}");
        return (dt, x.Shape);
    }

    private static (DType, int[]?) Dequantize(Ctx c, DequantizeLinearOp op)
    {
        var x = c.In(0);
        var scale = c.In(1);
        var zp = c.Opt(2);
        if (zp is not null && zp.DType != x.DType)
            throw c.Fail($"zero point '{zp.Name}' is {zp.DType.Name()}, the input '{x.Name}' {x.DType.Name()}; they must match");
        CheckScaleLayout(c, x.Shape, scale, zp, op.Axis, op.BlockSize);
        return (scale.DType, x.Shape);
    }

    private static (DType, int[]?) ConstantOfShape(Ctx c, ConstantOfShapeOp op)
    {
        var s = c.In(0);
        var dt = op.Value?.DType ?? DType.Float32;
        if (op.Value is not null && op.Value.ElementCount != 1) throw c.Fail($"value has {op.Value.ElementCount} elements, expected one");
        if (s.DType != DType.Int64) throw c.Fail($"shape operand '{s.Name}' is {s.DType.Name()}, expected int64");
        if (c.Const(0) is { } t)
        {
            var dims = t.ToInt64Array();
            if (dims.Any(d => d < 0)) throw c.Fail($"shape [{string.Join(", ", dims)}] has a negative dimension");
            return (dt, dims.Select((d, i) => Dim(c.Name, c.OpType, d, $"dimension {i} of the shape {FmtLong(dims)}")).ToArray());
        }
        if (s.Shape is { Length: 1 } && s.Shape[0] >= 0) return (dt, Enumerable.Repeat(-1, s.Shape[0]).ToArray());
        return (dt, null);
    }

    /// <summary>Resolved [start, end) of ONNX Shape's opset-15 slice for a rank.</summary>
    internal static (int Start, int End) ShapeSlice(ShapeOp op, int rank)
    {
        int start = op.Start < 0 ? op.Start + rank : op.Start;
        int end = op.End is { } e ? (e < 0 ? e + rank : e) : rank;
        start = Math.Clamp(start, 0, rank);
        end = Math.Clamp(end, 0, rank);
        return (start, Math.Max(start, end));
    }

    private static (DType, int[]?) Shape(Ctx c, ShapeOp op)
    {
        var x = c.In(0);
        if (x.Shape is null) return (DType.Int64, new[] { -1 });
        var (s, e) = ShapeSlice(op, x.Shape.Length);
        return (DType.Int64, new[] { e - s });
    }

    private static (DType, int[]?) Gather(Ctx c, GatherOp op)
    {
        var d = c.In(0);
        var idx = c.In(1);
        if (idx.DType is not (DType.Int32 or DType.Int64)) throw c.Fail($"indices '{idx.Name}' are {idx.DType.Name()}, expected int32 or int64");
        if (d.Shape is null || idx.Shape is null) return (d.DType, null);
        if (d.Shape.Length == 0) throw c.Fail($"data '{d.Name}' is a scalar; Gather needs rank ≥ 1");
        int axis = Axis(c, op.Axis, d.Shape.Length, "axis");
        if (c.Const(1) is { } iv && d.Shape[axis] >= 0)
        {
            int n = d.Shape[axis];
            foreach (var i in iv.ToInt64Array())
                if (i < -n || i >= n) throw c.Fail($"index {i} is out of range for dimension {axis} of size {n} ('{d.Name}' {Fmt(d.Shape)})");
        }
        var o = new List<int>();
        o.AddRange(d.Shape[..axis]);
        o.AddRange(idx.Shape);
        o.AddRange(d.Shape[(axis + 1)..]);
        return (d.DType, o.ToArray());
    }

    /// <summary>Axes of Unsqueeze/Squeeze from the attribute or the constant second input; null when not constant.</summary>
    private static long[]? AxesOf(Ctx c, int[]? attr)
    {
        if (attr is not null) return attr.Select(a => (long)a).ToArray();
        if (c.Opt(1) is null) return Array.Empty<long>();
        return c.Const(1)?.ToInt64Array();
    }

    /// <summary>Output shape of ONNX Unsqueeze (axes relative to the output rank).</summary>
    internal static int[] UnsqueezeShape(string nodeName, int[] input, long[] axes)
    {
        int r = input.Length + axes.Length;
        var ins = new bool[r];
        foreach (var a in axes)
        {
            if (a < -r || a >= r) throw new GraphException(nodeName, $"Unsqueeze: axis {a} is out of range for output rank {r}");
            int ax = (int)(a < 0 ? a + r : a);
            if (ins[ax]) throw new GraphException(nodeName, $"Unsqueeze: axis {a} is repeated");
            ins[ax] = true;
        }
        var o = new int[r];
        int j = 0;
        for (int i = 0; i < r; i++) o[i] = ins[i] ? 1 : input[j++];
        return o;
    }

    /// <summary>Output shape of ONNX Squeeze (empty axes: every dimension of size 1).</summary>
    internal static int[] SqueezeShape(string nodeName, int[] input, long[] axes)
    {
        int r = input.Length;
        var drop = new bool[r];
        if (axes.Length == 0)
        {
            for (int i = 0; i < r; i++) drop[i] = input[i] == 1;
        }
        else
        {
            foreach (var a in axes)
            {
                if (a < -r || a >= r) throw new GraphException(nodeName, $"Squeeze: axis {a} is out of range for rank {r}");
                int ax = (int)(a < 0 ? a + r : a);
                if (input[ax] >= 0 && input[ax] != 1) throw new GraphException(nodeName, $"Squeeze: dimension {ax} of {Fmt(input)} is {input[ax]}, not 1");
                drop[ax] = true;
            }
        }
        return input.Where((_, i) => !drop[i]).ToArray();
    }

    private static (DType, int[]?) Unsqueeze(Ctx c, UnsqueezeOp op)
    {
        var x = c.In(0);
        var axes = AxesOf(c, op.Axes);
        if (x.Shape is null) return (x.DType, null);
        if (axes is null)
        {
            var a = c.In(1);
            return (x.DType, a.Shape is { Length: 1 } && a.Shape[0] >= 0 ? Enumerable.Repeat(-1, x.Shape.Length + a.Shape[0]).ToArray() : null);
        }
        return (x.DType, UnsqueezeShape(c.Name, x.Shape, axes));
    }

    private static (DType, int[]?) Squeeze(Ctx c, SqueezeOp op)
    {
        var x = c.In(0);
        var axes = AxesOf(c, op.Axes);
        if (x.Shape is null || axes is null) return (x.DType, null);
        if (axes.Length == 0 && x.Shape.Any(d => d < 0)) return (x.DType, null);
        return (x.DType, SqueezeShape(c.Name, x.Shape, axes));
    }

    private static (DType, int[]?) Concat(Ctx c, ConcatOp op)
    {
        var present = Enumerable.Range(0, c.Inputs.Count).Where(i => c.Inputs[i] is not null).Select(i => c.Inputs[i]!).ToList();
        if (present.Count == 0) throw c.Fail("Concat needs at least one input");
        var first = present[0];
        foreach (var v in present) SameDType(c, first, v);
        if (present.Any(v => v.Shape is null)) return (first.DType, null);
        int r = first.Shape!.Length;
        if (r == 0) throw c.Fail("Concat of scalars is not defined; inputs need rank ≥ 1");
        int axis = Axis(c, op.Axis, r, "axis");
        var o = (int[])first.Shape.Clone();
        o[axis] = 0;
        foreach (var v in present)
        {
            if (v.Shape!.Length != r) throw c.Fail($"input '{v.Name}' has rank {v.Shape.Length} {Fmt(v.Shape)}, '{first.Name}' rank {r} {Fmt(first.Shape)}");
            for (int i = 0; i < r; i++)
            {
                if (i == axis) continue;
                if (o[i] < 0) o[i] = v.Shape[i];
                else if (v.Shape[i] >= 0 && v.Shape[i] != o[i])
                    throw c.Fail($"input '{v.Name}' {Fmt(v.Shape)} differs from '{first.Name}' {Fmt(first.Shape)} in dimension {i} (only the concat axis {axis} may differ)");
            }
            o[axis] = o[axis] < 0 || v.Shape[axis] < 0 ? -1 : Dim(c.Name, c.OpType, (long)o[axis] + v.Shape[axis], $"the concatenated dimension {axis}");
        }
        return (first.DType, o);
    }
}
