using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Vgg.Engine;
using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Models;

namespace Vgg.Cli;

/// <summary>What the model-selection options asked for (see <see cref="ModelSelection"/>).</summary>
internal sealed record ModelRequest(
    string? Weights, string? Architecture, string? Spec, int? Seed, int? NumClasses, bool ResetHead,
    (int Height, int Width)? InputSize, string? Layer);

/// <summary>
/// The model-selection options every model verb shares, in one place: <c>--weights</c>, <c>--arch</c>, <c>--spec</c>,
/// <c>--seed</c>, <c>--num-classes</c>, <c>--reset-head</c>, <c>--input-size</c> and (where the verb can use a features-only
/// model) <c>--layer</c>; their cross-checks (usage errors, exit code 2) and the loading of the model they describe.
/// </summary>
internal sealed class ModelSelection
{
    /// <summary>torchvision 0.14's VGG builders (torchvision.models.vgg).</summary>
    public static readonly string[] Architectures = { "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn" };

    private readonly bool _implicitSeed;

    public Option<string?> Weights { get; } = new("--weights", "-w")
    {
        Description = "PyTorch checkpoint (.pth/.pt, zip, legacy or tar format) or .safetensors file with the weights, or an .onnx model. " +
                      "Without --arch or --spec the architecture is recognised from the keys and shapes.",
        HelpName = "FILE",
    };

    public Option<string?> Architecture { get; } = new("--arch", "-a")
    {
        Description = "torchvision architecture: " + string.Join(", ", Architectures) + ". With --weights the file must fit it exactly.",
        HelpName = "NAME",
    };

    public Option<string?> Spec { get; } = new("--spec", "-s")
    {
        Description = "JSON model spec of a VGG-style custom net (see models/README.md; e.g. models/tinyvgg.json, models/mnist-cnn.json). With an .onnx model: its preprocessing and labels.",
        HelpName = "FILE",
    };

    public Option<int?> Seed { get; } = new("--seed")
    {
        Description = "Seeded weights (torchvision's init scheme from a deterministic generator) instead of --weights: the whole " +
                      "pipeline without downloads, predictions meaningless. With --weights and --reset-head: the seed of the new head.",
        HelpName = "N",
    };

    public Option<int?> NumClasses { get; } = new("--num-classes")
    {
        Description = "Class count of the model's head. A checkpoint with another head needs --reset-head.",
        HelpName = "N",
    };

    public Option<bool> ResetHead { get; } = new("--reset-head")
    {
        Description = "Load everything but a head that does not fit --num-classes, and initialise that head from --seed (partial load for fine-tuning).",
    };

    public Option<int[]> InputSize { get; } = new("--input-size")
    {
        Description = "Input height and width for torchvision VGG (default 224 224; e.g. 512 512). Images are resized (shorter side) to round(max(H, W)·256/224) and center-cropped to H×W.",
        HelpName = "H W",
        Arity = new ArgumentArity(2, 2),
        AllowMultipleArgumentsPerToken = true,
    };

    public Option<string?>? Layer { get; }

    /// <param name="layer">Offer <c>--layer</c> (features-only output).</param>
    /// <param name="implicitSeed">Neither --weights nor --seed is allowed and means seed 0 (for <c>vgg plan</c>, whose output does not depend on weight values).</param>
    public ModelSelection(bool layer, bool implicitSeed = false)
    {
        _implicitSeed = implicitSeed;
        if (layer)
            Layer = new Option<string?>("--layer")
            {
                Description = "Features-only mode: output the named layer or block instead of the class scores (features.29, features, avgpool, classifier.3; spec layer names).",
                HelpName = "NAME",
            };
        Architecture.Validators.Add(r =>
        {
            var v = r.GetValueOrDefault<string?>();
            if (v is not null && !Architectures.Contains(v.ToLowerInvariant()))
                r.AddError($"unknown architecture '{v}' for --arch; expected one of {string.Join(", ", Architectures)} (use --spec FILE for a custom net)");
        });
        NumClasses.Check(v => v is <= 0 ? "--num-classes must be at least 1" : null);
        InputSize.Check(s => s is null ? null
            : s.Any(v => v <= 0) ? $"--input-size needs a positive height and width, got {string.Join(" ", s)}"
            // torchvision's recipe resizes to 256/224 of the crop before cropping; that image must fit the pipeline's pixel limit
            : s.Length == 2 && Math.Pow(Math.Max(s[0], s[1]) * (256.0 / 224), 2) > Vgg.Engine.Loader.Imaging.ImageDecodeOptions.DefaultMaxPixels
                ? $"--input-size {s[0]} {s[1]} is too large: its Resize step (256/224 of the crop) would exceed the image pipeline's limit of {Vgg.Engine.Loader.Imaging.ImageDecodeOptions.DefaultMaxPixels >> 20} megapixels"
                : null);
    }

    /// <summary>Adds the options and their cross-checks to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Weights);
        command.Options.Add(Architecture);
        command.Options.Add(Spec);
        command.Options.Add(Seed);
        command.Options.Add(NumClasses);
        command.Options.Add(ResetHead);
        command.Options.Add(InputSize);
        if (Layer is not null) command.Options.Add(Layer);
        command.Check(Validate);
    }

    private void Validate(CommandResult r)
    {
        bool weights = r.GetValue(Weights) is not null, arch = r.GetValue(Architecture) is not null, spec = r.GetValue(Spec) is not null;
        bool seed = r.GetValue(Seed) is not null;
        if (arch && spec)
            r.AddError("--arch and --spec cannot be used together: --arch builds torchvision's VGG, --spec a custom net from a JSON model spec");
        if (!weights && !arch && !spec)
            r.AddError(seed || _implicitSeed
                ? "no architecture: seeded weights need --arch NAME or --spec FILE"
                : "no model: give --weights FILE (architecture recognised from it), or --seed N with --arch NAME or --spec FILE for seeded weights");
        else if (!weights && !seed && !_implicitSeed)
            r.AddError("no weights: give --weights FILE, or --seed N for seeded weights");
        if (r.GetValue(Weights) is { } w && OnnxModels.IsOnnx(w))
        {
            var given = new (string Name, bool Set)[]
            {
                ("--arch", arch), ("--num-classes", r.GetValue(NumClasses) is not null), ("--reset-head", r.GetValue(ResetHead)),
                ("--input-size", r.GetValue(InputSize) is { Length: > 0 }), ("--layer", Layer is not null && r.GetValue(Layer) is not null),
            }.Where(x => x.Set).Select(x => x.Name).ToList();
            if (given.Count > 0)
                r.AddError($"{string.Join(", ", given)} cannot be used with an ONNX model: the .onnx file fixes the graph, its head and its input (--spec gives its preprocessing and labels)");
            return;
        }
        if (r.GetValue(ResetHead))
        {
            if (!weights) r.AddError("--reset-head re-initialises the head of a loaded checkpoint; it needs --weights FILE");
            if (r.GetValue(NumClasses) is null) r.AddError("--reset-head needs --num-classes N, the class count of the new head");
        }
        if (spec && r.GetValue(InputSize) is { Length: > 0 })
            r.AddError("--input-size applies to torchvision VGG; a spec fixes its input size in its \"input\" field");
    }

    /// <summary>The parsed request.</summary>
    public ModelRequest Get(ParseResult p)
    {
        var size = p.GetValue(InputSize);
        return new ModelRequest(
            p.GetValue(Weights), p.GetValue(Architecture)?.ToLowerInvariant(), p.GetValue(Spec), p.GetValue(Seed),
            p.GetValue(NumClasses), p.GetValue(ResetHead),
            size is { Length: 2 } ? (size[0], size[1]) : null,
            Layer is null ? null : p.GetValue(Layer));
    }

    /// <summary>
    /// For verbs that decode images (classify, calibrate): the model's preprocessing must produce its input channels. A spec
    /// with a 2- or 4-channel input has no image pipeline and runs on tensors only.
    /// </summary>
    /// <exception cref="VggEngineException">The model's input is not an image the pipeline can produce.</exception>
    public static void RequireImagePipeline(Model m, string verb)
    {
        if (m.Network is { } net && net.InputChannels != m.Preprocessing.Channels)
            throw new VggEngineException($"'{m.Architecture}' takes {net.InputChannels}-channel input and has no image preprocessing for it (an image becomes 1 channel, grayscale, or 3, RGB): '{verb}' decodes images; run it on tensors with 'vgg run --input X.npy'");
    }

    /// <summary>Checks that every file the request names exists, before any slow work starts.</summary>
    /// <exception cref="FileNotFoundException">A file is missing (the message names it).</exception>
    public static void CheckFiles(ModelRequest q)
    {
        if (q.Weights is not null) InputFiles.RequireFile(q.Weights, "weights file");
        if (q.Spec is not null) InputFiles.RequireFile(q.Spec, "model spec");
    }

    /// <summary>
    /// Loads the model: reads the weights (spinner on an interactive stderr) and builds it with
    /// <see cref="ModelFactory"/> (recognised, --arch, or --spec; seeded when there are no weights).
    /// </summary>
    /// <exception cref="Vgg.Engine.VggEngineException">The weights or spec cannot be read or do not fit.</exception>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <param name="ctx">The verb's context (progress, logging, cancellation).</param>
    /// <param name="q">What the command line asked for.</param>
    /// <param name="imagePipeline">The verb preprocesses images (see <see cref="OnnxModels.Load"/>); false for raw-tensor verbs.</param>
    public static Model Load(CliContext ctx, ModelRequest q, bool imagePipeline = true)
    {
        CheckFiles(q);
        var log = ctx.Logger("Vgg.Engine.Models");
        var options = new ModelOptions
        {
            NumClasses = q.NumClasses,
            AllowHeadMismatch = q.ResetHead,
            OutputLayer = q.Layer,
            InputSize = q.InputSize,
            Seed = q.Seed ?? 0,
            Logger = log,
        };

        if (q.Weights is { } onnx && OnnxModels.IsOnnx(onnx))
            return ctx.Step($"importing {Path.GetFileName(onnx)} ({FormatBytes(new FileInfo(onnx).Length)})", () => OnnxModels.Load(onnx, q.Spec, imagePipeline));

        if (q.Weights is { } path)
        {
            long bytes = new FileInfo(path).Length;
            var sd = ctx.Step($"reading {Path.GetFileName(path)} ({FormatBytes(bytes)})",
                () => WeightsFile.Read(path, ctx.Logger("Vgg.Engine.Loader")));
            ctx.Cancellation.ThrowIfCancellationRequested();
            return ctx.Step("binding weights", () => q.Spec is { } spec
                ? ModelFactory.FromSpec(spec, sd, options)
                : ModelFactory.FromStateDict(sd, options with { Architecture = q.Architecture }));
        }

        int seed = q.Seed ?? 0;
        if (q.Spec is { } specPath)
            return ctx.Step($"seeding the weights of {Path.GetFileName(specPath)} (seed {seed})", () => ModelFactory.FromSpec(specPath, null, options));
        var arch = q.Architecture ?? throw new InvalidOperationException("validated: --arch or --spec");
        var model = ctx.Step($"seeding {arch} weights (seed {seed})", () => ModelFactory.Seeded(arch, seed, q.NumClasses ?? 1000, options));
        log.LogInformation("{Arch}: {Count:N0} parameters seeded", arch, ParameterCount(model));
        return model;
    }

    /// <summary>Elements of every initializer of the model's graph.</summary>
    public static long ParameterCount(Model m) => m.Graph.Initializers.Values.Sum(t => t.ElementCount);

    /// <summary>"528.0 MB" (decimal megabytes, as download pages give them), "35.8 kB", "3 B".</summary>
    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1_000_000_000 => (bytes / 1e9).ToString("F2", CultureInfo.InvariantCulture) + " GB",
        >= 1_000_000 => (bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture) + " MB",
        >= 1_000 => (bytes / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " kB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
