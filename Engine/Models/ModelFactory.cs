using Microsoft.Extensions.Logging;

namespace Vgg.Engine.Models;

/// <summary>Options for <see cref="ModelFactory"/>. Every member is optional.</summary>
public sealed record ModelOptions
{
    /// <summary>
    /// Build this torchvision architecture ("vgg16_bn") instead of recognising one from the state dict; the
    /// state dict must then fit it exactly (errors name the keys).
    /// </summary>
    public string? Architecture { get; init; }

    /// <summary>
    /// The model's class count. When it differs from the checkpoint's head, the head does not fit: an error, or
    /// with <see cref="AllowHeadMismatch"/> a partial load with the head initialised from <see cref="Seed"/>.
    /// </summary>
    public int? NumClasses { get; init; }

    /// <summary>Load everything but a head that does not fit, and initialise the head (see <see cref="BindOptions.AllowHeadMismatch"/>).</summary>
    public bool AllowHeadMismatch { get; init; }

    /// <summary>
    /// Features-only mode: the graph returns the output of this layer or block ("features.29", "features",
    /// "avgpool", "classifier.3"), named like it. Null: the whole model.
    /// </summary>
    public string? OutputLayer { get; init; }

    /// <summary>
    /// Input height and width for torchvision VGG (224 by default; e.g. 512×512, where AdaptiveAvgPool2d((7, 7))
    /// pools 16×16 with PyTorch's overlapping bins). The graph's input stays dynamic; this sets
    /// <see cref="Model.InputSize"/> and the default preprocessing, <see cref="Preprocessing.ImageNetFor"/>: torchvision's
    /// Resize(256)/CenterCrop(224) scaled to the size, Resize(round(max(H, W)·256/224)) on the shorter side, then CenterCrop(H, W),
    /// so that the crop always lies inside the resized image.
    /// </summary>
    public (int Height, int Width)? InputSize { get; init; }

    /// <summary>The head to build with <see cref="Architecture"/> or <see cref="ModelFactory.Seeded"/> (torchvision's by default). A recognised state dict brings its own head.</summary>
    public VggHead? Head { get; init; }

    /// <summary>Class labels (must match the class count); overrides a spec's.</summary>
    public IReadOnlyList<string>? Labels { get; init; }

    /// <summary>Seed for seeded weights and a re-initialised head.</summary>
    public int Seed { get; init; }

    /// <summary>Seeded weights only: draw BatchNorm weight, bias and running statistics instead of torchvision's constants (see <see cref="WeightInit.Create(ParameterSpec, int, bool)"/>).</summary>
    public bool RandomBatchNormStatistics { get; init; }

    /// <summary>Prefix in front of the model keys in the file (e.g. "backbone."); null: detected for VGG state dicts, none for specs.</summary>
    public string? KeyPrefix { get; init; }

    /// <summary>Input pipeline override.</summary>
    public Preprocessing? Preprocessing { get; init; }

    /// <summary>Receives what was recognised and how the weights were bound.</summary>
    public ILogger? Logger { get; init; }
}

/// <summary>
/// Builds <see cref="Model"/>s: torchvision VGG recognised from a state dict, a JSON model spec with or without
/// a state dict, or seeded weights for an architecture.
/// </summary>
public static class ModelFactory
{
    /// <summary>
    /// A VGG model from a state dict: the architecture recognised from keys and shapes (<see cref="VggRecognizer"/>)
    /// unless <see cref="ModelOptions.Architecture"/> names one, weights bound by <see cref="StateDictBinder"/>.
    /// </summary>
    /// <exception cref="ModelMismatchException">The state dict is not a VGG, does not fit the named architecture, or its head does not fit the class count without <see cref="ModelOptions.AllowHeadMismatch"/>; an unknown output layer; labels of the wrong count.</exception>
    /// <exception cref="ModelFormatException">An unknown architecture name, or an input size too small for the network.</exception>
    public static Model FromStateDict(StateDict stateDict, ModelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        options ??= new ModelOptions();
        VggRecognition? rec = null;
        Network net;
        string prefix;
        if (options.Architecture is { } arch)
        {
            VggRecognition? guess = null;
            try { guess = VggRecognizer.Recognize(stateDict); }
            catch (ModelMismatchException) { /* the binder names what does not fit */ }
            int n = options.NumClasses ?? (guess is { NumClasses: > 0 } g ? g.NumClasses : 1000);
            net = TorchvisionVgg.Build(arch, n, options.Head ?? VggHead.Torchvision);
            prefix = options.KeyPrefix ?? guess?.KeyPrefix ?? "";
            options.Logger?.LogInformation("building {Arch} with {Classes} classes as asked", net.Name, n);
        }
        else
        {
            rec = VggRecognizer.Recognize(stateDict);
            options.Logger?.LogInformation("recognised {Description}", rec.Describe());
            if (options.Head is { } askedHead && !(askedHead == VggHead.Torchvision && rec.Head == VggHeadKind.Torchvision || askedHead == VggHead.GlobalPool && rec.Head == VggHeadKind.GlobalPool))
                options.Logger?.LogWarning("ModelOptions.Head = {Head} is ignored: the recognised state dict brings its own head ({Found}); set Architecture to build a torchvision head and bind what fits", askedHead, rec.Head);
            net = rec.Network;
            prefix = options.KeyPrefix ?? rec.KeyPrefix;
            if (options.NumClasses is { } n && n != rec.NumClasses)
            {
                if (rec.Head == VggHeadKind.None)
                    throw new ModelMismatchException(stateDict.SourcePath, "classifier", $"a classifier head to give {n} classes", "a backbone without classifier keys", "use OutputLayer = \"features\" for feature extraction");
                net = net.WithNumClasses(n);
            }
        }
        return Finish(net, stateDict, options, prefix, rec?.Architecture ?? net.Name, rec, isVgg: true);
    }

    /// <summary>
    /// A model from a JSON spec file (see <see cref="ModelSpec"/>), with weights bound from <paramref name="stateDict"/>,
    /// or seeded from <see cref="ModelOptions.Seed"/> when it is null.
    /// </summary>
    /// <exception cref="ModelFormatException">A bad spec (names the layer or field), or an <see cref="ModelOptions.InputSize"/> other than the spec's input.</exception>
    /// <exception cref="ModelMismatchException">Weights that do not fit the spec (names the key, expected and found shapes), or a head that does not fit <see cref="ModelOptions.NumClasses"/> without <see cref="ModelOptions.AllowHeadMismatch"/>.</exception>
    public static Model FromSpec(string specPath, StateDict? stateDict, ModelOptions? options = null) =>
        FromSpec(ModelSpec.Load(specPath ?? throw new ArgumentNullException(nameof(specPath))), stateDict, options);

    /// <summary>As <see cref="FromSpec(string, StateDict?, ModelOptions?)"/> for a parsed spec.</summary>
    public static Model FromSpec(ModelSpec spec, StateDict? stateDict, ModelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        options ??= new ModelOptions();
        var net = spec.Network;
        if (options.InputSize is { } size && size != (net.InputHeight, net.InputWidth))
            throw new ModelFormatException(spec.SourcePath, "input", $"the spec's input is {net.InputHeight}×{net.InputWidth}, {size.Height}×{size.Width} was asked; change the spec's input (its linear layers depend on it)");
        if (options.NumClasses is { } n && n != net.NumClasses) net = net.WithNumClasses(n);
        options = options with
        {
            // The spec's labels name its classifier's outputs: a features-only model or a resized head has none of them.
            Labels = options.Labels ?? (options.OutputLayer is null && (options.NumClasses is null || options.NumClasses == spec.Network.NumClasses) ? spec.Labels : null),
            Preprocessing = options.Preprocessing ?? spec.Preprocessing,
            InputSize = options.InputSize ?? (spec.Network.InputHeight, spec.Network.InputWidth),
        };
        return Finish(net, stateDict, options, options.KeyPrefix ?? "", "spec:" + spec.Name, null, isVgg: false,
            tensorInput: !spec.DescribesImages && ReferenceEquals(options.Preprocessing, spec.Preprocessing));
    }

    /// <summary>
    /// torchvision's <paramref name="arch"/> with seeded weights (<see cref="WeightInit"/>: torchvision's init scheme
    /// from <see cref="SeededRandom"/>, deterministic on every machine).
    /// </summary>
    /// <param name="arch">vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19 or vgg19_bn.</param>
    /// <param name="seed">The seed.</param>
    /// <param name="numClasses">Classes of the head.</param>
    /// <param name="options">Head variant, output layer, input size, BN statistics, labels; Seed and NumClasses here are ignored.</param>
    /// <exception cref="ModelFormatException">Unknown architecture.</exception>
    public static Model Seeded(string arch, int seed, int numClasses = 1000, ModelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(arch);
        options = (options ?? new ModelOptions()) with { Seed = seed };
        var net = TorchvisionVgg.Build(arch, numClasses, options.Head ?? VggHead.Torchvision);
        return Finish(net, null, options, "", net.Name, null, isVgg: true);
    }

    private static Model Finish(Network net, StateDict? stateDict, ModelOptions options, string prefix, string archName, VggRecognition? rec, bool isVgg, bool tensorInput = false)
    {
        var full = net;
        if (options.OutputLayer is { } layer) net = net.Truncate(layer);

        (int H, int W) size = options.InputSize ?? (224, 224);
        if (size.H <= 0 || size.W <= 0)
            throw new ModelFormatException(null, "input size", $"must be positive, got {size.H}×{size.W}");
        if (isVgg) net.InferShapes(size.H, size.W); // too small an input names the layer where it fails

        BindingReport? binding = null;
        IReadOnlyDictionary<string, Tensor> weights;
        if (stateDict is null)
        {
            weights = WeightInit.Create(net.Parameters, options.Seed, options.RandomBatchNormStatistics);
            options.Logger?.LogInformation("{Name}: {Count} tensors seeded with torchvision's init from seed {Seed}", full.Name, net.Parameters.Count, options.Seed);
        }
        else
        {
            var kept = new HashSet<string>(net.Parameters.Select(p => p.Key), StringComparer.Ordinal);
            binding = StateDictBinder.Bind(stateDict, net.Parameters, new BindOptions
            {
                KeyPrefix = prefix,
                HeadKeys = full.HeadKeys().Where(kept.Contains).ToArray(),
                AllowHeadMismatch = options.AllowHeadMismatch,
                Seed = options.Seed,
                SkippedKeys = full.Parameters.Select(p => p.Key).Where(k => !kept.Contains(k)).ToArray(),
                Logger = options.Logger,
            });
            weights = binding.Weights;
        }

        bool featuresOnly = options.OutputLayer is not null;
        var kind = featuresOnly ? OutputKind.Features : net.Layers[^1] switch
        {
            SoftmaxLayer { Log: true } => OutputKind.LogProbabilities,
            SoftmaxLayer => OutputKind.Probabilities,
            _ => OutputKind.Logits,
        };
        string outputName = featuresOnly ? options.OutputLayer! : kind switch
        {
            OutputKind.LogProbabilities => "log_probabilities",
            OutputKind.Probabilities => "probabilities",
            _ => "logits",
        };
        var graph = net.ToGraph(weights, outputName);
        int classes = featuresOnly || net.OutputShape.Length != 1 ? 0 : net.OutputShape[0];
        if (options.Labels is { } labels && labels.Count != classes)
            throw new ModelMismatchException(stateDict?.SourcePath, "labels", $"{classes} labels (the model's {(featuresOnly ? "features-only output has no classes" : "class count")})", $"{labels.Count}");

        var pre = options.Preprocessing ?? (size == (224, 224) ? Preprocessing.ImageNet : Preprocessing.ImageNetFor(size.H, size.W));
        // A spec of a 2- or 4-channel input has no image pipeline: the model runs on tensors (Session.Run, vgg run).
        if (pre.Channels != net.InputChannels && !tensorInput)
            throw new ModelMismatchException(stateDict?.SourcePath, "input", $"preprocessing for {net.InputChannels} channels", $"{pre.Channels} ({pre.Color})");

        var name = featuresOnly ? $"{archName}[:{options.OutputLayer}]" : archName;
        graph.Name = name;
        return new Model(graph, archName, pre)
        {
            Labels = options.Labels,
            NumClasses = classes,
            InputSize = size,
            OutputKind = kind,
            OutputLayer = options.OutputLayer,
            Network = net,
            Binding = binding,
            Seed = stateDict is null ? options.Seed : null,
            Recognition = rec,
        };
    }
}
