using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Planning;
using Vgg.Engine.Tests.Core;

namespace Vgg.Engine.Tests.Planning;

public class PlannerTests
{
    internal static Tensor Random(Random rng, float scale, params int[] shape)
    {
        var t = new Tensor(DType.Float32, shape);
        var s = t.AsSpan<float>();
        for (int i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return t;
    }

    internal static Tensor Positive(Random rng, params int[] shape)
    {
        var t = new Tensor(DType.Float32, shape);
        var s = t.AsSpan<float>();
        for (int i = 0; i < s.Length; i++) s[i] = (float)(0.5 + rng.NextDouble());
        return t;
    }

    private static void AddBn(Graph g, Random rng, string name, int ch)
    {
        g.Initializers[name + ".weight"] = Positive(rng, ch);
        g.Initializers[name + ".bias"] = Random(rng, 0.5f, ch);
        g.Initializers[name + ".running_mean"] = Random(rng, 0.5f, ch);
        g.Initializers[name + ".running_var"] = Positive(rng, ch);
    }

    private static string[] BnInputs(string x, string name) =>
        new[] { x, name + ".weight", name + ".bias", name + ".running_mean", name + ".running_var" };

    /// <summary>conv1 → bn1 → relu → pool → conv2 → relu → bn2 → flatten → fc1 → relu → dropout → fc2 → bn3 → log_softmax.</summary>
    internal static Graph SmallNet(int seed = 1)
    {
        var rng = new Random(seed);
        var g = new Graph { Name = "small" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { -1, 3, 8, 8 }));
        g.Initializers["conv1.weight"] = Random(rng, 0.3f, 4, 3, 3, 3);
        g.Initializers["conv1.bias"] = Random(rng, 0.1f, 4);
        AddBn(g, rng, "bn1", 4);
        g.Initializers["conv2.weight"] = Random(rng, 0.3f, 6, 4, 3, 3);
        AddBn(g, rng, "bn2", 6);
        g.Initializers["fc1.weight"] = Random(rng, 0.2f, 10, 6 * 4 * 4);
        g.Initializers["fc1.bias"] = Random(rng, 0.1f, 10);
        g.Initializers["fc2.weight"] = Random(rng, 0.3f, 5, 10);
        g.Initializers["fc2.bias"] = Random(rng, 0.1f, 5);
        AddBn(g, rng, "bn3", 5);
        g.Nodes.Add(new Node("conv1", ConvOp.Conv2d(3, 1, 1), new[] { "x", "conv1.weight", "conv1.bias" }, new[] { "c1" }));
        g.Nodes.Add(new Node("bn1", new BatchNormOp(), BnInputs("c1", "bn1"), new[] { "b1" }));
        g.Nodes.Add(new Node("relu1", new UnaryOp(UnaryKind.Relu), new[] { "b1" }, new[] { "r1" }));
        g.Nodes.Add(new Node("pool1", MaxPoolOp.MaxPool2d(2), new[] { "r1" }, new[] { "p1" }));
        g.Nodes.Add(new Node("conv2", ConvOp.Conv2d(3, 1, 1), new[] { "p1", "conv2.weight" }, new[] { "c2" }));
        g.Nodes.Add(new Node("relu2", new UnaryOp(UnaryKind.Relu), new[] { "c2" }, new[] { "r2" }));
        g.Nodes.Add(new Node("bn2", new BatchNormOp(), BnInputs("r2", "bn2"), new[] { "b2" }));
        g.Nodes.Add(new Node("flatten", new FlattenOp(), new[] { "b2" }, new[] { "f" }));
        g.Nodes.Add(new Node("fc1", GemmOp.Linear(), new[] { "f", "fc1.weight", "fc1.bias" }, new[] { "h" }));
        g.Nodes.Add(new Node("relu3", new UnaryOp(UnaryKind.Relu), new[] { "h" }, new[] { "hr" }));
        g.Nodes.Add(new Node("drop", new DropoutOp(), new[] { "hr" }, new[] { "hd" }));
        g.Nodes.Add(new Node("fc2", GemmOp.Linear(), new[] { "hd", "fc2.weight", "fc2.bias" }, new[] { "z" }));
        g.Nodes.Add(new Node("bn3", new BatchNormOp(), BnInputs("z", "bn3"), new[] { "zb" }));
        g.Nodes.Add(new Node("logsoftmax", new LogSoftmaxOp(1), new[] { "zb" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, new[] { -1, 5 }));
        return g;
    }

    [Test]
    public void OptimizeFoldsBatchNormRemovesDropoutAndFuses()
    {
        var original = SmallNet();
        var before = original.Initializers["conv1.weight"].ToFloatArray();
        var g = GraphPasses.Optimize(original);
        var ops = g.Nodes.Select(n => $"{n.Name}:{n.Op.OpType}").ToArray();
        // bn1 follows conv1 → folded; relu1 + pool1 fuse into conv1. bn2 follows a ReLU → stays.
        // bn3 follows fc2 (MNIST's BatchNorm1d) → folded into fc2. Dropout removed, fc1+relu3 fused.
        Assert.That(ops, Is.EqualTo(new[]
        {
            "conv1+relu1+pool1:Conv", "conv2+relu2:Conv", "bn2:BatchNormalization", "flatten:Flatten",
            "fc1+relu3:Gemm", "fc2:Gemm", "logsoftmax:LogSoftmax",
        }));
        var conv1 = (ConvOp)g.Nodes[0].Op;
        Assert.That(conv1.Activation, Is.EqualTo(Activation.Relu));
        Assert.That(conv1.FusedMaxPool, Is.Not.Null);
        Assert.That(g.Initializers.Keys, Has.None.StartsWith("bn1.").And.None.StartsWith("bn3."));
        Assert.That(original.Initializers["conv1.weight"].ToFloatArray(), Is.EqualTo(before), "the input graph's weights are untouched");
        Assert.That(original.Nodes, Has.Count.EqualTo(14), "the input graph's nodes are untouched");
    }

    [Test]
    public void OptimizedGraphMatchesTheOriginal([Values(1, 3)] int batch)
    {
        // BN folding is computed in float64 and rounded once: the folded net agrees with the unfolded one
        // within 1e-6 relative (max |diff| / max |ref| over the output).
        var g = SmallNet();
        var rng = new Random(42 + batch);
        var x = Random(rng, 1f, batch, 3, 8, 8);
        var inputs = new Dictionary<string, Tensor> { ["x"] = x };
        var expected = ReferenceExecutor.Run(g, inputs)["y"];
        var actual = ReferenceExecutor.Run(GraphPasses.Optimize(g), inputs)["y"];
        double rel = TensorAssert.MaxRelativeError(expected, actual);
        Assert.That(rel, Is.LessThan(1e-6), $"relative error {rel:E3}");
        TensorAssert.Close(expected, actual, 1e-5, 1e-6, "optimized vs original");
    }

    [Test]
    public void NoFusionWhenTheIntermediateHasTwoConsumersOrIsAnOutput()
    {
        var rng = new Random(3);
        var g = new Graph();
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { 1, 2, 4, 4 }));
        g.Initializers["w"] = Random(rng, 1, 2, 2, 3, 3);
        g.Initializers["w2"] = Random(rng, 1, 2, 2, 3, 3);
        g.Nodes.Add(new Node("convA", ConvOp.Conv2d(3, 1, 1), new[] { "x", "w" }, new[] { "a" }));
        g.Nodes.Add(new Node("reluA", new UnaryOp(UnaryKind.Relu), new[] { "a" }, new[] { "ra" }));
        g.Nodes.Add(new Node("addA", new BinaryOp(BinaryKind.Add), new[] { "a", "ra" }, new[] { "sa" })); // a has two consumers
        g.Nodes.Add(new Node("convB", ConvOp.Conv2d(3, 1, 1), new[] { "sa", "w2" }, new[] { "b" }));
        g.Nodes.Add(new Node("reluB", new UnaryOp(UnaryKind.Relu), new[] { "b" }, new[] { "rb" }));   // b is an output
        g.Nodes.Add(new Node("poolB", MaxPoolOp.MaxPool2d(2), new[] { "rb" }, new[] { "pb" }));
        g.Outputs.Add(new ValueInfo("b", DType.Float32, null));
        g.Outputs.Add(new ValueInfo("pb", DType.Float32, null));
        var f = GraphPasses.Fuse(g);
        Assert.That(f.Nodes.Select(n => n.Name), Is.EqualTo(new[] { "convA", "reluA", "addA", "convB", "reluB", "poolB" }));

        // Without the extra consumer and output, both fuse; with the pool's indices used, the pool does not.
        var h = new Graph();
        h.Inputs.Add(g.Inputs[0]);
        h.Initializers["w"] = g.Initializers["w"];
        h.Nodes.Add(new Node("conv", ConvOp.Conv2d(3, 1, 1), new[] { "x", "w" }, new[] { "c" }));
        h.Nodes.Add(new Node("relu", new UnaryOp(UnaryKind.Relu), new[] { "c" }, new[] { "r" }));
        h.Nodes.Add(new Node("pool", MaxPoolOp.MaxPool2d(2), new[] { "r" }, new[] { "p", "idx" }));
        h.Outputs.Add(new ValueInfo("p", DType.Float32, null));
        h.Outputs.Add(new ValueInfo("idx", DType.Int64, null));
        Assert.That(GraphPasses.Fuse(h).Nodes.Select(n => n.Name), Is.EqualTo(new[] { "conv+relu", "pool" }));
        h.Nodes[2] = new Node("pool", MaxPoolOp.MaxPool2d(2), new[] { "r" }, new[] { "p" });
        h.Outputs.RemoveAt(1);
        Assert.That(GraphPasses.Fuse(h).Nodes.Select(n => n.Name), Is.EqualTo(new[] { "conv+relu+pool" }));
        Assert.That(GraphPasses.Fuse(h, (_, _) => false).Nodes.Select(n => n.Name), Is.EqualTo(new[] { "conv+relu", "pool" }), "the backend said no");
    }

    [Test]
    public void StandaloneBatchNormAfterReluStaysAndSharedConvOutputIsNotFolded()
    {
        var rng = new Random(5);
        var g = new Graph();
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { 1, 2, 4, 4 }));
        g.Initializers["w"] = Random(rng, 1, 2, 2, 1, 1);
        AddBn(g, rng, "bn", 2);
        g.Nodes.Add(new Node("conv", ConvOp.Conv2d(1), new[] { "x", "w" }, new[] { "c" }));
        g.Nodes.Add(new Node("bn", new BatchNormOp(), BnInputs("c", "bn"), new[] { "b" }));
        g.Nodes.Add(new Node("add", new BinaryOp(BinaryKind.Add), new[] { "c", "b" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, null));
        Assert.That(GraphPasses.FoldBatchNorm(g).Nodes.Select(n => n.Name), Is.EqualTo(new[] { "conv", "bn", "add" }));
    }

    [Test]
    public void PlanOfSmallNetHasViewsLifetimesAndNoOverlap()
    {
        var plan = Planner.Plan(SmallNet(), new Dictionary<string, int[]> { ["x"] = new[] { 2, 3, 8, 8 } });
        Assert.That(plan.Steps.Select(s => s.Node.Name), Is.EqualTo(new[]
        {
            "conv1+relu1+pool1", "conv2+relu2", "bn2", "flatten", "fc1+relu3", "fc2", "logsoftmax",
        }));
        var flatten = plan.Steps[3];
        Assert.That(flatten.IsView, Is.True);
        Assert.That(flatten.Outputs[0].Offset, Is.EqualTo(flatten.Inputs[0]!.Offset));
        Assert.That(flatten.Outputs[0].Shape, Is.EqualTo(new[] { 2, 96 }));
        Assert.That(plan.Outputs[0].Shape, Is.EqualTo(new[] { 2, 5 }));

        // Hand-worked sizes: input 2·3·8·8·4 = 1536 B; conv1+pool out 2·4·4·4·4 = 512; conv2 out 2·6·4·4·4 = 768;
        // bn2 out 768 (viewed by flatten); fc1 out 2·10·4 = 80 → 128 aligned; fc2 out 40 → 64; y 40 → 64.
        var sizes = plan.Buffers.Select(b => b.Bytes).ToArray();
        Assert.That(sizes, Is.EqualTo(new long[] { 1536, 512, 768, 768, 80, 40, 40 }));
        var lifetimes = plan.Buffers.Select(b => new BufferLifetime(b.Bytes, b.FirstStep, b.LastStep)).ToArray();
        Assert.That(lifetimes.Select(l => (l.FirstUse, l.LastUse)), Is.EqualTo(new[] { (0, 6), (0, 1), (1, 2), (2, 4), (4, 5), (5, 6), (0, 6) }));
        Assert.That(MemoryPlanning.FindConflict(lifetimes, new MemoryLayout(plan.Buffers.Select(b => b.Offset).ToArray(), plan.ArenaBytes)), Is.Null);
        // Lower bound: step 2 holds input 1536 + conv2 out 768 + bn2 out 768 + y 64 = 3136.
        Assert.That(plan.LowerBoundBytes, Is.EqualTo(3136));
        Assert.That(plan.ArenaBytes, Is.GreaterThanOrEqualTo(plan.LowerBoundBytes));
        var text = PlanPrinter.Print(plan);
        Assert.That(text, Does.Contain("conv1+relu1+pool1").And.Contain("Conv 3×3 p1+Relu+MaxPool 2×2 s2").And.Contain("lower bound 3,136 B").And.Contain("(view)"));
        TestContext.Out.WriteLine(text);
    }

    [Test]
    public void LinearPlannerNeverReuses()
    {
        var plan = Planner.Plan(SmallNet(), new Dictionary<string, int[]> { ["x"] = new[] { 1, 3, 8, 8 } }, new PlannerOptions { MemoryPlanner = MemoryPlannerKind.Linear });
        Assert.That(plan.ArenaBytes, Is.EqualTo(plan.Buffers.Sum(b => MemoryPlanning.Align(b.Bytes, 64))));
        var offsets = plan.Buffers.Select(b => b.Offset).ToArray();
        Assert.That(offsets, Is.Unique);
    }

    [Test]
    public void PlanNeedsConcreteInputShapes()
    {
        var ex = Assert.Throws<InvalidInputException>(() => Planner.Plan(SmallNet(), new Dictionary<string, int[]>()));
        Assert.That(ex!.InputName, Is.EqualTo("x"));
        Assert.Throws<InvalidInputException>(() => Planner.Plan(SmallNet(), new Dictionary<string, int[]> { ["x"] = new[] { 1, 1, 8, 8 } }));
    }
}
