using Vgg.Engine.IR;
using Vgg.Engine.Models;
using static Vgg.Engine.Tests.Models.ModelTestUtil;

namespace Vgg.Engine.Tests.Models;

/// <summary>
/// Our torchvision VGG builders and recognizer against torchvision 0.14 itself: the state-dict keys, shapes and
/// module names in Tests/Fixtures/models/vgg_keys.json were written by make_vgg_keys.py from the real builders.
/// </summary>
public class VggStructureTests
{
    [TestCaseSource(typeof(ModelTestUtil), nameof(TorchvisionCases))]
    public void BuilderHasTorchvisionsKeysShapesAndModuleNames(string arch, int numClasses)
    {
        var tv = Torchvision(arch, numClasses);
        var net = TorchvisionVgg.Build(arch, numClasses);
        var expected = tv.Keys.Where(k => !k.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            .Select(k => $"{k.Key} {Tensor.FormatShape(k.Shape)}").ToArray();
        var actual = net.Parameters.Select(p => $"{p.Key} {Tensor.FormatShape(p.Shape)}").ToArray();
        Assert.That(actual, Is.EqualTo(expected), "parameter keys and shapes in state-dict order");
        Assert.That(net.Parameters.Sum(p => Tensor.Product(p.Shape)) - BnBufferCount(net), Is.EqualTo(tv.Parameters), "learnable parameter count");

        // Every leaf module of torchvision's model is one of our layers, with the same path; plus the functional flatten.
        var leaves = tv.Modules.Where(m => !tv.Modules.Any(o => o.StartsWith(m + ".", StringComparison.Ordinal))).ToArray();
        var withFlatten = leaves.SelectMany(m => m == "avgpool" ? new[] { m, "flatten" } : new[] { m });
        Assert.That(net.Layers.Select(l => l.Name), Is.EqualTo(withFlatten), "layer names in order");
        Assert.That(net.OutputShape, Is.EqualTo(new[] { numClasses }));
    }

    [TestCaseSource(typeof(ModelTestUtil), nameof(TorchvisionCases))]
    public void RecognizesArchitectureAndClassCountFromShapes(string arch, int numClasses)
    {
        var tv = Torchvision(arch, numClasses);
        var rec = VggRecognizer.Recognize(tv.Keys.Select(k => (k.Key, k.Shape)), "x.pth");
        Assert.Multiple(() =>
        {
            Assert.That(rec.Architecture, Is.EqualTo(arch));
            Assert.That(rec.NumClasses, Is.EqualTo(numClasses));
            Assert.That(rec.Head, Is.EqualTo(VggHeadKind.Torchvision));
            Assert.That(rec.BatchNorm, Is.EqualTo(arch.EndsWith("_bn", StringComparison.Ordinal)));
            Assert.That(rec.StandardWidths, Is.True);
            Assert.That(rec.PoolOutputSize, Is.EqualTo(7));
            Assert.That(rec.KeyPrefix, Is.EqualTo(""));
            Assert.That(rec.Layout, Is.EqualTo(TorchvisionVgg.Configs[TorchvisionVgg.ParseArchitecture(arch).Config]));
        });
        // The recognised network is the builder's.
        Assert.That(rec.Network.Layers, Is.EqualTo(TorchvisionVgg.Build(arch, numClasses).Layers));
    }

    [TestCase("module.")]
    [TestCase("backbone.module.")]
    [TestCase("module.backbone.")]
    [TestCase("model.")]
    public void RecognizesThroughDataParallelSegmentsAndAPrefix(string prefix)
    {
        var tv = Torchvision("vgg11_bn", 10);
        var rec = VggRecognizer.Recognize(tv.Keys.Select(k => (prefix + k.Key, k.Shape)));
        Assert.That(rec.Architecture, Is.EqualTo("vgg11_bn"));
        Assert.That(rec.NumClasses, Is.EqualTo(10));
        Assert.That(rec.KeyPrefix, Is.EqualTo(prefix.Replace("module.", "")));
    }

    [Test]
    public void GraphHasTorchvisionNamesInputAndOutput()
    {
        // A VGG-16 layout with tiny widths gives the same graph structure as vgg16 without 500 MB of weights.
        var net = TinyVggStyle(bn: true);
        var weights = WeightInit.Create(net.Parameters, 1);
        var g = net.ToGraph(weights, "logits");
        Assert.That(g.Inputs.Single().ToString(), Is.EqualTo("input: float32[?, 3, ?, ?]"));
        Assert.That(g.Outputs.Single().ToString(), Is.EqualTo("logits: float32[?, 5]"));
        Assert.That(g.Nodes.Select(n => n.Name), Is.EqualTo(net.Layers.Select(l => l.Name)));
        Assert.That(g.Initializers.Keys, Is.EquivalentTo(net.Parameters.Select(p => p.Key)));
        var conv = g.Nodes[0];
        Assert.That(conv.Op, Is.InstanceOf<ConvOp>());
        var c = (ConvOp)conv.Op;
        Assert.That((c.KernelShape, c.Strides, c.Pads, c.Group), Is.EqualTo((new[] { 3, 3 }, new[] { 1, 1 }, new[] { 1, 1, 1, 1 }, 1)));
        Assert.That(conv.Inputs, Is.EqualTo(new[] { "input", "features.0.weight", "features.0.bias" }));
        Assert.That(conv.Outputs, Is.EqualTo(new[] { "features.0" }));
        Assert.That(g.Nodes[1].Op, Is.InstanceOf<BatchNormOp>());
        Assert.That(g.Nodes[1].Inputs, Is.EqualTo(new[] { "features.0", "features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var" }));
        Assert.That(g.Nodes[2].Op, Is.EqualTo(new UnaryOp(UnaryKind.Relu)));
        var pool = g.Nodes.Single(n => n.Name == "features.6").Op;
        Assert.That(pool, Is.InstanceOf<MaxPoolOp>());
        Assert.That(((MaxPoolOp)pool).KernelShape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(g.Nodes.Single(n => n.Name == "avgpool").Op, Is.EqualTo(new AdaptiveAvgPoolOp(7, 7)));
        Assert.That(g.Nodes.Single(n => n.Name == "flatten").Op, Is.EqualTo(new FlattenOp(1)));
        var fc = g.Nodes.Single(n => n.Name == "classifier.6");
        Assert.That(fc.Op, Is.EqualTo(GemmOp.Linear()));
        Assert.That(fc.Outputs, Is.EqualTo(new[] { "logits" }));
        Assert.That(g.Nodes.Single(n => n.Name == "classifier.5").Op, Is.InstanceOf<DropoutOp>());
    }

    [Test]
    public void GlobalPoolHeadsAreRecognisedAndBuilt()
    {
        // torchvision model with model.avgpool = AdaptiveAvgPool2d(1) and classifier[0] = Linear(512, 4096)
        var gap = TorchvisionVgg.Build("vgg16", 10, VggHead.GlobalPool);
        Assert.That(gap.Parameters.Single(p => p.Key == "classifier.0.weight").Shape, Is.EqualTo(new[] { 4096, 512 }));
        var rec = VggRecognizer.Recognize(gap.Parameters.Select(p => (p.Key, p.Shape)));
        Assert.That((rec.Architecture, rec.Head, rec.PoolOutputSize, rec.NumClasses), Is.EqualTo(("vgg16+gap-head", VggHeadKind.GlobalPool, 1, 10)));
        Assert.That(rec.Network.Layers.Single(l => l.Name == "avgpool"), Is.EqualTo(new AdaptiveAvgPool2dLayer("avgpool", 1, 1)));

        // model.classifier = nn.Linear(512, n): keys classifier.weight / classifier.bias
        var lin = TorchvisionVgg.Build("vgg13_bn", 37, VggHead.GlobalPoolLinear);
        Assert.That(lin.Parameters.TakeLast(2).Select(p => p.ToString()), Is.EqualTo(new[] { "classifier.weight float32[37, 512]", "classifier.bias float32[37]" }));
        var rec2 = VggRecognizer.Recognize(lin.Parameters.Select(p => (p.Key, p.Shape)));
        Assert.That((rec2.Architecture, rec2.Head, rec2.NumClasses), Is.EqualTo(("vgg13_bn+gap-linear-head", VggHeadKind.GlobalPoolLinear, 37)));
        Assert.That(rec2.Network.Layers, Is.EqualTo(lin.Layers));

        // the graph's avgpool is a GlobalAveragePool, and its output is [N, 512, 1, 1]
        var tiny = TinyVggStyle(bn: false, pool: 1);
        var g = tiny.ToGraph(WeightInit.Create(tiny.Parameters, 0), "logits");
        Assert.That(g.Nodes.Single(n => n.Name == "avgpool").Op, Is.InstanceOf<GlobalAveragePoolOp>());
        Assert.That(tiny.LayerShapes[tiny.Layers.ToList().FindIndex(l => l.Name == "avgpool")], Is.EqualTo(new[] { 8, 1, 1 }));
    }

    [Test]
    public void PrunedWidthsAreRecognisedAsVggStyleAndBuiltFromTheShapes()
    {
        // VGG-16-BN layout, channel-pruned widths (e.g. torch-pruning / network slimming output).
        int[] layout = { 40, 61, TorchvisionVgg.M, 100, 128, TorchvisionVgg.M, 200, 256, 190, TorchvisionVgg.M, 300, 512, 480, TorchvisionVgg.M, 256, 200, 128, TorchvisionVgg.M };
        var net = TinyVggStyle(bn: true, layout, hidden: 512, classes: 10);
        var rec = VggRecognizer.Recognize(net.Parameters.Select(p => (p.Key, p.Shape)));
        Assert.Multiple(() =>
        {
            Assert.That(rec.Architecture, Is.EqualTo("vgg16_bn-pruned+custom-head"));
            Assert.That(rec.Config, Is.EqualTo("D"));
            Assert.That(rec.StandardWidths, Is.False);
            Assert.That(rec.Layout, Is.EqualTo(layout));
            Assert.That(rec.Head, Is.EqualTo(VggHeadKind.Custom));
            Assert.That(rec.NumClasses, Is.EqualTo(10));
            Assert.That(rec.Network.Layers, Is.EqualTo(net.Layers));
        });

        // A layout no torchvision cfg has: 3 stages, one 5×5 conv, no bias on one conv.
        var items = new VggFeature[] { new VggConv(16, 3, 3, false, true), new VggPool(), new VggConv(24, 5, 5, false, false), new VggConv(24, 3, 3, false, true), new VggPool(), new VggConv(32, 3, 3, false, true), new VggPool() };
        var layers = TorchvisionVgg.FeatureLayers(items, 1, out _);
        var odd = layers.Concat(new Layer[] { new AdaptiveAvgPool2dLayer("avgpool", 2, 2), new FlattenLayer("flatten"), new LinearLayer("classifier", 128, 4) });
        var oddNet = new Network("odd", 1, -1, -1, odd);
        var rec2 = VggRecognizer.Recognize(oddNet.Parameters.Select(p => (p.Key, p.Shape)));
        Assert.That(rec2.Architecture, Is.EqualTo("vgg-style+custom-head"));
        Assert.That(rec2.InputChannels, Is.EqualTo(1));
        Assert.That(rec2.Network.Layers, Is.EqualTo(oddNet.Layers));
        var conv = (Conv2dLayer)rec2.Network.Layers.Single(l => l.Name == "features.3");
        Assert.That((conv.KernelH, conv.PadH, conv.Bias), Is.EqualTo((5, 2, false)));
    }

    [Test]
    public void CustomHeadsKeepTheirIndicesWithReluAndDropoutBetween()
    {
        // classifier = Sequential(Dropout, Linear(25088, 256), BatchNorm1d(256), ReLU, Dropout, Linear(256, 7))
        var keys = Torchvision("vgg11", 1000).Keys.Where(k => k.Key.StartsWith("features.", StringComparison.Ordinal)).Select(k => (k.Key, k.Shape)).ToList();
        keys.Add(("classifier.1.weight", new[] { 256, 25088 }));
        keys.Add(("classifier.1.bias", new[] { 256 }));
        keys.Add(("classifier.2.weight", new[] { 256 }));
        keys.Add(("classifier.2.bias", new[] { 256 }));
        keys.Add(("classifier.2.running_mean", new[] { 256 }));
        keys.Add(("classifier.2.running_var", new[] { 256 }));
        keys.Add(("classifier.5.weight", new[] { 7, 256 }));
        keys.Add(("classifier.5.bias", new[] { 7 }));
        var rec = VggRecognizer.Recognize(keys);
        var head = rec.Network.Layers.SkipWhile(l => l.Name != "avgpool").Select(l => $"{l.Name}:{l.Type}");
        Assert.That(head, Is.EqualTo(new[]
        {
            "avgpool:adaptive_avgpool", "flatten:flatten", "classifier.0:dropout", "classifier.1:linear", "classifier.2:batchnorm1d",
            "classifier.3:relu", "classifier.4:dropout", "classifier.5:linear",
        }));
        Assert.That((rec.Architecture, rec.NumClasses), Is.EqualTo(("vgg11+custom-head", 7)));
    }

    [Test]
    public void BackboneWithoutClassifierIsRecognised()
    {
        var keys = Torchvision("vgg19_bn", 1000).Keys.Where(k => k.Key.StartsWith("features.", StringComparison.Ordinal)).Select(k => (k.Key, k.Shape));
        var rec = VggRecognizer.Recognize(keys);
        Assert.That((rec.Architecture, rec.Head, rec.NumClasses), Is.EqualTo(("vgg19_bn+no-head", VggHeadKind.None, 0)));
        Assert.That(rec.Network.OutputShape, Is.EqualTo(new[] { 512, -1, -1 }));
    }

    [Test]
    public void KeysThatAreNotVggAreRejectedNamingTheKey()
    {
        // TinyVGG's keys (SOURCES.md 5a)
        var tiny = new[] { ("conv_block_1.0.weight", new[] { 10, 3, 3, 3 }), ("conv_block_1.0.bias", new[] { 10 }) };
        var e = Assert.Throws<ModelMismatchException>(() => VggRecognizer.Recognize(tiny, "tinyvgg.pth"))!;
        Assert.That(e.Key, Is.EqualTo("conv_block_1.0.weight"));
        Assert.That(e.Message, Does.Contain("tinyvgg.pth").And.Contain("features.<i>").And.Contain("--spec"));

        // a Dropout or other parameter-free extra layer in features shifts the indices beyond the VGG pattern
        var tv = Torchvision("vgg11", 1000).Keys.Select(k => (k.Key, k.Shape)).ToList();
        var shifted = tv.Select(k => k.Key.StartsWith("features.3.", StringComparison.Ordinal) ? (k.Key.Replace("features.3.", "features.5."), k.Shape) : k).ToList();
        e = Assert.Throws<ModelMismatchException>(() => VggRecognizer.Recognize(shifted))!;
        Assert.That(e.Key, Is.EqualTo("features.5.weight"));
        Assert.That(e.Expected, Does.Contain("features.2").And.Contain("features.3"));

        // a conv whose input channels do not match the previous conv
        var bad = tv.Select(k => k.Key == "features.3.weight" ? (k.Key, new[] { 128, 32, 3, 3 }) : k).ToList();
        e = Assert.Throws<ModelMismatchException>(() => VggRecognizer.Recognize(bad))!;
        Assert.That((e.Key, e.Expected, e.Actual), Is.EqualTo(("features.3.weight", "64 input channels (the previous conv's output)", "32 ([128, 32, 3, 3])")));

        // a classifier whose input is not C·s·s
        var head = tv.Select(k => k.Key == "classifier.0.weight" ? (k.Key, new[] { 4096, 1000 }) : k).ToList();
        e = Assert.Throws<ModelMismatchException>(() => VggRecognizer.Recognize(head))!;
        Assert.That(e.Key, Is.EqualTo("classifier.0.weight"));
        Assert.That(e.Expected, Does.Contain("25088").And.Contain("global average pool"));

        // BN running stats with the wrong width
        var bn = Torchvision("vgg11_bn", 1000).Keys.Select(k => k.Key == "features.1.running_var" ? (k.Key, new[] { 63 }) : (k.Key, k.Shape));
        e = Assert.Throws<ModelMismatchException>(() => VggRecognizer.Recognize(bn))!;
        Assert.That(e.Key, Is.EqualTo("features.1.running_var"));

        Assert.Throws<ModelMismatchException>(() => VggRecognizer.Recognize(Array.Empty<(string, int[])>()));
    }

    [Test]
    public void FeaturesOnlyCutsAtALayerOrBlock()
    {
        var net = TorchvisionVgg.Build("vgg16", 1000);
        Assert.That(net.Truncate("features.29").Layers[^1].Name, Is.EqualTo("features.29"));
        Assert.That(net.Truncate("features.29").OutputShape, Is.EqualTo(new[] { 512, -1, -1 }));
        Assert.That(net.Truncate("features").Layers[^1].Name, Is.EqualTo("features.30"));
        Assert.That(net.Truncate("avgpool").OutputShape, Is.EqualTo(new[] { 512, 7, 7 }));
        Assert.That(net.Truncate("classifier.3").OutputShape, Is.EqualTo(new[] { 4096 }));
        Assert.That(net.Truncate("classifier.3").Parameters.Last().Key, Is.EqualTo("classifier.3.bias"));
        var e = Assert.Throws<ModelMismatchException>(() => net.Truncate("features.31"))!;
        Assert.That(e.Message, Does.Contain("features.31").And.Contain("features.0").And.Contain("classifier.6"));
        Assert.Throws<ModelMismatchException>(() => net.Truncate("feat"));
    }

    [Test]
    public void InputSizesFollowPyTorchsShapeRules()
    {
        var net = TorchvisionVgg.Build("vgg16_bn", 1000);
        var at512 = net.InferShapes(512, 512);
        Assert.That(at512[net.Layers.ToList().FindIndex(l => l.Name == "features.43")], Is.EqualTo(new[] { 512, 16, 16 }));
        Assert.That(at512[net.Layers.ToList().FindIndex(l => l.Name == "avgpool")], Is.EqualTo(new[] { 512, 7, 7 }));
        var odd = net.InferShapes(250, 333); // floor pooling: 250→125→62→31→15→7, 333→166→83→41→20→10
        Assert.That(odd[net.Layers.ToList().FindIndex(l => l.Name == "features.43")], Is.EqualTo(new[] { 512, 7, 10 }));
        var e = Assert.Throws<ModelFormatException>(() => net.InferShapes(16, 16))!;
        Assert.That(e.Key, Does.StartWith("features."));
        Assert.That(e.Message, Does.Contain("too small"));
    }

    private static long BnBufferCount(Network net) =>
        net.Parameters.Where(p => p.Role is ParameterRole.BatchNormRunningMean or ParameterRole.BatchNormRunningVar).Sum(p => Tensor.Product(p.Shape));
}
