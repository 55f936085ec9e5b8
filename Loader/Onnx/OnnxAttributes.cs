using System.Text;
using Vgg.Engine.Loader.Onnx.Proto;

namespace Vgg.Engine.Loader.Onnx;

/// <summary>
/// The attributes of one ONNX node, read by name and type. Every attribute the importer reads (or
/// declares ignorable) is marked; <see cref="ThrowOnUnread"/> then refuses any other attribute, so an
/// attribute the importer does not understand is an error, never silently dropped.
/// </summary>
internal sealed class OnnxAttributes
{
    private readonly Dictionary<string, AttributeProto> _map = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private readonly OnnxNodeRef _node;

    public OnnxAttributes(NodeProto node, OnnxNodeRef nodeRef)
    {
        _node = nodeRef;
        foreach (var a in node.Attribute)
        {
            if (!_map.TryAdd(a.Name, a))
                throw new GraphException(nodeRef.Name, $"attribute '{a.Name}' appears twice{nodeRef.InFile}");
            if (!string.IsNullOrEmpty(a.RefAttrName))
                throw nodeRef.Unsupported($"attribute '{a.Name}' refers to a function attribute ('{a.RefAttrName}'); only main-graph attributes are supported");
        }
    }

    public bool Has(string name) => _map.ContainsKey(name);

    /// <summary>Marks attributes whose value does not affect inference (momentum, seed, ...).</summary>
    public void Ignore(params string[] names)
    {
        foreach (var n in names) _read.Add(n);
    }

    public long Int(string name, long defaultValue) => Get(name, AttributeProto.Types.AttributeType.Int) is { } a ? a.I : defaultValue;

    public long? IntOrNull(string name) => Get(name, AttributeProto.Types.AttributeType.Int) is { } a ? a.I : null;

    public float Float(string name, float defaultValue) => Get(name, AttributeProto.Types.AttributeType.Float) is { } a ? a.F : defaultValue;

    public string? String(string name) => Get(name, AttributeProto.Types.AttributeType.String) is { } a ? a.S.ToStringUtf8() : null;

    public TensorProto? Tensor(string name) => Get(name, AttributeProto.Types.AttributeType.Tensor) is { } a ? a.T : null;

    public long[]? Ints(string name) => Get(name, AttributeProto.Types.AttributeType.Ints) is { } a ? a.Ints.ToArray() : null;

    public float[]? Floats(string name) => Get(name, AttributeProto.Types.AttributeType.Floats) is { } a ? a.Floats.ToArray() : null;

    /// <summary>An INTS attribute as int[], each value checked to lie in [min, max].</summary>
    public int[]? IntArray(string name, long min = int.MinValue, long max = int.MaxValue)
    {
        var v = Ints(name);
        if (v is null) return null;
        var r = new int[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            if (v[i] < min || v[i] > max)
                throw new GraphException(_node.Name, $"attribute '{name}' has value {v[i]} at position {i}; expected {min}..{max}{_node.InFile}");
            r[i] = (int)v[i];
        }
        return r;
    }

    /// <summary>An INT attribute as int, checked to lie in [min, max].</summary>
    public int IntIn(string name, int defaultValue, long min, long max)
    {
        long v = Int(name, defaultValue);
        if (v < min || v > max)
            throw new GraphException(_node.Name, $"attribute '{name}' is {v}; expected {min}..{max}{_node.InFile}");
        return (int)v;
    }

    /// <summary>Refuses every attribute that was neither read nor ignored.</summary>
    public void ThrowOnUnread()
    {
        var unread = _map.Keys.Where(k => !_read.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (unread.Count == 0) return;
        var sb = new StringBuilder();
        foreach (var k in unread)
        {
            if (sb.Length > 0) sb.Append(", ");
            sb.Append('\'').Append(k).Append("' = ").Append(Describe(_map[k]));
        }
        throw _node.Unsupported($"attribute{(unread.Count > 1 ? "s" : "")} {sb} not supported for this operator version");
    }

    private AttributeProto? Get(string name, AttributeProto.Types.AttributeType expected)
    {
        if (!_map.TryGetValue(name, out var a)) return null;
        _read.Add(name);
        var actual = KindOf(a);
        if (actual != expected)
            throw new GraphException(_node.Name, $"attribute '{name}' is of type {actual}; expected {expected}{_node.InFile}");
        return a;
    }

    /// <summary>The attribute's kind: its type field, or (IR version 1, no type field) the field that is set.</summary>
    internal static AttributeProto.Types.AttributeType KindOf(AttributeProto a)
    {
        if (a.HasType && a.Type != AttributeProto.Types.AttributeType.Undefined) return a.Type;
        if (a.HasF) return AttributeProto.Types.AttributeType.Float;
        if (a.HasI) return AttributeProto.Types.AttributeType.Int;
        if (a.HasS) return AttributeProto.Types.AttributeType.String;
        if (a.T is not null) return AttributeProto.Types.AttributeType.Tensor;
        if (a.Floats.Count > 0) return AttributeProto.Types.AttributeType.Floats;
        if (a.Ints.Count > 0) return AttributeProto.Types.AttributeType.Ints;
        if (a.Strings.Count > 0) return AttributeProto.Types.AttributeType.Strings;
        if (a.Tensors.Count > 0) return AttributeProto.Types.AttributeType.Tensors;
        return AttributeProto.Types.AttributeType.Undefined;
    }

    private static string Describe(AttributeProto a) => KindOf(a) switch
    {
        AttributeProto.Types.AttributeType.Int => a.I.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AttributeProto.Types.AttributeType.Float => a.F.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        AttributeProto.Types.AttributeType.String => "\"" + a.S.ToStringUtf8() + "\"",
        AttributeProto.Types.AttributeType.Ints => "[" + string.Join(", ", a.Ints) + "]",
        AttributeProto.Types.AttributeType.Floats => "[" + string.Join(", ", a.Floats.Select(f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "]",
        var k => k.ToString(),
    };
}

/// <summary>What error messages about one node need: its name, op type, domain, opset and the file.</summary>
internal sealed record OnnxNodeRef(string Name, string OpType, string Domain, int Opset, int Version, string? FilePath)
{
    /// <summary>" (in FILE)" or "".</summary>
    public string InFile => FilePath is null ? "" : $" (in {FilePath})";

    public UnsupportedOperatorException Unsupported(string detail) =>
        new(Name, OpType, Domain, Opset, (Version > 0 ? $"{OpType}-{Version}: " : "") + detail + InFile);

    public GraphException Malformed(string detail) => new(Name, $"{OpType}: {detail}{InFile}");
}
