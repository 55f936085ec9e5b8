using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Vgg.Engine.Backends;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Native;
using Vgg.Engine.Cuda.Network;
using Vgg.Engine.Cuda.Runtime;
using Vgg.Engine.Planning;

namespace Vgg.Engine.Cuda;

/// <summary>Which kernels run the convolutions and linear layers.</summary>
public enum CudaKernelLibrary
{
    /// <summary>The engine's own NVRTC-compiled kernels (Kernels/*.cu).</summary>
    Own,
    /// <summary>cuDNN convolutions and pooling, cuBLAS linear layers: the baseline, and a fallback.</summary>
    Cudnn,
}

/// <summary>Options of the CUDA backend.</summary>
public sealed record CudaBackendOptions
{
    /// <summary>Arithmetic: Float32 (default: the CPU backend's numbers within 1e-5), Float16 (tensor cores, ~1e-2) or Int8 (needs calibration).</summary>
    public CudaPrecision Precision { get; init; } = CudaPrecision.Float32;

    /// <summary>Capture each execution context's launches in a CUDA graph after its first (eager) run and replay it (default); false runs eagerly every time.</summary>
    public bool UseGraphs { get; init; } = true;

    /// <summary>Device ordinal.</summary>
    public int Device { get; init; }

    /// <summary>The engine's kernels (default) or cuDNN/cuBLAS.</summary>
    public CudaKernelLibrary Library { get; init; } = CudaKernelLibrary.Own;

    /// <summary>
    /// INT8 calibration images: NCHW float32 batches (each a multiple of the input's C·H·W), preprocessed like
    /// real inputs. The activation scales are max |x| / 127 of each tensor over these inputs (FP32 run on the GPU).
    /// </summary>
    public IReadOnlyList<float[]>? CalibrationInputs { get; init; }

    /// <summary>Height and width of the calibration images (default: the plan's input size).</summary>
    public (int Height, int Width)? CalibrationSize { get; init; }

    /// <summary>INT8 activation scales given directly (tensor name → scale), instead of calibration inputs.</summary>
    public IReadOnlyDictionary<string, float>? ActivationScales { get; init; }

    /// <summary>Kernel cache; null uses <see cref="KernelCache.Default"/>.</summary>
    public KernelCache? Cache { get; init; }

    /// <summary>
    /// Options from the environment, for sessions created through the backend registry:
    /// VGG_CUDA_PRECISION = fp32 | fp16 | int8, VGG_CUDA_GRAPHS = 0 | 1, VGG_CUDA_DEVICE = ordinal,
    /// VGG_CUDA_LIBRARY = own | cudnn.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown value (names the variable).</exception>
    public static CudaBackendOptions FromEnvironment()
    {
        var o = new CudaBackendOptions();
        var p = Environment.GetEnvironmentVariable("VGG_CUDA_PRECISION");
        if (!string.IsNullOrWhiteSpace(p))
            o = o with
            {
                Precision = p.Trim().ToLowerInvariant() switch
                {
                    "fp32" or "f32" or "float32" => CudaPrecision.Float32,
                    "fp16" or "f16" or "float16" => CudaPrecision.Float16,
                    "int8" or "i8" => CudaPrecision.Int8,
                    _ => throw new ArgumentException($"VGG_CUDA_PRECISION='{p}': expected fp32, fp16 or int8"),
                },
            };
        var g = Environment.GetEnvironmentVariable("VGG_CUDA_GRAPHS");
        if (!string.IsNullOrWhiteSpace(g)) o = o with { UseGraphs = g.Trim() != "0" };
        var d = Environment.GetEnvironmentVariable("VGG_CUDA_DEVICE");
        if (!string.IsNullOrWhiteSpace(d))
            o = o with { Device = int.TryParse(d, out int dev) && dev >= 0 ? dev : throw new ArgumentException($"VGG_CUDA_DEVICE='{d}': expected a device ordinal") };
        var l = Environment.GetEnvironmentVariable("VGG_CUDA_LIBRARY");
        if (!string.IsNullOrWhiteSpace(l))
            o = o with
            {
                Library = l.Trim().ToLowerInvariant() switch
                {
                    "own" => CudaKernelLibrary.Own,
                    "cudnn" => CudaKernelLibrary.Cudnn,
                    _ => throw new ArgumentException($"VGG_CUDA_LIBRARY='{l}': expected own or cudnn"),
                },
            };
        return o;
    }
}

/// <summary>A network instance the backend can run: the engine's kernels or the cuDNN baseline.</summary>
public interface ICudaNetworkInstance : IDisposable
{
    /// <summary>Arena bytes (activations, input, outputs).</summary>
    long ArenaBytes { get; }
    /// <summary>Workspace bytes.</summary>
    long WorkspaceBytes { get; }
    /// <summary>Copies an NCHW float32 batch to pinned staging.</summary>
    void SetInput(ReadOnlySpan<float> nchw);
    /// <summary>Input copy, kernels (eager or graph), output copy, synchronize.</summary>
    void Run(CudaStream stream, bool useGraph);
    /// <summary>Enqueues only the kernels.</summary>
    void EnqueueKernels(CudaStream stream, bool useGraph);
    /// <summary>Captures the kernels into a graph.</summary>
    void CaptureGraph(CudaStream stream);
    /// <summary>True once a graph is captured.</summary>
    bool HasGraph { get; }
    /// <summary>Copies output <paramref name="index"/> after a run.</summary>
    void GetOutput(int index, Span<float> destination);
}

/// <summary>
/// The CUDA backend (<see cref="IBackend"/>): plans lowered to <see cref="NetworkDefinition"/>s, weights
/// converted to the chosen precision and uploaded once per model and shared by every plan and
/// context; each execution context owns one arena, one workspace, pinned staging, its own stream and
/// its own CUDA graph.
/// </summary>
/// <remarks>
/// <para>Thread safety: the session gives each concurrent call its own execution context, so concurrent
/// runs use separate streams and graphs and never share mutable device memory ("one stream and graph
/// per concurrent slot"). Weights and compiled kernels are shared read-only. Context creation, kernel
/// loading and weight upload are serialized by locks.</para>
/// <para>Graphs: a context's first Execute runs eagerly (every module loaded, every shared-memory limit
/// raised: the warm-up), then captures its launches; later calls replay the graph. A graph belongs to
/// one (plan, batch size) context and its fixed addresses, so any change (another input shape) is
/// another plan with its own contexts and graphs. Graph replay launches the same kernels with the same
/// arguments as eager execution: the results are bit-identical (a test says so).</para>
/// </remarks>
public sealed class CudaBackend : IBackend
{
    private readonly CudaContext _context;
    private readonly CudaKernelSet _kernels;
    private readonly List<(object[] Key, CudaModelWeights Weights)> _weights = new();
    private readonly object _weightsLock = new();
    private readonly Dictionary<NetworkDefinition, IReadOnlyDictionary<string, float>> _scales = new();
    private bool _disposed;

    private CudaBackend(CudaContext context, CudaBackendOptions options)
    {
        _context = context;
        Options = options;
        _kernels = new CudaKernelSet(context, options.Cache ?? KernelCache.Default());
    }

    /// <summary>The options.</summary>
    public CudaBackendOptions Options { get; }

    /// <summary>The device.</summary>
    public CudaDeviceInfo Device => _context.Device;

    /// <summary>The device context.</summary>
    public CudaContext Context => _context;

    /// <summary>The compiled kernels.</summary>
    public CudaKernelSet Kernels => _kernels;

    /// <inheritdoc/>
    public string Name => $"cuda: {_context.Device}, {Options.Precision}, {(Options.Library == CudaKernelLibrary.Own ? "own kernels (" + _kernels.Target + ")" : "cuDNN/cuBLAS")}, {(Options.UseGraphs ? "CUDA graphs" : "eager")}";

    /// <inheritdoc/>
    public BackendKind Kind => BackendKind.Cuda;

    /// <summary>
    /// Opens the device and checks NVRTC. No driver, no device, a device older than sm_80 or no NVRTC
    /// is an ordinary answer: false, and one sentence in <paramref name="reason"/>.
    /// </summary>
    public static bool TryCreate(out CudaBackend? backend, out string reason, CudaBackendOptions? options = null)
    {
        backend = null;
        options ??= new CudaBackendOptions();
        if (!CudaContext.TryOpen(options.Device, out var ctx, out reason)) return false;
        // NVRTC compiles the engine's kernels (the cuDNN baseline uses them too, for layout changes and softmax).
        if (!NvrtcCompiler.IsAvailable(out var nvrtc))
        {
            reason = "NVRTC not found: " + nvrtc;
            ctx!.Dispose();
            return false;
        }
        try
        {
            backend = new CudaBackend(ctx!, options);
            reason = "";
            return true;
        }
        catch (Exception e) when (e is NotSupportedException or CudaException or DllNotFoundException)
        {
            ctx!.Dispose();
            reason = e.Message;
            return false;
        }
    }

    /// <summary>Registers the backend with <see cref="BackendRegistry"/> when the assembly loads (options from the environment).</summary>
    /// <remarks>The initializer only stores a delegate: no native library is touched until a session asks for a backend.</remarks>
#pragma warning disable CA2255 // the registry is the core's designed hook for the CUDA backend; registering costs one delegate store
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() =>
        BackendRegistry.RegisterCuda((int threads, out IBackend? backend, out string? reason) =>
        {
            backend = null;
            CudaBackendOptions options;
            try { options = CudaBackendOptions.FromEnvironment(); }
            catch (ArgumentException e) { reason = e.Message; return false; }
            bool ok = TryCreate(out var b, out var r, options);
            backend = b;
            reason = ok ? null : r;
            return ok;
        });

    /// <inheritdoc/>
    public PlannerOptions ConfigurePlanner(PlannerOptions options) => PlannerOptionsFor(options);

    /// <summary>The planner options of the CUDA backend (fuse only the 2×2/2 max-pool its conv epilogues take; no host workspace), usable without a device.</summary>
    public static PlannerOptions PlannerOptionsFor(PlannerOptions options) => options with
    {
        CanFuseMaxPool = (conv, pool) => conv.KernelShape.Length == 2 && PlanLowering.IsPool2x2(pool),
        WorkspaceBytes = _ => 0,   // the backend sizes its own device workspace (split-K)
    };

    /// <inheritdoc/>
    public bool Supports(PlanStep step, out string? reason) => PlanLowering.Supports(step, out reason);

    /// <inheritdoc/>
    public IPreparedPlan Prepare(ExecutionPlan plan)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var lowered = PlanLowering.Lower(plan);
        if (Options.Library == CudaKernelLibrary.Cudnn)
            return new CudaPreparedPlan(this, plan, lowered, null);
        var weights = WeightsFor(lowered);
        return new CudaPreparedPlan(this, plan, lowered, weights);
    }

    /// <summary>The uploaded weights for a lowered network, shared with every earlier plan of the same model.</summary>
    internal CudaModelWeights WeightsFor(PlanLowering.Lowered lowered)
    {
        var def = lowered.Definition;
        var scales = Options.Precision == CudaPrecision.Int8 ? ScalesFor(lowered) : null;
        // The key: every weight array (shared between lowerings of one model) and the layer structure that decides the conversion.
        var key = def.Layers.SelectMany(l => l switch
        {
            ConvSpec c => new object[] { c.Weight, (object?)c.Bias ?? "", c.Name, c.Input, c.Groups },
            LinearSpec f => new object[] { f.Weight, (object?)f.Bias ?? "", f.Name, f.Input },
            _ => new object[] { l.GetType().Name, l.Name, l.Input },
        }).Append(Options.Precision).Append((object?)scales ?? "").ToArray();
        lock (_weightsLock)
        {
            foreach (var (k, w) in _weights)
                if (k.Length == key.Length && k.Zip(key).All(p => ReferenceEquals(p.First, p.Second) || p.First.Equals(p.Second)))
                    return w;
            var uploaded = CudaModelWeights.Upload(_context, def, Options.Precision, scales);
            _weights.Add((key, uploaded));
            return uploaded;
        }
    }

    /// <summary>INT8 activation scales: given, or from an FP32 run over the calibration inputs (max |x| / 127 per tensor).</summary>
    private IReadOnlyDictionary<string, float> ScalesFor(PlanLowering.Lowered lowered)
    {
        if (Options.ActivationScales is { } given) return given;
        var def = lowered.Definition;
        lock (_weightsLock)
        {
            foreach (var (d, s) in _scales)
                if (d.Layers.Count == def.Layers.Count && d.Layers.Zip(def.Layers).All(p => SameWeights(p.First, p.Second)))
                    return s;
        }
        if (Options.CalibrationInputs is not { Count: > 0 } inputs)
            throw new VggEngineException("INT8 needs calibration: set CudaBackendOptions.CalibrationInputs (representative preprocessed images) or ActivationScales");
        var (h, w) = Options.CalibrationSize ?? (lowered.InputShape[2], lowered.InputShape[3]);
        var scales = Calibrate(def, inputs, h, w);
        lock (_weightsLock) _scales[def] = scales;
        return scales;
    }

    private static bool SameWeights(LayerSpec a, LayerSpec b) => (a, b) switch
    {
        (ConvSpec x, ConvSpec y) => ReferenceEquals(x.Weight, y.Weight) && x.Name == y.Name,
        (LinearSpec x, LinearSpec y) => ReferenceEquals(x.Weight, y.Weight) && x.Name == y.Name,
        _ => a.GetType() == b.GetType() && a.Name == b.Name,
    };

    /// <summary>
    /// Runs the network in FP32 on the device over <paramref name="inputs"/> (each a whole number of
    /// C·H·W images) and returns max |x| / 127 for every tensor (the INT8 activation scales).
    /// </summary>
    public IReadOnlyDictionary<string, float> Calibrate(NetworkDefinition def, IReadOnlyList<float[]> inputs, int height, int width)
    {
        long per = (long)def.InputChannels * height * width;
        using var fp32 = CudaModelWeights.Upload(_context, def, CudaPrecision.Float32);
        using var stream = _context.CreateStream();
        var max = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var batch in inputs)
        {
            if (batch.Length == 0 || batch.Length % per != 0)
                throw new ArgumentException($"a calibration batch holds {batch.Length} values, not a multiple of C·H·W = {per}");
            using var net = new CudaNetwork(_kernels, fp32, (int)(batch.Length / per), height, width, reuseMemory: false);
            net.SetInput(batch);
            net.Run(stream, useGraph: false);
            foreach (var (name, m) in net.MaxAbs()) max[name] = Math.Max(max.GetValueOrDefault(name), m);
        }
        // Scales are looked up by the definition's tensor names (the NHWC copy of the input carries the input's name).
        return max.ToDictionary(p => p.Key, p => Quantization.Int8Scheme.ActivationScale(p.Value), StringComparer.Ordinal);
    }

    internal ICudaNetworkInstance CreateInstance(PlanLowering.Lowered lowered, CudaModelWeights? weights)
    {
        var s = lowered.InputShape;
        if (weights is null)
            return new CudnnNetwork(_context, _kernels, lowered.Definition, Options.Precision, s[0], s[2], s[3]);
        return new CudaNetwork(_kernels, weights, s[0], s[2], s[3]);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_weightsLock)
        {
            foreach (var (_, w) in _weights) w.Dispose();
            _weights.Clear();
        }
        _kernels.Dispose();
        _context.Dispose();
    }
}

/// <summary>A plan prepared for the GPU: the lowered network and its shared weights; contexts hold arenas, streams and graphs.</summary>
internal sealed class CudaPreparedPlan : IPreparedPlan
{
    private readonly CudaBackend _backend;
    private readonly PlanLowering.Lowered _lowered;
    private readonly CudaModelWeights? _weights;
    private ICudaNetworkInstance? _first;
    private readonly object _lock = new();

    public CudaPreparedPlan(CudaBackend backend, ExecutionPlan plan, PlanLowering.Lowered lowered, CudaModelWeights? weights)
    {
        _backend = backend;
        Plan = plan;
        _lowered = lowered;
        _weights = weights;
        // Build one instance now: it compiles and loads every kernel the plan needs and sizes the context (plan time, not run time).
        _first = backend.CreateInstance(lowered, weights);
        ContextBytes = _first.ArenaBytes + _first.WorkspaceBytes;
    }

    public ExecutionPlan Plan { get; }

    public long ContextBytes { get; }

    public IExecutionContext CreateContext()
    {
        ICudaNetworkInstance net;
        lock (_lock)
        {
            net = _first ?? _backend.CreateInstance(_lowered, _weights);
            _first = null;
        }
        return new CudaExecutionContext(Plan, net, _backend.Context.CreateStream(), _backend.Options.UseGraphs);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _first?.Dispose();
            _first = null;
        }
    }
}

/// <summary>One concurrent slot: a network instance, its stream and its graph.</summary>
internal sealed class CudaExecutionContext : IExecutionContext
{
    private readonly ICudaNetworkInstance _net;
    private readonly CudaStream _stream;
    private readonly bool _graphs;
    private int _runs;

    public CudaExecutionContext(ExecutionPlan plan, ICudaNetworkInstance net, CudaStream stream, bool graphs)
    {
        Plan = plan;
        _net = net;
        _stream = stream;
        _graphs = graphs;
    }

    public ExecutionPlan Plan { get; }

    public void SetInput(int index, ReadOnlySpan<byte> data)
    {
        if (index != 0) throw new ArgumentOutOfRangeException(nameof(index), index, "the CUDA backend runs graphs with one input");
        long expected = Plan.Inputs[0].Bytes;
        if (data.Length != expected) throw new ArgumentException($"input '{Plan.Inputs[0].Name}' needs {expected} bytes, got {data.Length}");
        _net.SetInput(MemoryMarshal.Cast<byte, float>(data));
    }

    public void Execute()
    {
        bool replay = _graphs && _net.HasGraph;
        _net.Run(_stream, replay);
        if (_graphs && !_net.HasGraph && ++_runs >= 1) _net.CaptureGraph(_stream);   // after the eager warm-up
    }

    public void GetOutput(int index, Span<byte> destination)
    {
        var o = Plan.Outputs[index];
        if (destination.Length != o.Bytes) throw new ArgumentException($"output '{o.Name}' has {o.Bytes} bytes, destination {destination.Length}");
        _net.GetOutput(index, MemoryMarshal.Cast<byte, float>(destination));
    }

    public void Dispose()
    {
        _net.Dispose();
        _stream.Dispose();
    }
}
