using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Tests.Common;
using Vgg.Engine.Tests.Core;

namespace Vgg.Engine.Tests.Onnx;

/// <summary>
/// Real <c>torch.onnx.export</c> output. Our fixtures (Tests/Fixtures/onnx, made by make_onnx_fixtures.py with
/// torch 1.13) must import and reproduce torch's own output; the graphs of the shared onnx-torch-export set
/// (recent torch, no stored outputs) must import and infer the output shapes SOURCES.md section 4 lists.
/// </summary>
[TestFixture]
public class OnnxTorchExportTests
{
    public static readonly string[] SmallVggFiles =
    {
        "smallvgg_opset7.onnx", "smallvgg_opset9.onnx", "smallvgg_opset11.onnx", "smallvgg_opset13.onnx", "smallvgg_opset17.onnx",
        "smallvgg_inputs_opset9.onnx", "smallvgg_folded_opset13.onnx", "smallvgg_external/model.onnx",
    };

    private static Tensor Input => OnnxTensors.ReadTensorFile(TestData.Fixture("onnx/smallvgg_input.pb"));

    private static Tensor TorchOutput => OnnxTensors.ReadTensorFile(TestData.Fixture("onnx/smallvgg_output.pb"));

    /// <summary>
    /// The torch export imports with one runtime input of dynamic batch, its Shape→Gather→Unsqueeze→Concat
    /// chain (<c>x.view(x.size(0), -1)</c>) folded to the constant shape [0, −1], and the reference executor
    /// reproduces torch's log-softmax output within rtol 1e-4 (atol 1e-6), for batch 2 and batch 1.
    /// </summary>
    [TestCaseSource(nameof(SmallVggFiles))]
    public void SmallVgg_Import_MatchesTorch(string file)
    {
        var g = OnnxImporter.Load(TestData.Fixture("onnx/" + file), OnnxImportOptions.Default, out var info);
        TestContext.Out.WriteLine($"{file}: {info}; {g}");
        Assert.That(g.Inputs, Has.Count.EqualTo(1), "runtime inputs (weights listed as inputs are initializers)");
        Assert.That(g.Inputs[0].Name, Is.EqualTo("input"));
        Assert.That(g.Inputs[0].Shape, Is.EqualTo(new[] { -1, 3, 20, 20 }), "dynamic batch (dim_param) → −1");
        Assert.That(g.Nodes.Where(n => n.Op is ShapeOp or GatherOp or UnsqueezeOp or ConcatOp or CastOp).Select(n => n.ToString()), Is.Empty, "shape chain folded");
        var reshape = g.Nodes.Single(n => n.Op is ReshapeOp);
        Assert.That(g.Initializers[reshape.Inputs[1]].ToInt64Array(), Is.EqualTo(new long[] { 0, -1 }), "x.view(x.size(0), -1) → Reshape(x, [0, -1])");
        Assert.That(g.Nodes.Count(n => n.Op is BatchNormOp), Is.EqualTo(2), "BN after ReLU and BN1d stay BatchNormalization (torch folded the conv+BN one)");

        var x = Input;
        var y = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["input"] = x })["output"];
        TensorAssert.Close(TorchOutput, y, 1e-4, 1e-6, $"{file}: reference executor vs torch, batch 2");

        var x1 = FirstSample(x);
        var y1 = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["input"] = x1 })["output"];
        TensorAssert.Close(FirstSample(TorchOutput), y1, 1e-4, 1e-6, $"{file}: reference executor vs torch, batch 1");
    }

    /// <summary>Our export of the imported torch graph runs in ONNX Runtime and gives torch's output (rtol 1e-4).</summary>
    [TestCaseSource(nameof(SmallVggFiles))]
    public void SmallVgg_ImportThenExport_OnnxRuntimeMatchesTorch(string file)
    {
        var g = OnnxImporter.Load(TestData.Fixture("onnx/" + file));
        var y = OrtReference.Run(OnnxExporter.ExportToBytes(g), new Dictionary<string, Tensor> { ["input"] = Input })["output"];
        TensorAssert.Close(TorchOutput, y, 1e-4, 1e-6, $"{file}: ONNX Runtime on our export vs torch");
    }

    [Test]
    public void KeepInitializersAsInputs_WeightsAreInitializersNotInputs()
    {
        var g = OnnxImporter.Load(TestData.Fixture("onnx/smallvgg_inputs_opset9.onnx"));
        Assert.That(g.Inputs.Select(i => i.Name), Is.EqualTo(new[] { "input" }));
        Assert.That(g.Initializers.Keys, Does.Contain("classifier.0.weight"));
    }

    [Test]
    public void ExternalData_IsReadFromBesideTheModel()
    {
        var g = OnnxImporter.Load(TestData.Fixture("onnx/smallvgg_external/model.onnx"));
        var w = g.Initializers["classifier.0.weight"];
        Assert.That(w.Shape, Is.EqualTo(new[] { 16, 200 }));
        var inline = OnnxImporter.Load(TestData.Fixture("onnx/smallvgg_opset13.onnx")).Initializers["classifier.0.weight"];
        Assert.That(w.Bytes.SequenceEqual(inline.Bytes), Is.True, "external bytes equal the inline export's");
    }

    /// <summary>Output shapes of the shared torch exports (SOURCES.md section 4), by the engine's shape inference on the imported graph.</summary>
    public static IEnumerable<TestCaseData> TorchExportShapes()
    {
        yield return new TestCaseData("avg_pool2d_ceil_mode.onnx", new[] { ("avg_pool2d", new[] { 1, 1, 3, 3 }) });
        yield return new TestCaseData("batch_norm.onnx", new[] { ("14", new[] { 1, 5, 2, 2 }) });
        yield return new TestCaseData("conv2d.onnx", new[] { ("3", new[] { 2, 6, 6, 15 }) });
        yield return new TestCaseData("dropout.onnx", new[] { ("3", new[] { 2, 4, 10, 15 }) });
        yield return new TestCaseData("flatten.onnx", new[] { ("1", new[] { 1, 75 }) });
        yield return new TestCaseData("global_avr_pool.onnx", new[] { ("2", new[] { 2, 4, 1 }), ("3", new[] { 3, 10, 1, 1 }) });
        yield return new TestCaseData("linear.onnx", new[] { ("8", new[] { 4, 4 }), ("10", new[] { 2, 6 }), ("13", new[] { 3, 2, 8 }) });
        yield return new TestCaseData("maxpool2d.onnx", new[] { ("1", new[] { 1, 1, 3, 4 }) });
        yield return new TestCaseData("softmax.onnx", new[] { ("1", new[] { 2, 3 }) });
    }

    /// <summary>
    /// Each graph imports, shape inference gives the listed output shapes, and — as these files carry no
    /// expected outputs — the reference executor on seeded random inputs agrees with ONNX Runtime running the
    /// original file (rtol 1e-4, atol 1e-6), output shapes included. dropout.onnx was exported in train mode
    /// (training_mode = true): strict import refuses it, and it imports with TrainingDropoutAsIdentity.
    /// </summary>
    [TestCaseSource(nameof(TorchExportShapes))]
    public void SharedTorchExport_ImportsAndInfersShapes(string file, (string Name, int[] Shape)[] outputs)
    {
        var path = TestData.Require("onnx-torch-export/" + file);
        var options = OnnxImportOptions.Default;
        if (file == "dropout.onnx")
        {
            var e = Assert.Throws<UnsupportedOperatorException>(() => OnnxImporter.Load(path))!;
            Assert.That(e.NodeName, Is.EqualTo("/dropout/Dropout"));
            Assert.That(e.Message, Does.Contain("training_mode is true"));
            options = new OnnxImportOptions { TrainingDropoutAsIdentity = true };
        }
        var g = OnnxImporter.Load(path, options);
        var types = ShapeInference.Infer(g);
        foreach (var (name, shape) in outputs)
        {
            Assert.That(g.Outputs.Select(o => o.Name), Does.Contain(name));
            Assert.That(types[name].Shape, Is.EqualTo(shape), $"{file}: inferred shape of output '{name}'");
        }

        var rng = new Random(4242);
        var feed = new Dictionary<string, Tensor>();
        foreach (var i in g.Inputs)
        {
            var t = new Tensor(i.DType, i.Shape!);
            var s = t.AsSpan<float>();
            for (int k = 0; k < s.Length; k++) s[k] = (float)(rng.NextDouble() * 2 - 1);
            feed[i.Name] = t;
        }
        var ours = ReferenceExecutor.Run(g, feed);
        if (file == "dropout.onnx")
        {
            TensorAssert.Close(feed["input"], ours["3"], 0, 0, "inference dropout is the identity");
            return; // ONNX Runtime runs the train-mode dropout randomly: no reference to compare with
        }
        var ort = OrtReference.Run(File.ReadAllBytes(path), feed);
        foreach (var (name, shape) in outputs)
        {
            Assert.That(ours[name].Shape, Is.EqualTo(shape), $"{file}: executed shape of '{name}'");
            TensorAssert.Close(ort[name], ours[name], 1e-4, 1e-6, $"{file}: output '{name}' vs ONNX Runtime on the original file");
        }
    }

    private static Tensor FirstSample(Tensor t)
    {
        var shape = t.ShapeArray();
        shape[0] = 1;
        var r = new Tensor(t.DType, shape);
        t.Bytes[..(int)r.ByteCount].CopyTo(r.Bytes);
        return r;
    }
}
