using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vgg.Engine.Backends;
using Vgg.Engine.IR;
using Vgg.Engine.Models;
using Vgg.Engine.Planning;

namespace Vgg.Engine.Runtime;

/// <summary>Options of a <see cref="Session"/>.</summary>
public sealed record SessionOptions
{
    /// <summary>
    /// Most bytes one execution context may need (the plan's arena plus its workspace, as the planner computes them,
    /// before anything is allocated); a call whose input shapes need more is an <see cref="InvalidInputException"/>
    /// naming the shape and both figures. Null (default): no limit beyond the 2^31 − 1 elements of one tensor. A
    /// service that takes batch or image sizes from its clients should set it: each cached plan keeps one context
    /// per concurrent caller (see <see cref="MaxCachedPlans"/> and <see cref="Session.ReleaseCachedPlans"/>).
    /// VGG-16 at 224×224 needs about 16 MiB at batch 1 and 660 MiB at batch 32 on the CPU.
    /// </summary>
    public long? MaxContextBytes { get; init; }

    /// <summary>Backend: Auto (CUDA when available, else CPU), Cpu or Cuda.</summary>
    public BackendChoice Backend { get; init; } = BackendChoice.Auto;

    /// <summary>
    /// CPU worker threads (0, the default: <see cref="Environment.ProcessorCount"/>; negative values are refused). One
    /// pool per session: concurrent runs share it, each run's steps are split across it.
    /// </summary>
    public int Threads { get; init; }

    /// <summary>Arena placement: greedy largest-first (default) or linear no-reuse (debugging).</summary>
    public MemoryPlannerKind MemoryPlanner { get; init; } = MemoryPlannerKind.Greedy;

    /// <summary>Graph optimizations (BN folding, Dropout removal, fusion). Off runs the graph as written.</summary>
    public bool Optimize { get; init; } = true;

    /// <summary>
    /// Plans kept for distinct input shapes (at least 1); the least recently used idle plan is dropped beyond this. Each
    /// cached plan keeps its execution contexts (arena + workspace), one per caller that ran it concurrently, until it is
    /// dropped, <see cref="Session.ReleaseCachedPlans"/> is called or the session is disposed.
    /// </summary>
    public int MaxCachedPlans { get; init; } = 16;

    /// <summary>Where load and fallback messages go; null for none.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>
    /// Numeric precision: Fp32 (default); Fp16 (FP16 weights; on the CPU: weight storage and rounding, float32
    /// activations and accumulation); Int8 (calibrated INT8 convs and linears, Engine/Cuda/QUANTIZATION.md; needs
    /// <see cref="Calibration"/>). See Engine/Quantization/PRECISION.md.
    /// </summary>
    public Quantization.Precision Precision { get; init; } = Quantization.Precision.Fp32;

    /// <summary>
    /// Per-tensor activation scales for <see cref="Precision"/> Int8, made by <see cref="Quantization.Calibrator"/>
    /// (or <c>vgg calibrate</c>) for this model and loaded with <see cref="Quantization.CalibrationTable.Load"/>.
    /// Int8 without it, or with a table made for another model, throws <see cref="CalibrationException"/> at construction.
    /// </summary>
    public Quantization.CalibrationTable? Calibration { get; init; }

    /// <summary>
    /// CUDA backend only: true replays a CUDA graph captured per (plan, batch size) after the first eager run; false
    /// launches every kernel eagerly on every run; null keeps the backend's default (graphs on, or VGG_CUDA_GRAPHS).
    /// Graph replay and eager execution give bit-identical results. Ignored by the CPU backend.
    /// </summary>
    public bool? CudaGraphs { get; init; }
}

/// <summary>
/// The service API: a model loaded once and run from many threads at once.
/// </summary>
/// <remarks>
/// <para>Load: the graph is validated, constants folded and optimized once. Each distinct input shape is
/// planned once (plans cached in a concurrent dictionary, at most <see cref="SessionOptions.MaxCachedPlans"/>),
/// prepared on the backend once (weights packed or uploaded once for all shapes), and each concurrent
/// call rents an execution context (arena + workspace) from a per-plan pool, so calls never share
/// mutable memory and steady-state calls allocate no buffers. Weights are shared read-only.</para>
/// <para>Inputs and outputs are dense row-major NCHW (images) float32 unless the graph says otherwise.
/// A wrong dtype, rank, channel count or size is an <see cref="InvalidInputException"/> naming the input and
/// the expected shape. After <see cref="Dispose"/> every call throws <see cref="ObjectDisposedException"/>;
/// Dispose waits for calls in flight to finish (a call racing with it may also get ObjectDisposedException).</para>
/// <para>Numerics: FP32 results are deterministic for a given input shape, but one image's logits may differ in the
/// last bits (about 1e-6 relative) depending on the batch it was run in, because kernels pick their blocking by batch
/// size (as ONNX Runtime and PyTorch do); INT8 results are bit-identical whatever the batch.</para>
/// <para>Memory: each cached plan keeps an execution context per concurrent caller; bound it per call with
/// <see cref="SessionOptions.MaxContextBytes"/> and free idle plans with <see cref="ReleaseCachedPlans"/>.</para>
/// </remarks>
public sealed class Session : IDisposable
{
    private readonly Graph _graph;
    private readonly IBackend _backend;
    private readonly PlannerOptions _plannerOptions;
    private readonly ConcurrentDictionary<string, PlanEntry> _plans = new(StringComparer.Ordinal);
    private readonly object _evictLock = new();
    private readonly ILogger _log;
    private readonly int _maxPlans;
    private readonly IReadOnlySet<string> _valueInputs = new HashSet<string>();
    private int _inFlight;
    private int _disposedFlag; // 1 once Dispose began; written with Interlocked (a full fence), see Dispose
    private bool IsDisposed => Volatile.Read(ref _disposedFlag) != 0;
    private long _clock;

    private sealed class PlanEntry : IDisposable
    {
        private readonly Session _owner;
        private readonly IReadOnlyDictionary<string, int[]> _shapes;
        private readonly IReadOnlyDictionary<string, Tensor>? _values;
        private readonly object _buildLock = new();
        private IPreparedPlan? _prepared;
        public readonly ConcurrentBag<IExecutionContext> Contexts = new();
        public int InFlight;
        public int EvictedFlag; // 1 once evicted; written with Interlocked (a full fence), see TryEvict
        public bool Evicted => Volatile.Read(ref EvictedFlag) != 0;
        public long LastUsed;

        public PlanEntry(Session owner, IReadOnlyDictionary<string, int[]> shapes, IReadOnlyDictionary<string, Tensor>? values)
        {
            _owner = owner;
            _shapes = shapes;
            _values = values;
        }

        public IPreparedPlan Prepared
        {
            get
            {
                if (_prepared is { } p) return p;
                lock (_buildLock)
                {
                    _prepared ??= _owner.Build(_shapes, _values);
                    return _prepared;
                }
            }
        }

        public bool IsBuilt => _prepared is not null;

        public void Dispose()
        {
            while (Contexts.TryTake(out var c)) c.Dispose();
            _prepared?.Dispose();
        }
    }

    /// <summary>Creates a session for a loaded model (its graph, weights as initializers).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="GraphException">A malformed graph.</exception>
    /// <exception cref="VggEngineException">Cuda was asked for and is not available.</exception>
    public Session(Model model, SessionOptions? options = null) : this((model ?? throw new ArgumentNullException(nameof(model))).Graph, options)
    {
        Model = model;
    }

    /// <summary>Creates a session for a graph (e.g. one imported from ONNX).</summary>
    /// <exception cref="GraphException">A malformed graph.</exception>
    /// <exception cref="VggEngineException">Cuda was asked for and is not available.</exception>
    /// <exception cref="CalibrationException">Int8 without a calibration table, with one made for another model, or with one lacking a needed scale.</exception>
    public Session(Graph graph, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        options ??= new SessionOptions();
        Options = options;
        _log = options.Logger ?? NullLogger.Instance;
        if (options.MaxCachedPlans < 1) throw new ArgumentOutOfRangeException(nameof(options), $"SessionOptions.MaxCachedPlans must be at least 1, got {options.MaxCachedPlans}");
        if (options.Threads < 0) throw new ArgumentOutOfRangeException(nameof(options), $"SessionOptions.Threads must be 0 (every core) or positive, got {options.Threads}");
        if (options.MaxContextBytes is <= 0) throw new ArgumentOutOfRangeException(nameof(options), $"SessionOptions.MaxContextBytes must be positive, got {options.MaxContextBytes}");
        _maxPlans = options.MaxCachedPlans;
        if (options.Precision == Quantization.Precision.Int8)
            (options.Calibration ?? throw Quantization.PrecisionPass.MissingTable()).CheckModel(graph); // before any backend sees it
        _backend = BackendRegistry.Create(options.Backend, options.Threads, _log);
        if (options.CudaGraphs is { } graphs && _backend is Cuda.CudaBackend cuda) cuda.UseGraphs = graphs;
        try
        {
            _plannerOptions = _backend.ConfigurePlanner(new PlannerOptions
            {
                Optimize = options.Optimize, MemoryPlanner = options.MemoryPlanner, Precision = options.Precision, Calibration = options.Calibration,
            });
            _graph = Planner.Prepare(graph, _plannerOptions);
            ShapeInference.Infer(_graph); // every static shape checked at load
        }
        catch
        {
            _backend.Dispose();
            throw;
        }
        Inputs = graph.Inputs.Where(i => !graph.Initializers.ContainsKey(i.Name)).ToList();
        _valueInputs = Planner.ValueInputs(_graph);
        Outputs = graph.Outputs.ToList();
        _log.LogInformation("session for '{Graph}' on {Backend}: {Nodes} nodes after folding and fusion", graph.Name, _backend.Name, _graph.Nodes.Count);
    }

    /// <summary>The model, when created from one.</summary>
    public Model? Model { get; }

    /// <summary>The options the session was created with.</summary>
    public SessionOptions Options { get; }

    /// <summary>The backend's description ("cpu: 16 threads, ...").</summary>
    public string BackendName => _backend.Name;

    /// <summary>The backend kind the session runs on.</summary>
    public BackendKind BackendKind => _backend.Kind;

    /// <summary>Runtime inputs in order (name, dtype, declared shape with −1 for any size).</summary>
    public IReadOnlyList<ValueInfo> Inputs { get; }

    /// <summary>Outputs in order.</summary>
    public IReadOnlyList<ValueInfo> Outputs { get; }

    /// <summary>The graph after load-time folding and optimization (what is planned).</summary>
    public Graph OptimizedGraph => _graph;

    /// <summary>
    /// Host bytes of weights the backend converted for execution (packed, transformed, low-precision copies) for the plans
    /// prepared so far, in addition to the graph's constants; the plan's figure plus this is what the session holds.
    /// </summary>
    public long PreparedHostWeightBytes => _backend.PreparedHostWeightBytes;

    /// <summary>Number of input shapes with a cached plan.</summary>
    public int CachedPlanCount => _plans.Count;

    /// <summary>
    /// Frees every cached plan that no call is using, with its execution contexts (arenas and workspaces): the memory a
    /// burst of large or unusual requests left behind. Later calls plan and prepare their shapes again (weights the
    /// backend prepared stay: they are shared by every plan). Safe to call while other threads run the session.
    /// </summary>
    /// <returns>The number of plans freed.</returns>
    /// <exception cref="ObjectDisposedException">The session is disposed.</exception>
    public int ReleaseCachedPlans()
    {
        ThrowIfDisposed();
        int freed = 0;
        lock (_evictLock)
        {
            foreach (var p in _plans.ToArray())
                if (TryEvict(p)) freed++;
        }
        return freed;
    }

    // ------------------------------------------------------------------ shapes and plans

    private static string Key(IReadOnlyDictionary<string, int[]> shapes, IReadOnlyDictionary<string, Tensor>? values = null) =>
        string.Join(";", shapes.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + string.Join(",", p.Value)))
        + (values is null ? "" : "|" + string.Join(";", values.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + string.Join(",", p.Value.ToInt64Array()))));

    /// <summary>Graph inputs whose values are bound into the plan (Reshape shapes, axes given as inputs); see <see cref="Planner.ValueInputs"/>.</summary>
    public IReadOnlySet<string> ValueInputs => _valueInputs;

    private ValueInfo SingleInput()
    {
        if (Inputs.Count != 1)
            throw new InvalidInputException(Inputs.Count == 0 ? "(none)" : Inputs[0].Name,
                $"the model has {Inputs.Count} inputs ({string.Join(", ", Inputs)}); use the overload that takes inputs by name");
        return Inputs[0];
    }

    private IReadOnlyDictionary<string, int[]> ShapesFor(ReadOnlySpan<int> shape) =>
        new Dictionary<string, int[]>(StringComparer.Ordinal) { [SingleInput().Name] = shape.ToArray() };

    /// <summary>The shape of the first output for an input of <paramref name="inputShape"/> (single-input models).</summary>
    /// <exception cref="InvalidInputException">The shape does not fit the model (names the input and the expected shape).</exception>
    public int[] OutputShape(ReadOnlySpan<int> inputShape) => OutputShapes(ShapesFor(inputShape))[Outputs[0].Name];

    /// <summary>Every output's shape for the given input shapes.</summary>
    /// <exception cref="InvalidInputException">A missing input or a shape that does not fit the model.</exception>
    public IReadOnlyDictionary<string, int[]> OutputShapes(IReadOnlyDictionary<string, int[]> inputShapes)
    {
        ThrowIfDisposed();
        CheckShapes(inputShapes);
        Dictionary<string, ValueInfo> types;
        try
        {
            types = ShapeInference.Infer(_graph, inputShapes);
        }
        catch (GraphException e)
        {
            throw DoesNotFit(inputShapes, e);
        }
        return Outputs.ToDictionary(o => o.Name, o => types[o.Name].Shape ?? throw new GraphException(null, $"output '{o.Name}' has no known shape"), StringComparer.Ordinal);
    }

    /// <summary>The execution plan for these input shapes (planned and prepared once, then cached), e.g. for <c>vgg plan</c>.</summary>
    /// <exception cref="InvalidInputException">A missing input or a shape that does not fit the model.</exception>
    public ExecutionPlan GetPlan(IReadOnlyDictionary<string, int[]> inputShapes)
    {
        Enter();
        try
        {
            var e = Rent(inputShapes, null);
            try { return e.Prepared.Plan; }
            finally { Interlocked.Decrement(ref e.InFlight); }
        }
        finally { Leave(); }
    }

    /// <summary>The execution plan for a single-input model and this input shape.</summary>
    public ExecutionPlan GetPlan(ReadOnlySpan<int> inputShape) => GetPlan(ShapesFor(inputShape));

    private void CheckShapes(IReadOnlyDictionary<string, int[]> shapes)
    {
        foreach (var i in Inputs)
        {
            if (!shapes.TryGetValue(i.Name, out var s))
                throw new InvalidInputException(i.Name, $"missing; the model expects {Describe(i)}");
            if (s.Any(d => d < 0))
                throw new InvalidInputException(i.Name, $"shape {Tensor.FormatShape(s)} has a negative dimension; expected {Describe(i)}");
            if (i.Shape is null) continue;
            if (s.Length != i.Shape.Length)
                throw new InvalidInputException(i.Name, $"has rank {s.Length} {Tensor.FormatShape(s)}; expected {Describe(i)}");
            for (int d = 0; d < s.Length; d++)
                if (i.Shape[d] >= 0 && i.Shape[d] != s[d])
                    throw new InvalidInputException(i.Name, d == 1 && s.Length == 4
                        ? $"has {s[1]} channels {Tensor.FormatShape(s)}; expected {i.Shape[1]}: {Describe(i)}" +
                          (s[3] == i.Shape[1] ? $"; this looks like NHWC (channels last): the engine takes NCHW, e.g. x.transpose(0, 3, 1, 2) in numpy" : "")
                        : $"has shape {Tensor.FormatShape(s)}; dimension {d} must be {i.Shape[d]}: {Describe(i)}");
        }
        foreach (var k in shapes.Keys)
            if (!Inputs.Any(i => i.Name == k))
                throw new InvalidInputException(k, $"is not an input of the model (inputs: {string.Join(", ", Inputs.Select(Describe))})");
    }

    private static string Describe(ValueInfo v) =>
        v.Shape is null ? $"'{v.Name}' {v.DType.Name()} of any shape" : $"'{v.Name}' {Tensor.FormatShape(v.DType, v.Shape)} (NCHW; ? = any size)";

    private InvalidInputException DoesNotFit(IReadOnlyDictionary<string, int[]> shapes, GraphException e)
    {
        var first = Inputs.FirstOrDefault();
        string name = first?.Name ?? "(none)";
        string given = shapes.Count == 1 ? Tensor.FormatShape(shapes.Values.First()) : string.Join(", ", shapes.Select(p => $"{p.Key} {Tensor.FormatShape(p.Value)}"));
        return new InvalidInputException(name, $"shape {given} does not fit the model{(first is null ? "" : $" (expects {Describe(first)})")}: {e.Message}");
    }

    private IPreparedPlan Build(IReadOnlyDictionary<string, int[]> shapes, IReadOnlyDictionary<string, Tensor>? values)
    {
        ExecutionPlan plan;
        try
        {
            plan = Planner.Plan(_graph, shapes, _plannerOptions, values);
        }
        catch (GraphException e)
        {
            throw DoesNotFit(shapes, e);
        }
        _log.LogDebug("planned {Shapes}: arena {Arena} B (lower bound {Lower} B), workspace {Workspace} B",
            Key(shapes), plan.ArenaBytes, plan.LowerBoundBytes, plan.WorkspaceBytes);
        long need = plan.ArenaBytes + plan.WorkspaceBytes;
        if (Options.MaxContextBytes is { } max && need > max)
        {
            var first = Inputs.FirstOrDefault();
            string given = string.Join(", ", shapes.Select(p => $"{p.Key} {Tensor.FormatShape(p.Value)}"));
            throw new InvalidInputException(first?.Name ?? "(none)",
                $"input shape {given} needs {need / 1048576.0:F1} MiB of activations and workspace per call (arena {plan.ArenaBytes} B + workspace {plan.WorkspaceBytes} B), " +
                $"more than SessionOptions.MaxContextBytes ({max / 1048576.0:F1} MiB); use a smaller batch or image");
        }
        return _backend.Prepare(plan);
    }

    /// <summary>The plan entry for these shapes with InFlight incremented (the caller decrements).</summary>
    private PlanEntry Rent(IReadOnlyDictionary<string, int[]> shapes, IReadOnlyDictionary<string, Tensor>? values)
    {
        CheckShapes(shapes);
        if (values is null && _valueInputs.Count > 0)
            throw new InvalidInputException(_valueInputs.First(), "its value decides shapes in this model (a Reshape shape or axes given as an input); run with named input tensors");
        string key = Key(shapes, values);
        while (true)
        {
            var entry = _plans.GetOrAdd(key, _ => new PlanEntry(this, shapes.ToDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal), values?.ToDictionary(p => p.Key, p => p.Value.Clone(), StringComparer.Ordinal)));
            Interlocked.Increment(ref entry.InFlight);
            if (entry.Evicted)
            {
                Interlocked.Decrement(ref entry.InFlight);
                Thread.Yield();
                continue;
            }
            entry.LastUsed = Interlocked.Increment(ref _clock);
            try
            {
                _ = entry.Prepared;
            }
            catch
            {
                Interlocked.Decrement(ref entry.InFlight);
                _plans.TryRemove(new KeyValuePair<string, PlanEntry>(key, entry));
                throw;
            }
            if (_plans.Count > _maxPlans) Evict(entry);
            return entry;
        }
    }

    private void Evict(PlanEntry keep)
    {
        lock (_evictLock)
        {
            while (_plans.Count > _maxPlans)
            {
                var victim = _plans.Where(p => p.Value != keep && Volatile.Read(ref p.Value.InFlight) == 0)
                    .OrderBy(p => p.Value.LastUsed).FirstOrDefault();
                if (victim.Value is null || !TryEvict(victim)) return;
            }
        }
    }

    /// <summary>
    /// Removes and frees a plan entry unless a call holds it (under <see cref="_evictLock"/>). The flag is set with a
    /// full fence before InFlight is read, and <see cref="Rent"/> increments InFlight (a full fence) before it reads the
    /// flag: one of the two always sees the other, so a plan is never freed under a running call.
    /// </summary>
    private bool TryEvict(KeyValuePair<string, PlanEntry> victim)
    {
        Interlocked.Exchange(ref victim.Value.EvictedFlag, 1);
        if (Volatile.Read(ref victim.Value.InFlight) != 0)
        {
            Interlocked.Exchange(ref victim.Value.EvictedFlag, 0);
            return false;
        }
        _plans.TryRemove(victim);
        victim.Value.Dispose();
        return true;
    }

    // ------------------------------------------------------------------ running

    private void Enter()
    {
        Interlocked.Increment(ref _inFlight);
        if (IsDisposed)
        {
            Interlocked.Decrement(ref _inFlight);
            throw new ObjectDisposedException(nameof(Session));
        }
    }

    private void Leave() => Interlocked.Decrement(ref _inFlight);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>Rents a plan entry and an execution context for these shapes (between <see cref="Enter"/> and <see cref="Leave"/>).</summary>
    private (PlanEntry Entry, IExecutionContext Context) Acquire(IReadOnlyDictionary<string, int[]> shapes, IReadOnlyDictionary<string, Tensor>? values = null)
    {
        var entry = Rent(shapes, values);
        try
        {
            var prepared = entry.Prepared;
            if (!entry.Contexts.TryTake(out var ctx)) ctx = prepared.CreateContext();
            return (entry, ctx);
        }
        catch
        {
            Interlocked.Decrement(ref entry.InFlight);
            throw;
        }
    }

    private static void Release(PlanEntry entry, IExecutionContext ctx)
    {
        entry.Contexts.Add(ctx);
        Interlocked.Decrement(ref entry.InFlight);
    }

    /// <summary>
    /// Runs a single-input, single-output float32 model on <paramref name="input"/> (row-major, NCHW for
    /// images, of <paramref name="shape"/>) and writes the first output into <paramref name="output"/>
    /// (exactly the element count of <see cref="OutputShape"/>). Allocates nothing once the shape's plan
    /// and a context exist.
    /// </summary>
    /// <exception cref="InvalidInputException">Wrong dtype, rank, channels or size, or a span length that does not match the shape;
    /// a shape over <see cref="SessionOptions.MaxContextBytes"/>; NaN or ±∞ in the input of an INT8 session.</exception>
    /// <exception cref="ArgumentException"><paramref name="output"/> has the wrong length.</exception>
    /// <exception cref="ObjectDisposedException">The session is disposed.</exception>
    public void Run(ReadOnlySpan<float> input, ReadOnlySpan<int> shape, Span<float> output) => Run(input, shape, output, null);

    /// <summary>
    /// As <see cref="Run(ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float})"/>, reporting each executed plan
    /// step's time to <paramref name="profiler"/> (the perf harness's per-layer table; null: no profiling).
    /// </summary>
    public void Run(ReadOnlySpan<float> input, ReadOnlySpan<int> shape, Span<float> output, Diagnostics.IStepProfiler? profiler)
    {
        var decl = SingleInput();
        if (decl.DType != DType.Float32)
            throw new InvalidInputException(decl.Name, $"is {decl.DType.Name()}; use Run(Tensor) for non-float32 inputs");
        if (Outputs.Count != 1)
            throw new InvalidOperationException($"the model has {Outputs.Count} outputs; use Run(IReadOnlyDictionary<string, Tensor>)");
        var shapes = ShapesFor(shape);
        CheckShapes(shapes); // rank, negative sizes, channels: before the element count is computed from them
        long count = Tensor.Product(shapes[decl.Name]);
        if (input.Length != count)
            throw new InvalidInputException(decl.Name, $"shape {Tensor.FormatShape(shapes[decl.Name])} holds {count} elements, the input span has {input.Length}");
        if (Options.Precision == Quantization.Precision.Int8) CheckFinite(decl.Name, input);
        Enter();
        try
        {
            var (entry, ctx) = Acquire(shapes);
            try
            {
                var o = ctx.Plan.Outputs[0];
                if (o.DType != DType.Float32)
                    throw new InvalidOperationException($"output '{o.Name}' is {o.DType.Name()}; use Run(Tensor)");
                if (o.ElementCount != output.Length)
                    throw new ArgumentException($"output '{o.Name}' has shape {Tensor.FormatShape(o.Shape)} ({o.ElementCount} elements); the output span has {output.Length}", nameof(output));
                ctx.SetInput(0, MemoryMarshal.AsBytes(input));
                if (profiler is null) ctx.Execute();
                else ctx.Execute(profiler);
                ctx.GetOutput(0, MemoryMarshal.AsBytes(output));
            }
            finally
            {
                Release(entry, ctx);
            }
        }
        finally
        {
            Leave();
        }
    }

    /// <summary>
    /// INT8 quantizes the input (round(x / scale), clamped), which turns NaN and ±∞ into ordinary codes and gives finite,
    /// plausible-looking outputs where FP32 gives NaN: such an input is refused instead.
    /// </summary>
    private static void CheckFinite(string name, ReadOnlySpan<float> values)
    {
        if (NonFinite.IndexOfFirst(values) is var i and >= 0)
            throw new InvalidInputException(name, $"element {i} is {values[i]}: an INT8 session cannot represent NaN or infinite inputs (quantization would turn them into ordinary values and a meaningless answer); FP32 propagates them");
    }

    /// <summary>Runs a single-input model and returns its first output as a new tensor.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> is null.</exception>
    /// <exception cref="InvalidInputException">Wrong dtype, rank, channels or size; a shape over <see cref="SessionOptions.MaxContextBytes"/>; NaN or ±∞ in the input of an INT8 session.</exception>
    /// <exception cref="ObjectDisposedException">The session is disposed.</exception>
    public Tensor Run(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var decl = SingleInput();
        return Run(new Dictionary<string, Tensor>(StringComparer.Ordinal) { [decl.Name] = input })[Outputs[0].Name];
    }

    /// <summary>Runs the model on named inputs and returns every output by name (new tensors).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> or one of its tensors is null.</exception>
    /// <exception cref="InvalidInputException">A missing or unknown input, or a wrong dtype, rank, channels or size; a shape over
    /// <see cref="SessionOptions.MaxContextBytes"/>; NaN or ±∞ in an input of an INT8 session.</exception>
    /// <exception cref="ObjectDisposedException">The session is disposed.</exception>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ThrowIfDisposed();
        foreach (var p in inputs)
            if (p.Value is null) throw new ArgumentNullException(nameof(inputs), $"the tensor for input '{p.Key}' is null");
        foreach (var i in Inputs)
            if (inputs.TryGetValue(i.Name, out var t) && t.DType != i.DType)
                throw new InvalidInputException(i.Name, $"is {t}, expected dtype {i.DType.Name()}: {Describe(i)}");
        var shapes = inputs.ToDictionary(p => p.Key, p => p.Value.ShapeArray(), StringComparer.Ordinal);
        if (Options.Precision == Quantization.Precision.Int8)
            foreach (var p in inputs)
                if (p.Value.DType == DType.Float32) CheckFinite(p.Key, p.Value.AsSpan<float>());
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        Dictionary<string, Tensor>? values = null;
        if (_valueInputs.Count > 0)
        {
            values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var name in _valueInputs)
                if (inputs.TryGetValue(name, out var v)) values[name] = v;
        }
        Enter();
        try
        {
            var (entry, ctx) = Acquire(shapes, values);
            try
            {
                var plan = ctx.Plan;
                for (int i = 0; i < plan.Inputs.Count; i++) ctx.SetInput(i, inputs[plan.Inputs[i].Name].Bytes);
                ctx.Execute();
                for (int i = 0; i < plan.Outputs.Count; i++)
                {
                    var o = plan.Outputs[i];
                    var t = new Tensor(o.DType, o.Shape);
                    ctx.GetOutput(i, t.Bytes);
                    result[o.Name] = t;
                }
            }
            finally
            {
                Release(entry, ctx);
            }
        }
        finally
        {
            Leave();
        }
        return result;
    }

    /// <summary>
    /// Waits for calls in flight, then frees every plan, context and the backend. Idempotent. Calls that start after
    /// Dispose began, or race with it, throw <see cref="ObjectDisposedException"/>; a call already running finishes.
    /// </summary>
    public void Dispose()
    {
        // Exchange is a full fence: Enter increments _inFlight (a full fence) before reading the flag, so either the
        // call sees the flag and backs out, or this loop sees the call and waits for it.
        if (Interlocked.Exchange(ref _disposedFlag, 1) != 0) return;
        var spin = new SpinWait();
        while (Volatile.Read(ref _inFlight) != 0) spin.SpinOnce();
        foreach (var e in _plans.Values) e.Dispose();
        _plans.Clear();
        _backend.Dispose();
    }
}
