using System.Text.Json;
using Vgg.Engine.IR;
using Vgg.Engine.Tests.Common;
using Vgg.Perf.Harness;

namespace Vgg.Engine.Tests.Perf;

/// <summary>
/// The FLOP/byte registry against counts derived independently from torch's own module shapes
/// (Tests/Fixtures/perf/vgg_costs.json, written by make_vgg_costs.py with torch 1.13 / torchvision 0.14).
/// Each torchvision VGG is rebuilt here as a graph IR (weights as typed graph inputs, so no weight data is
/// allocated), shapes come from our shape inference, and costs from <see cref="OpCostRegistry.Default"/>.
/// </summary>
public class OpCostTests
{
    private sealed record TorchLayer(string Name, string Type, int[] Input, int[] Output, long Macs, long Params, JsonElement Raw);
    private sealed record TorchModel(string Name, int Batch, long Macs, long Params, List<TorchLayer> Layers);

    private static List<TorchModel> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Fixture("perf/vgg_costs.json")));
        var models = new List<TorchModel>();
        foreach (var m in doc.RootElement.GetProperty("models").EnumerateArray())
        {
            var layers = m.GetProperty("layers").EnumerateArray().Select(l => new TorchLayer(
                l.GetProperty("name").GetString()!, l.GetProperty("type").GetString()!,
                l.GetProperty("input").EnumerateArray().Select(d => d.GetInt32()).ToArray(),
                l.GetProperty("output").EnumerateArray().Select(d => d.GetInt32()).ToArray(),
                l.TryGetProperty("macs", out var mac) ? mac.GetInt64() : 0, l.GetProperty("params").GetInt64(), l.Clone())).ToList();
            models.Add(new TorchModel(m.GetProperty("name").GetString()!, m.GetProperty("batch").GetInt32(), m.GetProperty("macs").GetInt64(), m.GetProperty("params").GetInt64(), layers));
        }
        return models;
    }

    private static IEnumerable<TestCaseData> Models() =>
        Load().Select(m => new TestCaseData(m.Name, m.Batch).SetName($"Vgg_{m.Name}_N{m.Batch}"));

    /// <summary>The torchvision VGG as graph IR: one node per torch leaf module (plus torch.flatten), weights as inputs.</summary>
    private static (Graph G, Dictionary<string, int[]> Shapes, Dictionary<string, string> NodeOfModule) Build(TorchModel m)
    {
        var g = new Graph { Name = m.Name };
        var shapes = new Dictionary<string, int[]>();
        var nodeOf = new Dictionary<string, string>();
        g.Inputs.Add(new ValueInfo("x", DType.Float32, [-1, 3, 224, 224]));
        shapes["x"] = m.Layers[0].Input;
        string cur = "x";
        void Weight(string name, int[] shape)
        {
            g.Inputs.Add(new ValueInfo(name, DType.Float32, shape));
            shapes[name] = shape;
        }
        foreach (var l in m.Layers)
        {
            string y = l.Name + ".out";
            Node n;
            switch (l.Type)
            {
                case "Conv2d":
                {
                    int k = l.Raw.GetProperty("kernel")[0].GetInt32(), p = l.Raw.GetProperty("padding")[0].GetInt32(), s = l.Raw.GetProperty("stride")[0].GetInt32();
                    Weight(l.Name + ".weight", [l.Output[1], l.Input[1], k, k]);
                    Weight(l.Name + ".bias", [l.Output[1]]);
                    n = new Node(l.Name, ConvOp.Conv2d(k, s, p), [cur, l.Name + ".weight", l.Name + ".bias"], [y]);
                    break;
                }
                case "BatchNorm2d":
                    foreach (var s in new[] { "weight", "bias", "running_mean", "running_var" }) Weight($"{l.Name}.{s}", [l.Input[1]]);
                    n = new Node(l.Name, new BatchNormOp(), [cur, l.Name + ".weight", l.Name + ".bias", l.Name + ".running_mean", l.Name + ".running_var"], [y]);
                    break;
                case "ReLU": n = new Node(l.Name, new UnaryOp(UnaryKind.Relu), [cur], [y]); break;
                case "MaxPool2d": n = new Node(l.Name, MaxPoolOp.MaxPool2d(l.Raw.GetProperty("kernel")[0].GetInt32(), l.Raw.GetProperty("stride")[0].GetInt32()), [cur], [y]); break;
                case "AdaptiveAvgPool2d":
                    n = new Node(l.Name, new AdaptiveAvgPoolOp(l.Raw.GetProperty("output_size")[0].GetInt32(), l.Raw.GetProperty("output_size")[1].GetInt32()), [cur], [y]);
                    g.Nodes.Add(n);
                    nodeOf[l.Name] = n.Name;
                    cur = y;
                    y = "flatten.out";
                    n = new Node("flatten", new FlattenOp(1), [cur], [y]);
                    g.Nodes.Add(n);
                    cur = y;
                    continue;
                case "Dropout": n = new Node(l.Name, new DropoutOp(), [cur], [y]); break;
                case "Linear":
                    Weight(l.Name + ".weight", [l.Output[1], l.Input[1]]);
                    Weight(l.Name + ".bias", [l.Output[1]]);
                    n = new Node(l.Name, GemmOp.Linear(), [cur, l.Name + ".weight", l.Name + ".bias"], [y]);
                    break;
                default: throw new InvalidOperationException($"fixture layer type {l.Type} has no IR mapping in this test");
            }
            g.Nodes.Add(n);
            nodeOf[l.Name] = n.Name;
            cur = y;
        }
        g.Outputs.Add(new ValueInfo(cur, DType.Float32, null));
        return (g, shapes, nodeOf);
    }

    private static List<BenchLayer> Layers(Graph g, Dictionary<string, int[]> shapes)
    {
        var types = ShapeInference.Infer(g, shapes);
        var weights = new HashSet<string>(g.Inputs.Where(i => i.Name != "x").Select(i => i.Name));
        return g.Nodes.Select((n, i) => BenchLayer.FromNode(i, n, types, weights, n.Op is FlattenOp)).ToList();
    }

    [TestCaseSource(nameof(Models))]
    public void EveryLayerMatchesTorch(string name, int batch)
    {
        var m = Load().Single(x => x.Name == name && x.Batch == batch);
        var (g, shapes, nodeOf) = Build(m);
        var layers = Layers(g, shapes).ToDictionary(l => l.Name);
        long totalFlops = 0, totalWeights = 0;
        foreach (var t in m.Layers)
        {
            var l = layers[nodeOf[t.Name]];
            Assert.That(l.Outputs[0].Shape, Is.EqualTo(t.Output), $"{name} {t.Name}: inferred output shape vs torch");
            var c = OpCostRegistry.Default.Cost(l);
            long x = t.Input.Aggregate(1L, (a, d) => a * d), y = t.Output.Aggregate(1L, (a, d) => a * d);
            if (t.Type is "Conv2d" or "Linear")
            {
                Assert.That(c.Flops, Is.EqualTo(2 * t.Macs), $"{name} {t.Name}: FLOPs = 2 × torch-derived multiply-adds ({t.Macs})");
                Assert.That(c.Bytes, Is.EqualTo(4 * (x + t.Params + y)), $"{name} {t.Name}: bytes = 4 × (input + weights + bias + output)");
                Assert.That(c.WeightBytes, Is.EqualTo(4 * t.Params), $"{name} {t.Name}: weight bytes");
                totalFlops += c.Flops;
                totalWeights += c.WeightBytes;
            }
            else if (t.Type == "MaxPool2d")
                Assert.That(c.Flops, Is.EqualTo(y * 4), $"{name} {t.Name}: 2×2 window per output");
            else if (t.Type == "ReLU")
                Assert.That(c.Flops, Is.EqualTo(y), $"{name} {t.Name}: one op per element");
            else if (t.Type == "AdaptiveAvgPool2d")
                Assert.That(c.Flops, Is.EqualTo(x), $"{name} {t.Name}: 7×7 input into 7×7 bins: each input element once");
            else if (t.Type == "BatchNorm2d")
                Assert.That(c.Flops, Is.EqualTo(2 * y), $"{name} {t.Name}: scale and shift");
        }
        Assert.That(totalFlops, Is.EqualTo(2 * m.Macs), $"{name}: whole-model FLOPs = 2 × torch's {m.Macs} multiply-adds");
        Assert.That(totalWeights, Is.EqualTo(4 * (m.Params - m.Layers.Where(l => l.Type == "BatchNorm2d").Sum(l => l.Params))),
            $"{name}: conv and linear weight bytes = 4 × torch parameters outside batch norm");
        Assert.That(layers["flatten"].IsView && OpCostRegistry.Default.Cost(layers["flatten"]).Bytes == 0, "flatten is a view: no work");
    }

    [Test]
    public void Vgg16At224Is30Point94Gflop()
    {
        var m = Load().Single(x => x.Name == "vgg16" && x.Batch == 1);
        var (g, shapes, _) = Build(m);
        long flops = Layers(g, shapes).Where(l => l.OpType is "Conv" or "Gemm").Sum(l => OpCostRegistry.Default.Cost(l).Flops);
        Assert.That(m.Macs, Is.EqualTo(15_470_264_320L), "torch-derived multiply-adds of VGG-16 at 224 (the published 15.47 G)");
        Assert.That(flops, Is.EqualTo(30_940_528_640L));
        var m8 = Load().Single(x => x.Name == "vgg16" && x.Batch == 8);
        Assert.That(m8.Macs, Is.EqualTo(8 * m.Macs), "batch 8 is 8× batch 1");
    }

    [Test]
    public void FusedMaxPoolCountsTheConvBeforeThePool()
    {
        // conv 64→128 3×3 pad 1 on 112×112, then a fused 2×2 max-pool: output 56×56, FLOPs of the 112×112 conv.
        var op = ConvOp.Conv2d(3, 1, 1) with { Activation = Activation.Relu, FusedMaxPool = MaxPoolOp.MaxPool2d(2) };
        var l = new BenchLayer(0, "features.7", "Conv", op,
            [new TensorArg([1, 64, 112, 112], DType.Float32), new TensorArg([128, 64, 3, 3], DType.Float32, true), new TensorArg([128], DType.Float32, true)],
            [new TensorArg([1, 128, 56, 56], DType.Float32)]);
        var c = OpCostRegistry.Default.Cost(l);
        Assert.That(c.Flops, Is.EqualTo(2L * 128 * 64 * 9 * 112 * 112));
        Assert.That(c.Bytes, Is.EqualTo(4L * (64 * 112 * 112 + 128 * 64 * 9 + 128 + 128 * 56 * 56)), "the pooled output is what is written");
    }

    [Test]
    public void ShapesOnlyLayersCountLikeIrLayers()
    {
        // ONNX Runtime's profile gives op names and shapes, no attributes: grouped conv and Gemm still count right.
        var conv = new BenchLayer(0, "c", "FusedConv", null,
            [new TensorArg([2, 32, 20, 20], DType.Float32), new TensorArg([64, 8, 3, 3], DType.Float32, true)],
            [new TensorArg([2, 64, 10, 10], DType.Float32)]);
        Assert.That(OpCostRegistry.Default.Cost(conv).Flops, Is.EqualTo(2L * 2 * 64 * 8 * 9 * 10 * 10), "group 4: C/group = 8 from the weight shape");
        var gemm = new BenchLayer(1, "g", "Gemm", null,
            [new TensorArg([3, 25088], DType.Float32), new TensorArg([4096, 25088], DType.Float32, true), new TensorArg([4096], DType.Float32, true)],
            [new TensorArg([3, 4096], DType.Float32)]);
        Assert.That(OpCostRegistry.Default.Cost(gemm).Flops, Is.EqualTo(2L * 3 * 4096 * 25088));
        var mm = new BenchLayer(2, "m", "MatMul", null,
            [new TensorArg([5, 7, 6], DType.Float32), new TensorArg([6, 4], DType.Float32, true)], [new TensorArg([5, 7, 4], DType.Float32)]);
        Assert.That(OpCostRegistry.Default.Cost(mm).Flops, Is.EqualTo(2L * 5 * 7 * 4 * 6));
    }

    [Test]
    public void VariantRowsAndUnknownOps()
    {
        var reg = new OpCostRegistry();
        reg.Register(new OpCostRow("Conv", "", "direct", "io", OpCostRegistry.ConvFlops));
        reg.Register(new OpCostRow("Conv", "winograd_f4x4", "direct count (effective)", "io + transformed tiles", OpCostRegistry.ConvFlops, l => 2 * OpCostRegistry.CompulsoryBytes(l)));
        var l = new BenchLayer(0, "c", "Conv", ConvOp.Conv2d(3, 1, 1),
            [new TensorArg([1, 8, 4, 4], DType.Float32), new TensorArg([8, 8, 3, 3], DType.Float32, true)], [new TensorArg([1, 8, 4, 4], DType.Float32)]);
        var plain = reg.Cost(l);
        var wino = reg.Cost(l, "winograd_f4x4");
        var other = reg.Cost(l, "im2col");
        Assert.That(wino.Flops, Is.EqualTo(plain.Flops));
        Assert.That(wino.Bytes, Is.EqualTo(2 * plain.Bytes), "the variant's own byte rule");
        Assert.That(other.Row.Variant, Is.EqualTo(""), "a variant without a row falls back to the op's default row");
        var unknown = OpCostRegistry.Default.Cost(l with { OpType = "Einsum" });
        Assert.That((unknown.Flops, unknown.Row.Variant), Is.EqualTo((0L, "?")), "an op without a row is reported, not thrown");
        Assert.That(unknown.Bytes, Is.EqualTo(OpCostRegistry.CompulsoryBytes(l)));
    }
}
