using Vgg.Engine.IR;

namespace Vgg.Engine.Planning;

/// <summary>
/// Graph-to-graph optimization passes, each a pure function: the input graph is not changed (weight
/// tensors are never modified in place; folded weights are new initializers).
/// </summary>
/// <remarks>
/// Order used by <see cref="Optimize"/>: <see cref="FoldBatchNorm"/> → <see cref="RemoveIdentities"/> →
/// <see cref="Fuse"/>. Fusion follows ggml's rule: an intermediate value is fused away only where it has
/// exactly one consumer and is not a graph output.
/// </remarks>
public static class GraphPasses
{
    /// <summary>Runs every pass: batch-norm folding, Dropout/Identity removal, Conv/Gemm epilogue fusion.</summary>
    /// <param name="graph">A graph in topological order (constants already folded for best results).</param>
    /// <param name="canFuseMaxPool">Whether the target backend runs a given max-pool fused into a conv epilogue; null: any 2-D max-pool without indices.</param>
    public static Graph Optimize(Graph graph, Func<ConvOp, MaxPoolOp, bool>? canFuseMaxPool = null) =>
        Fuse(RemoveIdentities(FoldBatchNorm(graph)), canFuseMaxPool);

    private static Dictionary<string, int> ConsumerCounts(Graph g)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in g.Nodes)
            foreach (var i in n.Inputs)
                if (i.Length > 0) counts[i] = counts.GetValueOrDefault(i) + 1;
        return counts;
    }

    private static string UniqueName(Graph g, string baseName)
    {
        var name = baseName;
        for (int k = 1; g.Initializers.ContainsKey(name) || g.Nodes.Any(n => n.Outputs.Contains(name)) || g.Inputs.Any(i => i.Name == name); k++)
            name = $"{baseName}_{k}";
        return name;
    }

    /// <summary>
    /// Folds an inference batch normalization into the convolution or linear layer (Gemm) that feeds it:
    /// with s = γ / √(σ² + ε), W′[m] = s[m]·W[m] and b′[m] = s[m]·(b[m] − μ[m]) + β[m], computed in float64 and
    /// rounded once to float32. Only where the conv/Gemm output feeds the BN alone and is not a graph
    /// output, the conv has no fused activation, and W, b and the BN statistics are float32 initializers.
    /// A Gemm folds when its C is absent or broadcasts along rows (scalar, [N] or [1, N]). A BN with any
    /// other producer (e.g. after a ReLU) stays.
    /// </summary>
    public static Graph FoldBatchNorm(Graph graph)
    {
        var g = graph.Clone();
        var counts = ConsumerCounts(g);
        var producer = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var n in g.Nodes)
            foreach (var o in n.Outputs)
                if (o.Length > 0) producer[o] = n;
        foreach (var bn in g.Nodes.ToList())
        {
            if (bn.Op is not BatchNormOp bnOp || bn.Outputs.Count != 1) continue;
            var x = bn.Inputs[0];
            if (!producer.TryGetValue(x, out var prod)) continue;
            if (counts.GetValueOrDefault(x) != 1 || g.IsOutput(x)) continue;
            var stats = new Tensor?[4];
            bool ok = true;
            for (int i = 0; i < 4; i++)
            {
                var name = bn.InputOrNull(i + 1);
                ok &= name is not null && g.Initializers.TryGetValue(name, out stats[i]) && stats[i]!.DType == DType.Float32 && stats[i]!.Rank == 1;
            }
            if (!ok) continue;
            int ch = (int)stats[0]!.ElementCount;
            if (stats.Any(s => s!.ElementCount != ch)) continue;
            var gamma = stats[0]!.AsSpan<float>();
            var beta = stats[1]!.AsSpan<float>();
            var mean = stats[2]!.AsSpan<float>();
            var variance = stats[3]!.AsSpan<float>();
            var scale = new double[ch];
            var shift = new double[ch]; // applied to the old bias: b′ = scale·b + shift
            for (int c = 0; c < ch; c++)
            {
                scale[c] = gamma[c] / Math.Sqrt((double)variance[c] + bnOp.Epsilon);
                shift[c] = beta[c] - scale[c] * mean[c];
            }

            if (prod.Op is ConvOp conv && conv.Activation == Activation.None && conv.FusedMaxPool is null)
            {
                if (!g.Initializers.TryGetValue(prod.Inputs[1], out var w) || w.DType != DType.Float32 || w.Shape[0] != ch) continue;
                Tensor? b = null;
                if (prod.InputOrNull(2) is { } bName && (!g.Initializers.TryGetValue(bName, out b) || b.DType != DType.Float32)) continue;
                var wf = w.AsSpan<float>();
                var nw = new Tensor(DType.Float32, w.ShapeArray());
                var nwf = nw.AsSpan<float>();
                long per = w.ElementCount / ch;
                for (int m = 0; m < ch; m++)
                    for (long k = 0; k < per; k++)
                        nwf[(int)(m * per + k)] = (float)(wf[(int)(m * per + k)] * scale[m]);
                var nb = new Tensor(DType.Float32, new[] { ch });
                var nbf = nb.AsSpan<float>();
                for (int m = 0; m < ch; m++) nbf[m] = (float)(scale[m] * (b is null ? 0.0 : b.AsSpan<float>()[m]) + shift[m]);
                string wName = UniqueName(g, prod.Inputs[1] + ".bn_folded"), bName2 = UniqueName(g, (prod.InputOrNull(2) ?? prod.Name + ".bias") + ".bn_folded");
                g.Initializers[wName] = nw;
                g.Initializers[bName2] = nb;
                var inputs = new List<string> { prod.Inputs[0], wName, bName2 };
                producer[bn.Outputs[0]] = Replace(g, prod, new Node(prod.Name, conv, inputs, new[] { bn.Outputs[0] }));
            }
            else if (prod.Op is GemmOp gemm && gemm.Activation == Activation.None)
            {
                if (!g.Initializers.TryGetValue(prod.Inputs[1], out var w) || w.DType != DType.Float32 || w.Rank != 2) continue;
                int n = gemm.TransB ? w.Shape[0] : w.Shape[1];
                if (n != ch) continue;
                Tensor? c = null;
                if (prod.InputOrNull(2) is { } cName)
                {
                    if (!g.Initializers.TryGetValue(cName, out c) || c.DType != DType.Float32) continue;
                    bool rowBroadcast = c.Rank == 0 || (c.Rank == 1 && (c.Shape[0] == n || c.Shape[0] == 1)) || (c.Rank == 2 && c.Shape[0] == 1 && (c.Shape[1] == n || c.Shape[1] == 1));
                    if (!rowBroadcast) continue;
                }
                var wf = w.AsSpan<float>();
                var nw = new Tensor(DType.Float32, w.ShapeArray());
                var nwf = nw.AsSpan<float>();
                int rows = w.Shape[0], cols = w.Shape[1];
                for (int r = 0; r < rows; r++)
                    for (int k = 0; k < cols; k++)
                    {
                        int outIndex = gemm.TransB ? r : k; // output feature this weight contributes to
                        nwf[r * cols + k] = (float)(wf[r * cols + k] * scale[outIndex]);
                    }
                var nb = new Tensor(DType.Float32, new[] { ch });
                var nbf = nb.AsSpan<float>();
                var cf = c is null ? default : c.AsSpan<float>();
                for (int m = 0; m < ch; m++)
                {
                    double cv = c is null ? 0.0 : gemm.Beta * (double)cf[c.ElementCount == 1 ? 0 : m];
                    nbf[m] = (float)(scale[m] * cv + shift[m]);
                }
                string wName = UniqueName(g, prod.Inputs[1] + ".bn_folded"), bName2 = UniqueName(g, (prod.InputOrNull(2) ?? prod.Name + ".bias") + ".bn_folded");
                g.Initializers[wName] = nw;
                g.Initializers[bName2] = nb;
                producer[bn.Outputs[0]] = Replace(g, prod, new Node(prod.Name, gemm with { Beta = 1f }, new[] { prod.Inputs[0], wName, bName2 }, new[] { bn.Outputs[0] }));
            }
            else continue;
            g.Nodes.Remove(bn);
        }
        IR.ConstantFolding.RemoveDead(g);
        return g;
    }

    private static Node Replace(Graph g, Node old, Node replacement)
    {
        int i = g.Nodes.IndexOf(old);
        g.Nodes[i] = replacement;
        return replacement;
    }

    /// <summary>
    /// Removes Dropout (inference: the identity) and Identity nodes: their consumers read the input
    /// directly. A node whose output is a graph output, or a Dropout whose mask output is read, becomes (or
    /// stays) an Identity, which the planner executes as a view.
    /// </summary>
    public static Graph RemoveIdentities(Graph graph)
    {
        var g = graph.Clone();
        var rename = new Dictionary<string, string>(StringComparer.Ordinal);
        string Resolve(string v) => rename.TryGetValue(v, out var r) ? Resolve(r) : v;
        var counts = ConsumerCounts(g);
        var keep = new List<Node>();
        foreach (var n in g.Nodes)
        {
            for (int i = 0; i < n.Inputs.Count; i++)
                if (n.Inputs[i].Length > 0) n.Inputs[i] = Resolve(n.Inputs[i]);
            if (n.Op is DropoutOp or IdentityOp)
            {
                bool maskUsed = n.Outputs.Count > 1 && n.Outputs[1].Length > 0 && (counts.GetValueOrDefault(n.Outputs[1]) > 0 || g.IsOutput(n.Outputs[1]));
                if (maskUsed) { keep.Add(n); continue; }
                if (g.IsOutput(n.Outputs[0]))
                {
                    keep.Add(new Node(n.Name, new IdentityOp(), new[] { n.Inputs[0] }, new[] { n.Outputs[0] }));
                    continue;
                }
                rename[n.Outputs[0]] = n.Inputs[0];
                continue;
            }
            keep.Add(n);
        }
        g.Nodes.Clear();
        g.Nodes.AddRange(keep);
        return g;
    }

    /// <summary>
    /// Fuses epilogues: Conv → Relu into Conv{Activation = Relu}; then Conv{Relu} → MaxPool into
    /// Conv{FusedMaxPool} where <paramref name="canFuseMaxPool"/> allows it; Gemm → Relu into Gemm{Relu}.
    /// Only where the intermediate value has exactly one consumer and is not a graph output; a MaxPool
    /// whose Indices output is used is never fused. The fused node is named "conv+relu(+pool)".
    /// </summary>
    public static Graph Fuse(Graph graph, Func<ConvOp, MaxPoolOp, bool>? canFuseMaxPool = null)
    {
        canFuseMaxPool ??= (_, p) => p.KernelShape.Length == 2;
        var g = graph.Clone();
        bool changed = true;
        while (changed)
        {
            changed = false;
            var counts = ConsumerCounts(g);
            for (int i = 0; i < g.Nodes.Count; i++)
            {
                var n = g.Nodes[i];
                if (n.Outputs.Count != 1) continue;
                var y = n.Outputs[0];
                if (counts.GetValueOrDefault(y) != 1 || g.IsOutput(y)) continue;
                var consumer = g.Nodes.First(c => c.Inputs.Contains(y));
                if (consumer.Inputs.Count(v => v == y) != 1) continue;
                Op? fused = null;
                switch (n.Op, consumer.Op)
                {
                    case (ConvOp c, UnaryOp { Kind: UnaryKind.Relu }) when c.Activation == Activation.None && c.FusedMaxPool is null:
                        fused = c with { Activation = Activation.Relu };
                        break;
                    case (GemmOp m, UnaryOp { Kind: UnaryKind.Relu }) when m.Activation == Activation.None:
                        fused = m with { Activation = Activation.Relu };
                        break;
                    case (ConvOp c, MaxPoolOp p) when c.Activation == Activation.Relu && c.FusedMaxPool is null
                                                      && (consumer.Outputs.Count < 2 || consumer.Outputs[1].Length == 0)
                                                      && canFuseMaxPool(c, p):
                        fused = c with { FusedMaxPool = p };
                        break;
                }
                if (fused is null) continue;
                g.Nodes[i] = new Node($"{n.Name}+{consumer.Name}", fused, n.Inputs, new[] { consumer.Outputs[0] });
                g.Nodes.Remove(consumer);
                changed = true;
                break;
            }
        }
        return g;
    }
}
