using System.Globalization;
using System.Numerics;

namespace Vgg.Engine.Loader.Checkpoints;

/// <summary>
/// A torch storage class as pickled (<c>torch.FloatStorage</c>, <c>torch.cuda.HalfStorage</c>,
/// <c>torch.UntypedStorage</c>): its element size and, when we support it, its <see cref="DType"/>.
/// </summary>
internal sealed class TorchStorageType
{
    public TorchStorageType(string name, DType? dtype, int elementSize)
    {
        Name = name;
        DType = dtype;
        ElementSize = elementSize;
    }

    /// <summary>"torch.FloatStorage".</summary>
    public string Name { get; }
    /// <summary>Null for storage types torch has but we do not load (complex, quantized).</summary>
    public DType? DType { get; }
    public int ElementSize { get; }
}

/// <summary>A torch dtype object (<c>torch.float32</c>) as pickled; null DType for ones we do not load.</summary>
internal sealed record TorchDTypeValue(string Name, DType? DType, int ElementSize);

/// <summary>
/// A storage named by a persistent id: its key in the file, type and element count; for a legacy
/// storage view, the root storage and the view's element offset.
/// </summary>
internal sealed class TorchStorageRef
{
    /// <exception cref="ArgumentException">A negative or absurd element count (more than 2^59: its byte count would overflow).</exception>
    public TorchStorageRef(string key, TorchStorageType type, long numel, TorchStorageRef? root = null, long viewOffset = 0)
    {
        if (numel < 0 || numel > long.MaxValue / 16)
            throw new ArgumentException($"storage '{key}' claims {numel} elements");
        Key = key;
        Type = type;
        Numel = numel;
        Root = root;
        ViewOffset = viewOffset;
    }

    public string Key { get; }
    public TorchStorageType Type { get; }
    /// <summary>Number of elements of <see cref="Type"/>.</summary>
    public long Numel { get; }
    /// <summary>For a view (legacy format): the storage it views, else null.</summary>
    public TorchStorageRef? Root { get; }
    /// <summary>Element offset of the view in <see cref="Root"/>.</summary>
    public long ViewOffset { get; }

    public long ByteCount => Numel * Type.ElementSize;
}

/// <summary>
/// A tensor as torch rebuilds it (<c>_rebuild_tensor_v2</c>): a storage, an element offset, sizes and
/// strides in elements. No data is read until the tensor is materialised.
/// </summary>
internal sealed class TorchTensorRef
{
    public TorchTensorRef(TorchStorageRef storage, long offset, long[] size, long[] stride, TorchDTypeValue? dtype = null)
    {
        Storage = storage;
        Offset = offset;
        Size = size;
        Stride = stride;
        DTypeOverride = dtype;
    }

    public TorchStorageRef Storage { get; }
    public long Offset { get; }
    public long[] Size { get; }
    public long[] Stride { get; }
    /// <summary>_rebuild_tensor_v3's dtype (the storage is then read as raw bytes).</summary>
    public TorchDTypeValue? DTypeOverride { get; }
    /// <summary>Rebuilt through torch._utils._rebuild_parameter (an nn.Parameter).</summary>
    public bool IsParameter { get; set; }

    public string Describe() => $"tensor of size [{string.Join(", ", Size)}], stride [{string.Join(", ", Stride)}], storage offset {Offset}";
}

/// <summary>
/// A value torch wrote that we recognise but cannot load (a quantized or sparse tensor). It is an error
/// only if it ends up in the state dict; in ignored metadata it is ignored.
/// </summary>
internal sealed record TorchUnsupported(string What);

/// <summary>The allow-list of Python globals for torch checkpoints and the C# behaviour of each.</summary>
internal static class TorchPickle
{
    private static readonly Dictionary<string, (DType? dtype, int size)> StorageNames = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = (DType.Float32, 4),
        ["HalfStorage"] = (DType.Float16, 2),
        ["BFloat16Storage"] = (DType.BFloat16, 2),
        ["DoubleStorage"] = (DType.Float64, 8),
        ["LongStorage"] = (DType.Int64, 8),
        ["IntStorage"] = (DType.Int32, 4),
        ["ShortStorage"] = (DType.Int16, 2),
        ["CharStorage"] = (DType.Int8, 1),
        ["ByteStorage"] = (DType.UInt8, 1),
        ["BoolStorage"] = (DType.Bool, 1),
        // torch.UntypedStorage is read as bytes (torch/serialization.py _load: dtype = torch.uint8).
        ["UntypedStorage"] = (DType.UInt8, 1),
        ["_UntypedStorage"] = (DType.UInt8, 1),
        // Known to torch, not loaded here: the element size lets a legacy file be skipped over them.
        ["ComplexFloatStorage"] = (null, 8),
        ["ComplexDoubleStorage"] = (null, 16),
        ["ComplexHalfStorage"] = (null, 4),
        ["QInt8Storage"] = (null, 1),
        ["QUInt8Storage"] = (null, 1),
        ["QInt32Storage"] = (null, 4),
        ["QUInt4x2Storage"] = (null, 1),
        ["QUInt2x4Storage"] = (null, 1),
    };

    private static readonly Dictionary<string, (DType? dtype, int size)> DTypeNames = new(StringComparer.Ordinal)
    {
        ["float32"] = (DType.Float32, 4), ["float"] = (DType.Float32, 4),
        ["float16"] = (DType.Float16, 2), ["half"] = (DType.Float16, 2),
        ["bfloat16"] = (DType.BFloat16, 2),
        ["float64"] = (DType.Float64, 8), ["double"] = (DType.Float64, 8),
        ["int64"] = (DType.Int64, 8), ["long"] = (DType.Int64, 8),
        ["int32"] = (DType.Int32, 4), ["int"] = (DType.Int32, 4),
        ["int16"] = (DType.Int16, 2), ["short"] = (DType.Int16, 2),
        ["int8"] = (DType.Int8, 1),
        ["uint8"] = (DType.UInt8, 1),
        ["bool"] = (DType.Bool, 1),
        ["uint16"] = (DType.UInt16, 2), ["uint32"] = (DType.UInt32, 4), ["uint64"] = (DType.UInt64, 8),
        ["complex32"] = (null, 4), ["complex64"] = (null, 8), ["complex128"] = (null, 16),
        ["cfloat"] = (null, 8), ["cdouble"] = (null, 16), ["chalf"] = (null, 4),
        ["qint8"] = (null, 1), ["quint8"] = (null, 1), ["qint32"] = (null, 4), ["quint4x2"] = (null, 1), ["quint2x4"] = (null, 1),
        ["float8_e4m3fn"] = (null, 1), ["float8_e5m2"] = (null, 1), ["float8_e4m3fnuz"] = (null, 1), ["float8_e5m2fnuz"] = (null, 1),
    };

    private static readonly HashSet<string> TensorTypeNames = new(StringComparer.Ordinal)
    {
        "FloatTensor", "HalfTensor", "BFloat16Tensor", "DoubleTensor", "LongTensor", "IntTensor",
        "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor",
    };

    /// <summary>Names of the torch storage types whose data we load, for messages.</summary>
    public const string SupportedStorages = "Float, Half, BFloat16, Double, Long, Int, Short, Char, Byte, Bool (torch.*Storage) and UntypedStorage";

    /// <summary>
    /// Resolves a global the way torch's UnpicklerWrapper.find_class would for a checkpoint, restricted
    /// to what torch writes for tensors, parameters and containers.
    /// </summary>
    /// <exception cref="UnsafePickleException">Anything else.</exception>
    public static object FindClass(string? file, string module, string name)
    {
        // torch/serialization.py maps the old module name torch.tensor to torch._tensor.
        if (module == "torch.tensor") module = "torch._tensor";
        switch (module)
        {
            case "collections" when name == "OrderedDict":
                return new PyGlobal(module, name, MakeOrderedDict);
            case "builtins" or "__builtin__" when name == "set" || name == "frozenset":
                return new PyGlobal(module, name, args =>
                {
                    var s = new PySet();
                    if (args.Count == 1 && args[0] is PyList l) s.Items.AddRange(l.Items);
                    else if (args.Count == 1 && args[0] is PyTuple t) s.Items.AddRange(t.Items);
                    else if (args.Count != 0) throw new ArgumentException("set() takes one sequence");
                    return s;
                });
            case "_codecs" when name == "encode":
                // Protocol 2 writes Python 3 bytes as _codecs.encode(text, 'latin1'): pure data.
                return new PyGlobal(module, name, args =>
                {
                    if (args.Count < 1 || args[0] is not string text) throw new ArgumentException("encode(str, encoding)");
                    var enc = args.Count > 1 ? args[1] as string : "utf-8";
                    return enc is "latin1" or "latin-1" or "iso-8859-1"
                        ? text.Select(c => c <= 0xFF ? (byte)c : throw new ArgumentException("not latin-1")).ToArray()
                        : System.Text.Encoding.UTF8.GetBytes(text);
                });
            case "torch._utils":
                return name switch
                {
                    "_rebuild_tensor" => new PyGlobal(module, name, args => RebuildTensor(args, 4, null)),
                    "_rebuild_tensor_v2" => new PyGlobal(module, name, args => RebuildTensor(args, 6, null)),
                    "_rebuild_tensor_v3" => new PyGlobal(module, name, args => RebuildTensor(args, 7, 6)),
                    "_rebuild_parameter" => new PyGlobal(module, name, args => RebuildParameter(args, 3)),
                    "_rebuild_parameter_with_state" => new PyGlobal(module, name, args => RebuildParameter(args, 4)),
                    "_rebuild_qtensor" => Unsupported(module, name, "a quantized tensor"),
                    "_rebuild_sparse_tensor" or "_rebuild_sparse_csr_tensor" or "_rebuild_sparse_compressed_tensor" => Unsupported(module, name, "a sparse tensor"),
                    "_rebuild_device_tensor_from_numpy" or "_rebuild_xla_tensor" => Unsupported(module, name, "a device (XLA) tensor"),
                    "_rebuild_meta_tensor_no_storage" => Unsupported(module, name, "a meta tensor without data"),
                    "_rebuild_wrapper_subclass" => Unsupported(module, name, "a tensor wrapper subclass"),
                    "_rebuild_nested_tensor" => Unsupported(module, name, "a nested tensor"),
                    "_rebuild_mkldnn_tensor" => Unsupported(module, name, "an MKL-DNN tensor"),
                    _ => throw new UnsafePickleException(file, module + "." + name),
                };
            case "torch._tensor" when name is "_rebuild_from_type_v2" or "_rebuild_from_type":
                // _rebuild_from_type_v2(func, type, args, state): func(*args), then the Python type and
                // state are applied; the type is itself a resolved (allowed) global.
                return new PyGlobal(module, name, args =>
                {
                    if (args.Count < 3 || args[0] is not PyGlobal f || f.Call is null || args[2] is not PyTuple inner)
                        throw new ArgumentException($"{name}(func, type, args, state)");
                    if (args[1] is not PyGlobal { Tag: TensorClass })
                        throw new ArgumentException($"{name} with type {PickleMachine.Describe(args[1])}");
                    return f.Call(inner);
                });
            case "torch._tensor" when name == "Tensor":
            case "torch" when name == "Tensor":
            case "torch.nn.parameter" when name is "Parameter" or "UninitializedParameter" or "UninitializedBuffer":
                return new PyGlobal(module, name, tag: TensorClass.Instance);
            case "torch" or "torch.cuda" when StorageNames.TryGetValue(name, out var st):
                return new PyGlobal(module, name, tag: new TorchStorageType($"{module}.{name}", st.dtype, st.size));
            case "torch.storage" when name is "UntypedStorage" or "_UntypedStorage":
                return new PyGlobal(module, name, tag: new TorchStorageType($"{module}.{name}", DType.UInt8, 1));
            case "torch" or "torch.cuda" when TensorTypeNames.Contains(name):
                // The tar format's tensors member names the tensor class (original_tensor_type): a marker only.
                return new PyGlobal(module, name, tag: TensorClass.Instance);
            case "torch" when DTypeNames.TryGetValue(name, out var dt):
                return new PyGlobal(module, name, tag: new TorchDTypeValue("torch." + name, dt.dtype, dt.size));
            case "torch" when name == "device":
                return new PyGlobal(module, name, args => "device(" + string.Join(", ", args.Items.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture))) + ")");
            case "torch" when name == "Size":
                return new PyGlobal(module, name, args => args.Count == 1 && args[0] is PyTuple t ? t : args.Count == 1 && args[0] is PyList l ? new PyTuple(l.Items.ToArray()) : throw new ArgumentException("Size(tuple)"));
            case "torch" when name is "per_tensor_affine" or "per_channel_affine" or "per_tensor_symmetric" or "per_channel_symmetric" or "per_channel_affine_float_qparams"
                                   or "sparse_coo" or "sparse_csr" or "sparse_csc" or "sparse_bsr" or "sparse_bsc" or "strided" or "_mkldnn":
                // Layouts and quantization schemes: arguments of the unsupported rebuild functions above.
                return new PyGlobal(module, name, tag: name);
        }
        throw new UnsafePickleException(file, module + "." + name);
    }

    /// <summary>Marker tag of tensor classes (torch.Tensor, nn.Parameter, torch.FloatTensor).</summary>
    internal sealed class TensorClass
    {
        public static readonly TensorClass Instance = new();
    }

    private static PyGlobal Unsupported(string module, string name, string what) =>
        new(module, name, _ => new TorchUnsupported($"{what} (saved through {module}.{name}), which this loader does not read"));

    private static object MakeOrderedDict(PyTuple args)
    {
        var d = new PyDict(ordered: true);
        if (args.Count == 0) return d;
        IEnumerable<object?> pairs = args[0] switch
        {
            PyList l => l.Items,
            PyTuple t => t.Items,
            _ => throw new ArgumentException("OrderedDict(items)"),
        };
        foreach (var p in pairs)
        {
            if (p is PyTuple { Count: 2 } kv) d.Set(kv[0], kv[1]);
            else if (p is PyList { Items.Count: 2 } kl) d.Set(kl.Items[0], kl.Items[1]);
            else throw new ArgumentException("OrderedDict items must be pairs");
        }
        return d;
    }

    /// <summary>
    /// _rebuild_tensor(storage, offset, size, stride), _rebuild_tensor_v2(+requires_grad, hooks[, metadata]),
    /// _rebuild_tensor_v3(+dtype[, metadata]) from torch/_utils.py.
    /// </summary>
    private static object RebuildTensor(PyTuple args, int minArgs, int? dtypeIndex)
    {
        if (args.Count < minArgs) throw new ArgumentException($"expected at least {minArgs} arguments, got {args.Count}");
        if (args[0] is TorchUnsupported u) return u;
        if (args[0] is not TorchStorageRef storage) throw new ArgumentException($"the storage argument is a {PickleMachine.Describe(args[0])}");
        long offset = ToLong(args[1], "storage_offset");
        long[] size = ToLongs(args[2], "size");
        long[] stride = ToLongs(args[3], "stride");
        if (size.Length != stride.Length) throw new ArgumentException($"size has {size.Length} dimensions, stride {stride.Length}");
        TorchDTypeValue? dtype = null;
        if (dtypeIndex is int di)
        {
            if (args[di] is not PyGlobal { Tag: TorchDTypeValue dv }) throw new ArgumentException($"the dtype argument is a {PickleMachine.Describe(args[di])}");
            dtype = dv;
        }
        return new TorchTensorRef(storage, offset, size, stride, dtype);
    }

    /// <summary>_rebuild_parameter(data, requires_grad, backward_hooks[, state]).</summary>
    private static object RebuildParameter(PyTuple args, int minArgs)
    {
        if (args.Count < minArgs) throw new ArgumentException($"expected {minArgs} arguments, got {args.Count}");
        if (args[0] is TorchUnsupported u) return u;
        if (args[0] is not TorchTensorRef t) throw new ArgumentException($"the data argument is a {PickleMachine.Describe(args[0])}");
        t.IsParameter = true;
        return t;
    }

    internal static long ToLong(object? o, string what) => o switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        BigInteger => throw new ArgumentException($"{what} does not fit in 64 bits"),
        _ => throw new ArgumentException($"{what} is a {PickleMachine.Describe(o)}, expected an int"),
    };

    internal static long[] ToLongs(object? o, string what) => o switch
    {
        PyTuple t => t.Items.Select(x => ToLong(x, what)).ToArray(),
        PyList l => l.Items.Select(x => ToLong(x, what)).ToArray(),
        _ => throw new ArgumentException($"{what} is a {PickleMachine.Describe(o)}, expected a tuple of ints"),
    };

    /// <summary>Python's str() of a persistent-id key (str, bytes or int).</summary>
    internal static string KeyString(object? o) => o switch
    {
        string s => s,
        byte[] b => System.Text.Encoding.ASCII.GetString(b),
        long l => l.ToString(CultureInfo.InvariantCulture),
        _ => throw new ArgumentException($"storage key is a {PickleMachine.Describe(o)}"),
    };

    /// <summary>Storage type named in a persistent id.</summary>
    internal static TorchStorageType StorageTypeOf(object? o) => o is PyGlobal { Tag: TorchStorageType t }
        ? t
        : throw new ArgumentException($"the storage type is a {PickleMachine.Describe(o)}, expected a torch storage class");
}
