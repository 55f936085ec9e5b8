using System.Text;
using Vgg.Engine.IR;

namespace Vgg.Engine.Tests.Core;

/// <summary>
/// A deliberately small reader of ONNX backend test cases (ModelProto, TensorProto) used only to check
/// the reference operators against the ONNX project's own expected outputs, independently of the
/// product's importer (Loader/Onnx). Field numbers are those of onnx.proto. It maps the attributes of
/// the ops the engine implements to op records; any other op becomes <see cref="UnknownOp"/>.
/// </summary>
internal static class MiniOnnx
{
    /// <summary>An op this reader does not map (the case counts as unsupported).</summary>
    public sealed record UnknownOp(string Type) : Op
    {
        public override string OpType => Type;
    }

    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _b;
        private int _p;
        public Reader(ReadOnlySpan<byte> b) { _b = b; _p = 0; }
        public bool End => _p >= _b.Length;

        public ulong Varint()
        {
            ulong r = 0;
            for (int s = 0; ; s += 7)
            {
                byte x = _b[_p++];
                r |= (ulong)(x & 0x7F) << s;
                if (x < 0x80) return r;
            }
        }

        public (int Field, int Wire) Tag()
        {
            var t = Varint();
            return ((int)(t >> 3), (int)(t & 7));
        }

        public ReadOnlySpan<byte> Bytes()
        {
            int n = (int)Varint();
            var s = _b.Slice(_p, n);
            _p += n;
            return s;
        }

        public uint Fixed32() { uint v = BitConverter.ToUInt32(_b.Slice(_p, 4)); _p += 4; return v; }
        public ulong Fixed64() { ulong v = BitConverter.ToUInt64(_b.Slice(_p, 8)); _p += 8; return v; }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _p += 8; break;
                case 2: Bytes(); break;
                case 5: _p += 4; break;
                default: throw new InvalidDataException($"wire type {wire}");
            }
        }
    }

    private static void Varints(ref Reader r, int wire, List<long> into)
    {
        if (wire == 2)
        {
            var rr = new Reader(r.Bytes());
            while (!rr.End) into.Add((long)rr.Varint());
        }
        else into.Add((long)r.Varint());
    }

    private static void Fixed32s(ref Reader r, int wire, List<uint> into)
    {
        if (wire == 2)
        {
            var rr = new Reader(r.Bytes());
            while (!rr.End) into.Add(rr.Fixed32());
        }
        else into.Add(r.Fixed32());
    }

    private static void Fixed64s(ref Reader r, int wire, List<ulong> into)
    {
        if (wire == 2)
        {
            var rr = new Reader(r.Bytes());
            while (!rr.End) into.Add(rr.Fixed64());
        }
        else into.Add(r.Fixed64());
    }

    public static Tensor ReadTensorFile(string path, out string name) => ReadTensor(File.ReadAllBytes(path), out name);

    public static Tensor ReadTensor(ReadOnlySpan<byte> bytes, out string name)
    {
        var r = new Reader(bytes);
        var dims = new List<long>();
        int dt = 0;
        name = "";
        byte[]? raw = null;
        var f32 = new List<uint>();
        var i32 = new List<long>();
        var i64 = new List<long>();
        var f64 = new List<ulong>();
        var u64 = new List<long>();
        while (!r.End)
        {
            var (f, w) = r.Tag();
            switch (f)
            {
                case 1: Varints(ref r, w, dims); break;
                case 2: dt = (int)r.Varint(); break;
                case 4: Fixed32s(ref r, w, f32); break;
                case 5: Varints(ref r, w, i32); break;
                case 7: Varints(ref r, w, i64); break;
                case 8: name = Encoding.UTF8.GetString(r.Bytes()); break;
                case 9: raw = r.Bytes().ToArray(); break;
                case 10: Fixed64s(ref r, w, f64); break;
                case 11: Varints(ref r, w, u64); break;
                default: r.Skip(w); break;
            }
        }
        var dtype = (DType)dt;
        var shape = dims.Select(d => checked((int)d)).ToArray();
        if (raw is not null) return new Tensor(dtype, shape, raw);
        var t = new Tensor(dtype, shape);
        var b = t.Bytes;
        int es = dtype.SizeOf();
        for (int i = 0; i < t.ElementCount; i++)
        {
            var dst = b.Slice(i * es, es);
            switch (dtype)
            {
                case DType.Float32: BitConverter.TryWriteBytes(dst, f32[i]); break;
                case DType.Float64: BitConverter.TryWriteBytes(dst, f64[i]); break;
                case DType.Int64: BitConverter.TryWriteBytes(dst, i64[i]); break;
                case DType.UInt32 or DType.UInt64: BitConverter.TryWriteBytes(dst, (ulong)u64[i]); break;
                default:
                    // int32_data carries int32 and every narrower type (float16/bfloat16 as bit patterns).
                    var v = BitConverter.GetBytes(i32[i]);
                    v.AsSpan(0, es).CopyTo(dst);
                    break;
            }
        }
        return t;
    }

    private sealed class Attr
    {
        public string Name = "";
        public float F;
        public long I;
        public string S = "";
        public Tensor? T;
        public List<long> Ints = new();
        public bool HasI;
    }

    private static Attr ReadAttr(ReadOnlySpan<byte> b)
    {
        var r = new Reader(b);
        var a = new Attr();
        while (!r.End)
        {
            var (f, w) = r.Tag();
            switch (f)
            {
                case 1: a.Name = Encoding.UTF8.GetString(r.Bytes()); break;
                case 2: a.F = BitConverter.UInt32BitsToSingle(r.Fixed32()); break;
                case 3: a.I = (long)r.Varint(); a.HasI = true; break;
                case 4: a.S = Encoding.UTF8.GetString(r.Bytes()); break;
                case 5: a.T = ReadTensor(r.Bytes(), out _); break;
                case 8: Varints(ref r, w, a.Ints); break;
                default: r.Skip(w); break;
            }
        }
        return a;
    }

    private static ValueInfo ReadValueInfo(ReadOnlySpan<byte> b)
    {
        var r = new Reader(b);
        string name = "";
        int elem = 1;
        int[]? shape = null;
        while (!r.End)
        {
            var (f, w) = r.Tag();
            if (f == 1) { name = Encoding.UTF8.GetString(r.Bytes()); continue; }
            if (f != 2) { r.Skip(w); continue; }
            var tr = new Reader(r.Bytes()); // TypeProto
            while (!tr.End)
            {
                var (tf, tw) = tr.Tag();
                if (tf != 1) { tr.Skip(tw); continue; }
                var tt = new Reader(tr.Bytes()); // TypeProto.Tensor
                while (!tt.End)
                {
                    var (xf, xw) = tt.Tag();
                    if (xf == 1) elem = (int)tt.Varint();
                    else if (xf == 2)
                    {
                        var dims = new List<int>();
                        var sr = new Reader(tt.Bytes()); // TensorShapeProto
                        while (!sr.End)
                        {
                            var (sf, sw) = sr.Tag();
                            if (sf != 1) { sr.Skip(sw); continue; }
                            var dr = new Reader(sr.Bytes());
                            int d = -1;
                            while (!dr.End)
                            {
                                var (df, dw) = dr.Tag();
                                if (df == 1) d = (int)dr.Varint(); else dr.Skip(dw);
                            }
                            dims.Add(d);
                        }
                        shape = dims.ToArray();
                    }
                    else tt.Skip(xw);
                }
            }
        }
        return new ValueInfo(name, (DType)elem, shape);
    }

    /// <summary>Reads model.onnx into a graph (default domain only).</summary>
    public static Graph ReadModel(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var r = new Reader(bytes);
        int opset = 1;
        ReadOnlySpan<byte> graphBytes = default;
        while (!r.End)
        {
            var (f, w) = r.Tag();
            if (f == 7) graphBytes = r.Bytes();
            else if (f == 8)
            {
                var o = new Reader(r.Bytes());
                string domain = "";
                long v = 0;
                while (!o.End)
                {
                    var (of, ow) = o.Tag();
                    if (of == 1) domain = Encoding.UTF8.GetString(o.Bytes());
                    else if (of == 2) v = (long)o.Varint();
                    else o.Skip(ow);
                }
                if (domain is "" or "ai.onnx") opset = (int)v;
            }
            else r.Skip(w);
        }
        var g = new Graph { Opset = opset, Name = Path.GetFileName(Path.GetDirectoryName(path)) ?? "model" };
        var gr = new Reader(graphBytes);
        var inputs = new List<ValueInfo>();
        int k = 0;
        while (!gr.End)
        {
            var (f, w) = gr.Tag();
            switch (f)
            {
                case 1: g.Nodes.Add(ReadNode(gr.Bytes(), opset, k++)); break;
                case 5: { var t = ReadTensor(gr.Bytes(), out var n); g.Initializers[n] = t; break; }
                case 11: inputs.Add(ReadValueInfo(gr.Bytes())); break;
                case 12: g.Outputs.Add(ReadValueInfo(gr.Bytes())); break;
                default: gr.Skip(w); break;
            }
        }
        g.Inputs.AddRange(inputs.Where(i => !g.Initializers.ContainsKey(i.Name)));
        return g;
    }

    private static Node ReadNode(ReadOnlySpan<byte> b, int opset, int index)
    {
        var r = new Reader(b);
        var ins = new List<string>();
        var outs = new List<string>();
        string name = "", type = "";
        var attrs = new Dictionary<string, Attr>();
        while (!r.End)
        {
            var (f, w) = r.Tag();
            switch (f)
            {
                case 1: ins.Add(Encoding.UTF8.GetString(r.Bytes())); break;
                case 2: outs.Add(Encoding.UTF8.GetString(r.Bytes())); break;
                case 3: name = Encoding.UTF8.GetString(r.Bytes()); break;
                case 4: type = Encoding.UTF8.GetString(r.Bytes()); break;
                case 5: { var a = ReadAttr(r.Bytes()); attrs[a.Name] = a; break; }
                default: r.Skip(w); break;
            }
        }
        if (name.Length == 0) name = $"{type}_{index}";
        int[] Ints(string n) => attrs.TryGetValue(n, out var a) ? a.Ints.Select(v => (int)v).ToArray() : Array.Empty<int>();
        long I(string n, long d) => attrs.TryGetValue(n, out var a) && a.HasI ? a.I : d;
        float F(string n, float d) => attrs.TryGetValue(n, out var a) ? a.F : d;
        AutoPad Pad() => (attrs.TryGetValue("auto_pad", out var a) ? a.S : "NOTSET") switch
        {
            "SAME_UPPER" => AutoPad.SameUpper,
            "SAME_LOWER" => AutoPad.SameLower,
            "VALID" => AutoPad.Valid,
            _ => AutoPad.NotSet,
        };
        Op op = type switch
        {
            "Conv" => new ConvOp(Ints("kernel_shape"), Ints("strides"), Ints("pads"), Ints("dilations"), (int)I("group", 1), Pad()),
            "MaxPool" => new MaxPoolOp(Ints("kernel_shape"), Ints("strides"), Ints("pads"), Ints("dilations"), I("ceil_mode", 0) != 0, Pad(), (int)I("storage_order", 0)),
            "AveragePool" => new AveragePoolOp(Ints("kernel_shape"), Ints("strides"), Ints("pads"), Ints("dilations"), I("ceil_mode", 0) != 0, I("count_include_pad", 0) != 0, Pad()),
            "GlobalAveragePool" => new GlobalAveragePoolOp(),
            "GlobalMaxPool" => new GlobalMaxPoolOp(),
            "Gemm" => new GemmOp(F("alpha", 1), F("beta", 1), I("transA", 0) != 0, I("transB", 0) != 0),
            "MatMul" => new MatMulOp(),
            "Add" => new BinaryOp(BinaryKind.Add),
            "Sub" => new BinaryOp(BinaryKind.Sub),
            "Mul" => new BinaryOp(BinaryKind.Mul),
            "Div" => new BinaryOp(BinaryKind.Div),
            "Relu" => new UnaryOp(UnaryKind.Relu),
            "Sigmoid" => new UnaryOp(UnaryKind.Sigmoid),
            "Tanh" => new UnaryOp(UnaryKind.Tanh),
            "Neg" => new UnaryOp(UnaryKind.Neg),
            "Flatten" => new FlattenOp((int)I("axis", 1)),
            "Reshape" => new ReshapeOp(I("allowzero", 0) != 0),
            "BatchNormalization" => new BatchNormOp(F("epsilon", 1e-5f)),
            "Dropout" => new DropoutOp(),
            "Identity" => new IdentityOp(),
            "Softmax" => new SoftmaxOp((int)I("axis", opset < 13 ? 1 : -1), opset < 13),
            "LogSoftmax" => new LogSoftmaxOp((int)I("axis", opset < 13 ? 1 : -1), opset < 13),
            "ReduceMean" => new ReduceMeanOp(attrs.ContainsKey("axes") ? Ints("axes") : null, I("keepdims", 1) != 0, I("noop_with_empty_axes", 0) != 0),
            "Cast" => new CastOp((DType)I("to", 1)),
            "QuantizeLinear" => new QuantizeLinearOp((int)I("axis", 1), (int)I("block_size", 0), attrs.ContainsKey("output_dtype") && I("output_dtype", 0) != 0 ? (DType)I("output_dtype", 0) : null),
            "DequantizeLinear" => new DequantizeLinearOp((int)I("axis", 1), (int)I("block_size", 0)),
            "ConstantOfShape" => new ConstantOfShapeOp(attrs.TryGetValue("value", out var v) ? v.T : null),
            "Constant" => new ConstantOp(attrs["value"].T!),
            "Shape" => new ShapeOp((int)I("start", 0), attrs.ContainsKey("end") ? (int)I("end", 0) : null),
            "Gather" => new GatherOp((int)I("axis", 0)),
            "Unsqueeze" => new UnsqueezeOp(attrs.ContainsKey("axes") ? Ints("axes") : null),
            "Squeeze" => new SqueezeOp(attrs.ContainsKey("axes") ? Ints("axes") : null),
            "Concat" => new ConcatOp((int)I("axis", 0)),
            _ => new UnknownOp(type),
        };
        // Dropout before opset 12 has a ratio attribute only; from 12, ratio and training_mode are inputs
        // (the node tests never set training_mode): keep only the data input.
        if (op is DropoutOp) ins = ins.Take(1).ToList();
        return new Node(name, op, ins, outs);
    }
}
