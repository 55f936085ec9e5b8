using System.Text;

namespace Vgg.Perf.Kernels;

/// <summary>
/// A minimal protobuf writer for ONNX ModelProto bytes, enough to build the benchmark graphs
/// (Conv, Relu, MaxPool, Flatten, Gemm) in memory with FP32 initializers so ONNX Runtime can
/// pre-pack its weights exactly as it does for a real model file. Field numbers are those of
/// onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
/// ValueInfoProto, TypeProto, TensorShapeProto). Not a general ONNX library: the engine's
/// importer/exporter lives in Loader/.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly List<byte[]> _nodes = new();
    private readonly List<byte[]> _initializers = new();
    private readonly List<byte[]> _inputs = new();
    private readonly List<byte[]> _outputs = new();

    public void Input(string name, params long[] dims) => _inputs.Add(ValueInfo(name, dims));
    public void Output(string name, params long[] dims) => _outputs.Add(ValueInfo(name, dims));

    /// <summary>FP32 initializer stored as raw_data (little endian).</summary>
    public void Initializer(string name, ReadOnlySpan<float> data, params long[] dims)
    {
        var w = new ProtoWriter();
        foreach (var d in dims) w.Int(1, d);           // dims
        w.Int(2, 1);                                    // data_type = FLOAT
        w.String(8, name);                              // name
        var raw = new byte[data.Length * 4];
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(data).CopyTo(raw);
        w.Bytes(9, raw);                                // raw_data
        _initializers.Add(w.ToArray());
    }

    public void Node(string opType, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes)
    {
        var w = new ProtoWriter();
        foreach (var i in inputs) w.String(1, i);
        foreach (var o in outputs) w.String(2, o);
        w.String(3, outputs[0] + "_node");
        w.String(4, opType);
        foreach (var (name, value) in attributes)
        {
            var a = new ProtoWriter();
            a.String(1, name);
            switch (value)
            {
                case long[] ints:
                    foreach (var v in ints) a.Int(8, v);
                    a.Int(20, 7); // INTS
                    break;
                case long l:
                    a.Int(3, l);
                    a.Int(20, 2); // INT
                    break;
                case float f:
                    a.Fixed32(2, BitConverter.SingleToInt32Bits(f));
                    a.Int(20, 1); // FLOAT
                    break;
                default:
                    throw new ArgumentException($"attribute {name}: unsupported type {value.GetType()}");
            }
            w.Bytes(5, a.ToArray());
        }
        _nodes.Add(w.ToArray());
    }

    public byte[] Build(int opset = 17)
    {
        var g = new ProtoWriter();
        foreach (var n in _nodes) g.Bytes(1, n);
        g.String(2, "bench");
        foreach (var t in _initializers) g.Bytes(5, t);
        foreach (var i in _inputs) g.Bytes(11, i);
        foreach (var o in _outputs) g.Bytes(12, o);
        var m = new ProtoWriter();
        m.Int(1, 8);                                   // ir_version
        m.String(2, "Vgg.Perf.Kernels");               // producer_name
        m.Bytes(7, g.ToArray());                       // graph
        var op = new ProtoWriter();
        op.String(1, "");
        op.Int(2, opset);
        m.Bytes(8, op.ToArray());                      // opset_import
        return m.ToArray();
    }

    private static byte[] ValueInfo(string name, long[] dims)
    {
        var shape = new ProtoWriter();
        foreach (var d in dims)
        {
            var dim = new ProtoWriter();
            dim.Int(1, d);
            shape.Bytes(1, dim.ToArray());
        }
        var tensor = new ProtoWriter();
        tensor.Int(1, 1); // elem_type FLOAT
        tensor.Bytes(2, shape.ToArray());
        var type = new ProtoWriter();
        type.Bytes(1, tensor.ToArray());
        var vi = new ProtoWriter();
        vi.String(1, name);
        vi.Bytes(2, type.ToArray());
        return vi.ToArray();
    }

    private sealed class ProtoWriter
    {
        private readonly MemoryStream _s = new();
        private void Varint(ulong v)
        {
            while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _s.WriteByte((byte)v);
        }
        private void Tag(int field, int wire) => Varint((ulong)((field << 3) | wire));
        public void Int(int field, long v) { Tag(field, 0); Varint((ulong)v); }
        public void Fixed32(int field, int v) { Tag(field, 5); Span<byte> b = stackalloc byte[4]; BitConverter.TryWriteBytes(b, v); _s.Write(b); }
        public void Bytes(int field, byte[] b) { Tag(field, 2); Varint((ulong)b.Length); _s.Write(b); }
        public void String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));
        public byte[] ToArray() => _s.ToArray();
    }
}
