using System.Globalization;
using System.Text;
using Google.Protobuf;
using Vgg.Engine.IR;
using Vgg.Engine.Loader.Onnx.Proto;

namespace Vgg.Engine.Loader.Onnx;

/// <summary>Facts about an imported ONNX file besides its graph.</summary>
public sealed record OnnxModelInfo(long IrVersion, int Opset, string ProducerName, string ProducerVersion, IReadOnlyDictionary<string, int> OpsetImports)
{
    public override string ToString() => $"ONNX IR {IrVersion}, opset {Opset}, producer '{ProducerName}' {ProducerVersion}".TrimEnd();
}

/// <summary>Choices for <see cref="OnnxImporter"/>.</summary>
public sealed record OnnxImportOptions
{
    /// <summary>The defaults: every choice strict.</summary>
    public static OnnxImportOptions Default { get; } = new();

    /// <summary>
    /// A Dropout exported in training mode (<c>training_mode</c> = true, as torch.onnx writes for a module left
    /// in train()) is refused by default: its output is random. When true it imports as the inference
    /// identity (the value whose expectation training-mode dropout preserves, since PyTorch scales by 1/(1−p)).
    /// </summary>
    public bool TrainingDropoutAsIdentity { get; init; }
}

/// <summary>
/// Reads an ONNX model (onnx.proto ModelProto) into the engine's graph IR (<see cref="Graph"/>).
/// </summary>
/// <remarks>
/// <para>Operators (default domain ai.onnx, opsets 7–21 and the others <see cref="OnnxOpsets"/> describes):
/// Conv, Relu, MaxPool (with the Indices output), AveragePool, GlobalAveragePool, GlobalMaxPool, Flatten,
/// Reshape, Gemm, MatMul, Add, Sub, Mul, Div, Sigmoid, Tanh, Neg, Exp, Sqrt, Abs, ReduceMean, BatchNormalization
/// (inference), Dropout (inference), Softmax and LogSoftmax (axis semantics by opset), Constant,
/// ConstantOfShape, Identity, Cast, QuantizeLinear and DequantizeLinear (per tensor, per axis, blocked),
/// and the shape operators older exporters put in front of Reshape (Shape, Gather, Unsqueeze, Squeeze, Concat).
/// Anything else — another operator, an attribute or attribute value the engine does not implement, a data
/// type it does not hold, a node in another domain — is an <see cref="UnsupportedOperatorException"/>
/// naming the node, op type, domain and opset. Nothing is dropped silently.</para>
/// <para>Values: initializers become <see cref="Graph.Initializers"/> (all storage forms of onnx.proto,
/// including external data files beside the model); a graph input that also has an initializer is a
/// weight (the initializer is its value) and is not a runtime input; Constant nodes become initializers;
/// a symbolic or unknown dimension (<c>dim_param</c>) is −1. Shape-computing chains in front of Reshape
/// (Shape → Gather → Unsqueeze → Concat, as torch.onnx writes for <c>x.view(x.size(0), -1)</c>) are folded
/// at load: to a constant shape, with a 0 ("copy this dimension") where the chain forwards a dimension of the
/// reshaped tensor itself, such as a dynamic batch. ConstantOfShape with a constant shape becomes an initializer.</para>
/// </remarks>
public static class OnnxImporter
{
    /// <summary>
    /// Reads an ONNX model as an engine <see cref="Vgg.Engine.Models.Model"/> (architecture "onnx"). ONNX files carry
    /// no image pipeline: <paramref name="preprocessing"/> is used, else torchvision's ImageNet pipeline.
    /// <see cref="Vgg.Engine.Models.Model.NumClasses"/> is the last dimension of a rank-2 first output (0 otherwise);
    /// <see cref="Vgg.Engine.Models.Model.InputSize"/> the height and width of a rank-4 first input when fixed (224×224 otherwise).
    /// </summary>
    /// <exception cref="ModelFormatException">See <see cref="Load(string)"/>.</exception>
    /// <exception cref="GraphException">See <see cref="Load(string)"/>.</exception>
    /// <exception cref="UnsupportedOperatorException">See <see cref="Load(string)"/>.</exception>
    public static Vgg.Engine.Models.Model LoadModel(string path, Vgg.Engine.Models.Preprocessing? preprocessing = null, OnnxImportOptions? options = null)
    {
        var g = Load(path, options ?? OnnxImportOptions.Default);
        int classes = g.Outputs.Count > 0 && g.Outputs[0].Shape is { Length: 2 } os && os[1] > 0 ? os[1] : 0;
        var size = g.Inputs.Count > 0 && g.Inputs[0].Shape is { Length: 4 } s && s[2] > 0 && s[3] > 0 ? (s[2], s[3]) : (224, 224);
        return new Vgg.Engine.Models.Model(g, "onnx", preprocessing ?? Vgg.Engine.Models.Preprocessing.ImageNet)
        {
            NumClasses = classes,
            InputSize = size,
        };
    }

    /// <summary>Reads the ONNX model at <paramref name="path"/>; external data is read relative to its folder.</summary>
    /// <exception cref="ModelFormatException">The file is missing, not an ONNX protobuf, has no graph, or holds malformed tensors (names the file and tensor).</exception>
    /// <exception cref="GraphException">The graph is malformed (undefined value, duplicate definition, bad attribute value); names the node and file.</exception>
    /// <exception cref="UnsupportedOperatorException">An operator, attribute or data type the engine does not support; names the node, op type, domain and opset.</exception>
    public static Graph Load(string path) => Load(path, OnnxImportOptions.Default, out _);

    /// <summary>As <see cref="Load(string)"/> with <paramref name="options"/>.</summary>
    public static Graph Load(string path, OnnxImportOptions options) => Load(path, options, out _);

    /// <summary>As <see cref="Load(string)"/>, also returning the model's IR version, opsets and producer.</summary>
    public static Graph Load(string path, OnnxImportOptions options, out OnnxModelInfo info)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(path, null, "cannot be read: " + e.Message, e);
        }
        return Load(bytes, Path.GetDirectoryName(Path.GetFullPath(path)), path, options, out info);
    }

    /// <summary>
    /// Reads an ONNX model from <paramref name="stream"/>. <paramref name="modelDirectory"/> is the folder
    /// external data paths are relative to (null: a model with external data is refused);
    /// <paramref name="sourceName"/> names the model in error messages.
    /// </summary>
    public static Graph Load(Stream stream, string? modelDirectory = null, string? sourceName = null, OnnxImportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return Load(ms.ToArray(), modelDirectory, sourceName, options ?? OnnxImportOptions.Default, out _);
    }

    /// <summary>Reads an ONNX model from its serialized bytes; see <see cref="Load(Stream, string?, string?, OnnxImportOptions?)"/>.</summary>
    public static Graph Load(byte[] modelBytes, string? modelDirectory, string? sourceName, OnnxImportOptions options, out OnnxModelInfo info)
    {
        ArgumentNullException.ThrowIfNull(modelBytes);
        ArgumentNullException.ThrowIfNull(options);
        var model = Parse(modelBytes, sourceName);
        return new Importer(model, modelDirectory, sourceName, options).Run(out info);
    }

    /// <summary>Parses the protobuf, turning the usual wrong files (empty, HTML, Git LFS pointer, truncated) into a clear error.</summary>
    internal static ModelProto Parse(byte[] bytes, string? file)
    {
        if (bytes.Length == 0)
            throw new ModelFormatException(file, null, "the file is empty; expected an ONNX model (a serialized onnx.ModelProto)");
        var head = Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, 64));
        if (head.StartsWith("version https://git-lfs", StringComparison.Ordinal))
            throw new ModelFormatException(file, null, "the file is a Git LFS pointer, not the model; fetch it with `git lfs pull`");
        var trimmed = head.TrimStart();
        if (trimmed.StartsWith("<", StringComparison.Ordinal) && (trimmed.Contains("html", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("<?xml", StringComparison.Ordinal)))
            throw new ModelFormatException(file, null, "the file is an HTML/XML page, not an ONNX model (a download that saved an error or login page?)");
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelFormatException(file, null, $"not a valid ONNX model: the protobuf does not parse ({e.Message}); the file may be truncated or not an .onnx file", e);
        }
        if (model.Graph is null)
            throw new ModelFormatException(file, "graph", "the model has no graph (ModelProto.graph is missing); not an ONNX model, or a truncated one");
        if (!model.HasIrVersion || model.IrVersion <= 0)
            throw new ModelFormatException(file, "ir_version", "ModelProto.ir_version is missing; not an ONNX model, or a truncated one");
        return model;
    }

    /// <summary>One import: the state shared by the node converters.</summary>
    private sealed class Importer
    {
        private readonly ModelProto _model;
        private readonly string? _dir;
        private readonly string? _file;
        private readonly Graph _g = new();
        private readonly Dictionary<string, ValueInfo> _declared = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _domains = new(StringComparer.Ordinal);
        private readonly HashSet<string> _nodeNames = new(StringComparer.Ordinal);
        private readonly HashSet<string> _valueNames = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _firstConsumer = new(StringComparer.Ordinal);
        private readonly OnnxImportOptions _options;
        private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);
        private int _opset;

        public Importer(ModelProto model, string? dir, string? file, OnnxImportOptions options)
        {
            _model = model;
            _dir = dir;
            _file = file;
            _options = options;
        }

        private string InFile => _file is null ? "" : $" (in {_file})";

        public Graph Run(out OnnxModelInfo info)
        {
            ReadOpsets();
            var gp = _model.Graph;
            _g.Name = string.IsNullOrEmpty(gp.Name) ? (_file is null ? "onnx" : Path.GetFileNameWithoutExtension(_file)) : gp.Name;
            _g.Opset = _opset;

            foreach (var o in gp.Output) _consumed.Add(o.Name);
            foreach (var n in gp.Node)
            {
                foreach (var i in n.Input)
                    if (i.Length > 0) { _firstConsumer.TryAdd(i, NodeLabel(n)); _consumed.Add(i); }
                foreach (var o in n.Output)
                    if (o.Length > 0) _valueNames.Add(o);
            }

            ReadInitializers(gp);
            ReadValueInfos(gp);

            var ordered = TopologicalOrder(gp);
            int index = 0;
            foreach (var n in ordered)
                ImportNode(n, index++);

            foreach (var o in gp.Output)
            {
                if (string.IsNullOrEmpty(o.Name)) throw new GraphException(null, $"a graph output has no name{InFile}");
                _g.Outputs.Add(ToValueInfo(o, "graph output"));
            }

            try
            {
                _g.Validate();
            }
            catch (GraphException e)
            {
                throw new GraphException(e.NodeName, StripNodePrefix(e) + InFile);
            }

            var folded = Fold(_g);

            info = new OnnxModelInfo(_model.IrVersion, _opset, _model.ProducerName, _model.ProducerVersion, new Dictionary<string, int>(_domains));
            return folded;
        }

        /// <summary>
        /// ConstantOfShape weights filled, then the engine's constant folding (Constant-fed nodes, Shape of fully
        /// known shapes; it runs shape inference over the whole graph, so a shape that does not agree stops the
        /// import here, naming the node), then the symbolic fold of the dynamic-batch shape chains left.
        /// </summary>
        private Graph Fold(Graph g)
        {
            try
            {
                OnnxFolding.FillConstantOfShape(g);
                var folded = ConstantFolding.Fold(g);
                var types = ShapeInference.Infer(folded);
                OnnxFolding.FoldShapeChains(folded, v => types.TryGetValue(v, out var vi) ? vi.Shape : null);
                return folded;
            }
            catch (GraphException e)
            {
                throw new GraphException(e.NodeName, StripNodePrefix(e) + InFile);
            }
        }

        private static string StripNodePrefix(GraphException e)
        {
            var m = e.Message;
            var prefix = e.NodeName is null ? "" : $"node '{e.NodeName}': ";
            return m.StartsWith(prefix, StringComparison.Ordinal) ? m[prefix.Length..] : m;
        }

        private void ReadOpsets()
        {
            foreach (var o in _model.OpsetImport)
            {
                var d = o.Domain == "ai.onnx" ? "" : o.Domain;
                if (o.Version < 1 || o.Version > int.MaxValue)
                    throw new ModelFormatException(_file, "opset_import", $"domain '{(d.Length == 0 ? "ai.onnx" : d)}' has opset version {o.Version}");
                _domains[d] = (int)o.Version;
            }
            if (!_domains.TryGetValue("", out _opset))
            {
                // IR version < 3 has no opset_import and means opset 1 (onnx/docs/Versioning.md).
                if (_model.IrVersion < 3) _opset = 1;
                else throw new ModelFormatException(_file, "opset_import", "the model imports no default-domain (ai.onnx) opset; ONNX requires one for IR version ≥ 3");
            }
            if (_opset > OnnxOpsets.MaxKnownOpset && _model.Graph.Node.Any(n => n.Domain is "" or "ai.onnx"))
            {
                var first = _model.Graph.Node.First(n => n.Domain is "" or "ai.onnx");
                throw new UnsupportedOperatorException(NodeLabel(first), first.OpType, "", _opset,
                    $"the model uses ai.onnx opset {_opset}; this importer knows the operator versions up to opset {OnnxOpsets.MaxKnownOpset}, so it cannot tell whether the operators keep their meaning. Re-export with opset ≤ {OnnxOpsets.MaxKnownOpset} (17 is well supported){InFile}");
            }
        }

        private void ReadInitializers(GraphProto gp)
        {
            foreach (var t in gp.Initializer)
            {
                if (string.IsNullOrEmpty(t.Name))
                    throw new ModelFormatException(_file, null, "an initializer has no name");
                if (_g.Initializers.ContainsKey(t.Name))
                    throw new GraphException(null, $"initializer '{t.Name}' is defined twice{InFile}");
                if (_valueNames.Contains(t.Name))
                    throw new GraphException(_firstConsumer.GetValueOrDefault(t.Name), $"'{t.Name}' is both an initializer and a node output{InFile}");
                Tensor tensor;
                try
                {
                    tensor = OnnxTensors.FromProto(t, _dir, _file);
                }
                catch (UnsupportedDataTypeException e)
                {
                    throw UnsupportedType(t.Name, "initializer", e.Message);
                }
                _g.Initializers[t.Name] = tensor;
                _declared[t.Name] = new ValueInfo(t.Name, tensor.DType, tensor.ShapeArray());
                _valueNames.Add(t.Name);
            }
        }

        private void ReadValueInfos(GraphProto gp)
        {
            foreach (var vi in gp.ValueInfo)
                if (!string.IsNullOrEmpty(vi.Name) && vi.Type?.TensorType is not null && OnnxTensors.ToDType(vi.Type.TensorType.ElemType) is not null)
                    _declared.TryAdd(vi.Name, ToValueInfo(vi, "value"));
            foreach (var vi in gp.Output)
                if (!string.IsNullOrEmpty(vi.Name) && vi.Type?.TensorType is not null && OnnxTensors.ToDType(vi.Type.TensorType.ElemType) is not null)
                    _declared.TryAdd(vi.Name, ToValueInfo(vi, "graph output"));
            foreach (var vi in gp.Input)
            {
                if (string.IsNullOrEmpty(vi.Name)) throw new GraphException(null, $"a graph input has no name{InFile}");
                // An input that also has an initializer is a weight: the initializer is its value (IR ≥ 4 semantics;
                // the ONNX test runner feeds only the other inputs).
                if (_g.Initializers.ContainsKey(vi.Name)) continue;
                var info = ToValueInfo(vi, "graph input");
                _g.Inputs.Add(info);
                _declared[vi.Name] = info;
                _valueNames.Add(vi.Name);
            }
        }

        private ValueInfo ToValueInfo(ValueInfoProto vi, string what)
        {
            var tt = vi.Type?.TensorType;
            if (vi.Type is null || tt is null)
                throw UnsupportedType(vi.Name, what, $"{what} '{vi.Name}' is not a tensor (sequence, map and optional types are not supported), or has no type");
            var dtype = OnnxTensors.ToDType(tt.ElemType)
                ?? throw UnsupportedType(vi.Name, what, $"{what} '{vi.Name}' has ONNX data type {OnnxTensors.TypeName(tt.ElemType)} ({tt.ElemType}); supported: {OnnxTensors.SupportedTypeList}");
            if (tt.Shape is null) return new ValueInfo(vi.Name, dtype, null);
            var shape = new int[tt.Shape.Dim.Count];
            for (int i = 0; i < shape.Length; i++)
            {
                var d = tt.Shape.Dim[i];
                if (d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue)
                {
                    if (d.DimValue < 0 || d.DimValue > int.MaxValue)
                        throw new ModelFormatException(_file, vi.Name, $"{what} dimension {i} is {d.DimValue}");
                    shape[i] = (int)d.DimValue;
                }
                else shape[i] = -1; // dim_param (a named, dynamic dimension such as the batch) or unknown
            }
            return new ValueInfo(vi.Name, dtype, shape);
        }

        private UnsupportedOperatorException UnsupportedType(string valueName, string what, string detail)
        {
            // Name the node that reads the value: that is where the type stops the import.
            var consumer = _model.Graph.Node.FirstOrDefault(n => n.Input.Contains(valueName));
            if (consumer is not null)
                return new UnsupportedOperatorException(NodeLabel(consumer), consumer.OpType, consumer.Domain, DomainOpset(consumer.Domain), detail + InFile);
            return new UnsupportedOperatorException(valueName, what, "", _opset, detail + InFile);
        }

        private int DomainOpset(string domain) => _domains.TryGetValue(domain == "ai.onnx" ? "" : domain, out var v) ? v : 0;

        private static string NodeLabel(NodeProto n) => string.IsNullOrEmpty(n.Name) ? $"{n.OpType}({string.Join(",", n.Output)})" : n.Name;

        /// <summary>Nodes in topological order (ONNX requires it; a stable sort repairs files that do not keep it). Cycles and undefined inputs are left for validation to name.</summary>
        private List<NodeProto> TopologicalOrder(GraphProto gp)
        {
            var available = new HashSet<string>(_g.Initializers.Keys, StringComparer.Ordinal);
            foreach (var i in gp.Input) available.Add(i.Name);
            var producers = new HashSet<string>(gp.Node.SelectMany(n => n.Output).Where(o => o.Length > 0), StringComparer.Ordinal);
            bool Ready(NodeProto n) => n.Input.All(i => i.Length == 0 || available.Contains(i) || !producers.Contains(i));
            var pending = gp.Node.ToList();
            var result = new List<NodeProto>(pending.Count);
            while (pending.Count > 0)
            {
                int before = pending.Count;
                for (int k = 0; k < pending.Count;)
                {
                    var n = pending[k];
                    if (Ready(n))
                    {
                        result.Add(n);
                        foreach (var o in n.Output) if (o.Length > 0) available.Add(o);
                        pending.RemoveAt(k);
                        // restart from the front so the original order is kept wherever it is valid
                        k = 0;
                    }
                    else k++;
                }
                if (pending.Count == before)
                {
                    result.AddRange(pending); // a cycle: validation reports the first node whose input is not defined before it
                    break;
                }
            }
            return result;
        }

        private string UniqueNodeName(NodeProto n, int index)
        {
            var baseName = string.IsNullOrEmpty(n.Name) ? $"{n.OpType}_{index}" : n.Name;
            var name = baseName;
            for (int k = 1; !_nodeNames.Add(name); k++) name = $"{baseName}_{k}";
            return name;
        }

        /// <summary>A value name not used in the graph, for tensors the importer adds.</summary>
        private string NewValueName(string hint)
        {
            var name = hint;
            for (int k = 1; _valueNames.Contains(name); k++) name = $"{hint}_{k}";
            _valueNames.Add(name);
            return name;
        }

        private string NewNodeName(string hint)
        {
            var name = hint;
            for (int k = 1; !_nodeNames.Add(name); k++) name = $"{hint}_{k}";
            return name;
        }

        private void ImportNode(NodeProto n, int index)
        {
            var name = UniqueNodeName(n, index);
            var domain = n.Domain == "ai.onnx" ? "" : n.Domain;
            if (string.IsNullOrEmpty(n.OpType))
                throw new GraphException(name, $"the node has no op_type{InFile}");
            if (domain.Length > 0)
                throw new UnsupportedOperatorException(name, n.OpType, domain, DomainOpset(domain),
                    $"operators outside the default ONNX domain (ai.onnx) are not supported; '{domain}' operators come from a runtime-specific optimizer or converter — export the model with standard ONNX operators{InFile}");
            int? version = OnnxOpsets.ResolveVersion(n.OpType, _opset);
            var nref = new OnnxNodeRef(name, n.OpType, "", _opset, version ?? 0, _file);
            if (version is null)
            {
                if (OnnxOpsets.IsKnown(n.OpType))
                    throw nref.Unsupported($"{n.OpType} does not exist at opset {_opset} (first version {OnnxOpsets.Versions(n.OpType)[0]})");
                throw nref.Unsupported($"operator {n.OpType} is not supported by Vgg.Engine (supported: {string.Join(", ", SupportedOps)})");
            }
            var a = new OnnxAttributes(n, nref);
            var ins = n.Input.ToList();
            var outs = n.Output.ToList();
            while (outs.Count > 0 && outs[^1].Length == 0) outs.RemoveAt(outs.Count - 1);
            while (ins.Count > 0 && ins[^1].Length == 0) ins.RemoveAt(ins.Count - 1);
            var c = new NodeContext(this, n, nref, a, name, version.Value, ins, outs);
            Convert(c);
            a.ThrowOnUnread();
        }

        internal static readonly string[] SupportedOps =
        {
            "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "Concat", "Constant", "ConstantOfShape", "Conv",
            "DequantizeLinear", "Div", "Dropout", "Exp", "Flatten", "Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
            "Identity", "LogSoftmax", "MatMul", "MaxPool", "Mul", "Neg", "QuantizeLinear", "ReduceMean", "Relu", "Reshape",
            "Shape", "Sigmoid", "Softmax", "Sqrt", "Squeeze", "Sub", "Tanh", "Unsqueeze",
        };

        private sealed record NodeContext(Importer Imp, NodeProto Proto, OnnxNodeRef Ref, OnnxAttributes A, string Name, int Version, List<string> Inputs, List<string> Outputs)
        {
            public string In(int i) => i < Inputs.Count ? Inputs[i] : "";

            public void Arity(int minIn, int maxIn, int minOut, int maxOut)
            {
                if (Inputs.Count < minIn || Inputs.Count > maxIn)
                    throw Ref.Malformed($"has {Inputs.Count} inputs; expected {(minIn == maxIn ? minIn.ToString(CultureInfo.InvariantCulture) : $"{minIn} to {maxIn}")}");
                for (int i = 0; i < minIn; i++)
                    if (Inputs[i].Length == 0) throw Ref.Malformed($"required input {i} is empty");
                if (Outputs.Count < minOut || Outputs.Count > maxOut)
                    throw Ref.Malformed($"has {Outputs.Count} outputs; expected {(minOut == maxOut ? minOut.ToString(CultureInfo.InvariantCulture) : $"{minOut} to {maxOut}")}");
                if (Outputs.Count > 0 && Outputs[0].Length == 0) throw Ref.Malformed("its first output has no name");
            }

            public void Emit(Op op) => Emit(op, Inputs, Outputs);

            public void Emit(Op op, IEnumerable<string> inputs, IEnumerable<string> outputs) =>
                Imp._g.Nodes.Add(new Node(Name, op, inputs, outputs));
        }

        private void Convert(NodeContext c)
        {
            var a = c.A;
            switch (c.Proto.OpType)
            {
                case "Conv": ImportConv(c); break;
                case "MaxPool": ImportMaxPool(c); break;
                case "AveragePool": ImportAveragePool(c); break;
                case "GlobalAveragePool": c.Arity(1, 1, 1, 1); c.Emit(new GlobalAveragePoolOp()); break;
                case "GlobalMaxPool": c.Arity(1, 1, 1, 1); c.Emit(new GlobalMaxPoolOp()); break;
                case "Relu": Unary(c, UnaryKind.Relu); break;
                case "Sigmoid": Unary(c, UnaryKind.Sigmoid); break;
                case "Tanh": Unary(c, UnaryKind.Tanh); break;
                case "Neg": Unary(c, UnaryKind.Neg); break;
                case "Exp": Unary(c, UnaryKind.Exp); break;
                case "Sqrt": Unary(c, UnaryKind.Sqrt); break;
                case "Abs": Unary(c, UnaryKind.Abs); break;
                case "Add": ImportBinary(c, BinaryKind.Add); break;
                case "Sub": ImportBinary(c, BinaryKind.Sub); break;
                case "Mul": ImportBinary(c, BinaryKind.Mul); break;
                case "Div": ImportBinary(c, BinaryKind.Div); break;
                case "Flatten":
                    c.Arity(1, 1, 1, 1);
                    c.Emit(new FlattenOp(a.IntIn("axis", 1, -1024, 1024)));
                    break;
                case "Reshape": ImportReshape(c); break;
                case "Gemm": ImportGemm(c); break;
                case "MatMul": c.Arity(2, 2, 1, 1); c.Emit(new MatMulOp()); break;
                case "ReduceMean": ImportReduceMean(c); break;
                case "BatchNormalization": ImportBatchNorm(c); break;
                case "Dropout": ImportDropout(c); break;
                case "Softmax":
                case "LogSoftmax": ImportSoftmax(c); break;
                case "Constant": ImportConstant(c); break;
                case "ConstantOfShape": ImportConstantOfShape(c); break;
                case "Identity": c.Arity(1, 1, 1, 1); c.Emit(new IdentityOp()); break;
                case "Cast": ImportCast(c); break;
                case "QuantizeLinear": ImportQuantize(c); break;
                case "DequantizeLinear": ImportDequantize(c); break;
                case "Shape":
                    c.Arity(1, 1, 1, 1);
                    {
                        int start = a.IntIn("start", 0, -1024, 1024);
                        long? end = a.IntOrNull("end");
                        if (end is < -1024 or > 1024) throw c.Ref.Malformed($"attribute 'end' is {end}");
                        c.Emit(new ShapeOp(start, end is null ? null : (int)end.Value));
                    }
                    break;
                case "Gather":
                    c.Arity(2, 2, 1, 1);
                    c.Emit(new GatherOp(a.IntIn("axis", 0, -1024, 1024)));
                    break;
                case "Unsqueeze":
                case "Squeeze": ImportSqueeze(c); break;
                case "Concat":
                    c.Arity(1, int.MaxValue, 1, 1);
                    if (c.Version >= 4 && !a.Has("axis")) throw c.Ref.Malformed("attribute 'axis' is required");
                    c.Emit(new ConcatOp(a.IntIn("axis", 1, -1024, 1024)));
                    break;
                default:
                    throw c.Ref.Unsupported($"operator {c.Proto.OpType} is not supported by Vgg.Engine");
            }
        }

        // ---- helpers over declared types and constants ----

        private int[]? ShapeOf(string value) =>
            _g.Initializers.TryGetValue(value, out var t) ? t.ShapeArray() : _declared.TryGetValue(value, out var vi) ? vi.Shape : null;

        private DType? DTypeOf(string value) =>
            _g.Initializers.TryGetValue(value, out var t) ? t.DType : _declared.TryGetValue(value, out var vi) ? vi.DType : null;

        private Tensor? ConstantOf(string value) => value.Length > 0 && _g.Initializers.TryGetValue(value, out var t) ? t : null;

        private static AutoPad ParseAutoPad(NodeContext c)
        {
            var s = c.A.String("auto_pad");
            return s switch
            {
                null or "" or "NOTSET" => AutoPad.NotSet,
                "SAME_UPPER" => AutoPad.SameUpper,
                "SAME_LOWER" => AutoPad.SameLower,
                "VALID" => AutoPad.Valid,
                _ => throw c.Ref.Unsupported($"auto_pad '{s}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"),
            };
        }

        /// <summary>kernel_shape, strides, pads and dilations of a Conv or pooling node, with ONNX's defaults and the length checks.</summary>
        private static (int[] K, int[] S, int[] P, int[] D, AutoPad Auto) Window(NodeContext c, int[]? kernelFromWeight, bool dilationsAllowed)
        {
            var a = c.A;
            var k = a.IntArray("kernel_shape", 1, 1 << 20) ?? kernelFromWeight
                ?? throw c.Ref.Unsupported("attribute 'kernel_shape' is absent and the weight's shape is not known at load (an initializer or a declared input shape is needed)");
            if (k.Length == 0) throw c.Ref.Malformed("kernel_shape is empty");
            int r = k.Length;
            var auto = ParseAutoPad(c);
            var s = a.IntArray("strides", 1, 1 << 20) ?? Enumerable.Repeat(1, r).ToArray();
            var p = a.IntArray("pads", 0, 1 << 20) ?? new int[2 * r];
            var d = (dilationsAllowed ? a.IntArray("dilations", 1, 1 << 20) : null) ?? Enumerable.Repeat(1, r).ToArray();
            if (s.Length != r) throw c.Ref.Malformed($"strides has {s.Length} entries; kernel_shape has {r}");
            if (d.Length != r) throw c.Ref.Malformed($"dilations has {d.Length} entries; kernel_shape has {r}");
            if (p.Length != 2 * r) throw c.Ref.Malformed($"pads has {p.Length} entries; expected {2 * r} (begins then ends)");
            // With auto_pad set the explicit pads are not used (Conv/pool spec: "cannot be used simultaneously").
            if (auto != AutoPad.NotSet) p = new int[2 * r];
            return (k, s, p, d, auto);
        }

        private void ImportConv(NodeContext c)
        {
            c.Arity(2, 3, 1, 1);
            var w = ShapeOf(c.In(1));
            int[]? kFromW = w is { Length: >= 3 } && w.Skip(2).All(x => x > 0) ? w[2..] : null;
            var (k, s, p, d, auto) = Window(c, kFromW, dilationsAllowed: true);
            int group = c.A.IntIn("group", 1, 1, int.MaxValue);
            if (kFromW is not null && !kFromW.SequenceEqual(k))
                throw c.Ref.Malformed($"kernel_shape [{string.Join(", ", k)}] does not match the weight '{c.In(1)}' of shape {Tensor.FormatShape(w!)}");
            c.Emit(new ConvOp(k, s, p, d, group, auto));
        }

        private void ImportMaxPool(NodeContext c)
        {
            c.Arity(1, 1, 1, c.Version >= 8 ? 2 : 1);
            if (!c.A.Has("kernel_shape")) throw c.Ref.Malformed("attribute 'kernel_shape' is required");
            var (k, s, p, d, auto) = Window(c, null, dilationsAllowed: c.Version >= 10);
            bool ceil = c.Version >= 10 && c.A.IntIn("ceil_mode", 0, 0, 1) == 1;
            int storage = c.Version >= 8 ? c.A.IntIn("storage_order", 0, 0, 1) : 0;
            c.Emit(new MaxPoolOp(k, s, p, d, ceil, auto, storage));
        }

        private void ImportAveragePool(NodeContext c)
        {
            c.Arity(1, 1, 1, 1);
            if (!c.A.Has("kernel_shape")) throw c.Ref.Malformed("attribute 'kernel_shape' is required");
            var (k, s, p, d, auto) = Window(c, null, dilationsAllowed: c.Version >= 19);
            bool ceil = c.Version >= 10 && c.A.IntIn("ceil_mode", 0, 0, 1) == 1;
            // count_include_pad exists from AveragePool-7; before it, padding was always excluded.
            bool include = c.Version >= 7 && c.A.IntIn("count_include_pad", 0, 0, 1) == 1;
            c.Emit(new AveragePoolOp(k, s, p, d, ceil, include, auto));
        }

        private static void Unary(NodeContext c, UnaryKind kind)
        {
            c.Arity(1, 1, 1, 1);
            c.Emit(new UnaryOp(kind));
        }

        private void ImportBinary(NodeContext c, BinaryKind kind)
        {
            c.Arity(2, 2, 1, 1);
            if (c.Version >= 7) { c.Emit(new BinaryOp(kind)); return; }
            // Opset < 7: broadcasting only when broadcast = 1, with B's shape a contiguous run of A's starting at
            // 'axis' (default: the trailing run, which is numpy's rule). Rewritten as numpy broadcasting by
            // appending size-1 axes to B where needed.
            bool broadcast = c.A.IntIn("broadcast", 0, 0, 1) == 1;
            long? axis = c.A.IntOrNull("axis");
            if (!broadcast || axis is null) { c.Emit(new BinaryOp(kind)); return; }
            var sa = ShapeOf(c.In(0));
            var sb = ShapeOf(c.In(1));
            if (sa is null || sb is null)
                throw c.Ref.Unsupported("legacy broadcast with 'axis' needs the ranks of both inputs at load (declared shapes or initializers)");
            long ax = axis.Value < 0 ? axis.Value + sa.Length : axis.Value;
            if (ax < 0 || ax + sb.Length > sa.Length)
                throw c.Ref.Malformed($"broadcast axis {axis} does not fit B {Tensor.FormatShape(sb)} into A {Tensor.FormatShape(sa)}");
            int trailing = sa.Length - (int)ax - sb.Length;
            if (trailing == 0) { c.Emit(new BinaryOp(kind)); return; }
            var newShape = sb.Concat(Enumerable.Repeat(1, trailing)).ToArray();
            string bName;
            if (ConstantOf(c.In(1)) is { } bConst)
            {
                bName = NewValueName(c.In(1) + "_aligned");
                _g.Initializers[bName] = bConst.Reshape(newShape);
                _declared[bName] = new ValueInfo(bName, bConst.DType, newShape);
            }
            else
            {
                if (sb.Any(x => x < 0))
                    throw c.Ref.Unsupported("legacy broadcast with 'axis' on a runtime B of dynamic shape");
                var shapeName = NewValueName(c.Name + "_bshape");
                _g.Initializers[shapeName] = Tensor.From(newShape.Select(x => (long)x).ToArray());
                bName = NewValueName(c.In(1) + "_aligned");
                _g.Nodes.Add(new Node(NewNodeName(c.Name + "_align"), new ReshapeOp(), new[] { c.In(1), shapeName }, new[] { bName }));
            }
            c.Emit(new BinaryOp(kind), new[] { c.In(0), bName }, c.Outputs);
        }

        private void ImportReshape(NodeContext c)
        {
            if (c.Version < 5)
                throw c.Ref.Unsupported("Reshape-1 (opset < 5) takes the shape as an attribute; re-export with opset ≥ 7");
            c.Arity(2, 2, 1, 1);
            bool allowZero = c.Version >= 14 && c.A.IntIn("allowzero", 0, 0, 1) == 1;
            c.Emit(new ReshapeOp(allowZero));
        }

        private void ImportGemm(NodeContext c)
        {
            c.Arity(2, 3, 1, 1);
            var a = c.A;
            float alpha = a.Float("alpha", 1f), beta = a.Float("beta", 1f);
            bool ta = a.IntIn("transA", 0, 0, 1) == 1, tb = a.IntIn("transB", 0, 0, 1) == 1;
            // Gemm < 7: 'broadcast' = 1 allows a broadcast C; with 0, C must already be [M, N]. Our Gemm always
            // broadcasts C unidirectionally, which is the same result for every valid model.
            if (c.Version < 7) a.IntIn("broadcast", 0, 0, 1);
            c.Emit(new GemmOp(alpha, beta, ta, tb));
        }

        private void ImportReduceMean(NodeContext c)
        {
            var a = c.A;
            bool keep = a.IntIn("keepdims", 1, 0, 1) == 1;
            if (c.Version < 18)
            {
                c.Arity(1, 1, 1, 1);
                var axes = a.IntArray("axes", -1024, 1024);
                c.Emit(new ReduceMeanOp(axes, keep));
                return;
            }
            c.Arity(1, 2, 1, 1);
            bool noop = a.IntIn("noop_with_empty_axes", 0, 0, 1) == 1;
            var axesIn = c.In(1);
            if (axesIn.Length == 0)
            {
                if (noop) c.Emit(new IdentityOp(), new[] { c.In(0) }, c.Outputs);
                else c.Emit(new ReduceMeanOp(null, keep), new[] { c.In(0) }, c.Outputs);
                return;
            }
            if (ConstantOf(axesIn) is { } t)
            {
                var axes = ToIntArray(c, t, "axes");
                if (axes.Length == 0)
                {
                    if (noop) c.Emit(new IdentityOp(), new[] { c.In(0) }, c.Outputs);
                    else c.Emit(new ReduceMeanOp(null, keep), new[] { c.In(0) }, c.Outputs);
                }
                else c.Emit(new ReduceMeanOp(axes, keep), new[] { c.In(0) }, c.Outputs);
                return;
            }
            c.Emit(new ReduceMeanOp(null, keep, noop));
        }

        private static int[] ToIntArray(NodeContext c, Tensor t, string what)
        {
            if (!t.DType.IsInteger()) throw c.Ref.Malformed($"{what} is {t.DType.Name()}; expected an integer tensor");
            return t.ToInt64Array().Select(v => v is < -1024 or > 1024 ? throw c.Ref.Malformed($"{what} value {v} is out of range") : (int)v).ToArray();
        }

        private void ImportBatchNorm(NodeContext c)
        {
            var a = c.A;
            c.Arity(5, 5, 1, 5);
            float eps = a.Float("epsilon", 1e-5f);
            a.Ignore("momentum");
            if (c.Version < 7 && a.IntIn("is_test", 0, 0, 1) == 0)
                throw c.Ref.Unsupported("is_test = 0 asks for training-mode batch normalization (batch statistics); only inference (is_test = 1) is supported — export the model in eval mode");
            if (c.Version < 9 && a.IntIn("spatial", 1, 0, 1) == 0)
                throw c.Ref.Unsupported("spatial = 0 (per-activation statistics) is not supported; only per-channel batch normalization");
            if (c.Version >= 14 && a.IntIn("training_mode", 0, 0, 1) == 1)
                throw c.Ref.Unsupported("training_mode = 1 (batch statistics) is not supported; export the model in eval mode");
            if (c.Outputs.Skip(1).Any(o => o.Length > 0))
                throw c.Ref.Unsupported("outputs beyond Y (running or saved mean and variance) exist only in training mode; only inference is supported");
            c.Emit(new BatchNormOp(eps), c.Inputs, c.Outputs.Take(1));
        }

        private void ImportDropout(NodeContext c)
        {
            var a = c.A;
            c.Arity(1, c.Version >= 12 ? 3 : 1, 1, 2);
            if (c.Version < 7)
            {
                if (a.IntIn("is_test", 0, 0, 1) == 0)
                    throw c.Ref.Unsupported("is_test = 0 asks for training-mode (random) dropout; only inference (is_test = 1) is supported — export the model in eval mode");
                a.Ignore("ratio");
            }
            else if (c.Version < 12) a.Ignore("ratio");
            else a.Ignore("seed");
            if (c.Version >= 12 && c.In(2).Length > 0)
            {
                var tm = ConstantOf(c.In(2));
                if (tm is null)
                    throw c.Ref.Unsupported($"training_mode is the runtime value '{c.In(2)}'; only a constant false (inference) is supported");
                if ((tm.ElementCount != 1 || tm.GetDouble(0) != 0) && !_options.TrainingDropoutAsIdentity)
                    throw c.Ref.Unsupported("training_mode is true (random dropout, a model exported in train mode); export in eval mode, or import with OnnxImportOptions.TrainingDropoutAsIdentity");
            }
            var outs = c.Outputs.ToList();
            // An unread mask output is dropped: it does not change Y.
            if (outs.Count > 1 && !_consumed.Contains(outs[1])) outs.RemoveAt(1);
            if (outs.Count > 1 && c.Version < 10)
                throw c.Ref.Unsupported("the mask output of Dropout before version 10 has the input's type and is read here; only the boolean mask (Dropout ≥ 10) is supported");
            // Inference: the output is the input (the ratio input only matters in training); the optional mask is all true.
            c.Emit(new DropoutOp(), new[] { c.In(0) }, outs);
        }

        private void ImportSoftmax(NodeContext c)
        {
            c.Arity(1, 1, 1, 1);
            bool old = c.Version < 13;
            int axis = c.A.IntIn("axis", old ? 1 : -1, -1024, 1024);
            c.Emit(c.Proto.OpType == "Softmax" ? new SoftmaxOp(axis, old) : new LogSoftmaxOp(axis, old));
        }

        private void ImportConstant(NodeContext c)
        {
            c.Arity(0, 0, 1, 1);
            var a = c.A;
            var set = new[] { "value", "value_float", "value_floats", "value_int", "value_ints", "value_string", "value_strings", "sparse_value" }.Where(a.Has).ToList();
            if (set.Count != 1)
                throw c.Ref.Malformed(set.Count == 0 ? "Constant has no value attribute" : $"Constant has {set.Count} value attributes ({string.Join(", ", set)}); exactly one is allowed");
            Tensor t = set[0] switch
            {
                "value" => DecodeAttrTensor(c, a.Tensor("value")!),
                "value_float" => Tensor.Scalar(a.Float("value_float", 0)),
                "value_floats" => Tensor.From(a.Floats("value_floats")!),
                "value_int" => Tensor.FromSpan<long>(new[] { a.Int("value_int", 0) }, Array.Empty<int>()),
                "value_ints" => Tensor.From(a.Ints("value_ints")!),
                var other => throw c.Ref.Unsupported($"Constant with '{other}' (strings or a sparse tensor) is not supported"),
            };
            var name = c.Outputs[0];
            if (_model.Graph.Output.Any(o => o.Name == name))
            {
                // Graph outputs stay produced by a node (the planner's rule): the value as an initializer, then Identity.
                var valueName = NewValueName(name + "_value");
                _g.Initializers[valueName] = t;
                _declared[valueName] = new ValueInfo(valueName, t.DType, t.ShapeArray());
                c.Emit(new IdentityOp(), new[] { valueName }, c.Outputs);
                return;
            }
            _g.Initializers[name] = t;
            _declared[name] = new ValueInfo(name, t.DType, t.ShapeArray());
        }

        private Tensor DecodeAttrTensor(NodeContext c, TensorProto p)
        {
            try
            {
                return OnnxTensors.FromProto(p, _dir, _file);
            }
            catch (UnsupportedDataTypeException e)
            {
                throw c.Ref.Unsupported(e.Message);
            }
        }

        private void ImportConstantOfShape(NodeContext c)
        {
            c.Arity(1, 1, 1, 1);
            var vp = c.A.Tensor("value");
            Tensor? value = null;
            if (vp is not null)
            {
                value = DecodeAttrTensor(c, vp);
                if (value.ElementCount != 1) throw c.Ref.Malformed($"'value' must hold one element; it is {value}");
            }
            c.Emit(new ConstantOfShapeOp(value));
        }

        private void ImportCast(NodeContext c)
        {
            c.Arity(1, 1, 1, 1);
            var a = c.A;
            if (!a.Has("to")) throw c.Ref.Malformed("attribute 'to' is required");
            if (OnnxAttributes.KindOf(c.Proto.Attribute.First(x => x.Name == "to")) == AttributeProto.Types.AttributeType.String)
                throw c.Ref.Unsupported("Cast-1 names the target type as a string; re-export with opset ≥ 7");
            long to = a.Int("to", 0);
            var dt = OnnxTensors.ToDType((int)Math.Clamp(to, 0, 1000))
                ?? throw c.Ref.Unsupported($"cast to {OnnxTensors.TypeName((int)Math.Clamp(to, 0, 1000))} ({to}) is not supported (supported: {OnnxTensors.SupportedTypeList})");
            bool saturate = c.Version < 19 || a.IntIn("saturate", 1, 0, 1) == 1;
            // round_mode (Cast-24) only applies to casts to FLOAT8E8M0, a type refused above.
            a.Ignore("round_mode");
            c.Emit(new CastOp(dt, saturate));
        }

        private static readonly DType[] QuantTypes = { DType.UInt8, DType.Int8, DType.UInt16, DType.Int16 };

        private void ImportQuantize(NodeContext c)
        {
            c.Arity(2, 3, 1, 1);
            var a = c.A;
            int axis = c.Version >= 13 ? a.IntIn("axis", 1, -1024, 1024) : 1;
            int block = c.Version >= 21 ? a.IntIn("block_size", 0, 0, int.MaxValue) : 0;
            bool saturate = c.Version < 19 || a.IntIn("saturate", 1, 0, 1) == 1;
            DType? outType = null;
            if (c.Version >= 21 && a.IntOrNull("output_dtype") is { } od && od != 0)
                outType = OnnxTensors.ToDType((int)Math.Clamp(od, 0, 1000)) is { } d && QuantTypes.Contains(d) ? d
                    : throw c.Ref.Unsupported($"output_dtype {OnnxTensors.TypeName((int)Math.Clamp(od, 0, 1000))} is not supported (supported: UINT8, INT8, UINT16, INT16)");
            CheckPrecision(c, "precision", c.In(1));
            var zp = c.In(2);
            if (zp.Length > 0 && DTypeOf(zp) is { } zt)
            {
                if (!QuantTypes.Contains(zt))
                    throw c.Ref.Unsupported($"zero point '{zp}' is {zt.Name()}; quantized types supported: uint8, int8, uint16, int16");
                if (outType is not null && outType != zt)
                    throw c.Ref.Malformed($"output_dtype {outType.Value.Name()} differs from the zero point's type {zt.Name()}");
                outType = zt;
            }
            c.Emit(new QuantizeLinearOp(axis, block, outType, saturate));
        }

        private void ImportDequantize(NodeContext c)
        {
            c.Arity(2, 3, 1, 1);
            var a = c.A;
            int axis = c.Version >= 13 ? a.IntIn("axis", 1, -1024, 1024) : 1;
            int block = c.Version >= 21 ? a.IntIn("block_size", 0, 0, int.MaxValue) : 0;
            CheckPrecision(c, "output_dtype", c.In(1));
            if (DTypeOf(c.In(0)) is { } xt && !(QuantTypes.Contains(xt) || xt == DType.Int32))
                throw c.Ref.Unsupported($"input '{c.In(0)}' is {xt.Name()}; dequantizing supports uint8, int8, uint16, int16 and int32");
            c.Emit(new DequantizeLinearOp(axis, block));
        }

        /// <summary>
        /// QuantizeLinear 'precision' and DequantizeLinear 'output_dtype' (newest versions): accepted when absent,
        /// 0, or equal to the scale's type — the behaviour without the attribute — and refused otherwise.
        /// </summary>
        private void CheckPrecision(NodeContext c, string attr, string scale)
        {
            if (c.A.IntOrNull(attr) is not { } v || v == 0) return;
            var want = OnnxTensors.ToDType((int)Math.Clamp(v, 0, 1000));
            var have = DTypeOf(scale);
            if (want is null || have is null || want != have)
                throw c.Ref.Unsupported($"{attr} = {OnnxTensors.TypeName((int)Math.Clamp(v, 0, 1000))} differs from the scale's type ({have?.Name() ?? "unknown at load"}); only the scale's own type is supported");
        }

        private void ImportSqueeze(NodeContext c)
        {
            bool unsqueeze = c.Proto.OpType == "Unsqueeze";
            if (c.Version < 13)
            {
                c.Arity(1, 1, 1, 1);
                var axes = c.A.IntArray("axes", -1024, 1024);
                if (unsqueeze && axes is null) throw c.Ref.Malformed("attribute 'axes' is required");
                c.Emit(unsqueeze ? new UnsqueezeOp(axes) : new SqueezeOp(axes));
                return;
            }
            c.Arity(unsqueeze ? 2 : 1, 2, 1, 1);
            if (ConstantOf(c.In(1)) is { } t)
            {
                var axes = ToIntArray(c, t, "axes");
                c.Emit(unsqueeze ? new UnsqueezeOp(axes) : new SqueezeOp(axes), new[] { c.In(0) }, c.Outputs);
            }
            else c.Emit(unsqueeze ? new UnsqueezeOp(null) : new SqueezeOp(null));
        }
    }
}
