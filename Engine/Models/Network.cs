using Vgg.Engine.IR;

namespace Vgg.Engine.Models;

/// <summary>
/// A sequential network: an input image [N, C, H, W] and a list of <see cref="Layer"/>s applied in order,
/// each named by its PyTorch module path. This is what both the torchvision VGG builders and the JSON
/// model spec produce; <see cref="ToGraph"/> turns it and its weights into the graph IR.
/// </summary>
/// <remarks>
/// Layer names double as container paths: "features" names the block holding "features.0" …
/// "features.30", and a features-only cut at "features" ends after its last layer (<see cref="Truncate"/>).
/// </remarks>
public sealed class Network
{
    private readonly Layer[] _layers;
    private readonly int[][] _shapes;

    /// <summary>Builds and checks the network.</summary>
    /// <param name="name">Model name for messages ("vgg16", "tinyvgg").</param>
    /// <param name="inputChannels">C of the NCHW input.</param>
    /// <param name="inputHeight">H in pixels, or −1 when any size is accepted (torchvision VGG: adaptive pooling makes the head size-independent).</param>
    /// <param name="inputWidth">W in pixels, or −1.</param>
    /// <param name="layers">Layers in execution order; names unique and non-empty.</param>
    /// <param name="sourcePath">The spec file the network came from, for messages.</param>
    /// <exception cref="ModelFormatException">Duplicate or empty layer name, a layer whose input does not fit (channels, features, sizes),
    /// a parameter larger than one tensor buffer (<see cref="MaxParameterBytes"/>) or a layer output of more than 2^31 − 1 elements per
    /// image, naming the layer (and the parameter's state-dict key). Checked before any weight is allocated.</exception>
    public Network(string name, int inputChannels, int inputHeight, int inputWidth, IEnumerable<Layer> layers, string? sourcePath = null)
    {
        Name = name;
        InputChannels = inputChannels;
        InputHeight = inputHeight;
        InputWidth = inputWidth;
        SourcePath = sourcePath;
        _layers = layers.ToArray();
        if (_layers.Length == 0)
            throw new ModelFormatException(sourcePath, null, $"network '{name}' has no layers");
        if (inputChannels <= 0)
            throw new ModelFormatException(sourcePath, "input", $"channels must be positive, got {inputChannels}");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var l in _layers)
        {
            if (string.IsNullOrEmpty(l.Name))
                throw new ModelFormatException(sourcePath, null, $"a {l.Type} layer has no name");
            if (l.Name is InputName)
                throw new ModelFormatException(sourcePath, l.Name, $"'{InputName}' is reserved for the graph input; rename the layer");
            if (!names.Add(l.Name))
                throw new ModelFormatException(sourcePath, l.Name, "two layers have this name");
        }
        foreach (var l in _layers)
            if (names.Any(n => n.StartsWith(l.Name + ".", StringComparison.Ordinal)))
                throw new ModelFormatException(sourcePath, l.Name, "a layer and a block share this name");
        foreach (var l in _layers)
            foreach (var p in l.Parameters)
                CheckParameterSize(l, p, sourcePath);
        _shapes = InferShapes(inputHeight, inputWidth);
        Parameters = _layers.SelectMany(l => l.Parameters).ToArray();
    }

    /// <summary>
    /// Largest float32 parameter (bytes) a network may declare: one host tensor buffer, <see cref="Array.MaxLength"/>
    /// (2,147,483,591 bytes, about 2 GiB, i.e. 536,870,897 float32 values). torchvision VGG's largest weight
    /// (classifier.0, 4096 × 25088) is 392 MiB.
    /// </summary>
    public static long MaxParameterBytes => Array.MaxLength;

    /// <summary>Most elements one layer output may have per image (2^31 − 1, as <see cref="ShapeInference.MaxTensorElements"/>).</summary>
    public const long MaxActivationElements = ShapeInference.MaxTensorElements;

    private static string N(decimal v) => v.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);

    private static void CheckParameterSize(Layer layer, ParameterSpec p, string? sourcePath)
    {
        long elements = Tensor.Product(p.Shape);
        long bytes = elements > MaxParameterBytes / sizeof(float) ? -1 : elements * sizeof(float);
        if (bytes >= 0) return;
        string size = elements == long.MaxValue ? "more than 2^63 elements" : $"{N(elements)} elements, {N(elements * (decimal)sizeof(float))} bytes ({(elements * (double)sizeof(float) / (1L << 30)).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} GiB)";
        throw new ModelFormatException(sourcePath, p.Key,
            $"{Tensor.FormatShape(DType.Float32, p.Shape)} ({layer.Type} layer '{layer.Name}') would need {size}, more than one tensor buffer holds ({N(MaxParameterBytes)} bytes); check the layer's sizes");
    }

    /// <summary>The name of the graph input: "input".</summary>
    public const string InputName = "input";

    /// <summary>Model name for messages.</summary>
    public string Name { get; }

    /// <summary>C of the NCHW input.</summary>
    public int InputChannels { get; }

    /// <summary>H of the input in pixels, or −1 when dynamic.</summary>
    public int InputHeight { get; }

    /// <summary>W of the input in pixels, or −1 when dynamic.</summary>
    public int InputWidth { get; }

    /// <summary>The spec file, or null.</summary>
    public string? SourcePath { get; }

    /// <summary>Layers in execution order.</summary>
    public IReadOnlyList<Layer> Layers => _layers;

    /// <summary>Every tensor the layers need, in state-dict order.</summary>
    public IReadOnlyList<ParameterSpec> Parameters { get; }

    /// <summary>Output shape of each layer, batch excluded ([C, H, W] or [F]; −1 where the input size is dynamic).</summary>
    public IReadOnlyList<int[]> LayerShapes => _shapes;

    /// <summary>The network's output shape, batch excluded.</summary>
    public int[] OutputShape => _shapes[^1];

    /// <summary>
    /// Per-layer output shapes for an input of <paramref name="height"/> × <paramref name="width"/> (−1: dynamic).
    /// </summary>
    /// <exception cref="ModelFormatException">A layer's input does not fit, or its output has more than 2^31 − 1 elements per image, naming the layer.</exception>
    public int[][] InferShapes(int height, int width)
    {
        var shapes = new int[_layers.Length][];
        int[] cur = { InputChannels, height, width };
        for (int i = 0; i < _layers.Length; i++)
        {
            shapes[i] = cur = _layers[i].OutputShape(cur, SourcePath);
            long elements = Tensor.Product(cur.Where(d => d >= 0).ToArray());
            if (elements > MaxActivationElements)
                throw new ModelFormatException(SourcePath, _layers[i].Name,
                    $"{_layers[i].Type} layer: its output {Layer.Describe(cur)} has {(elements == long.MaxValue ? "more than 2^63" : N(elements))} elements per image{(cur.Any(d => d < 0) ? " (known sizes only)" : "")}, more than {N(MaxActivationElements)} (2^31 − 1), the most one tensor may hold");
        }
        return shapes;
    }

    /// <summary>
    /// Every name a features-only cut accepts: each layer ("features.29") and each block that holds layers
    /// ("features", "classifier"), in order.
    /// </summary>
    public IReadOnlyList<string> OutputLayerNames()
    {
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var l in _layers)
        {
            var parts = l.Name.Split('.');
            for (int k = 1; k < parts.Length; k++)
            {
                var block = string.Join('.', parts, 0, k);
                if (seen.Add(block)) result.Add(block);
            }
            if (seen.Add(l.Name)) result.Add(l.Name);
        }
        return result;
    }

    /// <summary>Index of the last layer of <paramref name="layerOrBlock"/> (a layer name or a block prefix), or −1.</summary>
    public int IndexOfOutput(string layerOrBlock)
    {
        for (int i = _layers.Length - 1; i >= 0; i--)
            if (_layers[i].Name == layerOrBlock || _layers[i].Name.StartsWith(layerOrBlock + ".", StringComparison.Ordinal))
                return i;
        return -1;
    }

    /// <summary>
    /// The network up to and including <paramref name="layerOrBlock"/>: a layer ("features.29", "avgpool",
    /// "classifier.3") or a block ("features"), for feature extraction.
    /// </summary>
    /// <exception cref="ModelMismatchException">No such layer or block; the message lists the valid names.</exception>
    public Network Truncate(string layerOrBlock)
    {
        int idx = IndexOfOutput(layerOrBlock);
        if (idx < 0)
        {
            var names = OutputLayerNames();
            string list = names.Count <= 12 ? string.Join(", ", names) : string.Join(", ", names.Take(6)) + ", …, " + string.Join(", ", names.Skip(names.Count - 4));
            throw new ModelMismatchException(SourcePath, layerOrBlock, $"a layer or block of {Name} ({list})", "no such layer");
        }
        return new Network(Name, InputChannels, InputHeight, InputWidth, _layers.Take(idx + 1), SourcePath);
    }

    /// <summary>
    /// State-dict keys of the classifier head: the last Linear and any layer with parameters after it (a
    /// BatchNorm1d over the classes, as in the MNIST CNN). Empty when the network has no Linear.
    /// </summary>
    public IReadOnlyList<string> HeadKeys()
    {
        int li = Array.FindLastIndex(_layers, l => l is LinearLayer);
        return li < 0 ? Array.Empty<string>() : _layers.Skip(li).SelectMany(l => l.Parameters).Select(p => p.Key).ToArray();
    }

    /// <summary>Outputs of the last Linear (the class count), or 0 when there is none.</summary>
    public int NumClasses => _layers.OfType<LinearLayer>().LastOrDefault()?.OutFeatures ?? 0;

    /// <summary>
    /// The same network with <paramref name="numClasses"/> outputs: the last Linear's out_features and a
    /// BatchNorm1d after it are resized (a fine-tuned head, as <c>model.classifier[6] = nn.Linear(4096, n)</c>).
    /// </summary>
    /// <exception cref="ModelFormatException">The network has no Linear layer, or numClasses ≤ 0.</exception>
    public Network WithNumClasses(int numClasses)
    {
        int li = Array.FindLastIndex(_layers, l => l is LinearLayer);
        if (li < 0)
            throw new ModelFormatException(SourcePath, null, $"{Name} has no Linear layer, so it has no class count to set (a backbone without a classifier)");
        if (numClasses <= 0)
            throw new ModelFormatException(SourcePath, _layers[li].Name, $"the class count must be positive, got {numClasses}");
        var layers = _layers.Select((l, i) => i == li ? ((LinearLayer)l) with { OutFeatures = numClasses }
            : i > li && l is BatchNormLayer { Dims: 1 } b ? b with { NumFeatures = numClasses } : l);
        return new Network(Name, InputChannels, InputHeight, InputWidth, layers, SourcePath);
    }

    /// <summary>
    /// The graph IR: input "input" float32 [−1, C, H, W] (−1 for the batch and any dynamic size), one node per
    /// layer named by its module path, each layer's output value named like the layer except the last, which is
    /// <paramref name="outputName"/>; weights as initializers under their state-dict keys.
    /// </summary>
    /// <param name="weights">float32 tensors for every key of <see cref="Parameters"/>, with the declared shapes (as <see cref="StateDictBinder"/> produces).</param>
    /// <param name="outputName">Name of the graph output ("logits", or the layer name in features-only mode).</param>
    /// <exception cref="ModelMismatchException">A weight is missing or has another dtype or shape.</exception>
    public Graph ToGraph(IReadOnlyDictionary<string, Tensor> weights, string outputName)
    {
        var g = new Graph { Name = Name };
        g.Inputs.Add(new ValueInfo(InputName, DType.Float32, new[] { -1, InputChannels, InputHeight, InputWidth }));
        foreach (var p in Parameters)
        {
            if (!weights.TryGetValue(p.Key, out var t))
                throw new ModelMismatchException(SourcePath, p.Key, Tensor.FormatShape(DType.Float32, p.Shape), "no tensor");
            if (t.DType != DType.Float32 || !t.Shape.SequenceEqual(p.Shape))
                throw new ModelMismatchException(SourcePath, p.Key, Tensor.FormatShape(DType.Float32, p.Shape), t.ToString());
            g.Initializers[p.Key] = t;
        }
        string x = InputName;
        for (int i = 0; i < _layers.Length; i++)
        {
            var l = _layers[i];
            string y = i == _layers.Length - 1 ? outputName : l.Name;
            g.Nodes.Add(MakeNode(l, x, y));
            x = y;
        }
        g.Outputs.Add(new ValueInfo(outputName, DType.Float32, new[] { -1 }.Concat(OutputShape).ToArray()));
        g.Validate();
        return g;
    }

    private static Node MakeNode(Layer layer, string x, string y)
    {
        string n = layer.Name;
        return layer switch
        {
            Conv2dLayer c => new Node(n,
                new ConvOp(new[] { c.KernelH, c.KernelW }, new[] { c.StrideH, c.StrideW }, new[] { c.PadH, c.PadW, c.PadH, c.PadW }, new[] { 1, 1 }, 1),
                c.Bias ? new[] { x, n + ".weight", n + ".bias" } : new[] { x, n + ".weight" }, new[] { y }),
            BatchNormLayer b => new Node(n, new BatchNormOp(b.Eps),
                new[] { x, n + ".weight", n + ".bias", n + ".running_mean", n + ".running_var" }, new[] { y }),
            ReluLayer => new Node(n, new UnaryOp(UnaryKind.Relu), new[] { x }, new[] { y }),
            DropoutLayer => new Node(n, new DropoutOp(), new[] { x }, new[] { y }),
            MaxPool2dLayer m => new Node(n, MaxPoolOp.MaxPool2d(m.Kernel, m.Stride, m.Padding, m.CeilMode), new[] { x }, new[] { y }),
            AvgPool2dLayer a => new Node(n,
                new AveragePoolOp(new[] { a.Kernel, a.Kernel }, new[] { a.Stride, a.Stride }, new[] { a.Padding, a.Padding, a.Padding, a.Padding }, new[] { 1, 1 }, a.CeilMode, a.CountIncludePad),
                new[] { x }, new[] { y }),
            // AdaptiveAvgPool2d(1) is exactly a global average pool.
            AdaptiveAvgPool2dLayer { OutputHeight: 1, OutputWidth: 1 } => new Node(n, new GlobalAveragePoolOp(), new[] { x }, new[] { y }),
            AdaptiveAvgPool2dLayer p => new Node(n, new AdaptiveAvgPoolOp(p.OutputHeight, p.OutputWidth), new[] { x }, new[] { y }),
            GlobalAvgPoolLayer => new Node(n, new GlobalAveragePoolOp(), new[] { x }, new[] { y }),
            FlattenLayer => new Node(n, new FlattenOp(1), new[] { x }, new[] { y }),
            LinearLayer f => new Node(n, GemmOp.Linear(),
                f.Bias ? new[] { x, n + ".weight", n + ".bias" } : new[] { x, n + ".weight" }, new[] { y }),
            SoftmaxLayer { Log: true } s => new Node(n, new LogSoftmaxOp(s.Dim), new[] { x }, new[] { y }),
            SoftmaxLayer s => new Node(n, new SoftmaxOp(s.Dim), new[] { x }, new[] { y }),
            _ => throw new NotSupportedException($"layer type {layer.GetType().Name} has no graph form"),
        };
    }

    public override string ToString() => $"{Name}: {_layers.Length} layers, {Parameters.Count} tensors";
}
