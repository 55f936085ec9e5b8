using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
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
}
