using System.Runtime.InteropServices;
using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.Cuda.Runtime;

namespace Vgg.Engine.Cuda.Network;

/// <summary>Element type of a tensor in device memory.</summary>
public enum DeviceStoreType
{
    F32,
    F16,
    I8,
}

/// <summary>
/// A tensor of a <see cref="CudaNetwork"/> in device memory. 4-D tensors are stored NHWC with
/// <see cref="StoredChannels"/> ≥ C (the network input may be padded to the kernels' vector width);
/// 2-D tensors are [N, F] rows. The network input and the outputs are float32 in PyTorch's layout (NCHW).
/// </summary>
public sealed class DeviceTensor
{
    internal DeviceTensor(string name, int[] shape, DeviceStoreType type, bool nhwc, int storedChannels, float scale)
    {
        Name = name;
        Shape = shape;
        Type = type;
        Nhwc = nhwc;
        StoredChannels = storedChannels;
        Scale = scale;
    }

    public string Name { get; }

    /// <summary>Logical shape: [N, C, H, W] or [N, F].</summary>
    public int[] Shape { get; }

    public DeviceStoreType Type { get; }

    /// <summary>True for 4-D tensors stored NHWC; false for NCHW float32 (the input, 4-D outputs) and rows.</summary>
    public bool Nhwc { get; }

    /// <summary>Channels as stored (NHWC only).</summary>
    public int StoredChannels { get; }

    /// <summary>INT8 activation scale (real = code · scale); 1 otherwise.</summary>
    public float Scale { get; }

    /// <summary>Stored elements.</summary>
    public long Elements => Shape.Length == 4 && Nhwc ? (long)Shape[0] * Shape[2] * Shape[3] * StoredChannels : Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Stored bytes.</summary>
    public long Bytes => Elements * (Type switch { DeviceStoreType.F32 => 4, DeviceStoreType.F16 => 2, _ => 1 });

    internal int FirstStep = int.MaxValue, LastStep = -1;
    internal long Offset = -1;
    internal ulong Pointer;

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}] {Type}{(Nhwc ? $" NHWC c{StoredChannels}" : "")}";
}

/// <summary>
/// The converted weights of a network for one precision, on the device, uploaded once and shared by
/// every <see cref="CudaNetwork"/> instance (batch sizes, concurrent slots) of the model: conv weights
/// as KRSC, linear weights as [out][in], in f32, f16 or int8 (per-output-channel scales, int32 biases and
/// the epilogue multipliers of the INT8 scheme).
/// </summary>
public sealed class CudaModelWeights : IDisposable
{
    internal sealed record LayerWeights(ulong Weight, ulong Bias, ulong Scale, int StoredInputChannels);

    private readonly IDeviceAllocator _memory;
    private readonly CudaAllocator? _owned;
    private long _bytes;
    internal readonly Dictionary<string, LayerWeights> Layers = new(StringComparer.Ordinal);

    private CudaModelWeights(IDeviceAllocator memory, CudaAllocator? owned, NetworkDefinition definition, CudaPrecision precision, IReadOnlyDictionary<string, float>? scales)
    {
        _memory = memory;
        _owned = owned;
        Definition = definition;
        Precision = precision;
        Scales = scales;
        Tensors = TensorTypes.Plan(definition, precision, scales);
        foreach (var l in definition.Layers)
        {
            if (l is ConvSpec c) Layers[c.Name] = UploadConv(c);
            else if (l is LinearSpec f) Layers[f.Name] = UploadLinear(f);
        }
    }

    public NetworkDefinition Definition { get; }
    public CudaPrecision Precision { get; }
    public IReadOnlyDictionary<string, float>? Scales { get; }
    internal TensorTypes Tensors { get; }

    /// <summary>Bytes of device memory the weights take.</summary>
    public long Bytes => _bytes;

    /// <summary>Uploads the weights of <paramref name="definition"/> converted for <paramref name="precision"/> to a GPU (freed by Dispose).</summary>
    /// <param name="context">The device.</param>
    /// <param name="definition">The network.</param>
    /// <param name="precision">Kernel path.</param>
    /// <param name="activationScales">INT8 only: the per-tensor activation scale of the input and of every conv and linear output (from calibration).</param>
    /// <exception cref="ArgumentException">INT8 without a needed scale (names the tensor).</exception>
    public static CudaModelWeights Upload(CudaContext context, NetworkDefinition definition, CudaPrecision precision, IReadOnlyDictionary<string, float>? activationScales = null)
    {
        var mem = new CudaAllocator(context);
        try
        {
            return new CudaModelWeights(mem, mem, definition, precision, activationScales);
        }
        catch
        {
            mem.Dispose();
            throw;
        }
    }

    /// <summary>Uploads the weights through any allocator (the PTX simulator, a check device); the allocator owns the memory.</summary>
    public static CudaModelWeights Upload(IDeviceAllocator memory, NetworkDefinition definition, CudaPrecision precision, IReadOnlyDictionary<string, float>? activationScales = null) =>
        new(memory, null, definition, precision, activationScales);

    private ulong Put<T>(T[] data) where T : unmanaged
    {
        _bytes += data.LongLength * Marshal.SizeOf<T>();
        return _memory.Upload(data);
    }

    private LayerWeights UploadConv(ConvSpec c)
    {
        var x = Tensors.Get(c.Input);
        int cs = c.Groups == 1 ? x.StoredChannels : x.Channels;
        return Upload(c.Name, c.Input, WeightConversion.ConvToKrsc(c, x.Channels, cs), c.Bias ?? new float[c.OutChannels], c.OutChannels, cs);
    }

    private LayerWeights UploadLinear(LinearSpec f) =>
        Upload(f.Name, f.Input, f.Weight, f.Bias ?? new float[f.OutFeatures], f.OutFeatures, 0);

    private LayerWeights Upload(string name, string input, float[] w, float[] bias, int k, int storedIn)
    {
        switch (Precision)
        {
            case CudaPrecision.Float32:
                return new LayerWeights(Put(w), Put(bias), 0, storedIn);
            case CudaPrecision.Float16:
                return new LayerWeights(Put(w.Select(v => (Half)v).ToArray()), Put(bias), 0, storedIn);
            default:
            {
                var y = Tensors.Get(name);
                var q = WeightConversion.Int8(w, bias, k, Tensors.Get(input).Scale, y.Type == DeviceStoreType.F32 ? null : y.Scale);
                return new LayerWeights(Put(q.Codes), Put(q.Bias), Put(q.Epilogue), storedIn);
            }
        }
    }

    public void Dispose() => _owned?.Dispose();
}

/// <summary>Weight layout and precision conversions shared by the device upload and the CPU references.</summary>
internal static class WeightConversion
{
    /// <summary>OIHW [K][C/g][R][S] → KRSC [K][R][S][Cs/g], zero in the padded channels (Cs ≥ C only with one group).</summary>
    public static float[] ConvToKrsc(ConvSpec c, int channels, int storedChannels)
    {
        int cg = storedChannels / c.Groups, realCg = channels / c.Groups;
        int k = c.OutChannels, r = c.KernelH, s = c.KernelW;
        var w = new float[(long)k * r * s * cg];
        for (int o = 0; o < k; o++)
            for (int ci = 0; ci < realCg; ci++)
                for (int y = 0; y < r; y++)
                    for (int x = 0; x < s; x++)
                        w[(((long)o * r + y) * s + x) * cg + ci] = c.Weight[(((long)o * realCg + ci) * r + y) * s + x];
        return w;
    }

    /// <summary>The INT8 scheme applied to one layer: weight codes (per-output-channel scales), int32 bias, and the epilogue's multipliers (requantize to <paramref name="outputScale"/>) or dequantization factors (null output scale).</summary>
    public static (sbyte[] Codes, int[] Bias, float[] Epilogue) Int8(float[] w, float[] bias, int k, float inputScale, float? outputScale)
    {
        var ws = Int8Scheme.WeightScales(w, k);
        var q = Int8Scheme.QuantizeWeights(w, ws);
        var bq = Int8Scheme.QuantizeBias(bias, inputScale, ws);
        var epi = outputScale is { } sy ? Int8Scheme.RequantizeMultipliers(inputScale, ws, sy) : Int8Scheme.DequantizeFactors(inputScale, ws);
        return (q, bq, epi);
    }
}

/// <summary>
/// Storage decisions for every tensor of a network and precision (type, layout, padding, INT8 scale),
/// a pure function of the definition so that weights and instances agree.
/// </summary>
internal sealed class TensorTypes
{
    internal sealed record Info(string Name, DeviceStoreType Type, int Channels, int StoredChannels, float Scale, bool FourD);

    private readonly Dictionary<string, Info> _info = new(StringComparer.Ordinal);

    public Info Get(string name) => _info.TryGetValue(name, out var i) ? i : throw new KeyNotFoundException($"tensor '{name}'");

    /// <summary>The name of the tensor a layer reads after aliasing (identity pools, trivial flattens) is resolved by the instance, not here.</summary>
    public static TensorTypes Plan(NetworkDefinition def, CudaPrecision p, IReadOnlyDictionary<string, float>? scales)
    {
        var t = new TensorTypes();
        var native = p switch { CudaPrecision.Float32 => DeviceStoreType.F32, CudaPrecision.Float16 => DeviceStoreType.F16, _ => DeviceStoreType.I8 };
        var consumers = def.Layers.GroupBy(l => l.Input).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        float Scale(string name)
        {
            if (p != CudaPrecision.Int8) return 1f;
            if (scales is null || !scales.TryGetValue(name, out var s) || !(s > 0) || !float.IsFinite(s))
                throw new ArgumentException($"INT8 needs calibration: no activation scale for tensor '{name}' (run calibration on representative inputs first)");
            return s;
        }
        // channels per tensor (4-D) or features (2-D), following the layers
        var channels = new Dictionary<string, (int C, bool FourD)>(StringComparer.Ordinal) { [def.InputName] = (def.InputChannels, true) };
        foreach (var l in def.Layers)
        {
            var (c, four) = channels[l.Input];
            channels[l.Name] = l switch
            {
                ConvSpec cv => (cv.OutChannels, true),
                FlattenSpec => (-1, false),
                LinearSpec f => (f.OutFeatures, false),
                _ => (c, four),
            };
        }
        bool padInput = consumers.TryGetValue(def.InputName, out var ic) && ic.All(l => l is ConvSpec { Groups: 1 });
        t._info[def.InputName] = new Info(def.InputName, native, def.InputChannels, padInput ? p.PadChannels(def.InputChannels) : def.InputChannels, Scale(def.InputName), true);
        foreach (var l in def.Layers)
        {
            var x = t._info[l.Input];
            var (c, four) = channels[l.Name];
            bool floatOut = l is SoftmaxSpec
                || l is LinearSpec && ((consumers.TryGetValue(l.Name, out var cons) && cons.Any(u => u is SoftmaxSpec)) || (def.Outputs.Contains(l.Name) && !(consumers.TryGetValue(l.Name, out var c2) && c2.Count > 0)));
            Info info = l switch
            {
                ConvSpec => new Info(l.Name, native, c, c, Scale(l.Name), true),
                LinearSpec => floatOut ? new Info(l.Name, DeviceStoreType.F32, c, c, 1f, false) : new Info(l.Name, native, c, c, Scale(l.Name), false),
                SoftmaxSpec => new Info(l.Name, DeviceStoreType.F32, x.Channels, x.Channels, 1f, false),
                FlattenSpec => new Info(l.Name, x.Type, -1, -1, x.Scale, false),
                _ => x with { Name = l.Name },   // pools and ReLU keep type, padding and scale
            };
            t._info[l.Name] = info;
        }
        return t;
    }
}

/// <summary>
/// A network lowered to kernel launches for one batch and input size on any device that gives memory
/// (<see cref="IDeviceAllocator"/>): the tensors (NHWC, the path's type, the input padded), one arena
/// with tensors placed by lifetime (greedy largest-first), one split-K workspace, and the launch list.
/// Device-independent: <see cref="CudaNetwork"/> runs it on a GPU; the PTX simulator and the checks run
/// it through any <see cref="IKernelRunner"/>.
/// </summary>
public sealed class NetworkProgram
{
    private sealed record Step(string Name, DeviceTensor[] Reads, DeviceTensor Writes, long Workspace, Func<KernelLaunch[]> Make);

    private readonly CudaModelWeights _weights;
    private readonly List<Step> _steps = new();
    private readonly Dictionary<string, DeviceTensor> _tensors = new(StringComparer.Ordinal);
    private readonly DeviceTensor _input;
    private readonly List<DeviceTensor> _outputs = new();
    private readonly KernelLaunch[][] _launches;
    private readonly int _sms;
    private readonly ulong _workspacePtr;

    /// <summary>
    /// Lowers <paramref name="weights"/>' network for a batch and input size, allocating its arena and
    /// workspace from <paramref name="memory"/>.
    /// </summary>
    /// <param name="weights">The model's uploaded weights for the precision (on the same device).</param>
    /// <param name="batch">N.</param>
    /// <param name="height">Input height.</param>
    /// <param name="width">Input width.</param>
    /// <param name="memory">Where the arena and workspace come from.</param>
    /// <param name="reuseMemory">False places every tensor apart (calibration reads every intermediate after a run).</param>
    /// <param name="inputPointer">An existing device buffer to read the NCHW float32 input from, instead of a place in the arena.</param>
    /// <exception cref="GraphException">Shapes that do not fit (names the layer).</exception>
    public NetworkProgram(CudaModelWeights weights, int batch, int height, int width, IDeviceAllocator memory, bool reuseMemory = true, ulong? inputPointer = null)
    {
        _weights = weights;
        Batch = batch;
        Height = height;
        Width = width;
        var def = weights.Definition;
        var p = weights.Precision;
        var shapes = def.InferShapes(batch, height, width);
        _sms = memory.Multiprocessors;

        DeviceTensor New(string name, int[] shape, DeviceStoreType type, bool nhwc, int stored, float scale)
        {
            var t = new DeviceTensor(name, shape, type, nhwc, stored, scale);
            if (_tensors.ContainsKey(name)) throw new GraphException(name, "tensor defined twice");
            _tensors[name] = t;
            return t;
        }
        DeviceTensor From(string name)
        {
            var i = weights.Tensors.Get(name);
            return New(name, shapes[name], i.Type, i.FourD, i.StoredChannels, i.Scale);
        }
        var alias = new Dictionary<string, DeviceTensor>(StringComparer.Ordinal);
        DeviceTensor Read(string name) => alias.TryGetValue(name, out var a) ? a : _tensors[name];

        // ---- input: NCHW f32 staging -> NHWC of the path's type
        _input = New(def.InputName + ".nchw", shapes[def.InputName], DeviceStoreType.F32, false, def.InputChannels, 1f);
        var inNhwc = From(def.InputName);
        alias[def.InputName] = inNhwc;
        AddStep("input -> nhwc", new[] { _input }, inNhwc, 0, () => new[]
        {
            SimpleLaunchers.NchwToNhwc(p, _sms, _input.Pointer, inNhwc.Pointer, batch, def.InputChannels, height, width, inNhwc.StoredChannels, inNhwc.Scale),
        });

        foreach (var layer in def.Layers)
        {
            var x = Read(layer.Input);
            switch (layer)
            {
                case ConvSpec c:
                    LowerConv(c, x, From(c.Name), p);
                    break;
                case MaxPoolSpec mp:
                {
                    var y = From(mp.Name);
                    AddStep(mp.Name, new[] { x }, y, 0, () => new[]
                    {
                        SimpleLaunchers.MaxPool(p, _sms, x.Pointer, y.Pointer, batch, x.Shape[2], x.Shape[3], x.StoredChannels, y.Shape[2], y.Shape[3],
                            mp.KernelH, mp.KernelW, mp.StrideH, mp.StrideW, mp.PadTop, mp.PadLeft, mp.DilationH, mp.DilationW),
                    });
                    break;
                }
                case AdaptiveAvgPoolSpec ap when ap.OutH == x.Shape[2] && ap.OutW == x.Shape[3]:
                    alias[ap.Name] = x;   // identity (VGG at 224x224): no kernel
                    break;
                case AdaptiveAvgPoolSpec ap:
                {
                    var y = From(ap.Name);
                    AddStep(ap.Name, new[] { x }, y, 0, () => new[]
                    {
                        SimpleLaunchers.AdaptiveAvgPool(p, _sms, x.Pointer, y.Pointer, batch, x.Shape[2], x.Shape[3], x.StoredChannels, y.Shape[2], y.Shape[3]),
                    });
                    break;
                }
                case FlattenSpec fl:
                {
                    if (x.Shape.Length == 2) { alias[fl.Name] = x; break; }
                    var y = New(fl.Name, shapes[fl.Name], x.Type, false, 0, x.Scale);
                    if (x.Shape[2] == 1 && x.Shape[3] == 1 && x.StoredChannels == x.Shape[1])
                    {
                        _tensors.Remove(fl.Name);
                        alias[fl.Name] = x;   // 1x1 NHWC is NCHW: a view
                        break;
                    }
                    AddStep(fl.Name, new[] { x }, y, 0, () => new[]
                    {
                        SimpleLaunchers.NhwcToNchw(p, _sms, x.Pointer, y.Pointer, batch, x.Shape[1], x.Shape[2], x.Shape[3], x.StoredChannels),
                    });
                    break;
                }
                case LinearSpec f:
                {
                    var y = From(f.Name);
                    var lw = weights.Layers[f.Name];
                    var xf = x.Type == y.Type || y.Type == DeviceStoreType.F32 ? x : throw new GraphException(f.Name, "input type mismatch");
                    var om = y.Type == DeviceStoreType.F32 && p != CudaPrecision.Float32 ? OutputMode.Float32 : OutputMode.Native;
                    var L = new LinearLauncher(p, batch, f.OutFeatures, x.Shape[1], f.Relu, om);
                    long ws = L.WorkspaceBytes(_sms);
                    AddStep(f.Name, new[] { xf }, y, ws, () => L.Launches(_sms, xf.Pointer, lw.Weight, lw.Bias, lw.Scale, y.Pointer, _workspacePtr));
                    break;
                }
                case ReluSpec r:
                {
                    var y = From(r.Name);
                    string kernel = "vgg_relu_" + (x.Type switch { DeviceStoreType.F32 => "f32", DeviceStoreType.F16 => "f16", _ => "i8" });
                    AddStep(r.Name, new[] { x }, y, 0, () => new[] { SimpleLaunchers.Elementwise(kernel, _sms, x.Pointer, y.Pointer, x.Elements) });
                    break;
                }
                case SoftmaxSpec sm:
                {
                    var src = AsFloatRows(x, sm.Name + ".f32", p);
                    var y = From(sm.Name);
                    AddStep(sm.Name, new[] { src }, y, 0, () => new[] { SimpleLaunchers.Softmax(sm.Log, src.Pointer, y.Pointer, batch, src.Shape[1], 1) });
                    break;
                }
                default:
                    throw new UnsupportedOperatorException(layer.Name, layer.GetType().Name, "", 0, "the CUDA network has no kernel for this layer");
            }
        }

        // ---- outputs: float32, NCHW for 4-D
        foreach (var o in def.Outputs)
        {
            var t = Read(o);
            DeviceTensor outT;
            if (t.Shape.Length == 4)
            {
                outT = New(o + ".out", t.Shape, DeviceStoreType.F32, false, t.Shape[1], 1f);
                var src = t;
                var dst = outT;
                AddStep(o + " -> nchw f32", new[] { src }, dst, 0, () => new[]
                {
                    SimpleLaunchers.NhwcToNchwF32(p, _sms, src.Pointer, dst.Pointer, batch, src.Shape[1], src.Shape[2], src.Shape[3], src.StoredChannels, src.Scale),
                });
            }
            else
            {
                outT = AsFloatRows(t, o + ".out", p);
            }
            _outputs.Add(outT);
        }

        // ---- lifetimes and placement
        int end = _steps.Count;
        foreach (var (s, i) in _steps.Select((s, i) => (s, i)))
        {
            foreach (var r in s.Reads) { r.FirstStep = Math.Min(r.FirstStep, i); r.LastStep = Math.Max(r.LastStep, i); }
            s.Writes.FirstStep = Math.Min(s.Writes.FirstStep, i);
            s.Writes.LastStep = Math.Max(s.Writes.LastStep, i);
        }
        _input.FirstStep = 0;
        _input.LastStep = end;
        foreach (var o in _outputs) o.LastStep = end;
        var placed = _tensors.Values.Where(t => t.LastStep >= 0 && !(inputPointer is not null && ReferenceEquals(t, _input))).ToList();
        ArenaBytes = Place(placed, reuseMemory);
        WorkspaceBytes = _steps.Count == 0 ? 0 : _steps.Max(s => s.Workspace);
        ulong arena = memory.Allocate(ArenaBytes);
        _workspacePtr = WorkspaceBytes > 0 ? memory.Allocate(WorkspaceBytes) : 0;
        foreach (var t in placed) t.Pointer = arena + (ulong)t.Offset;
        if (inputPointer is { } ip) _input.Pointer = ip;
        _launches = _steps.Select(s => s.Make()).ToArray();
    }

    private void AddStep(string name, DeviceTensor[] reads, DeviceTensor writes, long workspace, Func<KernelLaunch[]> make) =>
        _steps.Add(new Step(name, reads, writes, workspace, make));

    /// <summary>A float32 [N, F] view of a rows tensor: itself, or a converted copy.</summary>
    private DeviceTensor AsFloatRows(DeviceTensor t, string name, CudaPrecision p)
    {
        if (t.Type == DeviceStoreType.F32 && !t.Nhwc) return t;
        if (t.Nhwc) throw new GraphException(name, "expected a 2-D tensor");
        var y = new DeviceTensor(name, t.Shape, DeviceStoreType.F32, false, 0, 1f);
        _tensors[name] = y;
        var kernel = t.Type == DeviceStoreType.F16 ? "vgg_convert_f16_to_f32" : "vgg_dequantize_i8_f32";
        float? scale = t.Type == DeviceStoreType.I8 ? t.Scale : null;
        AddStep(name, new[] { t }, y, 0, () => new[] { SimpleLaunchers.Elementwise(kernel, _sms, t.Pointer, y.Pointer, t.Elements, scale) });
        return y;
    }

    private void LowerConv(ConvSpec c, DeviceTensor x, DeviceTensor y, CudaPrecision p)
    {
        var lw = _weights.Layers[c.Name];
        int cs = lw.StoredInputChannels;
        if (cs != x.StoredChannels) throw new GraphException(c.Name, $"weights were converted for {cs} stored input channels, the tensor has {x.StoredChannels}");
        int n = x.Shape[0], h = x.Shape[2], w = x.Shape[3];
        var fast = new Conv3x3Launcher(p, n, h, w, cs, c.OutChannels, c.Relu, c.FusedPool);
        if (c.Is3x3s1p1 && fast.Unsupported() is null)
        {
            var choice = fast.Plan(_sms);
            AddStep(c.Name, new[] { x }, y, choice.WorkspaceBytes, () => fast.Launches(choice, x.Pointer, lw.Weight, lw.Bias, lw.Scale, y.Pointer, _workspacePtr));
            return;
        }
        var g = new Reference.ConvGeometry(n, h, w, cs, c.OutChannels, c.KernelH, c.KernelW, c.StrideH, c.StrideW, c.PadTop, c.PadLeft, c.PadBottom, c.PadRight, c.DilationH, c.DilationW, c.Groups);
        var general = new ConvGeneralLauncher(p, g, c.Relu);
        if (!c.FusedPool)
        {
            AddStep(c.Name, new[] { x }, y, 0, () => new[] { general.Launch(_sms, x.Pointer, lw.Weight, lw.Bias, lw.Scale, y.Pointer) });
            return;
        }
        var pre = new DeviceTensor(c.Name + ".prepool", new[] { n, c.OutChannels, g.OutH, g.OutW }, y.Type, true, c.OutChannels, y.Scale);
        _tensors[pre.Name] = pre;
        AddStep(c.Name, new[] { x }, pre, 0, () => new[] { general.Launch(_sms, x.Pointer, lw.Weight, lw.Bias, lw.Scale, pre.Pointer) });
        AddStep(c.Name + ".pool", new[] { pre }, y, 0, () => new[]
        {
            SimpleLaunchers.MaxPool(p, _sms, pre.Pointer, y.Pointer, n, g.OutH, g.OutW, c.OutChannels, y.Shape[2], y.Shape[3], 2, 2, 2, 2, 0, 0),
        });
    }

    /// <summary>Greedy largest-first placement (TFLite Micro's planner): each tensor at the lowest offset that overlaps no tensor alive at the same time.</summary>
    private static long Place(List<DeviceTensor> tensors, bool reuse)
    {
        const long Align = 256;
        long A(long b) => (b + Align - 1) / Align * Align;
        var placed = new List<DeviceTensor>();
        long arena = 0;
        foreach (var t in tensors.OrderByDescending(t => t.Bytes).ThenBy(t => t.FirstStep))
        {
            long offset = 0;
            if (reuse)
            {
                var conflicts = placed.Where(o => o.FirstStep <= t.LastStep && t.FirstStep <= o.LastStep).OrderBy(o => o.Offset).ToList();
                foreach (var o in conflicts)
                {
                    if (offset + A(t.Bytes) <= o.Offset) break;
                    offset = Math.Max(offset, o.Offset + A(o.Bytes));
                }
            }
            else
            {
                offset = arena;
            }
            t.Offset = offset;
            placed.Add(t);
            arena = Math.Max(arena, offset + A(t.Bytes));
        }
        return Math.Max(arena, Align);
    }

    public int Batch { get; }
    public int Height { get; }
    public int Width { get; }
    public CudaPrecision Precision => _weights.Precision;

    /// <summary>Arena bytes (activations, the input and the outputs).</summary>
    public long ArenaBytes { get; }

    /// <summary>Split-K workspace bytes.</summary>
    public long WorkspaceBytes { get; }

    /// <summary>Kernel launches per step, in order (the same list eager execution and graph capture use).</summary>
    public IReadOnlyList<(string Step, IReadOnlyList<KernelLaunch> Launches)> Launches =>
        _steps.Select((s, i) => (s.Name, (IReadOnlyList<KernelLaunch>)_launches[i])).ToList();

    /// <summary>The output tensors (float32), in definition order.</summary>
    public IReadOnlyList<DeviceTensor> Outputs => _outputs;

    /// <summary>Every tensor by name (for calibration and diagnostics).</summary>
    public IReadOnlyDictionary<string, DeviceTensor> Tensors => _tensors;

    /// <summary>The NCHW float32 input tensor (device address and byte count).</summary>
    public DeviceTensor Input => _input;

    /// <summary>Every launch in order.</summary>
    public IReadOnlyList<KernelLaunch> AllLaunches => _launches.SelectMany(l => l).ToList();

    /// <summary>Launches per step.</summary>
    internal KernelLaunch[][] StepLaunches => _launches;

    /// <summary>Step names, in order.</summary>
    internal IReadOnlyList<string> StepNames => _steps.Select(s => s.Name).ToList();
}

/// <summary>
/// One instance of a network on a GPU for a fixed batch and input size: its <see cref="NetworkProgram"/>
/// (arena, workspace, launches) in device memory, pinned staging for the input and the outputs, the
/// kernels resolved once, and optionally a CUDA graph of the launches. Not thread-safe: one run at a
/// time per instance (a session keeps one instance per concurrent slot, sharing <see cref="CudaModelWeights"/>).
/// </summary>
public sealed class CudaNetwork : ICudaNetworkInstance
{
    private readonly CudaKernelSet _kernels;
    private readonly CudaAllocator _memory;
    private readonly NetworkProgram _program;
    private readonly PinnedBuffer _inputStaging;
    private readonly PinnedBuffer[] _outputStaging;
    private readonly (CudaKernel Kernel, KernelLaunch Launch)[] _flat;
    private CudaGraph? _graph;

    /// <summary>
    /// Instantiates <paramref name="weights"/>' network for a batch and input size on <paramref name="kernels"/>' device.
    /// </summary>
    /// <param name="kernels">Compiled kernels of the device.</param>
    /// <param name="weights">The model's uploaded weights for the precision.</param>
    /// <param name="batch">N.</param>
    /// <param name="height">Input height.</param>
    /// <param name="width">Input width.</param>
    /// <param name="reuseMemory">False places every tensor apart (calibration reads every intermediate after a run).</param>
    /// <exception cref="GraphException">Shapes that do not fit (names the layer).</exception>
    public CudaNetwork(CudaKernelSet kernels, CudaModelWeights weights, int batch, int height, int width, bool reuseMemory = true)
    {
        _kernels = kernels;
        var ctx = kernels.Context;
        _memory = new CudaAllocator(ctx);
        try
        {
            _program = new NetworkProgram(weights, batch, height, width, _memory, reuseMemory);
            _inputStaging = ctx.AllocatePinned(_program.Input.Bytes);
            _outputStaging = _program.Outputs.Select(o => ctx.AllocatePinned(o.Bytes)).ToArray();
            // Resolve every kernel now (module load, shared-memory opt-in): running the network then only enqueues.
            _flat = _program.AllLaunches.Select(l => (kernels.Prepare(l), l)).ToArray();
        }
        catch
        {
            _memory.Dispose();
            throw;
        }
    }

    /// <summary>The lowered program (tensors, launches).</summary>
    public NetworkProgram Program => _program;

    public int Batch => _program.Batch;
    public CudaPrecision Precision => _program.Precision;

    /// <summary>Arena bytes (activations, the input and the outputs).</summary>
    public long ArenaBytes => _program.ArenaBytes;

    /// <summary>Split-K workspace bytes.</summary>
    public long WorkspaceBytes => _program.WorkspaceBytes;

    /// <summary>The output tensors (float32), in definition order.</summary>
    public IReadOnlyList<DeviceTensor> Outputs => _program.Outputs;

    /// <summary>Copies an NCHW float32 input batch into pinned staging memory.</summary>
    /// <exception cref="ArgumentException">Wrong element count.</exception>
    public void SetInput(ReadOnlySpan<float> nchw)
    {
        if (nchw.Length != _program.Input.Elements)
            throw new ArgumentException($"input must hold {_program.Input.Elements} float32 values ([{string.Join(", ", _program.Input.Shape)}]), got {nchw.Length}");
        MemoryMarshal.AsBytes(nchw).CopyTo(_inputStaging.Span);
    }

    /// <summary>Enqueues the kernels only (no copies): eagerly, or by replaying the captured graph.</summary>
    public void EnqueueKernels(CudaStream stream, bool useGraph)
    {
        if (useGraph)
        {
            (_graph ?? throw new InvalidOperationException("no graph captured: call CaptureGraph first")).Launch(stream);
            return;
        }
        foreach (var (k, l) in _flat) k.Launch(stream, l.Grid, l.Block, l.DynamicSharedBytes, l.Args);
    }

    /// <summary>
    /// One run: the input staging copied to the device, the kernels (eager or graph replay), the outputs
    /// copied back into pinned staging; waits for completion. Allocates nothing.
    /// </summary>
    public void Run(CudaStream stream, bool useGraph)
    {
        stream.CopyToDevice(_program.Input.Pointer, _inputStaging.Pointer, _program.Input.Bytes);
        EnqueueKernels(stream, useGraph);
        for (int i = 0; i < _program.Outputs.Count; i++) stream.CopyToHost(_outputStaging[i].Pointer, _program.Outputs[i].Pointer, _program.Outputs[i].Bytes);
        stream.Synchronize();
    }

    /// <summary>Copies output <paramref name="index"/> (after <see cref="Run"/>) into <paramref name="destination"/>.</summary>
    public void GetOutput(int index, Span<float> destination)
    {
        var o = _program.Outputs[index];
        if (destination.Length != o.Elements) throw new ArgumentException($"output '{o.Name}' has {o.Elements} values, destination {destination.Length}");
        MemoryMarshal.Cast<byte, float>(_outputStaging[index].Span)[..(int)o.Elements].CopyTo(destination);
    }

    /// <summary>Output <paramref name="index"/> as a new array.</summary>
    public float[] GetOutput(int index)
    {
        var r = new float[_program.Outputs[index].Elements];
        GetOutput(index, r);
        return r;
    }

    /// <summary>
    /// Captures the kernel launches into a CUDA graph (after one eager warm-up run by the caller, so
    /// every module is loaded). The graph stays valid for this instance: the arena, weights and
    /// workspace never move. Replaces a previous graph.
    /// </summary>
    public void CaptureGraph(CudaStream stream)
    {
        _graph?.Dispose();
        _graph = null;
        stream.BeginCapture();
        try
        {
            EnqueueKernels(stream, useGraph: false);
        }
        catch
        {
            try { stream.EndCapture().Dispose(); } catch (CudaException) { }
            throw;
        }
        _graph = stream.EndCapture();
    }

    /// <summary>True when a graph has been captured.</summary>
    public bool HasGraph => _graph is not null;

    /// <summary>
    /// Times each step with CUDA events around it (eager launches; the input must be set and the
    /// network run once before). Returns milliseconds per step, medians over <paramref name="repeats"/>.
    /// </summary>
    public IReadOnlyList<(string Step, double Milliseconds)> ProfileSteps(CudaStream stream, int repeats = 10)
    {
        var ctx = _kernels.Context;
        var launches = _program.StepLaunches;
        var names = _program.StepNames;
        var events = Enumerable.Range(0, launches.Length + 1).Select(_ => ctx.CreateEvent()).ToArray();
        try
        {
            var times = new double[launches.Length][];
            for (int s = 0; s < launches.Length; s++) times[s] = new double[repeats];
            for (int r = 0; r < repeats; r++)
            {
                events[0].Record(stream);
                for (int s = 0; s < launches.Length; s++)
                {
                    foreach (var l in launches[s]) _kernels.Launch(l, stream);
                    events[s + 1].Record(stream);
                }
                events[^1].Synchronize();
                for (int s = 0; s < launches.Length; s++) times[s][r] = events[s + 1].ElapsedSince(events[s]);
            }
            return names.Select((st, i) => (st, Median(times[i]))).ToList();
        }
        finally
        {
            foreach (var e in events) e.Dispose();
        }
    }

    /// <summary>Largest |x| of every float or int8 tensor after a run (int8 as code · scale); for calibration from an FP32 instance built without memory reuse.</summary>
    public Dictionary<string, float> MaxAbs()
    {
        var r = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var t in _program.Tensors.Values.Where(t => t.LastStep >= 0))
        {
            var buf = new byte[t.Bytes];
            var handle = GCHandle.Alloc(buf, GCHandleType.Pinned);
            try
            {
                _kernels.Context.Synchronize();
                unsafe
                {
                    CudaCheck.Driver(Native.CuDriver.cuMemcpyDtoH((void*)handle.AddrOfPinnedObject(), t.Pointer, (nuint)t.Bytes));
                }
            }
            finally
            {
                handle.Free();
            }
            float m = 0;
            switch (t.Type)
            {
                case DeviceStoreType.F32: foreach (var v in MemoryMarshal.Cast<byte, float>(buf)) m = MathF.Max(m, MathF.Abs(v)); break;
                case DeviceStoreType.F16: foreach (var v in MemoryMarshal.Cast<byte, Half>(buf)) m = MathF.Max(m, MathF.Abs((float)v)); break;
                default: foreach (var v in MemoryMarshal.Cast<byte, sbyte>(buf)) m = MathF.Max(m, Math.Abs((int)v) * t.Scale); break;
            }
            r[t.Name] = m;
        }
        return r;
    }

    private static double Median(double[] a)
    {
        var s = a.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    public void Dispose()
    {
        _graph?.Dispose();
        _inputStaging.Dispose();
        foreach (var o in _outputStaging) o.Dispose();
        _memory.Dispose();
    }
}

/// <summary>Device memory for a network: allocations of the engine (arena, workspace, weights).</summary>
public interface IDeviceAllocator
{
    /// <summary>SM count (grids and split-K are sized with it).</summary>
    int Multiprocessors { get; }

    /// <summary>New device memory of <paramref name="bytes"/> (contents undefined); its address.</summary>
    ulong Allocate(long bytes);

    /// <summary>New device memory holding a copy of <paramref name="data"/>; its address.</summary>
    ulong Upload<T>(T[] data) where T : unmanaged;
}

/// <summary>An <see cref="IDeviceAllocator"/> on a CUDA context; frees everything it allocated on Dispose.</summary>
public sealed class CudaAllocator : IDeviceAllocator, IDisposable
{
    private readonly CudaContext _context;
    private readonly List<DeviceBuffer> _buffers = new();

    public CudaAllocator(CudaContext context) => _context = context;

    public int Multiprocessors => _context.Device.MultiprocessorCount;

    /// <summary>Bytes allocated so far.</summary>
    public long Bytes => _buffers.Sum(b => b.Bytes);

    public ulong Allocate(long bytes)
    {
        var b = _context.Allocate(Math.Max(bytes, 256));
        _buffers.Add(b);
        return b.Pointer;
    }

    public ulong Upload<T>(T[] data) where T : unmanaged
    {
        var b = _context.Allocate(Math.Max(data.LongLength * Marshal.SizeOf<T>(), 256));
        b.Upload<T>(data);
        _buffers.Add(b);
        return b.Pointer;
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
    }
}

/// <summary>An <see cref="IDeviceAllocator"/> over a check device (the GPU through <see cref="Diagnostics.GpuCheckContext"/>, or the PTX simulator).</summary>
public sealed class CheckDeviceAllocator(Diagnostics.IGpuCheckDevice device) : IDeviceAllocator
{
    public int Multiprocessors => device.Multiprocessors;
    public ulong Allocate(long bytes) => device.Output(Math.Max(bytes, 256), 0xFF);
    public ulong Upload<T>(T[] data) where T : unmanaged => device.Upload(data);
}
