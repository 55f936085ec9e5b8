using Google.Protobuf;
using Vgg.Engine.Loader.Onnx.Proto;

namespace Vgg.Engine.Tests.Onnx;

/// <summary>Small helpers that write ONNX ModelProtos by hand, for tests of malformed and unsupported models.</summary>
internal static class OnnxProtoBuilder
{
    public static ModelProto Model(int opset, GraphProto graph, params (string Domain, int Version)[] extraOpsets)
    {
        var m = new ModelProto { IrVersion = 8, ProducerName = "test", Graph = graph };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        foreach (var (d, v) in extraOpsets) m.OpsetImport.Add(new OperatorSetIdProto { Domain = d, Version = v });
        return m;
    }

    public static GraphProto Graph(IEnumerable<ValueInfoProto> inputs, IEnumerable<ValueInfoProto> outputs, IEnumerable<NodeProto> nodes, IEnumerable<TensorProto>? initializers = null)
    {
        var g = new GraphProto { Name = "test_graph" };
        g.Input.AddRange(inputs);
        g.Output.AddRange(outputs);
        g.Node.AddRange(nodes);
        if (initializers is not null) g.Initializer.AddRange(initializers);
        return g;
    }

    public static NodeProto Node(string opType, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = opType, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    public static ValueInfoProto Value(string name, int elemType, params long[] dims)
    {
        var tt = new TypeProto.Types.Tensor { ElemType = elemType, Shape = new TensorShapeProto() };
        foreach (var d in dims)
            tt.Shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "N" } : new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tt } };
    }

    public static ValueInfoProto Float(string name, params long[] dims) => Value(name, 1, dims);

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    public static AttributeProto Str(string name, string v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    public static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    public static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = 1 };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        return t;
    }

    /// <summary>A fresh folder under the test's work directory.</summary>
    public static string TempDir()
    {
        var d = Path.Combine(TestContext.CurrentContext.WorkDirectory, "onnx-tmp", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>Writes the model to model.onnx in a fresh folder and returns the path.</summary>
    public static string Save(ModelProto m, string? dir = null)
    {
        dir ??= TempDir();
        var path = Path.Combine(dir, "model.onnx");
        File.WriteAllBytes(path, m.ToByteArray());
        return path;
    }
}
