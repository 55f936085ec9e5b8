using System.Reflection;
using Google.Protobuf;
using Vgg.Engine.IR;
using Vgg.Engine.Models;
using Vgg.Engine.Loader.Onnx.Proto;

namespace Vgg.Engine.Loader.Onnx;

/// <summary>Choices for <see cref="OnnxExporter"/>.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Default-domain opset to write, <see cref="OnnxExporter.MinOpset"/>..<see cref="OnnxExporter.MaxOpset"/>; 17 by default.</summary>
    public int Opset { get; init; } = OnnxExporter.DefaultOpset;

    /// <summary>ModelProto.producer_name.</summary>
    public string ProducerName { get; init; } = "Vgg.Engine";

    /// <summary>The <c>dim_param</c> written for a dynamic (−1) first dimension of inputs and outputs: the batch.</summary>
    public string BatchDimName { get; init; } = "N";

    /// <summary>
    /// Shapes to declare for graph inputs, by name (−1 = dynamic, e.g. the batch); each must have the input's
    /// rank and agree with its fixed dimensions. Fixing H×W exports an AdaptiveAvgPool exactly when the graph's
    /// own input size is dynamic; the exported model then accepts only that H×W. Null: the graph's declarations.
    /// </summary>
    public IReadOnlyDictionary<string, int[]>? InputShapes { get; init; }

    /// <summary>
    /// Shapes of graph values (−1 = dynamic), consulted where an operator's ONNX form depends on its input's
    /// shape (AdaptiveAvgPool, a 2-D-coerced Softmax). Null: the engine's shape inference over the graph's
    /// declared input shapes. Give concrete shapes here to export for a fixed input size.
    /// </summary>
    public Func<string, int[]?>? ShapeOf { get; init; }
}

/// <summary>
/// Writes a <see cref="Graph"/> as an ONNX model (onnx.proto ModelProto) that ONNX Runtime and other tools load.
/// </summary>
/// <remarks>
/// <para>Initializers are written as <c>raw_data</c>; a dynamic first dimension (−1) of the inputs becomes the
/// <c>dim_param</c> <see cref="OnnxExportOptions.BatchDimName"/>; node and value names are kept (nodes the
/// exporter adds are named after the node they come from, "conv1/relu").</para>
/// <para>Engine-only forms are written as standard operators with the same result: a Conv with a fused
/// activation and max-pool (planner fusion) as Conv → Relu → MaxPool; a Gemm with a fused ReLU as Gemm → Relu;
/// AdaptiveAvgPool (no ONNX operator) as GlobalAveragePool for a 1×1 output, as AveragePool when the input size
/// is a multiple of the output size (uniform bins), and otherwise as the exact pooling matrix — Reshape
/// [N, C, H·W] → MatMul with the constant [H·W, oh·ow] matrix of PyTorch's bins → Reshape [N, C, oh, ow] (shape
/// operands use 0 = "copy", so the batch stays dynamic). A dynamic H or W has no exact constant form and is
/// refused unless the output is 1×1. A Softmax/LogSoftmax with opset-&lt;13 2-D coercion becomes
/// Flatten → Softmax(axis 1) → Reshape to the input's shape. Quantize/DequantizeLinear nodes are written as
/// themselves (QDQ); INT8 operator records of the quantization work are to be written as
/// DequantizeLinear → Conv/Gemm → QuantizeLinear with the helpers used for those nodes.</para>
/// </remarks>
public static class OnnxExporter
{
    /// <summary>The opset written when none is asked for (the issue's "opset 17").</summary>
    public const int DefaultOpset = 17;

    /// <summary>Lowest and highest default-domain opsets the exporter writes.</summary>
    public const int MinOpset = 13, MaxOpset = 21;

    /// <summary>Writes <paramref name="graph"/> to the file <paramref name="path"/>.</summary>
    /// <exception cref="UnsupportedOperatorException">A node has no ONNX form at the chosen opset (names it and the opset it needs).</exception>
    /// <exception cref="ArgumentOutOfRangeException">The opset is outside <see cref="MinOpset"/>..<see cref="MaxOpset"/>.</exception>
    public static void Export(Graph graph, string path, OnnxExportOptions? options = null)
    {
        var model = ToModel(graph, options ?? new OnnxExportOptions());
        using var fs = File.Create(path);
        model.WriteTo(fs);
    }

    /// <summary>Writes <paramref name="graph"/> to <paramref name="stream"/>.</summary>
    public static void Export(Graph graph, Stream stream, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ToModel(graph, options ?? new OnnxExportOptions()).WriteTo(stream);
    }

    /// <summary>The serialized ONNX model of <paramref name="graph"/>.</summary>
    public static byte[] ExportToBytes(Graph graph, OnnxExportOptions? options = null) =>
        ToModel(graph, options ?? new OnnxExportOptions()).ToByteArray();

    /// <summary>
    /// Writes a loaded model (<c>vgg export --onnx</c>). Its input's height and width stay dynamic unless the graph
    /// has an AdaptiveAvgPool to more than 1×1 whose input size is not fixed (torchvision's avgpool to 7×7): its
    /// bins depend on the input size, which has no constant ONNX form, so the export is made for
    /// <see cref="Model.InputSize"/> (224×224 for torchvision VGG; the batch stays dynamic) unless
    /// <see cref="OnnxExportOptions.InputShapes"/> says otherwise.
    /// </summary>
    /// <exception cref="UnsupportedOperatorException">A node with no ONNX form at the chosen opset.</exception>
    public static void Export(Model model, string path, OnnxExportOptions? options = null)
    {
        var bytes = ExportToBytes(model, options);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>The serialized ONNX model of a loaded model; see <see cref="Export(Model, string, OnnxExportOptions?)"/>.</summary>
    public static byte[] ExportToBytes(Model model, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new OnnxExportOptions();
        if (options.InputShapes is null && FixedSizeInputShapes(model) is { } fixedShapes)
            options = options with { InputShapes = fixedShapes };
        return ExportToBytes(model.Graph, options);
    }

    /// <summary>Input shapes fixing H×W to the model's input size, when an AdaptiveAvgPool needs them; else null.</summary>
    private static Dictionary<string, int[]>? FixedSizeInputShapes(Model model)
    {
        var g = model.Graph;
        if (!g.Nodes.Any(n => n.Op is AdaptiveAvgPoolOp a && (a.OutputHeight != 1 || a.OutputWidth != 1))) return null;
        Dictionary<string, ValueInfo> types;
        try { types = ShapeInference.Infer(g); }
        catch (VggEngineException) { return null; }
        bool needed = g.Nodes.Any(n => n.Op is AdaptiveAvgPoolOp a && (a.OutputHeight != 1 || a.OutputWidth != 1)
            && (!types.TryGetValue(n.Inputs[0], out var vi) || vi.Shape is not { Length: 4 } s || s[2] < 0 || s[3] < 0));
        if (!needed || g.Inputs.Count != 1 || g.Inputs[0].Shape is not { Length: 4 } inShape) return null;
        var fixedShape = new[] { inShape[0], inShape[1], model.InputSize.Height, model.InputSize.Width };
        return new Dictionary<string, int[]>(StringComparer.Ordinal) { [g.Inputs[0].Name] = fixedShape };
    }

    internal static ModelProto ToModel(Graph graph, OnnxExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (options.Opset < MinOpset || options.Opset > MaxOpset)
            throw new ArgumentOutOfRangeException(nameof(options), options.Opset, $"ONNX export writes opsets {MinOpset} to {MaxOpset}");
        long bytes = graph.Initializers.Values.Sum(t => t.ByteCount);
        if (bytes > int.MaxValue - (64 << 20))
            throw new ArgumentException($"the graph holds {bytes} bytes of initializers; a single ONNX protobuf is limited to 2 GiB and external data export is not implemented");
        if (options.InputShapes is { } given) graph = WithInputShapes(graph, given);
        var w = new Writer(graph, options);
        w.Run();
        var model = new ModelProto
        {
            IrVersion = OnnxOpsets.IrVersionFor(options.Opset),
            ProducerName = options.ProducerName,
            ProducerVersion = typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            Graph = w.Proto,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        return model;
    }

    /// <summary>A shallow copy of <paramref name="graph"/> whose inputs declare <paramref name="shapes"/>.</summary>
    private static Graph WithInputShapes(Graph graph, IReadOnlyDictionary<string, int[]> shapes)
    {
        var g = graph.Clone();
        for (int i = 0; i < g.Inputs.Count; i++)
        {
            var decl = g.Inputs[i];
            if (!shapes.TryGetValue(decl.Name, out var s)) continue;
            if (decl.Shape is not null && (decl.Shape.Length != s.Length || decl.Shape.Where((d, k) => d >= 0 && s[k] != d).Any()))
                throw new InvalidInputException(decl.Name, $"export shape {Tensor.FormatShape(s)} does not fit the declared {decl}");
            g.Inputs[i] = decl with { Shape = s.ToArray() };
        }
        foreach (var name in shapes.Keys)
            if (!g.Inputs.Any(i => i.Name == name)) throw new InvalidInputException(name, "is not a graph input");
        return g;
    }

    private sealed class Writer
    {
        private readonly Graph _g;
        private readonly OnnxExportOptions _o;
        private readonly int _opset;
        private readonly HashSet<string> _values = new(StringComparer.Ordinal);
        private readonly HashSet<string> _nodes = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int[]> _knownShapes = new(StringComparer.Ordinal);
        private readonly Dictionary<string, DType> _knownTypes = new(StringComparer.Ordinal);

        public GraphProto Proto { get; } = new();

        public Writer(Graph g, OnnxExportOptions o)
        {
            _g = g;
            _o = o;
            _opset = o.Opset;
            foreach (var i in g.Inputs) { _values.Add(i.Name); if (i.Shape is not null) _knownShapes[i.Name] = i.Shape; }
            foreach (var o2 in g.Outputs) if (o2.Shape is not null) _knownShapes.TryAdd(o2.Name, o2.Shape);
            foreach (var (k, t) in g.Initializers) { _values.Add(k); _knownShapes[k] = t.ShapeArray(); }
            foreach (var i in g.Inputs) _knownTypes[i.Name] = i.DType;
            foreach (var (k, t) in g.Initializers) _knownTypes[k] = t.DType;
            foreach (var n in g.Nodes)
            {
                if (n.Op is QuantizeLinearOp { OutputDType: { } qt }) _knownTypes[n.Outputs[0]] = qt;
                _nodes.Add(n.Name);
                foreach (var v in n.Inputs.Concat(n.Outputs)) if (v.Length > 0) _values.Add(v);
            }
        }

        public void Run()
        {
            Proto.Name = _g.Name;
            bool dynamicBatch = _g.Inputs.Any(i => i.Shape is { Length: > 0 } s && s[0] < 0);
            foreach (var i in _g.Inputs) Proto.Input.Add(ValueInfo(i, input: true, dynamicBatch));
            var outputNames = new HashSet<string>(_g.Outputs.Select(o => o.Name), StringComparer.Ordinal);
            foreach (var (name, t) in _g.Initializers)
            {
                if (outputNames.Contains(name))
                    AddNode("Constant", NewNode(name + "/constant"), Array.Empty<string>(), new[] { name }, AttrTensor("value", t, name));
                else Proto.Initializer.Add(OnnxTensors.ToProto(t, name));
            }
            foreach (var n in _g.Nodes) WriteNode(n);
            foreach (var o in _g.Outputs) Proto.Output.Add(ValueInfo(o, input: false, dynamicBatch));
        }

        private ValueInfoProto ValueInfo(ValueInfo v, bool input, bool dynamicBatch)
        {
            var tt = new TypeProto.Types.Tensor { ElemType = (int)v.DType };
            if (v.Shape is not null)
            {
                tt.Shape = new TensorShapeProto();
                for (int i = 0; i < v.Shape.Length; i++)
                {
                    var d = new TensorShapeProto.Types.Dimension();
                    if (v.Shape[i] >= 0) d.DimValue = v.Shape[i];
                    else if (i == 0 && (input || dynamicBatch)) d.DimParam = _o.BatchDimName;
                    else if (input) d.DimParam = $"{v.Name}_dim{i}";
                    tt.Shape.Dim.Add(d);
                }
            }
            return new ValueInfoProto { Name = v.Name, Type = new TypeProto { TensorType = tt } };
        }

        // ---- names, nodes, attributes ----

        private string NewValue(string hint)
        {
            var name = hint;
            for (int k = 1; !_values.Add(name); k++) name = $"{hint}_{k}";
            return name;
        }

        private string NewNode(string hint)
        {
            var name = hint;
            for (int k = 1; !_nodes.Add(name); k++) name = $"{hint}_{k}";
            return name;
        }

        private string AddInitializer(string hint, Tensor t)
        {
            var name = NewValue(hint);
            Proto.Initializer.Add(OnnxTensors.ToProto(t, name));
            _knownShapes[name] = t.ShapeArray();
            return name;
        }

        private void AddNode(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto?[] attrs)
        {
            var n = new NodeProto { OpType = opType, Name = name };
            n.Input.AddRange(inputs);
            n.Output.AddRange(outputs);
            foreach (var a in attrs) if (a is not null) n.Attribute.Add(a);
            Proto.Node.Add(n);
        }

        private static AttributeProto AttrInt(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

        private static AttributeProto AttrFloat(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };

        private static AttributeProto AttrString(string name, string v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

        private static AttributeProto AttrInts(string name, IEnumerable<int> v)
        {
            var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            a.Ints.AddRange(v.Select(x => (long)x));
            return a;
        }

        private static AttributeProto AttrTensor(string name, Tensor t, string tensorName = "") =>
            new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = OnnxTensors.ToProto(t, tensorName) };

        private Dictionary<string, ValueInfo>? _inferred;
        private bool _inferenceTried;

        private int[]? ShapeOf(string value)
        {
            if (_o.ShapeOf is not null) return _o.ShapeOf(value) ?? (_knownShapes.TryGetValue(value, out var k) ? k : null);
            if (_knownShapes.TryGetValue(value, out var s)) return s;
            if (!_inferenceTried)
            {
                _inferenceTried = true;
                try { _inferred = ShapeInference.Infer(_g); }
                catch (VggEngineException) { _inferred = null; } // the op that needs the shape then says it is unknown
            }
            return _inferred is not null && _inferred.TryGetValue(value, out var vi) ? vi.Shape : null;
        }

        private UnsupportedOperatorException Unsupported(Node n, string detail) =>
            new(n.Name, n.Op.OpType, "", _opset, "cannot be exported: " + detail);

        private void NeedOpset(Node n, int min, string what)
        {
            if (_opset < min) throw Unsupported(n, $"{what} needs opset ≥ {min}; export with OnnxExportOptions.Opset = {min} or higher");
        }

        private static string AutoPadName(AutoPad a) => a switch
        {
            AutoPad.SameUpper => "SAME_UPPER",
            AutoPad.SameLower => "SAME_LOWER",
            AutoPad.Valid => "VALID",
            _ => "NOTSET",
        };

        /// <summary>Window attributes: kernel_shape, strides, then pads or auto_pad, then dilations when wanted.</summary>
        private static List<AttributeProto> WindowAttrs(int[] k, int[] s, int[] p, int[] d, AutoPad auto, bool writeDilations)
        {
            var list = new List<AttributeProto> { AttrInts("kernel_shape", k), AttrInts("strides", s) };
            if (auto == AutoPad.NotSet) list.Add(AttrInts("pads", p));
            else list.Add(AttrString("auto_pad", AutoPadName(auto)));
            if (writeDilations) list.Add(AttrInts("dilations", d));
            return list;
        }

        // ---- operators ----

        private void WriteNode(Node n)
        {
            switch (n.Op)
            {
                case ConvOp c: WriteConv(n, c); break;
                case GemmOp gm:
                {
                    var y = gm.Activation == Activation.None ? n.Outputs[0] : NewValue(n.Outputs[0] + "_gemm");
                    AddNode("Gemm", n.Name, n.Inputs, new[] { y }, AttrFloat("alpha", gm.Alpha), AttrFloat("beta", gm.Beta), AttrInt("transA", gm.TransA ? 1 : 0), AttrInt("transB", gm.TransB ? 1 : 0));
                    if (gm.Activation != Activation.None) WriteActivation(n, gm.Activation, y, n.Outputs[0]);
                    break;
                }
                case MatMulOp: AddNode("MatMul", n.Name, n.Inputs, n.Outputs); break;
                case BinaryOp b: AddNode(b.Kind.ToString(), n.Name, n.Inputs, n.Outputs); break;
                case UnaryOp u: AddNode(u.Kind.ToString(), n.Name, n.Inputs, n.Outputs); break;
                case MaxPoolOp mp: WriteMaxPool(n.Name, mp, n.Inputs[0], Spatial(ShapeOf(n.Inputs[0])), n.Outputs); break;
                case AveragePoolOp ap:
                {
                    bool dil = ap.Dilations.Any(x => x != 1);
                    if (dil) NeedOpset(n, 19, "AveragePool with dilations");
                    var (pads, ceil) = PortablePads(n.Name, Spatial(ShapeOf(n.Inputs[0])), ap.KernelShape, ap.Strides, ap.Pads, ap.Dilations, ap.AutoPad, ap.CeilMode,
                        average: true, countIncludePad: ap.CountIncludePad);
                    var attrs = WindowAttrs(ap.KernelShape, ap.Strides, pads, ap.Dilations, ap.AutoPad, dil);
                    attrs.Add(AttrInt("ceil_mode", ceil ? 1 : 0));
                    attrs.Add(AttrInt("count_include_pad", ap.CountIncludePad ? 1 : 0));
                    AddNode("AveragePool", n.Name, n.Inputs, n.Outputs, attrs.ToArray());
                    break;
                }
                case AdaptiveAvgPoolOp ad: WriteAdaptiveAvgPool(n, ad); break;
                case GlobalAveragePoolOp: AddNode("GlobalAveragePool", n.Name, n.Inputs, n.Outputs); break;
                case GlobalMaxPoolOp: AddNode("GlobalMaxPool", n.Name, n.Inputs, n.Outputs); break;
                case FlattenOp f: AddNode("Flatten", n.Name, n.Inputs, n.Outputs, AttrInt("axis", f.Axis)); break;
                case ReshapeOp r:
                    if (r.AllowZero) NeedOpset(n, 14, "Reshape with allowzero");
                    AddNode("Reshape", n.Name, n.Inputs, n.Outputs, r.AllowZero ? AttrInt("allowzero", 1) : null);
                    break;
                case BatchNormOp bn: AddNode("BatchNormalization", n.Name, n.Inputs, n.Outputs.Take(1), AttrFloat("epsilon", bn.Epsilon)); break;
                case DropoutOp: AddNode("Dropout", n.Name, n.Inputs.Take(1), n.Outputs); break;
                case SoftmaxOp sm: WriteSoftmax(n, "Softmax", sm.Axis, sm.Coerce2D); break;
                case LogSoftmaxOp ls: WriteSoftmax(n, "LogSoftmax", ls.Axis, ls.Coerce2D); break;
                case ReduceMeanOp rm: WriteReduceMean(n, rm); break;
                case IdentityOp: AddNode("Identity", n.Name, n.Inputs, n.Outputs); break;
                case CastOp ca:
                    AddNode("Cast", n.Name, n.Inputs, n.Outputs, AttrInt("to", (int)ca.To), !ca.Saturate && _opset >= 19 ? AttrInt("saturate", 0) : null);
                    break;
                case QuantizeLinearOp q: WriteQuantize(n, q); break;
                case DequantizeLinearOp dq:
                    EmitDequantize(n, n.Name, n.Inputs[0], n.Inputs[1], n.InputOrNull(2), dq.Axis, dq.BlockSize, n.Outputs[0]);
                    break;
                case ConstantOfShapeOp cs:
                    AddNode("ConstantOfShape", n.Name, n.Inputs, n.Outputs, cs.Value is null ? null : AttrTensor("value", cs.Value.Reshape(1)));
                    break;
                case ShapeOp sh:
                    if (sh.Start != 0 || sh.End is not null) NeedOpset(n, 15, "Shape with start/end");
                    AddNode("Shape", n.Name, n.Inputs, n.Outputs, sh.Start != 0 ? AttrInt("start", sh.Start) : null, sh.End is { } e ? AttrInt("end", e) : null);
                    break;
                case GatherOp ga: AddNode("Gather", n.Name, n.Inputs, n.Outputs, AttrInt("axis", ga.Axis)); break;
                case UnsqueezeOp un: WriteAxesOp(n, "Unsqueeze", un.Axes); break;
                case SqueezeOp sq: WriteAxesOp(n, "Squeeze", sq.Axes); break;
                case ConcatOp co: AddNode("Concat", n.Name, n.Inputs, n.Outputs, AttrInt("axis", co.Axis)); break;
                // INT8 operator records of the quantization work go here, written as QDQ: EmitDequantize for the
                // quantized input and weight (per-channel scales along axis 0), the float Conv/Gemm, then
                // EmitQuantize of the output with its activation scale — the form ONNX Runtime fuses back.
                default:
                    throw Unsupported(n, $"the engine operator {n.Op.OpType} has no ONNX form in this exporter");
            }
        }

        private void WriteConv(Node n, ConvOp c)
        {
            // Y = maxpool(act(conv(X, W) + B)): planner fusion, written back as the unfused sequence.
            bool act = c.Activation != Activation.None, pool = c.FusedMaxPool is not null;
            var final = n.Outputs[0];
            var convOut = act || pool ? NewValue(final + "_conv") : final;
            var attrs = WindowAttrs(c.KernelShape, c.Strides, c.Pads, c.Dilations, c.AutoPad, writeDilations: true);
            attrs.Add(AttrInt("group", c.Group));
            AddNode("Conv", n.Name, n.Inputs, new[] { convOut }, attrs.ToArray());
            var cur = convOut;
            if (act)
            {
                var actOut = pool ? NewValue(final + "_act") : final;
                WriteActivation(n, c.Activation, cur, actOut);
                cur = actOut;
            }
            if (pool)
            {
                // the pool's input is the conv's output: its spatial size from the conv's geometry
                int[]? convOutSpatial = null;
                if (Spatial(ShapeOf(n.Inputs[0])) is { } inSp && inSp.All(x => x >= 0))
                    convOutSpatial = SpatialGeometry.Resolve(n.Name, inSp, c.KernelShape, c.Strides, c.Pads, c.Dilations, c.AutoPad, ceilMode: false).Select(a => a.Output).ToArray();
                WriteMaxPool(NewNode(n.Name + "/maxpool"), c.FusedMaxPool!, cur, convOutSpatial, new[] { final });
            }
        }

        private void WriteActivation(Node n, Activation a, string input, string output)
        {
            switch (a)
            {
                case Activation.Relu: AddNode("Relu", NewNode(n.Name + "/relu"), new[] { input }, new[] { output }); break;
                default: throw Unsupported(n, $"fused activation {a} has no ONNX form in this exporter");
            }
        }

        private static int[]? Spatial(int[]? shape) => shape is { Length: > 2 } ? shape[2..] : null;

        /// <summary>
        /// Pads and ceil_mode for a pooling window that ONNX Runtime sizes as PyTorch does. In ceil mode PyTorch (and the
        /// engine) drop a last window that would start in the end padding; ONNX Runtime 1.31 does not, and computes one
        /// output more (onnx shape inference too), which breaks the graph downstream. Where the two counts differ the
        /// window is written with ceil_mode = 0 and the end pad that gives exactly PyTorch's count under floor rounding:
        /// pe' = max(0, (o − 1)·s + eff − L − pb). The values are unchanged for max pooling (padding never wins) and for
        /// average pooling that excludes padding; average pooling that counts padding would change its divisors and is
        /// refused for that case.
        /// </summary>
        private (int[] Pads, bool Ceil) PortablePads(string node, int[]? inputSpatial, int[] k, int[] s, int[] p, int[] d, AutoPad auto, bool ceil,
            bool average = false, bool countIncludePad = false)
        {
            int r = k.Length;
            if (!ceil || auto != AutoPad.NotSet || inputSpatial is null || inputSpatial.Length != r || inputSpatial.Any(x => x < 0)) return (p, ceil);
            int Stride(int i) => s.Length == 0 ? 1 : s[i];
            int Dil(int i) => d.Length == 0 ? 1 : d[i];
            int Pad(int i) => p.Length == 0 ? 0 : p[i];
            var torch = new long[r];
            bool differs = false;
            for (int i = 0; i < r; i++)
            {
                long eff = (long)(k[i] - 1) * Dil(i) + 1, span = inputSpatial[i] + Pad(i) + Pad(i + r) - eff;
                torch[i] = SpatialGeometry.OutputLength(node, i, inputSpatial[i], (int)eff, Stride(i), Pad(i), Pad(i + r), ceilMode: true, r);
                long onnx = (span >= 0 ? (span + Stride(i) - 1) / Stride(i) : 0) + 1; // ceil without PyTorch's drop rule
                differs |= onnx != torch[i];
            }
            if (!differs) return (p, ceil);
            if (average && countIncludePad)
                throw new UnsupportedOperatorException(node, "AveragePool", "", _opset,
                    "a ceil-mode average pool that counts padding and whose last window PyTorch drops: ONNX Runtime sizes it differently, and rewriting its pads would change the divisors");
            var pads = new int[2 * r];
            for (int i = 0; i < r; i++)
            {
                long eff = (long)(k[i] - 1) * Dil(i) + 1;
                pads[i] = Pad(i);
                pads[i + r] = (int)Math.Max(0, (torch[i] - 1) * Stride(i) + eff - inputSpatial[i] - Pad(i));
            }
            return (pads, false);
        }

        private void WriteMaxPool(string name, MaxPoolOp mp, string input, int[]? inputSpatial, IEnumerable<string> outputs)
        {
            var (pads, ceil) = PortablePads(name, inputSpatial, mp.KernelShape, mp.Strides, mp.Pads, mp.Dilations, mp.AutoPad, mp.CeilMode);
            var attrs = WindowAttrs(mp.KernelShape, mp.Strides, pads, mp.Dilations, mp.AutoPad, writeDilations: true);
            attrs.Add(AttrInt("ceil_mode", ceil ? 1 : 0));
            if (mp.StorageOrder != 0) attrs.Add(AttrInt("storage_order", mp.StorageOrder));
            AddNode("MaxPool", name, new[] { input }, outputs, attrs.ToArray());
        }

        private void WriteAdaptiveAvgPool(Node n, AdaptiveAvgPoolOp ad)
        {
            string x = n.Inputs[0], y = n.Outputs[0];
            int oh = ad.OutputHeight, ow = ad.OutputWidth;
            if (oh == 1 && ow == 1)
            {
                AddNode("GlobalAveragePool", n.Name, new[] { x }, new[] { y });
                return;
            }
            var s = ShapeOf(x);
            if (s is not { Length: 4 } || s[2] <= 0 || s[3] <= 0)
                throw Unsupported(n, $"AdaptiveAvgPool to {oh}×{ow} of an input whose height and width are not known at export ({(s is null ? "unknown shape" : Tensor.FormatShape(s))}) has no exact ONNX form; export with a fixed input size (OnnxExportOptions.ShapeOf)");
            int h = s[2], w = s[3];
            if (h % oh == 0 && w % ow == 0)
            {
                // Uniform bins: PyTorch's bin i covers [i·h/oh, (i+1)·h/oh), exactly an AveragePool window.
                int kh = h / oh, kw = w / ow;
                AddNode("AveragePool", n.Name, new[] { x }, new[] { y },
                    AttrInts("kernel_shape", new[] { kh, kw }), AttrInts("strides", new[] { kh, kw }), AttrInts("pads", new int[4]),
                    AttrInt("ceil_mode", 0), AttrInt("count_include_pad", 0));
                return;
            }
            // Overlapping or uneven bins: y[n, c, :] = x[n, c, :] (flattened H·W) × P, with P[h·W + w, i·ow + j] =
            // 1 / |bin(i) × bin(j)| for (h, w) in the bin, bins [floor(i·H/oh), ceil((i+1)·H/oh)) as in PyTorch.
            var p = new Tensor(DType.Float32, new[] { h * w, oh * ow });
            var ps = p.AsSpan<float>();
            for (int i = 0; i < oh; i++)
            {
                int h0 = i * h / oh, h1 = ((i + 1) * h + oh - 1) / oh;
                for (int j = 0; j < ow; j++)
                {
                    int w0 = j * w / ow, w1 = ((j + 1) * w + ow - 1) / ow;
                    float v = 1f / ((h1 - h0) * (w1 - w0));
                    for (int hh = h0; hh < h1; hh++)
                        for (int ww = w0; ww < w1; ww++)
                            ps[(hh * w + ww) * (oh * ow) + i * ow + j] = v;
                }
            }
            var pName = AddInitializer(n.Name + "/pool_matrix", p);
            var flatShape = AddInitializer(n.Name + "/flat_shape", Tensor.From(new long[] { 0, 0, -1 }));
            var outShape = AddInitializer(n.Name + "/out_shape", Tensor.From(new long[] { 0, 0, oh, ow }));
            var flat = NewValue(y + "_flat");
            var pooled = NewValue(y + "_pooled");
            AddNode("Reshape", NewNode(n.Name + "/flatten"), new[] { x, flatShape }, new[] { flat });
            AddNode("MatMul", n.Name, new[] { flat, pName }, new[] { pooled });
            AddNode("Reshape", NewNode(n.Name + "/unflatten"), new[] { pooled, outShape }, new[] { y });
        }

        private void WriteSoftmax(Node n, string opType, int axis, bool coerce2D)
        {
            string x = n.Inputs[0], y = n.Outputs[0];
            if (!coerce2D)
            {
                AddNode(opType, n.Name, new[] { x }, new[] { y }, AttrInt("axis", axis));
                return;
            }
            // Opset < 13 semantics: softmax over the flattened [prod(d0..axis-1), prod(axis..)] view. Identical to
            // softmax over the last axis when axis is the last one; otherwise Flatten → softmax(1) → Reshape back.
            var s = ShapeOf(x);
            if (s is not null && (axis == -1 || axis == s.Length - 1))
            {
                AddNode(opType, n.Name, new[] { x }, new[] { y }, AttrInt("axis", -1));
                return;
            }
            var flat = NewValue(y + "_2d");
            var soft = NewValue(y + "_2d_" + opType.ToLowerInvariant());
            var shape = NewValue(y + "_shape");
            AddNode("Flatten", NewNode(n.Name + "/flatten"), new[] { x }, new[] { flat }, AttrInt("axis", axis));
            AddNode(opType, n.Name, new[] { flat }, new[] { soft }, AttrInt("axis", 1));
            AddNode("Shape", NewNode(n.Name + "/shape"), new[] { x }, new[] { shape });
            AddNode("Reshape", NewNode(n.Name + "/reshape"), new[] { soft, shape }, new[] { y });
        }

        private void WriteReduceMean(Node n, ReduceMeanOp rm)
        {
            var keep = AttrInt("keepdims", rm.KeepDims ? 1 : 0);
            int[]? axes = rm.Axes;
            string? axesInput = n.InputOrNull(1);
            if (_opset < 18)
            {
                if (axes is null && axesInput is not null)
                {
                    if (!_g.Initializers.TryGetValue(axesInput, out var t))
                        throw Unsupported(n, "ReduceMean with runtime axes needs opset ≥ 18");
                    axes = t.ToInt64Array().Select(v => (int)v).ToArray();
                }
                if (axes is null && rm.NoopWithEmptyAxes)
                {
                    AddNode("Identity", n.Name, new[] { n.Inputs[0] }, n.Outputs);
                    return;
                }
                AddNode("ReduceMean", n.Name, new[] { n.Inputs[0] }, n.Outputs, axes is null ? null : AttrInts("axes", axes), keep);
                return;
            }
            var ins = new List<string> { n.Inputs[0] };
            if (axes is not null) ins.Add(AddInitializer(n.Name + "/axes", Tensor.From(axes.Select(a => (long)a).ToArray())));
            else if (axesInput is not null) ins.Add(axesInput);
            AddNode("ReduceMean", n.Name, ins, n.Outputs, keep, rm.NoopWithEmptyAxes ? AttrInt("noop_with_empty_axes", 1) : null);
        }

        private void WriteAxesOp(Node n, string opType, int[]? axes)
        {
            var ins = new List<string> { n.Inputs[0] };
            if (axes is not null) ins.Add(AddInitializer(n.Name + "/axes", Tensor.From(axes.Select(a => (long)a).ToArray())));
            else if (n.InputOrNull(1) is { } a) ins.Add(a);
            AddNode(opType, n.Name, ins, n.Outputs);
        }

        private void WriteQuantize(Node n, QuantizeLinearOp q) =>
            EmitQuantize(n, n.Name, n.Inputs[0], n.Inputs[1], n.InputOrNull(2), q.Axis, q.BlockSize, q.OutputDType, n.Outputs[0]);

        /// <summary>
        /// A DequantizeLinear node y = (x − zero_point) · scale (per tensor, per axis, or blocked from opset 21).
        /// Also the building block for exporting INT8 operator records as QDQ.
        /// </summary>
        private void EmitDequantize(Node origin, string name, string x, string scale, string? zeroPoint, int axis, int blockSize, string y)
        {
            if (blockSize > 0) NeedOpset(origin, 21, "blocked DequantizeLinear");
            if (_knownTypes.TryGetValue(x, out var xt) && xt is DType.Int16 or DType.UInt16)
                NeedOpset(origin, 21, $"DequantizeLinear of {xt.Name()}");
            var ins = zeroPoint is null ? new[] { x, scale } : new[] { x, scale, zeroPoint };
            AddNode("DequantizeLinear", name, ins, new[] { y }, AttrInt("axis", axis), blockSize > 0 ? AttrInt("block_size", blockSize) : null);
        }

        /// <summary>
        /// A QuantizeLinear node y = saturate(round(x / scale) + zero_point). Without a zero point the output type is
        /// <paramref name="outputType"/> (uint8 when null): written as output_dtype from opset 21, before that as an
        /// all-zero zero point of that type and the scale's shape (the same quantization).
        /// </summary>
        private void EmitQuantize(Node origin, string name, string x, string scale, string? zeroPoint, int axis, int blockSize, DType? outputType, string y)
        {
            if (blockSize > 0) NeedOpset(origin, 21, "blocked QuantizeLinear");
            var qt = outputType ?? (zeroPoint is not null && _knownTypes.TryGetValue(zeroPoint, out var zt) ? zt : null);
            if (qt is DType.Int16 or DType.UInt16) NeedOpset(origin, 21, $"QuantizeLinear to {qt.Value.Name()}");
            var ins = new List<string> { x, scale };
            if (zeroPoint is not null) ins.Add(zeroPoint);
            AttributeProto? outputDtype = null;
            if (zeroPoint is null && outputType is { } dt && dt != DType.UInt8)
            {
                if (_opset >= 21) outputDtype = AttrInt("output_dtype", (int)dt);
                else if (ShapeOf(scale) is { } scaleShape && scaleShape.All(d => d >= 0))
                    ins.Add(AddInitializer(name + "/zero_point", new Tensor(dt, scaleShape)));
                else throw Unsupported(origin, $"QuantizeLinear to {dt.Name()} without a zero point needs opset ≥ 21 (output_dtype), or a scale of known shape");
            }
            AddNode("QuantizeLinear", name, ins, new[] { y }, AttrInt("axis", axis), blockSize > 0 ? AttrInt("block_size", blockSize) : null, outputDtype);
        }
    }
}
