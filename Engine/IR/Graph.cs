namespace Vgg.Engine.IR;

/// <summary>
/// Declared type of a graph value: dtype and shape. A dimension of −1 is dynamic (the batch
/// dimension of most models); a null shape means unknown rank.
/// </summary>
public sealed record ValueInfo(string Name, DType DType, int[]? Shape)
{
    public override string ToString() => Shape is null ? $"{Name}: {DType.Name()}[*]" : $"{Name}: {Tensor.FormatShape(DType, Shape)}";
}

/// <summary>
/// One operator application. <see cref="Inputs"/> and <see cref="Outputs"/> are value names; an absent
/// optional input is "". Node names are unique within a graph and are what error messages cite.
/// </summary>
public sealed class Node
{
    public Node(string name, Op op, IEnumerable<string> inputs, IEnumerable<string> outputs)
    {
        Name = name;
        Op = op;
        Inputs = inputs.ToList();
        Outputs = outputs.ToList();
    }

    /// <summary>Unique node name (PyTorch module path such as "features.0", or the ONNX node name).</summary>
    public string Name { get; set; }

    /// <summary>The operator and its attributes.</summary>
    public Op Op { get; set; }

    /// <summary>Input value names in operator order; "" marks an absent optional input.</summary>
    public List<string> Inputs { get; }

    /// <summary>Output value names in operator order.</summary>
    public List<string> Outputs { get; }

    /// <summary>Input <paramref name="i"/>, or null when absent or beyond the list.</summary>
    public string? InputOrNull(int i) => i < Inputs.Count && Inputs[i].Length > 0 ? Inputs[i] : null;

    public Node Clone() => new(Name, Op, Inputs, Outputs);

    public override string ToString() => $"{Name} = {Op.OpType}({string.Join(", ", Inputs)}) -> {string.Join(", ", Outputs)}";
}

/// <summary>
/// The engine's graph IR: a topologically ordered list of nodes over named values, constant
/// initializers (weights), declared inputs and outputs. Every model source (PyTorch state dict plus
/// architecture, JSON model spec, ONNX) is turned into this, and the planner works on it.
/// </summary>
public sealed class Graph
{
    /// <summary>Model name for messages ("vgg16_bn", "tinyvgg", the ONNX graph name).</summary>
    public string Name { get; set; } = "model";

    /// <summary>Runtime inputs (initializers excluded), usually one NCHW float32 image batch with a dynamic N.</summary>
    public List<ValueInfo> Inputs { get; } = new();

    /// <summary>Graph outputs, in order.</summary>
    public List<ValueInfo> Outputs { get; } = new();

    /// <summary>Nodes in topological order.</summary>
    public List<Node> Nodes { get; } = new();

    /// <summary>Constant tensors by value name: weights, biases, BN statistics, folded constants.</summary>
    public Dictionary<string, Tensor> Initializers { get; } = new(StringComparer.Ordinal);

    /// <summary>The default-domain opset the graph was written for (ONNX import) or targets (export); 17 by default.</summary>
    public int Opset { get; set; } = 17;

    /// <summary>A copy with its own node and initializer lists (tensors and op records are shared; both are treated as immutable).</summary>
    public Graph Clone()
    {
        var g = new Graph { Name = Name, Opset = Opset };
        g.Inputs.AddRange(Inputs);
        g.Outputs.AddRange(Outputs);
        g.Nodes.AddRange(Nodes.Select(n => n.Clone()));
        foreach (var (k, v) in Initializers) g.Initializers[k] = v;
        return g;
    }

    /// <summary>The node that produces <paramref name="value"/>, or null for inputs and initializers.</summary>
    public Node? Producer(string value) => Nodes.FirstOrDefault(n => n.Outputs.Contains(value));

    /// <summary>Nodes that read <paramref name="value"/>, in order.</summary>
    public IEnumerable<Node> Consumers(string value) => Nodes.Where(n => n.Inputs.Contains(value));

    /// <summary>True when <paramref name="value"/> is a graph output.</summary>
    public bool IsOutput(string value) => Outputs.Any(o => o.Name == value);

    /// <summary>
    /// Checks structure: unique node names and value definitions, every input defined before use,
    /// outputs defined. Shapes are checked by shape inference, not here.
    /// </summary>
    /// <exception cref="GraphException">Names the first offending node or value.</exception>
    public void Validate()
    {
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var i in Inputs)
            if (!defined.Add(i.Name)) throw new GraphException(null, $"graph input '{i.Name}' is declared twice");
        foreach (var k in Initializers.Keys) defined.Add(k);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in Nodes)
        {
            if (!names.Add(n.Name)) throw new GraphException(n.Name, "node name is used twice");
            foreach (var i in n.Inputs)
                if (i.Length > 0 && !defined.Contains(i))
                    throw new GraphException(n.Name, $"input '{i}' is not defined by an earlier node, a graph input or an initializer");
            foreach (var o in n.Outputs)
                if (o.Length > 0 && !defined.Add(o))
                    throw new GraphException(n.Name, $"output '{o}' is defined twice");
        }
        foreach (var o in Outputs)
            if (!defined.Contains(o.Name)) throw new GraphException(null, $"graph output '{o.Name}' is never defined");
    }

    public override string ToString() => $"{Name}: {Nodes.Count} nodes, {Initializers.Count} initializers";
}
