using Vgg.Engine.Backends;
using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Network;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.Models;
using Vgg.Engine.Runtime;

namespace Vgg.Engine.Cuda.Diagnostics;

/// <summary>
/// Whole small networks through the device-independent <see cref="NetworkProgram"/> on any
/// <see cref="IGpuCheckDevice"/> (a GPU, or the PTX simulator): plan lowering, weight conversion, the
/// arena, aliasing, the input conversion, every layer's launches, output conversion. Seeded torchvision
/// VGG-11 (and its global-pool head) against the core's CPU backend (FP32: 1e-4 of max|logit| and rel l2;
/// FP16: rel l2 2e-2), and a hand-built net that takes every slow path (strided, grouped and dilated
/// convolutions, an unfused ceil-mode pool, a non-identity adaptive pool, an unfused ReLU, a linear layer
/// with a misaligned K, log-softmax) against the float64 network reference; INT8 bit-exact against the
/// INT8 network reference with scales calibrated on the CPU.
/// </summary>
public static class GpuProgramChecks
{
    private static readonly Lazy<Model> Vgg11 = new(() => ModelFactory.Seeded("vgg11", seed: 7, numClasses: 10));
    private static readonly Lazy<Model> Vgg11Gap = new(() => ModelFactory.Seeded("vgg11", seed: 8, numClasses: 10, new ModelOptions { Head = VggHead.GlobalPool }));

    /// <summary>Every check.</summary>
    public static IEnumerable<GpuCheck> All()
    {
        foreach (var p in new[] { CudaPrecision.Float32, CudaPrecision.Float16, CudaPrecision.Int8 })
        {
            string s = p.Suffix();
            yield return new($"network vgg11 {s} n2 32x32 10 classes", "network", ctx => Model(ctx, Vgg11.Value, p, 2, 32, 32, 21), Work: 2L * 32 * 32 * 7_600_000_000 / (224 * 224) + 2L * 125_000_000);
            yield return new($"network vgg11 global-pool head {s} n2 40x36", "network", ctx => Model(ctx, Vgg11Gap.Value, p, 2, 40, 36, 22), Work: 2L * 40 * 36 * 7_600_000_000 / (224 * 224));
            yield return new($"network custom slow paths {s} n3 23x19", "network", ctx => Custom(ctx, p, 3, 23, 19, 23), Work: 3L * 2_000_000);
        }
    }

    private static float[] Input(int seed, long n)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 4 - 2);
        return a;
    }

    /// <summary>Runs a lowered network on the device; returns every output (float32, NCHW or [N, F]) in definition order.</summary>
    public static float[][] RunProgram(IGpuCheckDevice device, NetworkDefinition def, CudaPrecision p, IReadOnlyDictionary<string, float>? scales, float[] input, int n, int h, int w)
    {
        var mem = new CheckDeviceAllocator(device);
        var weights = CudaModelWeights.Upload(mem, def, p, scales);
        ulong x = device.Upload(input);
        var program = new NetworkProgram(weights, n, h, w, mem, reuseMemory: true, inputPointer: x);
        device.Run(program.AllLaunches);
        return program.Outputs.Select(o => device.Download<float>(o.Pointer, o.Elements)).ToArray();
    }

    private static Dictionary<string, float> CpuScales(NetworkDefinition def, float[] x, int n, int h, int w)
    {
        var maxAbs = new Dictionary<string, float>(StringComparer.Ordinal);
        NetworkReference.RunFloat(def, x, n, h, w, maxAbs);
        return maxAbs.ToDictionary(q => q.Key, q => Int8Scheme.ActivationScale(q.Value), StringComparer.Ordinal);
    }

    private static string Compare(string what, float[] gpu, float[] reference, CudaPrecision p)
    {
        var idx = Enumerable.Range(0, gpu.Length).Select(i => (long)i).ToArray();
        if (p == CudaPrecision.Int8) return GpuCompare.Exact(what, new[] { gpu.Length }, idx, gpu, reference);
        double tol = p == CudaPrecision.Float32 ? GpuNetworkChecks.Fp32NetworkTolerance : GpuNetworkChecks.Fp16NetworkTolerance;
        return GpuCompare.Close(what, new[] { gpu.Length }, idx, gpu.Select(v => (double)v).ToArray(), reference.Select(v => (double)v).ToArray(),
            tol, p == CudaPrecision.Float32 ? tol : double.PositiveInfinity);
    }

    private static string Model(IGpuCheckDevice device, Model model, CudaPrecision p, int n, int h, int w, int seed)
    {
        var shape = new[] { n, 3, h, w };
        var (_, lowered) = PlanLowering.PlanAndLower(model.Graph, shape);
        var def = lowered.Definition;
        var x = Input(seed, (long)n * 3 * h * w);
        IReadOnlyDictionary<string, float>? scales = p == CudaPrecision.Int8 ? CpuScales(def, x, n, h, w) : null;
        var gpu = RunProgram(device, def, p, scales, x, n, h, w)[0];
        float[] reference;
        if (p == CudaPrecision.Int8)
        {
            reference = NetworkReference.RunInt8(def, x, n, h, w, scales!)[def.Outputs[0]];
        }
        else
        {
            using var s = new Session(model, new SessionOptions { Backend = BackendChoice.Cpu });
            reference = new float[s.GetPlan(shape).Outputs[0].ElementCount];
            s.Run(x, shape, reference);
        }
        return Compare($"{model.Architecture} {p} n{n} {h}x{w} (seed {seed})", gpu, reference, p);
    }

    /// <summary>A small network that takes every slow path.</summary>
    public static NetworkDefinition CustomNet(int seed)
    {
        var r = new Random(seed);
        float[] W(long count, double scale) => Enumerable.Range(0, (int)count).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();
        var layers = new List<LayerSpec>
        {
            new ConvSpec("c1", "x", 16, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 1, W(16 * 3 * 25, 0.25), W(16, 0.1), true, false),    // 23x19 -> 12x10, general path
            ConvSpec.Conv3x3("c2", "c1", 24, W(24 * 16 * 9, 0.1), W(24, 0.1), relu: true, pool: true),                         // fast path + fused pool -> 6x5
            new ConvSpec("c3", "c2", 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2, W(12 * 12 * 9, 0.15), W(12, 0.1), false, false),    // dilated, grouped -> 6x5
            new MaxPoolSpec("p3", "c3", 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, CeilMode: true),                                         // unfused, ceil -> 3x3
            new ReluSpec("r3", "p3"),
            new AdaptiveAvgPoolSpec("a3", "r3", 2, 3),                                                                          // overlapping bins
            new FlattenSpec("f", "a3"),                                                                                         // 12*2*3 = 72
            new LinearSpec("l1", "f", 30, W(30 * 72, 0.15), W(30, 0.1), true),
            new LinearSpec("l2", "l1", 7, W(7 * 30, 0.2), W(7, 0.1), false),                                                   // K = 30: not a multiple of 4/8/16 -> naive
            new SoftmaxSpec("out", "l2", Log: true),
        };
        return new NetworkDefinition("x", 3, layers, new[] { "out", "l2" });
    }

    private static string Custom(IGpuCheckDevice device, CudaPrecision p, int n, int h, int w, int seed)
    {
        var def = CustomNet(seed);
        var x = Input(seed + 1, (long)n * 3 * h * w);
        IReadOnlyDictionary<string, float>? scales = p == CudaPrecision.Int8 ? CpuScales(def, x, n, h, w) : null;
        var gpu = RunProgram(device, def, p, scales, x, n, h, w);
        var reference = p == CudaPrecision.Int8 ? NetworkReference.RunInt8(def, x, n, h, w, scales!) : NetworkReference.RunFloat(def, x, n, h, w);
        // The logits: bit-exact for INT8 (dequantized accumulators), tolerances for FP32/FP16.
        var logits = Compare($"custom {p} n{n} {h}x{w} (seed {seed}) logits", gpu[1], reference["l2"], p);
        // log-softmax is float32 math on every path (expf, logf), compared with the FP32 tolerance against float64.
        var idx = Enumerable.Range(0, gpu[0].Length).Select(i => (long)i).ToArray();
        double tol = p == CudaPrecision.Float16 ? GpuNetworkChecks.Fp16NetworkTolerance : GpuNetworkChecks.Fp32NetworkTolerance;
        var soft = GpuCompare.Close($"custom {p} log-softmax", new[] { gpu[0].Length }, idx, gpu[0].Select(v => (double)v).ToArray(), reference["out"].Select(v => (double)v).ToArray(), tol, tol);
        return logits + "; " + soft;
    }
}
