using Vgg.Cli;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Cli.CliRunner;

namespace Vgg.Engine.Tests.Cli;

/// <summary>
/// Findings of a fresh-user trial (usage mistakes and hostile values on the command line): each gives a usage error or
/// a typed error with exit code 1, never a crash, a stack trace, a destroyed input or a silent meaningless answer.
/// </summary>
public class RobustnessTests
{
    private static string Shapes => Repo("samples/shapes.jpg");

    private static void AssertNoStackTrace(CliResult r)
    {
        Assert.That(r.Err, Does.Not.Contain("   at ").And.Not.Contain("Unhandled exception"), r.ToString());
    }

    [TestCase("classify", "--arch", "vgg11", "--seed", "1", "--top", "abc", "IMG")]
    [TestCase("classify", "--arch", "vgg11", "--seed", "1", "--top", "2.5", "IMG")]
    [TestCase("classify", "--arch", "vgg11", "--seed", "1", "--top", "99999999999", "IMG")]
    [TestCase("classify", "--arch", "vgg11", "--seed", "1", "--batch-size", "x", "IMG")]
    [TestCase("classify", "--arch", "vgg11", "--seed", "1", "--threads", "x", "IMG")]
    [TestCase("classify", "--arch", "vgg11", "--seed", "x", "IMG")]
    [TestCase("classify", "--arch", "vgg11", "--seed", "1", "--num-classes", "x", "IMG")]
    [TestCase("classify", "--arch", "vgg11", "--seed", "1", "--input-size", "a", "b", "IMG")]
    [TestCase("plan", "--arch", "vgg11", "--seed", "1", "--batch", "x")]
    [TestCase("export", "--arch", "vgg11", "--seed", "1", "--onnx", "OUT", "--opset", "x")]
    [TestCase("calibrate", "--arch", "vgg11", "--seed", "1", "--output", "OUT", "--percentile", "x", "IMG")]
    public void AValueThatIsNotANumberIsAUsageError(params string[] args)
    {
        using var tmp = new TempDir();
        var a = args.Select(x => x == "IMG" ? Shapes : x == "OUT" ? tmp.File("out") : x).ToArray();
        var r = Run(a);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain("Cannot parse argument"), r.ToString());
        AssertNoStackTrace(r);
        Assert.That(File.Exists(tmp.File("out")), Is.False, "nothing written");
    }

    [Test]
    public void AnInputSizeOverThePipelinesPixelLimitIsAUsageError()
    {
        var r = Run("classify", "--arch", "vgg11", "--seed", "1", "--input-size", "100000", "100000", Shapes);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain("--input-size 100000 100000 is too large"));
        Assert.That(r.Err, Does.Not.Contain("could not be read"), "the option is the cause, not the image");
    }

    [Test]
    public void ExportRefusesToOverwriteItsOwnWeightsFile()
    {
        using var tmp = new TempDir();
        var weights = tmp.File("m.pth");
        File.Copy(TestData.Fixture("models/numeric/vgg11bn_tiny_dp_fp16.pth"), weights);
        var before = File.ReadAllBytes(weights);

        var r = Run("export", "--onnx", weights, "--weights", weights);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain("is the same file as --weights"));
        Assert.That(File.ReadAllBytes(weights), Is.EqualTo(before), "the checkpoint is untouched");

        // the same file through a relative path and through a symbolic link
        var link = tmp.File("link.onnx");
        File.CreateSymbolicLink(link, weights);
        var viaLink = Run("export", "--onnx", link, "--weights", Path.Combine(tmp.Path, ".", "m.pth"));
        Assert.That(viaLink.Code, Is.EqualTo(ExitCodes.UsageError), viaLink.ToString());
        Assert.That(File.ReadAllBytes(weights), Is.EqualTo(before));
    }

    [Test]
    public void RunRefusesToOverwriteItsInput()
    {
        using var tmp = new TempDir();
        var x = tmp.File("x.npy");
        var rng = new Random(5);
        Npy.Write(x, Tensor.FromSpan<float>(Enumerable.Range(0, 28 * 28).Select(_ => rng.NextSingle()).ToArray(), 1, 1, 28, 28));
        var before = File.ReadAllBytes(x);
        var r = Run("run", "--spec", Repo("models/mnist-cnn.json"), "--seed", "1", "--input", x, "--output", x);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain("--output").And.Contain("same file as --input"));
        Assert.That(File.ReadAllBytes(x), Is.EqualTo(before));
    }

    [Test]
    public void RunAndPlanTakeAnOnnxModelOfAnyInputWithoutASpec()
    {
        // A 1-channel ONNX model: classify needs its preprocessing (a spec); run takes raw tensors and needs none.
        using var tmp = new TempDir();
        var onnx = tmp.File("mnist.onnx");
        var e = Run("export", "--onnx", onnx, "--spec", Repo("models/mnist-cnn.json"), "--seed", "2");
        Assert.That(e.Code, Is.EqualTo(ExitCodes.Ok), e.ToString());
        var rng = new Random(6);
        var x = Tensor.FromSpan<float>(Enumerable.Range(0, 2 * 28 * 28).Select(_ => rng.NextSingle()).ToArray(), 2, 1, 28, 28);
        Npy.Write(tmp.File("x.npy"), x);

        var r = Run("run", "--weights", onnx, "--input", tmp.File("x.npy"), "--output", tmp.File("y.npy"));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        Assert.That(Npy.Read(tmp.File("y.npy")).Shape, Is.EqualTo(new[] { 2, 10 }));

        var plan = Run("plan", "--weights", onnx);
        Assert.That(plan.Code, Is.EqualTo(ExitCodes.Ok), plan.ToString());

        var classify = Run("classify", "--weights", onnx, Shapes);
        Assert.That(classify.Code, Is.EqualTo(ExitCodes.ModelOrInputError), "classify still needs the preprocessing");
        Assert.That(classify.Err, Does.Contain("--spec"));
    }

    [Test]
    public void NonFiniteWeightsAreReportedNotRankedSilently()
    {
        var spec = Repo("models/mnist-cnn.json");
        var model = ModelFactory.FromSpec(spec, null, new ModelOptions { Seed = 3 });
        var tensors = model.Network!.Parameters.ToDictionary(p => p.Key, p => model.Graph.Initializers[p.Key].Clone());
        tensors["fc2.bias"].AsSpan<float>()[4] = float.NaN;
        tensors["fc1.weight"].AsSpan<float>()[17] = float.PositiveInfinity;
        using var tmp = new TempDir();
        var weights = tmp.File("nan.safetensors");
        SafetensorsWriter.Write(weights, tensors);

        var inspect = Run("inspect", weights);
        Assert.That(inspect.Code, Is.EqualTo(ExitCodes.Ok), inspect.ToString());
        Assert.That(inspect.Out, Does.Contain("non-finite:   2 tensor(s) hold NaN or infinite values").And.Contain("fc2.bias (1)").And.Contain("fc1.weight (1)"));

        var clean = tmp.File("clean.safetensors");
        SafetensorsWriter.Write(clean, model.Network!.Parameters.Select(p => new KeyValuePair<string, Tensor>(p.Key, model.Graph.Initializers[p.Key])));
        Assert.That(Run("inspect", clean).Out, Does.Contain("non-finite:   none"));

        var r = Run("classify", "--spec", spec, "--weights", weights, Shapes);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.Contain("NaN or infinite").And.Contain("this ranking means nothing"));
        AssertNoStackTrace(r);

        var rng = new Random(6);
        Npy.Write(tmp.File("x.npy"), Tensor.FromSpan<float>(Enumerable.Range(0, 28 * 28).Select(_ => rng.NextSingle()).ToArray(), 1, 1, 28, 28));
        var run = Run("run", "--spec", spec, "--weights", weights, "--input", tmp.File("x.npy"), "--output", tmp.File("y.npy"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), "run writes raw outputs, NaN included");
        Assert.That(run.Err, Does.Contain("NaN or infinite value(s)"));
    }

    [Test]
    public void SelftestListsTheGpuChecksWithoutADevice()
    {
        var r = Run("selftest", "--list", "--filter", "conv1_2");
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        Assert.That(r.Lines[^1], Does.Match(@"^\d+ checks$"));
        Assert.That(r.Lines.Length, Is.GreaterThan(1));
    }

    [Test]
    public void OnnxTestRunsTheOtherFoldersWhenOneHoldsNoCase()
    {
        var add = TestData.Require("onnx-node/test_add");
        using var tmp = new TempDir();
        var empty = Path.Combine(tmp.Path, "empty");
        Directory.CreateDirectory(empty);
        var r = Run("onnx-test", add, empty);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Lines[0], Does.StartWith("PASS test_add"));
        Assert.That(r.Err, Does.Contain($"'{empty}' holds no model.onnx"));
        Assert.That(r.Lines[^1], Is.EqualTo("onnx-test: 1 passed, 0 failed, 0 unsupported (1 case); 1 folder(s) without test cases"));
    }

    [Test]
    public void ASpecWithTwoInputChannelsRunsOnTensorsAndClassifySaysWhyNot()
    {
        using var tmp = new TempDir();
        var spec = tmp.File("two.json");
        File.WriteAllText(spec, """{"input":{"channels":2,"height":6,"width":6},"layers":[{"name":"conv","type":"conv","in":2,"out":4,"kernel":3},{"type":"relu"},{"type":"flatten"},{"name":"fc","type":"linear","in":64,"out":3}]}""");
        var rng = new Random(8);
        Npy.Write(tmp.File("x.npy"), Tensor.FromSpan<float>(Enumerable.Range(0, 2 * 2 * 36).Select(_ => rng.NextSingle()).ToArray(), 2, 2, 6, 6));
        var run = Run("run", "--spec", spec, "--seed", "1", "--input", tmp.File("x.npy"), "--output", tmp.File("y.npy"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.ToString());
        Assert.That(Npy.Read(tmp.File("y.npy")).Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(Run("plan", "--spec", spec).Code, Is.EqualTo(ExitCodes.Ok));
        var classify = Run("classify", "--spec", spec, "--seed", "1", Shapes);
        Assert.That(classify.Code, Is.EqualTo(ExitCodes.ModelOrInputError), classify.ToString());
        Assert.That(classify.Err, Does.Contain("2-channel input").And.Contain("vgg run"));
        AssertNoStackTrace(classify);
    }

    [Test]
    public void PercentileWithoutThePercentileMethodIsAUsageError()
    {
        using var tmp = new TempDir();
        var r = Run("calibrate", "--spec", Repo("models/mnist-cnn.json"), "--seed", "1", "--output", tmp.File("t.json"), "--percentile", "99", Shapes);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain("--percentile applies to --method percentile"));
        Assert.That(File.Exists(tmp.File("t.json")), Is.False);
    }

    [Test]
    public void AnUnknownPrecisionIsReportedAsSuch()
    {
        using var tmp = new TempDir();
        var r = Run("classify", "--arch", "vgg11", "--seed", "1", "--precision", "INT8", "--calibration", tmp.File("t.json"), Shapes);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain("'INT8'"));
        Assert.That(r.Err, Does.Not.Contain("--calibration applies to"), "no second, misleading error");
    }
}
