using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Models;
using Vgg.Engine.Runtime;
using Vgg.Engine.Tests.Core;

namespace Vgg.Engine.Tests.Onnx;

/// <summary>
/// Ceil-mode pools whose last window PyTorch drops (it would start in the end padding): ONNX Runtime 1.31 keeps it
/// and computes one output more, which broke the exported graph downstream (FRESH_REPORT3 C2). The exporter writes
/// such a window with ceil_mode = 0 and the end pad that gives PyTorch's count; ORT then agrees with the engine.
/// </summary>
public class CeilModeExportTests
{
    private static Model Net(string pool) => ModelFactory.FromSpec(ModelSpec.Parse($$"""
        {"input":{"channels":2,"height":11,"width":5},"layers":[
          {"name":"conv","type":"conv","in":2,"out":3,"kernel":3,"padding":1},{"type":"relu"},
          {{pool}},
          {"type":"flatten"},{"name":"fc","type":"linear","in":54,"out":4}]}
        """), null, new ModelOptions { Seed = 5 });

    [TestCase("""{"type":"maxpool","kernel":2,"stride":2,"padding":1,"ceil_mode":true}""")]
    [TestCase("""{"type":"avgpool","kernel":2,"stride":2,"padding":1,"ceil_mode":true,"count_include_pad":false}""")]
    public void OnnxRuntimeComputesTheEnginesOutputForADroppedLastWindow(string pool)
    {
        // 11×5 with k2 s2 p1 ceil: PyTorch 6×3 (the 7th row window would start at 12 ≥ 11 + 1); ORT's ceil rule gives 7×4.
        var model = Net(pool);
        var rng = new Random(12);
        var x = Tensor.From(Enumerable.Range(0, 2 * 2 * 11 * 5).Select(_ => rng.NextSingle() * 2 - 1).ToArray(), 2, 2, 11, 5);
        using var session = new Session(model, new SessionOptions { Backend = Backends.BackendChoice.Cpu, Threads = 1 });
        var ours = session.Run(x);
        var bytes = OnnxExporter.ExportToBytes(model);
        var ort = OrtReference.Run(bytes, new Dictionary<string, Tensor> { [model.Graph.Inputs[0].Name] = x }).Values.Single();
        Assert.That(ort.Shape, Is.EqualTo(ours.Shape));
        TensorAssert.Close(ours, ort, 1e-5, 1e-6, "engine vs ONNX Runtime on the exported graph");
    }

    [Test]
    public void AnAveragePoolThatCountsPaddingCannotBeRewrittenAndSaysSo()
    {
        var model = Net("""{"type":"avgpool","kernel":2,"stride":2,"padding":1,"ceil_mode":true,"count_include_pad":true}""");
        var e = Assert.Throws<UnsupportedOperatorException>(() => OnnxExporter.ExportToBytes(model))!;
        Assert.That(e.Message, Does.Contain("AveragePool").And.Contain("counts padding"));
    }
}
