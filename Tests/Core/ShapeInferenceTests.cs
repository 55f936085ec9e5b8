using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;

namespace Vgg.Engine.Tests.Core;

public class ShapeInferenceTests
{
    private static ValueInfo V(string n, params int[] s) => new(n, DType.Float32, s);

    private static int[]? Out(Op op, params ValueInfo?[] inputs) => OutWith(op, inputs, new Tensor?[inputs.Length]);

    private static int[]? OutWith(Op op, ValueInfo?[] inputs, Tensor?[] constants)
    {
        var node = new Node("n", op, inputs.Select((v, i) => v?.Name ?? ""), new[] { "y" });
        return ShapeInference.InferNode(node, inputs, constants)[0].Shape;
    }

    [Test]
    public void ConvChannelMismatchNamesNodeAndValues()
    {
        var ex = Assert.Throws<GraphException>(() => Out(ConvOp.Conv2d(3, 1, 1), V("x", 1, 64, 8, 8), V("w", 32, 128, 3, 3)));
        Assert.That(ex!.Message, Does.Contain("node 'n'").And.Contain("conv input has 64 channels, weight expects 128"));
    }

    [TestCase(224, 3, 1, 1, 224)]
    [TestCase(7, 3, 2, 0, 3)]
    [TestCase(5, 3, 2, 1, 3)]
    public void ConvOutputSize(int input, int k, int s, int p, int expected)
    {
        Assert.That(Out(ConvOp.Conv2d(k, s, p), V("x", 2, 3, input, input), V("w", 8, 3, k, k)), Is.EqualTo(new[] { 2, 8, expected, expected }));
    }

    [Test]
    public void DilatedGroupedConvAsymmetricPads()
    {
        // burn's conv2d.onnx: [2,4,10,15], W [6,2,3,5], dilations [3,1], group 2, pads [4,2,4,2], strides [2,1] → [2,6,6,15].
        var op = new ConvOp(new[] { 3, 5 }, new[] { 2, 1 }, new[] { 4, 2, 4, 2 }, new[] { 3, 1 }, 2);
        Assert.That(Out(op, V("x", 2, 4, 10, 15), V("w", 6, 2, 3, 5), V("b", 6)), Is.EqualTo(new[] { 2, 6, 6, 15 }));
    }

    [TestCase(4, 3, 2, 0, true, 2)]  // ONNX test_maxpool_2d_ceil
    [TestCase(5, 2, 2, 1, true, 3)]  // ceil gives 4, but the 4th window would start in the end padding → dropped
    [TestCase(5, 2, 2, 1, false, 3)]
    [TestCase(6, 3, 2, 0, true, 3)]  // burn avg_pool2d_ceil_mode
    [TestCase(112, 2, 2, 0, true, 56)]
    [TestCase(13, 2, 2, 0, true, 7)]
    [TestCase(13, 2, 2, 0, false, 6)]
    public void PoolCeilModeRule(int input, int k, int s, int p, bool ceil, int expected)
    {
        var op = MaxPoolOp.MaxPool2d(k, s, p, ceil);
        Assert.That(Out(op, V("x", 1, 1, input, input)), Is.EqualTo(new[] { 1, 1, expected, expected }));
    }

    [Test]
    public void AutoPadSameAndValid()
    {
        var x = V("x", 1, 1, 5, 5);
        var same = new MaxPoolOp(new[] { 3, 3 }, new[] { 2, 2 }, Array.Empty<int>(), Array.Empty<int>(), AutoPad: AutoPad.SameUpper);
        Assert.That(Out(same, x), Is.EqualTo(new[] { 1, 1, 3, 3 }));
        var axesUpper = SpatialGeometry.Resolve("n", new[] { 32 }, new[] { 2 }, null, null, null, AutoPad.SameUpper, false);
        var axesLower = SpatialGeometry.Resolve("n", new[] { 32 }, new[] { 2 }, null, null, null, AutoPad.SameLower, false);
        Assert.That((axesUpper[0].PadBegin, axesUpper[0].PadEnd), Is.EqualTo((0, 1)));
        Assert.That((axesLower[0].PadBegin, axesLower[0].PadEnd), Is.EqualTo((1, 0)));
        var valid = new AveragePoolOp(new[] { 3, 3 }, new[] { 2, 2 }, Array.Empty<int>(), Array.Empty<int>(), AutoPad: AutoPad.Valid);
        Assert.That(Out(valid, x), Is.EqualTo(new[] { 1, 1, 2, 2 }));
    }

    [Test]
    public void OneDimensionalPoolAndDilation()
    {
        Assert.That(Out(new MaxPoolOp(new[] { 2 }, Array.Empty<int>(), Array.Empty<int>(), Array.Empty<int>()), V("x", 1, 3, 32)), Is.EqualTo(new[] { 1, 3, 31 }));
        // maxpool2d.onnx (burn): kernel [4,2], strides [2,1], pads [2,1,2,1], dilations [1,3] on 5×5 → 3×4
        var op = new MaxPoolOp(new[] { 4, 2 }, new[] { 2, 1 }, new[] { 2, 1, 2, 1 }, new[] { 1, 3 });
        Assert.That(Out(op, V("x", 1, 1, 5, 5)), Is.EqualTo(new[] { 1, 1, 3, 4 }));
    }

    [Test]
    public void DynamicBatchPropagatesAndFixedDimsAreChecked()
    {
        var g = new Graph();
        g.Inputs.Add(V("x", -1, 3, -1, -1));
        g.Initializers["w"] = new Tensor(DType.Float32, new[] { 4, 3, 3, 3 });
        g.Initializers["fw"] = new Tensor(DType.Float32, new[] { 10, 64 });
        g.Nodes.Add(new Node("conv", ConvOp.Conv2d(3, 1, 1), new[] { "x", "w" }, new[] { "c" }));
        g.Nodes.Add(new Node("pool", MaxPoolOp.MaxPool2d(2), new[] { "c" }, new[] { "p" }));
        g.Nodes.Add(new Node("flat", new FlattenOp(), new[] { "p" }, new[] { "f" }));
        g.Nodes.Add(new Node("fc", GemmOp.Linear(), new[] { "f", "fw" }, new[] { "y" }));
        g.Outputs.Add(V("y", -1, 10));
        var t = ShapeInference.Infer(g);
        Assert.That(t["p"].Shape, Is.EqualTo(new[] { -1, 4, -1, -1 }));
        Assert.That(t["y"].Shape, Is.EqualTo(new[] { -1, 10 }));
        var t5 = ShapeInference.Infer(g, new Dictionary<string, int[]> { ["x"] = new[] { 5, 3, 8, 8 } });
        Assert.That(t5["y"].Shape, Is.EqualTo(new[] { 5, 10 }));
        var bad = Assert.Throws<InvalidInputException>(() => ShapeInference.Infer(g, new Dictionary<string, int[]> { ["x"] = new[] { 5, 1, 8, 8 } }));
        Assert.That(bad!.Message, Does.Contain("'x'").And.Contain("dimension 1 is 1, expected 3"));
        Assert.Throws<InvalidInputException>(() => ShapeInference.Infer(g, new Dictionary<string, int[]> { ["x"] = new[] { 5, 3, 8 } }));
        var badLinear = Assert.Throws<GraphException>(() => ShapeInference.Infer(g, new Dictionary<string, int[]> { ["x"] = new[] { 1, 3, 10, 10 } }));
        Assert.That(badLinear!.Message, Does.Contain("node 'fc'").And.Contain("linear input has 100 features, weight expects 64"));
    }

    [Test]
    public void GemmMatMulAndBroadcasting()
    {
        Assert.That(Out(new GemmOp(TransA: true), V("a", 5, 3), V("b", 5, 4), V("c")), Is.EqualTo(new[] { 3, 4 }));
        Assert.Throws<GraphException>(() => Out(new GemmOp(), V("a", 3, 5), V("b", 5, 4), V("c", 3, 3)));
        Assert.That(Out(new MatMulOp(), V("a", 3), V("b", 3)), Is.EqualTo(Array.Empty<int>()));
        Assert.That(Out(new MatMulOp(), V("a", 4), V("b", 2, 4, 1)), Is.EqualTo(new[] { 2, 1 }));
        Assert.That(Out(new MatMulOp(), V("a", 7, 1, 2, 3), V("b", 5, 3, 4)), Is.EqualTo(new[] { 7, 5, 2, 4 }));
        Assert.That(Out(new BinaryOp(BinaryKind.Add), V("a", 3, 1, 5), V("b", 4, 1)), Is.EqualTo(new[] { 3, 4, 5 }));
        var ex = Assert.Throws<GraphException>(() => Out(new BinaryOp(BinaryKind.Mul), V("a", 3, 4), V("b", 5)));
        Assert.That(ex!.Message, Does.Contain("[3, 4]").And.Contain("[5]"));
    }

    [Test]
    public void ReshapeZeroMinusOneAllowZeroAndDynamicBatch()
    {
        Tensor S(params long[] v) => Tensor.From(v);
        var shapeInfo = new ValueInfo("s", DType.Int64, new[] { 2 });
        Assert.That(OutWith(new ReshapeOp(), new[] { V("x", 2, 3, 4), shapeInfo }, new Tensor?[] { null, S(0, -1) }), Is.EqualTo(new[] { 2, 12 }));
        Assert.That(OutWith(new ReshapeOp(), new[] { V("x", -1, 512, 7, 7), shapeInfo }, new Tensor?[] { null, S(0, -1) }), Is.EqualTo(new[] { -1, 25088 }));
        Assert.That(OutWith(new ReshapeOp(AllowZero: true), new[] { V("x", 0, 3), shapeInfo }, new Tensor?[] { null, S(3, 0) }), Is.EqualTo(new[] { 3, 0 }));
        var ex = Assert.Throws<GraphException>(() => OutWith(new ReshapeOp(), new[] { V("x", 2, 3, 4), shapeInfo }, new Tensor?[] { null, S(5, -1) }));
        Assert.That(ex!.Message, Does.Contain("cannot reshape"));
        // shape not constant: the rank is still known
        Assert.That(OutWith(new ReshapeOp(), new[] { V("x", 2, 3, 4), shapeInfo }, new Tensor?[2]), Is.EqualTo(new[] { -1, -1 }));
    }

    [Test]
    public void SoftmaxAxisAndReduceMeanAxes()
    {
        Assert.Throws<GraphException>(() => Out(new SoftmaxOp(3), V("x", 2, 3)));
        Assert.That(Out(new ReduceMeanOp(new[] { -1, 1 }, KeepDims: false), V("x", 2, 3, 4)), Is.EqualTo(new[] { 2 }));
        Assert.That(Out(new ReduceMeanOp(null), V("x", 2, 3, 4)), Is.EqualTo(new[] { 1, 1, 1 }));
        Assert.That(Out(new ReduceMeanOp(null, NoopWithEmptyAxes: true), V("x", 2, 3, 4)), Is.EqualTo(new[] { 2, 3, 4 }));
        var axes = new ValueInfo("axes", DType.Int64, new[] { 1 });
        Assert.That(OutWith(new ReduceMeanOp(null, KeepDims: true), new[] { V("x", 2, 3, 4), axes }, new Tensor?[] { null, Tensor.From(new long[] { 2 }) }), Is.EqualTo(new[] { 2, 3, 1 }));
    }

    [Test]
    public void GatherConcatUnsqueezeSqueezeShape()
    {
        var idx = new ValueInfo("i", DType.Int64, Array.Empty<int>());
        Assert.That(OutWith(new GatherOp(0), new[] { new ValueInfo("s", DType.Int64, new[] { 4 }), idx }, new Tensor?[] { null, Tensor.FromSpan<long>(new long[] { 0 }) }), Is.EqualTo(Array.Empty<int>()));
        Assert.That(Out(new GatherOp(1), V("d", 3, 5, 2), new ValueInfo("i", DType.Int32, new[] { 2, 2 })), Is.EqualTo(new[] { 3, 2, 2, 2 }));
        Assert.That(Out(new ConcatOp(-1), V("a", 2, 3), V("b", 2, 5)), Is.EqualTo(new[] { 2, 8 }));
        Assert.Throws<GraphException>(() => Out(new ConcatOp(0), V("a", 2, 3), V("b", 2, 5)));
        Assert.That(Out(new UnsqueezeOp(new[] { 0, -1 }), V("a", 3, 4)), Is.EqualTo(new[] { 1, 3, 4, 1 }));
        Assert.That(Out(new SqueezeOp(null), V("a", 1, 3, 1, 4)), Is.EqualTo(new[] { 3, 4 }));
        Assert.That(ShapeInference.InferNode(new Node("n", new ShapeOp(1), new[] { "x" }, new[] { "y" }), new[] { V("x", 1, 3, 4) }, new Tensor?[1])[0],
            Is.EqualTo(new ValueInfo("y", DType.Int64, new[] { 2 })).Using<ValueInfo>((a, b) => a.DType == b.DType && a.Shape!.SequenceEqual(b.Shape!)));
    }

    [Test]
    public void QuantizeLayoutsAndDtypes()
    {
        var x = V("x", 3, 4);
        var perAxis = new ValueInfo("s", DType.Float32, new[] { 4 });
        var zp = new ValueInfo("z", DType.Int8, new[] { 4 });
        var node = new Node("q", new QuantizeLinearOp(Axis: 1), new[] { "x", "s", "z" }, new[] { "y" });
        Assert.That(ShapeInference.InferNode(node, new ValueInfo?[] { x, perAxis, zp }, new Tensor?[3])[0].DType, Is.EqualTo(DType.Int8));
        var wrong = new ValueInfo("s", DType.Float32, new[] { 3 });
        Assert.Throws<GraphException>(() => ShapeInference.InferNode(node, new ValueInfo?[] { x, wrong, null }, new Tensor?[3]));
        var blocked = new Node("q", new QuantizeLinearOp(Axis: 1, BlockSize: 3), new[] { "x", "s" }, new[] { "y" });
        Assert.That(ShapeInference.InferNode(blocked, new ValueInfo?[] { x, new ValueInfo("s", DType.Float32, new[] { 3, 2 }) }, new Tensor?[2])[0].DType, Is.EqualTo(DType.UInt8));
    }

    /// <summary>The Shape→Gather→Unsqueeze→Concat→Reshape chain old exporters write for x.view(x.size(0), -1).</summary>
    internal static Graph ShapeChainGraph()
    {
        var g = new Graph { Name = "chain", Opset = 9 };
        g.Inputs.Add(V("x", -1, 2, 3, 3));
        g.Initializers["zero"] = Tensor.FromSpan<long>(new long[] { 0 });
        g.Initializers["minus1"] = Tensor.From(new long[] { -1 });
        g.Nodes.Add(new Node("relu", new UnaryOp(UnaryKind.Relu), new[] { "x" }, new[] { "r" }));
        g.Nodes.Add(new Node("shape", new ShapeOp(), new[] { "r" }, new[] { "s" }));
        g.Nodes.Add(new Node("gather", new GatherOp(0), new[] { "s", "zero" }, new[] { "n" }));
        g.Nodes.Add(new Node("unsq", new UnsqueezeOp(new[] { 0 }), new[] { "n" }, new[] { "n1" }));
        g.Nodes.Add(new Node("concat", new ConcatOp(0), new[] { "n1", "minus1" }, new[] { "target" }));
        g.Nodes.Add(new Node("reshape", new ReshapeOp(), new[] { "r", "target" }, new[] { "y" }));
        g.Outputs.Add(V("y", -1, 18));
        return g;
    }

    [Test]
    public void ShapeChainResolvesOnceTheInputShapeIsKnown()
    {
        var g = ShapeChainGraph();
        Assert.That(ShapeInference.Infer(g)["y"].Shape, Is.EqualTo(new[] { -1, -1 }));
        Assert.That(ShapeInference.Infer(g, new Dictionary<string, int[]> { ["x"] = new[] { 4, 2, 3, 3 } })["y"].Shape, Is.EqualTo(new[] { 4, 18 }));
    }

    [Test]
    public void ConstantFoldingAtLoadAndPerInputShape()
    {
        var g = ShapeChainGraph();
        var atLoad = ConstantFolding.Fold(g, null, out var foldedAtLoad);
        Assert.That(foldedAtLoad, Is.Empty, "Shape of a dynamic-batch value must not fold at load");
        var planned = ConstantFolding.Fold(g, new Dictionary<string, int[]> { ["x"] = new[] { 4, 2, 3, 3 } }, out var folded);
        Assert.That(folded, Is.EqualTo(new[] { "shape", "gather", "unsq", "concat" }));
        Assert.That(planned.Nodes.Select(n => n.Name), Is.EqualTo(new[] { "relu", "reshape" }));
        Assert.That(planned.Initializers.Keys, Is.EquivalentTo(new[] { "target" }));
        Assert.That(planned.Initializers["target"].ToInt64Array(), Is.EqualTo(new long[] { 4, -1 }));
        Assert.That(atLoad.Nodes, Has.Count.EqualTo(g.Nodes.Count));

        var rng = new Random(7);
        var x = Tensor.From(Enumerable.Range(0, 72).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), 4, 2, 3, 3);
        var a = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x })["y"];
        var b = ReferenceExecutor.Run(planned, new Dictionary<string, Tensor> { ["x"] = x })["y"];
        Assert.That(b.Shape, Is.EqualTo(new[] { 4, 18 }));
        Assert.That(b.ToFloatArray(), Is.EqualTo(a.ToFloatArray()));
    }

    [Test]
    public void ConstantOfShapeWeightsFoldAtLoad()
    {
        // light_vgg19 style: weights produced by ConstantOfShape from an int64 shape initializer.
        var g = new Graph();
        g.Inputs.Add(V("x", 1, 4));
        g.Initializers["w_shape"] = Tensor.From(new long[] { 3, 4 });
        g.Nodes.Add(new Node("w_init", new ConstantOfShapeOp(Tensor.From(new[] { 0.5f })), new[] { "w_shape" }, new[] { "w" }));
        g.Nodes.Add(new Node("fc", GemmOp.Linear(), new[] { "x", "w" }, new[] { "y" }));
        g.Outputs.Add(V("y", 1, 3));
        var f = ConstantFolding.Fold(g);
        Assert.That(f.Nodes.Select(n => n.Name), Is.EqualTo(new[] { "fc" }));
        Assert.That(f.Initializers["w"].ToFloatArray(), Is.All.EqualTo(0.5f));
        Assert.That(f.Initializers.ContainsKey("w_shape"), Is.False);
    }
}
