using Vgg.Engine.IR;

namespace Vgg.Engine.Planning;

/// <summary>
/// A value a step reads or writes: either a region of the arena (<see cref="Buffer"/> ≥ 0, at
/// <see cref="Offset"/> bytes from the arena start) or a constant initializer (<see cref="Constant"/>,
/// not in the arena). Dense, row-major, <see cref="Bytes"/> = elements · dtype size.
/// </summary>
public sealed record PlanValue(string Name, DType DType, int[] Shape, int Buffer, long Offset, long Bytes, Tensor? Constant = null)
{
    /// <summary>True for an initializer (weights): read-only, shared by every run.</summary>
    public bool IsConstant => Constant is not null;

    /// <summary>Number of elements.</summary>
    public long ElementCount => Tensor.Product(Shape);

    public override string ToString() => IsConstant ? $"{Name}: {Tensor.FormatShape(DType, Shape)} (constant)" : $"{Name}: {Tensor.FormatShape(DType, Shape)} @ {Offset}";
}

/// <summary>
/// One arena buffer: a root allocation shared by a value and its views (Flatten/Reshape/Identity
/// outputs). Alive (its bytes reserved) from <see cref="FirstStep"/> to <see cref="LastStep"/> inclusive;
/// graph inputs and outputs are alive for the whole plan, so they are never reused.
/// </summary>
public sealed record PlanBuffer(int Id, string Name, long Bytes, int FirstStep, int LastStep, long Offset, bool IsGraphInput, bool IsGraphOutput);

/// <summary>
/// One step: a node of the optimized graph with its inputs (arena values or constants; null for an
/// absent optional input) and outputs placed in the arena. A view step (<see cref="IsView"/>) does no
/// work: its output aliases its input's bytes. <see cref="WorkspaceBytes"/> is the scratch the target
/// backend asked for (im2col panels, a conv tile before a fused pool).
/// </summary>
public sealed record PlanStep(int Index, Node Node, PlanValue?[] Inputs, PlanValue[] Outputs, bool IsView, long WorkspaceBytes)
{
    /// <summary>The operator record.</summary>
    public Op Op => Node.Op;

    public override string ToString() => $"#{Index} {Node.Name} {Node.Op.OpType}{(IsView ? " (view)" : "")}";
}

/// <summary>
/// Everything needed to run a graph for one set of input shapes: ordered steps, every value's place in
/// one arena, the arena size, the largest workspace, and the lower bound the arena is measured against.
/// Immutable; built by <see cref="Planner.Plan"/>; backends execute it and never allocate per run.
/// </summary>
public sealed class ExecutionPlan
{
    internal ExecutionPlan(Graph graph, IReadOnlyDictionary<string, int[]> inputShapes, IReadOnlyList<PlanStep> steps,
        IReadOnlyList<PlanBuffer> buffers, IReadOnlyDictionary<string, PlanValue> values, IReadOnlyList<PlanValue> inputs,
        IReadOnlyList<PlanValue> outputs, long arenaBytes, long lowerBoundBytes, long workspaceBytes, string plannerName, int alignment)
    {
        Graph = graph;
        InputShapes = inputShapes;
        Steps = steps;
        Buffers = buffers;
        Values = values;
        Inputs = inputs;
        Outputs = outputs;
        ArenaBytes = arenaBytes;
        LowerBoundBytes = lowerBoundBytes;
        WorkspaceBytes = workspaceBytes;
        PlannerName = plannerName;
        Alignment = alignment;
    }

    /// <summary>The optimized graph the steps refer to (folded, fused, with constants for these shapes).</summary>
    public Graph Graph { get; }

    /// <summary>The concrete shape of each graph input this plan is for.</summary>
    public IReadOnlyDictionary<string, int[]> InputShapes { get; }

    /// <summary>Steps in execution order.</summary>
    public IReadOnlyList<PlanStep> Steps { get; }

    /// <summary>Arena buffers (roots; views share their root's buffer).</summary>
    public IReadOnlyList<PlanBuffer> Buffers { get; }

    /// <summary>Every value of the plan by name (arena values and the constants steps read).</summary>
    public IReadOnlyDictionary<string, PlanValue> Values { get; }

    /// <summary>Graph inputs in declared order, placed in the arena (the caller copies input data there).</summary>
    public IReadOnlyList<PlanValue> Inputs { get; }

    /// <summary>Graph outputs in declared order, placed in the arena (the caller copies results from there).</summary>
    public IReadOnlyList<PlanValue> Outputs { get; }

    /// <summary>Arena size in bytes (multiple of <see cref="Alignment"/>).</summary>
    public long ArenaBytes { get; }

    /// <summary>The largest total (aligned) size of buffers alive at one step: no placement can use less.</summary>
    public long LowerBoundBytes { get; }

    /// <summary>Scratch bytes per concurrent run: the maximum of the steps' workspace.</summary>
    public long WorkspaceBytes { get; }

    /// <summary>Memory planner used ("greedy (largest first)", "linear (no reuse)").</summary>
    public string PlannerName { get; }

    /// <summary>Offset alignment in bytes.</summary>
    public int Alignment { get; }

    /// <summary>Arena size over the lower bound (1.0 is optimal).</summary>
    public double ArenaRatio => LowerBoundBytes == 0 ? 1.0 : (double)ArenaBytes / LowerBoundBytes;

    /// <summary>Total bytes of the constants the steps read (weights after folding).</summary>
    public long ConstantBytes => Values.Values.Where(v => v.IsConstant).Sum(v => v.Bytes);
}
