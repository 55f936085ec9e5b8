using System.Globalization;
using System.Text;

namespace Vgg.Engine.Models;

/// <summary>The head a recognised VGG-style state dict has.</summary>
public enum VggHeadKind
{
    /// <summary>No classifier keys: a backbone (features only).</summary>
    None,
    /// <summary>torchvision's three Linear layers at classifier.0/3/6 behind AdaptiveAvgPool2d((7, 7)) (any class count).</summary>
    Torchvision,
    /// <summary>The same three layers behind a global average pool (classifier.0 takes C, not C·7·7).</summary>
    GlobalPool,
    /// <summary>A single Linear(C, num_classes) behind a global average pool.</summary>
    GlobalPoolLinear,
    /// <summary>Any other chain of Linear (and BatchNorm1d) layers under classifier.*.</summary>
    Custom,
}

/// <summary>
/// What <see cref="VggRecognizer"/> found in a state dict: the torchvision architecture or the VGG-style
/// shape it has, and the <see cref="Models.Network"/> built from the actual tensor shapes.
/// </summary>
public sealed record VggRecognition
{
    /// <summary>
    /// "vgg16_bn" for an exact torchvision layout (any class count); "vgg16_bn-pruned" when the layer layout is
    /// configuration D but conv widths differ; "vgg16_bn-variant" when layout and widths are configuration D's but
    /// the convs are not torchvision's otherwise (input channels other than 3, kernels other than 3×3, or bias-free
    /// convs throughout); "vgg-style" otherwise; with "+gap-head", "+gap-linear-head", "+custom-head" or "+no-head"
    /// when the head is not torchvision's.
    /// </summary>
    public required string Architecture { get; init; }

    /// <summary>torchvision configuration ("A", "B", "D", "E") whose conv/pool layout matches, or null.</summary>
    public string? Config { get; init; }

    /// <summary>True when the conv widths are exactly the configuration's (and 3 input channels, 3×3 kernels, biases).</summary>
    public bool StandardWidths { get; init; }

    /// <summary>True when every conv is followed by BatchNorm2d.</summary>
    public bool BatchNorm { get; init; }

    /// <summary>Conv output channels in order, <see cref="TorchvisionVgg.M"/> for each max-pool (the cfg notation).</summary>
    public required IReadOnlyList<int> Layout { get; init; }

    /// <summary>Channels of the first conv's input (3 for RGB).</summary>
    public int InputChannels { get; init; }

    /// <summary>Outputs of the last Linear, or 0 with no head.</summary>
    public int NumClasses { get; init; }

    /// <summary>The head kind.</summary>
    public VggHeadKind Head { get; init; }

    /// <summary>Side of the avgpool output: 7 for torchvision's head, 1 for a global average pool, 0 with no head.</summary>
    public int PoolOutputSize { get; init; }

    /// <summary>The prefix in front of "features."/"classifier." after removing "module" segments ("" or e.g. "backbone.").</summary>
    public string KeyPrefix { get; init; } = "";

    /// <summary>The network, built from the tensor shapes.</summary>
    public required Network Network { get; init; }

    /// <summary>"vgg16_bn: 13 conv (64, 64, M, …), BatchNorm, head 25088→4096→4096→1000 (AdaptiveAvgPool2d 7×7), 1000 classes".</summary>
    public string Describe()
    {
        var sb = new StringBuilder(Architecture).Append(": ");
        sb.Append(Layout.Count(v => v != TorchvisionVgg.M)).Append(" conv (").Append(string.Join(", ", Layout.Select(v => v == TorchvisionVgg.M ? "M" : v.ToString(CultureInfo.InvariantCulture)))).Append(')');
        if (BatchNorm) sb.Append(", BatchNorm");
        var linears = Network.Layers.OfType<LinearLayer>().ToList();
        if (linears.Count > 0)
        {
            sb.Append(", head ").Append(linears[0].InFeatures);
            foreach (var l in linears) sb.Append('→').Append(l.OutFeatures);
            sb.Append(PoolOutputSize == 1 ? " (global average pool)" : $" (AdaptiveAvgPool2d {PoolOutputSize}×{PoolOutputSize})");
            sb.Append(", ").Append(NumClasses).Append(" classes");
        }
        else sb.Append(", no classifier");
        if (KeyPrefix.Length > 0) sb.Append(", key prefix '").Append(KeyPrefix).Append('\'');
        return sb.ToString();
    }
}

/// <summary>
/// Recognises torchvision VGG and VGG-style nets from state-dict keys and shapes alone, and builds the
/// network from the actual shapes (so pruned or custom widths run).
/// </summary>
/// <remarks>
/// <para>Rules, from how torchvision's <c>make_layers</c> and <c>VGG</c> number their modules:</para>
/// <list type="bullet">
/// <item><c>features.i.weight</c> of rank 4 is a Conv2d (padding k // 2, stride 1, bias when
/// <c>features.i.bias</c> is present; in a torchvision layout a conv without a bias among convs of its kind that
/// have one is a missing key, an error); <c>features.i.running_mean</c> marks a BatchNorm2d, which must directly
/// follow a conv. Each conv block is followed by a ReLU (the next index), and the next conv comes either directly
/// after that ReLU or one index later, in which case a MaxPool2d(2, 2) sits between. A max-pool after the last
/// block is assumed, as in every torchvision configuration. Any other gap is an error.</item>
/// <item><c>classifier.i.weight</c> of rank 2 is a Linear, <c>classifier.i.running_mean</c> a BatchNorm1d (after
/// a Linear); a single <c>classifier.weight</c> is a one-Linear head. Each Linear except the last is followed
/// by a ReLU when the next index leaves room, and any further parameter-free indices are Dropout (the identity
/// at inference); parameter-free indices before the first Linear are Dropout too. This reproduces torchvision's
/// head and the usual fine-tuned heads; a head with another activation needs a JSON model spec.</item>
/// <item>The first Linear's in_features = C·s·s gives the avgpool: s = 7 is torchvision's
/// AdaptiveAvgPool2d((7, 7)), s = 1 a global average pool.</item>
/// <item>"module" key segments (DataParallel) are ignored wherever they are; a common prefix before
/// "features."/"classifier." (e.g. "backbone.") is reported in <see cref="VggRecognition.KeyPrefix"/>;
/// <c>num_batches_tracked</c> entries are ignored.</item>
/// </list>
/// </remarks>
public static class VggRecognizer
{
    private static readonly string[] ParamNames = { "weight", "bias", "running_mean", "running_var" };

    /// <summary>Recognises the tensors of <paramref name="stateDict"/>.</summary>
    /// <exception cref="ModelMismatchException">The keys or shapes do not look like a VGG, or a torchvision layout lacks
    /// a conv bias its other convs have; names the first offending (or missing) key and what was expected.</exception>
    public static VggRecognition Recognize(StateDict stateDict) =>
        Recognize(stateDict.Select(kv => (kv.Key, kv.Value.ShapeArray())), stateDict.SourcePath);

    /// <summary>Recognises a state dict given only its keys and shapes (no tensor data needed).</summary>
    /// <exception cref="ModelMismatchException">As <see cref="Recognize(StateDict)"/>.</exception>
    public static VggRecognition Recognize(IEnumerable<(string Key, int[] Shape)> entries, string? sourcePath = null)
    {
        const string KeyForm = "a VGG state-dict key: features.<i>.{weight,bias,running_mean,running_var} or classifier[.<i>].{weight,bias,running_mean,running_var}";
        var features = new SortedDictionary<int, Dictionary<string, (string Key, int[] Shape)>>();
        var classifier = new SortedDictionary<int, Dictionary<string, (string Key, int[] Shape)>>();
        Dictionary<string, (string Key, int[] Shape)>? singleLinear = null;
        string? prefix = null;
        string? prefixKey = null;
        int count = 0;
        foreach (var (key, shape) in entries)
        {
            if (key.EndsWith(".num_batches_tracked", StringComparison.Ordinal) || key == "num_batches_tracked") continue;
            count++;
            var segs = key.Split('.').Where(s => s != "module").ToArray();
            int a = Array.FindIndex(segs, s => s is "features" or "classifier");
            if (a < 0)
                throw new ModelMismatchException(sourcePath, key, KeyForm, "a key outside features.* and classifier.*", "the state dict does not look like a torchvision VGG; describe the net with a JSON model spec (ModelFactory.FromSpec; the CLI's --spec FILE; see models/README.md)");
            var p = string.Concat(segs.Take(a).Select(s => s + "."));
            if (prefix is null) { prefix = p; prefixKey = key; }
            else if (p != prefix)
                throw new ModelMismatchException(sourcePath, key, $"the prefix '{prefix}' of '{prefixKey}' in front of features./classifier.", $"prefix '{p}'");
            var rest = segs.Skip(a).ToArray();
            var table = rest[0] == "features" ? features : classifier;
            if (rest.Length == 2 && rest[0] == "classifier" && ParamNames.Contains(rest[1]))
            {
                singleLinear ??= new();
                singleLinear[rest[1]] = (key, shape);
                continue;
            }
            if (rest.Length != 3 || !int.TryParse(rest[1], NumberStyles.None, CultureInfo.InvariantCulture, out int idx) || !ParamNames.Contains(rest[2]))
                throw new ModelMismatchException(sourcePath, key, KeyForm, $"'{string.Join('.', rest)}'");
            if (!table.TryGetValue(idx, out var entry)) table[idx] = entry = new();
            entry[rest[2]] = (key, shape);
        }
        if (count == 0)
            throw new ModelMismatchException(sourcePath, "features.0.weight", "a VGG state dict (features.0.weight, …)", "no tensors");
        if (features.Count == 0)
            throw new ModelMismatchException(sourcePath, prefix + "features.0.weight", "a Conv2d weight [out, in, kh, kw] (VGG features)", "no features.* keys");
        if (singleLinear is not null && classifier.Count > 0)
            throw new ModelMismatchException(sourcePath, singleLinear.Values.First().Key, "either classifier.<i>.* (a Sequential head) or classifier.* (one Linear)", "both");

        // ---- features ----
        var items = new List<VggFeature>();
        var convs = new List<(string WeightKey, int OutChannels, bool BatchNorm, bool Bias)>();
        var layout = new List<int>();
        int inChannels = 0, channels = 0, reluIndex = -1;
        bool allBn = true;
        var convIndices = features.Where(kv => !kv.Value.ContainsKey("running_mean")).Select(kv => kv.Key).ToList();
        var bnIndices = features.Where(kv => kv.Value.ContainsKey("running_mean")).Select(kv => kv.Key).ToHashSet();
        foreach (int i in convIndices)
        {
            var e = features[i];
            string wkey = e.TryGetValue("weight", out var w) ? w.Key : e.Values.First().Key;
            if (w.Shape is not { Length: 4 })
                throw new ModelMismatchException(sourcePath, wkey, "a Conv2d weight [out, in, kh, kw] or BatchNorm2d running statistics", w.Shape is null ? $"no features.{i}.weight" : Tensor.FormatShape(w.Shape));
            int gap = i - (reluIndex + 1);
            if (reluIndex < 0 && i != 0)
                throw new ModelMismatchException(sourcePath, wkey, "the first conv at features.0", $"features.{i}");
            if (gap == 1) { items.Add(new VggPool()); layout.Add(TorchvisionVgg.M); }
            else if (gap != 0)
                throw new ModelMismatchException(sourcePath, wkey,
                    $"the next conv at features.{reluIndex + 1}, or at features.{reluIndex + 2} after a MaxPool2d (torchvision's make_layers numbering: Conv2d[, BatchNorm2d], ReLU[, MaxPool2d])",
                    $"features.{i}", "layers other than conv, batch norm, ReLU and max-pool need a JSON model spec");
            int outC = w.Shape[0], inC = w.Shape[1];
            if (reluIndex < 0) inChannels = inC;
            else if (inC != channels)
                throw new ModelMismatchException(sourcePath, wkey, $"{channels} input channels (the previous conv's output)", $"{inC} ({Tensor.FormatShape(w.Shape)})");
            bool bias = e.TryGetValue("bias", out var b);
            if (bias && !b.Shape.SequenceEqual(new[] { outC }))
                throw new ModelMismatchException(sourcePath, b.Key, Tensor.FormatShape(new[] { outC }), Tensor.FormatShape(b.Shape));
            foreach (var extra in e.Keys.Where(k => k is not ("weight" or "bias")))
                throw new ModelMismatchException(sourcePath, e[extra].Key, "a Conv2d weight and bias only", extra);
            bool bn = bnIndices.Contains(i + 1);
            if (bn) CheckBatchNorm(features[i + 1], outC, sourcePath, $"features.{i + 1}");
            allBn &= bn;
            items.Add(new VggConv(outC, w.Shape[2], w.Shape[3], bn, bias));
            convs.Add((w.Key, outC, bn, bias));
            layout.Add(outC);
            channels = outC;
            reluIndex = i + (bn ? 2 : 1);
        }
        foreach (int i in bnIndices)
            if (!convIndices.Contains(i - 1))
                throw new ModelMismatchException(sourcePath, features[i]["running_mean"].Key, "a BatchNorm2d directly after a Conv2d", $"features.{i - 1} is not a conv");
        items.Add(new VggPool());
        layout.Add(TorchvisionVgg.M);
        var layers = TorchvisionVgg.FeatureLayers(items, inChannels, out _);

        // ---- head ----
        int numClasses = 0, poolSize = 0;
        var head = VggHeadKind.None;
        var headLayers = new List<Layer>();
        if (singleLinear is not null || classifier.Count > 0)
        {
            var linearEntries = new List<(int Index, Dictionary<string, (string Key, int[] Shape)> E, bool Bn)>();
            if (singleLinear is not null) linearEntries.Add((-1, singleLinear, false));
            else foreach (var (i, e) in classifier) linearEntries.Add((i, e, e.ContainsKey("running_mean")));

            var first = linearEntries.First(le => !le.Bn);
            if (linearEntries[0].Bn)
                throw new ModelMismatchException(sourcePath, linearEntries[0].E["running_mean"].Key, "a Linear before any BatchNorm1d in the classifier", "a BatchNorm1d first");
            var fw = LinearWeight(first.E, sourcePath);
            int inF = fw.Shape[1];
            if (inF % channels != 0 || !IsSquare(inF / channels, out poolSize))
                throw new ModelMismatchException(sourcePath, fw.Key,
                    $"in_features = C·s·s with C = {channels} (the last conv's channels): {channels}·7·7 = {channels * 49} (AdaptiveAvgPool2d((7, 7))) or {channels} (global average pool)",
                    $"{inF} ({Tensor.FormatShape(fw.Shape)})");
            headLayers.Add(new AdaptiveAvgPool2dLayer("avgpool", poolSize, poolSize));
            headLayers.Add(new FlattenLayer("flatten"));
            if (singleLinear is not null)
            {
                var (lw, bias) = (fw, singleLinear.TryGetValue("bias", out var sb) ? sb : default);
                if (bias.Key is not null && !bias.Shape.SequenceEqual(new[] { lw.Shape[0] }))
                    throw new ModelMismatchException(sourcePath, bias.Key, Tensor.FormatShape(new[] { lw.Shape[0] }), Tensor.FormatShape(bias.Shape));
                foreach (var extra in singleLinear.Keys.Where(k => k is not ("weight" or "bias")))
                    throw new ModelMismatchException(sourcePath, singleLinear[extra].Key, "a Linear weight and bias only", extra);
                headLayers.Add(new LinearLayer("classifier", inF, lw.Shape[0], bias.Key is not null));
                numClasses = lw.Shape[0];
            }
            else
            {
                int width = inF, pos = -1;
                var linearIdx = linearEntries.Where(le => !le.Bn).Select(le => le.Index).ToList();
                for (int k = 0; k < linearEntries.Count; k++)
                {
                    var (i, e, isBn) = linearEntries[k];
                    string C(int j) => "classifier." + j.ToString(CultureInfo.InvariantCulture);
                    if (isBn)
                    {
                        if (i != pos + 1 || headLayers[^1] is not LinearLayer)
                            throw new ModelMismatchException(sourcePath, e["running_mean"].Key, "a BatchNorm1d directly after a Linear", $"{C(i)} after {C(pos)}");
                        CheckBatchNorm(e, width, sourcePath, C(i));
                        headLayers.Add(new BatchNormLayer(C(i), width, 1e-5f, 1));
                        pos = i;
                        continue;
                    }
                    // parameter-free indices between the previous parameterised layer and this Linear
                    for (int j = pos + 1; j < i; j++)
                        headLayers.Add(j == pos + 1 && pos >= 0 ? new ReluLayer(C(j)) : new DropoutLayer(C(j)));
                    var w = LinearWeight(e, sourcePath);
                    if (w.Shape[1] != width)
                        throw new ModelMismatchException(sourcePath, w.Key, $"{width} input features (the previous layer's output)", $"{w.Shape[1]} ({Tensor.FormatShape(w.Shape)})");
                    bool bias = e.TryGetValue("bias", out var b);
                    if (bias && !b.Shape.SequenceEqual(new[] { w.Shape[0] }))
                        throw new ModelMismatchException(sourcePath, b.Key, Tensor.FormatShape(new[] { w.Shape[0] }), Tensor.FormatShape(b.Shape));
                    foreach (var extra in e.Keys.Where(x => x is not ("weight" or "bias")))
                        throw new ModelMismatchException(sourcePath, e[extra].Key, "a Linear weight and bias only", extra);
                    headLayers.Add(new LinearLayer(C(i), width, w.Shape[0], bias));
                    width = w.Shape[0];
                    pos = i;
                }
                numClasses = width;
                bool tvShape = linearIdx.SequenceEqual(new[] { 0, 3, 6 }) && linearEntries.Count == 3
                    && headLayers.OfType<LinearLayer>().Take(2).All(l => l.OutFeatures == TorchvisionVgg.HiddenFeatures);
                head = tvShape && poolSize == 7 ? VggHeadKind.Torchvision : tvShape && poolSize == 1 ? VggHeadKind.GlobalPool : VggHeadKind.Custom;
            }
            if (singleLinear is not null) head = poolSize == 1 ? VggHeadKind.GlobalPoolLinear : VggHeadKind.Custom;
        }
        layers.AddRange(headLayers);

        // ---- name ----
        string? config = TorchvisionVgg.Configs.FirstOrDefault(kv => SameLayout(kv.Value, layout)).Key;
        if (config is not null) CheckConvBiases(convs, config, sourcePath);
        bool standardWidths = config is not null && TorchvisionVgg.Configs[config].SequenceEqual(layout);
        bool standard = standardWidths && inChannels == 3
            && items.OfType<VggConv>().All(c => c.KernelH == 3 && c.KernelW == 3 && c.Bias);
        bool anyBn = items.OfType<VggConv>().Any(c => c.BatchNorm);
        string name = config is null || (anyBn && !allBn)
            ? "vgg-style" + (anyBn ? "_bn" : "")
            : TorchvisionVgg.ArchitectureName(config, allBn) + (standard ? "" : standardWidths ? "-variant" : "-pruned");
        name += head switch
        {
            VggHeadKind.None => "+no-head",
            VggHeadKind.GlobalPool => "+gap-head",
            VggHeadKind.GlobalPoolLinear => "+gap-linear-head",
            VggHeadKind.Custom => "+custom-head",
            _ => "",
        };
        var network = new Network(name, inChannels, -1, -1, layers, sourcePath);
        return new VggRecognition
        {
            Architecture = name,
            Config = config,
            StandardWidths = standard,
            BatchNorm = allBn,
            Layout = layout,
            InputChannels = inChannels,
            NumClasses = numClasses,
            Head = head,
            PoolOutputSize = poolSize,
            KeyPrefix = prefix ?? "",
            Network = network,
        };
    }

    /// <summary>
    /// In a torchvision layout (cfg A/B/D/E), a conv without a bias beside convs of the same kind (with or without
    /// BatchNorm) that have one is a key missing from the file, not a bias-free conv: PyTorch's strict
    /// <c>load_state_dict</c> reports it missing, and so does this. Nets whose BatchNorm convs are all bias-free
    /// (<c>Conv2d(bias=False)</c> before <c>BatchNorm2d</c>) and VGG-style nets with another layout are not affected.
    /// </summary>
    private static void CheckConvBiases(List<(string WeightKey, int OutChannels, bool BatchNorm, bool Bias)> convs, string config, string? sourcePath)
    {
        foreach (bool bn in new[] { false, true })
        {
            var group = convs.Where(c => c.BatchNorm == bn).ToList();
            var missing = group.Where(c => !c.Bias).ToList();
            if (missing.Count == 0 || missing.Count == group.Count) continue;
            static string BiasKey(string weightKey) => weightKey[..^"weight".Length] + "bias";
            var first = missing[0];
            var others = group.Where(c => c.Bias).Select(c => BiasKey(c.WeightKey)).ToList();
            string list = string.Join(", ", missing.Select(c => "'" + BiasKey(c.WeightKey) + "'"));
            throw new ModelMismatchException(sourcePath, BiasKey(first.WeightKey),
                $"a Conv2d bias {Tensor.FormatShape(new[] { first.OutChannels })}: the layout is torchvision's cfg {config} and the other {(bn ? "BatchNorm " : "")}convs carry biases ({others[0]}{(others.Count > 1 ? $" and {others.Count - 1} more" : "")})",
                "no such key",
                $"{missing.Count} missing key(s): {list}; the file lacks a tensor that the model's other convs have (a deleted or renamed key?)");
        }
    }

    private static (string Key, int[] Shape) LinearWeight(Dictionary<string, (string Key, int[] Shape)> e, string? sourcePath)
    {
        if (!e.TryGetValue("weight", out var w))
            throw new ModelMismatchException(sourcePath, e.Values.First().Key, "a Linear weight [out, in] beside it", "no weight");
        if (w.Shape.Length != 2)
            throw new ModelMismatchException(sourcePath, w.Key, "a Linear weight [out, in]", Tensor.FormatShape(w.Shape));
        return w;
    }

    private static void CheckBatchNorm(Dictionary<string, (string Key, int[] Shape)> e, int features, string? sourcePath, string layer)
    {
        foreach (var p in ParamNames)
        {
            if (!e.TryGetValue(p, out var t))
                throw new ModelMismatchException(sourcePath, $"{layer}.{p}", $"a BatchNorm tensor [{features}] (weight, bias, running_mean, running_var)", "missing");
            if (!t.Shape.SequenceEqual(new[] { features }))
                throw new ModelMismatchException(sourcePath, t.Key, $"[{features}] (the preceding layer's output channels)", Tensor.FormatShape(t.Shape));
        }
    }

    private static bool SameLayout(int[] cfg, List<int> layout) =>
        cfg.Length == layout.Count && cfg.Zip(layout).All(p => (p.First == TorchvisionVgg.M) == (p.Second == TorchvisionVgg.M));

    private static bool IsSquare(int n, out int s)
    {
        s = (int)Math.Round(Math.Sqrt(n));
        return n > 0 && s * s == n;
    }
}
