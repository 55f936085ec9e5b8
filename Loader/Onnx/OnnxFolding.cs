using Vgg.Engine.IR;

namespace Vgg.Engine.Loader.Onnx;

/// <summary>
/// Load-time folding of the shape arithmetic exporters write in front of Reshape, evaluated over
/// symbolic integers: each element is a known constant or "dimension a of value v". A chain
/// Shape(x) → Gather → Unsqueeze → Concat → Reshape(x, ·) whose elements are all known, or forward a
/// dimension of the reshaped tensor at the same position (the dynamic batch of
/// <c>x.view(x.size(0), -1)</c>), becomes a constant shape (the forwarded dimension as 0, "copy", which
/// ONNX Reshape defines when allowzero = 0). Nodes and
/// initializers left without a consumer are then removed. Chains it cannot decide are left as they are,
/// for constant folding (fully known shapes) or the executor to evaluate.
/// </summary>
internal static class OnnxFolding
{
    /// <summary>A symbolic integer: <see cref="Value"/> when <see cref="Of"/> is null, else dimension <see cref="Axis"/> of value <see cref="Of"/>.</summary>
    private readonly record struct Sym(long Value, string? Of, int Axis)
    {
        public bool Known => Of is null;
        public static Sym K(long v) => new(v, null, 0);
        public static Sym D(string of, int axis) => new(0, of, axis);
    }

    /// <summary>A symbolic int vector (Rank 1) or scalar (Rank 0); or, with <see cref="LazyOf"/> set, Shape(LazyOf)[Start..] of unknown rank.</summary>
    private sealed record SymVec(Sym[] Items, int Rank, string? LazyOf = null, int Start = 0);

    /// <summary>Folds the shape chains of <paramref name="g"/> in place; shapes of values from <paramref name="shapeOf"/> (−1 = dynamic dimension; null = unknown rank).</summary>
    public static void FoldShapeChains(Graph g, Func<string, int[]?> shapeOf)
    {
        var sym = new Dictionary<string, SymVec>(StringComparer.Ordinal);
        var used = new HashSet<string>(g.Initializers.Keys, StringComparer.Ordinal);
        bool changed = false;

        SymVec? Get(string name)
        {
            if (name.Length == 0) return null;
            if (sym.TryGetValue(name, out var s)) return s;
            if (g.Initializers.TryGetValue(name, out var t) && t.DType is DType.Int64 or DType.Int32 && t.Rank <= 1 && t.ElementCount <= 64)
                return new SymVec(t.ToInt64Array().Select(Sym.K).ToArray(), t.Rank);
            return null;
        }

        int[]? ShapeOf(string v) => g.Initializers.TryGetValue(v, out var t) ? t.ShapeArray() : shapeOf(v);

        for (int ni = 0; ni < g.Nodes.Count; ni++)
        {
            var n = g.Nodes[ni];
            var outName = n.Outputs.Count > 0 ? n.Outputs[0] : "";
            switch (n.Op)
            {
                case ShapeOp sh:
                {
                    var x = n.Inputs[0];
                    var shape = ShapeOf(x);
                    if (shape is null)
                    {
                        if (sh.Start >= 0 && sh.End is null) sym[outName] = new SymVec(Array.Empty<Sym>(), 1, x, sh.Start);
                        break;
                    }
                    int r = shape.Length;
                    int start = Math.Clamp(sh.Start < 0 ? sh.Start + r : sh.Start, 0, r);
                    int end = Math.Clamp(sh.End is null ? r : sh.End.Value < 0 ? sh.End.Value + r : sh.End.Value, 0, r);
                    var items = new List<Sym>();
                    for (int i = start; i < end; i++) items.Add(shape[i] >= 0 ? Sym.K(shape[i]) : Sym.D(x, i));
                    sym[outName] = new SymVec(items.ToArray(), 1);
                    break;
                }
                case GatherOp ga when ga.Axis == 0:
                {
                    var data = Get(n.Inputs[0]);
                    var idx = Get(n.Inputs[1]);
                    if (data is null || idx is null || data.Rank != 1 || idx.Items.Any(i => !i.Known)) break;
                    var picked = new List<Sym>();
                    bool ok = true;
                    foreach (var i in idx.Items)
                    {
                        long k = i.Value;
                        if (data.LazyOf is not null)
                        {
                            if (k < 0) { ok = false; break; }
                            picked.Add(Sym.D(data.LazyOf, data.Start + (int)k));
                        }
                        else
                        {
                            if (k < 0) k += data.Items.Length;
                            if (k < 0 || k >= data.Items.Length) { ok = false; break; }
                            picked.Add(data.Items[k]);
                        }
                    }
                    if (ok) sym[outName] = new SymVec(picked.ToArray(), idx.Rank);
                    break;
                }
                case UnsqueezeOp un:
                {
                    var s = Get(n.Inputs[0]);
                    var axes = un.Axes ?? (n.Inputs.Count > 1 ? Get(n.Inputs[1])?.Items.Select(a => a.Known ? (int)a.Value : int.MinValue).ToArray() : null);
                    if (s is null || s.LazyOf is not null || s.Rank != 0 || axes is not { Length: 1 } || (axes[0] != 0 && axes[0] != -1)) break;
                    sym[outName] = new SymVec(s.Items, 1);
                    break;
                }
                case SqueezeOp sq:
                {
                    var s = Get(n.Inputs[0]);
                    if (s is null || s.LazyOf is not null || s.Rank != 1 || s.Items.Length != 1) break;
                    var axes = sq.Axes ?? (n.Inputs.Count > 1 && n.Inputs[1].Length > 0 ? Get(n.Inputs[1])?.Items.Select(a => a.Known ? (int)a.Value : int.MinValue).ToArray() : Array.Empty<int>());
                    if (axes is null || axes.Length > 1 || (axes.Length == 1 && axes[0] != 0 && axes[0] != -1)) break;
                    sym[outName] = new SymVec(s.Items, 0);
                    break;
                }
                case ConcatOp co when co.Axis is 0 or -1:
                {
                    var parts = n.Inputs.Select(Get).ToList();
                    if (parts.Any(p => p is null || p.LazyOf is not null || p.Rank != 1)) break;
                    sym[outName] = new SymVec(parts.SelectMany(p => p!.Items).ToArray(), 1);
                    break;
                }
                case CastOp ca when ca.To is DType.Int64 or DType.Int32:
                case IdentityOp:
                {
                    if (Get(n.Inputs[0]) is { LazyOf: null } s) sym[outName] = s;
                    break;
                }
                case BinaryOp bo when bo.Kind is BinaryKind.Add or BinaryKind.Sub or BinaryKind.Mul:
                {
                    var x = Get(n.Inputs[0]);
                    var y = Get(n.Inputs[1]);
                    if (x is null || y is null || x.LazyOf is not null || y.LazyOf is not null) break;
                    if (x.Items.Concat(y.Items).Any(i => !i.Known)) break;
                    int len = Math.Max(x.Items.Length, y.Items.Length);
                    if ((x.Items.Length != len && x.Items.Length != 1) || (y.Items.Length != len && y.Items.Length != 1)) break;
                    var r = new Sym[len];
                    for (int i = 0; i < len; i++)
                    {
                        long a = x.Items[x.Items.Length == 1 ? 0 : i].Value, b = y.Items[y.Items.Length == 1 ? 0 : i].Value;
                        r[i] = Sym.K(bo.Kind switch { BinaryKind.Add => a + b, BinaryKind.Sub => a - b, _ => a * b });
                    }
                    sym[outName] = new SymVec(r, Math.Max(x.Rank, y.Rank));
                    break;
                }
                case ReshapeOp rs when n.Inputs.Count > 1 && !g.Initializers.ContainsKey(n.Inputs[1]):
                {
                    var s = Get(n.Inputs[1]);
                    if (s is null || s.LazyOf is not null || s.Rank != 1) break;
                    var values = new long[s.Items.Length];
                    bool ok = true;
                    for (int i = 0; i < values.Length && ok; i++)
                    {
                        var e = s.Items[i];
                        if (e.Known) values[i] = e.Value;
                        else if (!rs.AllowZero && e.Of == n.Inputs[0] && e.Axis == i) values[i] = 0;
                        else ok = false;
                    }
                    if (!ok) break;
                    var name = Unique(g, n.Name + "_shape");
                    g.Initializers[name] = Tensor.From(values);
                    n.Inputs[1] = name;
                    changed = true;
                    break;
                }
            }
        }
        if (changed) ConstantFolding.RemoveDead(g);
    }

    /// <summary>
    /// Replaces ConstantOfShape nodes with a constant shape by initializers (not graph outputs, which stay
    /// produced by a node): the weights of ONNX's "light" models, hundreds of megabytes, filled by doubling
    /// copies instead of element by element.
    /// </summary>
    public static void FillConstantOfShape(Graph g)
    {
        for (int ni = 0; ni < g.Nodes.Count; ni++)
        {
            var n = g.Nodes[ni];
            var outName = n.Outputs.Count > 0 ? n.Outputs[0] : "";
            if (n.Op is not ConstantOfShapeOp cs || g.IsOutput(outName) || !g.Initializers.TryGetValue(n.Inputs[0], out var shapeT)) continue;
            var dims = shapeT.ToInt64Array();
            if (dims.Any(d => d < 0 || d > int.MaxValue)) continue;
            var value = cs.Value ?? Tensor.Scalar(0f);
            // Too large to fold into one buffer: left to shape inference, which names the node and the limit.
            double bytes = dims.Aggregate(1.0, (p, d) => p * d) * value.DType.SizeOf();
            if (bytes > Array.MaxLength) continue;
            var t = new Tensor(value.DType, dims.Select(d => (int)d).ToArray());
            int size = value.DType.SizeOf();
            var dst = t.Bytes;
            if (dst.Length > 0)
            {
                value.Bytes[..size].CopyTo(dst);
                for (int filled = size; filled < dst.Length; filled *= 2)
                    dst[..Math.Min(filled, dst.Length - filled)].CopyTo(dst[filled..]);
            }
            g.Initializers[outName] = t;
            g.Nodes.RemoveAt(ni--);
        }
    }

    private static string Unique(Graph g, string hint)
    {
        var names = new HashSet<string>(g.Initializers.Keys, StringComparer.Ordinal);
        foreach (var n in g.Nodes) { names.UnionWith(n.Outputs); names.UnionWith(n.Inputs); }
        foreach (var i in g.Inputs) names.Add(i.Name);
        var name = hint;
        for (int k = 1; names.Contains(name); k++) name = $"{hint}_{k}";
        return name;
    }
}
