using Vgg.Engine.Cpu.Reference;

namespace Vgg.Engine.IR;

/// <summary>
/// Replaces every node that can be computed ahead of time by an initializer holding its result: nodes
/// whose inputs are all initializers (or results folded before them), and Shape nodes whose input shape
/// is fully known. This turns the Shape→Gather→Unsqueeze→Concat→Reshape chains that older PyTorch
/// exporters write, Constant nodes and ConstantOfShape weights into plain initializers.
/// </summary>
/// <remarks>
/// Call it once at load (without input shapes: Shape of a dynamic-batch value stays) and again per input
/// shape at plan time (with the concrete shapes every Shape node folds). A node whose output is a graph
/// output is not folded, so every output is still produced by a node. Nodes the reference executor
/// cannot evaluate are kept as they are. Dead nodes (no consumer, not an output) and initializers that
/// nothing reads any more are removed.
/// </remarks>
public static class ConstantFolding
{
    /// <summary>
    /// Returns a folded copy of <paramref name="graph"/> (the input graph is not changed).
    /// </summary>
    /// <param name="graph">A graph in topological order.</param>
    /// <param name="inputShapes">Concrete shapes of graph inputs, or null to fold only what does not depend on them.</param>
    /// <param name="folded">Names of the nodes that were folded, in graph order.</param>
    /// <exception cref="GraphException">Shapes that do not agree (from shape inference) or a folded node that fails.</exception>
    /// <exception cref="InvalidInputException">An input shape that contradicts the declared one.</exception>
    public static Graph Fold(Graph graph, IReadOnlyDictionary<string, int[]>? inputShapes, out List<string> folded)
    {
        var types = ShapeInference.Infer(graph, inputShapes);
        var g = graph.Clone();
        g.Nodes.Clear();
        folded = new List<string>();
        var constants = new Dictionary<string, Tensor>(graph.Initializers, StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            Tensor[]? values = null;
            bool isOutput = node.Outputs.Any(graph.IsOutput);
            if (!isOutput) values = TryEvaluate(node, constants, types, graph.Opset);
            if (values is null)
            {
                g.Nodes.Add(node.Clone());
                continue;
            }
            folded.Add(node.Name);
            for (int i = 0; i < values.Length && i < node.Outputs.Count; i++)
                if (node.Outputs[i].Length > 0)
                {
                    constants[node.Outputs[i]] = values[i];
                    g.Initializers[node.Outputs[i]] = values[i];
                }
        }
        RemoveDead(g);
        return g;
    }

    /// <summary>As <see cref="Fold(Graph, IReadOnlyDictionary{string, int[]}?, out List{string})"/> without the list of folded nodes.</summary>
    public static Graph Fold(Graph graph, IReadOnlyDictionary<string, int[]>? inputShapes = null) => Fold(graph, inputShapes, out _);

    private static Tensor[]? TryEvaluate(Node node, Dictionary<string, Tensor> constants, Dictionary<string, ValueInfo> types, int opset)
    {
        if (node.Op is ShapeOp shapeOp)
        {
            var x = node.InputOrNull(0);
            if (x is not null && types.TryGetValue(x, out var vi) && vi.Shape is { } s && s.All(d => d >= 0))
                return new[] { ReferenceOps.ShapeOf(s, shapeOp) };
            return null;
        }
        var args = new Tensor?[node.Inputs.Count];
        for (int i = 0; i < args.Length; i++)
        {
            var name = node.Inputs[i];
            if (name.Length == 0) continue;
            if (!constants.TryGetValue(name, out args[i])) return null;
        }
        try
        {
            return ReferenceOps.Evaluate(node, args, opset);
        }
        catch (UnsupportedOperatorException)
        {
            return null; // left for the backend, which reports it if it cannot run it either
        }
    }

    /// <summary>Removes nodes none of whose outputs is read or a graph output, then unread initializers.</summary>
    public static void RemoveDead(Graph g)
    {
        var needed = new HashSet<string>(g.Outputs.Select(o => o.Name), StringComparer.Ordinal);
        var keep = new List<Node>();
        for (int i = g.Nodes.Count - 1; i >= 0; i--)
        {
            var n = g.Nodes[i];
            if (!n.Outputs.Any(o => o.Length > 0 && needed.Contains(o))) continue;
            keep.Add(n);
            foreach (var inp in n.Inputs)
                if (inp.Length > 0) needed.Add(inp);
        }
        keep.Reverse();
        g.Nodes.Clear();
        g.Nodes.AddRange(keep);
        foreach (var k in g.Initializers.Keys.ToList())
            if (!needed.Contains(k)) g.Initializers.Remove(k);
    }
}
