using System.Diagnostics;
using System.Runtime.InteropServices;
using Vgg.Engine.Backends;
using Vgg.Engine.Cpu.Ops;
using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Planning;

namespace Vgg.Engine.Cpu;

/// <summary>
/// The CPU backend: executes an <see cref="ExecutionPlan"/> on one native arena per concurrent run, with
/// every thread of a fixed worker pool. Float32 Conv (im2col + packed SGEMM with AVX-512 or AVX2/FMA
/// micro-kernels, fused bias/ReLU/max-pool), Gemm/Linear, MatMul, pooling, BatchNorm, Softmax and
/// elementwise ops have direct kernels; every other supported op and dtype runs through the reference
/// operators (slower, allocating). Correct for any batch size and any input size the graph allows.
/// </summary>
/// <remarks>
/// Weights are packed once per backend and shared by every plan (all input shapes) of a model, keyed by
/// the weight tensor's identity. Dispose the backend after the plans and contexts made from it.
/// </remarks>
public sealed class CpuBackend : IBackend
{
    private readonly WorkerPool _pool;
    private readonly WeightCache _cache = new();
    private bool _disposed;

    /// <summary>Creates the backend.</summary>
    /// <param name="threads">Threads per parallel loop, the caller included; 0 or less means <see cref="Environment.ProcessorCount"/>.</param>
    public CpuBackend(int threads = 0)
    {
        Threads = threads > 0 ? threads : Environment.ProcessorCount;
        _pool = new WorkerPool(Threads);
    }

    /// <summary>Threads per parallel loop.</summary>
    public int Threads { get; }

    /// <inheritdoc/>
    public string Name => $"cpu: {Threads} threads, conv {(Kernels.FastConvStep.Enabled ? "winograd/direct NCHWc16 (group 1), else " : "")}{CpuKernelRegistry.Conv[0].Name}, gemm {CpuKernelRegistry.Gemm.Name}";

    /// <inheritdoc/>
    public BackendKind Kind => BackendKind.Cpu;

    /// <summary>Bytes of packed weights held for the plans prepared so far.</summary>
    public long PackedWeightBytes => _cache.Bytes;

    /// <inheritdoc/>
    public long PreparedHostWeightBytes => _cache.Bytes;

    /// <inheritdoc/>
    public PlannerOptions ConfigurePlanner(PlannerOptions options) => options with
    {
        CanFuseMaxPool = (conv, pool) => pool.KernelShape.Length is 1 or 2 && (conv.KernelShape.Length is 0 or 1 or 2),
        WorkspaceBytes = step => CreateStep(step).WorkspaceBytes(Threads),
    };

    /// <inheritdoc/>
    public bool Supports(PlanStep step, out string? reason)
    {
        if (step.IsView) { reason = null; return true; }
        var dtypes = step.Inputs.Select(i => i?.DType).ToArray();
        int rank = step.Inputs.Length > 0 && step.Inputs[0] is { } x ? x.Shape.Length : 0;
        return ReferenceOps.Supports(step.Op, dtypes, rank, out reason);
    }

    /// <summary>The CPU implementation chosen for a step (fast float32 path or the reference fallback).</summary>
    internal CpuStep CreateStep(PlanStep step)
    {
        if (step.IsView) return new ViewStep(step);
        if (Int8.LowPrecisionSteps.TryCreate(step, Threads, _cache) is { } lowPrecision) return lowPrecision; // Engine/Cpu/Int8, Engine/Cpu/Fp16
        bool AllF32() => step.Inputs.All(v => v is null || v.DType == DType.Float32) && step.Outputs.All(v => v.DType == DType.Float32);
        bool Spatial12(PlanValue? v) => v is not null && v.Shape.Length is 3 or 4;
        var inputs = step.Inputs;
        switch (step.Op)
        {
            case ConvOp when AllF32() && Kernels.FastConvStep.TryCreate(step, Threads, _cache) is { } fast:
                return fast; // Engine/Cpu/Kernels: Winograd / direct NCHWc16 kernels
            case ConvOp when AllF32() && Spatial12(inputs[0]) && inputs[1] is { IsConstant: true } && (inputs.Length < 3 || inputs[2] is null || inputs[2]!.IsConstant):
                return new ConvStep(step, Threads, _cache);
            case GemmOp when AllF32():
                return new GemmStep(step, Threads, _cache);
            case MatMulOp when AllF32() && !inputs[0]!.IsConstant && (!inputs[1]!.IsConstant || inputs[1]!.Shape.Length <= 2):
                return new MatMulStep(step, Threads, _cache);
            case MaxPoolOp when AllF32() && step.Outputs.Length == 1 && Spatial12(inputs[0]):
            case AveragePoolOp when AllF32() && Spatial12(inputs[0]):
                return new PoolStep(step);
            case GlobalAveragePoolOp or GlobalMaxPoolOp when AllF32():
            case AdaptiveAvgPoolOp when AllF32() && inputs[0]!.Shape.Length == 4:
                return new PlanePoolStep(step);
            case BinaryOp when AllF32():
                return new BinaryStep(step);
            case UnaryOp when AllF32() && !inputs[0]!.IsConstant:
                return new UnaryStep(step);
            case BatchNormOp when AllF32() && !inputs[0]!.IsConstant && inputs.Skip(1).All(v => v is { IsConstant: true }):
                return new BatchNormStep(step);
            case SoftmaxOp or LogSoftmaxOp when AllF32() && !inputs[0]!.IsConstant:
                return new SoftmaxStep(step);
            default:
                return new ReferenceStep(step);
        }
    }

    /// <inheritdoc/>
    public IPreparedPlan Prepare(ExecutionPlan plan)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var s in plan.Steps)
            if (!Supports(s, out var reason))
                throw new UnsupportedOperatorException(s.Node.Name, s.Op.OpType, "", plan.Graph.Opset, $"the CPU backend cannot run it: {reason}");
        var steps = plan.Steps.Select(CreateStep).ToArray();
        Kernels.FastConvLayout.Assign(plan, steps); // NCHWc16 between fast convs; prepares their weights
        return new CpuPreparedPlan(this, plan, steps, _pool);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pool.Dispose();
    }
}

/// <summary>A plan prepared for the CPU: its steps with packed weights; contexts hold the arenas.</summary>
internal sealed class CpuPreparedPlan : IPreparedPlan
{
    private readonly CpuBackend _backend;
    private readonly WorkerPool _pool;

    public CpuPreparedPlan(CpuBackend backend, ExecutionPlan plan, CpuStep[] steps, WorkerPool pool)
    {
        _backend = backend;
        Plan = plan;
        Steps = steps;
        _pool = pool;
        WorkspaceBytes = steps.Select(s => s.WorkspaceBytes(pool.Threads)).DefaultIfEmpty(0).Max();
    }

    public ExecutionPlan Plan { get; }
    public CpuStep[] Steps { get; }
    /// <summary>Scratch per context: the maximum over steps of (shared + threads · per-slot), as the plan states.</summary>
    public long WorkspaceBytes { get; }
    public long ContextBytes => Plan.ArenaBytes + WorkspaceBytes;

    public IExecutionContext CreateContext() => new CpuExecutionContext(this, _pool);

    public void Dispose() { }

    public override string ToString() => $"{_backend.Name}: {Plan.Steps.Count} steps, arena {Plan.ArenaBytes} B, workspace {WorkspaceBytes} B";
}

/// <summary>One run's arena and workspace in native memory (64-byte aligned), allocated once.</summary>
internal sealed unsafe class CpuExecutionContext : IExecutionContext
{
    private readonly CpuPreparedPlan _prepared;
    private readonly CpuRunState _state;
    private byte* _arena;
    private byte* _workspace;

    public CpuExecutionContext(CpuPreparedPlan prepared, WorkerPool pool)
    {
        _prepared = prepared;
        _arena = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(64, prepared.Plan.ArenaBytes), 64);
        _workspace = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(64, prepared.WorkspaceBytes), 64);
        _state = new CpuRunState(pool, _arena, _workspace);
    }

    public ExecutionPlan Plan => _prepared.Plan;

    public void SetInput(int index, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_arena == null, this);
        var v = Plan.Inputs[index];
        if (data.Length != v.Bytes) throw new ArgumentException($"input '{v.Name}' {Tensor.FormatShape(v.DType, v.Shape)} needs {v.Bytes} bytes, {data.Length} given");
        data.CopyTo(new Span<byte>(_arena + v.Offset, (int)v.Bytes));
    }

    public void Execute() => Execute(null);

    public void Execute(Diagnostics.IStepProfiler? profiler)
    {
        ObjectDisposedException.ThrowIf(_arena == null, this);
        foreach (var s in _prepared.Steps)
        {
            if (s.Step.IsView) continue;
            long t0 = profiler is null ? 0 : Stopwatch.GetTimestamp();
            _state.Enter(s);
            s.Run(_state);
            profiler?.OnStep(s.Step.Index, s.Step.Node.Name, s.Algorithm, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
    }

    public void GetOutput(int index, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_arena == null, this);
        var v = Plan.Outputs[index];
        if (destination.Length != v.Bytes) throw new ArgumentException($"output '{v.Name}' {Tensor.FormatShape(v.DType, v.Shape)} has {v.Bytes} bytes, the destination {destination.Length}");
        new ReadOnlySpan<byte>(_arena + v.Offset, (int)v.Bytes).CopyTo(destination);
    }

    public void Dispose()
    {
        if (_arena == null) return;
        NativeMemory.AlignedFree(_arena);
        NativeMemory.AlignedFree(_workspace);
        _arena = null;
        _workspace = null;
    }
}
