namespace Vgg.Engine.Cuda.Network;

/// <summary>
/// One layer of a network the CUDA backend runs, in PyTorch's terms (NCHW shapes, OIHW conv weights,
/// [out, in] linear weights). The layer's output tensor is named <see cref="Name"/>; it reads <see cref="Input"/>.
/// </summary>
public abstract record LayerSpec(string Name, string Input);

/// <summary>
/// torch.nn.Conv2d (+ optional ReLU, + optional fused 2×2/2 max-pool in floor mode).
/// </summary>
/// <param name="Name">Layer (and output tensor) name.</param>
/// <param name="Input">Input tensor name.</param>
/// <param name="OutChannels">K.</param>
/// <param name="KernelH">R.</param>
/// <param name="KernelW">S.</param>
/// <param name="StrideH">Vertical stride.</param>
/// <param name="StrideW">Horizontal stride.</param>
/// <param name="PadTop">Top padding.</param>
/// <param name="PadLeft">Left padding.</param>
/// <param name="PadBottom">Bottom padding.</param>
/// <param name="PadRight">Right padding.</param>
/// <param name="DilationH">Vertical dilation.</param>
/// <param name="DilationW">Horizontal dilation.</param>
/// <param name="Groups">Groups.</param>
/// <param name="Weight">float32 [K][C/groups][R][S] (OIHW).</param>
/// <param name="Bias">float32 [K], or null.</param>
/// <param name="Relu">ReLU after the bias.</param>
/// <param name="FusedPool">A 2×2 stride-2 max-pool (floor mode, no padding) after the ReLU.</param>
public sealed record ConvSpec(string Name, string Input, int OutChannels, int KernelH, int KernelW, int StrideH, int StrideW,
    int PadTop, int PadLeft, int PadBottom, int PadRight, int DilationH, int DilationW, int Groups,
    float[] Weight, float[]? Bias, bool Relu, bool FusedPool) : LayerSpec(Name, Input)
{
    /// <summary>A torchvision-style 3×3 / stride 1 / padding 1 conv.</summary>
    public static ConvSpec Conv3x3(string name, string input, int outChannels, float[] weight, float[]? bias, bool relu = true, bool pool = false) =>
        new(name, input, outChannels, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, weight, bias, relu, pool);

    /// <summary>True for the shape the fast kernels take: 3×3, stride 1, padding 1, dilation 1, one group.</summary>
    public bool Is3x3s1p1 => KernelH == 3 && KernelW == 3 && StrideH == 1 && StrideW == 1 && PadTop == 1 && PadLeft == 1 && PadBottom == 1 && PadRight == 1
        && DilationH == 1 && DilationW == 1 && Groups == 1;
}

/// <summary>torch.nn.MaxPool2d / ONNX MaxPool (2-D): kernel, stride, padding, dilation, ceil_mode.</summary>
public sealed record MaxPoolSpec(string Name, string Input, int KernelH, int KernelW, int StrideH, int StrideW,
    int PadTop, int PadLeft, int PadBottom, int PadRight, int DilationH = 1, int DilationW = 1, bool CeilMode = false) : LayerSpec(Name, Input);

/// <summary>torch.nn.AdaptiveAvgPool2d((OutH, OutW)); global average pooling is 1×1.</summary>
public sealed record AdaptiveAvgPoolSpec(string Name, string Input, int OutH, int OutW) : LayerSpec(Name, Input);

/// <summary>torch.flatten(x, 1): [N, C, H, W] → [N, C·H·W] in NCHW order.</summary>
public sealed record FlattenSpec(string Name, string Input) : LayerSpec(Name, Input);

/// <summary>torch.nn.Linear (+ optional ReLU). Weight float32 [out][in], bias [out] or null.</summary>
public sealed record LinearSpec(string Name, string Input, int OutFeatures, float[] Weight, float[]? Bias, bool Relu) : LayerSpec(Name, Input);

/// <summary>An unfused ReLU.</summary>
public sealed record ReluSpec(string Name, string Input) : LayerSpec(Name, Input);

/// <summary>Softmax (or log-softmax) over the last axis of a [N, F] tensor.</summary>
public sealed record SoftmaxSpec(string Name, string Input, bool Log) : LayerSpec(Name, Input);

/// <summary>
/// A network as the CUDA backend runs it: one float32 NCHW image input, layers in execution order, and
/// the output tensors (float32: NCHW for 4-D, [N, F] for 2-D).
/// </summary>
/// <param name="InputName">Name of the input tensor.</param>
/// <param name="InputChannels">C of the input.</param>
/// <param name="Layers">Layers in order; each reads tensors defined before it.</param>
/// <param name="Outputs">Output tensor names.</param>
public sealed record NetworkDefinition(string InputName, int InputChannels, IReadOnlyList<LayerSpec> Layers, IReadOnlyList<string> Outputs)
{
    /// <summary>Shape of every tensor for a batch and input size: [N, C, H, W] or [N, F].</summary>
    /// <exception cref="GraphException">A layer reads an undefined tensor or its shape does not fit (names the layer).</exception>
    public Dictionary<string, int[]> InferShapes(int batch, int height, int width)
    {
        var s = new Dictionary<string, int[]>(StringComparer.Ordinal) { [InputName] = new[] { batch, InputChannels, height, width } };
        foreach (var l in Layers)
        {
            if (!s.TryGetValue(l.Input, out var x)) throw new GraphException(l.Name, $"input '{l.Input}' is not defined before this layer");
            if (s.ContainsKey(l.Name)) throw new GraphException(l.Name, "the name is defined twice");
            int[] Need4(string what) => x.Length == 4 ? x : throw new GraphException(l.Name, $"{what} needs a 4-D NCHW input, got [{string.Join(", ", x)}]");
            s[l.Name] = l switch
            {
                ConvSpec c => ConvShape(c, Need4("a convolution")),
                MaxPoolSpec p => PoolShape(p, Need4("a max-pool")),
                AdaptiveAvgPoolSpec a => new[] { Need4("an adaptive average pool")[0], x[1], a.OutH, a.OutW },
                FlattenSpec => new[] { x[0], x.Skip(1).Aggregate(1, (m, d) => m * d) },
                LinearSpec f => x.Length == 2 && f.Weight.Length == (long)f.OutFeatures * x[1]
                    ? new[] { x[0], f.OutFeatures }
                    : throw new GraphException(l.Name, $"a linear layer of weight [{f.OutFeatures}, {(x.Length == 2 ? x[1] : -1)}] needs a 2-D input with {f.Weight.Length / Math.Max(1, f.OutFeatures)} features, got [{string.Join(", ", x)}]"),
                ReluSpec => x,
                SoftmaxSpec => x.Length == 2 ? x : throw new GraphException(l.Name, $"softmax runs over the last axis of a 2-D tensor, got [{string.Join(", ", x)}]"),
                _ => throw new GraphException(l.Name, $"unknown layer {l.GetType().Name}"),
            };
        }
        foreach (var o in Outputs)
            if (!s.ContainsKey(o)) throw new GraphException(null, $"output '{o}' is not produced by any layer");
        return s;
    }

    private static int[] ConvShape(ConvSpec c, int[] x)
    {
        if (x[1] % c.Groups != 0 || c.OutChannels % c.Groups != 0)
            throw new GraphException(c.Name, $"{x[1]} input and {c.OutChannels} output channels do not split into {c.Groups} groups");
        long expected = (long)c.OutChannels * (x[1] / c.Groups) * c.KernelH * c.KernelW;
        if (c.Weight.Length != expected) throw new GraphException(c.Name, $"weight holds {c.Weight.Length} values, [{c.OutChannels}, {x[1] / c.Groups}, {c.KernelH}, {c.KernelW}] needs {expected}");
        if (c.Bias is not null && c.Bias.Length != c.OutChannels) throw new GraphException(c.Name, $"bias holds {c.Bias.Length} values, expected {c.OutChannels}");
        int oh = (x[2] + c.PadTop + c.PadBottom - c.DilationH * (c.KernelH - 1) - 1) / c.StrideH + 1;
        int ow = (x[3] + c.PadLeft + c.PadRight - c.DilationW * (c.KernelW - 1) - 1) / c.StrideW + 1;
        if (oh <= 0 || ow <= 0) throw new GraphException(c.Name, $"a {x[2]}x{x[3]} input is too small for this kernel");
        if (c.FusedPool)
        {
            if (oh < 2 || ow < 2) throw new GraphException(c.Name, $"a fused 2x2 pool needs a conv output of at least 2x2, got {oh}x{ow}");
            oh /= 2;
            ow /= 2;
        }
        return new[] { x[0], c.OutChannels, oh, ow };
    }

    private static int[] PoolShape(MaxPoolSpec p, int[] x)
    {
        int oh = Diagnostics.GpuOpChecks.PooledLength(x[2], p.KernelH, p.StrideH, p.PadTop, p.PadBottom, p.DilationH, p.CeilMode);
        int ow = Diagnostics.GpuOpChecks.PooledLength(x[3], p.KernelW, p.StrideW, p.PadLeft, p.PadRight, p.DilationW, p.CeilMode);
        if (oh <= 0 || ow <= 0) throw new GraphException(p.Name, $"a {x[2]}x{x[3]} input is too small for this pool");
        return new[] { x[0], x[1], oh, ow };
    }

    /// <summary>torchvision's VGG configurations ("vgg11", "vgg13", "vgg16", "vgg19"): channel counts, 0 = max-pool.</summary>
    public static int[] VggConfig(string arch) => arch switch
    {
        "vgg11" => new[] { 64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0 },
        "vgg13" => new[] { 64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0 },
        "vgg16" => new[] { 64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0 },
        "vgg19" => new[] { 64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0 },
        _ => throw new ArgumentException($"unknown VGG architecture '{arch}' (vgg11, vgg13, vgg16, vgg19)"),
    };

    /// <summary>
    /// A torchvision VGG (features, AdaptiveAvgPool2d(7), classifier) with seeded random weights (He
    /// initialization, biases ±0.01): the benchmark's network and the whole-network checks'. Each conv
    /// before a max-pool carries the pool fused (what the planner does).
    /// </summary>
    /// <param name="arch">"vgg11" … "vgg19".</param>
    /// <param name="numClasses">Classifier outputs (1000).</param>
    /// <param name="seed">Random seed.</param>
    /// <param name="softmax">Append a softmax after the logits.</param>
    public static NetworkDefinition RandomVgg(string arch, int numClasses = 1000, int seed = 1, bool softmax = false)
    {
        var cfg = VggConfig(arch);
        var rng = new Random(seed);
        float[] Rand(long n, double std)
        {
            var a = new float[n];
            for (long i = 0; i < n; i++)
            {
                // Box–Muller normal
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                a[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            }
            return a;
        }
        float[] Bias(int n) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * 0.01)).ToArray();
        var layers = new List<LayerSpec>();
        string cur = "input";
        int c = 3, convIdx = 0;
        for (int i = 0; i < cfg.Length; i++)
        {
            if (cfg[i] == 0) continue;
            int k = cfg[i];
            bool pool = i + 1 < cfg.Length && cfg[i + 1] == 0;
            var name = $"features.{convIdx}";
            layers.Add(ConvSpec.Conv3x3(name, cur, k, Rand((long)k * c * 9, Math.Sqrt(2.0 / (c * 9))), Bias(k), relu: true, pool: pool));
            cur = name;
            c = k;
            convIdx++;
        }
        layers.Add(new AdaptiveAvgPoolSpec("avgpool", cur, 7, 7));
        layers.Add(new FlattenSpec("flatten", "avgpool"));
        layers.Add(new LinearSpec("classifier.0", "flatten", 4096, Rand(4096L * 512 * 49, Math.Sqrt(2.0 / (512 * 49))), Bias(4096), true));
        layers.Add(new LinearSpec("classifier.3", "classifier.0", 4096, Rand(4096L * 4096, Math.Sqrt(2.0 / 4096)), Bias(4096), true));
        layers.Add(new LinearSpec("classifier.6", "classifier.3", numClasses, Rand((long)numClasses * 4096, Math.Sqrt(1.0 / 4096)), Bias(numClasses), false));
        string output = "classifier.6";
        if (softmax)
        {
            layers.Add(new SoftmaxSpec("softmax", output, false));
            output = "softmax";
        }
        return new NetworkDefinition("input", 3, layers, new[] { output });
    }
}
