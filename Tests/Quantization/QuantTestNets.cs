using System.Globalization;
using System.Text;
using Vgg.Engine.Backends;
using Vgg.Engine.Cpu.Int8;
using Vgg.Engine.Cuda.Network;
using Vgg.Engine.IR;
using Vgg.Engine.Quantization;
using Vgg.Engine.Runtime;

namespace Vgg.Engine.Tests.Quantization;

/// <summary>Graphs, inputs and comparisons shared by the quantization tests.</summary>
internal static class QuantTestNets
{
    /// <summary>
    /// The graph IR of a CUDA <see cref="NetworkDefinition"/>, named so that after the planner's fusion every conv
    /// (+ReLU, +pool) and linear (+ReLU) writes the value named like the definition's layer: the INT8 plan then uses
    /// exactly the scales the CUDA network (and <see cref="NetworkReference.RunInt8"/>) takes by layer name.
    /// </summary>
    public static Graph FromDefinition(NetworkDefinition def, string name = "testnet")
    {
        var g = new Graph { Name = name };
        g.Inputs.Add(new ValueInfo(def.InputName, DType.Float32, new[] { -1, def.InputChannels, -1, -1 }));
        int channels = def.InputChannels;
        var features = new Dictionary<string, int>(StringComparer.Ordinal) { [def.InputName] = channels };
        foreach (var l in def.Layers)
        {
            switch (l)
            {
                case ConvSpec c:
                {
                    int cin = features[c.Input] / 1;
                    g.Initializers[c.Name + ".weight"] = Tensor.From(c.Weight, c.OutChannels, cin / c.Groups, c.KernelH, c.KernelW);
                    var inputs = new List<string> { c.Input, c.Name + ".weight" };
                    if (c.Bias is not null) { g.Initializers[c.Name + ".bias"] = Tensor.From(c.Bias, c.OutChannels); inputs.Add(c.Name + ".bias"); }
                    var op = new ConvOp(new[] { c.KernelH, c.KernelW }, new[] { c.StrideH, c.StrideW }, new[] { c.PadTop, c.PadLeft, c.PadBottom, c.PadRight },
                        new[] { c.DilationH, c.DilationW }, c.Groups);
                    string convOut = c.Relu || c.FusedPool ? c.Name + ".conv" : c.Name;
                    g.Nodes.Add(new Node(c.Name, op, inputs, new[] { convOut }));
                    string cur = convOut;
                    if (c.Relu)
                    {
                        string reluOut = c.FusedPool ? c.Name + ".relu" : c.Name;
                        g.Nodes.Add(new Node(c.Name + "/relu", new UnaryOp(UnaryKind.Relu), new[] { cur }, new[] { reluOut }));
                        cur = reluOut;
                    }
                    if (c.FusedPool) g.Nodes.Add(new Node(c.Name + "/pool", MaxPoolOp.MaxPool2d(2, 2), new[] { cur }, new[] { c.Name }));
                    features[c.Name] = c.OutChannels;
                    break;
                }
                case MaxPoolSpec p:
                    g.Nodes.Add(new Node(p.Name, new MaxPoolOp(new[] { p.KernelH, p.KernelW }, new[] { p.StrideH, p.StrideW },
                        new[] { p.PadTop, p.PadLeft, p.PadBottom, p.PadRight }, new[] { p.DilationH, p.DilationW }, p.CeilMode), new[] { p.Input }, new[] { p.Name }));
                    features[p.Name] = features[p.Input];
                    break;
                case AdaptiveAvgPoolSpec a:
                    g.Nodes.Add(new Node(a.Name, new AdaptiveAvgPoolOp(a.OutH, a.OutW), new[] { a.Input }, new[] { a.Name }));
                    features[a.Name] = features[a.Input];
                    break;
                case FlattenSpec f:
                    g.Nodes.Add(new Node(f.Name, new FlattenOp(1), new[] { f.Input }, new[] { f.Name }));
                    break;
                case LinearSpec f:
                {
                    int k = f.Weight.Length / f.OutFeatures;
                    g.Initializers[f.Name + ".weight"] = Tensor.From(f.Weight, f.OutFeatures, k);
                    var inputs = new List<string> { f.Input, f.Name + ".weight" };
                    if (f.Bias is not null) { g.Initializers[f.Name + ".bias"] = Tensor.From(f.Bias, f.OutFeatures); inputs.Add(f.Name + ".bias"); }
                    string outName = f.Relu ? f.Name + ".linear" : f.Name;
                    g.Nodes.Add(new Node(f.Name, GemmOp.Linear(), inputs, new[] { outName }));
                    if (f.Relu) g.Nodes.Add(new Node(f.Name + "/relu", new UnaryOp(UnaryKind.Relu), new[] { outName }, new[] { f.Name }));
                    break;
                }
                case ReluSpec r:
                    g.Nodes.Add(new Node(r.Name, new UnaryOp(UnaryKind.Relu), new[] { r.Input }, new[] { r.Name }));
                    break;
                case SoftmaxSpec s:
                    g.Nodes.Add(new Node(s.Name, s.Log ? new LogSoftmaxOp(-1) : new SoftmaxOp(-1), new[] { s.Input }, new[] { s.Name }));
                    break;
                default:
                    throw new NotSupportedException(l.GetType().Name);
            }
        }
        foreach (var o in def.Outputs) g.Outputs.Add(new ValueInfo(o, DType.Float32, null));
        return g;
    }

    /// <summary>
    /// A small seeded VGG-style definition: 3×3 convs with ReLU (pools fused where a pool follows), adaptive average
    /// pool, flatten, two linear layers and optionally a softmax. He-normal weights, biases ±0.05.
    /// </summary>
    public static NetworkDefinition SmallVgg(int seed, int[] cfg, int poolOut, int hidden, int classes, bool softmax = false, int inputChannels = 3)
    {
        var rng = new Random(seed);
        float[] Rand(long n, double std)
        {
            var a = new float[n];
            for (long i = 0; i < n; i++)
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                a[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            }
            return a;
        }
        float[] Bias(int n) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * 0.05)).ToArray();
        var layers = new List<LayerSpec>();
        string cur = "input";
        int c = inputChannels, idx = 0;
        for (int i = 0; i < cfg.Length; i++)
        {
            if (cfg[i] == 0) continue;
            int k = cfg[i];
            bool pool = i + 1 < cfg.Length && cfg[i + 1] == 0;
            var name = $"features.{idx++}";
            layers.Add(ConvSpec.Conv3x3(name, cur, k, Rand((long)k * c * 9, Math.Sqrt(2.0 / (c * 9))), Bias(k), relu: true, pool: pool));
            cur = name;
            c = k;
        }
        layers.Add(new AdaptiveAvgPoolSpec("avgpool", cur, poolOut, poolOut));
        layers.Add(new FlattenSpec("flatten", "avgpool"));
        int f = c * poolOut * poolOut;
        layers.Add(new LinearSpec("classifier.0", "flatten", hidden, Rand((long)hidden * f, Math.Sqrt(2.0 / f)), Bias(hidden), true));
        layers.Add(new LinearSpec("classifier.3", "classifier.0", classes, Rand((long)classes * hidden, Math.Sqrt(1.0 / hidden)), Bias(classes), false));
        string output = "classifier.3";
        if (softmax)
        {
            layers.Add(new SoftmaxSpec("softmax", output, false));
            output = "softmax";
        }
        return new NetworkDefinition("input", inputChannels, layers, new[] { output });
    }

    /// <summary>Seeded normal values (mean 0, std <paramref name="std"/>), printed by tests that use them.</summary>
    public static float[] Normal(int seed, long n, double std = 1.0)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }

    public static Tensor Image(int seed, int n, int c, int h, int w) => Tensor.From(Normal(seed, (long)n * c * h * w), n, c, h, w);

    public static SessionOptions Cpu(Precision p = Precision.Fp32, CalibrationTable? table = null, int threads = 2) =>
        new() { Backend = BackendChoice.Cpu, Threads = threads, Precision = p, Calibration = table };

    /// <summary>Runs <paramref name="body"/> with the INT8 kernels forced to <paramref name="isa"/> (ignored when the CPU lacks it).</summary>
    public static void WithIsa(Int8Isa isa, Action body)
    {
        RequireIsa(isa);
        var old = Int8Cpu.Forced;
        Int8Cpu.Forced = isa;
        try { body(); }
        finally { Int8Cpu.Forced = old; }
    }

    /// <summary>Ignores the test, with the reason, when the CPU lacks <paramref name="isa"/>.</summary>
    public static void RequireIsa(Int8Isa isa)
    {
        if (!Int8Cpu.IsSupported(isa))
            Assert.Ignore($"ignored: this CPU does not support the INT8 path {isa}" + (isa == Int8Isa.AvxVnni ? " (AVX-VNNI, the VEX form; AVX-512-VNNI is not exposed by .NET 10); its algebra is checked by ScalarVnniEmulation" : ""));
    }

    /// <summary>Asserts two byte-identical tensors (dtype, shape, every bit); a failure prints the shape, the first and worst differences.</summary>
    public static void BitExact(Tensor expected, Tensor actual, string what)
    {
        Assert.That(actual.DType, Is.EqualTo(expected.DType), $"{what}: dtype");
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), $"{what}: shape {Tensor.FormatShape(actual.Shape)} vs {Tensor.FormatShape(expected.Shape)}");
        var e = expected.Bytes;
        var a = actual.Bytes;
        if (e.SequenceEqual(a)) return;
        int es = expected.DType.SizeOf();
        long count = 0, first = -1, worst = -1;
        double worstDiff = -1;
        for (long i = 0; i < expected.ElementCount; i++)
        {
            if (e.Slice((int)(i * es), es).SequenceEqual(a.Slice((int)(i * es), es))) continue;
            count++;
            if (first < 0) first = i;
            double d = Math.Abs(expected.GetDouble(i) - actual.GetDouble(i));
            if (d > worstDiff) { worstDiff = d; worst = i; }
        }
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{what}: {count} of {expected.ElementCount} elements differ in bits; shape {expected}; ");
        sb.Append(CultureInfo.InvariantCulture, $"first at {first}: {actual.GetDouble(first):R} vs expected {expected.GetDouble(first):R}; ");
        sb.Append(CultureInfo.InvariantCulture, $"worst at {worst}: {actual.GetDouble(worst):R} vs expected {expected.GetDouble(worst):R}");
        Assert.Fail(sb.ToString());
    }

    /// <summary>max |a − e| / max |e| over the tensor.</summary>
    public static double MaxRelativeError(Tensor expected, Tensor actual) => Core.TensorAssert.MaxRelativeError(expected, actual);
}
