using Vgg.Engine.IR;

namespace Vgg.Engine.Cpu.Reference;

/// <summary>
/// Runs a whole <see cref="Graph"/> node by node with <see cref="ReferenceOps"/>: no planner, no arena,
/// no fusion. Slow and simple on purpose: it is the reference the CPU and CUDA backends are tested
/// against, and what ONNX backend test cases run on first.
/// </summary>
public static class ReferenceExecutor
{
    /// <summary>
    /// Evaluates <paramref name="graph"/> on <paramref name="inputs"/>.
    /// </summary>
    /// <param name="graph">A graph in topological order (fused op records are executed as fused).</param>
    /// <param name="inputs">One tensor per graph input (initializers excluded), by input name.</param>
    /// <returns>Every graph output, by name (fresh tensors; the caller owns them).</returns>
    /// <exception cref="InvalidInputException">A missing or unknown input, or one whose dtype, rank or fixed
    /// dimensions differ from the declared ones (names the input and the expected shape).</exception>
    /// <exception cref="GraphException">A malformed graph or shapes that do not agree.</exception>
    /// <exception cref="UnsupportedOperatorException">An op or dtype the reference does not implement (names the node).</exception>
    public static Dictionary<string, Tensor> Run(Graph graph, IReadOnlyDictionary<string, Tensor> inputs)
    {
        var values = RunAllValues(graph, inputs);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var o in graph.Outputs)
        {
            if (!values.TryGetValue(o.Name, out var t))
                throw new GraphException(null, $"graph output '{o.Name}' is never defined");
            result[o.Name] = graph.Initializers.ContainsKey(o.Name) ? t.Clone() : t;
        }
        return result;
    }

    /// <summary>
    /// As <see cref="Run"/>, but returns every value computed (inputs, initializers and every node
    /// output), for layer-by-layer comparisons and feature extraction from any named value.
    /// </summary>
    public static Dictionary<string, Tensor> RunAllValues(Graph graph, IReadOnlyDictionary<string, Tensor> inputs)
    {
        CheckInputs(graph, inputs);
        var values = new Dictionary<string, Tensor>(graph.Initializers, StringComparer.Ordinal);
        foreach (var i in graph.Inputs)
            if (inputs.TryGetValue(i.Name, out var t)) values[i.Name] = t;
        foreach (var node in graph.Nodes)
        {
            var args = new Tensor?[node.Inputs.Count];
            for (int i = 0; i < args.Length; i++)
            {
                var name = node.Inputs[i];
                if (name.Length == 0) continue;
                if (!values.TryGetValue(name, out args[i]))
                    throw new GraphException(node.Name, $"input '{name}' is not defined by an earlier node, a graph input or an initializer");
            }
            var outs = ReferenceOps.Evaluate(node, args, graph.Opset);
            for (int i = 0; i < outs.Length && i < node.Outputs.Count; i++)
                if (node.Outputs[i].Length > 0) values[node.Outputs[i]] = outs[i];
        }
        return values;
    }

    /// <summary>
    /// Checks that <paramref name="inputs"/> gives every runtime input of <paramref name="graph"/> with
    /// the declared dtype, rank and fixed dimensions, and nothing else.
    /// </summary>
    /// <exception cref="InvalidInputException">Names the input and what was expected.</exception>
    public static void CheckInputs(Graph graph, IReadOnlyDictionary<string, Tensor> inputs)
    {
        foreach (var decl in graph.Inputs)
        {
            if (!inputs.TryGetValue(decl.Name, out var t))
            {
                if (graph.Initializers.ContainsKey(decl.Name)) continue; // IR < 4: the initializer is the default
                throw new InvalidInputException(decl.Name, $"missing; the graph expects {Describe(decl)}");
            }
            if (t.DType != decl.DType)
                throw new InvalidInputException(decl.Name, $"is {t}, expected dtype {decl.DType.Name()} ({Describe(decl)})");
            if (decl.Shape is null) continue;
            if (t.Rank != decl.Shape.Length)
                throw new InvalidInputException(decl.Name, $"has shape {Tensor.FormatShape(t.Shape)} (rank {t.Rank}), expected rank {decl.Shape.Length}: {Describe(decl)}");
            for (int i = 0; i < t.Rank; i++)
                if (decl.Shape[i] >= 0 && decl.Shape[i] != t.Shape[i])
                    throw new InvalidInputException(decl.Name, $"has shape {Tensor.FormatShape(t.Shape)}, expected {Describe(decl)}: dimension {i} must be {decl.Shape[i]}");
        }
        foreach (var name in inputs.Keys)
            if (!graph.Inputs.Any(i => i.Name == name))
                throw new InvalidInputException(name, $"is not an input of graph '{graph.Name}' (inputs: {string.Join(", ", graph.Inputs.Select(Describe))})");
    }

    private static string Describe(ValueInfo v) =>
        v.Shape is null ? $"'{v.Name}' {v.DType.Name()} of any shape" : $"'{v.Name}' {Tensor.FormatShape(v.DType, v.Shape)} (? = any size)";
}
