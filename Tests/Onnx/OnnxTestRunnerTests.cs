using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Onnx.OnnxProtoBuilder;

namespace Vgg.Engine.Tests.Onnx;

/// <summary>The test-case runner itself: it must catch wrong answers, name where, and classify unsupported cases.</summary>
[TestFixture]
public class OnnxTestRunnerTests
{
    private static IReadOnlyDictionary<string, Tensor> Reference(Graph g, IReadOnlyDictionary<string, Tensor> i) => ReferenceExecutor.Run(g, i);

    /// <summary>An executor that perturbs one element of every output: the runner must fail the case and name the element.</summary>
    private static OnnxGraphExecutor Perturbed(long index, double delta) => (g, inputs) =>
    {
        var outs = ReferenceExecutor.Run(g, inputs);
        foreach (var t in outs.Values)
        {
            if (t.DType == DType.Float32) t.AsSpan<float>()[(int)index] += (float)delta;
            else if (t.DType == DType.UInt8) t.AsSpan<byte>()[(int)index] += (byte)delta;
        }
        return outs;
    };

    [Test]
    public void WrongFloatAnswer_FailsWithWorstIndexAndValues()
    {
        var dir = TestData.Require("onnx-node/test_relu");
        var ok = new OnnxTestRunner(Reference).RunCase(dir);
        Assert.That(ok.Outcome, Is.EqualTo(OnnxCaseOutcome.Passed), ok.Line);
        var bad = new OnnxTestRunner(Perturbed(27, 0.01)).RunCase(dir);
        TestContext.Out.WriteLine(bad.Line);
        Assert.That(bad.Outcome, Is.EqualTo(OnnxCaseOutcome.Failed));
        Assert.That(bad.Message, Does.Contain("output 'y'").And.Contain("1 of 60 elements").And.Contain("worst at [1, 1, 2] (flat 27)"));
    }

    [Test]
    public void OffByOneInteger_Fails()
    {
        var bad = new OnnxTestRunner(Perturbed(5, 1)).RunCase(TestData.Require("onnx-node/test_add_uint8"));
        Assert.That(bad.Outcome, Is.EqualTo(OnnxCaseOutcome.Failed), bad.Line);
        Assert.That(bad.Message, Does.Contain("exact"));
    }

    [Test]
    public void WiderToleranceOverride_IsAppliedAndReported()
    {
        var runner = new OnnxTestRunner(Perturbed(27, 1e-3));
        Assert.That(runner.RunCase(TestData.Require("onnx-node/test_sigmoid")).Outcome, Is.EqualTo(OnnxCaseOutcome.Failed));
        runner.ToleranceOverrides["test_sigmoid"] = new OnnxTolerance(1e-2, 1e-3, "test of the override");
        var r = runner.RunCase(TestData.Require("onnx-node/test_sigmoid"));
        Assert.That(r.Outcome, Is.EqualTo(OnnxCaseOutcome.Passed), r.Line);
        Assert.That(r.Message, Does.Contain("test of the override"));
    }

    [Test]
    public void UnsupportedCase_IsUnsupportedNotFailed_AndSummaryCounts()
    {
        var runner = new OnnxTestRunner(Reference);
        var report = runner.Run(new[] { TestData.Require("onnx-node/test_lrn"), TestData.Require("onnx-node/test_relu") });
        Assert.That(report.Cases.Select(c => c.Outcome), Is.EqualTo(new[] { OnnxCaseOutcome.Unsupported, OnnxCaseOutcome.Passed }));
        Assert.That(report.Cases[0].Line, Does.StartWith("UNSUPPORTED test_lrn: node 'LRN_0' (ai.onnx::LRN, opset 13)"));
        Assert.That(report.SummaryLine, Is.EqualTo("onnx-test: 1 passed, 0 failed, 1 unsupported (2 cases)"));
    }

    [Test]
    public void ExecutorErrors_AreFailuresWithTheReason()
    {
        OnnxGraphExecutor throwing = (_, _) => throw new InvalidOperationException("kernel exploded");
        var r = new OnnxTestRunner(throwing).RunCase(TestData.Require("onnx-node/test_relu"));
        Assert.That(r.Outcome, Is.EqualTo(OnnxCaseOutcome.Failed));
        Assert.That(r.Message, Does.Contain("kernel exploded"));
        OnnxGraphExecutor empty = (_, _) => new Dictionary<string, Tensor>();
        var r2 = new OnnxTestRunner(empty).RunCase(TestData.Require("onnx-node/test_relu"));
        Assert.That(r2.Message, Does.Contain("returned no such value"));
    }

    /// <summary>A light-model folder (no data sets): the input is generated as arange(n)/n in float32, as ONNX's runner does.</summary>
    [Test]
    public void LightModelFolder_UsesTheGeneratedInput()
    {
        var dir = TempDir();
        var g = Graph(new[] { Float("data", 1, 2, 3) }, new[] { Float("out", 1, 2, 3) }, new[] { Node("Identity", "id", new[] { "data" }, new[] { "out" }) });
        Save(Model(13, g), dir);
        var expected = Tensor.From(Enumerable.Range(0, 6).Select(i => (float)(i / 6.0)).ToArray(), 1, 2, 3);
        OnnxTensors.WriteTensorFile(Path.Combine(dir, "output_0.pb"), expected);
        var r = new OnnxTestRunner(Reference).RunCase(dir);
        Assert.That(r.Outcome, Is.EqualTo(OnnxCaseOutcome.Passed), r.Line);
        expected.AsSpan<float>()[1] = 0.5f;
        OnnxTensors.WriteTensorFile(Path.Combine(dir, "output_0.pb"), expected);
        Assert.That(new OnnxTestRunner(Reference).RunCase(dir).Outcome, Is.EqualTo(OnnxCaseOutcome.Failed));
    }

    [Test]
    public void FindCases_AcceptsACaseOrAFolderOfCases()
    {
        Assert.That(OnnxTestRunner.FindCases(TestData.Require("onnx-node/test_add")), Has.Count.EqualTo(1));
        Assert.That(OnnxTestRunner.FindCases(TestData.Require("onnx-pytorch")), Has.Count.EqualTo(25));
    }

    [Test]
    public void Comparison_Rules()
    {
        var e = Tensor.From(new[] { 1f, float.NaN, float.PositiveInfinity, 100f });
        Assert.That(TensorComparison.Compare(e, Tensor.From(new[] { 1f, float.NaN, float.PositiveInfinity, 100.05f }), 1e-3, 1e-7).Passed, Is.True, "NaN = NaN, inf = inf, within rtol");
        Assert.That(TensorComparison.Compare(e, Tensor.From(new[] { 1f, 0f, float.PositiveInfinity, 100f }), 1e-3, 1e-7).Passed, Is.False, "NaN vs number");
        Assert.That(TensorComparison.Compare(e, Tensor.From(new[] { 1f, float.NaN, float.NegativeInfinity, 100f }), 1e-3, 1e-7).Passed, Is.False, "inf sign");
        Assert.That(TensorComparison.Compare(e, Tensor.From(new[] { 1f, float.NaN, float.PositiveInfinity, 100.2f }), 1e-3, 1e-7).Passed, Is.False, "outside rtol");
        var c = TensorComparison.Compare(Tensor.From(new long[] { 1, 2, 3 }), Tensor.From(new long[] { 1, 2, 4 }), 1, 1);
        Assert.That((c.Passed, c.WorstIndex), Is.EqualTo((false, 2L)), "integers exact whatever the tolerance");
        Assert.That(TensorComparison.Compare(Tensor.From(new[] { 1f, 2f }), Tensor.From(new[] { 1f, 2f, 3f }), 1, 1).Summary, Does.Contain("shape"));
        Assert.That(TensorComparison.Compare(Tensor.From(new[] { 1f }), Tensor.From(new[] { 1.0 }), 1, 1).Summary, Does.Contain("dtype"));
    }
}
