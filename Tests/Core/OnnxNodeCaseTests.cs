using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Runtime;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Core;

/// <summary>
/// The reference executor against the ONNX project's own backend test cases (shared test data,
/// SOURCES.md sections 1 and 2), read with <see cref="MiniOnnx"/>: every case whose operators the engine
/// implements must match the stored outputs with the ONNX test runner's tolerances (rtol 1e-3,
/// atol 1e-7; integers and bools exactly); every other case must fail with UnsupportedOperatorException
/// naming the node, never with a wrong answer.
/// </summary>
public class OnnxNodeCaseTests
{
    /// <summary>Cases whose operators are outside the engine's list (issue 4): they must be reported as unsupported.</summary>
    private static readonly HashSet<string> Unsupported = new(StringComparer.Ordinal)
    {
        "test_convinteger_without_padding", "test_lrn", "test_matmulinteger", "test_qlinearconv",
        "test_qlinearmatmul_2D_int8_float16", "test_qlinearmatmul_2D_int8_float32", "test_qlinearmatmul_2D_uint8_float32",
        "test_qlinearmatmul_3D_int8_float16", "test_qlinearmatmul_3D_uint8_float16", "test_qlinearmatmul_3D_uint8_float32",
        "test_ZeroPad2d",
    };

    public static IEnumerable<TestCaseData> Cases()
    {
        var root = TestData.SharedRoot;
        if (root is null)
        {
            yield return new TestCaseData("(shared test data absent)").SetName("OnnxCase(shared data absent)");
            yield break;
        }
        foreach (var set in new[] { "onnx-node", "onnx-pytorch" })
        {
            var dir = Path.Combine(root, set);
            if (!Directory.Exists(dir)) continue;
            foreach (var c in Directory.GetDirectories(dir).OrderBy(d => d, StringComparer.Ordinal))
                yield return new TestCaseData(Path.Combine(set, Path.GetFileName(c))).SetName($"OnnxCase({set}/{Path.GetFileName(c)})");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void ReferenceMatchesOnnxBackendCase(string relative)
    {
        if (relative.StartsWith('(')) Assert.Ignore("ignored: shared test data not found (../shared/testdata or VGG_TESTDATA)");
        var dir = TestData.Require(relative);
        var name = Path.GetFileName(dir);
        var graph = MiniOnnx.ReadModel(Path.Combine(dir, "model.onnx"));
        foreach (var set in Directory.GetDirectories(dir, "test_data_set_*").OrderBy(d => d, StringComparer.Ordinal))
        {
            var inputs = new Dictionary<string, Tensor>();
            var inputFiles = Directory.GetFiles(set, "input_*.pb").OrderBy(f => f, StringComparer.Ordinal).ToList();
            for (int i = 0; i < inputFiles.Count; i++)
                inputs[graph.Inputs[i].Name] = MiniOnnx.ReadTensorFile(inputFiles[i], out _);
            if (Unsupported.Contains(name))
            {
                var ex = Assert.Throws<UnsupportedOperatorException>(() => ReferenceExecutor.Run(graph, inputs));
                Assert.That(ex!.NodeName, Is.EqualTo(graph.Nodes[0].Name));
                return;
            }
            var outputs = ReferenceExecutor.Run(graph, inputs);
            var outputFiles = Directory.GetFiles(set, "output_*.pb").OrderBy(f => f, StringComparer.Ordinal).ToList();
            Assert.That(outputFiles, Has.Count.EqualTo(graph.Outputs.Count));
            for (int i = 0; i < outputFiles.Count; i++)
            {
                var expected = MiniOnnx.ReadTensorFile(outputFiles[i], out _);
                var o = graph.Outputs[i].Name;
                TensorAssert.Close(expected, outputs[o], 1e-3, 1e-7, $"{name} output '{o}'");
            }
        }
    }

    /// <summary>The same cases through planner + CPU backend (Session): fusion, views, arena and the fast kernels.</summary>
    [TestCaseSource(nameof(Cases))]
    public void CpuSessionMatchesOnnxBackendCase(string relative)
    {
        if (relative.StartsWith('(')) Assert.Ignore("ignored: shared test data not found (../shared/testdata or VGG_TESTDATA)");
        var dir = TestData.Require(relative);
        var name = Path.GetFileName(dir);
        var graph = MiniOnnx.ReadModel(Path.Combine(dir, "model.onnx"));
        var options = new SessionOptions { Backend = Backends.BackendChoice.Cpu, Threads = 2 };
        if (Unsupported.Contains(name))
        {
            var ex = Assert.Throws<UnsupportedOperatorException>(() => new Session(graph, options).Dispose());
            Assert.That(ex!.Message, Does.Contain(graph.Nodes[0].Op.OpType));
            return;
        }
        using var session = new Session(graph, options);
        foreach (var set in Directory.GetDirectories(dir, "test_data_set_*").OrderBy(d => d, StringComparer.Ordinal))
        {
            var inputs = new Dictionary<string, Tensor>();
            var inputFiles = Directory.GetFiles(set, "input_*.pb").OrderBy(f => f, StringComparer.Ordinal).ToList();
            for (int i = 0; i < inputFiles.Count; i++)
                inputs[graph.Inputs[i].Name] = MiniOnnx.ReadTensorFile(inputFiles[i], out _);
            var outputs = session.Run(inputs);
            var outputFiles = Directory.GetFiles(set, "output_*.pb").OrderBy(f => f, StringComparer.Ordinal).ToList();
            for (int i = 0; i < outputFiles.Count; i++)
            {
                var expected = MiniOnnx.ReadTensorFile(outputFiles[i], out _);
                var o = graph.Outputs[i].Name;
                TensorAssert.Close(expected, outputs[o], 1e-3, 1e-7, $"{name} output '{o}' (CPU session)");
            }
        }
    }

    /// <summary>
    /// onnx-models/light_vgg19: a full VGG-19 graph (Caffe2 export, opset 9) whose weights are ConstantOfShape
    /// nodes; folded at load, run on the CPU backend with the ONNX runner's generated input
    /// (arange / size); every output is 0.001 (rtol 1e-3, atol 1e-7). Heavy: 143 M weights, ~20 GFLOP.
    /// </summary>
    [Test]
    public void LightVgg19RunsOnTheCpuBackend()
    {
        var dir = TestData.Require("onnx-models/light_vgg19");
        var graph = MiniOnnx.ReadModel(Path.Combine(dir, "model.onnx"));
        var expected = MiniOnnx.ReadTensorFile(Path.Combine(dir, "output_0.pb"), out _);
        var shape = graph.Inputs[0].Shape!;
        int count = (int)Tensor.Product(shape);
        var x = Tensor.From(Enumerable.Range(0, count).Select(i => (float)i / count).ToArray(), shape);
        using var session = new Session(graph, new SessionOptions { Backend = Backends.BackendChoice.Cpu });
        var y = session.Run(x);
        TensorAssert.Close(expected, y, 1e-3, 1e-7, "light_vgg19 prob_1");
    }

    public static IEnumerable<TestCaseData> TorchExportGraphs()
    {
        var root = TestData.SharedRoot;
        var dir = root is null ? null : Path.Combine(root, "onnx-torch-export");
        if (dir is null || !Directory.Exists(dir))
        {
            yield return new TestCaseData("(absent)").SetName("TorchExport(shared data absent)");
            yield break;
        }
        foreach (var f in Directory.GetFiles(dir, "*.onnx").OrderBy(f => f, StringComparer.Ordinal))
            yield return new TestCaseData(Path.Combine("onnx-torch-export", Path.GetFileName(f))).SetName($"TorchExport({Path.GetFileName(f)})");
    }

    /// <summary>
    /// Graphs written by a recent torch.onnx.export (SOURCES.md section 4; no reference outputs): shape
    /// inference gives the output shapes the exporter declared, and the CPU session agrees with the
    /// reference executor on a seeded input (|diff| ≤ 1e-4·|ref| + 1e-5·max|ref|).
    /// </summary>
    [TestCaseSource(nameof(TorchExportGraphs))]
    public void TorchExportGraphsInferTheirShapesAndRun(string relative)
    {
        if (relative.StartsWith('(')) Assert.Ignore("ignored: shared test data not found (../shared/testdata or VGG_TESTDATA)");
        var graph = MiniOnnx.ReadModel(TestData.Require(relative));
        var types = ShapeInference.Infer(graph);
        foreach (var o in graph.Outputs)
            Assert.That(types[o.Name].Shape, Is.EqualTo(o.Shape), $"{relative}: output '{o.Name}'");
        var rng = new Random(relative.Length);
        var inputs = graph.Inputs.ToDictionary(i => i.Name, i => Planning.PlannerTests.Random(rng, 1f, i.Shape!));
        var expected = ReferenceExecutor.Run(graph, inputs);
        using var session = new Session(graph, new SessionOptions { Backend = Backends.BackendChoice.Cpu, Threads = 2 });
        var actual = session.Run(inputs);
        foreach (var o in graph.Outputs)
        {
            double scale = expected[o.Name].ToFloatArray().Select(Math.Abs).Max();
            TensorAssert.Close(expected[o.Name], actual[o.Name], 1e-4, 1e-5 * scale, $"{relative}: output '{o.Name}'");
        }
    }
}
