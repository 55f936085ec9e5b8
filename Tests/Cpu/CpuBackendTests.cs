using Vgg.Engine.Backends;
using Vgg.Engine.Cpu;
using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Planning;
using Vgg.Engine.Tests.Core;
using Vgg.Engine.Tests.Planning;

namespace Vgg.Engine.Tests.Cpu;

/// <summary>
/// One list of op cases (ggml test-backend-ops style: real VGG-like shapes and odd edge sizes), each
/// run through planner + CPU backend and compared with the reference executor. Tolerance per element:
/// |cpu − ref| ≤ 1e-4·|ref| + 1e-5·max|ref| (float32 accumulation in a different order than the
/// reference's float64).
/// </summary>
public class CpuBackendTests
{
    private static CpuBackend? _backend1, _backend4;

    [OneTimeSetUp]
    public void Setup()
    {
        _backend1 = new CpuBackend(1);
        _backend4 = new CpuBackend(4);
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _backend1?.Dispose();
        _backend4?.Dispose();
    }

    public sealed record OpCase(string Name, Func<Graph> Build, int[] InputShape)
    {
        public override string ToString() => Name;
    }

    private static Graph OneNode(Op op, int[] xShape, int seed, params (string Name, int[] Shape)[] weights)
    {
        var rng = new Random(seed);
        var g = new Graph { Name = op.OpType };
        var xs = (int[])xShape.Clone();
        xs[0] = -1;
        g.Inputs.Add(new ValueInfo("x", DType.Float32, xs));
        var inputs = new List<string> { "x" };
        foreach (var (name, shape) in weights)
        {
            if (name.Length == 0) { inputs.Add(""); continue; }
            g.Initializers[name] = PlannerTests.Random(rng, 0.5f, shape);
            inputs.Add(name);
        }
        g.Nodes.Add(new Node("op", op, inputs, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, null));
        return g;
    }

    private static Graph ConvChain(ConvOp conv, int inC, int outC, int[] xShape, MaxPoolOp? pool, int seed)
    {
        var g = OneNode(conv, xShape, seed, ("w", new[] { outC, inC / conv.Group }.Concat(conv.KernelShape).ToArray()), ("b", new[] { outC }));
        g.Nodes[0] = new Node("conv", conv, g.Nodes[0].Inputs, new[] { "c" });
        g.Nodes.Add(new Node("relu", new UnaryOp(UnaryKind.Relu), new[] { "c" }, new[] { pool is null ? "y" : "r" }));
        if (pool is not null) g.Nodes.Add(new Node("pool", pool, new[] { "r" }, new[] { "y" }));
        return g;
    }

    public static IEnumerable<OpCase> Cases()
    {
        ConvOp C(int k, int s, int[] pads, int[]? dil = null, int group = 1, AutoPad ap = AutoPad.NotSet) =>
            new(new[] { k, k }, new[] { s, s }, pads, dil ?? new[] { 1, 1 }, group, ap);
        yield return new("conv3x3 vgg-like 16→32 on 13×11", () => ConvChain(ConvOp.Conv2d(3, 1, 1), 16, 32, new[] { 2, 16, 13, 11 }, null, 1), new[] { 2, 16, 13, 11 });
        yield return new("conv3x3 3→20 first layer 17×17 + pool 2×2", () => ConvChain(ConvOp.Conv2d(3, 1, 1), 3, 20, new[] { 3, 3, 17, 17 }, MaxPoolOp.MaxPool2d(2), 2), new[] { 3, 3, 17, 17 });
        yield return new("conv3x3 + relu + pool 3×3 s2 ceil (overlapping)", () => ConvChain(ConvOp.Conv2d(3, 1, 1), 5, 7, new[] { 2, 5, 10, 9 }, MaxPoolOp.MaxPool2d(3, 2, 0, true), 3), new[] { 2, 5, 10, 9 });
        yield return new("conv3x3 + relu + pool 2×2 s2 ceil on odd 9×7", () => ConvChain(ConvOp.Conv2d(3, 1, 1), 4, 13, new[] { 1, 4, 9, 7 }, MaxPoolOp.MaxPool2d(2, 2, 0, true), 4), new[] { 1, 4, 9, 7 });
        yield return new("conv 5×5 stride 2 asymmetric pads", () => OneNode(C(5, 2, new[] { 1, 2, 2, 0 }), new[] { 2, 3, 12, 10 }, 5, ("w", new[] { 6, 3, 5, 5 }), ("b", new[] { 6 })), new[] { 2, 3, 12, 10 });
        yield return new("conv 3×3 dilation 2 pad 2", () => OneNode(C(3, 1, new[] { 2, 2, 2, 2 }, new[] { 2, 2 }), new[] { 1, 4, 9, 9 }, 6, ("w", new[] { 5, 4, 3, 3 }), ("", Array.Empty<int>())), new[] { 1, 4, 9, 9 });
        yield return new("conv grouped g=2", () => OneNode(C(3, 1, new[] { 1, 1, 1, 1 }, null, 2), new[] { 2, 6, 7, 7 }, 7, ("w", new[] { 4, 3, 3, 3 }), ("b", new[] { 4 })), new[] { 2, 6, 7, 7 });
        yield return new("conv depthwise g=C", () => OneNode(C(3, 1, new[] { 1, 1, 1, 1 }, null, 8), new[] { 1, 8, 6, 6 }, 8, ("w", new[] { 8, 1, 3, 3 }), ("b", new[] { 8 })), new[] { 1, 8, 6, 6 });
        yield return new("conv 1×1 64→200 (several M panels)", () => OneNode(C(1, 1, new[] { 0, 0, 0, 0 }), new[] { 2, 64, 5, 5 }, 9, ("w", new[] { 200, 64, 1, 1 }), ("b", new[] { 200 })), new[] { 2, 64, 5, 5 });
        yield return new("conv auto_pad SAME_LOWER stride 2", () => OneNode(C(3, 2, Array.Empty<int>(), null, 1, AutoPad.SameLower), new[] { 1, 2, 8, 7 }, 10, ("w", new[] { 3, 2, 3, 3 }), ("b", new[] { 3 })), new[] { 1, 2, 8, 7 });
        yield return new("conv 1-D k3 s2 p1", () => OneNode(new ConvOp(new[] { 3 }, new[] { 2 }, new[] { 1, 1 }, new[] { 1 }, 1), new[] { 2, 3, 20 }, 11, ("w", new[] { 4, 3, 3 }), ("b", new[] { 4 })), new[] { 2, 3, 20 });
        yield return new("conv deep K=600 (K blocks)", () => OneNode(C(3, 1, new[] { 1, 1, 1, 1 }), new[] { 1, 67, 5, 6 }, 12, ("w", new[] { 9, 67, 3, 3 }), ("b", new[] { 9 })), new[] { 1, 67, 5, 6 });
        yield return new("linear 300→70 (Gemm transB)", () => OneNode(GemmOp.Linear(), new[] { 3, 300 }, 13, ("w", new[] { 70, 300 }), ("b", new[] { 70 })), new[] { 3, 300 });
        yield return new("linear batch 1 1100→40", () => OneNode(GemmOp.Linear(), new[] { 1, 1100 }, 14, ("w", new[] { 40, 1100 }), ("b", new[] { 40 })), new[] { 1, 1100 });
        yield return new("gemm alpha beta matrix C", () => OneNode(new GemmOp(0.5f, 2f), new[] { 7, 9 }, 15, ("w", new[] { 9, 11 }), ("c", new[] { 7, 11 })), new[] { 7, 9 });
        yield return new("gemm transA scalar C", () => OneNode(new GemmOp(1f, 1f, TransA: true), new[] { 9, 5 }, 16, ("w", new[] { 9, 4 }), ("c", Array.Empty<int>())), new[] { 9, 5 });
        yield return new("matmul batched x[N,3,5]·W[5,6]", () => OneNode(new MatMulOp(), new[] { 2, 3, 5 }, 17, ("w", new[] { 5, 6 })), new[] { 2, 3, 5 });
        yield return new("maxpool 3×3 s2 pad 1", () => OneNode(new MaxPoolOp(new[] { 3, 3 }, new[] { 2, 2 }, new[] { 1, 1, 1, 1 }, new[] { 1, 1 }), new[] { 2, 3, 9, 8 }, 18), new[] { 2, 3, 9, 8 });
        yield return new("maxpool 2×2 s2 (VGG) 14×14", () => OneNode(MaxPoolOp.MaxPool2d(2), new[] { 2, 4, 14, 14 }, 19), new[] { 2, 4, 14, 14 });
        yield return new("avgpool ceil count_include_pad", () => OneNode(new AveragePoolOp(new[] { 3, 3 }, new[] { 2, 2 }, new[] { 1, 1, 1, 1 }, new[] { 1, 1 }, true, true), new[] { 1, 2, 8, 9 }, 20), new[] { 1, 2, 8, 9 });
        yield return new("adaptive avgpool 10×10 → 7×7", () => OneNode(new AdaptiveAvgPoolOp(7, 7), new[] { 2, 3, 10, 10 }, 21), new[] { 2, 3, 10, 10 });
        yield return new("global average pool", () => OneNode(new GlobalAveragePoolOp(), new[] { 2, 5, 4, 3 }, 22), new[] { 2, 5, 4, 3 });
        yield return new("global max pool", () => OneNode(new GlobalMaxPoolOp(), new[] { 2, 5, 4, 3 }, 23), new[] { 2, 5, 4, 3 });
        yield return new("add broadcast [N,4,3,3]+[4,1,1]", () => OneNode(new BinaryOp(BinaryKind.Add), new[] { 2, 4, 3, 3 }, 24, ("b", new[] { 4, 1, 1 })), new[] { 2, 4, 3, 3 });
        yield return new("mul same shape", () => OneNode(new BinaryOp(BinaryKind.Mul), new[] { 1, 37 }, 25, ("b", new[] { 1, 37 })), new[] { 1, 37 });
        yield return new("sigmoid", () => OneNode(new UnaryOp(UnaryKind.Sigmoid), new[] { 2, 19 }, 26), new[] { 2, 19 });
        yield return new("batchnorm standalone", () => BatchNormGraph(27), new[] { 2, 3, 4, 5 });
        yield return new("softmax axis 1", () => OneNode(new SoftmaxOp(1), new[] { 3, 10 }, 28), new[] { 3, 10 });
        yield return new("log_softmax axis -1 on [N,2,5]", () => OneNode(new LogSoftmaxOp(-1), new[] { 2, 2, 5 }, 29), new[] { 2, 2, 5 });
        yield return new("softmax coerce2D (opset < 13)", () => OneNode(new SoftmaxOp(1, true), new[] { 2, 3, 4 }, 30), new[] { 2, 3, 4 });
        yield return new("reduce mean (reference path)", () => OneNode(new ReduceMeanOp(new[] { 2, 3 }), new[] { 2, 3, 4, 5 }, 31), new[] { 2, 3, 4, 5 });
        yield return new("small net (BN fold, fusion, views)", () => PlannerTests.SmallNet(32), new[] { 3, 3, 8, 8 });
    }

    private static Graph BatchNormGraph(int seed)
    {
        var rng = new Random(seed);
        var g = OneNode(new BatchNormOp(), new[] { 2, 3, 4, 5 }, seed);
        foreach (var n in new[] { "s", "b", "m" }) g.Initializers[n] = PlannerTests.Random(rng, 1, 3);
        g.Initializers["v"] = PlannerTests.Positive(rng, 3);
        g.Nodes[0] = new Node("bn", new BatchNormOp(), new[] { "x", "s", "b", "m", "v" }, new[] { "y" });
        return g;
    }

    [TestCaseSource(nameof(Cases))]
    public void CpuBackendMatchesReference(OpCase c)
    {
        foreach (var backend in new[] { _backend1!, _backend4! })
        {
            var g = c.Build();
            var rng = new Random(c.Name.Length * 31 + backend.Threads);
            var x = PlannerTests.Random(rng, 1f, c.InputShape);
            TestContext.Out.WriteLine($"{c.Name}: input {x}, seed {c.Name.Length * 31 + backend.Threads}, {backend.Name}");
            var expected = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x })["y"];
            var actual = RunCpu(backend, g, x);
            double scale = expected.ToFloatArray().Select(Math.Abs).DefaultIfEmpty(0f).Max();
            TensorAssert.Close(expected, actual, 1e-4, 1e-5 * scale, $"{c.Name} ({backend.Threads} threads)");
        }
    }

    internal static Tensor RunCpu(IBackend backend, Graph g, Tensor x, PlannerOptions? options = null)
    {
        var plan = Planner.Plan(g, new Dictionary<string, int[]> { [g.Inputs[0].Name] = x.ShapeArray() }, backend.ConfigurePlanner(options ?? new PlannerOptions()));
        using var prepared = backend.Prepare(plan);
        using var ctx = prepared.CreateContext();
        ctx.SetInput(0, x.Bytes);
        ctx.Execute();
        var y = new Tensor(plan.Outputs[0].DType, plan.Outputs[0].Shape);
        ctx.GetOutput(0, y.Bytes);
        return y;
    }

    [Test]
    public void SameContextRunsRepeatedlyWithIdenticalResults()
    {
        var g = PlannerTests.SmallNet(5);
        var x = PlannerTests.Random(new Random(9), 1f, 4, 3, 8, 8);
        var plan = Planner.Plan(g, new Dictionary<string, int[]> { ["x"] = x.ShapeArray() }, _backend4!.ConfigurePlanner(new PlannerOptions()));
        using var prepared = _backend4.Prepare(plan);
        using var ctx = prepared.CreateContext();
        var first = new byte[plan.Outputs[0].Bytes];
        var again = new byte[first.Length];
        ctx.SetInput(0, x.Bytes);
        ctx.Execute();
        ctx.GetOutput(0, first);
        for (int i = 0; i < 3; i++)
        {
            ctx.SetInput(0, x.Bytes);
            ctx.Execute();
            ctx.GetOutput(0, again);
            Assert.That(again, Is.EqualTo(first));
        }
        Assert.That(plan.WorkspaceBytes, Is.GreaterThan(0));
        Assert.That(prepared.ContextBytes, Is.EqualTo(plan.ArenaBytes + plan.WorkspaceBytes), "the context holds exactly what the planner reported");
    }

    [Test]
    public void NonFloatStepsRunThroughTheReferencePath()
    {
        var g = new Graph();
        g.Inputs.Add(new ValueInfo("x", DType.UInt8, new[] { -1, 4 }));
        g.Initializers["b"] = Tensor.From(new byte[] { 10, 20, 250, 1 });
        g.Nodes.Add(new Node("add", new BinaryOp(BinaryKind.Add), new[] { "x", "b" }, new[] { "s" }));
        g.Nodes.Add(new Node("cast", new CastOp(DType.Float32), new[] { "s" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, null));
        var x = Tensor.From(new byte[] { 1, 2, 10, 255, 0, 0, 6, 0 }, 2, 4);
        var y = RunCpu(_backend4!, g, x);
        Assert.That(y.ToFloatArray(), Is.EqualTo(new[] { 11f, 22f, 4f, 0f, 10f, 20f, 0f, 1f }));
    }

    [Test]
    public void UnsupportedStepIsRefusedAtPrepareNamingTheNode()
    {
        var g = OneNode(new ConvOp(new[] { 1, 1, 1 }, new[] { 1, 1, 1 }, new int[6], new[] { 1, 1, 1 }, 1), new[] { 1, 2, 3, 3, 3 }, 1, ("w", new[] { 2, 2, 1, 1, 1 }));
        var plan = Planner.Plan(g, new Dictionary<string, int[]> { ["x"] = new[] { 1, 2, 3, 3, 3 } }, _backend1!.ConfigurePlanner(new PlannerOptions()));
        Assert.That(_backend1.Supports(plan.Steps[0], out var reason), Is.False);
        Assert.That(reason, Does.Contain("3 spatial axes"));
        var ex = Assert.Throws<UnsupportedOperatorException>(() => _backend1.Prepare(plan));
        Assert.That(ex!.NodeName, Is.EqualTo("op"));
    }
}
