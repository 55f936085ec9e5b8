using Microsoft.Extensions.Logging;
using Vgg.Engine.Models;
using static Vgg.Engine.Tests.Models.ModelTestUtil;

namespace Vgg.Engine.Tests.Models;

public class StateDictBinderTests
{
    // conv(3→4) relu maxpool | flatten | linear(4·2·2 → 6) relu linear(6 → 3): a small net with a head.
    private static Network Small(string convName = "features.0", int classes = 3) => new("small", 3, 4, 4, new Layer[]
    {
        new Conv2dLayer(convName, 3, 4, 3, 1, 1, true),
        new BatchNormLayer("features.1", 4),
        new ReluLayer("features.2"),
        new MaxPool2dLayer("features.3", 2, 2),
        new FlattenLayer("flatten"),
        new LinearLayer("classifier.0", 16, 6),
        new ReluLayer("classifier.1"),
        new LinearLayer("classifier.2", 6, classes),
    });

    [Test]
    public void BindsEveryKeyAndUsesFloat32TensorsWithoutACopy()
    {
        var net = Small();
        var sd = MakeStateDict(net.Parameters.Select(p => (p.Key, p.Shape)).Append(("features.1.num_batches_tracked", Array.Empty<int>())));
        var r = StateDictBinder.Bind(sd, net.Parameters);
        Assert.That(r.Weights.Keys, Is.EquivalentTo(net.Parameters.Select(p => p.Key)));
        foreach (var p in net.Parameters)
            Assert.That(r.Weights[p.Key], Is.SameAs(sd[p.Key]), p.Key);
        Assert.That(r.Ignored, Is.EqualTo(new[] { "features.1.num_batches_tracked" }));
        Assert.That(r.Renamed, Is.Empty);
        Assert.That(r.HeadReset, Is.False);
    }

    [TestCase("module.")]
    [TestCase("module.module.")]
    public void DataParallelModulePrefixIsRemoved(string prefix)
    {
        var net = Small();
        var sd = MakeStateDict(net, rename: k => prefix + k);
        var r = StateDictBinder.Bind(sd, net.Parameters);
        Assert.That(r.Renamed, Has.Count.EqualTo(net.Parameters.Count));
        Assert.That(r.Renamed[0], Is.EqualTo(("features.0.weight", prefix + "features.0.weight")));
        Assert.That(r.Weights["classifier.2.bias"], Is.SameAs(sd[prefix + "classifier.2.bias"]));
    }

    [Test]
    public void ModuleInInfixPositionIsRemovedWithThePrefix()
    {
        // a wrapper whose VGG sits under self.backbone, with only the backbone wrapped in DataParallel
        var net = Small();
        var sd = MakeStateDict(net, rename: k => "backbone.module." + k);
        Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(sd, net.Parameters));
        var r = StateDictBinder.Bind(sd, net.Parameters, new BindOptions { KeyPrefix = "backbone." });
        Assert.That(r.Renamed[0], Is.EqualTo(("features.0.weight", "backbone.module.features.0.weight")));

        // infix between two real segments: features.module.0.weight (features wrapped on its own)
        var sd2 = MakeStateDict(net, rename: k => k.StartsWith("features.", StringComparison.Ordinal) ? k.Replace("features.", "features.module.") : k);
        var r2 = StateDictBinder.Bind(sd2, net.Parameters);
        Assert.That(r2.Renamed.Select(x => x.FileKey), Does.Contain("features.module.0.weight"));
        Assert.That(r2.Weights["features.0.weight"], Is.SameAs(sd2["features.module.0.weight"]));
    }

    [Test]
    public void AGenuineLayerNamedModuleIsNotStripped()
    {
        var net = Small(convName: "module");
        Assert.That(net.Parameters[0].Key, Is.EqualTo("module.weight"));
        var sd = MakeStateDict(net);
        var r = StateDictBinder.Bind(sd, net.Parameters);
        Assert.That(r.Renamed, Is.Empty);
        Assert.That(r.Weights["module.weight"], Is.SameAs(sd["module.weight"]));

        // wrapped in DataParallel: one "module" segment goes, the layer's own stays
        var sd2 = MakeStateDict(net, rename: k => "module." + k);
        var r2 = StateDictBinder.Bind(sd2, net.Parameters);
        Assert.That(r2.Weights["module.weight"], Is.SameAs(sd2["module.module.weight"]));
        Assert.That(r2.Weights["features.1.running_var"], Is.SameAs(sd2["module.features.1.running_var"]));

        // the bare layer name "module" must not be taken as a DataParallel prefix of "weight"
        Assert.That(StateDictBinder.Resolve("module.weight", k => k is "module.weight" or "weight"), Is.EqualTo("module.weight"));
    }

    [Test]
    public void MissingUnexpectedAndMisshapenKeysNameTheKeyAndBothValues()
    {
        var net = Small();
        var full = net.Parameters.Select(p => (p.Key, p.Shape)).ToList();

        var missing = MakeStateDict(full.Where(k => k.Key != "features.1.running_mean"), path: "ckpt.pth");
        var e = Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(missing, net.Parameters))!;
        Assert.That((e.FilePath, e.Key, e.Actual), Is.EqualTo(("ckpt.pth", "features.1.running_mean", "no such key in the state dict")));
        Assert.That(e.Expected, Does.Contain("[4]").And.Contain("features.1"));

        var extra = MakeStateDict(full.Append(("features.9.weight", new[] { 2, 2 })));
        e = Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(extra, net.Parameters))!;
        Assert.That(e.Key, Is.EqualTo("features.9.weight"));
        Assert.That(e.Actual, Does.Contain("unexpected").And.Contain("float32[2, 2]"));

        var shape = MakeStateDict(full.Select(k => k.Key == "features.0.weight" ? (k.Key, new[] { 4, 3, 5, 5 }) : k));
        e = Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(shape, net.Parameters))!;
        Assert.That((e.Key, e.Actual), Is.EqualTo(("features.0.weight", "[4, 3, 5, 5]")));
        Assert.That(e.Expected, Does.Contain("[4, 3, 3, 3]"));
        Assert.That(e.Message, Does.Contain("test.pth").And.Contain("features.0.weight"));

        // a renamed key: reported as missing, with the unexpected file key in the hint
        var renamed = MakeStateDict(full.Select(k => k.Key == "classifier.0.weight" ? ("classifier.fc.weight", k.Shape) : k));
        e = Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(renamed, net.Parameters))!;
        Assert.That(e.Key, Is.EqualTo("classifier.0.weight"));
        Assert.That(e.Message, Does.Contain("classifier.fc.weight"));

        // two file keys for one model key
        var twice = MakeStateDict(full.Append(("module.features.0.bias", new[] { 4 })));
        e = Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(twice, net.Parameters))!;
        Assert.That(e.Actual, Does.Contain("features.0.bias").And.Contain("module.features.0.bias"));
    }

    [Test]
    public void AHeadThatDoesNotFitFailsWithAHintUnlessAllowedThenIsReinitialisedFromTheSeed()
    {
        var checkpoint = Small(classes: 1000);
        var model = Small(classes: 10);
        var sd = MakeStateDict(checkpoint, path: "imagenet.pth");
        var headKeys = new[] { "classifier.2.weight", "classifier.2.bias" };

        var e = Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(sd, model.Parameters, new BindOptions { HeadKeys = headKeys }))!;
        Assert.That((e.Key, e.Actual), Is.EqualTo(("classifier.2.weight", "[1000, 6]")));
        Assert.That(e.Expected, Does.Contain("[10, 6]"));
        Assert.That(e.Message, Does.Contain("AllowHeadMismatch").And.Contain("--reset-head"));

        // Without declaring head keys the same checkpoint is a plain shape error.
        e = Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(sd, model.Parameters, new BindOptions { AllowHeadMismatch = true }))!;
        Assert.That(e.Message, Does.Not.Contain("--reset-head"));

        var log = new ListLogger();
        var r = StateDictBinder.Bind(sd, model.Parameters, new BindOptions { HeadKeys = headKeys, AllowHeadMismatch = true, Seed = 42, Logger = log });
        Assert.That(r.HeadReset, Is.True);
        Assert.That(r.Reinitialised.Select(x => x.ModelKey), Is.EqualTo(headKeys));
        Assert.That(r.Reinitialised[0].Reason, Does.Contain("[1000, 6]").And.Contain("[10, 6]"));
        foreach (var p in model.Parameters.Where(p => !headKeys.Contains(p.Key)))
            Assert.That(r.Weights[p.Key], Is.SameAs(sd[p.Key]), p.Key);
        var w = r.Weights["classifier.2.weight"];
        Assert.That(w.Shape, Is.EqualTo(new[] { 10, 6 }));
        Assert.That(w.ToFloatArray(), Is.EqualTo(WeightInit.Create(model.Parameters.Single(p => p.Key == "classifier.2.weight"), 42).ToFloatArray()));
        Assert.That(w.ToFloatArray().Any(v => v != 0), Is.True, "a seeded normal head, not zeros");
        Assert.That(r.Weights["classifier.2.bias"].ToFloatArray(), Is.All.EqualTo(0f), "torchvision init: Linear bias 0");
        Assert.That(log.Entries.Where(x => x.Level == LogLevel.Warning).Select(x => x.Message), Has.Some.Contains("head reset").And.Some.Contains("classifier.2.weight"));
        Assert.That(r.Messages, Has.Some.Contains("bound 8 of 10 tensors"));

        // A head missing from the file (a backbone checkpoint) is reset as well when allowed.
        var backbone = MakeStateDict(checkpoint.Parameters.Where(p => !p.Key.StartsWith("classifier.2", StringComparison.Ordinal)).Select(p => (p.Key, p.Shape)));
        Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(backbone, model.Parameters, new BindOptions { HeadKeys = headKeys }));
        var r2 = StateDictBinder.Bind(backbone, model.Parameters, new BindOptions { HeadKeys = headKeys, AllowHeadMismatch = true });
        Assert.That(r2.Reinitialised.Select(x => x.Reason), Is.All.EqualTo("not in the file"));

        // A mismatch outside the head is still an error with the option set.
        var body = MakeStateDict(checkpoint.Parameters.Select(p => p.Key == "classifier.0.weight" ? (p.Key, new[] { 6, 15 }) : (p.Key, p.Shape)));
        e = Assert.Throws<ModelMismatchException>(() => StateDictBinder.Bind(body, model.Parameters, new BindOptions { HeadKeys = headKeys, AllowHeadMismatch = true }))!;
        Assert.That(e.Key, Is.EqualTo("classifier.0.weight"));
    }

    [Test]
    public void TensorsOfOtherDtypesBecomeFloat32ExactlyAsRounded()
    {
        var p = new[]
        {
            new ParameterSpec("h", new[] { 5 }, ParameterRole.LinearBias, "h"),
            new ParameterSpec("b", new[] { 3 }, ParameterRole.LinearBias, "b"),
            new ParameterSpec("d", new[] { 4 }, ParameterRole.LinearBias, "d"),
            new ParameterSpec("i", new[] { 2, 2 }, ParameterRole.LinearWeight, "i"),
            new ParameterSpec("u", new[] { 2 }, ParameterRole.LinearBias, "u"),
        };
        var sd = new StateDict("mixed.pth", "memory");
        // float16: 1.5, -2.25, 3.125, the largest finite half, the smallest subnormal half (2^-24)
        sd.Add("h", Tensor.From(new[] { (Half)1.5f, (Half)(-2.25f), (Half)3.125f, BitConverter.UInt16BitsToHalf(0x7BFF), BitConverter.UInt16BitsToHalf(0x0001) }));
        // bfloat16 bits of 1.5, -2.5, 3.5 (SOURCES.md 5c bfloat16.pt)
        var bf = new Tensor(DType.BFloat16, new[] { 3 });
        new ushort[] { 0x3FC0, 0xC020, 0x4060 }.CopyTo(bf.AsSpan<ushort>());
        sd.Add("b", bf);
        // float64: 0.1 rounds to 0x3DCCCCCD; 1 + 2^-24 is a tie and rounds to even (1.0); 1 + 3·2^-24 rounds up; 1e-45 to the smallest subnormal
        sd.Add("d", Tensor.From(new[] { 0.1, 1.0 + Math.Pow(2, -24), 1.0 + 3 * Math.Pow(2, -24), 1e-45 }));
        sd.Add("i", Tensor.From(new long[] { 100, -200, 300, 0 }, 2, 2));
        sd.Add("u", Tensor.From(new byte[] { 0, 255 }));
        var r = StateDictBinder.Bind(sd, p);
        Assert.That(Bits(r.Weights["h"]), Is.EqualTo(new uint[] { 0x3FC00000, 0xC0100000, 0x40480000, 0x477FE000, 0x33800000 }));
        Assert.That(r.Weights["b"].ToFloatArray(), Is.EqualTo(new[] { 1.5f, -2.5f, 3.5f }));
        Assert.That(Bits(r.Weights["d"]), Is.EqualTo(new uint[] { 0x3DCCCCCD, 0x3F800000, 0x3F800002, 0x00000001 }));
        Assert.That(r.Weights["i"].ToFloatArray(), Is.EqualTo(new[] { 100f, -200f, 300f, 0f }));
        Assert.That(r.Weights["i"].Shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(r.Weights["u"].ToFloatArray(), Is.EqualTo(new[] { 0f, 255f }));
        Assert.That(r.Weights.Values.Select(t => t.DType), Is.All.EqualTo(DType.Float32));
        Assert.That(r.Converted.Select(c => (c.ModelKey, c.From)), Is.EqualTo(new[] { ("h", DType.Float16), ("b", DType.BFloat16), ("d", DType.Float64), ("i", DType.Int64), ("u", DType.UInt8) }));
        Assert.That(r.Messages, Has.Some.EqualTo("converted 1 tensors from float16 to float32"));
    }

    private static uint[] Bits(Tensor t) => t.ToFloatArray().Select(BitConverter.SingleToUInt32Bits).ToArray();
}
