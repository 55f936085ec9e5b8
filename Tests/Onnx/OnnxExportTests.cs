using System.Globalization;
using System.Text;
using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Loader.Onnx.Proto;
using Vgg.Engine.Tests.Core;

namespace Vgg.Engine.Tests.Onnx;

/// <summary>
/// Graphs built in C# → <see cref="OnnxExporter"/> → ONNX Runtime (CPU) against the engine's reference
/// executor on the original graph (relative 1e-4), and export → import → the same graph.
/// </summary>
[TestFixture]
public class OnnxExportTests
{
    private static Tensor Rand(Random rng, float lo, float hi, params int[] shape)
    {
        var t = new Tensor(DType.Float32, shape);
        var s = t.AsSpan<float>();
        for (int i = 0; i < s.Length; i++) s[i] = lo + (float)rng.NextDouble() * (hi - lo);
        return t;
    }

    private static Dictionary<string, Tensor> Feed(string name, Tensor t) => new() { [name] = t };

    /// <summary>
    /// A small seeded VGG-style graph, input [N, 3, 16, 16]: conv+ReLU+2×2 max-pool (fused by the planner when
    /// <paramref name="fused"/>, else three nodes), conv → BatchNorm → ReLU → max-pool, AdaptiveAvgPool 4×4 → 3×3
    /// (overlapping bins), Flatten, Linear+ReLU (fused or not), Dropout, Linear, LogSoftmax.
    /// </summary>
    internal static Graph SeededVgg(bool fused, int seed = 1234)
    {
        var rng = new Random(seed);
        var g = new Graph { Name = "tiny_vgg" };
        g.Inputs.Add(new ValueInfo("input", DType.Float32, new[] { -1, 3, 16, 16 }));
        g.Initializers["c1.w"] = Rand(rng, -0.4f, 0.4f, 8, 3, 3, 3);
        g.Initializers["c1.b"] = Rand(rng, -0.1f, 0.1f, 8);
        g.Initializers["c2.w"] = Rand(rng, -0.3f, 0.3f, 8, 8, 3, 3);
        g.Initializers["c2.b"] = Rand(rng, -0.1f, 0.1f, 8);
        g.Initializers["bn.scale"] = Rand(rng, 0.5f, 1.5f, 8);
        g.Initializers["bn.bias"] = Rand(rng, -0.2f, 0.2f, 8);
        g.Initializers["bn.mean"] = Rand(rng, -0.3f, 0.3f, 8);
        g.Initializers["bn.var"] = Rand(rng, 0.5f, 2f, 8);
        g.Initializers["fc1.w"] = Rand(rng, -0.2f, 0.2f, 16, 72);
        g.Initializers["fc1.b"] = Rand(rng, -0.1f, 0.1f, 16);
        g.Initializers["fc2.w"] = Rand(rng, -0.3f, 0.3f, 10, 16);
        g.Initializers["fc2.b"] = Rand(rng, -0.1f, 0.1f, 10);
        if (fused)
        {
            g.Nodes.Add(new Node("features.0", ConvOp.Conv2d(3, 1, 1) with { Activation = Activation.Relu, FusedMaxPool = MaxPoolOp.MaxPool2d(2) }, new[] { "input", "c1.w", "c1.b" }, new[] { "p1" }));
        }
        else
        {
            g.Nodes.Add(new Node("features.0", ConvOp.Conv2d(3, 1, 1), new[] { "input", "c1.w", "c1.b" }, new[] { "c1" }));
            g.Nodes.Add(new Node("features.1", new UnaryOp(UnaryKind.Relu), new[] { "c1" }, new[] { "r1" }));
            g.Nodes.Add(new Node("features.2", MaxPoolOp.MaxPool2d(2), new[] { "r1" }, new[] { "p1" }));
        }
        g.Nodes.Add(new Node("features.3", ConvOp.Conv2d(3, 1, 1), new[] { "p1", "c2.w", "c2.b" }, new[] { "c2" }));
        g.Nodes.Add(new Node("features.4", new BatchNormOp(1e-5f), new[] { "c2", "bn.scale", "bn.bias", "bn.mean", "bn.var" }, new[] { "bn2" }));
        g.Nodes.Add(new Node("features.5", new UnaryOp(UnaryKind.Relu), new[] { "bn2" }, new[] { "r2" }));
        g.Nodes.Add(new Node("features.6", MaxPoolOp.MaxPool2d(2), new[] { "r2" }, new[] { "p2" }));
        g.Nodes.Add(new Node("avgpool", new AdaptiveAvgPoolOp(3, 3), new[] { "p2" }, new[] { "ap" }));
        g.Nodes.Add(new Node("flatten", new FlattenOp(1), new[] { "ap" }, new[] { "flat" }));
        if (fused)
            g.Nodes.Add(new Node("classifier.0", GemmOp.Linear() with { Activation = Activation.Relu }, new[] { "flat", "fc1.w", "fc1.b" }, new[] { "h1" }));
        else
        {
            g.Nodes.Add(new Node("classifier.0", GemmOp.Linear(), new[] { "flat", "fc1.w", "fc1.b" }, new[] { "fc1" }));
            g.Nodes.Add(new Node("classifier.1", new UnaryOp(UnaryKind.Relu), new[] { "fc1" }, new[] { "h1" }));
        }
        g.Nodes.Add(new Node("classifier.2", new DropoutOp(), new[] { "h1" }, new[] { "d1" }));
        g.Nodes.Add(new Node("classifier.3", GemmOp.Linear(), new[] { "d1", "fc2.w", "fc2.b" }, new[] { "logits" }));
        g.Nodes.Add(new Node("log_softmax", new LogSoftmaxOp(1), new[] { "logits" }, new[] { "output" }));
        g.Outputs.Add(new ValueInfo("output", DType.Float32, new[] { -1, 10 }));
        return g;
    }

    /// <summary>
    /// The seeded VGG-style graph, fused as the planner leaves it and unfused: ONNX Runtime on the export agrees
    /// with the reference executor on the original within 1e-4 relative, at batch 1 and 3 (dynamic batch).
    /// </summary>
    [TestCase(true, 1), TestCase(true, 3), TestCase(false, 3)]
    public void SeededVgg_Export_OnnxRuntimeMatchesReference(bool fused, int batch)
    {
        var g = SeededVgg(fused);
        var x = Rand(new Random(99 + batch), -1f, 1f, batch, 3, 16, 16);
        var expected = ReferenceExecutor.Run(g, Feed("input", x))["output"];
        var actual = OrtReference.Run(OnnxExporter.ExportToBytes(g), Feed("input", x))["output"];
        TestContext.Out.WriteLine($"fused {fused}, batch {batch}: max relative error {TensorAssert.MaxRelativeError(expected, actual):E2}");
        Assert.That(TensorAssert.MaxRelativeError(expected, actual), Is.LessThanOrEqualTo(1e-4), "whole-output relative error");
        TensorAssert.Close(expected, actual, 1e-4, 1e-5, "ORT on export vs reference");
    }

    /// <summary>The exported file: raw_data initializers, opset 17 / IR 8, batch dim_param, every node name kept, fused forms written unfused.</summary>
    [Test]
    public void Export_FormatNamesAndUnfusedForms()
    {
        var g = SeededVgg(fused: true);
        var m = ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(g));
        Assert.That(m.OpsetImport.Single().Version, Is.EqualTo(17));
        Assert.That(m.IrVersion, Is.EqualTo(8));
        Assert.That(m.Graph.Initializer.All(t => t.HasRawData && t.FloatData.Count == 0), "initializers as raw_data");
        Assert.That(m.Graph.Input.Single().Type.TensorType.Shape.Dim[0].DimParam, Is.EqualTo("N"));
        Assert.That(m.Graph.Output.Single().Type.TensorType.Shape.Dim[0].DimParam, Is.EqualTo("N"));
        var names = m.Graph.Node.Select(n => n.Name).ToList();
        Assert.That(names, Is.SupersetOf(g.Nodes.Select(n => n.Name)));
        Assert.That(m.Graph.Node.Where(n => n.Name.StartsWith("features.0", StringComparison.Ordinal)).Select(n => n.OpType), Is.EqualTo(new[] { "Conv", "Relu", "MaxPool" }));
        Assert.That(m.Graph.Node.Where(n => n.Name.StartsWith("classifier.0", StringComparison.Ordinal)).Select(n => n.OpType), Is.EqualTo(new[] { "Gemm", "Relu" }));
        Assert.That(m.Graph.Node.Where(n => n.Name.StartsWith("avgpool", StringComparison.Ordinal)).Select(n => n.OpType), Is.EqualTo(new[] { "Reshape", "MatMul", "Reshape" }), "4→3 bins overlap: pooling matrix");
    }

    private static Graph Single(Op op, int[] inShape, int[]? outShape = null)
    {
        var g = new Graph { Name = "single" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, inShape));
        g.Nodes.Add(new Node("op", op, new[] { "x" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, outShape));
        return g;
    }

    /// <summary>
    /// AdaptiveAvgPool (no ONNX operator), PyTorch's bins: uniform bins → AveragePool; overlapping or uneven
    /// bins → the exact pooling matrix (also with a dynamic batch); 1×1 → GlobalAveragePool, for any input size.
    /// </summary>
    [TestCase(new[] { 2, 3, 8, 8 }, 4, 4, "AveragePool")]
    [TestCase(new[] { 2, 3, 7, 5 }, 3, 2, "MatMul")]
    [TestCase(new[] { -1, 3, 14, 14 }, 7, 7, "AveragePool")]
    [TestCase(new[] { -1, 2, 13, 9 }, 7, 7, "MatMul")]
    [TestCase(new[] { -1, 3, -1, -1 }, 1, 1, "GlobalAveragePool")]
    public void AdaptiveAvgPool_ExportsExactly(int[] declared, int oh, int ow, string onnxOp)
    {
        var g = Single(new AdaptiveAvgPoolOp(oh, ow), declared);
        var bytes = OnnxExporter.ExportToBytes(g);
        Assert.That(ModelProto.Parser.ParseFrom(bytes).Graph.Node.Select(n => n.OpType), Does.Contain(onnxOp));
        var concrete = declared.Select((d, i) => d >= 0 ? d : i == 0 ? 3 : 11).ToArray();
        var x = Rand(new Random(5), -2f, 2f, concrete);
        var expected = ReferenceExecutor.Run(g, Feed("x", x))["y"];
        var actual = OrtReference.Run(bytes, Feed("x", x))["y"];
        TensorAssert.Close(expected, actual, 1e-5, 1e-6, $"AdaptiveAvgPool {Tensor.FormatShape(concrete)} → {oh}×{ow}");
    }

    /// <summary>
    /// Exporting a loaded model whose AdaptiveAvgPool bins depend on a dynamic input size fixes H×W to the
    /// model's input size (batch stays dynamic); a model without such a pool keeps H×W dynamic.
    /// </summary>
    [Test]
    public void ModelExport_FixesTheInputSizeOnlyWhenAdaptivePoolNeedsIt()
    {
        var g = Single(new AdaptiveAvgPoolOp(3, 3), new[] { -1, 3, -1, -1 });
        var model = new Vgg.Engine.Models.Model(g, "test", Vgg.Engine.Models.Preprocessing.ImageNet) { InputSize = (20, 14) };
        var bytes = OnnxExporter.ExportToBytes(model);
        var dims = ModelProto.Parser.ParseFrom(bytes).Graph.Input[0].Type.TensorType.Shape.Dim;
        Assert.That(dims.Select(d => d.DimParam.Length > 0 ? d.DimParam : d.DimValue.ToString(CultureInfo.InvariantCulture)), Is.EqualTo(new[] { "N", "3", "20", "14" }));
        var x = Rand(new Random(21), -1f, 1f, 2, 3, 20, 14);
        TensorAssert.Close(ReferenceExecutor.Run(g, Feed("x", x))["y"], OrtReference.Run(bytes, Feed("x", x))["y"], 1e-5, 1e-6, "fixed-size model export");

        var global = new Vgg.Engine.Models.Model(Single(new AdaptiveAvgPoolOp(1, 1), new[] { -1, 3, -1, -1 }), "test", Vgg.Engine.Models.Preprocessing.ImageNet);
        var gdims = ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(global)).Graph.Input[0].Type.TensorType.Shape.Dim;
        Assert.That(gdims.Select(d => d.DimParam), Is.EqualTo(new[] { "N", "", "x_dim2", "x_dim3" }));
    }

    [Test]
    public void AdaptiveAvgPool_DynamicSpatialSize_IsRefusedUnlessAShapeIsGiven()
    {
        var g = Single(new AdaptiveAvgPoolOp(7, 7), new[] { -1, 3, -1, -1 });
        var e = Assert.Throws<UnsupportedOperatorException>(() => OnnxExporter.ExportToBytes(g))!;
        Assert.That(e.NodeName, Is.EqualTo("op"));
        Assert.That(e.Message, Does.Contain("not known at export"));
        var bytes = OnnxExporter.ExportToBytes(g, new OnnxExportOptions { ShapeOf = v => v == "x" ? new[] { -1, 3, 10, 12 } : null });
        var x = Rand(new Random(6), -1f, 1f, 2, 3, 10, 12);
        TensorAssert.Close(ReferenceExecutor.Run(g, Feed("x", x))["y"], OrtReference.Run(bytes, Feed("x", x))["y"], 1e-5, 1e-6, "fixed-size export");
    }

    /// <summary>Opset-&lt;13 softmax (2-D coercion) written for opset 17: Flatten → softmax(1) → Reshape; the same values.</summary>
    [TestCase(true), TestCase(false)]
    public void CoercedSoftmax_ExportsAsFlattenSoftmaxReshape(bool log)
    {
        Op op = log ? new LogSoftmaxOp(1, Coerce2D: true) : new SoftmaxOp(1, Coerce2D: true);
        var g = Single(op, new[] { 2, 3, 4, 5 });
        var x = Rand(new Random(8), -3f, 3f, 2, 3, 4, 5);
        var bytes = OnnxExporter.ExportToBytes(g);
        Assert.That(ModelProto.Parser.ParseFrom(bytes).Graph.Node.Select(n => n.OpType), Is.EqualTo(new[] { "Flatten", log ? "LogSoftmax" : "Softmax", "Shape", "Reshape" }));
        TensorAssert.Close(ReferenceExecutor.Run(g, Feed("x", x))["y"], OrtReference.Run(bytes, Feed("x", x))["y"], 1e-5, 1e-6, "coerced softmax");
    }

    /// <summary>
    /// A QDQ graph (per-tensor uint8 activations, per-channel int8 weights dequantized along axis 0, as ONNX
    /// Runtime's quantizer writes them) exports as QuantizeLinear/DequantizeLinear pairs around the Conv; the
    /// quantized tensor is bit-exact and the float output agrees with the reference.
    /// </summary>
    [Test]
    public void QdqGraph_ExportsAndRunsInOnnxRuntime()
    {
        var rng = new Random(31);
        var g = new Graph { Name = "qdq" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { -1, 4, 6, 6 }));
        g.Initializers["x.scale"] = Tensor.Scalar(0.0625f);
        g.Initializers["x.zp"] = Tensor.FromSpan<byte>(new byte[] { 128 }, Array.Empty<int>());
        var wq = new Tensor(DType.Int8, new[] { 8, 4, 3, 3 });
        var ws = wq.AsSpan<sbyte>();
        for (int i = 0; i < ws.Length; i++) ws[i] = (sbyte)rng.Next(-127, 128);
        g.Initializers["w.q"] = wq;
        g.Initializers["w.scale"] = Rand(rng, 0.001f, 0.01f, 8);
        g.Initializers["w.zp"] = new Tensor(DType.Int8, new[] { 8 });
        g.Initializers["b"] = Rand(rng, -0.1f, 0.1f, 8);
        g.Nodes.Add(new Node("x_quant", new QuantizeLinearOp(OutputDType: DType.UInt8), new[] { "x", "x.scale", "x.zp" }, new[] { "xq" }));
        g.Nodes.Add(new Node("x_dequant", new DequantizeLinearOp(), new[] { "xq", "x.scale", "x.zp" }, new[] { "xd" }));
        g.Nodes.Add(new Node("w_dequant", new DequantizeLinearOp(Axis: 0), new[] { "w.q", "w.scale", "w.zp" }, new[] { "wd" }));
        g.Nodes.Add(new Node("conv", ConvOp.Conv2d(3, 1, 1) with { Activation = Activation.Relu }, new[] { "xd", "wd", "b" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("xq", DType.UInt8, new[] { -1, 4, 6, 6 }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, new[] { -1, 8, 6, 6 }));
        var x = Rand(rng, -6f, 6f, 2, 4, 6, 6);
        var bytes = OnnxExporter.ExportToBytes(g);
        var types = ModelProto.Parser.ParseFrom(bytes).Graph.Node.Select(n => n.OpType).ToList();
        Assert.That(types, Is.EqualTo(new[] { "QuantizeLinear", "DequantizeLinear", "DequantizeLinear", "Conv", "Relu" }));
        var expected = ReferenceExecutor.Run(g, Feed("x", x));
        var actual = OrtReference.Run(bytes, Feed("x", x), optimize: false);
        TensorAssert.Close(expected["xq"], actual["xq"], 0, 0, "quantized activations, bit-exact");
        TensorAssert.Close(expected["y"], actual["y"], 1e-4, 1e-5, "conv output");
    }

    /// <summary>QuantizeLinear to int8 without a zero point: opset 21 writes output_dtype; opset 17 an all-zero int8 zero point. Both bit-exact.</summary>
    [TestCase(17), TestCase(21)]
    public void QuantizeWithoutZeroPoint_KeepsItsOutputType(int opset)
    {
        var g = new Graph { Name = "q" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { 3, 8 }));
        g.Initializers["s"] = Tensor.From(new[] { 0.5f, 0.25f, 0.125f });
        g.Nodes.Add(new Node("q", new QuantizeLinearOp(Axis: 0, OutputDType: DType.Int8), new[] { "x", "s" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Int8, new[] { 3, 8 }));
        var x = Rand(new Random(3), -40f, 40f, 3, 8);
        var expected = ReferenceExecutor.Run(g, Feed("x", x))["y"];
        var actual = OrtReference.Run(OnnxExporter.ExportToBytes(g, new OnnxExportOptions { Opset = opset }), Feed("x", x))["y"];
        TensorAssert.Close(expected, actual, 0, 0, $"opset {opset}");
    }

    [Test]
    public void OpsThatNeedANewerOpset_AreRefusedNamingTheOpset()
    {
        var g = Single(new QuantizeLinearOp(Axis: 1, BlockSize: 2), new[] { 3, 4 });
        g.Initializers["s"] = Tensor.From(new float[] { 1, 1, 1, 1, 1, 1 }, 3, 2);
        g.Nodes[0].Inputs.Add("s");
        var e = Assert.Throws<UnsupportedOperatorException>(() => OnnxExporter.ExportToBytes(g))!;
        Assert.That(e.Message, Does.Contain("opset ≥ 21"));
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxExporter.ExportToBytes(g, new OnnxExportOptions { Opset = 12 }));
    }

    /// <summary>A graph of most operator records, all fed by runtime inputs (nothing folds).</summary>
    internal static Graph ManyOps()
    {
        var rng = new Random(77);
        var g = new Graph { Name = "many_ops" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { -1, 4, 9, 9 }));
        g.Inputs.Add(new ValueInfo("m", DType.Float32, new[] { 6, 6 }));
        g.Initializers["w"] = Rand(rng, -0.5f, 0.5f, 6, 2, 3, 3);
        g.Initializers["b"] = Rand(rng, -0.1f, 0.1f, 6);
        g.Initializers["bn.s"] = Rand(rng, 0.5f, 1.5f, 6);
        g.Initializers["bn.b"] = Rand(rng, -0.2f, 0.2f, 6);
        g.Initializers["bn.m"] = Rand(rng, -0.2f, 0.2f, 6);
        g.Initializers["bn.v"] = Rand(rng, 0.5f, 1.5f, 6);
        g.Initializers["shape"] = Tensor.From(new long[] { 0, 6, -1 });
        g.Initializers["q.s"] = Tensor.Scalar(0.05f);
        g.Initializers["q.zp"] = Tensor.FromSpan<sbyte>(new sbyte[] { 3 }, Array.Empty<int>());
        void N(string name, Op op, string[] ins, params string[] outs) => g.Nodes.Add(new Node(name, op, ins, outs));
        N("conv", new ConvOp(new[] { 3, 3 }, new[] { 2, 1 }, new[] { 1, 0, 2, 1 }, new[] { 1, 2 }, 2), new[] { "x", "w", "b" }, "c");
        N("bn", new BatchNormOp(1e-3f), new[] { "c", "bn.s", "bn.b", "bn.m", "bn.v" }, "bn_out");
        N("sig", new UnaryOp(UnaryKind.Sigmoid), new[] { "bn_out" }, "s1");
        N("tanh", new UnaryOp(UnaryKind.Tanh), new[] { "s1" }, "s2");
        N("maxpool", new MaxPoolOp(new[] { 2, 2 }, new[] { 2, 2 }, new[] { 0, 0, 1, 1 }, new[] { 1, 1 }, CeilMode: true), new[] { "s2" }, "mp", "mp_idx");
        N("avgpool", new AveragePoolOp(new[] { 3, 3 }, new[] { 1, 1 }, new[] { 1, 1, 1, 1 }, new[] { 1, 1 }, CountIncludePad: true), new[] { "mp" }, "ap");
        N("same", new ConvOp(new[] { 1, 1 }, new[] { 1, 1 }, new int[4], new[] { 1, 1 }, 6, AutoPad.SameUpper), new[] { "ap", "bn.s4" }, "sp");
        g.Initializers["bn.s4"] = Rand(rng, 0.5f, 1.5f, 6, 1, 1, 1);
        N("gap", new GlobalAveragePoolOp(), new[] { "sp" }, "gap_out");
        N("gmp", new GlobalMaxPoolOp(), new[] { "sp" }, "gmp_out");
        N("add", new BinaryOp(BinaryKind.Add), new[] { "gap_out", "gmp_out" }, "sum");
        N("reshape", new ReshapeOp(), new[] { "sp", "shape" }, "r");
        N("rmean", new ReduceMeanOp(new[] { 2 }, KeepDims: false), new[] { "r" }, "rm");
        N("flatten", new FlattenOp(1), new[] { "sum" }, "f");
        N("gemm", new GemmOp(0.5f, 2f, TransA: false, TransB: false), new[] { "rm", "m", "gemm_c" }, "gm");
        g.Initializers["gemm_c"] = Rand(rng, -1f, 1f, 6);
        N("matmul", new MatMulOp(), new[] { "f", "m2" }, "mm");
        g.Initializers["m2"] = Rand(rng, -1f, 1f, 6, 6);
        N("mul", new BinaryOp(BinaryKind.Mul), new[] { "gm", "mm" }, "mul_out");
        N("sub", new BinaryOp(BinaryKind.Sub), new[] { "mul_out", "mm" }, "sub_out");
        N("div", new BinaryOp(BinaryKind.Div), new[] { "sub_out", "div_c" }, "div_out");
        g.Initializers["div_c"] = Rand(rng, 1f, 2f, 6);
        N("abs", new UnaryOp(UnaryKind.Abs), new[] { "div_out" }, "abs_out");
        N("sqrt", new UnaryOp(UnaryKind.Sqrt), new[] { "abs_out" }, "sqrt_out");
        N("neg", new UnaryOp(UnaryKind.Neg), new[] { "sqrt_out" }, "neg_out");
        N("exp", new UnaryOp(UnaryKind.Exp), new[] { "neg_out" }, "exp_out");
        N("unsq", new UnsqueezeOp(new[] { 1 }), new[] { "exp_out" }, "u");
        N("sq", new SqueezeOp(new[] { 1 }), new[] { "u" }, "sq_out");
        N("drop", new DropoutOp(), new[] { "sq_out" }, "drop_out", "mask");
        N("softmax", new SoftmaxOp(-1), new[] { "drop_out" }, "sm");
        N("logsoftmax", new LogSoftmaxOp(0), new[] { "sm" }, "lsm");
        N("identity", new IdentityOp(), new[] { "lsm" }, "id");
        N("cast", new CastOp(DType.Float64), new[] { "id" }, "c64");
        N("quant", new QuantizeLinearOp(OutputDType: DType.Int8), new[] { "sm", "q.s", "q.zp" }, "q");
        N("dequant", new DequantizeLinearOp(), new[] { "q", "q.s", "q.zp" }, "dq");
        N("shape_of", new ShapeOp(), new[] { "x" }, "xs");
        N("gather", new GatherOp(0), new[] { "xs", "idx" }, "g0");
        g.Initializers["idx"] = Tensor.From(new long[] { 1, 2 });
        N("concat", new ConcatOp(0), new[] { "g0", "g0" }, "cc");
        g.Outputs.Add(new ValueInfo("c64", DType.Float64, null));
        g.Outputs.Add(new ValueInfo("dq", DType.Float32, null));
        g.Outputs.Add(new ValueInfo("mp_idx", DType.Int64, null));
        g.Outputs.Add(new ValueInfo("mask", DType.Bool, null));
        g.Outputs.Add(new ValueInfo("cc", DType.Int64, null));
        return g;
    }

    /// <summary>Every record of <see cref="ManyOps"/> exports and runs in ONNX Runtime with the reference's results.</summary>
    [Test]
    public void ManyOps_Export_OnnxRuntimeMatchesReference()
    {
        var g = ManyOps();
        var feed = new Dictionary<string, Tensor> { ["x"] = Rand(new Random(11), -1f, 1f, 2, 4, 9, 9), ["m"] = Rand(new Random(12), -1f, 1f, 6, 6) };
        var expected = ReferenceExecutor.Run(g, feed);
        var actual = OrtReference.Run(OnnxExporter.ExportToBytes(g), feed);
        foreach (var o in g.Outputs)
        {
            bool exact = !o.DType.IsFloatingPoint();
            TensorAssert.Close(expected[o.Name], actual[o.Name], exact ? 0 : 1e-4, exact ? 0 : 1e-6, o.Name);
        }
    }

    /// <summary>
    /// Export → import gives the same graph: node names, op records with every attribute, inputs, outputs and initializers
    /// byte for byte — except the ceil-mode max-pool whose last window PyTorch drops, which the exporter writes with
    /// ceil_mode 0 and the end pad that gives the same size (ONNX Runtime would keep that window): same kernel, strides,
    /// dilations and begin pads, and every value of the graph keeps its shape.
    /// </summary>
    [Test]
    public void ManyOps_ExportThenImport_IsTheSameGraph()
    {
        var g = ManyOps();
        var back = OnnxImporter.Load(OnnxExporter.ExportToBytes(g), null, "many_ops.onnx", OnnxImportOptions.Default, out _);
        Assert.That(back.Inputs.Select(Describe), Is.EqualTo(g.Inputs.Select(Describe)));
        Assert.That(back.Outputs.Select(o => o.Name), Is.EqualTo(g.Outputs.Select(o => o.Name)));
        Assert.That(back.Nodes.Where(n => n.Name != "maxpool").Select(Describe), Is.EqualTo(g.Nodes.Where(n => n.Name != "maxpool").Select(Describe)));
        var (was, now) = ((MaxPoolOp)g.Nodes.Single(n => n.Name == "maxpool").Op, (MaxPoolOp)back.Nodes.Single(n => n.Name == "maxpool").Op);
        Assert.That((now.CeilMode, now.KernelShape, now.Strides, now.Dilations, now.Pads[..2]), Is.EqualTo((false, was.KernelShape, was.Strides, was.Dilations, was.Pads[..2])));
        var shapes = ShapeInference.Infer(g);
        var backShapes = ShapeInference.Infer(back);
        foreach (var (name, vi) in shapes)
            Assert.That(backShapes[name].Shape, Is.EqualTo(vi.Shape), name);
        Assert.That(back.Initializers.Keys.Order(), Is.EqualTo(g.Initializers.Keys.Order()));
        foreach (var (k, t) in g.Initializers)
        {
            Assert.That(back.Initializers[k].ToString(), Is.EqualTo(t.ToString()), k);
            Assert.That(back.Initializers[k].Bytes.SequenceEqual(t.Bytes), Is.True, k);
        }
    }

    /// <summary>Export → import of the fused VGG graph gives the unfused graph; both compute the same outputs (reference executor).</summary>
    [Test]
    public void FusedVgg_ExportThenImport_SameOutputs()
    {
        var g = SeededVgg(fused: true);
        var back = OnnxImporter.Load(OnnxExporter.ExportToBytes(g), null, "tiny_vgg.onnx", OnnxImportOptions.Default, out _);
        Assert.That(back.Nodes.Any(n => n.Op is ConvOp { Activation: not Activation.None } or ConvOp { FusedMaxPool: not null }), Is.False);
        var x = Rand(new Random(4), -1f, 1f, 2, 3, 16, 16);
        TensorAssert.Close(ReferenceExecutor.Run(g, Feed("input", x))["output"], ReferenceExecutor.Run(back, Feed("input", x))["output"], 1e-6, 1e-7, "fused vs imported");
    }

    private static string Describe(ValueInfo v) => v.ToString();

    private static string Describe(Node n) => $"{n.Name} = {Canon(n.Op)}({string.Join(", ", n.Inputs)}) -> {string.Join(", ", n.Outputs)}";

    /// <summary>An op record with every property value spelled out (arrays element by element).</summary>
    internal static string Canon(Op op)
    {
        var sb = new StringBuilder(op.GetType().Name).Append('{');
        foreach (var p in op.GetType().GetProperties().Where(p => p.Name != "EqualityContract").OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            var v = p.GetValue(op);
            string s = v switch
            {
                null => "null",
                int[] a => "[" + string.Join(",", a) + "]",
                Tensor t => t + ":" + Convert.ToHexString(t.Bytes),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                Op inner => Canon(inner),
                _ => v.ToString()!,
            };
            sb.Append(p.Name).Append('=').Append(s).Append(';');
        }
        return sb.Append('}').ToString();
    }
}
