using Vgg.Cli;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Cli;

/// <summary>Labels files and the probability/top-k arithmetic of <c>vgg classify</c>.</summary>
public class LabelsAndTopKTests
{
    [Test]
    public void ReadsTheImageNetIndexToNameFile()
    {
        var labels = LabelFile.Read(TestData.Require("labels/imagenet_index_to_name.json"));
        Assert.That(labels, Has.Count.EqualTo(1000));
        // SOURCES.md 7: "0": ["n01440764", "tench"], "281": tabby, "282": tiger_cat, "285": Egyptian_cat, "258": Samoyed.
        Assert.That((labels[0], labels[281], labels[282], labels[285], labels[258]), Is.EqualTo(("tench", "tabby", "tiger_cat", "Egyptian_cat", "Samoyed")));
    }

    [TestCase("[\"cat\", \"dog\", \"bird\"]")]
    [TestCase("{\"2\": \"bird\", \"0\": \"cat\", \"1\": \"dog\"}")]
    [TestCase("{\"0\": [\"n1\", \"cat\"], \"1\": [\"n2\", \"dog\"], \"2\": [\"n3\", \"bird\"]}")]
    [TestCase("cat\ndog\nbird\n")]
    [TestCase("\uFEFFcat\r\ndog\r\n\r\nbird")]
    public void ReadsEveryAcceptedForm(string content)
    {
        using var tmp = new TempDir();
        var path = tmp.File("labels");
        File.WriteAllText(path, content);
        Assert.That(LabelFile.Read(path), Is.EqualTo(new[] { "cat", "dog", "bird" }));
    }

    [TestCase("{\"0\": \"cat\", \"2\": \"bird\"}", "class index 1 is missing")]
    [TestCase("{\"zero\": \"cat\"}", "expected a class index")]
    [TestCase("{\"0\": 5}", "expected a label string")]
    [TestCase("[\"cat\", ", "not valid JSON")]
    [TestCase("\n\n", "holds no labels")]
    public void RejectsBadLabelFilesNamingTheProblem(string content, string message)
    {
        using var tmp = new TempDir();
        var path = tmp.File("labels.json");
        File.WriteAllText(path, content);
        var e = Assert.Throws<ModelFormatException>(() => LabelFile.Read(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain(message));
    }

    [Test]
    public void ProbabilitiesFollowWhatTheModelEndsWith()
    {
        float[] logits = { 1f, 3f, 2f, -1f };
        double z = logits.Sum(v => Math.Exp(v));
        var softmax = logits.Select(v => Math.Exp(v) / z).ToArray();
        Assert.That(Classification.Probabilities(logits, OutputKind.Logits), Is.EqualTo(softmax).Within(1e-15));

        // log_softmax output: exp, which is the same distribution.
        var logProbs = softmax.Select(p => (float)Math.Log(p)).ToArray();
        Assert.That(Classification.Probabilities(logProbs, OutputKind.LogProbabilities), Is.EqualTo(softmax).Within(1e-7));

        // A softmax output is taken as is: a second softmax would flatten it towards uniform.
        float[] probs = { 0.7f, 0.2f, 0.1f };
        Assert.That(Classification.Probabilities(probs, OutputKind.Probabilities), Is.EqualTo(new[] { 0.7f, 0.2f, 0.1f }.Select(v => (double)v)));

        // Large logits do not overflow (max subtracted first).
        var big = Classification.Probabilities(new[] { 1000f, 999f }, OutputKind.Logits);
        Assert.That(big[0], Is.EqualTo(1 / (1 + Math.Exp(-1))).Within(1e-15));
    }

    [Test]
    public void TopKIsHighestFirstWithTiesByIndex()
    {
        var top = Classification.TopK(new[] { 0.1, 0.3, 0.3, 0.05, 0.25 }, 4, new[] { "a", "b", "c", "d", "e" });
        Assert.That(top.Select(t => (t.Index, t.Label)), Is.EqualTo(new[] { (1, "b"), (2, "c"), (4, "e"), (0, "a") }));
        Assert.That(Classification.TopK(new[] { 0.5, 0.5 }, 10, null), Has.Length.EqualTo(2), "k is clamped to the class count");
        Assert.That(Classification.TopK(new[] { double.NaN, 0.2 }, 1, null)[0].Index, Is.EqualTo(1), "NaN sorts last");
    }
}
