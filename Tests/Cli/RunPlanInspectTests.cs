using System.Globalization;
using System.Text.RegularExpressions;
using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Models;
using Vgg.Engine.Runtime;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Cli.CliRunner;

namespace Vgg.Engine.Tests.Cli;

/// <summary><c>vgg run</c>, <c>vgg plan</c> and <c>vgg inspect</c>, in-process.</summary>
public class RunPlanInspectTests
{
    private static Tensor SeededInput(int seed, params int[] shape)
    {
        // U[0, 1) like ToTensor's output; seeded, never zeros.
        var rng = new Random(seed);
        var data = new float[Tensor.Product(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = rng.NextSingle();
        TestContext.Progress.WriteLine($"input: System.Random({seed}) U[0,1) {Tensor.FormatShape(shape)}");
        return Tensor.FromSpan<float>(data, shape);
    }

    private static void AssertBitIdentical(Tensor actual, Tensor expected, string what)
    {
        Assert.That(actual.DType, Is.EqualTo(DType.Float32), what);
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), what);
        var a = actual.AsSpan<float>();
        var e = expected.AsSpan<float>();
        for (int i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(e[i]))
                Assert.Fail($"{what}: shape {actual}, first difference at flat index {i}: vgg run {a[i]:R}, Session {e[i]:R}");
    }

    [TestCase(null, new[] { 2, 3 })]
    [TestCase("conv_block_2", new[] { 2, 10, 13, 13 })]
    public void RunRoundTripEqualsTheSessionOnTheSameInput(string? layer, int[] outputShape)
    {
        var weights = TestData.Require("checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth");
        var spec = Repo("models/tinyvgg.json");
        using var tmp = new TempDir();
        var x = SeededInput(20251130, 2, 3, 64, 64);
        Npy.Write(tmp.File("in.npy"), x);

        var args = new List<string> { "run", "--spec", spec, "--weights", weights, "--input", tmp.File("in.npy"), "--output", tmp.File("out.npy"), "--backend", "cpu", "--threads", "1" };
        if (layer is not null) args.AddRange(new[] { "--layer", layer });
        var r = Run(args.ToArray());
        Assert.That(r.Code, Is.EqualTo(0), r.ToString());
        Assert.That(r.Out, Is.Empty, "run writes the file, not stdout");
        var y = Npy.Read(tmp.File("out.npy"));
        Assert.That(y.Shape, Is.EqualTo(outputShape));

        var model = ModelFactory.FromSpec(spec, WeightsFile.Read(weights), new ModelOptions
        {
            OutputLayer = layer,
            Labels = layer is null ? null : Array.Empty<string>(), // as the CLI does: the spec's labels do not apply to features
        });
        using var session = new Session(model, new SessionOptions { Backend = Backends.BackendChoice.Cpu, Threads = 1 });
        AssertBitIdentical(y, session.Run(x), layer ?? "logits");
        Assert.That(Directory.GetFiles(tmp.Path).Select(Path.GetFileName), Is.EquivalentTo(new[] { "in.npy", "out.npy" }), "no temporary file left");
    }

    [Test]
    public void RunConvertsFloat64InputAndRejectsIntegers()
    {
        var weights = TestData.Require("checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth");
        var spec = Repo("models/tinyvgg.json");
        using var tmp = new TempDir();
        var x = SeededInput(7, 1, 3, 64, 64);
        var x64 = Tensor.FromSpan<double>(x.ToFloatArray().Select(v => (double)v).ToArray(), 1, 3, 64, 64);
        Npy.Write(tmp.File("in32.npy"), x);
        Npy.Write(tmp.File("in64.npy"), x64);
        Assert.That(Run("run", "--spec", spec, "--weights", weights, "-i", tmp.File("in32.npy"), "-o", tmp.File("a.npy"), "--threads", "1").Code, Is.EqualTo(0));
        Assert.That(Run("run", "--spec", spec, "--weights", weights, "-i", tmp.File("in64.npy"), "-o", tmp.File("b.npy"), "--threads", "1").Code, Is.EqualTo(0));
        AssertBitIdentical(Npy.Read(tmp.File("b.npy")), Npy.Read(tmp.File("a.npy")), "float64 input (exactly representable values) converted to float32");

        Npy.Write(tmp.File("int.npy"), Tensor.FromSpan<long>(new long[3 * 64 * 64], 1, 3, 64, 64));
        var bad = Run("run", "--spec", spec, "--weights", weights, "-i", tmp.File("int.npy"), "-o", tmp.File("c.npy"));
        Assert.That(bad.Code, Is.EqualTo(1), bad.ToString());
        Assert.That(bad.Err, Does.Contain("int.npy").And.Contain("float32"));
        Assert.That(File.Exists(tmp.File("c.npy")), Is.False);

        // A wrong shape is the session's clear input error, and no output file appears.
        Npy.Write(tmp.File("chw.npy"), SeededInput(8, 3, 64, 64));
        var rank = Run("run", "--spec", spec, "--weights", weights, "-i", tmp.File("chw.npy"), "-o", tmp.File("d.npy"));
        Assert.That(rank.Code, Is.EqualTo(1), rank.ToString());
        Assert.That(rank.Err, Does.StartWith("vgg: error: input 'input'"));
        Assert.That(File.Exists(tmp.File("d.npy")), Is.False);
    }

    private static readonly Regex ArenaLine = new(@"^arena (?<arena>[\d,]+) B \([\d.]+ MiB\), lower bound (?<lb>[\d,]+) B \([\d.]+ MiB\), ratio (?<ratio>[\d.]+)$", RegexOptions.Multiline);

    private static (long Arena, long LowerBound) Arena(CliResult r)
    {
        var m = ArenaLine.Match(r.Out);
        Assert.That(m.Success, Is.True, "the arena line: " + r);
        return (long.Parse(m.Groups["arena"].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture),
                long.Parse(m.Groups["lb"].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture));
    }

    [Test]
    public void PlanPrintsTheLayersAndTheArenaAgainstTheLowerBound()
    {
        // Without weights the plan seeds them (it depends on shapes only).
        var r = Run("plan", "--spec", Repo("models/tinyvgg.json"));
        Assert.That(r.Code, Is.EqualTo(0), r.ToString());
        Assert.That(r.Out, Does.Contain("input float32[1, 3, 64, 64]"));
        Assert.That(r.Out, Does.Contain("conv_block_1.0").And.Contain("Conv 3×3+Relu"));
        var (arena, lb) = Arena(r);
        Assert.That(arena, Is.GreaterThanOrEqualTo(lb).And.GreaterThan(0));

        var weights = TestData.Fixture("models/numeric/vgg11bn_tiny_dp_fp16.pth");
        var greedy = Run("plan", "--weights", weights, "--input-size", "64", "96", "--batch", "2");
        var linear = Run("plan", "--weights", weights, "--input-size", "64", "96", "--batch", "2", "--planner", "linear");
        Assert.That((greedy.Code, linear.Code), Is.EqualTo((0, 0)), greedy + "\n" + linear);
        Assert.That(greedy.Out, Does.Contain("input float32[2, 3, 64, 96]").And.Contain("memory planner greedy"));
        Assert.That(linear.Out, Does.Contain("memory planner linear"));
        var g = Arena(greedy);
        var l = Arena(linear);
        Assert.That(g.LowerBound, Is.EqualTo(l.LowerBound), "the lower bound does not depend on placement");
        Assert.That(l.Arena, Is.GreaterThan(g.Arena), "no reuse costs memory");
    }

    [Test]
    public void PlanNeedsAnArchitecture()
    {
        var r = Run("plan");
        Assert.That(r.Code, Is.EqualTo(2), r.ToString());
        Assert.That(r.Err, Does.Contain("--arch NAME or --spec FILE"));
    }

    [Test]
    public void InspectListsTheKeysOfTheMnistCheckpoints()
    {
        foreach (var (file, format) in new[] { ("checkpoints/mnist-cnn/mnist.pt", "pytorch-zip"), ("checkpoints/mnist-cnn/mnist.safetensors", "safetensors") })
        {
            var path = TestData.Require(file);
            var r = Run("inspect", path);
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            Assert.That(r.Out, Does.Contain($"format:       {format}\n"));
            // Keys and shapes as SOURCES.md 5b lists them.
            var expected = new (string Key, string DType, string Shape, string Elements)[]
            {
                ("conv1.weight", "float32", "[8, 1, 3, 3]", "72"), ("conv1.bias", "float32", "[8]", "8"),
                ("conv2.weight", "float32", "[16, 8, 3, 3]", "1,152"), ("conv3.weight", "float32", "[24, 16, 3, 3]", "3,456"),
                ("norm1.running_var", "float32", "[24]", "24"), ("norm1.num_batches_tracked", "int64", "[]", "1"),
                ("fc1.weight", "float32", "[32, 11616]", "371,712"), ("fc2.weight", "float32", "[10, 32]", "320"),
                ("norm2.num_batches_tracked", "int64", "[]", "1"),
            };
            foreach (var (key, dtype, shape, n) in expected)
                Assert.That(r.Lines.Any(l => Regex.IsMatch(l, $@"^{Regex.Escape(key)}\s+{dtype}\s+{Regex.Escape(shape)}\s+{n}\s+[\d,]+$")), Is.True, $"{key} {dtype} {shape} {n} in\n{r.Out}");
            Assert.That(r.Out, Does.Contain("total: 20 tensors"));
            Assert.That(r.Out, Does.Contain("architecture: not recognised as a torchvision VGG").And.Contain("--spec"));
        }
    }

    [Test]
    public void InspectNamesTheWrapperKeyAndTheRecognisedArchitecture()
    {
        var r = Run("inspect", TestData.Fixture("models/numeric/vgg11bn_tiny_dp_fp16.pth"));
        Assert.That(r.Code, Is.EqualTo(0), r.ToString());
        Assert.That(r.Out, Does.Contain("under the checkpoint's 'state_dict' key"));
        Assert.That(r.Out, Does.Contain("epoch").And.Contain("best_acc1"), "the ignored entries");
        Assert.That(r.Out, Does.Contain("module.features.0.weight").And.Contain("float16"));
        Assert.That(r.Out, Does.Match(@"architecture: vgg11_bn\S*: 8 conv \(4, M, 8, M, 8, 8, M, 8, 8, M, 8, 8, M\), BatchNorm, head 392→16→16→5"));

        var tiny = Run("inspect", TestData.Require("checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth"));
        Assert.That(tiny.Code, Is.EqualTo(0), tiny.ToString());
        foreach (var key in new[] { "conv_block_1.0.weight", "conv_block_1.2.bias", "conv_block_2.2.weight", "classifier.1.weight" })
            Assert.That(tiny.Out, Does.Contain(key));
        Assert.That(tiny.Out, Does.Contain("[3, 1690]").And.Contain("total: 10 tensors"));

        var wrapped = Run("inspect", TestData.Require("checkpoints/pt-format/checkpoint.pt"));
        Assert.That(wrapped.Code, Is.EqualTo(0), wrapped.ToString());
        Assert.That(wrapped.Out, Does.Contain("under the checkpoint's 'model_state_dict' key").And.Contain("fc1.weight"));
    }
}
