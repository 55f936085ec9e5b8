using Vgg.Engine.Models;
using static Vgg.Engine.Tests.Models.ModelTestUtil;

namespace Vgg.Engine.Tests.Models;

/// <summary>
/// FRESH_REPORT B5: a torchvision VGG state dict with one conv bias deleted used to be recognised as a bias-free
/// "vgg11-pruned". A missing bias among convs that have theirs is a missing key (PyTorch's strict load_state_dict
/// reports it); "-pruned" is only said when the widths differ. Keys and shapes from the torchvision fixture
/// (Tests/Fixtures/models/vgg_keys.json); the recognizer needs no tensor data.
/// </summary>
public class VggRecognizerBiasTests
{
    private static List<(string Key, int[] Shape)> Keys(string arch, int classes = 10) =>
        Torchvision(arch, classes).Keys.Select(k => (k.Key, k.Shape)).ToList();

    [TestCase("vgg11", "features.3.bias", "[128]")]
    [TestCase("vgg11_bn", "features.4.bias", "[128]")]
    [TestCase("vgg16", "features.28.bias", "[512]")]
    public void AConvMissingOnlyItsBiasIsAMissingKey(string arch, string dropped, string shape)
    {
        var keys = Keys(arch).Where(k => k.Key != dropped).ToList();
        var e = Assert.Throws<ModelMismatchException>(() => VggRecognizer.Recognize(keys, "missing.pth"))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.Key, Is.EqualTo(dropped));
        Assert.That(e.FilePath, Is.EqualTo("missing.pth"));
        Assert.That(e.Actual, Is.EqualTo("no such key"));
        Assert.That(e.Expected, Does.Contain("a Conv2d bias " + shape).And.Contain("features.0.bias"));
        Assert.That(e.Message, Does.Contain("1 missing key(s): '" + dropped + "'"));
    }

    [Test]
    public void EveryMissingBiasIsListedAndTheKeyKeepsItsPrefix()
    {
        var keys = Keys("vgg11").Where(k => k.Key is not ("features.3.bias" or "features.8.bias"))
            .Select(k => ("module." + k.Key, k.Shape)).ToList();
        var e = Assert.Throws<ModelMismatchException>(() => VggRecognizer.Recognize(keys))!;
        Assert.That(e.Key, Is.EqualTo("module.features.3.bias"));
        Assert.That(e.Message, Does.Contain("2 missing key(s): 'module.features.3.bias', 'module.features.8.bias'"));
    }

    [Test]
    public void ModelFactoryRefusesIt_AndPrunedWidthsWithABiasMissingToo()
    {
        // VGG-11 layout with tiny (pruned) widths, real tensors: the same rule applies whatever the widths.
        int M = TorchvisionVgg.M;
        var net = TinyVggStyle(bn: false, new[] { 4, M, 6, M, 8, 8, M, 8, 8, M, 8, 8, M });
        var full = MakeStateDict(net, path: "pruned.pth");
        Assert.That(ModelFactory.FromStateDict(full).Architecture, Is.EqualTo("vgg11-pruned+custom-head"), "a pruned VGG with its biases is still recognised");
        var sd = MakeStateDict(net.Parameters.Where(p => p.Key != "features.3.bias").Select(p => (p.Key, p.Shape)), path: "pruned.pth");
        var e = Assert.Throws<ModelMismatchException>(() => ModelFactory.FromStateDict(sd))!;
        Assert.That(e.Key, Is.EqualTo("features.3.bias"));
        Assert.That(e.Message, Does.StartWith("pruned.pth: 'features.3.bias': expected a Conv2d bias [6]"));
    }

    [Test]
    public void StandardWidthsWithoutAnyConvBiasAreAVariantNotPruned()
    {
        var keys = Keys("vgg11").Where(k => !(k.Key.StartsWith("features.", StringComparison.Ordinal) && k.Key.EndsWith(".bias", StringComparison.Ordinal))).ToList();
        var rec = VggRecognizer.Recognize(keys);
        Assert.That(rec.Architecture, Is.EqualTo("vgg11-variant"));
        Assert.That(rec.StandardWidths, Is.False);
        Assert.That(rec.Network.Layers.OfType<Conv2dLayer>().Select(c => c.Bias).Distinct(), Is.EqualTo(new[] { false }));

        // Conv2d(bias=False) before every BatchNorm2d, the usual idiom: recognised, not an error
        var bnKeys = Keys("vgg13_bn");
        var convBiases = bnKeys.Where(k => k.Shape.Length == 4).Select(k => k.Key[..^"weight".Length] + "bias").ToHashSet();
        Assert.That(convBiases, Has.Count.EqualTo(10));
        var bnNoBias = bnKeys.Where(k => !convBiases.Contains(k.Key)).ToList();
        Assert.That(VggRecognizer.Recognize(bnNoBias).Architecture, Is.EqualTo("vgg13_bn-variant"));

        // one input channel with standard widths is a variant too
        var gray = Keys("vgg11").Select(k => k.Key == "features.0.weight" ? (k.Key, new[] { 64, 1, 3, 3 }) : k).ToList();
        Assert.That(VggRecognizer.Recognize(gray).Architecture, Is.EqualTo("vgg11-variant"));
    }

    [Test]
    public void AVggStyleLayoutMayMixBiasedAndBiasFreeConvs()
    {
        // no torchvision layout: a bias-free conv among biased ones is a design choice, recognised as before
        var items = new VggFeature[] { new VggConv(16, 3, 3, false, true), new VggPool(), new VggConv(24, 3, 3, false, false), new VggPool() };
        var layers = TorchvisionVgg.FeatureLayers(items, 3, out _);
        var net = new Network("odd", 3, -1, -1, layers);
        var rec = VggRecognizer.Recognize(net.Parameters.Select(p => (p.Key, p.Shape)));
        Assert.That(rec.Architecture, Is.EqualTo("vgg-style+no-head"));
    }
}
