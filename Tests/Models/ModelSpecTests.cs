using Vgg.Engine.IR;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Models.ModelTestUtil;

namespace Vgg.Engine.Tests.Models;

public class ModelSpecTests
{
    private static string SpecPath(string name) => Path.Combine(TestData.RepoRoot, "models", name);

    // Keys and shapes as listed in ../shared/testdata/SOURCES.md 5a and 5b (read from the real checkpoints).
    private static readonly (string Key, int[] Shape)[] TinyVggKeys =
    {
        ("conv_block_1.0.weight", new[] { 10, 3, 3, 3 }), ("conv_block_1.0.bias", new[] { 10 }),
        ("conv_block_1.2.weight", new[] { 10, 10, 3, 3 }), ("conv_block_1.2.bias", new[] { 10 }),
        ("conv_block_2.0.weight", new[] { 10, 10, 3, 3 }), ("conv_block_2.0.bias", new[] { 10 }),
        ("conv_block_2.2.weight", new[] { 10, 10, 3, 3 }), ("conv_block_2.2.bias", new[] { 10 }),
        ("classifier.1.weight", new[] { 3, 1690 }), ("classifier.1.bias", new[] { 3 }),
    };

    private static readonly (string Key, int[] Shape)[] MnistKeys =
    {
        ("conv1.weight", new[] { 8, 1, 3, 3 }), ("conv1.bias", new[] { 8 }),
        ("conv2.weight", new[] { 16, 8, 3, 3 }), ("conv2.bias", new[] { 16 }),
        ("conv3.weight", new[] { 24, 16, 3, 3 }), ("conv3.bias", new[] { 24 }),
        ("norm1.weight", new[] { 24 }), ("norm1.bias", new[] { 24 }), ("norm1.running_mean", new[] { 24 }), ("norm1.running_var", new[] { 24 }),
        ("fc1.weight", new[] { 32, 11616 }), ("fc1.bias", new[] { 32 }),
        ("fc2.weight", new[] { 10, 32 }), ("fc2.bias", new[] { 10 }),
        ("norm2.weight", new[] { 10 }), ("norm2.bias", new[] { 10 }), ("norm2.running_mean", new[] { 10 }), ("norm2.running_var", new[] { 10 }),
    };

    [Test]
    public void TinyVggSpecMatchesTheCheckpointsArchitecture()
    {
        var spec = ModelSpec.Load(SpecPath("tinyvgg.json"));
        var net = spec.Network;
        Assert.That(net.Parameters.Select(p => (p.Key, p.Shape)), Is.EqualTo(TinyVggKeys));
        Assert.That(net.Layers.Select(l => $"{l.Name}:{l.Type}"), Is.EqualTo(new[]
        {
            "conv_block_1.0:conv", "conv_block_1.1:relu", "conv_block_1.2:conv", "conv_block_1.3:relu", "conv_block_1.4:maxpool",
            "conv_block_2.0:conv", "conv_block_2.1:relu", "conv_block_2.2:conv", "conv_block_2.3:relu", "conv_block_2.4:maxpool",
            "classifier.0:flatten", "classifier.1:linear",
        }));
        // 64→62→60→30→28→26→13 (SOURCES.md 5a)
        Assert.That(net.LayerShapes.Select(s => Tensor.FormatShape(s)), Is.EqualTo(new[]
        {
            "[10, 62, 62]", "[10, 62, 62]", "[10, 60, 60]", "[10, 60, 60]", "[10, 30, 30]",
            "[10, 28, 28]", "[10, 28, 28]", "[10, 26, 26]", "[10, 26, 26]", "[10, 13, 13]", "[1690]", "[3]",
        }));
        Assert.That((net.InputChannels, net.InputHeight, net.InputWidth), Is.EqualTo((3, 64, 64)));
        Assert.That(spec.Labels, Is.EqualTo(new[] { "pizza", "steak", "sushi" }));
        Assert.That(spec.OutputKind, Is.EqualTo(OutputKind.Logits));
        var pre = spec.Preprocessing;
        Assert.That((pre.Color, pre.Resize, pre.ResizeHeight, pre.ResizeWidth, pre.CropHeight, pre.CropWidth, pre.Mean, pre.Std),
            Is.EqualTo((ColorMode.Rgb, ResizeMode.Exact, 64, 64, 0, 0, (float[]?)null, (float[]?)null)));
    }

    [Test]
    public void MnistSpecMatchesTheCheckpointsArchitecture()
    {
        var spec = ModelSpec.Load(SpecPath("mnist-cnn.json"));
        var net = spec.Network;
        Assert.That(net.Parameters.Select(p => (p.Key, p.Shape)), Is.EqualTo(MnistKeys));
        Assert.That(net.Layers.Select(l => $"{l.Name}:{l.Type}"), Is.EqualTo(new[]
        {
            "conv1:conv", "relu_1:relu", "conv2:conv", "relu_2:relu", "conv3:conv", "relu_3:relu", "norm1:batchnorm2d",
            "flatten_1:flatten", "fc1:linear", "relu_4:relu", "dropout1:dropout", "fc2:linear", "norm2:batchnorm1d", "log_softmax_1:log_softmax",
        }));
        Assert.That(net.LayerShapes[7], Is.EqualTo(new[] { 11616 }));
        Assert.That(net.Layers.OfType<BatchNormLayer>().Select(b => (b.Eps, b.Dims)), Is.EqualTo(new[] { (1e-5f, 2), (1e-5f, 1) }));
        Assert.That(((DropoutLayer)net.Layers[10]).P, Is.EqualTo(0.3f));
        Assert.That(net.Layers[^1], Is.EqualTo(new SoftmaxLayer("log_softmax_1", 1, Log: true)));
        Assert.That(spec.OutputKind, Is.EqualTo(OutputKind.LogProbabilities));
        Assert.That(spec.Labels, Is.EqualTo(Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        var pre = spec.Preprocessing;
        Assert.That((pre.Color, pre.Resize, pre.ResizeHeight, pre.ResizeWidth, pre.CropHeight), Is.EqualTo((ColorMode.Grayscale, ResizeMode.Exact, 28, 28, 0)));
        Assert.That(pre.Mean, Is.EqualTo(new[] { 0.1307f }));
        Assert.That(pre.Std, Is.EqualTo(new[] { 0.3081f }));
        Assert.That(pre.Channels, Is.EqualTo(1));
    }

    [Test]
    public void SpecModelsBindAStateDictWithTheCheckpointsKeys()
    {
        var sd = MakeStateDict(MnistKeys.Append(("norm1.num_batches_tracked", Array.Empty<int>())).Append(("norm2.num_batches_tracked", Array.Empty<int>())), path: "mnist.pt");
        var m = ModelFactory.FromSpec(SpecPath("mnist-cnn.json"), sd);
        Assert.That(m.Architecture, Is.EqualTo("spec:mnist-cnn"));
        Assert.That(m.Graph.Inputs.Single().ToString(), Is.EqualTo("input: float32[?, 1, 28, 28]"));
        Assert.That(m.Graph.Outputs.Single().ToString(), Is.EqualTo("log_probabilities: float32[?, 10]"));
        Assert.That(m.OutputKind, Is.EqualTo(OutputKind.LogProbabilities));
        Assert.That((m.NumClasses, m.InputSize), Is.EqualTo((10, (28, 28))));
        Assert.That(m.Labels, Has.Count.EqualTo(10));
        Assert.That(m.Graph.Initializers["fc1.weight"], Is.SameAs(sd["fc1.weight"]));
        Assert.That(m.Binding!.Ignored, Is.EquivalentTo(new[] { "norm1.num_batches_tracked", "norm2.num_batches_tracked" }));
        Assert.That(m.Graph.Nodes.Select(n => n.Op.OpType), Is.EqualTo(new[]
        {
            "Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "BatchNormalization", "Flatten", "Gemm", "Relu", "Dropout", "Gemm", "BatchNormalization", "LogSoftmax",
        }));
        Assert.That(m.Graph.Nodes[^1].Op, Is.EqualTo(new LogSoftmaxOp(1)));

        var tiny = ModelFactory.FromSpec(SpecPath("tinyvgg.json"), MakeStateDict(TinyVggKeys));
        Assert.That(tiny.Graph.Outputs.Single().ToString(), Is.EqualTo("logits: float32[?, 3]"));
        Assert.That(tiny.Preprocessing.Mean, Is.Null);
        Assert.That(tiny.Graph.Nodes.Single(n => n.Name == "conv_block_1.4").Op, Is.EqualTo(MaxPoolOp.MaxPool2d(2, 2)).Using<Op>(SameMaxPool));

        Assert.Throws<ModelFormatException>(() => ModelFactory.FromSpec(SpecPath("tinyvgg.json"), null, new ModelOptions { InputSize = (128, 128) }));

        // a fine-tuned MNIST head: 10 → 4 classes, fc2 and norm2 resized, loaded with the head option
        var e = Assert.Throws<ModelMismatchException>(() => ModelFactory.FromSpec(SpecPath("mnist-cnn.json"), sd, new ModelOptions { NumClasses = 4 }))!;
        Assert.That(e.Message, Does.Contain("fc2.weight").And.Contain("--reset-head"));
        var four = ModelFactory.FromSpec(SpecPath("mnist-cnn.json"), sd, new ModelOptions { NumClasses = 4, AllowHeadMismatch = true });
        Assert.That(four.Binding!.Reinitialised.Select(r => r.ModelKey), Is.EquivalentTo(new[] { "fc2.weight", "fc2.bias", "norm2.weight", "norm2.bias", "norm2.running_mean", "norm2.running_var" }));
        Assert.That((four.NumClasses, four.Labels), Is.EqualTo((4, (IReadOnlyList<string>?)null)));
        Assert.That(four.Graph.Initializers["fc1.weight"], Is.SameAs(sd["fc1.weight"]));

        // features-only from a spec with labels: the labels name the head's classes, so the cut model has none
        var features = ModelFactory.FromSpec(SpecPath("tinyvgg.json"), MakeStateDict(TinyVggKeys), new ModelOptions { OutputLayer = "conv_block_2" });
        Assert.That((features.NumClasses, features.Labels), Is.EqualTo((0, (IReadOnlyList<string>?)null)));
        Assert.That(tiny.Labels, Is.EqualTo(new[] { "pizza", "steak", "sushi" }));

        // seeded when no state dict is given
        var seeded = ModelFactory.FromSpec(SpecPath("tinyvgg.json"), null, new ModelOptions { Seed = 9 });
        Assert.That(seeded.Seed, Is.EqualTo(9));
        Assert.That(seeded.Graph.Initializers["classifier.1.weight"].ToFloatArray(), Is.Not.All.EqualTo(0f));
    }

    [Test]
    public void WeightsThatDoNotFitTheSpecNameTheKey()
    {
        var wrong = MakeStateDict(TinyVggKeys.Select(k => k.Key == "classifier.1.weight" ? (k.Key, new[] { 3, 1000 }) : k), path: "tiny.pth");
        var e = Assert.Throws<ModelMismatchException>(() => ModelFactory.FromSpec(SpecPath("tinyvgg.json"), wrong))!;
        Assert.That((e.FilePath, e.Key, e.Actual), Is.EqualTo(("tiny.pth", "classifier.1.weight", "[3, 1000]")));
        Assert.That(e.Expected, Does.Contain("[3, 1690]").And.Contain("classifier.1"));

        var mnistAsTiny = MakeStateDict(MnistKeys);
        e = Assert.Throws<ModelMismatchException>(() => ModelFactory.FromSpec(SpecPath("tinyvgg.json"), mnistAsTiny))!;
        Assert.That(e.Key, Is.EqualTo("conv_block_1.0.weight"));
    }

    [TestCase("""{"type": "conv3d", "in": 1, "out": 2, "kernel": 3}""", "conv3d_1", "unknown layer type 'conv3d'")]
    [TestCase("""{"name": "c", "type": "conv", "in": 1, "out": 2}""", "c", "missing field 'kernel'")]
    [TestCase("""{"name": "c", "type": "conv", "in": 1, "out": 2, "kernal": 3}""", "c", "unknown field 'kernal'")]
    [TestCase("""{"name": "c", "type": "conv", "in": 3, "out": 2, "kernel": 3}""", "c", "expects 3 input channels, the previous layer gives 1")]
    [TestCase("""{"name": "c", "type": "conv", "in": 1, "out": 2, "kernel": 9}""", "c", "smaller than the kernel")]
    [TestCase("""{"name": "c", "type": "conv", "in": 1, "out": "two", "kernel": 3}""", "c", "'out' must be an integer")]
    [TestCase("""{"name": "c", "type": "conv", "in": 1, "out": 0, "kernel": 3}""", "c", "'out' must be positive")]
    [TestCase("""{"name": "l", "type": "linear", "in": 64, "out": 2}""", "l", "expects a flattened input")]
    [TestCase("""{"type": "flatten"}, {"name": "l", "type": "linear", "in": 60, "out": 2}""", "l", "expects 60 input features, the previous layer gives 64")]
    [TestCase("""{"name": "p", "type": "maxpool", "kernel": 16}""", "p", "too small")]
    [TestCase("""{"name": "p", "type": "maxpool", "kernel": 2, "padding": 2}""", "p", "at most half the kernel")]
    [TestCase("""{"name": "b", "type": "batchnorm2d", "features": 4}""", "b", "has 4 features, the previous layer gives 1")]
    [TestCase("""{"name": "s", "type": "softmax"}""", "s", "missing field 'dim'")]
    [TestCase("""{"name": "s", "type": "softmax", "dim": 4}""", "s", "dim 4 is out of range")]
    [TestCase("""{"name": "f", "type": "flatten", "start_dim": 2}""", "f", "only start_dim 1")]
    [TestCase("""{"name": "a.b", "type": "relu"}""", "layers[0]", "without dots")]
    [TestCase("""{"name": "r", "type": "relu"}, {"name": "r", "type": "relu"}""", "r", "two layers have this name")]
    [TestCase("""{"block": "blk", "layers": [{"type": "relu"}, {"type": "nope"}]}""", "blk.1", "unknown layer type 'nope'")]
    [TestCase("""{"layers": [{"type": "relu"}]}""", "layers[0]", "needs a name")]
    public void BadLayersAreReportedByName(string layersJson, string key, string problem)
    {
        var json = $$"""{"name": "bad", "input": {"channels": 1, "height": 8, "width": 8}, "layers": [{{layersJson}}]}""";
        var e = Assert.Throws<ModelFormatException>(() => ModelSpec.Parse(json, "bad.json"))!;
        Assert.That(e.FilePath, Is.EqualTo("bad.json"));
        Assert.That(e.Key, Is.EqualTo(key));
        Assert.That(e.Problem, Does.Contain(problem));
    }

    [TestCase("""{"name": "x", "layers": []}""", "(root)", "missing field 'input'")]
    [TestCase("""{"input": {"channels": 1, "height": 8}, "layers": [{"type": "relu"}]}""", "input", "missing field 'width'")]
    [TestCase("""{"input": {"channels": 1, "height": 8, "width": 8}, "layers": [{"type": "relu"}], "extra": 1}""", "(root)", "unknown field 'extra'")]
    [TestCase("""{"input": {"channels": 1, "height": 8, "width": 8}, "layers": [{"type": "flatten"}, {"name": "fc", "type": "linear", "in": 64, "out": 2}], "labels": ["a"]}""", "labels", "1 labels for a model with 2 outputs")]
    [TestCase("""{"input": {"channels": 1, "height": 8, "width": 8}, "layers": [{"type": "relu"}], "preprocessing": {"color": "rgb", "resize": [8, 8]}}""", "preprocessing", "gives 3 channels, the input has 1")]
    [TestCase("""{"input": {"channels": 1, "height": 8, "width": 8}, "layers": [{"type": "relu"}], "preprocessing": {"color": "grayscale", "resize": [8, 8], "mean": [0.5]}}""", "preprocessing", "both mean and std")]
    [TestCase("""{"input": {"channels": 1, "height": 8, "width": 8}, "layers": [{"type": "relu"}], "preprocessing": {"color": "grayscale", "resize": 10, "crop": 7}}""", "preprocessing", "produces 7×7 images, the input is 8×8")]
    [TestCase("""{"input": {"channels": 1, "height": 8, "width": 8}, "layers": [{"type": "relu"}], "preprocessing": {"color": "grayscale", "resize": 8}}""", "preprocessing", "the image size varies")]
    [TestCase("""{"input": {"channels": 1, "height": 8, "width": 8}, "layers": [{"type": "relu"}], "preprocessing": {"color": "cmyk"}}""", "preprocessing", "color 'cmyk'")]
    public void BadSpecFieldsAreReportedByName(string json, string key, string problem)
    {
        var e = Assert.Throws<ModelFormatException>(() => ModelSpec.Parse(json, "bad.json"))!;
        Assert.That(e.Key, Is.EqualTo(key));
        Assert.That(e.Problem, Does.Contain(problem));
    }

    [Test]
    public void InvalidJsonAndMissingFilesAreFormatErrors()
    {
        var e = Assert.Throws<ModelFormatException>(() => ModelSpec.Parse("{\"input\": {\n\"channels\": 1,,}", "broken.json"))!;
        Assert.That(e.Message, Does.StartWith("broken.json: not valid JSON (line 2"));
        var missing = Path.Combine(Path.GetTempPath(), "no-such-spec-" + Guid.NewGuid() + ".json");
        e = Assert.Throws<ModelFormatException>(() => ModelSpec.Load(missing))!;
        Assert.That(e.FilePath, Is.EqualTo(missing));
    }

    [Test]
    public void SpecFeaturesNestedBlocksNamedChildrenPoolsAndLabelsFiles()
    {
        var dir = Path.Combine(Path.GetTempPath(), "vgg-spec-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllLines(Path.Combine(dir, "labels.txt"), new[] { "cat", "dog" });
            var json = """
            {
              "name": "nested",
              "input": {"channels": 3, "height": 17, "width": 17},
              "preprocessing": {"color": "rgb", "resize": 20, "crop": [17, 17], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "exif_orientation": true},
              "labels": "labels.txt",
              "layers": [
                {"block": "backbone", "layers": [
                  {"layers": [{"type": "conv", "in": 3, "out": 4, "kernel": [3, 1], "padding": [1, 0], "bias": false}, {"type": "relu"}]},
                  {"name": "pool", "type": "maxpool", "kernel": 3, "stride": 2, "padding": 1, "ceil_mode": true},
                  {"type": "avgpool", "kernel": 2, "ceil_mode": true, "count_include_pad": false}
                ]},
                {"name": "gap", "type": "adaptive_avgpool", "output": [1, 1]},
                {"type": "flatten"},
                {"name": "head", "type": "linear", "in": 4, "out": 2},
                {"type": "softmax", "dim": -1}
              ]
            }
            """;
            var specPath = Path.Combine(dir, "nested.json");
            File.WriteAllText(specPath, json);
            var spec = ModelSpec.Load(specPath);
            var net = spec.Network;
            Assert.That(net.Layers.Select(l => l.Name), Is.EqualTo(new[] { "backbone.0.0", "backbone.0.1", "backbone.pool", "backbone.2", "gap", "flatten_1", "head", "softmax_1" }));
            Assert.That(net.Parameters.Select(p => p.ToString()), Is.EqualTo(new[] { "backbone.0.0.weight float32[4, 3, 3, 1]", "head.weight float32[2, 4]", "head.bias float32[2]" }));
            // maxpool ceil: (17 + 2 − 3 + 1) / 2 + 1 = 9; avgpool ceil: (9 − 2 + 1) / 2 + 1 = 5
            Assert.That(net.LayerShapes.Select(s => Tensor.FormatShape(s)), Is.EqualTo(new[] { "[4, 17, 17]", "[4, 17, 17]", "[4, 9, 9]", "[4, 5, 5]", "[4, 1, 1]", "[4]", "[2]", "[2]" }));
            Assert.That(spec.Labels, Is.EqualTo(new[] { "cat", "dog" }));
            Assert.That(spec.OutputKind, Is.EqualTo(OutputKind.Probabilities));
            Assert.That((spec.Preprocessing.Resize, spec.Preprocessing.ResizeHeight, spec.Preprocessing.CropHeight, spec.Preprocessing.ApplyExifOrientation), Is.EqualTo((ResizeMode.ShorterSide, 20, 17, true)));

            var m = ModelFactory.FromSpec(spec, null);
            var g = m.Graph;
            Assert.That(g.Outputs.Single().Name, Is.EqualTo("probabilities"));
            var conv = (ConvOp)g.Nodes[0].Op;
            Assert.That((conv.KernelShape, conv.Pads), Is.EqualTo((new[] { 3, 1 }, new[] { 1, 0, 1, 0 })));
            Assert.That(g.Nodes[0].Inputs, Is.EqualTo(new[] { "input", "backbone.0.0.weight" }));
            var mp = (MaxPoolOp)g.Nodes[2].Op;
            Assert.That((mp.KernelShape, mp.Strides, mp.Pads, mp.CeilMode), Is.EqualTo((new[] { 3, 3 }, new[] { 2, 2 }, new[] { 1, 1, 1, 1 }, true)));
            var ap = (AveragePoolOp)g.Nodes[3].Op;
            Assert.That((ap.KernelShape, ap.Strides, ap.CeilMode, ap.CountIncludePad), Is.EqualTo((new[] { 2, 2 }, new[] { 2, 2 }, true, false)));
            Assert.That(g.Nodes[4].Op, Is.InstanceOf<GlobalAveragePoolOp>());
            Assert.That(g.Nodes[^1].Op, Is.EqualTo(new SoftmaxOp(-1)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void RealTinyVggCheckpointBindsToTheSpec()
    {
        var path = TestData.Require("checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth");
        var sd = Checkpoints.Read(path);
        var m = ModelFactory.FromSpec(SpecPath("tinyvgg.json"), sd);
        Assert.That(m.Graph.Initializers.Keys, Is.EquivalentTo(TinyVggKeys.Select(k => k.Key)));
        Assert.That(m.Binding!.Converted, Is.Empty, "all float32 (SOURCES.md 5a)");
    }

    [TestCase("mnist.pt")]
    [TestCase("mnist.safetensors")]
    public void RealMnistCheckpointsBindToTheSpec(string file)
    {
        var path = TestData.Require("checkpoints/mnist-cnn/" + file);
        var sd = Checkpoints.Read(path);
        var m = ModelFactory.FromSpec(SpecPath("mnist-cnn.json"), sd);
        Assert.That(m.Graph.Initializers.Keys, Is.EquivalentTo(MnistKeys.Select(k => k.Key)));
        Assert.That(m.Binding!.Ignored, Is.EquivalentTo(new[] { "norm1.num_batches_tracked", "norm2.num_batches_tracked" }));
    }

    private static bool SameMaxPool(Op a, Op b) =>
        a is MaxPoolOp x && b is MaxPoolOp y && x.KernelShape.SequenceEqual(y.KernelShape) && x.Strides.SequenceEqual(y.Strides) && x.Pads.SequenceEqual(y.Pads) && x.CeilMode == y.CeilMode;
}
