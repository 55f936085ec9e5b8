using Vgg.Engine.Cpu.Int8;
using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.Cuda.Network;
using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Loader.Imaging;
using Vgg.Engine.Loader.Quantization;
using Vgg.Engine.Models;
using Vgg.Engine.Quantization;
using Vgg.Engine.Runtime;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Quantization;

/// <summary>
/// Whole networks in INT8 and FP16 on the CPU: bit-exact against the CUDA backend's whole-network INT8 reference
/// (NetworkReference.RunInt8, which the GPU must match bit for bit) and against the reference executor on the INT8 graph;
/// close to FP32 within stated tolerances; the real MNIST CNN still names every digit.
/// </summary>
[NonParallelizable]
public class Int8NetworkTests
{
    private static readonly int[] SmallCfg = { 16, 0, 32, 32, 0, 64, 0 };

    private static (NetworkDefinition Def, Vgg.Engine.IR.Graph Graph, CalibrationTable Table) SmallNet(int seed, bool softmax = false)
    {
        var def = QuantTestNets.SmallVgg(seed, SmallCfg, poolOut: 2, hidden: 48, classes: 10, softmax: softmax);
        var graph = QuantTestNets.FromDefinition(def);
        // calibration on 8 seeded images (4 batches of 2), other seeds than the test inputs
        var table = Calibrator.Calibrate(graph, Enumerable.Range(0, 4).Select(i => QuantTestNets.Image(1000 + i, 2, 3, 24, 24)), new CalibrationOptions { Threads = 2 });
        return (def, graph, table);
    }

    public static IEnumerable<string> Isas() => Int8KernelTests.Isas;

    [TestCaseSource(nameof(Isas))]
    public void SeededVggStyleNetInt8SessionIsBitExactToTheCudaInt8ReferenceAndTheReferenceExecutor(string isa)
    {
        QuantTestNets.RequireIsa(Enum.Parse<Int8Isa>(isa));
        var (def, graph, table) = SmallNet(7);
        var x = QuantTestNets.Image(42, 3, 3, 24, 24); // seed 42, N = 3, 24×24 (pools 12, 6, 3; adaptive 3→2 with overlapping bins)
        Tensor y = null!;
        Vgg.Engine.IR.Graph int8Graph = null!;
        QuantTestNets.WithIsa(Enum.Parse<Int8Isa>(isa), () =>
        {
            using var s = new Session(graph, QuantTestNets.Cpu(Precision.Int8, table));
            y = s.Run(x);
            int8Graph = s.OptimizedGraph;
        });
        var expected = NetworkReference.RunInt8(def, x.AsSpan<float>().ToArray(), 3, 24, 24, table.Scales)[def.Outputs[0]];
        QuantTestNets.BitExact(Tensor.From(expected, 3, 10), y, $"INT8 session ({isa}) vs NetworkReference.RunInt8");
        var viaReference = ReferenceExecutor.Run(int8Graph, new Dictionary<string, Tensor> { ["input"] = x })[def.Outputs[0]];
        QuantTestNets.BitExact(viaReference, y, $"INT8 session ({isa}) vs the reference executor on the INT8 graph");
    }

    [Test]
    public void Int8SessionIsThreadSafeAcrossConcurrentCallsAndBatchSizes()
    {
        var (_, graph, table) = SmallNet(11);
        using var s = new Session(graph, QuantTestNets.Cpu(Precision.Int8, table));
        var inputs = Enumerable.Range(0, 4).Select(i => QuantTestNets.Image(70 + i, 1 + i % 3, 3, 24 + 8 * (i % 2), 24)).ToList();
        var expected = inputs.Select(x => s.Run(x)).ToList();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 16, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var y = s.Run(inputs[i % 4]);
            if (!y.Bytes.SequenceEqual(expected[i % 4].Bytes)) failures.Add($"call {i} (input {i % 4}, {inputs[i % 4]})");
        });
        Assert.That(failures, Is.Empty, "concurrent INT8 calls must give the single-call bits");
        Assert.That(s.CachedPlanCount, Is.EqualTo(4), "one plan per input shape");
    }

    [Test]
    public void Int8PlanHasTheExpectedStructure()
    {
        var (_, graph, table) = SmallNet(7);
        using var s = new Session(graph, QuantTestNets.Cpu(Precision.Int8, table));
        var ops = s.OptimizedGraph.Nodes.Select(n => n.Op.OpType).ToList();
        TestContext.Out.WriteLine(string.Join(" -> ", ops));
        Assert.That(ops, Is.EqualTo(new[]
        {
            "vgg.QuantizeNhwc", "vgg.Int8Conv", "vgg.Int8Conv", "vgg.Int8Conv", "vgg.Int8Conv",
            "vgg.Int8AdaptiveAvgPool", "vgg.Int8Flatten", "vgg.Int8Linear", "vgg.Int8Linear",
        }));
        var plan = s.GetPlan(new[] { 1, 3, 24, 24 });
        // activations between INT8 ops are int8 (1 byte), NHWC
        var conv = plan.Steps.First(st => st.Op is Int8ConvOp);
        Assert.That(conv.Outputs[0].DType, Is.EqualTo(DType.Int8));
        Assert.That(conv.Outputs[0].Shape, Is.EqualTo(new[] { 1, 12, 12, 16 }));
        var last = (Int8GemmOp)plan.Steps.Last().Op;
        Assert.That(last.DequantizeOutput, Is.True, "the logits layer dequantizes its accumulators");
        Assert.That(plan.Outputs[0].DType, Is.EqualTo(DType.Float32));
        // fused conv+ReLU+pool: the INT8 conv requantizes to the pooled value's scale
        var first = (Int8ConvOp)s.OptimizedGraph.Nodes[1].Op;
        Assert.That(first.OutputScale, Is.EqualTo(table.Scale("features.0")));
        Assert.That(first.InputScale, Is.EqualTo(table.Scale("input")));
        Assert.That(first.InputNonNegative, Is.False, "the image input is signed");
        Assert.That(((Int8ConvOp)s.OptimizedGraph.Nodes[2].Op).InputNonNegative, Is.True, "after a ReLU");
    }

    [Test]
    public void SoftmaxHeadRunsInFloatAfterDequantizedLogits()
    {
        var (def, graph, table) = SmallNet(8, softmax: true);
        var x = QuantTestNets.Image(43, 2, 3, 24, 24);
        using var s = new Session(graph, QuantTestNets.Cpu(Precision.Int8, table));
        var y = s.Run(x);
        Assert.That(s.OptimizedGraph.Nodes.Last().Op.OpType, Is.EqualTo("Softmax"));
        // NetworkReference computes the softmax in float64; ours in float32 on the same (bit-identical) logits
        var expected = NetworkReference.RunInt8(def, x.AsSpan<float>().ToArray(), 2, 24, 24, table.Scales)["softmax"];
        Core.TensorAssert.Close(Tensor.From(expected, 2, 10), y, 1e-5, 1e-7, "INT8 probabilities vs NetworkReference (float64 softmax)");
    }

    [Test]
    public void Int8IsCloseToFp32OnTheSeededNet()
    {
        var (_, graph, table) = SmallNet(7);
        var batches = Enumerable.Range(0, 4).Select(i => QuantTestNets.Image(2000 + i, 4, 3, 24, 24)).ToList();
        var r = PrecisionReport.Compare(new Model(graph, "test", Preprocessing.ImageNet), Precision.Int8, table, batches, QuantTestNets.Cpu());
        TestContext.Out.WriteLine($"INT8 vs FP32, seeded VGG-style net, 16 unseen seeded inputs: {r}");
        // INT8 with max calibration on 8 images: each of 6 quantized layers adds ~0.5/127 relative noise per tensor; the
        // inputs here are unseen (they may exceed the calibrated ranges and saturate). Bound: 10% of the largest logit.
        Assert.That(r.MaxRelativeError, Is.LessThan(0.10), r.ToString());
        // random-init nets have nearly tied logits, so a few arg-max flips are expected; the error bound is the real check
        Assert.That(r.Top1Agreement, Is.GreaterThanOrEqualTo(0.75), r.ToString());
    }

    [Test]
    public void Fp16IsCloseToFp32OnTheSeededNet()
    {
        var def = QuantTestNets.SmallVgg(9, SmallCfg, 2, 48, 10);
        var graph = QuantTestNets.FromDefinition(def);
        using var fp32 = new Session(graph, QuantTestNets.Cpu());
        using var fp16 = new Session(graph, QuantTestNets.Cpu(Precision.Fp16));
        Assert.That(fp16.OptimizedGraph.Nodes.Count(n => n.Op is Fp16GemmOp), Is.EqualTo(2));
        var r = PrecisionReport.Compare(fp32, fp16, Enumerable.Range(0, 3).Select(i => QuantTestNets.Image(3000 + i, 4, 3, 24, 24)));
        TestContext.Out.WriteLine($"FP16 weights vs FP32: {r}");
        // binary16 rounds each weight with relative error ≤ 2^-11 ≈ 4.9e-4; errors of independent weights partly cancel in
        // the sums: bound 5e-3 of the largest logit, and no class change.
        Assert.That(r.MaxRelativeError, Is.LessThan(5e-3), r.ToString());
        Assert.That(r.Top1Agreement, Is.EqualTo(1.0), r.ToString());
    }

    [Test]
    public void Fp16SessionEqualsTheFp16GraphOnTheReferenceExecutor()
    {
        // the FP16 kernels (float32 FMA accumulation in another order) against the op records' float64 reference
        var def = QuantTestNets.SmallVgg(10, SmallCfg, 2, 48, 10);
        using var fp16 = new Session(QuantTestNets.FromDefinition(def), QuantTestNets.Cpu(Precision.Fp16));
        var x = QuantTestNets.Image(44, 2, 3, 24, 24);
        var y = fp16.Run(x);
        var r = ReferenceExecutor.Run(fp16.OptimizedGraph, new Dictionary<string, Tensor> { ["input"] = x })[def.Outputs[0]];
        Core.TensorAssert.Close(r, y, 1e-4, 1e-5, "FP16 session vs reference executor on the FP16 graph (float32 vs float64 accumulation)");
    }

    [Test]
    public void Vgg16TopologyAt32x32IsBitExactToTheCudaInt8Reference()
    {
        // torchvision VGG-16's layers and classifier (fc6 is 102,760,448 weights, the 25088-input GEMV), seeded weights,
        // 32×32 input (the avgpool replicates the 1×1 map to 7×7), batch 1. Calibrated on 2 seeded images.
        var def = NetworkDefinition.RandomVgg("vgg16", numClasses: 1000, seed: 3);
        var graph = QuantTestNets.FromDefinition(def, "vgg16");
        var table = Calibrator.Calibrate(graph, new[] { QuantTestNets.Image(100, 1, 3, 32, 32), QuantTestNets.Image(101, 1, 3, 32, 32) }, new CalibrationOptions { Threads = 2 });
        var x = QuantTestNets.Image(102, 1, 3, 32, 32);
        using var s = new Session(graph, QuantTestNets.Cpu(Precision.Int8, table));
        var y = s.Run(x);
        var expected = NetworkReference.RunInt8(def, x.AsSpan<float>().ToArray(), 1, 32, 32, table.Scales)[def.Outputs[0]];
        QuantTestNets.BitExact(Tensor.From(expected, 1, 1000), y, "VGG-16 INT8 session vs NetworkReference.RunInt8");
    }

    // ------------------------------------------------------------------ MNIST CNN, real weights

    private static (Model Model, List<(string File, int Label, Tensor Image)> Digits) Mnist()
    {
        var weights = TestData.Require("checkpoints/mnist-cnn/mnist.pt");
        var folder = TestData.Require("images/mnist");
        var model = ModelFactory.FromSpec(Path.Combine(TestData.RepoRoot, "models", "mnist-cnn.json"), WeightsFile.Read(weights));
        var files = CalibrationImages.Find(new[] { folder });
        var digits = files.Select(f => (f, int.Parse(Path.GetFileNameWithoutExtension(f)), ImagePreprocessor.Default.Load(f, model.Preprocessing))).ToList();
        return (model, digits);
    }

    private static int ArgMax(Tensor t)
    {
        var f = t.ToFloatArray();
        int best = 0;
        for (int i = 1; i < f.Length; i++) if (f[i] > f[best]) best = i;
        return best;
    }

    [Test]
    public void MnistCnnNamesEveryDigitInInt8AndFp16()
    {
        var (model, digits) = Mnist();
        // the calibration set is tiny: the same 7 digit images (the only MNIST images in the shared data); a real
        // deployment calibrates on a few hundred held-out images
        var table = CalibrationImages.Calibrate(model, new[] { TestData.Require("images/mnist") }, new CalibrationOptions { Threads = 2 });
        Assert.That(table.SampleCount, Is.EqualTo(7));
        using var fp32 = new Session(model, QuantTestNets.Cpu());
        using var int8 = new Session(model, QuantTestNets.Cpu(Precision.Int8, table));
        using var fp16 = new Session(model, QuantTestNets.Cpu(Precision.Fp16));
        TestContext.Out.WriteLine("INT8 plan: " + string.Join(" -> ", int8.OptimizedGraph.Nodes.Select(n => n.Op.OpType)));
        foreach (var (file, label, image) in digits)
        {
            Assert.That(ArgMax(fp32.Run(image)), Is.EqualTo(label), $"FP32 on {Path.GetFileName(file)}");
            Assert.That(ArgMax(int8.Run(image)), Is.EqualTo(label), $"INT8 on {Path.GetFileName(file)}");
            Assert.That(ArgMax(fp16.Run(image)), Is.EqualTo(label), $"FP16 on {Path.GetFileName(file)}");
        }
        var rInt8 = PrecisionReport.Compare(fp32, int8, digits.Select(d => d.Image));
        var rFp16 = PrecisionReport.Compare(fp32, fp16, digits.Select(d => d.Image));
        TestContext.Out.WriteLine($"MNIST INT8 vs FP32 (log-probabilities): {rInt8}");
        TestContext.Out.WriteLine($"MNIST FP16 vs FP32 (log-probabilities): {rFp16}");
        Assert.That(rFp16.MaxRelativeError, Is.LessThan(5e-3), "FP16 weights: ~2^-11 relative rounding per weight");
    }
}
