namespace Vgg.Engine.Diagnostics;

/// <summary>
/// Receives the time of every step a backend executes, for the per-layer table of the perf harness
/// (<c>vgg bench</c>). A backend that is given a profiler calls <see cref="OnStep"/> once per executed
/// plan step, in step order, on the thread that runs the plan; a backend given none (null) pays one
/// null check per step and nothing else.
/// </summary>
/// <remarks>
/// <para>The hook a backend needs, in its execute loop over the plan's steps (CPU):</para>
/// <code>
/// long t0 = profiler is null ? 0 : Stopwatch.GetTimestamp();
/// RunStep(step);
/// profiler?.OnStep(step.Index, step.Node.Name, kernelName, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
/// </code>
/// <para>A GPU backend records a pair of events around each step's launches and reports the elapsed
/// times after the run's final synchronization (steps run asynchronously, so host clocks would measure
/// launch cost only). View steps (Flatten, Reshape, Identity) may be reported with 0 ms or skipped.</para>
/// <para>Profiled runs are slower than plain ones (a clock read per step on the CPU, an event pair per
/// step on the GPU, no graph replay); the harness times whole runs separately, without a profiler.</para>
/// </remarks>
public interface IStepProfiler
{
    /// <summary>Called after step <paramref name="stepIndex"/> of the executed plan has finished.</summary>
    /// <param name="stepIndex">Index of the step in the plan's step list (0-based).</param>
    /// <param name="nodeName">The step's node name (the layer name, e.g. "features.0").</param>
    /// <param name="kernel">The kernel or variant that ran (e.g. "conv3x3_winograd_f4x4_avx512", "gemv_f32"); "" when the backend has one way only.</param>
    /// <param name="milliseconds">Elapsed time of the step, milliseconds.</param>
    void OnStep(int stepIndex, string nodeName, string kernel, double milliseconds);
}
