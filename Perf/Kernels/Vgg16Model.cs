namespace Vgg.Perf.Kernels;

/// <summary>
/// VGG-16 (torchvision configuration "D") with seeded random weights (Kaiming-uniform scale so the
/// activations stay O(1) through 16 layers), as plain arrays, and its ONNX graph with the same
/// weights as initializers. Weights: conv [M, C, 3, 3], linear [out, in] (torch layout).
/// </summary>
internal sealed class Vgg16Model
{
    /// <summary>Conv layer channel plan; 'M' = 2×2 max-pool stride 2.</summary>
    public static readonly int[] Plan = { 64, 64, -1, 128, 128, -1, 256, 256, 256, -1, 512, 512, 512, -1, 512, 512, 512, -1 };

    public readonly List<(int C, int M, float[] W, float[] B, bool PoolAfter)> Convs = new();
    public readonly List<(int In, int Out, float[] W, float[] B, bool Relu)> Linears = new();
    public readonly int NumClasses;

    public Vgg16Model(ulong seed = 42, int numClasses = 1000)
    {
        NumClasses = numClasses;
        var rng = new Rng(seed);
        int c = 3;
        for (int i = 0; i < Plan.Length; i++)
        {
            if (Plan[i] < 0) continue;
            int m = Plan[i];
            bool pool = i + 1 < Plan.Length && Plan[i + 1] < 0;
            Convs.Add((c, m, rng.Uniform(m * c * 9, MathF.Sqrt(6f / (c * 9))), rng.Uniform(m, 0.1f), pool));
            c = m;
        }
        int[] dims = { 512 * 7 * 7, 4096, 4096, numClasses };
        for (int i = 0; i < 3; i++)
            Linears.Add((dims[i], dims[i + 1], rng.Uniform(dims[i] * dims[i + 1], MathF.Sqrt(6f / dims[i])), rng.Uniform(dims[i + 1], 0.1f), i < 2));
    }

    /// <summary>ONNX bytes of the whole network for batch <paramref name="n"/> at 224×224 (opset 17).</summary>
    public byte[] ToOnnx(int n)
    {
        var g = new OnnxGraphBuilder();
        g.Input("input", n, 3, 224, 224);
        string x = "input";
        int li = 0;
        foreach (var (C, M, W, B, pool) in Convs)
        {
            g.Initializer($"c{li}.w", W, M, C, 3, 3);
            g.Initializer($"c{li}.b", B, M);
            g.Node("Conv", new[] { x, $"c{li}.w", $"c{li}.b" }, new[] { $"c{li}" },
                ("kernel_shape", new long[] { 3, 3 }), ("pads", new long[] { 1, 1, 1, 1 }), ("strides", new long[] { 1, 1 }));
            g.Node("Relu", new[] { $"c{li}" }, new[] { $"r{li}" });
            x = $"r{li}";
            if (pool)
            {
                g.Node("MaxPool", new[] { x }, new[] { $"p{li}" }, ("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 }));
                x = $"p{li}";
            }
            li++;
        }
        g.Node("Flatten", new[] { x }, new[] { "flat" }, ("axis", 1L));
        x = "flat";
        for (int i = 0; i < Linears.Count; i++)
        {
            var (In, Out, W, B, relu) = Linears[i];
            g.Initializer($"fc{i}.w", W, Out, In);
            g.Initializer($"fc{i}.b", B, Out);
            g.Node("Gemm", new[] { x, $"fc{i}.w", $"fc{i}.b" }, new[] { $"fc{i}" }, ("transB", 1L));
            x = $"fc{i}";
            if (relu)
            {
                g.Node("Relu", new[] { x }, new[] { $"fr{i}" });
                x = $"fr{i}";
            }
        }
        g.Output(x, n, NumClasses);
        return g.Build();
    }
}

/// <summary>xorshift64* with uniform floats; seeded, deterministic across runs and machines.</summary>
internal sealed class Rng
{
    private ulong _s;
    public Rng(ulong seed) { _s = seed * 0x9E3779B97F4A7C15UL + 1; }
    public ulong Next() { _s ^= _s >> 12; _s ^= _s << 25; _s ^= _s >> 27; return _s * 2685821657736338717UL; }
    /// <summary>Uniform in [−a, a).</summary>
    public float NextFloat(float a) => (float)((Next() >> 40) * (1.0 / (1UL << 24)) * 2 - 1) * a;
    public float[] Uniform(int count, float a)
    {
        var r = new float[count];
        for (int i = 0; i < r.Length; i++) r[i] = NextFloat(a);
        return r;
    }
}
