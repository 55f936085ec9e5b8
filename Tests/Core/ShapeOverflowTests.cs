using Vgg.Engine.IR;

namespace Vgg.Engine.Tests.Core;

/// <summary>
/// Shape arithmetic that user input controls (a Reshape or ConstantOfShape constant, pads, dilations, a concat, a
/// broadcast, a declared input shape) never overflows into a wrong shape or an OverflowException: it fails as a
/// <see cref="GraphException"/> naming the node and its op type, and says the limit (2^31 − 1 elements per tensor).
/// </summary>
public class ShapeOverflowTests
{
    private const long TwoTo40 = 1L << 40;

    private static ValueInfo V(string n, params int[] s) => new(n, DType.Float32, s);

    private static int[]? Out(Op op, ValueInfo?[] inputs, Tensor?[]? constants = null, string name = "big_node")
    {
        var node = new Node(name, op, inputs.Select((v, i) => v?.Name ?? ""), new[] { "y" });
        return ShapeInference.InferNode(node, inputs, constants ?? new Tensor?[inputs.Length])[0].Shape;
    }

    private static GraphException Fails(Op op, ValueInfo?[] inputs, Tensor?[]? constants = null)
    {
        var e = Assert.Throws<GraphException>(() => Out(op, inputs, constants))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.NodeName, Is.EqualTo("big_node"));
        Assert.That(e.Message, Does.StartWith("node 'big_node': " + op.OpType + ":"));
        Assert.That(e.Message, Does.Contain("2^31 − 1"));
        return e;
    }

    private static Tensor I64(params long[] v) => Tensor.From(v);

    private static readonly ValueInfo Shape2 = new("s", DType.Int64, new[] { 2 });

    [Test]
    public void ReshapeToADimensionBeyondIntIsAGraphError()
    {
        // /tmp/fresh-bad/reshape_huge.onnx: x [1, 1, 8, 8] reshaped to the constant [2^40, 2^40].
        var e = Fails(new ReshapeOp(), new[] { V("x", 1, 1, 8, 8), Shape2 }, new Tensor?[] { null, I64(TwoTo40, TwoTo40) });
        Assert.That(e.Message, Does.Contain("[1099511627776, 1099511627776]").And.Contain("elements"));
        // the input shape unknown: the same target still names the node
        Assert.Throws<GraphException>(() => Out(new ReshapeOp(), new[] { new ValueInfo("x", DType.Float32, null), Shape2 }, new Tensor?[] { null, I64(TwoTo40, 2) }));
    }

    [Test]
    public void ABatchTooLargeForOneTensorSaysHowToSplitIt()
    {
        // VGG-16's first conv output at batch 700: 700·64·224·224 = 2,247,884,800 elements; 668 images fit.
        var e = Fails(new UnaryOp(UnaryKind.Relu), new[] { V("x", 700, 64, 224, 224) });
        Assert.That(e.Message, Does.Contain("run the batch of 700 in parts of at most 668"));
    }

    [Test]
    public void ReshapeWhoseDimensionsFitButWhoseElementCountDoesNotIsAGraphError()
    {
        // 65536·65536 = 2^32 elements: each dimension is an int, the tensor is not.
        var e = Fails(new ReshapeOp(), new[] { V("x", 1, 1, 8, 8), Shape2 }, new Tensor?[] { null, I64(65536, 65536) });
        Assert.That(e.Message, Does.Contain("4,294,967,296 elements"));
        // with a dynamic batch the known part alone is already too large
        e = Fails(new ReshapeOp(), new[] { V("x", -1, 8), new ValueInfo("s", DType.Int64, new[] { 3 }) }, new Tensor?[] { null, I64(-1, 65536, 65536) });
        Assert.That(e.Message, Does.Contain("4,294,967,296"));
    }

    [Test]
    public void ReshapeOfAHugeDeclaredInputComparesCountsWithoutWrapping()
    {
        // [2^31−1]^3 has more elements than a long holds; before, the product wrapped around.
        int m = int.MaxValue;
        var e = Fails(new ReshapeOp(), new[] { V("x", m, m, m), new ValueInfo("s", DType.Int64, new[] { 1 }) }, new Tensor?[] { null, I64(-1) });
        Assert.That(e.Message, Does.Contain("inferred dimension"));
    }

    [Test]
    public void ConstantOfShapeBeyondTheLimitIsAGraphError()
    {
        var s1 = new ValueInfo("s", DType.Int64, new[] { 1 });
        Fails(new ConstantOfShapeOp(null), new[] { s1 }, new Tensor?[] { I64(TwoTo40) });
        var e = Fails(new ConstantOfShapeOp(null), new[] { Shape2 }, new Tensor?[] { I64(100_000, 100_000) });
        Assert.That(e.Message, Does.Contain("output 'y' [100000, 100000]").And.Contain("10,000,000,000 elements"));
    }

    [Test]
    public void FlattenWhoseProductExceedsIntIsAGraphError()
    {
        var e = Fails(new FlattenOp(1), new[] { V("x", 2, 65536, 65536, 2) });
        Assert.That(e.Message, Does.Contain("8,589,934,592"));
        // an input under the limit still flattens
        Assert.That(Out(new FlattenOp(1), new[] { V("x", 2, 512, 7, 7) }), Is.EqualTo(new[] { 2, 25088 }));
    }

    [Test]
    public void ConcatAlongAnAxisThatOverflowsIsAGraphError()
    {
        var e = Fails(new ConcatOp(0), new[] { V("a", 1_500_000_000), V("b", 1_500_000_000) });
        Assert.That(e.Message, Does.Contain("3,000,000,000"));
    }

    [Test]
    public void BroadcastToTooManyElementsIsAGraphError()
    {
        var e = Fails(new BinaryOp(BinaryKind.Add), new[] { V("a", 65536, 1), V("b", 1, 65536) });
        Assert.That(e.Message, Does.Contain("[65536, 65536]"));
    }

    [Test]
    public void ConvWithHugePadsOrDilationIsAGraphErrorNotAWrongShape()
    {
        // pads of 2^31−1 on both sides: the output length 2^32 − 2 does not fit an int
        int m = int.MaxValue;
        var padded = new ConvOp(new[] { 1, 1 }, new[] { 1, 1 }, new[] { m, 0, m, 0 }, new[] { 1, 1 }, 1);
        var e = Assert.Throws<GraphException>(() => Out(padded, new[] { V("x", 1, 1, 8, 8), V("w", 1, 1, 1, 1) }))!;
        Assert.That(e.NodeName, Is.EqualTo("big_node"));
        Assert.That(e.Message, Does.Contain("output length 4294967302").And.Contain("more than 2^31 − 1"));
        // (kernel − 1)·dilation + 1 = 65536·65536 + 1 wrapped to 1 before, which made a 65537-tap kernel "fit" an 8-pixel input
        var dilated = new ConvOp(new[] { 65537, 1 }, new[] { 1, 1 }, new[] { 0, 0, 0, 0 }, new[] { 65536, 1 }, 1);
        e = Assert.Throws<GraphException>(() => Out(dilated, new[] { V("x", 1, 1, 8, 8), V("w", 1, 1, 65537, 1) }))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.NodeName, Is.EqualTo("big_node"));
        Assert.That(e.Message, Does.Contain("dilated kernel"));
        // SAME padding with a stride near int.MaxValue: ceil(L / s) used to overflow
        var same = new MaxPoolOp(new[] { 2, 2 }, new[] { m, 1 }, Array.Empty<int>(), Array.Empty<int>(), AutoPad: AutoPad.SameUpper);
        Assert.That(Out(same, new[] { V("x", 1, 1, 8, 8) }), Is.EqualTo(new[] { 1, 1, 1, 8 }));
    }

    [Test]
    public void WholeGraphInferenceNamesTheNode()
    {
        var g = new Graph { Name = "g" };
        g.Inputs.Add(V("x", 1, 1, 8, 8));
        g.Initializers["sh"] = I64(TwoTo40, TwoTo40);
        g.Nodes.Add(new Node("Reshape_0", new ReshapeOp(), new[] { "x", "sh" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, null));
        var e = Assert.Throws<GraphException>(() => ShapeInference.Infer(g))!;
        Assert.That(e.NodeName, Is.EqualTo("Reshape_0"));
        Assert.That(e.Message, Does.Contain("Reshape"));
    }

    [Test]
    public void TensorProductSaturatesInsteadOfWrapping()
    {
        int m = int.MaxValue;
        Assert.That(Tensor.Product(new[] { m, m, m }), Is.EqualTo(long.MaxValue));
        Assert.That(Tensor.Product(new[] { m, m, m, 0 }), Is.EqualTo(0), "a zero dimension still gives an empty tensor");
        Assert.That(Tensor.Product(new[] { m, m }), Is.EqualTo((long)m * m));
        Assert.That(Tensor.Product(Array.Empty<int>()), Is.EqualTo(1));
        // a shape whose true product wraps around a long must not be allocated as a small tensor
        var e = Assert.Throws<ArgumentException>(() => new Tensor(DType.Float32, new[] { 1 << 22, 1 << 22, 1 << 22 }))!;
        Assert.That(e.Message, Does.Contain("more than one buffer can hold"));
        e = Assert.Throws<ArgumentException>(() => new Tensor(DType.Float32, new[] { 65536, 65536 }))!;
        Assert.That(e.Message, Does.Contain("17179869184 bytes"));
    }

    [TestCase("maxpool", 1, 2, 2)]
    [TestCase("maxpool", 1, 3, 3)]
    [TestCase("maxpool", 2, 3, 3)]
    [TestCase("avgpool", 1, 2, 2)]
    [TestCase("avgpool", 4, 5, 2)]
    public void ACeilModePoolLongerThanItsInputGivesOneOutputAsInPyTorch(string type, int size, int kernel, int stride)
    {
        // torch.nn.MaxPool2d/AvgPool2d(k, s, ceil_mode=True) on an L×L input with k > L gives a 1×1 output
        // (aten pooling_output_shape: div_rtn); the value is the max / mean of the input values inside the window.
        var json = $$"""{"input":{"channels":1,"height":{{size}},"width":{{size}}},"layers":[{"type":"{{type}}","kernel":{{kernel}},"stride":{{stride}},"ceil_mode":true},{"type":"flatten"}]}""";
        var model = Vgg.Engine.Models.ModelFactory.FromSpec(Vgg.Engine.Models.ModelSpec.Parse(json), null);
        var rng = new Random(size * 10 + kernel);
        var x = Tensor.From(Enumerable.Range(0, size * size).Select(_ => rng.NextSingle() + 0.5f).ToArray(), 1, 1, size, size);
        using var session = new Vgg.Engine.Runtime.Session(model, new Vgg.Engine.Runtime.SessionOptions { Backend = Vgg.Engine.Backends.BackendChoice.Cpu, Threads = 1 });
        var y = session.Run(x).ToFloatArray();
        Assert.That(y, Has.Length.EqualTo(1));
        // every input element lies inside the single window (k ≥ L here)
        float expected = type == "maxpool" ? x.ToFloatArray().Max() : x.ToFloatArray().Sum() / (size * size);
        Assert.That(y[0], Is.EqualTo(expected).Within(1e-6), $"{type} k{kernel} s{stride} ceil on {size}×{size}");
        var reference = Vgg.Engine.Cpu.Reference.ReferenceExecutor.Run(model.Graph, new Dictionary<string, Tensor> { [model.Graph.Inputs[0].Name] = x });
        Assert.That(reference.Values.Single().ToFloatArray()[0], Is.EqualTo(expected).Within(1e-6), "reference executor");
    }
}
