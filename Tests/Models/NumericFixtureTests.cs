using System.Text.Json;
using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;
using Vgg.Engine.Tests.Core;

namespace Vgg.Engine.Tests.Models;

/// <summary>
/// Models built by the recognizer, the spec parser and the binder, run by the reference executor, against
/// torch 1.13 outputs (Tests/Fixtures/models/make_numeric_fixtures.py). The VGG-style nets are torchvision's own
/// VGG class and make_layers with tiny widths; their weights come from a seeded recipe that both sides compute
/// (<see cref="Recipe"/> here, seeded_rng.py there), so the fixture stores only inputs' seeds and outputs.
/// Tolerance: |a − e| ≤ 1e-4·|e| + 1e-4·max|e| elementwise, and max|a − e| / max|e| ≤ 1e-4 (torch runs in float32,
/// the reference in float64).
/// </summary>
public class NumericFixtureTests
{
    private const double Rtol = 1e-4;

    private static readonly Lazy<JsonElement[]> Cases = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Fixture("models/numeric/cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToArray();
    });

    private static JsonElement Case(string name) => Cases.Value.Single(c => c.GetProperty("name").GetString() == name);

    public static IEnumerable<TestCaseData> VggOutputs() =>
        Cases.Value.Where(c => c.GetProperty("kind").GetString() == "vgg-style")
            .SelectMany(c => c.GetProperty("outputs").EnumerateObject().Select(o =>
                new TestCaseData(c.GetProperty("name").GetString(), o.Name).SetName($"{c.GetProperty("name").GetString()} → {o.Name}")));

    /// <summary>The fixture's weight recipe for one tensor (see make_numeric_fixtures.py).</summary>
    internal static Tensor Recipe(ParameterSpec p, int seed)
    {
        var rng = SeededRandom.ForTensor(seed, p.Key);
        switch (p.Role)
        {
            case ParameterRole.LinearWeight:
                {
                    var t = new Tensor(DType.Float32, p.Shape);
                    rng.FillNormal(t, 0, 1.0 / Math.Sqrt(p.Shape[1]));
                    return t;
                }
            case ParameterRole.ConvBias:
            case ParameterRole.LinearBias:
                {
                    var t = new Tensor(DType.Float32, p.Shape);
                    rng.FillNormal(t, 0, 0.1);
                    return t;
                }
            default:
                return WeightInit.Create(p, seed, randomBatchNormStatistics: true);
        }
    }

    private static Tensor Input(JsonElement c)
    {
        var shape = c.GetProperty("input").EnumerateArray().Select(d => d.GetInt32()).ToArray();
        var x = new Tensor(DType.Float32, shape);
        var rng = SeededRandom.ForTensor(c.GetProperty("seed").GetInt32(), "input");
        if (c.GetProperty("input_dist").GetString() == "uniform") rng.FillUniform(x, 0, 1);
        else rng.FillNormal(x, 0, 1);
        return x;
    }

    // torchvision's VGG(make_layers(layout, bn)) with avgpool (pool, pool) and the fixture's head.
    private static Network TorchModel(JsonElement c)
    {
        var layout = c.GetProperty("layout").EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? TorchvisionVgg.M : v.GetInt32()).ToArray();
        bool bn = c.GetProperty("batch_norm").GetBoolean();
        int pool = c.GetProperty("pool").GetInt32(), hidden = c.GetProperty("hidden").GetInt32(), classes = c.GetProperty("classes").GetInt32();
        var layers = TorchvisionVgg.FeatureLayers(layout.Select(v => v == TorchvisionVgg.M ? (VggFeature)new VggPool() : new VggConv(v, 3, 3, bn, true)), 3, out int ch);
        layers.Add(new AdaptiveAvgPool2dLayer("avgpool", pool, pool));
        layers.Add(new FlattenLayer("flatten"));
        if (hidden == 0) layers.Add(new LinearLayer("classifier", ch * pool * pool, classes));
        else
        {
            layers.Add(new LinearLayer("classifier.0", ch * pool * pool, hidden));
            layers.Add(new ReluLayer("classifier.1"));
            layers.Add(new DropoutLayer("classifier.2"));
            layers.Add(new LinearLayer("classifier.3", hidden, hidden));
            layers.Add(new ReluLayer("classifier.4"));
            layers.Add(new DropoutLayer("classifier.5"));
            layers.Add(new LinearLayer("classifier.6", hidden, classes));
        }
        return new Network("torch", 3, -1, -1, layers);
    }

    [TestCaseSource(nameof(VggOutputs))]
    public void VggStyleNetMatchesTorch(string caseName, string output)
    {
        var c = Case(caseName);
        int seed = c.GetProperty("seed").GetInt32();
        // a state dict as torch.save(model.state_dict()) writes it, num_batches_tracked included
        var sd = new StateDict(caseName + ".pth", "memory");
        var torchNet = TorchModel(c);
        foreach (var l in torchNet.Layers)
        {
            foreach (var p in l.Parameters) sd.Add(p.Key, Recipe(p, seed));
            if (l is BatchNormLayer) sd.Add(l.Name + ".num_batches_tracked", Tensor.FromSpan<long>(new long[] { 1 }, Array.Empty<int>()));
        }
        var model = ModelFactory.FromStateDict(sd, new ModelOptions { OutputLayer = output == "logits" ? null : output });
        Assert.That(model.Network!.Layers, Is.EqualTo(output == "logits" ? torchNet.Layers : torchNet.Truncate(output).Layers), "recognised network");

        var x = Input(c);
        var outputs = ReferenceExecutor.Run(model.Graph, new Dictionary<string, Tensor> { ["input"] = x });
        var expected = Npy.ReadFloat32(TestData.Fixture("models/numeric/" + c.GetProperty("outputs").GetProperty(output).GetString()));
        var actual = outputs[output];
        Compare(expected, actual, $"{caseName} {output} (input {x}, seed {seed})");
    }

    [TestCase("tinyvgg_real")]
    [TestCase("mnist_real")]
    public void RealCheckpointMatchesTorch(string caseName)
    {
        var c = Case(caseName);
        var sd = Checkpoints.Read(TestData.Require("checkpoints/" + c.GetProperty("checkpoint").GetString()));
        var model = ModelFactory.FromSpec(Path.Combine(TestData.RepoRoot, "models", c.GetProperty("spec").GetString()!), sd);
        var x = Input(c);
        var outputs = ReferenceExecutor.Run(model.Graph, new Dictionary<string, Tensor> { ["input"] = x });
        var expected = Npy.ReadFloat32(TestData.Fixture("models/numeric/" + c.GetProperty("outputs").GetProperty("output").GetString()));
        Compare(expected, outputs[model.Graph.Outputs[0].Name], $"{caseName} (input {x}, seed {c.GetProperty("seed").GetInt32()})");
    }

    [Test]
    public void DataParallelFloat16CheckpointLoadsThroughTheLoaderAndMatchesTorch()
    {
        // torch.save({"state_dict": {"module.features.0.weight": float16, …}, "epoch": 3, …}) of a tiny VGG-11-BN-style net
        var c = Case("vgg11bn_tiny_dp_fp16");
        var sd = Checkpoints.Read(TestData.Fixture("models/numeric/" + c.GetProperty("checkpoint_file").GetString()));
        Assert.That(sd.WrapperKey, Is.EqualTo("state_dict"));
        var log = new ListLogger();
        var model = ModelFactory.FromStateDict(sd, new ModelOptions { Logger = log });
        Assert.That((model.Architecture, model.NumClasses, model.Recognition!.BatchNorm), Is.EqualTo(("vgg11_bn-pruned+custom-head", 5, true)));
        int tensors = model.Network!.Parameters.Count;
        Assert.That(model.Binding!.Converted, Has.Count.EqualTo(tensors).And.All.Matches<(string, DType From)>(x => x.From == DType.Float16));
        Assert.That(model.Binding.Renamed, Has.Count.EqualTo(tensors));
        Assert.That(model.Binding.Ignored, Has.Count.EqualTo(model.Network.Layers.OfType<BatchNormLayer>().Count()), "num_batches_tracked");
        Assert.That(log.Entries.Select(e => e.Message), Has.Some.Contains($"converted {tensors} tensors from float16 to float32"));

        var x = Input(c);
        var outputs = ReferenceExecutor.Run(model.Graph, new Dictionary<string, Tensor> { ["input"] = x });
        var expected = Npy.ReadFloat32(TestData.Fixture("models/numeric/" + c.GetProperty("outputs").GetProperty("logits").GetString()));
        Compare(expected, outputs["logits"], $"vgg11bn_tiny_dp_fp16 (input {x})");
    }

    [Test]
    public void SeededInputsAreNotTrivial()
    {
        foreach (var c in Cases.Value)
        {
            var x = Input(c).ToFloatArray();
            Assert.That(x.Distinct().Count(), Is.GreaterThan(x.Length / 2), c.GetProperty("name").GetString());
        }
    }

    private static void Compare(Tensor expected, Tensor actual, string what)
    {
        double maxAbs = expected.ToFloatArray().Max(v => Math.Abs((double)v));
        Assert.That(maxAbs, Is.GreaterThan(0), $"{what}: reference output is all zeros");
        TensorAssert.Close(expected, actual, Rtol, Rtol * maxAbs, what);
        Assert.That(TensorAssert.MaxRelativeError(expected, actual), Is.LessThanOrEqualTo(Rtol), $"{what}: max |a − e| / max |e|");
    }
}
