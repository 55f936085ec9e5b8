using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Planning;
using Vgg.Engine.Runtime;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Core;

/// <summary>
/// The engine against real PyTorch 1.13 outputs (Tests/Fixtures/core, made by make_torch_fixtures.py):
/// a seeded VGG-style net with BatchNorm (foldable and standalone), ceil-mode max-pools, an adaptive
/// average pool at a non-divisible size (overlapping bins), BatchNorm1d after the last Linear, softmax
/// and log_softmax; plus single-op pooling checks.
/// </summary>
public class TorchFixtureTests
{
    private static Tensor Fx(string name) => Npy.Read(TestData.Fixture("core/" + name));

    /// <summary>The fixture's Net as a graph with PyTorch's state_dict key names.</summary>
    internal static Graph TorchNet()
    {
        var w = Npy.ReadArchive(TestData.Fixture("core/net_weights.npz"));
        var g = new Graph { Name = "torch-fixture-net" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { -1, 3, -1, -1 }));
        foreach (var (k, v) in w) g.Initializers[k] = v;
        string cur = "x";
        void Add(string name, Op op, params string[] extra)
        {
            var ins = new List<string> { cur };
            ins.AddRange(extra);
            g.Nodes.Add(new Node(name, op, ins, new[] { name }));
            cur = name;
        }
        void Conv(string n) => Add(n, ConvOp.Conv2d(3, 1, 1), n + ".weight", n + ".bias");
        void Bn(string n) => Add(n, new BatchNormOp(1e-5f), n + ".weight", n + ".bias", n + ".running_mean", n + ".running_var");
        void Relu(string n) => Add(n, new UnaryOp(UnaryKind.Relu));
        Conv("features.0"); Bn("features.1"); Relu("features.2");
        Conv("features.3"); Relu("features.4");
        Add("features.5", MaxPoolOp.MaxPool2d(2, 2, 0, ceilMode: true));
        Conv("features.6"); Bn("features.7"); Relu("features.8");
        Add("features.9", MaxPoolOp.MaxPool2d(3, 2, 1, ceilMode: true));
        Conv("features.10"); Relu("features.11"); Bn("features.12");
        Add("avgpool", new AdaptiveAvgPoolOp(7, 7));
        Add("classifier.0", new FlattenOp(1));
        Add("classifier.1", GemmOp.Linear(), "classifier.1.weight", "classifier.1.bias");
        Relu("classifier.2");
        Add("classifier.3", new DropoutOp());
        Add("classifier.4", GemmOp.Linear(), "classifier.4.weight", "classifier.4.bias");
        Bn("classifier.5");
        g.Nodes.Add(new Node("softmax", new SoftmaxOp(1), new[] { cur }, new[] { "softmax" }));
        g.Nodes.Add(new Node("log_softmax", new LogSoftmaxOp(1), new[] { cur }, new[] { "log_softmax" }));
        g.Outputs.Add(new ValueInfo(cur, DType.Float32, new[] { -1, 10 }));
        g.Outputs.Add(new ValueInfo("softmax", DType.Float32, new[] { -1, 10 }));
        g.Outputs.Add(new ValueInfo("log_softmax", DType.Float32, new[] { -1, 10 }));
        return g;
    }

    [TestCase("a")]
    [TestCase("b")]
    public void SessionMatchesPyTorch(string tag)
    {
        var g = TorchNet();
        var x = Fx($"net_input_{tag}.npy");
        using var session = new Session(g, new SessionOptions { Backend = Backends.BackendChoice.Cpu, Threads = 2 });
        var outs = session.Run(new Dictionary<string, Tensor> { ["x"] = x });
        var reference = ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x });
        // float32 against PyTorch's float32 (different summation order, BN folded in float64):
        // |diff| ≤ 1e-4·|ref| + 1e-5·max|ref|.
        foreach (var (name, file) in new[] { ("classifier.5", "logits"), ("softmax", "softmax"), ("log_softmax", "log_softmax") })
        {
            var expected = Fx($"net_{file}_{tag}.npy");
            double scale = expected.ToFloatArray().Select(Math.Abs).Max();
            TensorAssert.Close(expected, outs[name], 1e-4, 1e-5 * scale, $"session {name} (input {x})");
            TensorAssert.Close(expected, reference[name], 1e-4, 1e-5 * scale, $"reference {name} (input {x})");
        }
        var plan = session.GetPlan(x.ShapeArray());
        TestContext.Out.WriteLine(PlanPrinter.Print(plan));
        Assert.That(plan.Steps.Select(s => s.Node.Name), Does.Contain("features.0+features.2").And.Contain("features.3+features.4+features.5")
            .And.Contain("features.12").And.Contain("classifier.1+classifier.2").And.Contain("classifier.4"), "BN1d after the last Linear folds; BN after a ReLU stays");
    }

    private static Tensor One(Op op, Tensor x) =>
        ReferenceOps.Evaluate(new Node("op", op, new[] { "x" }, new[] { "y" }), new[] { x })[0];

    [Test]
    public void AdaptiveAvgPoolMatchesPyTorchBins()
    {
        TensorAssert.Close(Fx("adaptive_7x7.npy"), One(new AdaptiveAvgPoolOp(7, 7), Fx("adaptive_in.npy")), 1e-6, 1e-7, "adaptive 10×10 → 7×7");
        TensorAssert.Close(Fx("adaptive_4x3.npy"), One(new AdaptiveAvgPoolOp(4, 3), Fx("adaptive_in2.npy")), 1e-6, 1e-7, "adaptive 13×11 → 4×3");
    }

    [Test]
    public void CeilModePoolsMatchPyTorch()
    {
        TensorAssert.Close(Fx("maxpool_k2s2p1_ceil.npy"), One(MaxPoolOp.MaxPool2d(2, 2, 1, ceilMode: true), Fx("pool_in.npy")), 0, 0, "maxpool k2 s2 p1 ceil on 5×5");
        var avg = new AveragePoolOp(new[] { 3, 3 }, new[] { 2, 2 }, new[] { 1, 1, 1, 1 }, new[] { 1, 1 }, CeilMode: true, CountIncludePad: true);
        TensorAssert.Close(Fx("avgpool_k3s2p1_ceil_incl.npy"), One(avg, Fx("pool_in6.npy")), 1e-6, 1e-7, "avgpool k3 s2 p1 ceil count_include_pad");
        TensorAssert.Close(Fx("avgpool_k3s2p1_ceil_excl.npy"), One(avg with { CountIncludePad = false }, Fx("pool_in6.npy")), 1e-6, 1e-7, "avgpool k3 s2 p1 ceil exclude pad");
    }

    [Test]
    public void NpyRoundTripAndClearErrors()
    {
        var dir = Path.Combine(Path.GetTempPath(), "vgg-npy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var t in new[] { Tensor.From(new[] { 1f, -2.5f, 3f }), Tensor.From(new long[] { 1, -2, 3, 4 }, 2, 2), Tensor.From(new byte[] { 0, 255 }), Tensor.FromSpan<float>(new[] { 7f }, Array.Empty<int>()) })
            {
                var p = Path.Combine(dir, "t.npy");
                Npy.Write(p, t);
                var back = Npy.Read(p);
                Assert.That(back.DType, Is.EqualTo(t.DType));
                Assert.That(back.Shape, Is.EqualTo(t.Shape));
                Assert.That(back.Bytes.ToArray(), Is.EqualTo(t.Bytes.ToArray()));
                Assert.That(new FileInfo(p).Length % 64, Is.EqualTo(t.ByteCount % 64), "header padded to a multiple of 64 bytes");
            }
            var bad = Path.Combine(dir, "bad.npy");
            File.WriteAllText(bad, "<html>not an array</html>");
            var ex = Assert.Throws<ModelFormatException>(() => Npy.Read(bad));
            Assert.That(ex!.Message, Does.Contain("bad.npy").And.Contain("magic"));
            var full = Path.Combine(dir, "full.npy");
            Npy.Write(full, Tensor.From(new float[100]));
            File.WriteAllBytes(Path.Combine(dir, "cut.npy"), File.ReadAllBytes(full)[..200]);
            Assert.That(() => Npy.Read(Path.Combine(dir, "cut.npy")), Throws.TypeOf<ModelFormatException>().With.Message.Contains("truncated"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
        // A file numpy wrote (the fixture) reads with its shape.
        Assert.That(Fx("net_input_a.npy").Shape, Is.EqualTo(new[] { 2, 3, 37, 37 }));
    }
}
