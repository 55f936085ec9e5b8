using System.Diagnostics;
using Vgg.Engine;
using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.Diagnostics;
using Vgg.Engine.IR;

namespace Vgg.Perf.Harness;

/// <summary>
/// The engine's reference executor (<see cref="ReferenceExecutor"/>: node by node, no planner, no arena,
/// single-threaded, allocating) as a bench target. It is the correctness reference, not a fast path: use
/// it to check the harness end to end on small graphs and as the "before" of a CPU-backend step. Per-layer
/// times go through an <see cref="IStepProfiler"/> exactly as a backend's execute loop reports them.
/// </summary>
public sealed class ReferenceBenchTarget : IBenchTarget
{
    private readonly Graph _graph;
    private readonly ValueInfo _input;
    private Dictionary<string, Tensor> _inputs = new();
    private List<BenchLayer> _layers = new();
    private float[] _output = [];

    /// <summary>Targets <paramref name="graph"/>, whose first input is the float32 NCHW image batch.</summary>
    /// <param name="imageShape">C, H, W where the declared input has dynamic non-batch dimensions; null to use the declared ones.</param>
    /// <exception cref="ArgumentException">A graph without inputs or outputs, or a non-float32 input.</exception>
    public ReferenceBenchTarget(Graph graph, int[]? imageShape = null, string name = "reference")
    {
        _graph = graph;
        if (graph.Inputs.Count == 0 || graph.Outputs.Count == 0) throw new ArgumentException($"graph '{graph.Name}' needs an input and an output to be benchmarked");
        _input = graph.Inputs.First(i => !graph.Initializers.ContainsKey(i.Name));
        if (_input.DType != DType.Float32) throw new ArgumentException($"graph '{graph.Name}': input '{_input.Name}' is {_input.DType.Name()}, the harness feeds float32");
        ImageShape = imageShape;
        Name = name;
    }

    private int[]? ImageShape { get; }

    public string Name { get; }
    public string Backend => "reference";
    public string Precision => "fp32";
    public string Description => $"Vgg.Engine ReferenceExecutor (single thread, node by node, allocating; correctness reference) on '{_graph.Name}'";
    public IReadOnlyList<BenchMode> Modes { get; } = [BenchMode.Eager];
    public PlannedMemory? PlannedMemory => null;
    public ReadOnlySpan<float> Output => _output;

    /// <summary>The layers of the prepared batch (nodes with inferred shapes).</summary>
    public IReadOnlyList<BenchLayer> Layers => _layers;

    public int[] InputShape(int batch)
    {
        var decl = _input.Shape ?? throw new ArgumentException($"input '{_input.Name}' has unknown rank");
        var s = new int[decl.Length];
        for (int i = 0; i < s.Length; i++)
            s[i] = i == 0 ? batch : decl[i] >= 0 ? decl[i] : ImageShape is { } img && img.Length == decl.Length - 1 ? img[i - 1]
                : throw new ArgumentException($"input '{_input.Name}' dimension {i} is dynamic; give the image shape (C,H,W)");
        return s;
    }

    public void Prepare(int batch, BenchMode mode, ReadOnlySpan<float> input)
    {
        if (mode != BenchMode.Eager) throw new NotSupportedException($"{Name}: only eager runs (got {mode})");
        var shape = InputShape(batch);
        _inputs = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [_input.Name] = Tensor.FromSpan(input, shape) };
        var types = ShapeInference.Infer(_graph, new Dictionary<string, int[]> { [_input.Name] = shape });
        var constants = new HashSet<string>(_graph.Initializers.Keys, StringComparer.Ordinal);
        _layers = _graph.Nodes.Select((n, i) => BenchLayer.FromNode(i, n, types, constants,
            isView: n.Op is FlattenOp or ReshapeOp or IdentityOp or SqueezeOp or UnsqueezeOp)).ToList();
    }

    public void Run()
    {
        var outs = ReferenceExecutor.Run(_graph, _inputs);
        _output = outs[_graph.Outputs[0].Name].ToFloatArray();
    }

    /// <summary>Runs the graph node by node, reporting each node's time to <paramref name="profiler"/> (the backend hook).</summary>
    public void RunProfiled(IStepProfiler profiler)
    {
        ReferenceExecutor.CheckInputs(_graph, _inputs);
        var values = new Dictionary<string, Tensor>(_graph.Initializers, StringComparer.Ordinal);
        foreach (var (k, v) in _inputs) values[k] = v;
        for (int s = 0; s < _graph.Nodes.Count; s++)
        {
            var node = _graph.Nodes[s];
            var args = node.Inputs.Select(n => n.Length == 0 ? null : values[n]).ToArray();
            long t0 = Stopwatch.GetTimestamp();
            var outs = ReferenceOps.Evaluate(node, args, _graph.Opset);
            profiler.OnStep(s, node.Name, "", Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            for (int i = 0; i < outs.Length && i < node.Outputs.Count; i++)
                if (node.Outputs[i].Length > 0) values[node.Outputs[i]] = outs[i];
        }
        _output = values[_graph.Outputs[0].Name].ToFloatArray();
    }

    public LayerTimings? ProfileLayers(int runs)
    {
        var c = new StepTimeCollector();
        for (int r = 0; r < runs; r++) RunProfiled(c);
        return c.ToTimings(_layers, runs, "IStepProfiler: Stopwatch around each ReferenceOps.Evaluate");
    }

    public void Dispose() { }
}
