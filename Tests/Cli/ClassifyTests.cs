using System.Text.Json;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Cli.CliRunner;

namespace Vgg.Engine.Tests.Cli;

/// <summary>
/// <c>vgg classify</c> end to end, in-process: real checkpoints and images against torch's probabilities
/// (Tests/Fixtures/cli/expected.json, made by make_cli_fixtures.py with torch 1.13 / torchvision 0.14 / PIL 9.4).
/// </summary>
public class ClassifyTests
{
    private static readonly Lazy<JsonElement> Expected = new(() =>
        JsonDocument.Parse(File.ReadAllText(TestData.Fixture("cli/expected.json"))).RootElement.Clone());

    private static double[] TorchProbabilities(string model, string image) =>
        Expected.Value.GetProperty("cases").EnumerateArray()
            .Single(c => c.GetProperty("model").GetString() == model && c.GetProperty("image").GetString() == image)
            .GetProperty("prob").EnumerateArray().Select(v => v.GetDouble()).ToArray();

    /// <summary>Checks one --json line: exactly the fields file and top; each top entry exactly index, label, prob.</summary>
    private static (string File, (int Index, string? Label, double Prob)[] Top) ParseLine(JsonElement line)
    {
        Assert.That(line.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "file", "top" }), line.ToString());
        var top = line.GetProperty("top").EnumerateArray().Select(t =>
        {
            Assert.That(t.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "index", "label", "prob" }), t.ToString());
            Assert.That(t.GetProperty("index").ValueKind, Is.EqualTo(JsonValueKind.Number));
            Assert.That(t.GetProperty("prob").ValueKind, Is.EqualTo(JsonValueKind.Number));
            var label = t.GetProperty("label");
            return (t.GetProperty("index").GetInt32(), label.ValueKind == JsonValueKind.Null ? null : label.GetString(), t.GetProperty("prob").GetDouble());
        }).ToArray();
        return (line.GetProperty("file").GetString()!, top);
    }

    /// <summary>Every listed probability equals torch's for that class within <paramref name="atol"/>, and the list is torch's order.</summary>
    private static void AssertMatchesTorch((int Index, string? Label, double Prob)[] top, double[] torch, double atol, string what)
    {
        var order = Enumerable.Range(0, torch.Length).OrderByDescending(i => torch[i]).Take(top.Length).ToArray();
        Assert.That(top.Select(t => t.Index), Is.EqualTo(order), $"{what}: top-{top.Length} order; torch probabilities [{string.Join(", ", torch.Select(p => p.ToString("G6")))}]");
        foreach (var t in top)
            Assert.That(t.Prob, Is.EqualTo(torch[t.Index]).Within(atol), $"{what}: class {t.Index} ({t.Label}): ours {t.Prob:G9}, torch {torch[t.Index]:G9}");
    }

    [Test]
    public void MnistCnnNamesEachDigit()
    {
        // Must show (issue 2): the MNIST CNN on images/mnist/*.png names each digit; the label is the file name.
        var weights = TestData.Require("checkpoints/mnist-cnn/mnist.pt");
        var dir = TestData.Require("images/mnist");
        // The pattern is passed unexpanded, as cmd.exe would; the CLI expands it (a shell would give the same list).
        var r = Run("classify", "--spec", Repo("models/mnist-cnn.json"), "--weights", weights, Path.Combine(dir, "*.png"), "--json");
        Assert.That(r.Code, Is.EqualTo(0), r.ToString());
        Assert.That(r.Err, Is.Empty, "nothing on stderr for a trained model");
        var lines = r.JsonLines();
        var pngs = Directory.GetFiles(dir, "*.png").Order(StringComparer.Ordinal).ToArray();
        Assert.That(lines, Has.Count.EqualTo(pngs.Length).And.Count.EqualTo(7), r.ToString());
        for (int i = 0; i < lines.Count; i++)
        {
            var (file, top) = ParseLine(lines[i]);
            Assert.That(file, Is.EqualTo(pngs[i]));
            string digit = Path.GetFileNameWithoutExtension(file);
            Assert.That(top, Has.Length.EqualTo(5));
            Assert.That(top[0].Label, Is.EqualTo(digit), $"{file}: {lines[i]}");
            Assert.That(top[0].Index.ToString(), Is.EqualTo(digit));
            // log_softmax output → exp (not a second softmax): torch's probabilities, float32 rounding only.
            AssertMatchesTorch(top, TorchProbabilities("mnist-cnn", $"images/mnist/{digit}.png"), 2e-6, file);
        }
    }

    [Test]
    public void MnistSafetensorsAlsoNamesEachDigitFromADirectoryArgument()
    {
        // mnist.safetensors holds another training run's weights than mnist.pt (norm1.num_batches_tracked 7504 vs
        // 3752; Tests/Loader/RealCheckpointTests), so its probabilities differ; it must still name every digit.
        var st = TestData.Require("checkpoints/mnist-cnn/mnist.safetensors");
        var dir = TestData.Require("images/mnist");
        var r = Run("classify", "--spec", Repo("models/mnist-cnn.json"), "--weights", st, dir, "--json", "-k", "3");
        Assert.That(r.Code, Is.EqualTo(0), r.ToString());
        var lines = r.JsonLines();
        Assert.That(lines.Select(l => Path.GetFileName(ParseLine(l).File)), Is.EqualTo(Enumerable.Range(0, 7).Select(d => $"{d}.png")),
            "a directory argument gives its PNGs in name order");
        foreach (var l in lines)
        {
            var (file, top) = ParseLine(l);
            Assert.That(top[0].Label, Is.EqualTo(Path.GetFileNameWithoutExtension(file)), l.ToString());
        }
    }

    [Test]
    public void TinyVggWithItsSpecMatchesTorch()
    {
        var weights = TestData.Require("checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth");
        var image = TestData.Require("images/hopper.png");
        var r = Run("classify", "--spec", Repo("models/tinyvgg.json"), "--weights", weights, image, "--json", "--top", "3");
        Assert.That(r.Code, Is.EqualTo(0), r.ToString());
        var (file, top) = ParseLine(r.JsonLines().Single());
        Assert.That(file, Is.EqualTo(image));
        Assert.That(top.Select(t => t.Label), Is.EquivalentTo(new[] { "pizza", "steak", "sushi" }));
        Assert.That(top.Sum(t => t.Prob), Is.EqualTo(1.0).Within(1e-9), "all three classes listed: softmax sums to 1");
        AssertMatchesTorch(top, TorchProbabilities("tinyvgg", "images/hopper.png"), 1e-5, "tinyvgg hopper.png");

        // The text form lists the same classes.
        var text = Run("classify", "--spec", Repo("models/tinyvgg.json"), "--weights", weights, image, "-k", "3");
        Assert.That(text.Code, Is.EqualTo(0), text.ToString());
        Assert.That(text.Lines, Has.Length.EqualTo(4));
        Assert.That(text.Lines[0], Is.EqualTo(image));
        Assert.That(text.Lines[1], Does.Match(@"^   1\. 0\.\d{6}  \d  " + top[0].Label + "$"));
    }

    [Test]
    public void RecognisedVggCheckpointWithImageNetPreprocessingMatchesTorch()
    {
        // A DataParallel float16 VGG-11-BN-style checkpoint under 'state_dict' (the models fixture): no --arch, no
        // --spec; recognised, bound, preprocessed as torchvision's ImageNet pipeline, softmax of the logits.
        var weights = TestData.Fixture("models/numeric/vgg11bn_tiny_dp_fp16.pth");
        var image = TestData.Require("images/hopper.png");
        var r = Run("classify", "--weights", weights, image, "--json", "-v");
        Assert.That(r.Code, Is.EqualTo(0), r.ToString());
        Assert.That(r.Err, Does.Contain("'state_dict'"), "--verbose logs the wrapper key");
        Assert.That(r.Err, Does.Contain("recognised vgg11_bn"), "--verbose logs the recognised architecture");
        var (_, top) = ParseLine(r.JsonLines().Single());
        Assert.That(top.Select(t => t.Label), Is.All.Null, "no labels given");
        AssertMatchesTorch(top, TorchProbabilities("vgg11bn_tiny_dp_fp16", "images/hopper.png"), 1e-5, "vgg11bn_tiny hopper.png");
    }

    [Test]
    public void SeededVgg11IsDeterministicAcrossRuns()
    {
        var image = Repo("samples/shapes.jpg");
        var a = Run("classify", "--arch", "vgg11", "--seed", "1", image, "--json");
        var b = Run("classify", "--arch", "vgg11", "--seed", "1", image, "--json");
        Assert.That((a.Code, b.Code), Is.EqualTo((0, 0)), a + "\n" + b);
        Assert.That(a.Err, Does.Contain("seeded random weights (--seed 1)"), "says the predictions are meaningless");
        var (file, top) = ParseLine(a.JsonLines().Single());
        Assert.That(file, Is.EqualTo(image));
        Assert.That(top, Has.Length.EqualTo(5));
        Assert.That(top.Select(t => t.Prob), Is.Ordered.Descending);
        Assert.That(top.Select(t => t.Prob), Is.All.GreaterThan(0.0).And.All.LessThan(1.0));
        Assert.That(top.Select(t => t.Index).Distinct().Count(), Is.EqualTo(5));
        Assert.That(b.Out, Is.EqualTo(a.Out), "the same seed gives the same output, bit for bit");
    }

    [Test]
    public void AnImageThatCannotBeDecodedIsReportedAndTheOthersAreStillClassified()
    {
        var weights = TestData.Require("checkpoints/mnist-cnn/mnist.pt");
        var zero = TestData.Require("images/mnist/0.png");
        var one = TestData.Require("images/mnist/1.png");
        using var tmp = new TempDir();
        var bad = tmp.File("bad.png");
        File.WriteAllText(bad, "this is not a PNG");
        var r = Run("classify", "--spec", Repo("models/mnist-cnn.json"), "--weights", weights, zero, bad, one, "--json", "-k", "1");
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        var lines = r.JsonLines();
        Assert.That(lines, Has.Count.EqualTo(3));
        Assert.That(lines[1].GetProperty("file").GetString(), Is.EqualTo(bad));
        Assert.That(lines[1].GetProperty("error").GetString(), Does.Contain(bad));
        Assert.That(ParseLine(lines[0]).Top[0].Label, Is.EqualTo("0"));
        Assert.That(ParseLine(lines[2]).Top[0].Label, Is.EqualTo("1"));
        Assert.That(r.Err, Does.Contain("bad.png").And.Contain("1 of 3 images could not be read"));
    }

    [Test]
    public void LabelsFromAFileReplaceTheSpecsAndMustMatchTheClassCount()
    {
        var weights = TestData.Require("checkpoints/mnist-cnn/mnist.pt");
        var seven = TestData.Require("images/mnist/6.png");
        using var tmp = new TempDir();
        var names = tmp.File("digits.txt");
        File.WriteAllText(names, "zero\r\none\r\ntwo\r\nthree\r\nfour\r\nfive\r\nsix\r\nseven\r\neight\r\nnine\r\n");
        var r = Run("classify", "--spec", Repo("models/mnist-cnn.json"), "--weights", weights, seven, "--labels", names, "--json", "-k", "1");
        Assert.That(r.Code, Is.EqualTo(0), r.ToString());
        Assert.That(ParseLine(r.JsonLines().Single()).Top[0].Label, Is.EqualTo("six"));

        var imagenet = TestData.Require("labels/imagenet_index_to_name.json");
        var wrong = Run("classify", "--spec", Repo("models/mnist-cnn.json"), "--weights", weights, seven, "--labels", imagenet);
        Assert.That(wrong.Code, Is.EqualTo(1), wrong.ToString());
        Assert.That(wrong.Err, Does.Contain(imagenet).And.Contain("expected 10 labels").And.Contain("found 1000"));
        Assert.That(wrong.Out, Is.Empty);
    }
}
