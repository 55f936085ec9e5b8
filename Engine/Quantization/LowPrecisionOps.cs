using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.Cuda.Reference;
using Vgg.Engine.IR;
using CudaConvGeometry = Vgg.Engine.Cuda.Reference.ConvGeometry;

namespace Vgg.Engine.Quantization;

// The operator records of a precision plan (made by PrecisionPass). INT8 activations are int8 codes in
// NHWC layout with one float32 scale per tensor (real = code · scale), as in Engine/Cuda/QUANTIZATION.md;
// their shapes say so ([N, H, W, C]). Each record states its own output types and evaluates itself with
// the CPU INT8 reference (Int8Reference/Int8Scheme), so the reference executor runs a precision plan and the
// fast CPU kernels (Engine/Cpu/Int8, Engine/Cpu/Fp16) are checked against it.

/// <summary>Marker of the records a precision pass creates (a graph holding one has been through the pass).</summary>
public interface ILowPrecisionOp : ISelfDescribingOp
{
}

/// <summary>
/// float32 → int8 codes with one per-tensor scale: q = clamp(round_half_even(x / Scale), −128, 127) (ONNX
/// QuantizeLinear with zero point 0, <see cref="Int8Scheme.QuantizeActivation"/>). A 4-D NCHW input becomes NHWC
/// [N, H, W, C]; a 2-D [N, F] input stays [N, F].
/// </summary>
/// <param name="Scale">The input value's calibrated scale.</param>
public sealed record QuantizeNhwcOp(float Scale) : Op, ILowPrecisionOp
{
    public override string OpType => "vgg.QuantizeNhwc";

    public (DType DType, int[]? Shape)[] InferOutputs(string nodeName, IReadOnlyList<ValueInfo?> inputs)
    {
        var x = LowPrecision.In(nodeName, OpType, inputs, 0, DType.Float32);
        return new[] { (DType.Int8, x.Shape is { Length: 4 } s ? new[] { s[0], s[2], s[3], s[1] } : LowPrecision.Need2Or4(nodeName, OpType, x)) };
    }

    public Tensor[] Evaluate(string nodeName, IReadOnlyList<Tensor?> inputs)
    {
        var x = inputs[0]!;
        var xs = x.ShapeArray();
        var f = x.AsSpan<float>();
        if (xs.Length == 2)
        {
            var q = new sbyte[f.Length];
            for (int i = 0; i < q.Length; i++) q[i] = Int8Scheme.QuantizeActivation(f[i], Scale);
            return new[] { Tensor.From(q, xs) };
        }
        int n = xs[0], c = xs[1], h = xs[2], w = xs[3];
        var y = new sbyte[f.Length];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                        y[((b * h + i) * w + j) * c + ch] = Int8Scheme.QuantizeActivation(f[((b * c + ch) * h + i) * w + j], Scale);
        return new[] { Tensor.From(y, n, h, w, c) };
    }
}

/// <summary>
/// int8 codes → float32: y = float32(q) · Scale (exact product rounded once). A 4-D NHWC input [N, H, W, C] becomes
/// NCHW [N, C, H, W]; a 2-D input stays.
/// </summary>
/// <param name="Scale">The codes' scale.</param>
public sealed record DequantizeNhwcOp(float Scale) : Op, ILowPrecisionOp
{
    public override string OpType => "vgg.DequantizeNhwc";

    public (DType DType, int[]? Shape)[] InferOutputs(string nodeName, IReadOnlyList<ValueInfo?> inputs)
    {
        var x = LowPrecision.In(nodeName, OpType, inputs, 0, DType.Int8);
        return new[] { (DType.Float32, x.Shape is { Length: 4 } s ? new[] { s[0], s[3], s[1], s[2] } : LowPrecision.Need2Or4(nodeName, OpType, x)) };
    }

    public Tensor[] Evaluate(string nodeName, IReadOnlyList<Tensor?> inputs)
    {
        var x = inputs[0]!;
        var xs = x.ShapeArray();
        var q = x.AsSpan<sbyte>();
        if (xs.Length == 2)
        {
            var f = new float[q.Length];
            for (int i = 0; i < f.Length; i++) f[i] = q[i] * Scale;
            return new[] { Tensor.From(f, xs) };
        }
        int n = xs[0], h = xs[1], w = xs[2], c = xs[3];
        var y = new float[q.Length];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                    for (int ch = 0; ch < c; ch++)
                        y[((b * c + ch) * h + i) * w + j] = q[((b * h + i) * w + j) * c + ch] * Scale;
        return new[] { Tensor.From(y, n, c, h, w) };
    }
}

/// <summary>
/// INT8 2-D convolution on NHWC codes (Engine/Cuda/QUANTIZATION.md): acc = Σ x_q · w_q + b_q in int32 (exact),
/// then y_q = clamp(round_half_even(float32(acc) · m[k]), −128, 127), max(·, 0) with ReLU, then the fused max-pool
/// on codes. Inputs: X int8 [N, H, W, C]; W int8 [M, KH, KW, C/group] (KRSC codes, per-output-channel scales
/// folded into m); B int32 [M] (accumulator units); m float32 [M] (requantization multipliers s_x·s_w[k]/s_y);
/// optionally s_w float32 [M] (the weight scales, for export and other backends; kernels do not read it).
/// Output int8 [N, OH, OW, M] (after the pool), scale <see cref="OutputScale"/>.
/// </summary>
/// <param name="Conv">Geometry (kernel, strides, pads, dilations, group, auto_pad), <see cref="ConvOp.Activation"/> and <see cref="ConvOp.FusedMaxPool"/> of the float conv it replaces.</param>
/// <param name="InputScale">s_x of the input codes.</param>
/// <param name="OutputScale">s_y of the output codes.</param>
/// <param name="InputNonNegative">The input codes are known to be ≥ 0 (a ReLU before them): kernels may use unsigned 8-bit products.</param>
public sealed record Int8ConvOp(ConvOp Conv, float InputScale, float OutputScale, bool InputNonNegative) : Op, ILowPrecisionOp
{
    public override string OpType => "vgg.Int8Conv";

    /// <summary>ReLU after requantization.</summary>
    public bool Relu => Conv.Activation == Activation.Relu;

    public (DType DType, int[]? Shape)[] InferOutputs(string nodeName, IReadOnlyList<ValueInfo?> inputs)
    {
        var x = LowPrecision.In(nodeName, OpType, inputs, 0, DType.Int8);
        var w = LowPrecision.In(nodeName, OpType, inputs, 1, DType.Int8);
        LowPrecision.In(nodeName, OpType, inputs, 2, DType.Int32);
        LowPrecision.In(nodeName, OpType, inputs, 3, DType.Float32);
        if (x.Shape is null || w.Shape is null) return new[] { (DType.Int8, (int[]?)null) };
        if (x.Shape.Length != 4 || w.Shape.Length != 4)
            throw new GraphException(nodeName, $"{OpType} needs NHWC input [N, H, W, C] and KRSC weight [M, KH, KW, C/group]; got {Tensor.FormatShape(x.Shape)} and {Tensor.FormatShape(w.Shape)}");
        if (x.Shape[3] >= 0 && x.Shape[3] != w.Shape[3] * Conv.Group)
            throw new GraphException(nodeName, $"{OpType}: input has {x.Shape[3]} channels, weight expects {w.Shape[3]}·{Conv.Group}");
        var (oh, ow) = LowPrecision.ConvOutput(nodeName, this, x.Shape, w.Shape);
        return new[] { (DType.Int8, (int[]?)new[] { x.Shape[0], oh, ow, w.Shape[0] }) };
    }

    /// <summary>The geometry for the CPU INT8 reference for input <paramref name="xs"/> (NHWC) and weight <paramref name="ws"/> (KRSC), and the fused pool's axes when present.</summary>
    internal (CudaConvGeometry Conv, SpatialAxis[]? Pool) Geometry(string nodeName, int[] xs, int[] ws)
    {
        var axes = SpatialGeometry.Resolve(nodeName, new[] { xs[1], xs[2] }, new[] { ws[1], ws[2] }, Conv.Strides, Conv.Pads, Conv.Dilations, Conv.AutoPad, false);
        var g = new CudaConvGeometry(xs[0], xs[1], xs[2], xs[3], ws[0], ws[1], ws[2], axes[0].Stride, axes[1].Stride,
            axes[0].PadBegin, axes[1].PadBegin, axes[0].PadEnd, axes[1].PadEnd, axes[0].Dilation, axes[1].Dilation, Conv.Group);
        SpatialAxis[]? pool = null;
        if (Conv.FusedMaxPool is { } p)
        {
            if (p.KernelShape.Length != 2) throw new GraphException(nodeName, $"{OpType}: a fused max-pool must be 2-D, kernel {Tensor.FormatShape(p.KernelShape)}");
            pool = SpatialGeometry.Resolve(nodeName, new[] { g.OutH, g.OutW }, p.KernelShape, p.Strides, p.Pads, p.Dilations, p.AutoPad, p.CeilMode);
        }
        return (g, pool);
    }

    public Tensor[] Evaluate(string nodeName, IReadOnlyList<Tensor?> inputs)
    {
        var x = inputs[0]!;
        var w = inputs[1]!;
        var (g, pool) = Geometry(nodeName, x.ShapeArray(), w.ShapeArray());
        var acc = Int8Reference.ConvAccumulators(x.AsSpan<sbyte>(), w.AsSpan<sbyte>(), inputs[2]!.AsSpan<int>(), g);
        var q = Int8Reference.Requantize(acc, inputs[3]!.AsSpan<float>(), Relu);
        if (pool is null) return new[] { Tensor.From(q, g.N, g.OutH, g.OutW, g.K) };
        var p = Int8Reference.MaxPool(q, g.N, g.OutH, g.OutW, g.K, pool[0].Output, pool[1].Output, pool[0].Kernel, pool[1].Kernel,
            pool[0].Stride, pool[1].Stride, pool[0].PadBegin, pool[1].PadBegin, pool[0].Dilation, pool[1].Dilation);
        return new[] { Tensor.From(p, g.N, pool[0].Output, pool[1].Output, g.K) };
    }
}

/// <summary>
/// INT8 linear layer (torch.nn.Linear / ONNX Gemm with transB): acc[n, o] = Σ_k x_q[n, k] · w_q[o, k] + b_q[o] in int32,
/// then either requantized to int8 codes of scale <see cref="OutputScale"/> (ReLU as max(q, 0)) or, with
/// <see cref="DequantizeOutput"/>, dequantized to float32 y = float32(acc) · d[o] (ReLU as max(y, 0)) — the logits.
/// Inputs: X int8 [N, K]; W int8 [O, K]; B int32 [O]; e float32 [O] (multipliers s_x·s_w[o]/s_y, or factors s_x·s_w[o]);
/// optionally s_w float32 [O] (the weight scales, for export and other backends).
/// </summary>
/// <param name="Relu">ReLU in the epilogue.</param>
/// <param name="DequantizeOutput">float32 output (dequantizing epilogue) instead of int8 codes.</param>
/// <param name="InputScale">s_x.</param>
/// <param name="OutputScale">s_y of the int8 output (unused with <paramref name="DequantizeOutput"/>).</param>
/// <param name="InputNonNegative">The input codes are known to be ≥ 0.</param>
public sealed record Int8GemmOp(bool Relu, bool DequantizeOutput, float InputScale, float OutputScale, bool InputNonNegative) : Op, ILowPrecisionOp
{
    public override string OpType => "vgg.Int8Linear";

    public (DType DType, int[]? Shape)[] InferOutputs(string nodeName, IReadOnlyList<ValueInfo?> inputs)
    {
        var x = LowPrecision.In(nodeName, OpType, inputs, 0, DType.Int8);
        var w = LowPrecision.In(nodeName, OpType, inputs, 1, DType.Int8);
        LowPrecision.In(nodeName, OpType, inputs, 2, DType.Int32);
        LowPrecision.In(nodeName, OpType, inputs, 3, DType.Float32);
        var dt = DequantizeOutput ? DType.Float32 : DType.Int8;
        if (x.Shape is null || w.Shape is null) return new[] { (dt, (int[]?)null) };
        if (x.Shape.Length != 2 || w.Shape.Length != 2)
            throw new GraphException(nodeName, $"{OpType} needs X [N, K] and W [O, K]; got {Tensor.FormatShape(x.Shape)} and {Tensor.FormatShape(w.Shape)}");
        if (x.Shape[1] >= 0 && x.Shape[1] != w.Shape[1])
            throw new GraphException(nodeName, $"{OpType}: input has {x.Shape[1]} features, weight expects {w.Shape[1]}");
        return new[] { (dt, (int[]?)new[] { x.Shape[0], w.Shape[0] }) };
    }

    public Tensor[] Evaluate(string nodeName, IReadOnlyList<Tensor?> inputs)
    {
        var x = inputs[0]!;
        var w = inputs[1]!;
        int m = x.Shape[0], k = x.Shape[1], n = w.Shape[0];
        var acc = Int8Reference.GemmAccumulators(x.AsSpan<sbyte>(), w.AsSpan<sbyte>(), inputs[2]!.AsSpan<int>(), m, n, k);
        var e = inputs[3]!.AsSpan<float>();
        return DequantizeOutput
            ? new[] { Tensor.From(Int8Reference.Dequantize(acc, e, Relu), m, n) }
            : new[] { Tensor.From(Int8Reference.Requantize(acc, e, Relu), m, n) };
    }
}

/// <summary>Max-pool on NHWC int8 codes (the scale is unchanged; dequantization is monotonic, so pooling commutes with it). PyTorch/ONNX geometry of <see cref="Pool"/>.</summary>
/// <param name="Pool">The float max-pool it replaces (2-D, no indices output).</param>
public sealed record Int8MaxPoolOp(MaxPoolOp Pool) : Op, ILowPrecisionOp
{
    public override string OpType => "vgg.Int8MaxPool";

    internal SpatialAxis[] Axes(string nodeName, int[] xs) =>
        SpatialGeometry.Resolve(nodeName, new[] { xs[1], xs[2] }, Pool.KernelShape, Pool.Strides, Pool.Pads, Pool.Dilations, Pool.AutoPad, Pool.CeilMode);

    public (DType DType, int[]? Shape)[] InferOutputs(string nodeName, IReadOnlyList<ValueInfo?> inputs)
    {
        var x = LowPrecision.In(nodeName, OpType, inputs, 0, DType.Int8);
        if (x.Shape is null) return new[] { (DType.Int8, (int[]?)null) };
        if (x.Shape.Length != 4) throw new GraphException(nodeName, $"{OpType} needs NHWC [N, H, W, C], got {Tensor.FormatShape(x.Shape)}");
        if (x.Shape[1] < 0 || x.Shape[2] < 0) return new[] { (DType.Int8, (int[]?)new[] { x.Shape[0], -1, -1, x.Shape[3] }) };
        var a = Axes(nodeName, x.Shape);
        return new[] { (DType.Int8, (int[]?)new[] { x.Shape[0], a[0].Output, a[1].Output, x.Shape[3] }) };
    }

    public Tensor[] Evaluate(string nodeName, IReadOnlyList<Tensor?> inputs)
    {
        var x = inputs[0]!;
        var xs = x.ShapeArray();
        var a = Axes(nodeName, xs);
        var y = Int8Reference.MaxPool(x.AsSpan<sbyte>(), xs[0], xs[1], xs[2], xs[3], a[0].Output, a[1].Output, a[0].Kernel, a[1].Kernel,
            a[0].Stride, a[1].Stride, a[0].PadBegin, a[1].PadBegin, a[0].Dilation, a[1].Dilation);
        return new[] { Tensor.From(y, xs[0], a[0].Output, a[1].Output, xs[3]) };
    }
}

/// <summary>
/// Adaptive average pool on NHWC int8 codes with PyTorch's bins (global average pool is 1×1): each mean
/// round_half_even(sum / count) in integers (<see cref="Int8Scheme.RoundedMean"/>), the scale unchanged.
/// </summary>
public sealed record Int8AdaptiveAvgPoolOp(int OutputHeight, int OutputWidth) : Op, ILowPrecisionOp
{
    public override string OpType => "vgg.Int8AdaptiveAvgPool";

    public (DType DType, int[]? Shape)[] InferOutputs(string nodeName, IReadOnlyList<ValueInfo?> inputs)
    {
        var x = LowPrecision.In(nodeName, OpType, inputs, 0, DType.Int8);
        if (x.Shape is null) return new[] { (DType.Int8, (int[]?)null) };
        if (x.Shape.Length != 4) throw new GraphException(nodeName, $"{OpType} needs NHWC [N, H, W, C], got {Tensor.FormatShape(x.Shape)}");
        return new[] { (DType.Int8, (int[]?)new[] { x.Shape[0], OutputHeight, OutputWidth, x.Shape[3] }) };
    }

    public Tensor[] Evaluate(string nodeName, IReadOnlyList<Tensor?> inputs)
    {
        var x = inputs[0]!;
        var xs = x.ShapeArray();
        var y = Int8Reference.AdaptiveAvgPool(x.AsSpan<sbyte>(), xs[0], xs[1], xs[2], xs[3], OutputHeight, OutputWidth);
        return new[] { Tensor.From(y, xs[0], OutputHeight, OutputWidth, xs[3]) };
    }
}

/// <summary>torch.flatten(x, 1) of NHWC int8 codes: [N, H, W, C] → [N, C·H·W] in NCHW order (what the next linear layer's weight columns expect). A copy.</summary>
public sealed record Int8FlattenOp : Op, ILowPrecisionOp
{
    public override string OpType => "vgg.Int8Flatten";

    public (DType DType, int[]? Shape)[] InferOutputs(string nodeName, IReadOnlyList<ValueInfo?> inputs)
    {
        var x = LowPrecision.In(nodeName, OpType, inputs, 0, DType.Int8);
        if (x.Shape is null) return new[] { (DType.Int8, (int[]?)null) };
        if (x.Shape.Length != 4) throw new GraphException(nodeName, $"{OpType} needs NHWC [N, H, W, C], got {Tensor.FormatShape(x.Shape)}");
        int f = x.Shape[1] < 0 || x.Shape[2] < 0 || x.Shape[3] < 0 ? -1 : x.Shape[1] * x.Shape[2] * x.Shape[3];
        return new[] { (DType.Int8, (int[]?)new[] { x.Shape[0], f }) };
    }

    public Tensor[] Evaluate(string nodeName, IReadOnlyList<Tensor?> inputs)
    {
        var x = inputs[0]!;
        var xs = x.ShapeArray();
        int n = xs[0], h = xs[1], w = xs[2], c = xs[3];
        var q = x.AsSpan<sbyte>();
        var y = new sbyte[q.Length];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                    for (int ch = 0; ch < c; ch++)
                        y[((b * c + ch) * h + i) * w + j] = q[((b * h + i) * w + j) * c + ch];
        return new[] { Tensor.From(y, n, c * h * w) };
    }
}

/// <summary>
/// A linear layer / Gemm with FP16 weights: Y = Alpha·A·Bᵀ + Beta·C (+ ReLU) with A float32 [M, K], B float16 [N, K]
/// (weights stored as IEEE binary16, widened exactly to float32 in the kernel), C float32 broadcast to [M, N] or
/// absent; float32 accumulation. <see cref="Gemm"/> holds Alpha, Beta and the activation (TransA false, TransB true).
/// </summary>
public sealed record Fp16GemmOp(GemmOp Gemm) : Op, ILowPrecisionOp
{
    public override string OpType => "vgg.Fp16Linear";

    public (DType DType, int[]? Shape)[] InferOutputs(string nodeName, IReadOnlyList<ValueInfo?> inputs)
    {
        var a = LowPrecision.In(nodeName, OpType, inputs, 0, DType.Float32);
        var b = LowPrecision.In(nodeName, OpType, inputs, 1, DType.Float16);
        if (inputs.Count > 2 && inputs[2] is { } c && c.DType != DType.Float32)
            throw new GraphException(nodeName, $"{OpType}: C '{c.Name}' is {c.DType.Name()}, expected float32");
        if (a.Shape is null || b.Shape is null) return new[] { (DType.Float32, (int[]?)null) };
        if (a.Shape.Length != 2 || b.Shape.Length != 2)
            throw new GraphException(nodeName, $"{OpType} needs A [M, K] and B [N, K]; got {Tensor.FormatShape(a.Shape)} and {Tensor.FormatShape(b.Shape)}");
        if (a.Shape[1] >= 0 && a.Shape[1] != b.Shape[1])
            throw new GraphException(nodeName, $"{OpType}: input has {a.Shape[1]} features, weight expects {b.Shape[1]}");
        return new[] { (DType.Float32, (int[]?)new[] { a.Shape[0], b.Shape[0] }) };
    }

    public Tensor[] Evaluate(string nodeName, IReadOnlyList<Tensor?> inputs)
    {
        var a = inputs[0]!.AsSpan<float>();
        var bt = inputs[1]!;
        var b = bt.AsSpan<Half>();
        int m = inputs[0]!.Shape[0], k = inputs[0]!.Shape[1], n = bt.Shape[0];
        var c = inputs.Count > 2 ? inputs[2] : null;
        var cf = c is null ? default : c.AsSpan<float>();
        int cr = 1, cc = 1;
        if (c is not null) (cr, cc) = c.Rank switch { 0 => (1, 1), 1 => (1, c.Shape[0]), _ => (c.Shape[0], c.Shape[1]) };
        var y = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += (double)a[i * k + t] * (float)b[j * k + t];
                double v = Gemm.Alpha * s + (c is null ? 0 : Gemm.Beta * (double)cf[(cr == 1 ? 0 : i) * cc + (cc == 1 ? 0 : j)]);
                y[i * n + j] = (float)(Gemm.Activation == Activation.Relu ? Math.Max(v, 0) : v);
            }
        return new[] { Tensor.From(y, m, n) };
    }
}

/// <summary>Shared checks of the low-precision records.</summary>
internal static class LowPrecision
{
    public static ValueInfo In(string nodeName, string opType, IReadOnlyList<ValueInfo?> inputs, int i, DType dtype)
    {
        if (i >= inputs.Count || inputs[i] is not { } v) throw new GraphException(nodeName, $"{opType} needs input {i}, which is absent");
        if (v.DType != dtype) throw new GraphException(nodeName, $"{opType}: input {i} '{v.Name}' is {v.DType.Name()}, expected {dtype.Name()}");
        return v;
    }

    public static int[]? Need2Or4(string nodeName, string opType, ValueInfo x) =>
        x.Shape is null or { Length: 2 } ? x.Shape : throw new GraphException(nodeName, $"{opType} takes a 4-D or 2-D tensor, got {Tensor.FormatShape(x.Shape)}");

    /// <summary>Output height and width of an INT8 conv (after its fused pool); −1 when the input size is dynamic.</summary>
    public static (int H, int W) ConvOutput(string nodeName, Int8ConvOp op, int[] xs, int[] ws)
    {
        if (xs[1] < 0 || xs[2] < 0) return (-1, -1);
        var (g, pool) = op.Geometry(nodeName, new[] { Math.Max(xs[0], 1), xs[1], xs[2], xs[3] }, ws);
        return pool is null ? (g.OutH, g.OutW) : (pool[0].Output, pool[1].Output);
    }
}
