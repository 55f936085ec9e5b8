using System.Runtime.CompilerServices;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// Runs this folder's kernels on the CPU backend's own worker pool: <see cref="For"/> becomes a
/// <see cref="CpuRunState.Parallel"/> phase of the calling step, whose <see cref="CpuStep.Task"/>
/// forwards to <see cref="RunItem"/>. One runner per run state (execution context), so concurrent
/// runs never share the job pointer; items get the pool's slot as their thread index.
/// </summary>
internal sealed unsafe class BackendRunner : IKernelRunner
{
    private static readonly ConditionalWeakTable<CpuRunState, BackendRunner> s_runners = new();
    private readonly CpuRunState _state;
    private CpuStep? _step;
    private delegate*<void*, int, int, void> _fn;
    private void* _ctx;

    private BackendRunner(CpuRunState state) => _state = state;

    /// <summary>The runner of <paramref name="state"/>, bound to <paramref name="step"/> for its next loops.</summary>
    public static BackendRunner Get(CpuRunState state, CpuStep step)
    {
        var r = s_runners.GetValue(state, s => new BackendRunner(s));
        r._step = step;
        return r;
    }

    public int Threads => _state.Threads;

    public void For(int count, delegate*<void*, int, int, void> fn, void* ctx)
    {
        if (count <= 0) return;
        _fn = fn;
        _ctx = ctx;
        try
        {
            _state.Parallel(_step!, 0, count);
        }
        finally
        {
            _fn = null;
            _ctx = null;
        }
    }

    /// <summary>Called from the step's <see cref="CpuStep.Task"/>: runs item <paramref name="index"/> of the current loop.</summary>
    public static void RunItem(CpuRunState state, int index, int slot)
    {
        if (!s_runners.TryGetValue(state, out var r) || r._fn == null)
            throw new InvalidOperationException("a kernel task ran outside BackendRunner.For");
        r._fn(r._ctx, index, slot);
    }
}
