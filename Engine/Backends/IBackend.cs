using Vgg.Engine.Diagnostics;
using Vgg.Engine.Planning;

namespace Vgg.Engine.Backends;

/// <summary>Which device a backend runs on.</summary>
public enum BackendKind
{
    /// <summary>The host CPU (every platform; the reference).</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through the CUDA driver API.</summary>
    Cuda,
}

/// <summary>
/// A compute backend (ggml's backend interface in spirit): it says which plan steps it can run
/// (<see cref="Supports"/>) instead of silently falling back; it prepares a plan once (checks every step,
/// packs or uploads weights, sizes the workspace) and then executes it any number of times without
/// allocating. The CPU backend (Vgg.Engine.Cpu.CpuBackend) and the CUDA backend implement it.
/// </summary>
/// <remarks>
/// Thread safety: <see cref="Supports"/>, <see cref="ConfigurePlanner"/> and <see cref="Prepare"/> may be
/// called from any thread. A prepared plan is shared read-only; each concurrent run uses its own
/// <see cref="IExecutionContext"/> (its own arena and workspace).
/// </remarks>
public interface IBackend : IDisposable
{
    /// <summary>Human-readable description ("cpu: 16 threads, AVX-512"), for logs and plan printouts.</summary>
    string Name { get; }

    /// <summary>The device kind.</summary>
    BackendKind Kind { get; }

    /// <summary>
    /// The planner options for this backend: what it can fuse and how much workspace each step needs,
    /// applied on top of <paramref name="options"/> (the caller's choice of optimization and memory planner).
    /// </summary>
    PlannerOptions ConfigurePlanner(PlannerOptions options);

    /// <summary>Whether this backend can run <paramref name="step"/>; when not, <paramref name="reason"/> says why (op, dtype, attribute).</summary>
    bool Supports(PlanStep step, out string? reason);

    /// <summary>
    /// Prepares <paramref name="plan"/> for execution: checks that every step is supported, packs or
    /// uploads the weights (shared between plans of the same model where the backend can), and sizes the
    /// workspace.
    /// </summary>
    /// <exception cref="UnsupportedOperatorException">A step this backend cannot run (names the node).</exception>
    IPreparedPlan Prepare(ExecutionPlan plan);

    /// <summary>
    /// Bytes of host memory the backend holds for weights converted for execution (packed panels, Winograd-transformed
    /// filters, FP16/INT8 copies), beyond the graph's own constants (<see cref="ExecutionPlan.ConstantBytes"/>); shared by
    /// every plan prepared so far. 0 for a backend that keeps none on the host (the CUDA backend's copies are on the device).
    /// </summary>
    long PreparedHostWeightBytes => 0;
}

/// <summary>A plan prepared for one backend. Immutable and shared by concurrent runs.</summary>
public interface IPreparedPlan : IDisposable
{
    /// <summary>The plan.</summary>
    ExecutionPlan Plan { get; }

    /// <summary>Bytes of device memory one execution context holds (arena plus workspace).</summary>
    long ContextBytes { get; }

    /// <summary>Creates the state for one concurrent run: an arena and a workspace, allocated once here and reused by every <see cref="IExecutionContext.Execute()"/>.</summary>
    IExecutionContext CreateContext();
}

/// <summary>
/// The state of one run in flight: an arena of <see cref="ExecutionPlan.ArenaBytes"/> and a workspace.
/// Not thread-safe: one caller at a time. Set every input, <see cref="Execute()"/>, then read the outputs.
/// </summary>
public interface IExecutionContext : IDisposable
{
    /// <summary>The plan this context runs.</summary>
    ExecutionPlan Plan { get; }

    /// <summary>Copies graph input <paramref name="index"/> (in <see cref="ExecutionPlan.Inputs"/> order) into the arena.</summary>
    /// <param name="index">Input index.</param>
    /// <param name="data">Exactly the input's byte count, row-major (NCHW for images), little-endian.</param>
    /// <exception cref="ArgumentException">Wrong length.</exception>
    void SetInput(int index, ReadOnlySpan<byte> data);

    /// <summary>Runs every step of the plan. Allocates no buffers.</summary>
    void Execute();

    /// <summary>
    /// Runs every step as <see cref="Execute()"/> does and reports each executed step's time to
    /// <paramref name="profiler"/> (the perf harness's per-layer table); null is <see cref="Execute()"/>.
    /// A backend that cannot time steps runs the plan and reports nothing (this default).
    /// </summary>
    void Execute(IStepProfiler? profiler) => Execute();

    /// <summary>Copies graph output <paramref name="index"/> (in <see cref="ExecutionPlan.Outputs"/> order) out of the arena.</summary>
    /// <exception cref="ArgumentException">Wrong length.</exception>
    void GetOutput(int index, Span<byte> destination);
}
