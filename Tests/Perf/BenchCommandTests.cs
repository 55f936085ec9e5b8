using Vgg.Engine.Tests.Common;
using Vgg.Perf.Harness;
using Vgg.Perf.Harness.Micro;

namespace Vgg.Engine.Tests.Perf;

/// <summary>`vgg bench` option parsing and one tiny end-to-end run on ONNX Runtime; the micro-benchmark work column.</summary>
public class BenchCommandTests
{
    [Test]
    public void OptionsAreParsed()
    {
        var c = BenchCommand.Parse(["--arch", "vgg16", "--onnx", "m.onnx", "--batch", "1,8", "--threads", "2", "--reps", "7", "--warmup", "1",
            "--order", "abab", "--mode", "both", "--goal", "0.8", "--layers", "0", "--no-ceiling", "--json", "r.json", "--plot", "p.png", "--image-shape", "3,224,224"]);
        var o = c.Options;
        Assert.Multiple(() =>
        {
            Assert.That(c.Arch, Is.EqualTo("vgg16"));
            Assert.That(c.OnnxPath, Is.EqualTo("m.onnx"));
            Assert.That(o.Model, Is.EqualTo("vgg16"));
            Assert.That(o.BatchSizes, Is.EqualTo(new[] { 1, 8 }));
            Assert.That(o.Threads, Is.EqualTo(2));
            Assert.That((o.MinRuns, o.MaxRuns, o.WarmupRuns, o.LayerRuns), Is.EqualTo((7, 7, 1, 0)));
            Assert.That(o.Order, Is.EqualTo(InterleaveOrder.ABAB));
            Assert.That(o.Modes, Is.EqualTo(new[] { BenchMode.Eager, BenchMode.GraphReplay }));
            Assert.That(o.RatioGoal, Is.EqualTo(0.8));
            Assert.That(o.MeasureCeiling, Is.False);
            Assert.That(o.MeasureMemory, Is.True);
            Assert.That((c.JsonPath, c.PlotPath), Is.EqualTo(("r.json", "p.png")));
            Assert.That(c.ImageShape, Is.EqualTo(new[] { 3, 224, 224 }));
        });
        var m = BenchCommand.Parse(["--micro", "--quick", "--filter", "*Conv*"]);
        Assert.That((m.Micro, m.MicroQuick), Is.EqualTo((true, true)));
        Assert.That(m.MicroArgs, Is.EqualTo(new[] { "--filter", "*Conv*" }));
    }

    [TestCase(new[] { "--batch", "0" }, "batch")]
    [TestCase(new[] { "--batch", "x" }, "--batch")]
    [TestCase(new[] { "--threads" }, "--threads needs a value")]
    [TestCase(new[] { "--order", "aabb" }, "--order")]
    [TestCase(new[] { "--mode", "fast" }, "--mode")]
    [TestCase(new[] { "--frobnicate" }, "unknown option '--frobnicate'")]
    [TestCase(new[] { "--no-ours", "--no-ort" }, "nothing to time")]
    [TestCase(new[] { "--no-ours" }, "--onnx")]
    [TestCase(new[] { "--image-shape", "3,224" }, "C,H,W")]
    [TestCase(new[] { "--reps", "5", "--min-reps", "2" }, "--reps")]
    public void BadOptionsAreNamed(string[] args, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => BenchCommand.Parse(args));
        Assert.That(e!.Message, Does.Contain(expected));
        var err = new StringWriter();
        Assert.That(BenchCommand.Run(args, new StringWriter(), err), Is.EqualTo(2));
        Assert.That(err.ToString(), Does.Contain("usage: vgg bench"));
    }

    [Test]
    public void WithoutAModelOursIsAClearUsageError()
    {
        var err = new StringWriter();
        Assert.That(BenchCommand.Run(["--batch", "1"], new StringWriter(), err), Is.EqualTo(2));
        Assert.That(err.ToString(), Does.Contain("our engine needs a model"));
        Assert.That(err.ToString(), Does.Contain("--no-ours"));
    }

    private static BenchReport RunToJson(params string[] args)
    {
        var dir = Directory.CreateTempSubdirectory("vgg-bench-cmd-");
        try
        {
            string json = Path.Combine(dir.FullName, "r.json");
            var stderr = new StringWriter();
            int rc = BenchCommand.Run([.. args, "--threads", "1", "--reps", "2", "--warmup", "1", "--layers", "1", "--no-ceiling", "--no-memory", "--json", json], new StringWriter(), stderr);
            Assert.That(rc, Is.EqualTo(0), stderr.ToString());
            return BenchJson.Deserialize(File.ReadAllText(json));
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Test]
    public void OursAndOrtOnTheSameOnnxFile()
    {
        var r = RunToJson("--onnx", TestData.Fixture("perf/small_cnn.onnx"), "--batch", "2");
        Assert.That(r.Targets.Select(t => (t.Name, t.IsBaseline)), Is.EqualTo(new[] { ("vgg", false), ("ort", true) }));
        Assert.That(r.Targets[0].Description, Does.Contain("small_cnn.onnx"));
        Assert.That(r.Checks.Single().RelativeL2, Is.LessThan(1e-5), "our CPU session on the imported graph vs ONNX Runtime on the file");
        Assert.That(r.Ratios.Single().Rounds, Is.EqualTo(2));
        Assert.That(r.Layers.Select(l => l.Target), Is.EquivalentTo(new[] { "vgg", "ort" }));
    }

    [Test]
    public void WithoutAnOnnxFileOrtRunsOurExportOfTheSameWeights()
    {
        var spec = Path.Combine(TestData.RepoRoot, "models", "tinyvgg.json");
        var r = RunToJson("--spec", spec, "--weights-seed", "5", "--batch", "1");
        Assert.That(r.Targets[1].Description, Does.Contain("vgg-bench-"), "ONNX Runtime ran the exported temp file");
        Assert.That(r.Checks.Single().RelativeL2, Is.LessThan(1e-5), "same seeded weights through OnnxExporter");
    }

    [Test]
    public void OrtAloneEndToEndWritesJson()
    {
        var dir = Directory.CreateTempSubdirectory("vgg-bench-cmd-");
        try
        {
            string json = Path.Combine(dir.FullName, "r.json"), png = Path.Combine(dir.FullName, "p.png");
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int rc = BenchCommand.Run(["--no-ours", "--onnx", TestData.Fixture("perf/small_cnn.onnx"), "--batch", "1,2", "--threads", "1", "--reps", "3",
                "--warmup", "1", "--layers", "1", "--no-ceiling", "--no-memory", "--json", json, "--plot", png], stdout, stderr);
            Assert.That(rc, Is.EqualTo(0), stderr.ToString());
            var r = BenchJson.Deserialize(File.ReadAllText(json));
            Assert.That(r.Latency.Select(l => l.Batch), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(r.Settings.Model, Is.EqualTo("small_cnn.onnx"));
            Assert.That(stdout.ToString(), Does.Contain("end-to-end latency"));
            Assert.That(stderr.ToString(), Does.Contain("plot written").Or.Contain("no plot:"));
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Test]
    public void MicroBenchmarkWorkComesFromTheRegistry()
    {
        var conv = MicroBench.WorkOf(typeof(ReferenceOpBenchmarks), [("Op", "conv3x3"), ("Channels", 32), ("Size", 28)]);
        Assert.That(conv!.Value.Flops, Is.EqualTo(2L * 32 * 32 * 9 * 28 * 28));
        Assert.That(conv.Value.Bytes, Is.EqualTo(4L * (32 * 28 * 28 + 32 * 32 * 9 + 32 + 32 * 28 * 28)));
        var fc = MicroBench.WorkOf(typeof(ReferenceOpBenchmarks), [("Op", "linear"), ("Channels", 4), ("Size", 8)]);
        Assert.That(fc!.Value.Flops, Is.EqualTo(2L * 256 * 4 * 8 * 8));
        Assert.That(MicroBench.WorkOf(typeof(string), []), Is.Null, "a class that is not IOpWork has no rates");
    }
}
