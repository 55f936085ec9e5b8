namespace Vgg.Engine.IR;

// Operator records: pure data, no behaviour. Shape inference, folding and execution live elsewhere
// (ShapeInference, the planner, the backends) and switch over these types.
// Conventions follow ONNX (https://onnx.ai/onnx/operators/) unless a record says otherwise:
//  - spatial attribute arrays (KernelShape, Strides, Dilations) have one entry per spatial axis
//    (1 for NCL, 2 for NCHW);
//  - Pads has 2·spatial entries: all begins, then all ends ([top, left, bottom, right] in 2-D);
//  - an optional input that is absent is the empty string in Node.Inputs.

/// <summary>Base of every operator record.</summary>
public abstract record Op
{
    /// <summary>The ONNX op type this record corresponds to ("Conv", "MaxPool", ...), or an engine name for fused/internal ops.</summary>
    public abstract string OpType { get; }
}

/// <summary>
/// An operator record defined outside the IR (the INT8 and FP16 ops of Engine/Quantization) that states
/// its own output types and evaluates itself, so shape inference, the planner, the reference executor
/// and the CPU backend's reference fallback handle it without a case of their own.
/// </summary>
public interface ISelfDescribingOp
{
    /// <summary>Output dtypes and shapes (−1 dynamic, null shape unknown rank) from the input types (null for an absent input).</summary>
    /// <exception cref="GraphException">Inputs that do not fit the op (names the node and the values).</exception>
    (DType DType, int[]? Shape)[] InferOutputs(string nodeName, IReadOnlyList<ValueInfo?> inputs);

    /// <summary>Evaluates the op on concrete inputs with plain reference loops (one tensor per output).</summary>
    /// <exception cref="GraphException">Inputs that do not fit the op.</exception>
    Tensor[] Evaluate(string nodeName, IReadOnlyList<Tensor?> inputs);
}

/// <summary>Activation fused into an epilogue.</summary>
public enum Activation
{
    None,
    Relu,
}

/// <summary>ONNX auto_pad. NotSet means the explicit pads are used.</summary>
public enum AutoPad
{
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

/// <summary>
/// Convolution (ONNX Conv, torch.nn.Conv2d/Conv1d). Inputs: X [N, C, (H,) W], W [M, C/group, (kh,) kw], optional B [M].
/// Output: Y [N, M, (oh,) ow]. <see cref="Activation"/> and <see cref="FusedMaxPool"/> are set only by the planner's
/// fusion pass: Y = maxpool(act(conv(X, W) + B)).
/// </summary>
public sealed record ConvOp(int[] KernelShape, int[] Strides, int[] Pads, int[] Dilations, int Group, AutoPad AutoPad = AutoPad.NotSet) : Op
{
    public override string OpType => "Conv";
    public Activation Activation { get; init; } = Activation.None;
    public MaxPoolOp? FusedMaxPool { get; init; }

    /// <summary>A 2-D conv with square kernel k, stride s, symmetric padding p, dilation 1, group 1 (torch.nn.Conv2d defaults).</summary>
    public static ConvOp Conv2d(int kernel, int stride = 1, int padding = 0, int groups = 1) =>
        new(new[] { kernel, kernel }, new[] { stride, stride }, new[] { padding, padding, padding, padding }, new[] { 1, 1 }, groups);
}

/// <summary>
/// General matrix multiply (ONNX Gemm): Y = Alpha·op(A)·op(B) + Beta·C, C broadcast to [M, N].
/// torch.nn.Linear is Gemm with TransB = true (weight [out, in]). <see cref="Activation"/> is set by fusion.
/// </summary>
public sealed record GemmOp(float Alpha = 1f, float Beta = 1f, bool TransA = false, bool TransB = false) : Op
{
    public override string OpType => "Gemm";
    public Activation Activation { get; init; } = Activation.None;

    /// <summary>torch.nn.Linear: inputs X [N, in], W [out, in], B [out].</summary>
    public static GemmOp Linear() => new(TransB: true);
}

/// <summary>numpy-style matmul (ONNX MatMul) with batch broadcasting and 1-D promotion.</summary>
public sealed record MatMulOp : Op
{
    public override string OpType => "MatMul";
}

/// <summary>Elementwise binary operators with numpy (multidirectional) broadcasting.</summary>
public enum BinaryKind
{
    Add,
    Sub,
    Mul,
    Div,
}

/// <summary>Elementwise binary op (ONNX Add, Sub, Mul, Div).</summary>
public sealed record BinaryOp(BinaryKind Kind) : Op
{
    public override string OpType => Kind.ToString();
}

/// <summary>Elementwise unary operators.</summary>
public enum UnaryKind
{
    Relu,
    Sigmoid,
    Tanh,
    Neg,
    Exp,
    Sqrt,
    Abs,
}

/// <summary>Elementwise unary op (ONNX Relu, Sigmoid, Tanh, Neg, Exp, Sqrt, Abs).</summary>
public sealed record UnaryOp(UnaryKind Kind) : Op
{
    public override string OpType => Kind.ToString();
}

/// <summary>
/// Max pooling (ONNX MaxPool, torch.nn.MaxPool2d). Output size per axis, with total padding P and
/// effective kernel (k−1)·d+1: floor or (CeilMode) ceil of (L + P − eff) / s, plus 1; in ceil mode a window
/// that would start inside the end padding is dropped (PyTorch and ONNX rule). Padding never wins a max.
/// Optional second output: Indices (int64, flat index into the input's N·C·H·W, or (StorageOrder = 1) column-major).
/// </summary>
public sealed record MaxPoolOp(int[] KernelShape, int[] Strides, int[] Pads, int[] Dilations, bool CeilMode = false, AutoPad AutoPad = AutoPad.NotSet, int StorageOrder = 0) : Op
{
    public override string OpType => "MaxPool";

    /// <summary>torch.nn.MaxPool2d(kernel, stride (default kernel), padding, ceil_mode).</summary>
    public static MaxPoolOp MaxPool2d(int kernel, int? stride = null, int padding = 0, bool ceilMode = false) =>
        new(new[] { kernel, kernel }, new[] { stride ?? kernel, stride ?? kernel }, new[] { padding, padding, padding, padding }, new[] { 1, 1 }, ceilMode);
}

/// <summary>
/// Average pooling (ONNX AveragePool, torch.nn.AvgPool2d). CountIncludePad: divide by the full kernel
/// area including (explicit) padding, else by the number of valid input elements.
/// </summary>
public sealed record AveragePoolOp(int[] KernelShape, int[] Strides, int[] Pads, int[] Dilations, bool CeilMode = false, bool CountIncludePad = false, AutoPad AutoPad = AutoPad.NotSet) : Op
{
    public override string OpType => "AveragePool";
}

/// <summary>
/// torch.nn.AdaptiveAvgPool2d((OutputHeight, OutputWidth)). Bin i along an axis of length L covers
/// [floor(i·L/O), ceil((i+1)·L/O)), PyTorch's rule; bins may overlap when L is not a multiple of O.
/// No ONNX equivalent: export writes it as a constant pooling matrix (MatMul) or AveragePool where exact.
/// </summary>
public sealed record AdaptiveAvgPoolOp(int OutputHeight, int OutputWidth) : Op
{
    public override string OpType => "AdaptiveAvgPool";
}

/// <summary>Mean over all spatial axes (ONNX GlobalAveragePool): [N, C, ...] → [N, C, 1, ...].</summary>
public sealed record GlobalAveragePoolOp : Op
{
    public override string OpType => "GlobalAveragePool";
}

/// <summary>Max over all spatial axes (ONNX GlobalMaxPool).</summary>
public sealed record GlobalMaxPoolOp : Op
{
    public override string OpType => "GlobalMaxPool";
}

/// <summary>ONNX Flatten: [d0..dn] → [d0·…·d(axis−1), d(axis)·…·dn]; negative axis counts from the end. A view.</summary>
public sealed record FlattenOp(int Axis = 1) : Op
{
    public override string OpType => "Flatten";
}

/// <summary>
/// ONNX Reshape. Inputs: data, shape (int64, must be known at plan time: an initializer, a folded
/// constant or a value bound from an input). 0 copies the input dimension unless AllowZero; −1 is inferred. A view.
/// </summary>
public sealed record ReshapeOp(bool AllowZero = false) : Op
{
    public override string OpType => "Reshape";
}

/// <summary>
/// Batch normalization in inference mode (ONNX BatchNormalization, torch BatchNorm1d/2d eval):
/// Y = (X − mean) / sqrt(var + Epsilon) · scale + B over axis 1. Inputs X, scale, B, mean, var.
/// The planner folds it into a preceding conv or linear.
/// </summary>
public sealed record BatchNormOp(float Epsilon = 1e-5f) : Op
{
    public override string OpType => "BatchNormalization";
}

/// <summary>Dropout in inference mode: the identity; optional mask output is all true. Removed by the planner.</summary>
public sealed record DropoutOp : Op
{
    public override string OpType => "Dropout";
}

/// <summary>
/// Softmax along <see cref="Axis"/> (ONNX opset ≥ 13, torch.softmax(dim)). With <see cref="Coerce2D"/>
/// (ONNX opset &lt; 13) the input is viewed as 2-D [prod(d0..axis−1), prod(axis..)] and softmax runs over the second axis.
/// </summary>
public sealed record SoftmaxOp(int Axis = -1, bool Coerce2D = false) : Op
{
    public override string OpType => "Softmax";
}

/// <summary>log(softmax) along <see cref="Axis"/>, computed stably; <see cref="Coerce2D"/> as for <see cref="SoftmaxOp"/>.</summary>
public sealed record LogSoftmaxOp(int Axis = -1, bool Coerce2D = false) : Op
{
    public override string OpType => "LogSoftmax";
}

/// <summary>
/// Mean over <see cref="Axes"/> (ONNX ReduceMean). Axes null: taken from the second input when present
/// (opset 18), else all axes unless NoopWithEmptyAxes.
/// </summary>
public sealed record ReduceMeanOp(int[]? Axes, bool KeepDims = true, bool NoopWithEmptyAxes = false) : Op
{
    public override string OpType => "ReduceMean";
}

/// <summary>ONNX Identity. A view.</summary>
public sealed record IdentityOp : Op
{
    public override string OpType => "Identity";
}

/// <summary>ONNX Cast to <see cref="To"/>. Float to float16/bfloat16 rounds to nearest even.</summary>
public sealed record CastOp(DType To, bool Saturate = true) : Op
{
    public override string OpType => "Cast";
}

/// <summary>
/// ONNX QuantizeLinear: y = saturate(round_half_even(x / scale) + zero_point). Inputs x, y_scale, optional
/// y_zero_point. Scale is a scalar (per tensor), 1-D along <see cref="Axis"/> (per axis) or, with
/// BlockSize &gt; 0, blocked along Axis. Output dtype: the zero point's, else <see cref="OutputDType"/>, else uint8.
/// </summary>
public sealed record QuantizeLinearOp(int Axis = 1, int BlockSize = 0, DType? OutputDType = null, bool Saturate = true) : Op
{
    public override string OpType => "QuantizeLinear";
}

/// <summary>ONNX DequantizeLinear: y = (x − zero_point) · scale, with the scale layouts of <see cref="QuantizeLinearOp"/>.</summary>
public sealed record DequantizeLinearOp(int Axis = 1, int BlockSize = 0) : Op
{
    public override string OpType => "DequantizeLinear";
}

/// <summary>ONNX ConstantOfShape: a tensor of the shape given by the (int64) input, filled with <see cref="Value"/> (one element; default float32 0).</summary>
public sealed record ConstantOfShapeOp(Tensor? Value) : Op
{
    public override string OpType => "ConstantOfShape";
}

/// <summary>ONNX Shape (with opset-15 start/end): the input's dimensions as an int64 1-D tensor.</summary>
public sealed record ShapeOp(int Start = 0, int? End = null) : Op
{
    public override string OpType => "Shape";
}

/// <summary>ONNX Gather along <see cref="Axis"/> with int32/int64 indices (negative indices count from the end).</summary>
public sealed record GatherOp(int Axis = 0) : Op
{
    public override string OpType => "Gather";
}

/// <summary>ONNX Unsqueeze; Axes null means the axes come from the second input (opset ≥ 13).</summary>
public sealed record UnsqueezeOp(int[]? Axes) : Op
{
    public override string OpType => "Unsqueeze";
}

/// <summary>ONNX Squeeze; Axes null means from the second input, or every axis of size 1 when absent.</summary>
public sealed record SqueezeOp(int[]? Axes) : Op
{
    public override string OpType => "Squeeze";
}

/// <summary>ONNX Concat along <see cref="Axis"/>.</summary>
public sealed record ConcatOp(int Axis) : Op
{
    public override string OpType => "Concat";
}

/// <summary>ONNX Constant: no inputs, one output equal to <see cref="Value"/> (any dtype and shape). Folded to an initializer unless it is a graph output.</summary>
public sealed record ConstantOp(Tensor Value) : Op
{
    public override string OpType => "Constant";
}
