using Vgg.Engine.Backends;
using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Runtime;
using Vgg.Engine.Tests.Planning;

namespace Vgg.Engine.Tests.Core;

public class SessionTests
{
    /// <summary>
    /// A random VGG-style net: blocks of (conv 3×3 or 1×1 or 5×5 [+BN] + ReLU) and a max-pool (2×2, or 3×3 s2,
    /// ceil mode at random), then adaptive or global average pooling, flatten, linear + ReLU + dropout,
    /// linear [+BN1d], softmax or log_softmax. Input [N, C, H, W] with dynamic N, H, W.
    /// </summary>
    internal static Graph RandomVggNet(int seed, out int channels)
    {
        var rng = new Random(seed);
        var g = new Graph { Name = $"random-vgg-{seed}" };
        channels = rng.Next(1, 4);
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { -1, channels, -1, -1 }));
        string v = "x";
        int c = channels, n = 0;
        string Name(string p) => $"{p}{n++}";
        int blocks = rng.Next(2, 4);
        for (int b = 0; b < blocks; b++)
        {
            int convs = rng.Next(1, 3);
            for (int k = 0; k < convs; k++)
            {
                int outC = rng.Next(3, 20);
                int ks = new[] { 1, 3, 3, 3, 5 }[rng.Next(5)];
                var conv = Name("conv");
                g.Initializers[conv + ".w"] = PlannerTests.Random(rng, (float)Math.Sqrt(2.0 / (c * ks * ks)), outC, c, ks, ks);
                g.Initializers[conv + ".b"] = PlannerTests.Random(rng, 0.1f, outC);
                g.Nodes.Add(new Node(conv, ConvOp.Conv2d(ks, 1, ks / 2), new[] { v, conv + ".w", conv + ".b" }, new[] { conv + ".y" }));
                v = conv + ".y";
                if (rng.Next(2) == 0)
                {
                    var bn = Name("bn");
                    g.Initializers[bn + ".s"] = PlannerTests.Positive(rng, outC);
                    g.Initializers[bn + ".b"] = PlannerTests.Random(rng, 0.2f, outC);
                    g.Initializers[bn + ".m"] = PlannerTests.Random(rng, 0.2f, outC);
                    g.Initializers[bn + ".v"] = PlannerTests.Positive(rng, outC);
                    g.Nodes.Add(new Node(bn, new BatchNormOp(), new[] { v, bn + ".s", bn + ".b", bn + ".m", bn + ".v" }, new[] { bn + ".y" }));
                    v = bn + ".y";
                }
                var relu = Name("relu");
                g.Nodes.Add(new Node(relu, new UnaryOp(UnaryKind.Relu), new[] { v }, new[] { relu + ".y" }));
                v = relu + ".y";
                c = outC;
            }
            var pool = Name("pool");
            var mp = rng.Next(3) == 0 ? MaxPoolOp.MaxPool2d(3, 2, 1, rng.Next(2) == 0) : MaxPoolOp.MaxPool2d(2, ceilMode: rng.Next(2) == 0);
            g.Nodes.Add(new Node(pool, mp, new[] { v }, new[] { pool + ".y" }));
            v = pool + ".y";
        }
        int oh = rng.Next(1, 4), ow = rng.Next(1, 4);
        var head = Name("avgpool");
        if (rng.Next(3) == 0) { g.Nodes.Add(new Node(head, new GlobalAveragePoolOp(), new[] { v }, new[] { head + ".y" })); oh = ow = 1; }
        else g.Nodes.Add(new Node(head, new AdaptiveAvgPoolOp(oh, ow), new[] { v }, new[] { head + ".y" }));
        g.Nodes.Add(new Node("flatten", new FlattenOp(), new[] { head + ".y" }, new[] { "flat" }));
        int features = c * oh * ow, hidden = rng.Next(8, 40), classes = rng.Next(2, 12);
        g.Initializers["fc1.w"] = PlannerTests.Random(rng, (float)Math.Sqrt(2.0 / features), hidden, features);
        g.Initializers["fc1.b"] = PlannerTests.Random(rng, 0.1f, hidden);
        g.Initializers["fc2.w"] = PlannerTests.Random(rng, (float)Math.Sqrt(1.0 / hidden), classes, hidden);
        g.Initializers["fc2.b"] = PlannerTests.Random(rng, 0.1f, classes);
        g.Nodes.Add(new Node("fc1", GemmOp.Linear(), new[] { "flat", "fc1.w", "fc1.b" }, new[] { "h" }));
        g.Nodes.Add(new Node("relu_fc", new UnaryOp(UnaryKind.Relu), new[] { "h" }, new[] { "hr" }));
        g.Nodes.Add(new Node("dropout", new DropoutOp(), new[] { "hr" }, new[] { "hd" }));
        g.Nodes.Add(new Node("fc2", GemmOp.Linear(), new[] { "hd", "fc2.w", "fc2.b" }, new[] { "logits" }));
        string last = "logits";
        if (rng.Next(2) == 0)
        {
            g.Initializers["bn_fc.s"] = PlannerTests.Positive(rng, classes);
            g.Initializers["bn_fc.b"] = PlannerTests.Random(rng, 0.2f, classes);
            g.Initializers["bn_fc.m"] = PlannerTests.Random(rng, 0.2f, classes);
            g.Initializers["bn_fc.v"] = PlannerTests.Positive(rng, classes);
            g.Nodes.Add(new Node("bn_fc", new BatchNormOp(), new[] { "logits", "bn_fc.s", "bn_fc.b", "bn_fc.m", "bn_fc.v" }, new[] { "logits_bn" }));
            last = "logits_bn";
        }
        g.Nodes.Add(new Node("softmax", rng.Next(2) == 0 ? new SoftmaxOp(1) : new LogSoftmaxOp(1), new[] { last }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, new[] { -1, classes }));
        return g;
    }

    private static SessionOptions Cpu(int threads = 0) => new() { Backend = BackendChoice.Cpu, Threads = threads };

    [Test]
    public void SessionEqualsReferenceOnRandomVggStyleNets([Range(1, 12)] int seed)
    {
        var g = RandomVggNet(seed, out int ch);
        var rng = new Random(1000 + seed);
        using var session = new Session(g, Cpu(3));
        foreach (var (n, h, w) in new[] { (1, 16, 16), (2, 13, 11) })
        {
            var x = PlannerTests.Random(rng, 1f, n, ch, h, w);
            var expected = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x })["y"];
            var actual = session.Run(x);
            // Tolerance: float32 arithmetic in another summation order than the float64 reference, through
            // up to 6 conv layers: |diff| ≤ 1e-4·|ref| + 1e-5·max|ref|.
            double scale = expected.ToFloatArray().Select(Math.Abs).Max();
            TensorAssert.Close(expected, actual, 1e-4, 1e-5 * scale, $"seed {seed} input {x}");
        }
    }

    [Test]
    public void ManyThreadsAndBatchSizesGiveResultsIdenticalToSingleThreadedRuns()
    {
        var g = RandomVggNet(3, out int ch);
        using var session = new Session(g, Cpu(4));
        int[] batches = { 1, 2, 3, 5 };
        var inputs = new Dictionary<int, float[]>();
        var expected = new Dictionary<int, float[]>();
        var rng = new Random(77);
        foreach (var n in batches)
        {
            var x = PlannerTests.Random(rng, 1f, n, ch, 20, 18);
            inputs[n] = x.ToFloatArray();
            var shape = new[] { n, ch, 20, 18 };
            var y = new float[Tensor.Product(session.OutputShape(shape))];
            session.Run(inputs[n], shape, y);
            expected[n] = y;
        }
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            var r = new Random(t);
            for (int i = 0; i < 15; i++)
            {
                int n = batches[r.Next(batches.Length)];
                var shape = new[] { n, ch, 20, 18 };
                var y = new float[expected[n].Length];
                session.Run(inputs[n], shape, y);
                if (!y.AsSpan().SequenceEqual(expected[n])) failures.Add($"thread {t} iteration {i} batch {n}");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(failures, Is.Empty);

        // An image's result does not depend on the batch it is in (per-image GEMMs; same summation order).
        var single = new float[expected[1].Length];
        int perImage = single.Length;
        var firstOf5 = inputs[5].AsSpan(0, inputs[5].Length / 5).ToArray();
        session.Run(firstOf5, new[] { 1, ch, 20, 18 }, single);
        Assert.That(single, Is.EqualTo(expected[5].AsSpan(0, perImage).ToArray()).Within(1e-6f));
    }

    [Test]
    public void WrongInputsAreClearErrors()
    {
        var g = RandomVggNet(2, out int ch);
        using var session = new Session(g, Cpu(2));
        var y = new float[100];
        var chEx = Assert.Throws<InvalidInputException>(() => session.Run(new float[1 * (ch + 1) * 16 * 16], new[] { 1, ch + 1, 16, 16 }, y));
        Assert.That(chEx!.Message, Does.Contain("'x'").And.Contain($"has {ch + 1} channels").And.Contain($"expected {ch}").And.Contain($"[?, {ch}, ?, ?]"));
        var rankEx = Assert.Throws<InvalidInputException>(() => session.Run(new float[ch * 256], new[] { ch, 16, 16 }, y));
        Assert.That(rankEx!.Message, Does.Contain("rank 3"));
        Assert.Throws<InvalidInputException>(() => session.Run(new float[10], new[] { 1, ch, 16, 16 }, y));
        var tiny = new Graph();
        tiny.Inputs.Add(new ValueInfo("img", DType.Float32, new[] { -1, 1, -1, -1 }));
        tiny.Initializers["w"] = PlannerTests.Random(new Random(1), 1f, 2, 1, 3, 3);
        tiny.Nodes.Add(new Node("conv1", ConvOp.Conv2d(3), new[] { "img", "w" }, new[] { "out" }));
        tiny.Outputs.Add(new ValueInfo("out", DType.Float32, null));
        using (var t = new Session(tiny, Cpu(1)))
        {
            var small = Assert.Throws<InvalidInputException>(() => t.Run(new float[4], new[] { 1, 1, 2, 2 }, y));
            Assert.That(small!.Message, Does.Contain("'img'").And.Contain("does not fit the model").And.Contain("node 'conv1'"));
        }
        var dtype = Assert.Throws<InvalidInputException>(() => session.Run(new Tensor(DType.Float64, new[] { 1, ch, 16, 16 })));
        Assert.That(dtype!.Message, Does.Contain("float64"));
        var wrongOut = Assert.Throws<ArgumentException>(() => session.Run(new float[ch * 256], new[] { 1, ch, 16, 16 }, new float[3]));
        Assert.That(wrongOut!.Message, Does.Contain("output"));
        Assert.Throws<InvalidInputException>(() => session.Run(new Dictionary<string, Tensor> { ["nope"] = new Tensor(DType.Float32, new[] { 1, ch, 16, 16 }) }));
    }

    [Test]
    public void OutputShapeAndPlanCacheEviction()
    {
        var g = RandomVggNet(4, out int ch);
        using var session = new Session(g, Cpu(2) with { MaxCachedPlans = 2 });
        var rng = new Random(4);
        foreach (var hw in new[] { 16, 17, 18, 19, 16 })
        {
            var shape = new[] { 2, ch, hw, hw };
            var outShape = session.OutputShape(shape);
            Assert.That(outShape[0], Is.EqualTo(2));
            var x = PlannerTests.Random(rng, 1f, shape);
            var y = session.Run(x);
            Assert.That(y.Shape, Is.EqualTo(outShape));
            var expected = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x })["y"];
            TensorAssert.Close(expected, y, 1e-4, 1e-6, $"after eviction, {hw}×{hw}");
            Assert.That(session.CachedPlanCount, Is.LessThanOrEqualTo(2));
        }
    }

    [Test]
    public void DisposeWaitsForCallsInFlightAndLaterCallsThrow()
    {
        var g = RandomVggNet(5, out int ch);
        var session = new Session(g, Cpu(2));
        var shape = new[] { 2, ch, 24, 24 };
        var x = new float[Tensor.Product(shape)];
        new Random(1).NextBytes(new byte[1]);
        for (int i = 0; i < x.Length; i++) x[i] = (float)Math.Sin(i);
        var y = new float[Tensor.Product(session.OutputShape(shape))];
        session.Run(x, shape, y);
        int completed = 0, disposedSeen = 0;
        var errors = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        var running = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            var mine = new float[y.Length];
            for (int i = 0; i < 200; i++)
            {
                try
                {
                    session.Run(x, shape, mine);
                    Interlocked.Increment(ref completed);
                }
                catch (ObjectDisposedException)
                {
                    Interlocked.Increment(ref disposedSeen);
                    return;
                }
                catch (Exception e)
                {
                    errors.Add(e);
                    return;
                }
            }
        })).ToList();
        running.ForEach(t => t.Start());
        Thread.Sleep(50);
        session.Dispose();
        running.ForEach(t => t.Join());
        Assert.That(errors, Is.Empty);
        Assert.That(completed, Is.GreaterThan(0));
        Assert.Throws<ObjectDisposedException>(() => session.Run(x, shape, y));
        Assert.Throws<ObjectDisposedException>(() => session.OutputShape(shape));
        Assert.DoesNotThrow(session.Dispose);
        TestContext.Out.WriteLine($"{completed} runs completed, {disposedSeen} threads saw ObjectDisposedException");
    }

    [Test]
    public void CudaWithoutARegisteredBackendIsAClearError()
    {
        var ex = Assert.Throws<VggEngineException>(() => new Session(RandomVggNet(1, out _), new SessionOptions { Backend = BackendChoice.Cuda }));
        Assert.That(ex!.Message, Does.Contain("CUDA backend is not available"));
        using var auto = new Session(RandomVggNet(1, out _), new SessionOptions { Backend = BackendChoice.Auto, Threads = 1 });
        Assert.That(auto.BackendKind, Is.EqualTo(BackendKind.Cpu));
    }

    [Test]
    public void EmptyBatchGivesAnEmptyOutput()
    {
        var g = RandomVggNet(6, out int ch);
        using var session = new Session(g, Cpu(2));
        var shape = new[] { 0, ch, 16, 16 };
        var outShape = session.OutputShape(shape);
        Assert.That(outShape[0], Is.EqualTo(0));
        var y = session.Run(new Tensor(DType.Float32, shape));
        Assert.That(y.Shape, Is.EqualTo(outShape));
        Assert.That(y.ElementCount, Is.EqualTo(0));
    }

    [Test]
    public void UnoptimizedAndLinearPlannerSessionsAgreeWithTheReference([Values(true, false)] bool optimize, [Values(Vgg.Engine.Planning.MemoryPlannerKind.Greedy, Vgg.Engine.Planning.MemoryPlannerKind.Linear)] Vgg.Engine.Planning.MemoryPlannerKind planner)
    {
        var g = RandomVggNet(8, out int ch);
        using var session = new Session(g, Cpu(2) with { Optimize = optimize, MemoryPlanner = planner });
        var x = PlannerTests.Random(new Random(8), 1f, 2, ch, 15, 17);
        var expected = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x })["y"];
        double scale = expected.ToFloatArray().Select(Math.Abs).Max();
        TensorAssert.Close(expected, session.Run(x), 1e-4, 1e-5 * scale, $"optimize {optimize}, {planner}");
        var plan = session.GetPlan(x.ShapeArray());
        Assert.That(plan.Steps.Any(s => s.Op is DropoutOp), Is.EqualTo(!optimize), "Dropout is removed only when optimizing");
        Assert.That(plan.Steps.Any(s => s.Op is ConvOp { Activation: Activation.Relu }), Is.EqualTo(optimize), "fusion only when optimizing");
        Assert.That(plan.ArenaBytes, Is.GreaterThanOrEqualTo(plan.LowerBoundBytes));
    }
}
