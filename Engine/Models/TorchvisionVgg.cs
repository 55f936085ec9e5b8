using System.Globalization;

namespace Vgg.Engine.Models;

/// <summary>The classifier head of a torchvision-style VGG.</summary>
public enum VggHead
{
    /// <summary>
    /// torchvision's: avgpool = AdaptiveAvgPool2d((7, 7)), flatten, classifier = Linear(512·7·7, 4096), ReLU,
    /// Dropout, Linear(4096, 4096), ReLU, Dropout, Linear(4096, num_classes) (keys classifier.0/3/6).
    /// </summary>
    Torchvision,
    /// <summary>The same three-layer classifier behind a global average pool: avgpool = AdaptiveAvgPool2d(1), classifier.0 is Linear(512, 4096).</summary>
    GlobalPool,
    /// <summary>avgpool = AdaptiveAvgPool2d(1) and a single classifier = Linear(512, num_classes) (keys classifier.weight, classifier.bias).</summary>
    GlobalPoolLinear,
}

/// <summary>
/// torchvision.models.vgg (torchvision 0.14): the configurations A, B, D, E (VGG-11/13/16/19, Simonyan and
/// Zisserman 2014, table 1) and <c>make_layers</c>, which numbers the modules of <c>features</c> as
/// Conv2d(3×3, padding 1)[, BatchNorm2d], ReLU per conv and MaxPool2d(2, 2) per "M".
/// </summary>
public static class TorchvisionVgg
{
    /// <summary>Marks a max-pool in a configuration.</summary>
    public const int M = -1;

    /// <summary>torchvision's cfgs, conv output channels with <see cref="M"/> for MaxPool2d(2, 2).</summary>
    public static IReadOnlyDictionary<string, int[]> Configs { get; } = new Dictionary<string, int[]>
    {
        ["A"] = new[] { 64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M },
        ["B"] = new[] { 64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M },
        ["D"] = new[] { 64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M },
        ["E"] = new[] { 64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M },
    };

    /// <summary>The builder names torchvision registers: vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn.</summary>
    public static IReadOnlyList<string> Architectures { get; } = new[] { "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn" };

    private static readonly Dictionary<string, string> ConfigByDepth = new() { ["vgg11"] = "A", ["vgg13"] = "B", ["vgg16"] = "D", ["vgg19"] = "E" };

    /// <summary>Width of the two hidden classifier layers (4096).</summary>
    public const int HiddenFeatures = 4096;

    /// <summary>Splits "vgg16_bn" into configuration "D" and batch norm true.</summary>
    /// <exception cref="ModelFormatException">Not one of <see cref="Architectures"/>.</exception>
    public static (string Config, bool BatchNorm) ParseArchitecture(string arch)
    {
        var a = arch.Trim().ToLowerInvariant();
        bool bn = a.EndsWith("_bn", StringComparison.Ordinal);
        if (bn) a = a[..^3];
        if (!ConfigByDepth.TryGetValue(a, out var cfg))
            throw new ModelFormatException(null, "arch", $"unknown architecture '{arch}'; expected one of {string.Join(", ", Architectures)}");
        return (cfg, bn);
    }

    /// <summary>The builder name for a configuration: ("D", true) → "vgg16_bn".</summary>
    public static string ArchitectureName(string config, bool batchNorm) =>
        ConfigByDepth.First(kv => kv.Value == config).Key + (batchNorm ? "_bn" : "");

    /// <summary>
    /// torchvision's <c>vggNN[_bn](num_classes=…)</c> as a <see cref="Network"/> with dynamic input [N, 3, H, W]:
    /// features.*, avgpool, flatten (torch.flatten(x, 1) in VGG.forward), classifier.*.
    /// </summary>
    /// <param name="arch">One of <see cref="Architectures"/>.</param>
    /// <param name="numClasses">Outputs of the last Linear.</param>
    /// <param name="head">The head variant; torchvision's by default.</param>
    /// <exception cref="ModelFormatException">Unknown architecture or a non-positive class count.</exception>
    public static Network Build(string arch, int numClasses = 1000, VggHead head = VggHead.Torchvision)
    {
        var (cfg, bn) = ParseArchitecture(arch);
        if (numClasses <= 0)
            throw new ModelFormatException(null, "num_classes", $"must be positive, got {numClasses}");
        var items = Configs[cfg].Select(v => v == M ? (VggFeature)new VggPool() : new VggConv(v, 3, 3, bn, true));
        var layers = FeatureLayers(items, 3, out int channels);
        layers.AddRange(HeadLayers(head, channels, numClasses));
        var name = ArchitectureName(cfg, bn) + head switch { VggHead.GlobalPool => "+gap-head", VggHead.GlobalPoolLinear => "+gap-linear-head", _ => "" };
        return new Network(name, 3, -1, -1, layers);
    }

    /// <summary>The head layers after <c>features</c>: avgpool, flatten, classifier.</summary>
    internal static IEnumerable<Layer> HeadLayers(VggHead head, int channels, int numClasses)
    {
        int s = head == VggHead.Torchvision ? 7 : 1;
        yield return new AdaptiveAvgPool2dLayer("avgpool", s, s);
        yield return new FlattenLayer("flatten");
        if (head == VggHead.GlobalPoolLinear)
        {
            yield return new LinearLayer("classifier", channels, numClasses);
            yield break;
        }
        yield return new LinearLayer("classifier.0", channels * s * s, HiddenFeatures);
        yield return new ReluLayer("classifier.1");
        yield return new DropoutLayer("classifier.2");
        yield return new LinearLayer("classifier.3", HiddenFeatures, HiddenFeatures);
        yield return new ReluLayer("classifier.4");
        yield return new DropoutLayer("classifier.5");
        yield return new LinearLayer("classifier.6", HiddenFeatures, numClasses);
    }

    /// <summary>
    /// make_layers: numbers features.i as Conv2d[, BatchNorm2d], ReLU per conv and MaxPool2d(2, 2) per pool.
    /// Convs use padding k // 2 (VGG's 3×3 with padding 1).
    /// </summary>
    internal static List<Layer> FeatureLayers(IEnumerable<VggFeature> items, int inChannels, out int outChannels)
    {
        var layers = new List<Layer>();
        int i = 0, c = inChannels;
        foreach (var item in items)
        {
            switch (item)
            {
                case VggPool:
                    layers.Add(new MaxPool2dLayer(F(i++), 2, 2));
                    break;
                case VggConv v:
                    layers.Add(new Conv2dLayer(F(i++), c, v.OutChannels, v.KernelH, v.KernelW, 1, 1, v.KernelH / 2, v.KernelW / 2, v.Bias));
                    if (v.BatchNorm) layers.Add(new BatchNormLayer(F(i++), v.OutChannels));
                    layers.Add(new ReluLayer(F(i++)));
                    c = v.OutChannels;
                    break;
            }
        }
        outChannels = c;
        return layers;

        static string F(int i) => "features." + i.ToString(CultureInfo.InvariantCulture);
    }
}

/// <summary>One entry of a VGG feature configuration.</summary>
internal abstract record VggFeature;

/// <summary>A conv block: Conv2d(k, padding k // 2)[, BatchNorm2d], ReLU.</summary>
internal sealed record VggConv(int OutChannels, int KernelH, int KernelW, bool BatchNorm, bool Bias) : VggFeature;

/// <summary>MaxPool2d(kernel 2, stride 2).</summary>
internal sealed record VggPool : VggFeature;
