using Google.Protobuf;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Loader.Onnx.Proto;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Onnx.OnnxProtoBuilder;

namespace Vgg.Engine.Tests.Onnx;

/// <summary>
/// Files the importer must refuse with a typed error that names the file, the tensor or the node, and what
/// was expected: never a crash of another kind, never a half-loaded graph.
/// </summary>
[TestFixture]
public class OnnxBadInputTests
{
    private static string Fixture13 => TestData.Fixture("onnx/smallvgg_opset13.onnx");

    private static string WriteBytes(byte[] bytes, string name = "model.onnx")
    {
        var p = Path.Combine(TempDir(), name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    /// <summary>A valid file cut short at several points: a parse error or a graph error, naming the file.</summary>
    [TestCase(0.1), TestCase(0.35), TestCase(0.5), TestCase(0.8), TestCase(0.999)]
    public void TruncatedFile_IsAFormatOrGraphError(double keep)
    {
        var bytes = File.ReadAllBytes(Fixture13);
        var path = WriteBytes(bytes[..(int)(bytes.Length * keep)]);
        var e = Assert.Catch<VggEngineException>(() => OnnxImporter.Load(path))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e, Is.InstanceOf<ModelFormatException>().Or.InstanceOf<GraphException>());
        Assert.That(e.Message, Does.Contain(path));
    }

    [Test]
    public void Garbage_IsAFormatError()
    {
        var rng = new Random(7);
        var bytes = new byte[4096];
        rng.NextBytes(bytes);
        var path = WriteBytes(bytes);
        var e = Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.FilePath, Is.EqualTo(path));
    }

    [TestCase("", "empty")]
    [TestCase("<!DOCTYPE html><html><body>Sign in</body></html>", "HTML")]
    [TestCase("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 548000000\n", "Git LFS pointer")]
    public void WrongKindOfFile_SaysWhatItIs(string content, string expected)
    {
        var path = WriteBytes(System.Text.Encoding.ASCII.GetBytes(content));
        var e = Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!;
        Assert.That(e.Message, Does.Contain(expected).And.Contain(path));
    }

    [Test]
    public void MissingFile_IsAFormatError()
    {
        var path = Path.Combine(TempDir(), "nope.onnx");
        var e = Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!;
        Assert.That(e.FilePath, Is.EqualTo(path));
    }

    [Test]
    public void MissingGraph_IsAFormatError()
    {
        var m = new ModelProto { IrVersion = 8 };
        m.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        var path = Save(m);
        var e = Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!;
        Assert.That(e.Key, Is.EqualTo("graph"));
        Assert.That(e.Message, Does.Contain("no graph").And.Contain(path));
    }

    [Test]
    public void UndefinedInput_IsAGraphErrorNamingNodeAndFile()
    {
        var g = Graph(new[] { Float("x", 1, 4) }, new[] { Float("y", 1, 4) },
            new[] { Node("Relu", "relu1", new[] { "x" }, new[] { "r" }), Node("Add", "add1", new[] { "r", "nope" }, new[] { "y" }) });
        var path = Save(Model(17, g));
        var e = Assert.Throws<GraphException>(() => OnnxImporter.Load(path))!;
        Assert.That(e.NodeName, Is.EqualTo("add1"));
        Assert.That(e.Message, Does.Contain("'nope'").And.Contain(path));
    }

    [Test]
    public void ShapesThatDoNotAgree_AreAGraphErrorAtLoad()
    {
        var w = FloatTensor("w", new long[] { 4, 5, 3, 3 }, new float[4 * 5 * 9]);
        var g = Graph(new[] { Float("x", -1, 3, 8, 8) }, new[] { Float("y", -1, 4, 6, 6) },
            new[] { Node("Conv", "conv1", new[] { "x", "w" }, new[] { "y" }, Ints("kernel_shape", 3, 3)) }, new[] { w });
        var path = Save(Model(17, g));
        var e = Assert.Throws<GraphException>(() => OnnxImporter.Load(path))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.NodeName, Is.EqualTo("conv1"));
        Assert.That(e.Message, Does.Contain(path));
    }

    private static UnsupportedOperatorException LoadUnsupported(ModelProto m)
    {
        var path = Save(m);
        var e = Assert.Throws<UnsupportedOperatorException>(() => OnnxImporter.Load(path))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.Message, Does.Contain(path));
        return e;
    }

    [Test]
    public void UnsupportedOperator_NamesNodeOpTypeDomainAndOpset()
    {
        var g = Graph(new[] { Float("x", 1, 3, 4, 4) }, new[] { Float("y", 1, 3, 4, 4) },
            new[] { Node("LRN", "norm1", new[] { "x" }, new[] { "y" }, Int("size", 3)) });
        var e = LoadUnsupported(Model(17, g));
        Assert.That((e.NodeName, e.OpType, e.Domain, e.Opset), Is.EqualTo(("norm1", "LRN", "", 17)));
        Assert.That(e.Message, Does.Contain("ai.onnx::LRN, opset 17"));
    }

    [Test]
    public void UnknownAttribute_IsUnsupportedAndNamed()
    {
        var g = Graph(new[] { Float("x", 1, 4) }, new[] { Float("y", 1, 4) },
            new[] { Node("Relu", "relu1", new[] { "x" }, new[] { "y" }, Int("alpha", 2)) });
        var e = LoadUnsupported(Model(17, g));
        Assert.That(e.NodeName, Is.EqualTo("relu1"));
        Assert.That(e.Detail, Does.Contain("'alpha' = 2"));
    }

    [Test]
    public void UnsupportedAttributeValues_AreUnsupportedAndNamed()
    {
        var w = FloatTensor("w", new long[] { 1, 1, 3, 3 }, Enumerable.Repeat(0.5f, 9).ToArray());
        var conv = Graph(new[] { Float("x", 1, 1, 5, 5) }, new[] { Float("y", 1, 1, 5, 5) },
            new[] { Node("Conv", "conv1", new[] { "x", "w" }, new[] { "y" }, Str("auto_pad", "SAME_MIDDLE")) }, new[] { w });
        Assert.That(LoadUnsupported(Model(17, conv)).Detail, Does.Contain("auto_pad 'SAME_MIDDLE'"));

        var stats = new[] { "s", "b", "m", "v" }.Select(n => FloatTensor(n, new long[] { 2 }, new[] { 1f, 1f })).ToArray();
        var bn = Graph(new[] { Float("x", 1, 2, 3, 3) }, new[] { Float("y", 1, 2, 3, 3) },
            new[] { Node("BatchNormalization", "bn1", new[] { "x", "s", "b", "m", "v" }, new[] { "y" }, Int("training_mode", 1)) }, stats);
        Assert.That(LoadUnsupported(Model(15, bn)).Detail, Does.Contain("training_mode = 1"));

        var cast = Graph(new[] { Float("x", 2) }, new[] { Value("y", 8, 2) },
            new[] { Node("Cast", "cast1", new[] { "x" }, new[] { "y" }, Int("to", 8)) });
        Assert.That(LoadUnsupported(Model(17, cast)).Detail, Does.Contain("STRING"));
    }

    [Test]
    public void UnsupportedDataType_NamesTheNodeThatReadsIt()
    {
        var g = Graph(new[] { Value("x", 14, 2, 2) }, new[] { Value("y", 14, 2, 2) },
            new[] { Node("Identity", "id1", new[] { "x" }, new[] { "y" }) });
        var e = LoadUnsupported(Model(17, g));
        Assert.That(e.NodeName, Is.EqualTo("id1"));
        Assert.That(e.Detail, Does.Contain("COMPLEX64"));

        var s = new TensorProto { Name = "labels", DataType = 8 };
        s.Dims.Add(1);
        s.StringData.Add(ByteString.CopyFromUtf8("cat"));
        var g2 = Graph(new[] { Float("x", 1) }, new[] { Float("y", 1) },
            new[] { Node("Identity", "id2", new[] { "labels" }, new[] { "z" }), Node("Identity", "id3", new[] { "x" }, new[] { "y" }) }, new[] { s });
        var e2 = LoadUnsupported(Model(17, g2));
        Assert.That(e2.NodeName, Is.EqualTo("id2"));
        Assert.That(e2.Detail, Does.Contain("STRING"));
    }

    [Test]
    public void NonDefaultDomain_IsUnsupportedWithTheDomain()
    {
        var g = Graph(new[] { Float("x", 1, 4) }, new[] { Float("y", 1, 4) },
            new[] { new NodeProto { OpType = "Gelu", Name = "gelu1", Domain = "com.microsoft", Input = { "x" }, Output = { "y" } } });
        var e = LoadUnsupported(Model(17, g, ("com.microsoft", 1)));
        Assert.That((e.NodeName, e.OpType, e.Domain, e.Opset), Is.EqualTo(("gelu1", "Gelu", "com.microsoft", 1)));
    }

    [Test]
    public void OpsetNewerThanKnown_IsRefusedByName()
    {
        var g = Graph(new[] { Float("x", 1, 4) }, new[] { Float("y", 1, 4) }, new[] { Node("Relu", "relu1", new[] { "x" }, new[] { "y" }) });
        var e = LoadUnsupported(Model(OnnxOpsets.MaxKnownOpset + 1, g));
        Assert.That(e.Opset, Is.EqualTo(OnnxOpsets.MaxKnownOpset + 1));
        Assert.That(e.Detail, Does.Contain($"opset {OnnxOpsets.MaxKnownOpset + 1}"));
    }

    [Test]
    public void LegacyVersionOneForms_AreRefusedByName()
    {
        // Relu-1 carries 'consumed_inputs'; an opset-1 model of it is refused, naming the attribute.
        var g = Graph(new[] { Float("x", 1, 4) }, new[] { Float("y", 1, 4) },
            new[] { Node("Relu", "relu1", new[] { "x" }, new[] { "y" }, Ints("consumed_inputs", 0)) });
        var e = LoadUnsupported(Model(1, g));
        Assert.That(e.Detail, Does.Contain("Relu-1").And.Contain("consumed_inputs"));
    }

    private static ModelProto ExternalModel(string location, long? length = 16, long offset = 0)
    {
        var t = new TensorProto { Name = "w", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.Add(4);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        if (offset != 0) t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        if (length is not null) t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var g = Graph(new[] { Float("x", 4) }, new[] { Float("y", 4) }, new[] { Node("Add", "add1", new[] { "x", "w" }, new[] { "y" }) }, new[] { t });
        return Model(17, g);
    }

    [Test]
    public void ExternalData_InsideTheFolder_Loads()
    {
        var dir = TempDir();
        File.WriteAllBytes(Path.Combine(dir, "w.bin"), new byte[] { 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 9, 9 });
        var path = Save(ExternalModel("w.bin"), dir);
        var g = OnnxImporter.Load(path);
        Assert.That(g.Initializers["w"].ToFloatArray(), Is.EqualTo(new[] { 0f, 1f, 2f, 3f }));
    }

    [TestCase("../outside.bin", "outside the model's folder")]
    [TestCase("sub/../../outside.bin", "outside the model's folder")]
    [TestCase("/etc/hostname", "absolute path")]
    public void ExternalData_EscapingTheFolder_IsRefused(string location, string expected)
    {
        var parent = TempDir();
        File.WriteAllBytes(Path.Combine(parent, "outside.bin"), new byte[16]);
        var dir = Path.Combine(parent, "model");
        Directory.CreateDirectory(dir);
        var path = Save(ExternalModel(location), dir);
        var e = Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.Key, Is.EqualTo("w"));
        Assert.That(e.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain(expected));
    }

    [Test]
    public void ExternalData_SymlinkLeadingOutside_IsRefused()
    {
        var parent = TempDir();
        var outside = Path.Combine(parent, "secret.bin");
        File.WriteAllBytes(outside, new byte[16]);
        var dir = Path.Combine(parent, "model");
        Directory.CreateDirectory(dir);
        File.CreateSymbolicLink(Path.Combine(dir, "w.bin"), outside);
        var path = Save(ExternalModel("w.bin"), dir);
        var e = Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!;
        Assert.That(e.Message, Does.Contain("symbolic link").And.Contain("outside"));
    }

    [Test]
    public void ExternalData_MissingOrShort_IsRefused()
    {
        var dir = TempDir();
        var path = Save(ExternalModel("absent.bin"), dir);
        Assert.That(Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!.Message, Does.Contain("missing"));

        File.WriteAllBytes(Path.Combine(dir, "short.bin"), new byte[10]);
        path = Save(ExternalModel("short.bin", length: null), dir);
        Assert.That(Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!.Message, Does.Contain("10 bytes"));

        path = Save(ExternalModel("short.bin", length: 12), dir);
        Assert.That(Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!.Message, Does.Contain("length is 12 bytes"));
    }

    [Test]
    public void RawDataOfTheWrongSize_NamesTheTensor()
    {
        var t = new TensorProto { Name = "w", DataType = 1, RawData = ByteString.CopyFrom(new byte[12]) };
        t.Dims.Add(4);
        var g = Graph(new[] { Float("x", 4) }, new[] { Float("y", 4) }, new[] { Node("Add", "add1", new[] { "x", "w" }, new[] { "y" }) }, new[] { t });
        var path = Save(Model(17, g));
        var e = Assert.Throws<ModelFormatException>(() => OnnxImporter.Load(path))!;
        Assert.That(e.Key, Is.EqualTo("w"));
        Assert.That(e.Message, Does.Contain("raw_data holds 12 bytes").And.Contain("needs 16"));
    }

    [Test]
    public void TensorFile_OfAnotherKind_IsAFormatError()
    {
        var path = WriteBytes(new byte[] { 0xFF, 0xFF, 0xFF }, "input_0.pb");
        var e = Assert.Throws<ModelFormatException>(() => OnnxTensors.ReadTensorFile(path))!;
        Assert.That(e.FilePath, Is.EqualTo(path));
    }
}
