using System.Globalization;
using Vgg.Engine.Backends;
using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Network;
using Vgg.Engine.Models;
using Vgg.Engine.Planning;
using Vgg.Engine.Runtime;

namespace Vgg.Engine.Cuda.Diagnostics;

/// <summary>A whole-network check on a real device; the factory gives a CUDA backend for a set of options.</summary>
public sealed record GpuNetworkCheck(string Name, Func<Func<CudaBackendOptions, CudaBackend>, string> Body);

/// <summary>
/// Whole-network checks on a CUDA device: seeded torchvision VGG-16 (224×224) and VGG-11 on odd input
/// sizes through the CUDA backend against the core's CPU backend (FP32: every logit within
/// 1e-4·max|logit| and rel l2 ≤ 1e-4; FP16: rel l2 ≤ 2e-2; cuDNN baseline FP32, which uses TF32:
/// rel l2 ≤ 2e-2), INT8 against the bit-exact INT8 network reference, CUDA-graph replay bit-identical
/// to eager execution for every precision, and one session run from several threads at once.
/// </summary>
public static class GpuNetworkChecks
{
    /// <summary>Whole-network FP32 tolerance (the same as the CPU backend against ONNX Runtime).</summary>
    public const double Fp32NetworkTolerance = 1e-4;

    /// <summary>Whole-network FP16 tolerance (f16 activations rounded at each of 16 layers).</summary>
    public const double Fp16NetworkTolerance = 2e-2;

    private static readonly Lazy<Model> Vgg16 = new(() => ModelFactory.Seeded("vgg16", seed: 2024));
    private static readonly Lazy<Model> Vgg11 = new(() => ModelFactory.Seeded("vgg11", seed: 77, numClasses: 37));
    private static readonly Lazy<NetworkDefinition> RandomVgg16 = new(() => NetworkDefinition.RandomVgg("vgg16", seed: 5));

    /// <summary>Every check.</summary>
    public static IReadOnlyList<GpuNetworkCheck> All()
    {
        var list = new List<GpuNetworkCheck>
        {
            new("vgg16 fp32 n1 224x224 vs cpu backend", f => VsCpu(f, Vgg16.Value, 1, 224, 224, CudaPrecision.Float32, CudaKernelLibrary.Own, Fp32NetworkTolerance, true)),
            new("vgg16 fp32 n3 224x224 vs cpu backend", f => VsCpu(f, Vgg16.Value, 3, 224, 224, CudaPrecision.Float32, CudaKernelLibrary.Own, Fp32NetworkTolerance, true)),
            new("vgg11 fp32 n2 100x75 vs cpu backend (odd sizes, adaptive pool)", f => VsCpu(f, Vgg11.Value, 2, 100, 75, CudaPrecision.Float32, CudaKernelLibrary.Own, Fp32NetworkTolerance, true)),
            new("vgg16 fp16 n1 224x224 vs cpu backend", f => VsCpu(f, Vgg16.Value, 1, 224, 224, CudaPrecision.Float16, CudaKernelLibrary.Own, Fp16NetworkTolerance, false)),
            new("vgg16 fp16 n8 224x224 vs cpu backend", f => VsCpu(f, Vgg16.Value, 8, 224, 224, CudaPrecision.Float16, CudaKernelLibrary.Own, Fp16NetworkTolerance, false)),
            new("vgg11 fp16 n2 100x75 vs cpu backend", f => VsCpu(f, Vgg11.Value, 2, 100, 75, CudaPrecision.Float16, CudaKernelLibrary.Own, Fp16NetworkTolerance, false)),
            new("vgg16 int8 n2 224x224 bit-exact vs int8 reference", f => Int8Exact(f, Vgg16.Value, 2, 224, 224)),
            new("vgg11 int8 n2 100x75 bit-exact vs int8 reference", f => Int8Exact(f, Vgg11.Value, 2, 100, 75)),
            new("cudnn baseline fp32 (tf32) vgg16 n1 vs cpu backend", f => VsCpu(f, Vgg16.Value, 1, 224, 224, CudaPrecision.Float32, CudaKernelLibrary.Cudnn, Fp16NetworkTolerance, false)),
            new("cudnn baseline fp16 vgg16 n1 vs cpu backend", f => VsCpu(f, Vgg16.Value, 1, 224, 224, CudaPrecision.Float16, CudaKernelLibrary.Cudnn, Fp16NetworkTolerance, false)),
            new("session on cuda from 4 threads gives each call its own result", ConcurrentSession),
        };
        foreach (var p in new[] { CudaPrecision.Float32, CudaPrecision.Float16, CudaPrecision.Int8 })
            foreach (var n in new[] { 1, 8 })
                list.Add(new($"graph replay bit-identical to eager vgg16 {p.Suffix()} n{n}", f => GraphVsEager(f, p, n)));
        return list;
    }

    private static float[] Input(int seed, long n)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 4 - 2);
        return a;
    }

    private static float[] CpuRun(Model model, float[] x, int[] shape)
    {
        using var s = new Session(model, new SessionOptions { Backend = BackendChoice.Cpu });
        var o = s.GetPlan(shape).Outputs[0];
        var y = new float[o.ElementCount];
        s.Run(x, shape, y);
        return y;
    }

    /// <summary>Plans the model for the CUDA backend and runs it through an execution context (the path a session takes).</summary>
    private static float[] CudaRun(CudaBackend backend, Model model, float[] x, int[] shape, int runs = 1)
    {
        var opts = backend.ConfigurePlanner(new PlannerOptions());
        var graph = Planner.Prepare(model.Graph, opts);
        var input = graph.Inputs.Single(i => !graph.Initializers.ContainsKey(i.Name));
        var plan = Planner.Plan(graph, new Dictionary<string, int[]> { [input.Name] = shape }, opts);
        using var prepared = backend.Prepare(plan);
        using var ctx = prepared.CreateContext();
        var y = new byte[plan.Outputs[0].Bytes];
        for (int i = 0; i < runs; i++)
        {
            ctx.SetInput(0, System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()));
            ctx.Execute();
            ctx.GetOutput(0, y);
        }
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(y).ToArray();
    }

    private static string Compare(string what, float[] actual, float[] expected, double tol, bool elementwise)
    {
        var idx = Enumerable.Range(0, actual.Length).Select(i => (long)i).ToArray();
        return GpuCompare.Close(what, new[] { actual.Length }, idx, actual.Select(v => (double)v).ToArray(), expected.Select(v => (double)v).ToArray(), tol, elementwise ? tol : double.PositiveInfinity);
    }

    private static string VsCpu(Func<CudaBackendOptions, CudaBackend> make, Model model, int n, int h, int w, CudaPrecision p, CudaKernelLibrary lib, double tol, bool elementwise)
    {
        var shape = new[] { n, 3, h, w };
        var x = Input(n * 31 + h, (long)n * 3 * h * w);
        var cpu = CpuRun(model, x, shape);
        var backend = make(new CudaBackendOptions { Precision = p, Library = lib });
        var gpu = CudaRun(backend, model, x, shape, runs: 2);   // the second run replays the graph
        return Compare($"{model.Architecture} {p} {lib} n{n} {h}x{w}", gpu, cpu, tol, elementwise);
    }

    private static string Int8Exact(Func<CudaBackendOptions, CudaBackend> make, Model model, int n, int h, int w)
    {
        var shape = new[] { n, 3, h, w };
        var x = Input(n * 17 + w, (long)n * 3 * h * w);
        var calib = make(new CudaBackendOptions { Precision = CudaPrecision.Float32 });
        var opts = calib.ConfigurePlanner(new PlannerOptions());
        var graph = Planner.Prepare(model.Graph, opts);
        var input = graph.Inputs.Single(i => !graph.Initializers.ContainsKey(i.Name));
        var plan = Planner.Plan(graph, new Dictionary<string, int[]> { [input.Name] = shape }, opts);
        var def = PlanLowering.Lower(plan).Definition;
        var scales = calib.Calibrate(def, new[] { x }, h, w);
        var backend = make(new CudaBackendOptions { Precision = CudaPrecision.Int8, ActivationScales = scales });
        var gpu = CudaRun(backend, model, x, shape, runs: 2);
        var reference = NetworkReference.RunInt8(def, x, n, h, w, scales)[def.Outputs[0]];
        var idx = Enumerable.Range(0, gpu.Length).Select(i => (long)i).ToArray();
        return GpuCompare.Exact($"{model.Architecture} int8 n{n} {h}x{w}", new[] { gpu.Length }, idx, gpu, reference);
    }

    private static string GraphVsEager(Func<CudaBackendOptions, CudaBackend> make, CudaPrecision p, int n)
    {
        var backend = make(new CudaBackendOptions { Precision = CudaPrecision.Float32 });
        var def = RandomVgg16.Value;
        IReadOnlyDictionary<string, float>? scales = null;
        var x = Input(n, (long)n * 3 * 224 * 224);
        if (p == CudaPrecision.Int8) scales = backend.Calibrate(def, new[] { x }, 224, 224);
        using var weights = CudaModelWeights.Upload(backend.Context, def, p, scales);
        using var net = new CudaNetwork(backend.Kernels, weights, n, 224, 224);
        using var stream = backend.Context.CreateStream();
        net.SetInput(x);
        net.Run(stream, useGraph: false);
        var eager = net.GetOutput(0);
        net.CaptureGraph(stream);
        net.Run(stream, useGraph: true);
        var replay = net.GetOutput(0);
        net.Run(stream, useGraph: true);
        var again = net.GetOutput(0);
        var idx = Enumerable.Range(0, eager.Length).Select(i => (long)i).ToArray();
        var bits = eager.Select(BitConverter.SingleToInt32Bits).ToArray();
        GpuCompare.Exact($"vgg16 {p} n{n} replay vs eager", new[] { n, 1000 }, idx, replay.Select(BitConverter.SingleToInt32Bits).ToArray(), bits);
        return GpuCompare.Exact($"vgg16 {p} n{n} second replay vs eager", new[] { n, 1000 }, idx, again.Select(BitConverter.SingleToInt32Bits).ToArray(), bits);
    }

    private static string ConcurrentSession(Func<CudaBackendOptions, CudaBackend> make)
    {
        // Sessions create their backend through the registry (options from the environment: FP32 by default).
        using var s = new Session(Vgg11.Value, new SessionOptions { Backend = BackendChoice.Cuda });
        var shape = new[] { 1, 3, 64, 64 };
        var inputs = Enumerable.Range(0, 8).Select(i => Input(1000 + i, 3L * 64 * 64)).ToArray();
        int outLen = (int)s.GetPlan(shape).Outputs[0].ElementCount;
        var expected = inputs.Select(x => { var y = new float[outLen]; s.Run(x, shape, y); return y; }).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t =>
        {
            for (int rep = 0; rep < 5; rep++)
                for (int i = t; i < inputs.Length; i += 2)
                {
                    var y = new float[outLen];
                    s.Run(inputs[i], shape, y);
                    if (!y.AsSpan().SequenceEqual(expected[i])) failures.Add($"thread {t} input {i} repetition {rep}");
                }
        });
        if (!failures.IsEmpty) throw new GpuCheckFailedException($"concurrent runs differ from sequential ones: {string.Join("; ", failures.Take(5))}");
        return string.Create(CultureInfo.InvariantCulture, $"4 threads x 5 repetitions x 4 inputs, bit-identical to sequential runs ({s.BackendName})");
    }
}
