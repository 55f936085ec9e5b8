using Vgg.Engine.Planning;

namespace Vgg.Engine.Cpu;

/// <summary>
/// One prepared plan step on the CPU: knows its workspace (shared per run, and per thread slot) and runs
/// itself through <see cref="CpuRunState.Parallel"/>. Shared read-only between concurrent runs; all run
/// state lives in <see cref="CpuRunState"/>.
/// </summary>
internal abstract unsafe class CpuStep
{
    protected CpuStep(PlanStep step) => Step = step;

    public PlanStep Step { get; }

    /// <summary>Name of the algorithm, for plan printouts ("im2col+sgemm 12×16 AVX-512", "reference").</summary>
    public virtual string Algorithm => "direct";

    /// <summary>Bytes of scratch shared by the whole step within one run.</summary>
    public virtual long SharedWorkspaceBytes => 0;

    /// <summary>Bytes of scratch per thread slot.</summary>
    public virtual long SlotWorkspaceBytes => 0;

    /// <summary>Total workspace for <paramref name="threads"/> threads (64-byte aligned parts).</summary>
    public long WorkspaceBytes(int threads) => MemoryPlanning.Align(SharedWorkspaceBytes, 64) + threads * MemoryPlanning.Align(SlotWorkspaceBytes, 64);

    /// <summary>Runs the step.</summary>
    public abstract void Run(CpuRunState state);

    /// <summary>One task of a parallel phase started by <see cref="Run"/>.</summary>
    public virtual void Task(CpuRunState state, int phase, int index, int slot) =>
        throw new InvalidOperationException($"{GetType().Name} has no parallel tasks");

    protected static float* F(CpuRunState s, PlanValue v) => (float*)(s.Arena + v.Offset);
}

/// <summary>The mutable state of one run on one execution context: arena and workspace pointers and the reusable parallel-loop objects.</summary>
internal sealed unsafe class CpuRunState : IParallelBody
{
    private readonly WorkerPool _pool;
    private readonly WorkerPool.Job _job = new();
    private CpuStep? _step;
    private int _phase;

    public CpuRunState(WorkerPool pool, byte* arena, byte* workspace)
    {
        _pool = pool;
        Arena = arena;
        Workspace = workspace;
    }

    public byte* Arena { get; }
    public byte* Workspace { get; }

    /// <summary>The current step's shared scratch (at the workspace start).</summary>
    public byte* Shared => Workspace;

    /// <summary>Start of the current step's per-slot scratch (after its shared part).</summary>
    public byte* Slots { get; private set; }

    /// <summary>Bytes per slot for the current step.</summary>
    public long SlotBytes { get; private set; }

    /// <summary>Lays out the workspace for <paramref name="step"/>: its shared part, then one slot part per thread.</summary>
    public void Enter(CpuStep step)
    {
        Slots = Workspace + Planning.MemoryPlanning.Align(step.SharedWorkspaceBytes, 64);
        SlotBytes = Planning.MemoryPlanning.Align(step.SlotWorkspaceBytes, 64);
    }

    /// <summary>Which image of the batch a per-image phase works on.</summary>
    public int Image { get; set; }

    public int Threads => _pool.Threads;

    public float* SlotWorkspace(int slot) => (float*)(Slots + slot * SlotBytes);

    /// <summary>Runs <paramref name="step"/>.Task(phase, i, slot) for i in 0..count−1 on every thread.</summary>
    public void Parallel(CpuStep step, int phase, int count)
    {
        _step = step;
        _phase = phase;
        _pool.Run(_job, this, count);
        _step = null;
    }

    void IParallelBody.Execute(int index, int slot) => _step!.Task(this, _phase, index, slot);
}
