using Vgg.Engine.Backends;
using Vgg.Engine.Models;
using Vgg.Engine.Quantization;
using Vgg.Engine.Runtime;
using Vgg.Engine.Tests.Quantization;

namespace Vgg.Engine.Tests.Core;

/// <summary>
/// Findings of a fresh-user trial of the C# API (FRESH_REPORT2 A1, A3, A4, nits): null arguments, bad options, a
/// per-call memory budget, releasing cached plans, and NaN inputs to an INT8 session, each a typed error.
/// </summary>
public class SessionGuardTests
{
    private static Model SmallModel() => ModelFactory.Seeded("vgg11", 4, numClasses: 10, options: new ModelOptions { Head = VggHead.GlobalPool, InputSize = (32, 32) });

    private static SessionOptions Cpu => new() { Backend = BackendChoice.Cpu, Threads = 2 };

    [Test]
    public void NullArgumentsAreArgumentNullExceptions()
    {
        Assert.Throws<ArgumentNullException>(() => new Session((Model)null!));
        Assert.Throws<ArgumentNullException>(() => ModelFactory.Seeded(null!, 1));
        var e = Assert.Throws<ArgumentNullException>(() => ModelFactory.FromStateDict(null!))!;
        Assert.That(e.ParamName, Is.EqualTo("stateDict"));
        Assert.Throws<ArgumentNullException>(() => new StateDict(null, "x").Add("a", null!));
        using var s = new Session(SmallModel(), Cpu);
        var n = Assert.Throws<ArgumentNullException>(() => s.Run(new Dictionary<string, Tensor> { [s.Inputs[0].Name] = null! }))!;
        Assert.That(n.Message, Does.Contain($"'{s.Inputs[0].Name}'"));
    }

    [Test]
    public void BadOptionsAreRefusedWhenTheSessionIsCreated()
    {
        var m = SmallModel();
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Session(m, Cpu with { Threads = -1 }))!.Message, Does.Contain("Threads"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Session(m, Cpu with { MaxCachedPlans = 0 }))!.Message, Does.Contain("MaxCachedPlans"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new Session(m, Cpu with { MaxContextBytes = 0 }))!.Message, Does.Contain("MaxContextBytes"));
    }

    [Test]
    public void ASpanShapeWithANegativeDimensionNamesIt()
    {
        using var s = new Session(SmallModel(), Cpu);
        var e = Assert.Throws<InvalidInputException>(() => s.Run(new float[3 * 32 * 32], new[] { -1, 3, 32, 32 }, new float[10]))!;
        Assert.That(e.Message, Does.Contain("negative dimension"));
    }

    [Test]
    public void AShapeOverTheContextBudgetIsRefusedBeforeAnythingIsAllocated()
    {
        using var s = new Session(SmallModel(), Cpu with { MaxContextBytes = 4L << 20 });
        var rng = new Random(3);
        var one = Enumerable.Range(0, 3 * 32 * 32).Select(_ => rng.NextSingle()).ToArray();
        var y = new float[10];
        s.Run(one, new[] { 1, 3, 32, 32 }, y); // well under 4 MiB
        Assert.That(y.Any(v => v != 0), Is.True);
        var big = new float[64 * 3 * 32 * 32];
        var e = Assert.Throws<InvalidInputException>(() => s.Run(big, new[] { 64, 3, 32, 32 }, new float[640]))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.Message, Does.Contain("[64, 3, 32, 32]").And.Contain("MaxContextBytes").And.Contain("4.0 MiB"));
        Assert.That(s.CachedPlanCount, Is.EqualTo(1), "the refused shape leaves no plan behind");
    }

    [Test]
    public void ReleaseCachedPlansFreesIdlePlansAndRunsStillWork()
    {
        using var s = new Session(SmallModel(), Cpu);
        var rng = new Random(4);
        float[] Input(int n) => Enumerable.Range(0, n * 3 * 32 * 32).Select(_ => rng.NextSingle()).ToArray();
        var x1 = Input(1);
        var before = new float[10];
        s.Run(x1, new[] { 1, 3, 32, 32 }, before);
        s.Run(Input(3), new[] { 3, 3, 32, 32 }, new float[30]);
        Assert.That(s.CachedPlanCount, Is.EqualTo(2));
        Assert.That(s.ReleaseCachedPlans(), Is.EqualTo(2));
        Assert.That(s.CachedPlanCount, Is.Zero);
        var after = new float[10];
        s.Run(x1, new[] { 1, 3, 32, 32 }, after);
        Assert.That(after, Is.EqualTo(before), "planned again, same result bit for bit");
        s.Dispose();
        Assert.Throws<ObjectDisposedException>(() => s.ReleaseCachedPlans());
    }

    [Test]
    public void AnInt8SessionRefusesNonFiniteInputs()
    {
        var def = QuantTestNets.SmallVgg(7, new[] { 16, 0, 32, 0 }, poolOut: 2, hidden: 24, classes: 5);
        var graph = QuantTestNets.FromDefinition(def);
        var table = Calibrator.Calibrate(graph, new[] { QuantTestNets.Image(70, 2, 3, 16, 16) }, new CalibrationOptions { Threads = 2 });
        using var int8 = new Session(graph, QuantTestNets.Cpu(Precision.Int8, table));
        using var fp32 = new Session(graph, QuantTestNets.Cpu());
        var x = QuantTestNets.Image(71, 1, 3, 16, 16);
        Assert.That(int8.Run(x).ToFloatArray().All(float.IsFinite), Is.True, "a finite input runs");
        x.AsSpan<float>()[100] = float.NaN;
        var e = Assert.Throws<InvalidInputException>(() => int8.Run(x))!;
        Assert.That(e.Message, Does.Contain("element 100 is NaN").And.Contain("INT8"));
        Assert.Throws<InvalidInputException>(() => int8.Run(x.ToFloatArray(), x.ShapeArray(), new float[5]));
        Assert.That(fp32.Run(x).ToFloatArray().Any(float.IsNaN), Is.True, "FP32 propagates NaN, as PyTorch does");
        x.AsSpan<float>()[100] = float.PositiveInfinity;
        Assert.Throws<InvalidInputException>(() => int8.Run(x));
    }

    [TestCase(100, 150)]
    [TestCase(150, 100)]
    [TestCase(512, 512)]
    public void TheDefaultPreprocessingForAnInputSizeCropsInsideTheResizedImage(int h, int w)
    {
        var m = ModelFactory.Seeded("vgg11", 1, options: new ModelOptions { InputSize = (h, w) });
        var p = m.Preprocessing;
        TestContext.Out.WriteLine(p);
        Assert.That(p.Resize, Is.EqualTo(ResizeMode.ShorterSide));
        // the shorter side of any photo becomes ResizeHeight: a square photo is the tightest case
        Assert.That(p.ResizeHeight, Is.GreaterThanOrEqualTo(Math.Max(h, w)), "the crop fits a square photo");
        Assert.That((p.CropHeight, p.CropWidth), Is.EqualTo((h, w)));
        if (h == w) Assert.That(p.ResizeHeight, Is.EqualTo((int)Math.Round(h * 256.0 / 224)), "square sizes keep torchvision's 256/224");
        Assert.That(Preprocessing.ImageNet.ToString(), Is.EqualTo("Rgb, Resize(256), CenterCrop(224), ToTensor, Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])"));
    }

    [Test]
    public void AnNhwcInputGetsAHintAndATooSmallInputNamesTheHeight()
    {
        using var s = new Session(ModelFactory.Seeded("vgg11", 4, numClasses: 10, options: new ModelOptions { Head = VggHead.GlobalPool }), Cpu);
        var nhwc = Assert.Throws<InvalidInputException>(() => s.Run(new float[32 * 32 * 3], new[] { 1, 32, 32, 3 }, new float[10]))!;
        Assert.That(nhwc.Message, Does.Contain("has 32 channels").And.Contain("looks like NHWC"));
        var small = Assert.Throws<InvalidInputException>(() => s.Run(new float[3 * 16 * 16], new[] { 1, 3, 16, 16 }, new float[10]))!;
        TestContext.Out.WriteLine(small.Message);
        Assert.That(small.Message, Does.StartWith("input 'input': shape [1, 3, 16, 16] does not fit the model").And.Contain("height (spatial axis 0)").And.Contain("too small"));
    }

    [Test]
    public void IntegerAndNonFiniteWeightsAreLoggedAsWarnings()
    {
        var spec = Path.Combine(Common.TestData.RepoRoot, "models/mnist-cnn.json");
        var seeded = ModelFactory.FromSpec(spec, null, new ModelOptions { Seed = 2 });
        var sd = new StateDict(null, "test");
        foreach (var p in seeded.Network!.Parameters)
            sd.Add(p.Key, seeded.Graph.Initializers[p.Key].Clone());
        sd.Add("norm1.num_batches_tracked", Tensor.From(new long[] { 5 }, Array.Empty<int>()));
        var w = sd["fc2.bias"];
        w.AsSpan<float>()[3] = float.NaN;
        var ints = sd["conv1.bias"].ToFloatArray().Select(v => (long)Math.Round(v * 10)).ToArray();
        var sd2 = new StateDict(null, "test");
        foreach (var (k, t) in sd) sd2.Add(k, k == "conv1.bias" ? Tensor.From(ints, t.ShapeArray()) : t);
        var log = new ListLogger();
        ModelFactory.FromSpec(spec, sd2, new ModelOptions { Logger = log });
        TestContext.Out.WriteLine(string.Join("\n", log.Lines));
        Assert.That(log.Lines, Has.Some.Matches<string>(l => l.StartsWith("Warning: warning: converted 1 int64 tensors to float32 ('conv1.bias')")));
        Assert.That(log.Lines, Has.Some.Matches<string>(l => l.StartsWith("Warning: warning: 'fc2.bias' holds 1 NaN or infinite value(s)")));
    }

    [Test]
    public void AHeadOptionThatARecognisedStateDictOverridesIsAWarning()
    {
        var sd = Vgg.Engine.Loader.Checkpoints.WeightsFile.Read(Common.TestData.Fixture("models/numeric/vgg11bn_tiny_dp_fp16.pth"));
        var found = VggRecognizer.Recognize(sd).Head;
        var asked = found == VggHeadKind.GlobalPool ? VggHead.Torchvision : VggHead.GlobalPool;
        var log = new ListLogger();
        ModelFactory.FromStateDict(sd, new ModelOptions { Head = asked, Logger = log });
        Assert.That(log.Lines, Has.Some.Matches<string>(l => l.StartsWith($"Warning: ModelOptions.Head = {asked} is ignored")), string.Join("\n", log.Lines));
    }

    [Test]
    public void ADirectoryIsNotAWeightsFile()
    {
        var dir = Path.GetTempPath();
        var e = Assert.Throws<ModelFormatException>(() => Vgg.Engine.Loader.Checkpoints.WeightsFile.Read(dir))!;
        Assert.That(e.Message, Does.Contain("is a directory"));
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Lines { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add($"{logLevel}: {formatter(state, exception)}");
        }
    }
}
