using Vgg.Engine.Diagnostics;

namespace Vgg.Perf.Harness;

/// <summary>How a target executes a run: step by step (eager) or by replaying a captured graph (CUDA graphs).</summary>
public enum BenchMode
{
    /// <summary>Every step launched or executed one by one.</summary>
    Eager,

    /// <summary>A graph captured once per (plan, batch size) after a warm-up, replayed per run (GPU only).</summary>
    GraphReplay,
}

/// <summary>Memory the target's own planner says a run needs, in bytes.</summary>
/// <param name="ArenaBytes">Activation arena (the plan's <c>ArenaBytes</c>).</param>
/// <param name="WeightBytes">Weights as held for execution (after folding and layout or precision conversion).</param>
/// <param name="WorkspaceBytes">Scratch per concurrent run (im2col panels, Winograd tiles, ...).</param>
/// <param name="PreparedWeightBytes">Weights the backend converted for execution and holds beside <paramref name="WeightBytes"/> (packed panels, Winograd-transformed filters; <c>Session.PreparedHostWeightBytes</c>).</param>
public sealed record PlannedMemory(long ArenaBytes, long WeightBytes, long WorkspaceBytes, long PreparedWeightBytes = 0)
{
    /// <summary>Arena + weights + prepared weights + workspace.</summary>
    public long TotalBytes => ArenaBytes + WeightBytes + PreparedWeightBytes + WorkspaceBytes;
}

/// <summary>Per-layer times of several profiled runs: one entry per layer, samples in milliseconds (one per run).</summary>
/// <param name="Layers">Layer, the kernel or variant reported for it ("" when none), and its times.</param>
/// <param name="Runs">Profiled runs the samples come from.</param>
/// <param name="Source">How the times were taken (e.g. "IStepProfiler: Stopwatch around each step", "ONNX Runtime profiler").</param>
public sealed record LayerTimings(IReadOnlyList<(BenchLayer Layer, string Kernel, IReadOnlyList<double> Milliseconds)> Layers, int Runs, string Source);

/// <summary>
/// Something the harness can time: our session on a backend and precision, ONNX Runtime on an
/// execution provider, or a fake in tests. The harness owns the input data (seeded, identical for every
/// target) and calls, per batch size and mode: <see cref="Prepare"/> once, then <see cref="Run"/> many
/// times, then optionally <see cref="ProfileLayers"/>.
/// </summary>
/// <remarks>
/// Contract: <see cref="Run"/> returns only when the output is complete (a GPU target synchronizes its
/// stream), never allocates on the managed heap in steady state, and leaves its result in
/// <see cref="Output"/>. Nothing is timed inside a target; the harness times each <see cref="Run"/> call.
/// </remarks>
public interface IBenchTarget : IDisposable
{
    /// <summary>Short name used in tables and ratios ("vgg", "ort").</summary>
    string Name { get; }

    /// <summary>Backend ("cpu", "cuda", "reference", "ort-cpu", "ort-cuda").</summary>
    string Backend { get; }

    /// <summary>Numeric precision ("fp32", "fp16", "int8").</summary>
    string Precision { get; }

    /// <summary>One line saying exactly what runs (versions, providers, options, thread count).</summary>
    string Description { get; }

    /// <summary>The modes this target supports (every target supports <see cref="BenchMode.Eager"/>).</summary>
    IReadOnlyList<BenchMode> Modes { get; }

    /// <summary>The input shape for <paramref name="batch"/> images (NCHW), e.g. [batch, 3, 224, 224].</summary>
    int[] InputShape(int batch);

    /// <summary>
    /// Gets ready to run <paramref name="batch"/> images in <paramref name="mode"/>: plan, allocate, bind
    /// (and for graph replay: warm up and capture). Copies <paramref name="input"/> (float32, NCHW, of
    /// <see cref="InputShape"/>); the same input is used by every later <see cref="Run"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">A mode not in <see cref="Modes"/>.</exception>
    void Prepare(int batch, BenchMode mode, ReadOnlySpan<float> input);

    /// <summary>One inference of the prepared batch; returns when the output is complete.</summary>
    void Run();

    /// <summary>The output of the last <see cref="Run"/> (float32, row-major, e.g. [batch, classes] logits).</summary>
    ReadOnlySpan<float> Output { get; }

    /// <summary>Memory the target's planner reports for the prepared batch, or null when it has no planner figure (ONNX Runtime).</summary>
    PlannedMemory? PlannedMemory { get; }

    /// <summary>
    /// Runs <paramref name="runs"/> profiled inferences of the prepared batch and returns each layer's
    /// times, or null when the target cannot time layers. Engine targets pass a <see cref="StepTimeCollector"/>
    /// (an <see cref="IStepProfiler"/>) to the backend's execute loop.
    /// </summary>
    LayerTimings? ProfileLayers(int runs);
}

/// <summary>
/// An <see cref="IStepProfiler"/> that keeps every step's times over several runs, for
/// <see cref="IBenchTarget.ProfileLayers"/>. Not thread-safe: one profiled run at a time.
/// </summary>
public sealed class StepTimeCollector : IStepProfiler
{
    private readonly Dictionary<int, (string Node, string Kernel, List<double> Ms)> _steps = new();

    /// <inheritdoc/>
    public void OnStep(int stepIndex, string nodeName, string kernel, double milliseconds)
    {
        if (!_steps.TryGetValue(stepIndex, out var s))
            _steps[stepIndex] = s = (nodeName, kernel, new List<double>());
        s.Ms.Add(milliseconds);
    }

    /// <summary>Times of step <paramref name="stepIndex"/> (empty when it never reported).</summary>
    public IReadOnlyList<double> Times(int stepIndex) => _steps.TryGetValue(stepIndex, out var s) ? s.Ms : Array.Empty<double>();

    /// <summary>The kernel last reported for step <paramref name="stepIndex"/>, or "".</summary>
    public string Kernel(int stepIndex) => _steps.TryGetValue(stepIndex, out var s) ? s.Kernel : "";

    /// <summary>Joins the collected times with the target's layer list (layers that never reported are left out).</summary>
    public LayerTimings ToTimings(IReadOnlyList<BenchLayer> layers, int runs, string source) =>
        new(layers.Where(l => _steps.ContainsKey(l.Index)).Select(l => (l, Kernel(l.Index), Times(l.Index))).ToList(), runs, source);
}

/// <summary>A named way to create a target, so the harness can measure memory around its creation.</summary>
/// <param name="Name">Target name (as <see cref="IBenchTarget.Name"/> will be).</param>
/// <param name="Create">Creates the target (loads weights, builds sessions).</param>
/// <param name="IsBaseline">True for the target the others are compared with (ratios are other / baseline).</param>
public sealed record BenchTargetFactory(string Name, Func<IBenchTarget> Create, bool IsBaseline = false);
