using System.Globalization;

namespace Vgg.Engine.Models;

/// <summary>What a learned tensor is for; decides its seeded initialisation (see <see cref="WeightInit"/>).</summary>
public enum ParameterRole
{
    /// <summary>Conv2d weight [out, in, kh, kw].</summary>
    ConvWeight,
    /// <summary>Conv2d bias [out].</summary>
    ConvBias,
    /// <summary>BatchNorm γ [features].</summary>
    BatchNormWeight,
    /// <summary>BatchNorm β [features].</summary>
    BatchNormBias,
    /// <summary>BatchNorm running mean [features] (a buffer in PyTorch, a state-dict entry all the same).</summary>
    BatchNormRunningMean,
    /// <summary>BatchNorm running variance [features].</summary>
    BatchNormRunningVar,
    /// <summary>Linear weight [out, in].</summary>
    LinearWeight,
    /// <summary>Linear bias [out].</summary>
    LinearBias,
}

/// <summary>
/// One float32 tensor a layer needs, under its PyTorch state-dict key ("features.0.weight"), with its
/// shape and role. <see cref="Layer"/> is the owning layer's module path ("features.0").
/// </summary>
public sealed record ParameterSpec(string Key, int[] Shape, ParameterRole Role, string Layer)
{
    /// <summary>"features.0.weight float32[64, 3, 3, 3]".</summary>
    public override string ToString() => $"{Key} {Tensor.FormatShape(DType.Float32, Shape)}";
}

/// <summary>
/// One PyTorch module (or functional call) of a sequential network, named by its module path as in the
/// state dict ("features.0", "conv1", "classifier.6"). Layers are data: the <see cref="Network"/> turns
/// a list of them into graph nodes, and their shapes are checked by <see cref="OutputShape"/>.
/// </summary>
/// <remarks>
/// Activation shapes exclude the batch dimension: [C, H, W] for images (H or W −1 when the input size
/// is dynamic) and [F] after a flatten.
/// </remarks>
public abstract record Layer(string Name)
{
    /// <summary>The layer's type as the JSON model spec spells it ("conv", "relu", "linear", ...).</summary>
    public abstract string Type { get; }

    /// <summary>Learned tensors and BN statistics, in PyTorch state-dict order (weight, bias, running_mean, running_var).</summary>
    public virtual IEnumerable<ParameterSpec> Parameters => Array.Empty<ParameterSpec>();

    /// <summary>
    /// The output shape (batch excluded) for input shape <paramref name="input"/>; checks channels and sizes.
    /// </summary>
    /// <exception cref="ModelFormatException">The input does not fit the layer (key = the layer name).</exception>
    public abstract int[] OutputShape(int[] input, string? sourcePath);

    private protected ModelFormatException Bad(string? sourcePath, string problem) =>
        new(sourcePath, Name, $"{Type} layer: {problem}");

    private protected int[] RequireImage(int[] input, string? sourcePath)
    {
        if (input.Length != 3)
            throw Bad(sourcePath, $"expects an image tensor [C, H, W], got {Describe(input)}");
        return input;
    }

    /// <summary>"[64, 112, 112]" with dynamic sizes as "?".</summary>
    public static string Describe(int[] shape) => Tensor.FormatShape(shape);

    private protected static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>torch.nn.Conv2d(in, out, kernel, stride, padding, bias): dilation 1, groups 1. Output size floor((L + 2p − k) / s) + 1.</summary>
public sealed record Conv2dLayer(string Name, int InChannels, int OutChannels, int KernelH, int KernelW, int StrideH = 1, int StrideW = 1, int PadH = 0, int PadW = 0, bool Bias = true) : Layer(Name)
{
    /// <summary>Square kernel, stride and padding.</summary>
    public Conv2dLayer(string name, int inChannels, int outChannels, int kernel, int stride, int padding, bool bias)
        : this(name, inChannels, outChannels, kernel, kernel, stride, stride, padding, padding, bias) { }

    public override string Type => "conv";

    public override IEnumerable<ParameterSpec> Parameters
    {
        get
        {
            yield return new ParameterSpec(Name + ".weight", new[] { OutChannels, InChannels, KernelH, KernelW }, ParameterRole.ConvWeight, Name);
            if (Bias) yield return new ParameterSpec(Name + ".bias", new[] { OutChannels }, ParameterRole.ConvBias, Name);
        }
    }

    public override int[] OutputShape(int[] input, string? sourcePath)
    {
        RequireImage(input, sourcePath);
        if (input[0] != InChannels)
            throw Bad(sourcePath, $"expects {I(InChannels)} input channels, the previous layer gives {I(input[0])} (shape {Describe(input)})");
        return new[] { OutChannels, Out(input[1], KernelH, StrideH, PadH, sourcePath, "height"), Out(input[2], KernelW, StrideW, PadW, sourcePath, "width") };
    }

    private int Out(int l, int k, int s, int p, string? sourcePath, string axis)
    {
        if (l < 0) return -1;
        long padded = l + 2L * p;
        if (padded < k)
            throw Bad(sourcePath, $"input {axis} {I(l)} (+ 2·{I(p)} padding) is smaller than the kernel {I(k)}");
        long o = (padded - k) / s + 1;
        if (o > int.MaxValue)
            throw Bad(sourcePath, $"output {axis} {o} (input {I(l)} + 2·{I(p)} padding) is more than 2^31 − 1");
        return (int)o;
    }
}

/// <summary>
/// torch.nn.BatchNorm2d (<see cref="Dims"/> = 2, input [C, H, W]) or BatchNorm1d (<see cref="Dims"/> = 1, input [F]),
/// inference mode: y = (x − running_mean) / sqrt(running_var + eps) · weight + bias.
/// </summary>
public sealed record BatchNormLayer(string Name, int NumFeatures, float Eps = 1e-5f, int Dims = 2) : Layer(Name)
{
    public override string Type => Dims == 1 ? "batchnorm1d" : "batchnorm2d";

    public override IEnumerable<ParameterSpec> Parameters
    {
        get
        {
            var s = new[] { NumFeatures };
            yield return new ParameterSpec(Name + ".weight", s, ParameterRole.BatchNormWeight, Name);
            yield return new ParameterSpec(Name + ".bias", s, ParameterRole.BatchNormBias, Name);
            yield return new ParameterSpec(Name + ".running_mean", s, ParameterRole.BatchNormRunningMean, Name);
            yield return new ParameterSpec(Name + ".running_var", s, ParameterRole.BatchNormRunningVar, Name);
        }
    }

    public override int[] OutputShape(int[] input, string? sourcePath)
    {
        if (Dims == 2 && input.Length != 3)
            throw Bad(sourcePath, $"BatchNorm2d expects [C, H, W], got {Describe(input)}");
        if (Dims == 1 && input.Length is not (1 or 2))
            throw Bad(sourcePath, $"BatchNorm1d expects [F] or [C, L], got {Describe(input)}");
        if (input[0] >= 0 && input[0] != NumFeatures)
            throw Bad(sourcePath, $"has {I(NumFeatures)} features, the previous layer gives {I(input[0])} (shape {Describe(input)})");
        return input;
    }
}

/// <summary>torch.nn.ReLU (in place or not; the graph never aliases).</summary>
public sealed record ReluLayer(string Name) : Layer(Name)
{
    public override string Type => "relu";
    public override int[] OutputShape(int[] input, string? sourcePath) => input;
}

/// <summary>torch.nn.Dropout(p): the identity at inference.</summary>
public sealed record DropoutLayer(string Name, float P = 0.5f) : Layer(Name)
{
    public override string Type => "dropout";
    public override int[] OutputShape(int[] input, string? sourcePath) => input;
}

/// <summary>
/// torch.nn.MaxPool2d(kernel, stride, padding, ceil_mode), dilation 1. Output size floor or ceil of
/// (L + 2p − k) / s, plus 1; in ceil mode the last window is dropped when it would start in the padding.
/// </summary>
public sealed record MaxPool2dLayer(string Name, int Kernel, int Stride, int Padding = 0, bool CeilMode = false) : Layer(Name)
{
    public override string Type => "maxpool";

    public override int[] OutputShape(int[] input, string? sourcePath)
    {
        RequireImage(input, sourcePath);
        if (2L * Padding > Kernel)
            throw Bad(sourcePath, $"padding {I(Padding)} must be at most half the kernel {I(Kernel)} (PyTorch's rule)");
        return new[] { input[0], PoolOut(input[1], sourcePath, "height"), PoolOut(input[2], sourcePath, "width") };
    }

    private int PoolOut(int l, string? sourcePath, string axis)
    {
        int o = PoolSize(l, Kernel, Stride, Padding, CeilMode);
        if (l >= 0 && o <= 0)
            throw Bad(sourcePath, $"input {axis} {I(l)} is too small for kernel {I(Kernel)}, stride {I(Stride)}, padding {I(Padding)}");
        return o;
    }

    /// <summary>PyTorch's pooling output size (pooling_output_shape in ATen): −1 for a dynamic input.</summary>
    public static int PoolSize(int l, int k, int s, int p, bool ceil)
    {
        if (l < 0) return -1;
        long num = l + 2L * p - k + (ceil ? s - 1L : 0);
        if (num < 0) return 0;
        long o = num / s + 1;
        if (ceil && (o - 1) * s >= (long)l + p) o--;
        return (int)Math.Min(o, int.MaxValue);
    }
}

/// <summary>torch.nn.AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad); sizes as <see cref="MaxPool2dLayer"/>.</summary>
public sealed record AvgPool2dLayer(string Name, int Kernel, int Stride, int Padding = 0, bool CeilMode = false, bool CountIncludePad = true) : Layer(Name)
{
    public override string Type => "avgpool";

    public override int[] OutputShape(int[] input, string? sourcePath)
    {
        RequireImage(input, sourcePath);
        if (2L * Padding > Kernel)
            throw Bad(sourcePath, $"padding {I(Padding)} must be at most half the kernel {I(Kernel)} (PyTorch's rule)");
        int h = MaxPool2dLayer.PoolSize(input[1], Kernel, Stride, Padding, CeilMode);
        int w = MaxPool2dLayer.PoolSize(input[2], Kernel, Stride, Padding, CeilMode);
        if ((input[1] >= 0 && h <= 0) || (input[2] >= 0 && w <= 0))
            throw Bad(sourcePath, $"input {Describe(input)} is too small for kernel {I(Kernel)}, stride {I(Stride)}");
        return new[] { input[0], h, w };
    }
}

/// <summary>
/// torch.nn.AdaptiveAvgPool2d((OutputHeight, OutputWidth)): bin i of O along an axis of length L covers
/// [floor(i·L/O), ceil((i+1)·L/O)). torchvision VGG's avgpool is AdaptiveAvgPool2d((7, 7)).
/// </summary>
public sealed record AdaptiveAvgPool2dLayer(string Name, int OutputHeight, int OutputWidth) : Layer(Name)
{
    public override string Type => "adaptive_avgpool";

    public override int[] OutputShape(int[] input, string? sourcePath)
    {
        RequireImage(input, sourcePath);
        if (input[1] == 0 || input[2] == 0)
            throw Bad(sourcePath, $"input {Describe(input)} has no pixels");
        return new[] { input[0], OutputHeight, OutputWidth };
    }
}

/// <summary>Mean over H and W (AdaptiveAvgPool2d(1), ONNX GlobalAveragePool): [C, H, W] → [C, 1, 1].</summary>
public sealed record GlobalAvgPoolLayer(string Name) : Layer(Name)
{
    public override string Type => "global_avgpool";

    public override int[] OutputShape(int[] input, string? sourcePath)
    {
        RequireImage(input, sourcePath);
        return new[] { input[0], 1, 1 };
    }
}

/// <summary>torch.flatten(x, 1) / nn.Flatten(): [C, H, W] → [C·H·W] (ONNX Flatten, axis 1).</summary>
public sealed record FlattenLayer(string Name) : Layer(Name)
{
    public override string Type => "flatten";

    public override int[] OutputShape(int[] input, string? sourcePath)
    {
        if (input.Any(d => d < 0)) return new[] { -1 };
        long n = Tensor.Product(input);
        if (n > int.MaxValue)
            throw Bad(sourcePath, $"flattening {Describe(input)} gives {(n == long.MaxValue ? "more than 2^63" : n.ToString("N0", CultureInfo.InvariantCulture))} features per image, more than 2^31 − 1 ({int.MaxValue.ToString("N0", CultureInfo.InvariantCulture)}), the most one tensor dimension may hold");
        return new[] { (int)n };
    }
}

/// <summary>torch.nn.Linear(in, out, bias): y = x·Wᵀ + b, W [out, in]; input [in] (flattened).</summary>
public sealed record LinearLayer(string Name, int InFeatures, int OutFeatures, bool Bias = true) : Layer(Name)
{
    public override string Type => "linear";

    public override IEnumerable<ParameterSpec> Parameters
    {
        get
        {
            yield return new ParameterSpec(Name + ".weight", new[] { OutFeatures, InFeatures }, ParameterRole.LinearWeight, Name);
            if (Bias) yield return new ParameterSpec(Name + ".bias", new[] { OutFeatures }, ParameterRole.LinearBias, Name);
        }
    }

    public override int[] OutputShape(int[] input, string? sourcePath)
    {
        if (input.Length != 1)
            throw Bad(sourcePath, $"expects a flattened input [{I(InFeatures)}], got {Describe(input)}; add a flatten layer before it");
        if (input[0] >= 0 && input[0] != InFeatures)
            throw Bad(sourcePath, $"expects {I(InFeatures)} input features, the previous layer gives {I(input[0])}");
        return new[] { OutFeatures };
    }
}

/// <summary>torch.softmax(x, dim) (<see cref="Log"/> false) or torch.log_softmax(x, dim) (<see cref="Log"/> true). Dim counts the batch axis as 0.</summary>
public sealed record SoftmaxLayer(string Name, int Dim, bool Log = false) : Layer(Name)
{
    public override string Type => Log ? "log_softmax" : "softmax";

    public override int[] OutputShape(int[] input, string? sourcePath)
    {
        int rank = input.Length + 1;
        if (Dim < -rank || Dim >= rank)
            throw Bad(sourcePath, $"dim {I(Dim)} is out of range for a rank-{I(rank)} tensor (batch included)");
        return input;
    }
}
