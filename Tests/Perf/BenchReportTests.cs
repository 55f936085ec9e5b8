using System.Text.Json;
using Vgg.Engine.IR;
using Vgg.Engine.Tests.Common;
using Vgg.Perf.Harness;

namespace Vgg.Engine.Tests.Perf;

/// <summary>JSON round trip, console tables, the plot, ONNX Runtime's profile and the reference target.</summary>
public class BenchReportTests
{
    private static BenchReport FakeReport(out FakeClock clock)
    {
        clock = new FakeClock();
        var c = clock;
        var log = new List<string>();
        var o = new BenchOptions
        {
            Model = "fake", BatchSizes = [1, 2], Threads = 1, WarmupRuns = 1, MinRuns = 4, MaxRuns = 4, TimeBudgetSeconds = 0,
            LayerRuns = 2, MeasureCeiling = false, MeasureMemory = false, RatioGoal = 0.8,
        };
        return new BenchRunner(o, clockMs: c.Read).Run([
            new("A", () => new FakeTarget("A", c, 1.5, log, planned: new PlannedMemory(10, 20, 30))),
            new("B", () => new FakeTarget("B", c, 2, log, outputScale: 1.1f), IsBaseline: true)]);
    }

    [Test]
    public void JsonRoundTripKeepsEveryField()
    {
        var r = FakeReport(out _);
        string json = BenchJson.Serialize(r);
        var back = BenchJson.Deserialize(json);
        Assert.That(BenchJson.Serialize(back), Is.EqualTo(json), "serialize → deserialize → serialize is the identity");
        Assert.That(back.Schema, Is.EqualTo("vgg-bench/1"));
        Assert.That(back.Machine.Threads, Is.EqualTo(1));
        Assert.That(back.Machine.CpuModel, Is.Not.Empty);
        Assert.That(back.Machine.DotNet, Does.Contain(".NET"));
        Assert.That(back.Latency.Select(l => (l.Target, l.Batch)), Is.EqualTo(r.Latency.Select(l => (l.Target, l.Batch))));
        Assert.That(back.Latency[0].LatencyMs, Is.EqualTo(r.Latency[0].LatencyMs));
        Assert.That(back.Latency[0].SamplesMs, Is.EqualTo(r.Latency[0].SamplesMs));
        Assert.That(back.Ratios[0].PairedRatio.Median, Is.EqualTo(0.75).Within(1e-12));
        Assert.That(back.Ratios[0].GoalMet, Is.True);
        Assert.That(back.Layers[0].Rows[0].Flops, Is.EqualTo(r.Layers[0].Rows[0].Flops));
        Assert.That(back.Settings.BatchSizes, Is.EqualTo(new[] { 1, 2 }));

        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("schema").GetString(), Is.EqualTo("vgg-bench/1"));
        Assert.That(root.GetProperty("latency")[0].GetProperty("latencyMs").GetProperty("p99").ValueKind, Is.EqualTo(JsonValueKind.Number), "camelCase names as SCHEMA.md documents");
        Assert.That(root.GetProperty("machine").GetProperty("utcDate").GetString(), Does.EndWith("Z"), "UTC date in ISO 8601");
    }

    [Test]
    public void NonFiniteNumbersSurviveTheRoundTrip()
    {
        var r = FakeReport(out _);
        var check = r.Checks[0] with { RelativeL2 = double.NaN, MaxAbsDiff = double.PositiveInfinity };
        var r2 = r with { Checks = [check] };
        var back = BenchJson.Deserialize(BenchJson.Serialize(r2));
        Assert.That(double.IsNaN(back.Checks[0].RelativeL2) && double.IsPositiveInfinity(back.Checks[0].MaxAbsDiff));
    }

    [Test]
    public void OtherSchemasAreRefused()
    {
        var json = BenchJson.Serialize(FakeReport(out _) with { Schema = "vgg-bench/0" });
        var e = Assert.Throws<JsonException>(() => BenchJson.Deserialize(json));
        Assert.That(e!.Message, Does.Contain("vgg-bench/0"));
        Assert.Throws<JsonException>(() => BenchJson.Deserialize("null"));
    }

    [Test]
    public void ConsoleTablesNameEverySection()
    {
        var r = FakeReport(out _);
        var sw = new StringWriter();
        ConsoleReport.Write(ConsoleReport.PlainConsole(sw), r);
        var text = sw.ToString();
        Assert.That(text, Does.Contain("end-to-end latency"));
        Assert.That(text, Does.Contain("time ratio target / baseline"));
        Assert.That(text, Does.Contain("≤ 0.80: met"));
        Assert.That(text, Does.Contain("output agreement"));
        Assert.That(text, Does.Contain("per layer"));
        Assert.That(text, Does.Contain("0.750"), "the median ratio");
        Assert.That(text, Does.Not.Contain("\u001b["), "plain console: no ANSI escapes");
    }

    [Test]
    public void PlotIsAPngOrSaysWhyNot()
    {
        var r = FakeReport(out _);
        var path = Path.Combine(Path.GetTempPath(), $"vgg-bench-plot-{Guid.NewGuid():N}.png");
        try
        {
            bool ok = ThroughputPlot.TryWrite(r, path, out var message);
            if (!ok)
            {
                Assert.That(message, Does.StartWith("no plot:"));
                Assert.Ignore($"ignored: ScottPlot cannot draw on this machine ({message})");
            }
            var head = File.ReadAllBytes(path).Take(8).ToArray();
            Assert.That(head, Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "PNG signature");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void OrtProfileIsParsed()
    {
        // The shape of ONNX Runtime 1.31's profile events (trimmed); two runs of two nodes, the first run skipped.
        const string json = """
        [
          {"cat":"Session","name":"model_run","dur":900,"args":{}},
          {"cat":"Node","name":"conv1_fence_before","dur":0,"args":{"op_name":"Conv"}},
          {"cat":"Node","name":"conv1_kernel_time","dur":500,"args":{"op_name":"Conv","provider":"CPUExecutionProvider",
            "input_type_shape":[{"float":[1,3,8,8]},{"float":[4,3,3,3]},{"float":[4]}],"output_type_shape":[{"float":[1,4,8,8]}]}},
          {"cat":"Node","name":"fc_kernel_time","dur":300,"args":{"op_name":"FusedGemm","provider":"CPUExecutionProvider",
            "input_type_shape":[{"float":[1,256]},{"float":[10]}],"output_type_shape":[{"float":[1,10]}]}},
          {"cat":"Node","name":"conv1_kernel_time","dur":250,"args":{"op_name":"Conv","provider":"CPUExecutionProvider",
            "input_type_shape":[{"float":[1,3,8,8]},{"float":[4,3,3,3]},{"float":[4]}],"output_type_shape":[{"float":[1,4,8,8]}]}},
          {"cat":"Node","name":"fc_kernel_time","dur":150,"args":{"op_name":"FusedGemm","provider":"CPUExecutionProvider",
            "input_type_shape":[{"float":[1,256]},{"float":[10]}],"output_type_shape":[{"float":[1,10]}]}}
        ]
        """;
        var nodes = OrtProfile.Parse(json, skipRuns: 1);
        Assert.That(nodes.Select(n => n.Name), Is.EqualTo(new[] { "conv1", "fc" }));
        Assert.That(nodes[0].Milliseconds, Is.EqualTo(new[] { 0.25 }));
        Assert.That(nodes[1].Milliseconds, Is.EqualTo(new[] { 0.15 }));
        var conv = OpCostRegistry.Default.Cost(nodes[0].ToLayer(0));
        Assert.That(conv.Flops, Is.EqualTo(2L * 4 * 3 * 9 * 64));
        Assert.That(conv.WeightBytes, Is.EqualTo(4L * (4 * 27 + 4)), "inputs after X are weights for Conv");
        var fc = OpCostRegistry.Default.Cost(nodes[1].ToLayer(1));
        Assert.That(fc.Flops, Is.EqualTo(2L * 10 * 256));
        Assert.That(fc.WeightBytes, Is.EqualTo(4L * (10 * 256 + 10)), "the pre-packed B that the profile leaves out is restored");
        Assert.Throws<JsonException>(() => OrtProfile.Parse("{}"));
    }

    [Test]
    public void OrtTargetOnTheSmallCnnGivesLatencyAndLayers()
    {
        var onnx = TestData.Fixture("perf/small_cnn.onnx");
        var o = new BenchOptions
        {
            Model = "small_cnn", BatchSizes = [2], Threads = 1, WarmupRuns = 1, MinRuns = 3, MaxRuns = 3, TimeBudgetSeconds = 0,
            LayerRuns = 2, MeasureCeiling = false, MeasureMemory = false,
        };
        var r = new BenchRunner(o).Run([new("ort", () => new OrtBenchTarget(onnx, 1), IsBaseline: true)]);
        Assert.That(r.Machine.OrtVersion, Is.EqualTo("1.31.1"));
        Assert.That(r.Targets.Single().Description, Does.Contain("1 intra-op thread"));
        Assert.That(r.Latency.Single().LatencyMs.Count, Is.EqualTo(3));
        var rows = r.Layers.Single().Rows;
        // whatever ONNX Runtime fuses, the two convolutions and the linear layer are there. Its NCHWc layout pads the
        // first conv's 8 output channels to its block (16 with AVX-512, 8 with AVX2): counts from its profile are the
        // work it executes, padding included, so that conv counts 2·N·Mpad·3·9·32·32 with Mpad a multiple of 8.
        string all = "rows: " + string.Join("; ", rows.Select(x => $"{x.OpType} {x.Shapes}"));
        var convs = rows.Where(x => x.OpType is "Conv" or "FusedConv").ToArray();
        Assert.That(convs, Has.Length.EqualTo(2), all);
        long perM = 2L * 2 * 3 * 9 * 32 * 32;
        Assert.That(convs[0].Flops % (8 * perM), Is.EqualTo(0), all);
        Assert.That(convs[0].Flops, Is.GreaterThanOrEqualTo(8 * perM), all);
        Assert.That(convs[1].Flops, Is.EqualTo(2L * 2 * 16 * 8 * 9 * 16 * 16), all);
        Assert.That(rows.Where(x => x.OpType.EndsWith("Gemm")).Select(x => x.Flops), Is.EqualTo(new[] { 2L * 2 * 10 * 1024 }));
        Assert.That(rows.All(x => x.MedianMs >= 0));
    }

    [Test]
    public void OrtCudaProviderSaysItIsMissing()
    {
        var onnx = TestData.Fixture("perf/small_cnn.onnx");
        try
        {
            using var t = new OrtBenchTarget(onnx, 1, OrtProvider.Cuda);
            Assert.Ignore("ignored: this ONNX Runtime package has the CUDA execution provider; the missing-provider message is not reachable here");
        }
        catch (NotSupportedException e)
        {
            Assert.That(e.Message, Does.Contain("CUDA execution provider"));
            Assert.That(e.Message, Does.Contain("Microsoft.ML.OnnxRuntime.Gpu"));
        }
    }

    internal static Graph SmallGraph(int seed)
    {
        var rng = new Random(seed);
        Tensor Rand(params int[] s)
        {
            var v = new float[Tensor.Product(s)];
            for (int i = 0; i < v.Length; i++) v[i] = (float)(rng.NextDouble() - 0.5);
            return Tensor.From(v, s);
        }
        var g = new Graph { Name = "small" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, [-1, 3, 8, 8]));
        g.Initializers["w1"] = Rand(4, 3, 3, 3);
        g.Initializers["b1"] = Rand(4);
        g.Initializers["w2"] = Rand(5, 64);
        g.Initializers["b2"] = Rand(5);
        g.Nodes.Add(new Node("conv", ConvOp.Conv2d(3, 1, 1), ["x", "w1", "b1"], ["c"]));
        g.Nodes.Add(new Node("relu", new UnaryOp(UnaryKind.Relu), ["c"], ["r"]));
        g.Nodes.Add(new Node("pool", MaxPoolOp.MaxPool2d(2), ["r"], ["p"]));
        g.Nodes.Add(new Node("flat", new FlattenOp(1), ["p"], ["f"]));
        g.Nodes.Add(new Node("fc", GemmOp.Linear(), ["f", "w2", "b2"], ["y"]));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, [-1, 5]));
        return g;
    }

    [Test]
    public void ReferenceTargetReportsEveryStepThroughTheProfilerHook()
    {
        var o = new BenchOptions
        {
            Model = "small", BatchSizes = [3], Threads = 1, WarmupRuns = 0, MinRuns = 2, MaxRuns = 2, TimeBudgetSeconds = 0,
            LayerRuns = 2, MeasureCeiling = false, MeasureMemory = false,
        };
        var r = new BenchRunner(o).Run([
            new("ref", () => new ReferenceBenchTarget(SmallGraph(3), name: "ref")),
            new("ref-base", () => new ReferenceBenchTarget(SmallGraph(3), name: "ref-base"), IsBaseline: true)]);
        var check = r.Checks.Single();
        Assert.That((check.Elements, check.RelativeL2, check.MaxAbsDiff), Is.EqualTo((15, 0.0, 0.0)), "same graph, same seeded input: identical outputs");
        var rows = r.Layers.Single(t => t.Target == "ref").Rows;
        Assert.That(rows.Select(x => x.Name), Is.EqualTo(new[] { "conv", "relu", "pool", "flat", "fc" }));
        Assert.That(rows[0].Flops, Is.EqualTo(2L * 3 * 4 * 3 * 9 * 64));
        Assert.That(rows[3].Bytes, Is.EqualTo(0), "flatten is a view");
        Assert.That(rows[4].Flops, Is.EqualTo(2L * 3 * 5 * 64));
        Assert.That(rows[0].Shapes, Is.EqualTo("float32[3, 3, 8, 8] float32[4, 3, 3, 3](const) float32[4](const) → float32[3, 4, 8, 8]"));
    }

    [Test]
    public void SessionTargetTimesLayersThroughTheCpuBackendHook()
    {
        var o = new BenchOptions
        {
            Model = "small", BatchSizes = [2], Threads = 1, WarmupRuns = 1, MinRuns = 2, MaxRuns = 2, TimeBudgetSeconds = 0,
            LayerRuns = 3, MeasureCeiling = false, MeasureMemory = false,
        };
        SessionBenchTarget? session = null;
        var r = new BenchRunner(o).Run([
            new("vgg", () => session = new SessionBenchTarget(SmallGraph(4), new Vgg.Engine.Runtime.SessionOptions { Backend = Vgg.Engine.Backends.BackendChoice.Cpu, Threads = 1 }, "small", (8, 8))),
            new("ref", () => new ReferenceBenchTarget(SmallGraph(4), name: "ref"), IsBaseline: true)]);
        var check = r.Checks.Single();
        Assert.That(check.RelativeL2, Is.LessThan(1e-5), "CPU backend vs reference executor on the same graph and input (float32 rounding)");
        var t = r.Layers.Single(x => x.Target == "vgg");
        // the planner fuses conv+relu+pool into one step and flatten is a view (not executed, so not reported)
        Assert.That(t.Rows.Select(x => x.OpType), Is.EqualTo(new[] { "Conv", "Gemm" }), string.Join("; ", t.Rows.Select(x => $"{x.Name} {x.OpType}")));
        Assert.That(t.Rows.All(x => x.Kernel.Length > 0), "the backend reports the algorithm of each step");
        Assert.That(t.Rows[0].Flops, Is.EqualTo(2L * 2 * 4 * 3 * 9 * 64), "conv FLOPs before the fused pool");
        Assert.That(t.Runs, Is.EqualTo(3));
        var planned = session!.PlannedMemory!;
        using var fresh = new Vgg.Engine.Runtime.Session(SmallGraph(4), new Vgg.Engine.Runtime.SessionOptions { Backend = Vgg.Engine.Backends.BackendChoice.Cpu, Threads = 1 });
        var plan = fresh.GetPlan([2, 3, 8, 8]); // the runner disposed its session; the same graph plans the same
        Assert.That(planned with { PreparedWeightBytes = 0 }, Is.EqualTo(new PlannedMemory(plan.ArenaBytes, plan.ConstantBytes, plan.WorkspaceBytes)));
        Assert.That(planned.PreparedWeightBytes, Is.GreaterThan(0), "the CPU backend's packed weights are counted beside the graph's constants");
        Assert.That(planned.TotalBytes, Is.EqualTo(plan.ArenaBytes + plan.ConstantBytes + plan.WorkspaceBytes + planned.PreparedWeightBytes));
        Assert.That(planned.WeightBytes, Is.EqualTo(4L * (4 * 27 + 4 + 5 * 64 + 5)));
    }
}
