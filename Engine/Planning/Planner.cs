using Vgg.Engine.IR;

namespace Vgg.Engine.Planning;

/// <summary>Choices the planner makes, including what the target backend can do.</summary>
public sealed record PlannerOptions
{
    /// <summary>Run the optimization passes (BN folding, Dropout/Identity removal, fusion). Off: the graph runs as written (constants are still folded).</summary>
    public bool Optimize { get; init; } = true;

    /// <summary>Memory placement: greedy largest-first (default) or linear no-reuse (debugging).</summary>
    public MemoryPlannerKind MemoryPlanner { get; init; } = MemoryPlannerKind.Greedy;

    /// <summary>Arena offset alignment in bytes (64 by default).</summary>
    public int Alignment { get; init; } = MemoryPlanning.DefaultAlignment;

    /// <summary>Whether the backend runs this max-pool fused into this conv's epilogue; null: any 2-D max-pool.</summary>
    public Func<ConvOp, MaxPoolOp, bool>? CanFuseMaxPool { get; init; }

    /// <summary>Scratch bytes the backend needs for a step (im2col panels, ...); null: none.</summary>
    public Func<PlanStep, long>? WorkspaceBytes { get; init; }

    /// <summary>Numeric precision: Fp32 (default), Fp16 weights or Int8 (needs <see cref="Calibration"/>); applied by
    /// <see cref="Quantization.PrecisionPass"/> after folding and fusion (Engine/Quantization/PRECISION.md).</summary>
    public Quantization.Precision Precision { get; init; } = Quantization.Precision.Fp32;

    /// <summary>Per-tensor activation scales for <see cref="Quantization.Precision.Int8"/>. The caller checks that the table belongs
    /// to the model (<see cref="Quantization.CalibrationTable.CheckModel"/> on the graph as loaded; <c>Session</c> does).</summary>
    public Quantization.CalibrationTable? Calibration { get; init; }
}

/// <summary>
/// Graph IR to execution plan, as a chain of pure functions with no backend types:
/// constant folding (for the given input shapes) → <see cref="GraphPasses.Optimize"/> → shape inference →
/// steps and views → buffer lifetimes (<see cref="ComputeLifetimes"/>) → memory placement
/// (<see cref="IMemoryPlanner"/>) → <see cref="ExecutionPlan"/>.
/// </summary>
public static class Planner
{
    /// <summary>
    /// Load-time preparation of a graph, independent of input shapes: folds constants and, when
    /// <see cref="PlannerOptions.Optimize"/>, runs the optimization passes. <see cref="Plan"/> accepts the
    /// result (running the passes again there finds nothing left to do and copies no weights).
    /// </summary>
    /// <exception cref="GraphException">A malformed graph.</exception>
    public static Graph Prepare(Graph graph, PlannerOptions? options = null)
    {
        options ??= new PlannerOptions();
        graph.Validate();
        var g = ConstantFolding.Fold(graph);
        g = options.Optimize ? GraphPasses.Optimize(g, options.CanFuseMaxPool) : g;
        return Quantization.PrecisionPass.Apply(g, options.Precision, options.Calibration);
    }

    /// <summary>
    /// Graph inputs whose values (not only shapes) decide output shapes: integer inputs read as Reshape's
    /// shape, ReduceMean/Unsqueeze/Squeeze axes or ConstantOfShape's shape. A plan binds their values
    /// (<see cref="Plan"/>'s inputValues), as ONNX backend tests feed such operands as inputs.
    /// </summary>
    public static IReadOnlySet<string> ValueInputs(Graph graph)
    {
        var inputs = new HashSet<string>(graph.Inputs.Where(i => i.DType.IsInteger() && !graph.Initializers.ContainsKey(i.Name)).Select(i => i.Name), StringComparer.Ordinal);
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes)
        {
            string? operand = n.Op switch
            {
                ReshapeOp or ReduceMeanOp or UnsqueezeOp or SqueezeOp => n.InputOrNull(1),
                ConstantOfShapeOp => n.InputOrNull(0),
                _ => null,
            };
            if (operand is not null && inputs.Contains(operand)) result.Add(operand);
        }
        return result;
    }

    /// <summary>True for ops whose output is the input's bytes under another shape (executed as views).</summary>
    public static bool IsViewOp(Op op) => op is FlattenOp or ReshapeOp or IdentityOp or SqueezeOp or UnsqueezeOp;

    /// <summary>
    /// Plans <paramref name="graph"/> for concrete input shapes.
    /// </summary>
    /// <param name="graph">The model graph (as loaded or as returned by <see cref="Prepare"/>).</param>
    /// <param name="inputShapes">The shape of every graph input whose declared shape has dynamic dimensions (NCHW for images).</param>
    /// <param name="options">Planner options; null for defaults.</param>
    /// <param name="inputValues">Values of graph inputs that determine shapes (see <see cref="ValueInputs"/>): bound as
    /// constants, so the plan holds only for these values; such inputs are not inputs of the plan.</param>
    /// <exception cref="InvalidInputException">A missing input shape or one that contradicts the declared shape.</exception>
    /// <exception cref="GraphException">Shapes that do not agree anywhere in the graph (names the node).</exception>
    public static ExecutionPlan Plan(Graph graph, IReadOnlyDictionary<string, int[]> inputShapes, PlannerOptions? options = null, IReadOnlyDictionary<string, Tensor>? inputValues = null)
    {
        options ??= new PlannerOptions();
        if (inputValues is { Count: > 0 })
        {
            var bound = graph.Clone();
            foreach (var (name, value) in inputValues)
            {
                var decl = bound.Inputs.FirstOrDefault(i => i.Name == name)
                    ?? throw new InvalidInputException(name, $"is not an input of graph '{graph.Name}'");
                if (decl.DType != value.DType)
                    throw new InvalidInputException(name, $"is {value}, expected dtype {decl.DType.Name()}");
                bound.Inputs.Remove(decl);
                bound.Initializers[name] = value;
            }
            graph = bound;
            inputShapes = inputShapes.Where(p => !inputValues.ContainsKey(p.Key)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        }
        var g = ConstantFolding.Fold(graph, inputShapes);
        if (options.Optimize) g = GraphPasses.Optimize(g, options.CanFuseMaxPool);
        g = Quantization.PrecisionPass.Apply(g, options.Precision, options.Calibration); // nothing to do on a prepared graph
        var types = ShapeInference.Infer(g, inputShapes);

        var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var i in g.Inputs)
        {
            if (g.Initializers.ContainsKey(i.Name)) continue;
            var s = types[i.Name].Shape;
            if (s is null || s.Any(d => d < 0))
                throw new InvalidInputException(i.Name, $"a concrete shape is needed to plan; declared {(i.Shape is null ? "of unknown rank" : Tensor.FormatShape(i.DType, i.Shape))} (? = give the size)");
            shapes[i.Name] = s;
        }

        // ---- values, buffers and steps (buffer lifetimes are filled in by ComputeLifetimes)
        var valueBuffer = new Dictionary<string, int>(StringComparer.Ordinal);
        var bufferNames = new List<string>();
        var bufferBytes = new List<long>();
        var bufferIsInput = new List<bool>();
        int NewBuffer(string name, long bytes, bool isInput)
        {
            bufferNames.Add(name);
            bufferBytes.Add(bytes);
            bufferIsInput.Add(isInput);
            return bufferNames.Count - 1;
        }
        ValueInfo TypeOf(Node n, string v)
        {
            var t = types[v];
            if (t.Shape is null || t.Shape.Any(d => d < 0))
                throw new GraphException(n.Name, $"value '{v}' has no concrete shape ({t}) for inputs {string.Join(", ", shapes.Select(p => p.Key + Tensor.FormatShape(p.Value)))}");
            return t;
        }
        static long BytesOf(ValueInfo t) => Tensor.Product(t.Shape!) * t.DType.SizeOf();

        foreach (var i in g.Inputs)
            if (!g.Initializers.ContainsKey(i.Name))
                valueBuffer[i.Name] = NewBuffer(i.Name, BytesOf(types[i.Name]), true);

        var uses = new List<(int Step, int[] Reads, int[] Writes)>();
        var isView = new List<bool>();
        foreach (var (n, s) in g.Nodes.Select((n, s) => (n, s)))
        {
            var reads = new List<int>();
            foreach (var v in n.Inputs)
                if (v.Length > 0 && valueBuffer.TryGetValue(v, out var b)) reads.Add(b);
                else if (v.Length > 0 && !g.Initializers.ContainsKey(v))
                    throw new GraphException(n.Name, $"input '{v}' is not defined before this node");
            var writes = new List<int>();
            bool view = IsViewOp(n.Op) && n.Outputs.Count == 1 && valueBuffer.ContainsKey(n.Inputs[0]);
            if (view)
                valueBuffer[n.Outputs[0]] = valueBuffer[n.Inputs[0]];
            else
                foreach (var o in n.Outputs)
                    if (o.Length > 0)
                    {
                        int b = NewBuffer(o, BytesOf(TypeOf(n, o)), false);
                        valueBuffer[o] = b;
                        writes.Add(b);
                    }
            uses.Add((s, reads.ToArray(), writes.ToArray()));
            isView.Add(view);
        }
        var outputBuffers = new HashSet<int>();
        foreach (var o in g.Outputs)
        {
            if (!valueBuffer.TryGetValue(o.Name, out var b))
                throw new GraphException(null, g.Initializers.ContainsKey(o.Name)
                    ? $"graph output '{o.Name}' is a constant initializer; the engine needs outputs computed by nodes"
                    : $"graph output '{o.Name}' is never defined");
            outputBuffers.Add(b);
        }

        var lifetimes = ComputeLifetimes(bufferNames.Count, g.Nodes.Count, uses, bufferIsInput, outputBuffers, bufferBytes);
        var memoryPlanner = options.MemoryPlanner == MemoryPlannerKind.Linear
            ? (IMemoryPlanner)new LinearMemoryPlanner(options.Alignment)
            : new GreedyMemoryPlanner(options.Alignment);
        var layout = memoryPlanner.Plan(lifetimes);
        long lower = MemoryPlanning.LowerBound(lifetimes, options.Alignment);

        var buffers = new PlanBuffer[bufferNames.Count];
        for (int b = 0; b < buffers.Length; b++)
            buffers[b] = new PlanBuffer(b, bufferNames[b], bufferBytes[b], lifetimes[b].FirstUse, lifetimes[b].LastUse, layout.Offsets[b], bufferIsInput[b], outputBuffers.Contains(b));

        var values = new Dictionary<string, PlanValue>(StringComparer.Ordinal);
        PlanValue ValueOf(Node? n, string name)
        {
            if (values.TryGetValue(name, out var pv)) return pv;
            if (valueBuffer.TryGetValue(name, out var b))
            {
                var t = n is null ? types[name] : TypeOf(n, name);
                pv = new PlanValue(name, t.DType, t.Shape!, b, layout.Offsets[b], BytesOf(t));
            }
            else
            {
                var c = g.Initializers[name];
                pv = new PlanValue(name, c.DType, c.ShapeArray(), -1, 0, c.ByteCount, c);
            }
            values[name] = pv;
            return pv;
        }

        var steps = new List<PlanStep>();
        long workspace = 0;
        for (int s = 0; s < g.Nodes.Count; s++)
        {
            var n = g.Nodes[s];
            var ins = n.Inputs.Select(v => v.Length == 0 ? null : ValueOf(n, v)).ToArray();
            var outs = n.Outputs.Where(o => o.Length > 0).Select(o => ValueOf(n, o)).ToArray();
            var step = new PlanStep(s, n, ins, outs, isView[s], 0);
            if (!step.IsView && options.WorkspaceBytes is { } ws)
            {
                long w = MemoryPlanning.Align(ws(step), options.Alignment);
                step = step with { WorkspaceBytes = w };
                workspace = Math.Max(workspace, w);
            }
            steps.Add(step);
        }
        var inputs = g.Inputs.Where(i => !g.Initializers.ContainsKey(i.Name)).Select(i => ValueOf(null, i.Name)).ToList();
        var outputs = g.Outputs.Select(o => ValueOf(null, o.Name)).ToList();
        return new ExecutionPlan(g, shapes, steps, buffers, values, inputs, outputs, layout.ArenaBytes, lower, workspace, memoryPlanner.Name, options.Alignment);
    }

    /// <summary>
    /// Buffer lifetimes, computed apart from placement: a buffer is alive from the step that writes it to
    /// the last step that reads it (or any view of it); graph inputs from step 0 and graph outputs to the
    /// last step, and both for the whole plan, so they are never shared with another buffer.
    /// </summary>
    /// <param name="bufferCount">Number of buffers.</param>
    /// <param name="stepCount">Number of steps.</param>
    /// <param name="uses">Per step: the buffers it reads and writes.</param>
    /// <param name="isGraphInput">Per buffer: holds a graph input.</param>
    /// <param name="graphOutputs">Buffers that hold (or are viewed as) a graph output.</param>
    /// <param name="bytes">Per buffer: size in bytes.</param>
    public static BufferLifetime[] ComputeLifetimes(int bufferCount, int stepCount, IReadOnlyList<(int Step, int[] Reads, int[] Writes)> uses,
        IReadOnlyList<bool> isGraphInput, IReadOnlySet<int> graphOutputs, IReadOnlyList<long> bytes)
    {
        var first = Enumerable.Repeat(int.MaxValue, bufferCount).ToArray();
        var last = Enumerable.Repeat(-1, bufferCount).ToArray();
        foreach (var (step, reads, writes) in uses)
        {
            foreach (var b in writes) { first[b] = Math.Min(first[b], step); last[b] = Math.Max(last[b], step); }
            foreach (var b in reads) { first[b] = Math.Min(first[b], step); last[b] = Math.Max(last[b], step); }
        }
        int end = Math.Max(0, stepCount - 1);
        var r = new BufferLifetime[bufferCount];
        for (int b = 0; b < bufferCount; b++)
        {
            if (isGraphInput[b] || graphOutputs.Contains(b)) { first[b] = 0; last[b] = end; }
            if (first[b] == int.MaxValue) { first[b] = 0; last[b] = 0; }
            r[b] = new BufferLifetime(bytes[b], first[b], last[b]);
        }
        return r;
    }
}
