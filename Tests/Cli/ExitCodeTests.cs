using Vgg.Cli;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Cli.CliRunner;

namespace Vgg.Engine.Tests.Cli;

/// <summary>Exit codes and messages a shell user can act on (<see cref="ExitCodes"/>).</summary>
public class ExitCodeTests
{
    private static string Sample => Repo("samples/shapes.jpg");

    [Test]
    public void AMissingImageIsAnInputErrorNamingIt()
    {
        var weights = TestData.Require("checkpoints/mnist-cnn/mnist.pt");
        var missing = Path.Combine(Path.GetTempPath(), "no-such-digit-" + Guid.NewGuid().ToString("N") + ".png");
        var r = Run("classify", "--spec", Repo("models/mnist-cnn.json"), "--weights", weights, missing);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.StartWith("vgg: error: image not found: '" + missing + "'"));
        Assert.That(r.Err, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(r.Out, Is.Empty);
    }

    [Test]
    public void AMissingWeightsFileIsReportedBeforeAnythingIsLoaded()
    {
        var r = Run("classify", "--weights", "vgg16-397923af.pth", Sample);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.StartWith("vgg: error: weights file not found: 'vgg16-397923af.pth'"));
        var spec = Run("classify", "--spec", "nope.json", "--seed", "1", Sample);
        Assert.That(spec.Code, Is.EqualTo(ExitCodes.ModelOrInputError), spec.ToString());
        Assert.That(spec.Err, Does.Contain("model spec not found: 'nope.json'"));
        var labels = Run("classify", "--arch", "vgg11", "--seed", "1", "--labels", "nope.txt", Sample);
        Assert.That(labels.Code, Is.EqualTo(ExitCodes.ModelOrInputError), labels.ToString());
        Assert.That(labels.Err, Does.Contain("labels file not found: 'nope.txt'"));
        Assert.That(labels.Err, Does.Not.Contain("seeded"), "the file check comes before seeding 133 M weights");
    }

    [Test]
    public void AnHtmlPageSavedAsPthIsAModelErrorThatSaysSo()
    {
        using var tmp = new TempDir();
        var html = tmp.File("vgg16-397923af.pth");
        File.WriteAllText(html, "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in to download</body></html>\n");
        foreach (var args in new[] { new[] { "classify", "--weights", html, Sample }, new[] { "inspect", html } })
        {
            var r = Run(args);
            Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
            Assert.That(r.Err, Does.StartWith("vgg: error: " + html + ": this is an HTML page, not a checkpoint"));
            Assert.That(r.Err, Does.Not.Contain("   at "));
        }
    }

    [Test]
    public void ACorruptCheckpointIsAModelError()
    {
        var broken = TestData.Require("checkpoints/pt-format/broken.pt");
        var r = Run("inspect", broken);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.StartWith("vgg: error: " + broken));
    }

    [Test]
    public void AWrongArchitectureForTheWeightsNamesTheKeyAndTheShapes()
    {
        var weights = TestData.Fixture("models/numeric/vgg11bn_tiny_dp_fp16.pth");
        var r = Run("classify", "--weights", weights, "--arch", "vgg16", Sample);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.StartWith("vgg: error: " + weights));
        Assert.That(r.Err, Does.Contain("features.0.weight").And.Contain("[64, 3, 3, 3]").And.Contain("[4, 3, 3, 3]"));
        Assert.That(r.Out, Is.Empty);

        var tiny = TestData.Require("checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth");
        var notVgg = Run("classify", "--weights", tiny, Sample);
        Assert.That(notVgg.Code, Is.EqualTo(ExitCodes.ModelOrInputError), notVgg.ToString());
        Assert.That(notVgg.Err, Does.Contain("conv_block_1.0.weight").And.Contain("--spec"));
    }

    [Test]
    public void AHeadOfAnotherClassCountNeedsResetHead()
    {
        var weights = TestData.Fixture("models/numeric/vgg11bn_tiny_dp_fp16.pth");
        var image = TestData.Require("images/hopper.png");
        var r = Run("classify", "--weights", weights, "--num-classes", "3", image);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.Contain("--reset-head"));
        var ok = Run("classify", "--weights", weights, "--num-classes", "3", "--reset-head", "--seed", "5", image, "--json", "-v");
        Assert.That(ok.Code, Is.EqualTo(ExitCodes.Ok), ok.ToString());
        Assert.That(ok.Err, Does.Contain("head reset"), "--verbose logs the head reset");
        Assert.That(ok.JsonLines().Single().GetProperty("top").GetArrayLength(), Is.EqualTo(3));
    }

    [TestCase(new[] { "classify", "--arch", "vgg16", "--seed", "1", "--jsn", "x.jpg" }, "unknown option '--jsn'")]
    [TestCase(new[] { "inspect", "--weight", "x.pth" }, "--weight")]
    [TestCase(new[] { "clasify" }, "clasify")]
    [TestCase(new[] { "classify", "--arch", "vgg16", "--seed", "1" }, "Required argument missing for command: 'classify'")]
    [TestCase(new[] { "classify", "--arch", "vgg16", "--seed", "1" }, "missing: IMAGE...")]
    [TestCase(new[] { "inspect" }, "missing: FILE")]
    [TestCase(new[] { "classify", "--arch", "vgg17", "--seed", "1", "x.jpg" }, "unknown architecture 'vgg17'")]
    [TestCase(new[] { "classify", "--arch", "vgg16", "--spec", "models/tinyvgg.json", "--seed", "1", "x.jpg" }, "--arch and --spec cannot be used together")]
    [TestCase(new[] { "classify", "x.jpg" }, "no model")]
    [TestCase(new[] { "classify", "--arch", "vgg16", "x.jpg" }, "no weights")]
    [TestCase(new[] { "classify", "--seed", "1", "x.jpg" }, "no architecture")]
    [TestCase(new[] { "classify", "--arch", "vgg16", "--seed", "1", "--top", "0", "x.jpg" }, "--top must be at least 1")]
    [TestCase(new[] { "classify", "--arch", "vgg16", "--seed", "1", "--backend", "tpu", "x.jpg" }, "tpu")]
    [TestCase(new[] { "classify", "--arch", "vgg16", "--seed", "1", "--reset-head", "x.jpg" }, "--reset-head")]
    [TestCase(new[] { "run", "--arch", "vgg16", "--seed", "1", "--output", "o.npy" }, "--input")]
    [TestCase(new[] { "plan", "--arch", "vgg16", "--input-size", "224" }, "--input-size")]
    [TestCase(new string[0], "command")]
    public void UsageErrorsExitWith2(string[] args, string mentioned)
    {
        var r = Run(args);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain(mentioned));
        Assert.That(r.Err, Does.Contain("--help"), "points to the help");
        Assert.That(r.Out, Is.Empty, "nothing on stdout");
    }

    [Test]
    public void HelpAndVersionExitWith0()
    {
        var help = Run("classify", "--help");
        Assert.That(help.Code, Is.EqualTo(ExitCodes.Ok), help.ToString());
        foreach (var option in new[] { "--weights", "--arch", "--spec", "--labels", "--top", "--json", "--num-classes", "--reset-head", "--seed", "--backend", "--threads", "--batch-size", "--exif", "--verbose" })
            Assert.That(help.Out, Does.Contain(option));
        Assert.That(Run("--version").Code, Is.EqualTo(ExitCodes.Ok));
    }

    [Test]
    public void ACancelledCommandExitsWith130()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var r = Run(cts.Token, "classify", "--arch", "vgg16", "--seed", "1", Sample);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Cancelled), r.ToString());
        Assert.That(r.Err, Does.Contain("vgg: cancelled"));
        Assert.That(r.Out, Is.Empty);
    }
}

/// <summary>The exit-code mapping itself, on verbs whose bodies throw what no real verb can be made to throw on purpose.</summary>
public class ExitCodeMappingTests
{
    private static CliResult Invoke(Func<int> body, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        var app = new CliApp.App(output, error, new CliHost(), CancellationToken.None);
        var root = new System.CommandLine.RootCommand();
        root.Options.Add(app.Verbose);
        var verb = new System.CommandLine.Command("boom");
        root.Subcommands.Add(verb);
        app.SetAction(verb, (_, _) => body());
        int code = root.Parse(new[] { "boom" }.Concat(args).ToArray()).Invoke(new System.CommandLine.InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        return new CliResult(code, output.ToString(), error.ToString());
    }

    [Test]
    public void AnUnexpectedExceptionIsAnInternalErrorAskingForAReport()
    {
        var r = Invoke(() => throw new InvalidOperationException("the planner lost a buffer"));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.InternalError), r.ToString());
        Assert.That(r.Err, Does.StartWith("vgg: internal error: System.InvalidOperationException: the planner lost a buffer\n"));
        Assert.That(r.Err, Does.Contain("please report"));
        Assert.That(r.Err, Does.Not.Contain("   at "), "no stack trace without --verbose");

        var verbose = Invoke(() => throw new InvalidOperationException("the planner lost a buffer"), "--verbose");
        Assert.That(verbose.Code, Is.EqualTo(ExitCodes.InternalError));
        Assert.That(verbose.Err, Does.Contain("   at "), "--verbose prints the stack trace");
    }

    [Test]
    public void EngineErrorsAndMissingFilesAreModelOrInputErrors()
    {
        var r = Invoke(() => throw new GraphException("conv1", "weight has 3 input channels, the input has 1"));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError));
        Assert.That(r.Err, Is.EqualTo("vgg: error: node 'conv1': weight has 3 input channels, the input has 1\n"));
        var io = Invoke(() => throw new UnauthorizedAccessException("Access to the path '/root/x.pth' is denied."));
        Assert.That(io.Code, Is.EqualTo(ExitCodes.ModelOrInputError));
        Assert.That(io.Err, Does.Contain("/root/x.pth"));
    }
}
