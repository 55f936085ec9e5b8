using Microsoft.Extensions.Logging;
using Vgg.Engine.IR;
using Vgg.Engine.Models;
using static Vgg.Engine.Tests.Models.ModelTestUtil;

namespace Vgg.Engine.Tests.Models;

public class ModelFactoryTests
{
    [Test]
    public void RecognisesAndBindsAVggStyleStateDict()
    {
        var net = TinyVggStyle(bn: true);
        var sd = MakeStateDict(net.Parameters.Select(p => (p.Key, p.Shape))
            .Concat(net.Layers.OfType<BatchNormLayer>().Select(b => (b.Name + ".num_batches_tracked", Array.Empty<int>()))), path: "pruned.pth");
        var log = new ListLogger();
        var m = ModelFactory.FromStateDict(sd, new ModelOptions { Logger = log });
        Assert.That(m.Architecture, Is.EqualTo("vgg16_bn-pruned+custom-head"));
        Assert.That(m.Recognition!.Layout, Is.EqualTo(new[] { 4, 4, TorchvisionVgg.M, 8, 8, TorchvisionVgg.M, 8, 8, 8, TorchvisionVgg.M, 8, 8, 8, TorchvisionVgg.M, 8, 8, 8, TorchvisionVgg.M }));
        Assert.That((m.NumClasses, m.InputSize, m.OutputKind, m.OutputLayer, m.Seed), Is.EqualTo((5, (224, 224), OutputKind.Logits, (string?)null, (int?)null)));
        Assert.That(m.Preprocessing, Is.SameAs(Preprocessing.ImageNet));
        Assert.That(m.Graph.Inputs.Single().ToString(), Is.EqualTo("input: float32[?, 3, ?, ?]"));
        Assert.That(m.Graph.Outputs.Single().ToString(), Is.EqualTo("logits: float32[?, 5]"));
        Assert.That(m.Graph.Nodes.Select(n => n.Name), Is.EqualTo(net.Layers.Select(l => l.Name)));
        foreach (var p in net.Parameters)
            Assert.That(m.Graph.Initializers[p.Key], Is.SameAs(sd[p.Key]), p.Key);
        Assert.That(m.Binding!.Ignored, Has.Count.EqualTo(13), "13 num_batches_tracked");
        Assert.That(log.Entries.Select(e => e.Message), Has.Some.StartsWith("recognised vgg16_bn-pruned+custom-head: 13 conv (4, 4, M,"));
        Assert.That(log.Entries.Select(e => e.Message), Has.Some.Contains("bound 84 of 84 tensors from pruned.pth"));
    }

    [TestCase("module.", "")]
    [TestCase("backbone.module.", "backbone.")]
    [TestCase("net.", "net.")]
    public void WrappedKeysAreMatched(string prefix, string detected)
    {
        var net = TinyVggStyle(bn: false);
        var sd = MakeStateDict(net, rename: k => prefix + k);
        var m = ModelFactory.FromStateDict(sd);
        Assert.That(m.Recognition!.KeyPrefix, Is.EqualTo(detected));
        Assert.That(m.Graph.Initializers["features.0.weight"], Is.SameAs(sd[prefix + "features.0.weight"]));
        Assert.That(m.Binding!.Renamed, Has.Count.EqualTo(net.Parameters.Count));
    }

    [Test]
    public void ANewClassCountNeedsTheHeadOptionAndThenResetsOnlyTheHead()
    {
        var net = TinyVggStyle(bn: false, classes: 1000);
        var sd = MakeStateDict(net, path: "imagenet.pth");
        var e = Assert.Throws<ModelMismatchException>(() => ModelFactory.FromStateDict(sd, new ModelOptions { NumClasses = 10 }))!;
        Assert.That(e.Key, Is.EqualTo("classifier.6.weight"));
        Assert.That(e.Message, Does.Contain("[10, 16]").And.Contain("[1000, 16]").And.Contain("AllowHeadMismatch").And.Contain("--reset-head"));

        var log = new ListLogger();
        var m = ModelFactory.FromStateDict(sd, new ModelOptions { NumClasses = 10, AllowHeadMismatch = true, Seed = 4, Logger = log });
        Assert.That(m.NumClasses, Is.EqualTo(10));
        Assert.That(m.Graph.Outputs.Single().Shape, Is.EqualTo(new[] { -1, 10 }));
        Assert.That(m.Binding!.Reinitialised.Select(r => r.ModelKey), Is.EqualTo(new[] { "classifier.6.weight", "classifier.6.bias" }));
        Assert.That(m.Graph.Initializers["classifier.3.weight"], Is.SameAs(sd["classifier.3.weight"]));
        Assert.That(m.Graph.Initializers["classifier.6.weight"].Shape, Is.EqualTo(new[] { 10, 16 }));
        Assert.That(log.Entries, Has.Some.Matches<(LogLevel Level, string Message)>(x => x.Level == LogLevel.Warning && x.Message.Contains("head reset", StringComparison.Ordinal)));

        // Same class count as the checkpoint: nothing to reset even with the option.
        var same = ModelFactory.FromStateDict(sd, new ModelOptions { NumClasses = 1000, AllowHeadMismatch = true });
        Assert.That(same.Binding!.HeadReset, Is.False);
    }

    [Test]
    public void AnArchitectureOverrideMustFitTheStateDict()
    {
        var sd = MakeStateDict(TinyVggStyle(bn: false), path: "tiny.pth");
        var e = Assert.Throws<ModelMismatchException>(() => ModelFactory.FromStateDict(sd, new ModelOptions { Architecture = "vgg16" }))!;
        Assert.That((e.Key, e.Actual), Is.EqualTo(("features.0.weight", "[4, 3, 3, 3]")));
        Assert.That(e.Expected, Does.Contain("[64, 3, 3, 3]"));
        e = Assert.Throws<ModelMismatchException>(() => ModelFactory.FromStateDict(sd, new ModelOptions { Architecture = "vgg16_bn" }))!;
        Assert.That(e.Message, Does.Contain("tiny.pth"));
        Assert.Throws<ModelFormatException>(() => ModelFactory.FromStateDict(sd, new ModelOptions { Architecture = "vgg17" }));
    }

    [TestCase("features.29", "[?, 8, ?, ?]", "features.29", 29)]
    [TestCase("features", "[?, 8, ?, ?]", "features.30", 30)]
    [TestCase("avgpool", "[?, 8, 7, 7]", "avgpool", 31)]
    [TestCase("classifier.3", "[?, 16]", "classifier.3", 36)]
    public void FeaturesOnlyReturnsTheNamedLayersOutput(string layer, string shape, string lastNode, int lastIndex)
    {
        var sd = MakeStateDict(TinyVggStyle(bn: false));
        var m = ModelFactory.FromStateDict(sd, new ModelOptions { OutputLayer = layer });
        var g = m.Graph;
        Assert.That(g.Outputs.Single().ToString(), Is.EqualTo($"{layer}: float32{shape}"));
        Assert.That(g.Nodes[^1].Name, Is.EqualTo(lastNode));
        Assert.That(g.Nodes, Has.Count.EqualTo(lastIndex + 1));
        Assert.That(g.Nodes[^1].Outputs, Is.EqualTo(new[] { layer }));
        Assert.That((m.OutputKind, m.OutputLayer, m.NumClasses), Is.EqualTo((OutputKind.Features, layer, 0)));
        Assert.That(g.Initializers.Keys, Has.None.StartsWith("classifier.6"));
        Assert.That(m.Binding!.Ignored, Does.Contain("classifier.6.weight"));
        Assert.That(g.Name, Is.EqualTo($"vgg16-pruned+custom-head[:{layer}]"));
        g.Validate();

        var e = Assert.Throws<ModelMismatchException>(() => ModelFactory.FromStateDict(sd, new ModelOptions { OutputLayer = "features.99" }))!;
        Assert.That(e.Key, Is.EqualTo("features.99"));
    }

    [Test]
    public void InputSizeSetsMetadataAndPreprocessingAndIsChecked()
    {
        var sd = MakeStateDict(TinyVggStyle(bn: false));
        var m = ModelFactory.FromStateDict(sd, new ModelOptions { InputSize = (512, 512) });
        Assert.That(m.InputSize, Is.EqualTo((512, 512)));
        Assert.That((m.Preprocessing.ResizeHeight, m.Preprocessing.CropHeight, m.Preprocessing.CropWidth), Is.EqualTo((585, 512, 512)));
        Assert.That(m.Graph.Inputs.Single().Shape, Is.EqualTo(new[] { -1, 3, -1, -1 }), "the graph stays size-independent");
        // 512 → 16×16 after features; AdaptiveAvgPool2d((7, 7)) with overlapping bins
        Assert.That(m.Network!.InferShapes(512, 512)[30], Is.EqualTo(new[] { 8, 16, 16 }));

        var e = Assert.Throws<ModelFormatException>(() => ModelFactory.FromStateDict(sd, new ModelOptions { InputSize = (20, 20) }))!;
        Assert.That(e.Key, Does.StartWith("features."));
        Assert.Throws<ModelMismatchException>(() => ModelFactory.FromStateDict(sd, new ModelOptions { Labels = new[] { "a", "b" } }));
        var labelled = ModelFactory.FromStateDict(sd, new ModelOptions { Labels = new[] { "a", "b", "c", "d", "e" } });
        Assert.That(labelled.Labels, Is.EqualTo(new[] { "a", "b", "c", "d", "e" }));
    }

    [Test]
    public void SeededVgg16IsTorchvisionsAndLoadsBackWithANewHead()
    {
        // the full 138 M parameter model: structure, determinism of a sample, then the seed guide's partial load
        var m = ModelFactory.Seeded("vgg16", seed: 1);
        Assert.That(m.Architecture, Is.EqualTo("vgg16"));
        Assert.That(m.Graph.Initializers.Values.Sum(t => t.ElementCount), Is.EqualTo(Torchvision("vgg16", 1000).Parameters));
        Assert.That(m.Graph.Initializers, Has.Count.EqualTo(32));
        Assert.That(m.Seed, Is.EqualTo(1));
        var fc6 = m.Graph.Initializers["classifier.0.weight"];
        Assert.That(fc6.Shape, Is.EqualTo(new[] { 4096, 25088 }));
        var rng = SeededRandom.ForTensor(1, "classifier.0.weight");
        foreach (long i in new long[] { 0, 1, 77_777_777, fc6.ElementCount - 1 })
            Assert.That(fc6.AsSpan<float>()[(int)i], Is.EqualTo((float)(0.01 * rng.Normal((ulong)i))), $"fc6[{i}]");

        // torch.save(model.state_dict()) of a DataParallel model: module.-prefixed, 1000 classes
        var sd = new StateDict("vgg16-imagenet.pth", "memory");
        foreach (var p in m.Network!.Parameters) sd.Add("module." + p.Key, m.Graph.Initializers[p.Key]);
        var e = Assert.Throws<ModelMismatchException>(() => ModelFactory.FromStateDict(sd, new ModelOptions { NumClasses = 10 }))!;
        Assert.That(e.Message, Does.Contain("module.classifier.6.weight").And.Contain("--reset-head"));
        var ft = ModelFactory.FromStateDict(sd, new ModelOptions { NumClasses = 10, AllowHeadMismatch = true, Seed = 2 });
        Assert.That((ft.Architecture, ft.NumClasses), Is.EqualTo(("vgg16", 10)));
        Assert.That(ft.Recognition!.NumClasses, Is.EqualTo(1000));
        Assert.That(ft.Graph.Initializers["classifier.0.weight"], Is.SameAs(fc6));
        Assert.That(ft.Graph.Initializers["classifier.6.weight"].Shape, Is.EqualTo(new[] { 10, 4096 }));
        Assert.That(ft.Binding!.Reinitialised, Has.Count.EqualTo(2));
    }

    [Test]
    public void SeededVariantsGapHeadBatchNormStatisticsAndFeatures()
    {
        var gap = ModelFactory.Seeded("vgg11_bn", 0, 10, new ModelOptions { Head = VggHead.GlobalPool, OutputLayer = "classifier.0" });
        Assert.That(gap.Graph.Initializers["classifier.0.weight"].Shape, Is.EqualTo(new[] { 4096, 512 }));
        Assert.That(gap.Graph.Nodes.Single(n => n.Name == "avgpool").Op, Is.InstanceOf<GlobalAveragePoolOp>());

        var constant = ModelFactory.Seeded("vgg11_bn", 0, options: new ModelOptions { OutputLayer = "features" });
        Assert.That(constant.Graph.Initializers["features.1.running_var"].ToFloatArray(), Is.All.EqualTo(1f));
        var random = ModelFactory.Seeded("vgg11_bn", 0, options: new ModelOptions { OutputLayer = "features", RandomBatchNormStatistics = true });
        var var_ = random.Graph.Initializers["features.1.running_var"].ToFloatArray();
        Assert.That(var_, Is.All.InRange(0.5f, 1.5f));
        Assert.That(var_, Has.Some.Not.EqualTo(1f));
        Assert.That(random.Graph.Initializers["features.1.running_mean"].ToFloatArray(), Is.Not.All.EqualTo(0f));
        Assert.That(random.Graph.Initializers["features.0.weight"].Bytes.SequenceEqual(constant.Graph.Initializers["features.0.weight"].Bytes), Is.True,
            "conv weights do not depend on the BN option");
        Assert.Throws<ModelFormatException>(() => ModelFactory.Seeded("resnet50", 0));
    }
}
