using System.Runtime.InteropServices;
using Vgg.Engine.IR;

namespace Vgg.Engine.Cpu.Reference;

/// <summary>
/// A correct, simple implementation of every operator record in <see cref="Op"/>, one node at a time,
/// on host <see cref="Tensor"/>s. Floating-point work is done in double and rounded once to the output
/// dtype (round to nearest even); integer arithmetic is exact and wraps to the type's width. Semantics
/// follow the ONNX operator specification (https://onnx.ai/onnx/operators/) and, where PyTorch defines
/// an op ONNX does not (adaptive average pooling), PyTorch. This is the reference every fast path is
/// tested against and the fallback the CPU backend uses for dtypes its kernels do not cover.
/// </summary>
/// <remarks>
/// Supported spatial ranks for Conv, MaxPool, AveragePool: 1 (NCL) and 2 (NCHW). Dtypes per op:
/// Conv, Gemm, BatchNormalization, AveragePool, pools, Softmax, LogSoftmax, ReduceMean, Sigmoid, Tanh,
/// Exp, Sqrt: float32, float64, float16, bfloat16. MatMul, Add, Sub, Mul, Div: those and every integer
/// type. MaxPool, GlobalMaxPool: floats, int8, uint8. Relu, Neg, Abs: floats and signed integers.
/// QuantizeLinear: float input, uint8/int8/uint16/int16 output. DequantizeLinear: uint8/int8/uint16/
/// int16/int32 input. Cast: between any two of the numeric types and bool. Data movement (Reshape,
/// Flatten, Concat, Gather, Unsqueeze, Squeeze, Identity, Dropout, Shape): any dtype.
/// </remarks>
public static class ReferenceOps
{
    /// <summary>
    /// Runs one node on concrete inputs.
    /// </summary>
    /// <param name="node">The node (its op record and input/output names).</param>
    /// <param name="inputs">One tensor per node input, in order; null for an absent optional input.</param>
    /// <param name="opset">Default-domain opset, for messages.</param>
    /// <returns>One tensor per node output (Dropout's mask and MaxPool's indices only when the node lists them).</returns>
    /// <exception cref="GraphException">Inputs that do not fit the op (shapes, values such as an out-of-range index, integer division by zero).</exception>
    /// <exception cref="UnsupportedOperatorException">An op record or dtype this reference does not implement (names the node).</exception>
    public static Tensor[] Evaluate(Node node, IReadOnlyList<Tensor?> inputs, int opset = 17)
    {
        var types = new ValueInfo?[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
            if (inputs[i] is { } t) types[i] = new ValueInfo(i < node.Inputs.Count ? node.Inputs[i] : $"input{i}", t.DType, t.ShapeArray());
        var outTypes = ShapeInference.InferNode(node, types, inputs, opset);
        var c = new Call(node, inputs, outTypes, opset);
        return node.Op switch
        {
            ConvOp op => One(Conv(c, op)),
            GemmOp op => One(Gemm(c, op)),
            MatMulOp => One(MatMul(c)),
            BinaryOp op => One(Binary(c, op)),
            UnaryOp op => One(Unary(c, op)),
            MaxPoolOp op => MaxPool(c, op),
            AveragePoolOp op => One(AveragePool(c, op)),
            AdaptiveAvgPoolOp op => One(AdaptiveAvgPool(c, op)),
            GlobalAveragePoolOp => One(GlobalPool(c, max: false)),
            GlobalMaxPoolOp => One(GlobalPool(c, max: true)),
            FlattenOp or ReshapeOp or IdentityOp or UnsqueezeOp or SqueezeOp => One(CopyAs(c.In(0), c.OutShape(0))),
            BatchNormOp op => One(BatchNorm(c, op)),
            DropoutOp => Dropout(c),
            SoftmaxOp op => One(Softmax(c, op.Axis, op.Coerce2D, log: false)),
            LogSoftmaxOp op => One(Softmax(c, op.Axis, op.Coerce2D, log: true)),
            ReduceMeanOp op => One(ReduceMean(c, op)),
            CastOp op => One(Cast(c, op)),
            QuantizeLinearOp op => One(Quantize(c, op)),
            DequantizeLinearOp op => One(Dequantize(c, op)),
            ConstantOfShapeOp op => One(ConstantOfShape(c, op)),
            ShapeOp op => One(ShapeOf(c.In(0).ShapeArray(), op)),
            GatherOp op => One(Gather(c, op)),
            ConcatOp op => One(Concat(c, op)),
            ConstantOp op => One(op.Value.Clone()),
            ISelfDescribingOp op => op.Evaluate(node.Name, inputs),
            _ => throw new UnsupportedOperatorException(node.Name, node.Op.OpType, "", opset, "the reference executor does not implement this operator"),
        };
    }

    /// <summary>
    /// Whether <see cref="Evaluate"/> implements <paramref name="op"/> for these input dtypes (null for an
    /// absent input) and spatial rank (input rank − 2 for Conv and pooling; ignored otherwise). When not,
    /// <paramref name="reason"/> says what is missing. Mirrors the table in the class remarks.
    /// </summary>
    public static bool Supports(Op op, IReadOnlyList<DType?> inputs, int inputRank, out string? reason)
    {
        reason = null;
        DType? x = inputs.Count > 0 ? inputs[0] : null;
        bool F(DType? t) => t is { } d && d.IsFloatingPoint();
        bool I(DType? t) => t is { } d && d.IsInteger();
        bool SignedInt(DType? t) => t is DType.Int8 or DType.Int16 or DType.Int32 or DType.Int64;
        string? problem = op switch
        {
            ConvOp or MaxPoolOp or AveragePoolOp when inputRank is not (3 or 4) => $"{inputRank - 2} spatial axes; 1-D (NCL) and 2-D (NCHW) are supported",
            ConvOp or GemmOp or BatchNormOp or AveragePoolOp or AdaptiveAvgPoolOp or GlobalAveragePoolOp or SoftmaxOp or LogSoftmaxOp or ReduceMeanOp
                when !F(x) => $"dtype {x?.Name()} (supported: float32, float64, float16, bfloat16)",
            MatMulOp or BinaryOp when !F(x) && !I(x) => $"dtype {x?.Name()} (supported: floating-point and integer types)",
            MaxPoolOp or GlobalMaxPoolOp when !F(x) && x is not (DType.UInt8 or DType.Int8) => $"dtype {x?.Name()} (supported: floating-point types, int8, uint8)",
            UnaryOp { Kind: UnaryKind.Relu or UnaryKind.Neg or UnaryKind.Abs } when !F(x) && !SignedInt(x) => $"dtype {x?.Name()} (supported: floating-point and signed integer types)",
            UnaryOp { Kind: not (UnaryKind.Relu or UnaryKind.Neg or UnaryKind.Abs) } when !F(x) => $"dtype {x?.Name()} (supported: float32, float64, float16, bfloat16)",
            QuantizeLinearOp when !F(x) => $"input dtype {x?.Name()} (supported: floating-point types)",
            DequantizeLinearOp when x is not (DType.UInt8 or DType.Int8 or DType.UInt16 or DType.Int16 or DType.Int32) => $"input dtype {x?.Name()} (supported: uint8, int8, uint16, int16, int32)",
            ConvOp or GemmOp or MatMulOp or BinaryOp or UnaryOp or MaxPoolOp or AveragePoolOp or AdaptiveAvgPoolOp or GlobalAveragePoolOp
                or GlobalMaxPoolOp or FlattenOp or ReshapeOp or BatchNormOp or DropoutOp or SoftmaxOp or LogSoftmaxOp or ReduceMeanOp
                or IdentityOp or CastOp or QuantizeLinearOp or DequantizeLinearOp or ConstantOfShapeOp or ShapeOp or GatherOp
                or UnsqueezeOp or SqueezeOp or ConcatOp or ConstantOp or ISelfDescribingOp => null,
            _ => "the reference executor does not implement this operator",
        };
        reason = problem;
        return problem is null;
    }

    /// <summary>ONNX Shape of a known shape: the dimensions [start, end) as an int64 1-D tensor.</summary>
    public static Tensor ShapeOf(int[] shape, ShapeOp op)
    {
        var (s, e) = ShapeInference.ShapeSlice(op, shape.Length);
        return Tensor.From(shape[s..e].Select(d => (long)d).ToArray(), e - s);
    }

    // ---------------------------------------------------------------- plumbing

    private static Tensor[] One(Tensor t) => new[] { t };

    private readonly struct Call
    {
        public readonly Node Node;
        public readonly IReadOnlyList<Tensor?> Inputs;
        public readonly ValueInfo[] Outputs;
        public readonly int Opset;

        public Call(Node node, IReadOnlyList<Tensor?> inputs, ValueInfo[] outputs, int opset)
        {
            Node = node; Inputs = inputs; Outputs = outputs; Opset = opset;
        }

        public Tensor In(int i) => i < Inputs.Count && Inputs[i] is { } t ? t : throw new GraphException(Node.Name, $"{Node.Op.OpType} needs input {i}, which is absent");
        public Tensor? Opt(int i) => i < Inputs.Count ? Inputs[i] : null;
        public int[] OutShape(int i) => Outputs[i].Shape ?? throw new GraphException(Node.Name, $"output {i} has no known shape");
        public DType OutDType(int i) => Outputs[i].DType;

        public UnsupportedOperatorException Unsupported(DType t, string supported) =>
            new(Node.Name, Node.Op.OpType, "", Opset, $"dtype {t.Name()} is not supported here (supported: {supported})");

        public void RequireFloat(DType t)
        {
            if (!t.IsFloatingPoint()) throw Unsupported(t, "float32, float64, float16, bfloat16");
        }
    }

    private static Tensor CopyAs(Tensor x, int[] shape) => new(x.DType, shape, x.Bytes.ToArray());

    /// <summary>Unit axis used to run 1-D spatial ops through the 2-D loops.</summary>
    private static readonly SpatialAxis UnitAxis = new(1, 1, 1, 1, 0, 0, 1);

    private static (SpatialAxis H, SpatialAxis W) Axes2D(Call c, SpatialAxis[] axes)
    {
        return axes.Length switch
        {
            1 => (UnitAxis, axes[0]),
            2 => (axes[0], axes[1]),
            _ => throw new UnsupportedOperatorException(c.Node.Name, c.Node.Op.OpType, "", c.Opset, $"{axes.Length} spatial axes; the engine supports 1-D (NCL) and 2-D (NCHW)"),
        };
    }

    // ---------------------------------------------------------------- convolution and matrix products

    private static Tensor Conv(Call c, ConvOp op)
    {
        var x = c.In(0);
        var w = c.In(1);
        var b = c.Opt(2);
        c.RequireFloat(x.DType);
        var xs = x.ShapeArray();
        var ws = w.ShapeArray();
        var kernel = op.KernelShape.Length > 0 ? op.KernelShape : ws[2..];
        var axes = SpatialGeometry.Resolve(c.Node.Name, xs[2..], kernel, op.Strides, op.Pads, op.Dilations, op.AutoPad, false);
        var (ah, aw) = Axes2D(c, axes);
        double[] X = Elements.ToDoubles(x), W = Elements.ToDoubles(w);
        double[]? B = b is null ? null : Elements.ToDoubles(b);
        int n = xs[0], ch = xs[1], m = ws[0], group = op.Group;
        int cg = ch / group, mg = m / group;
        int H = ah.Input, Wd = aw.Input, OH = ah.Output, OW = aw.Output, KH = ah.Kernel, KW = aw.Kernel;
        var Y = new double[(long)n * m * OH * OW];
        for (int ni = 0; ni < n; ni++)
        for (int mi = 0; mi < m; mi++)
        {
            int g = mi / mg;
            for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
            {
                double sum = B?[mi] ?? 0;
                for (int ci = 0; ci < cg; ci++)
                {
                    int ic = g * cg + ci;
                    for (int kh = 0; kh < KH; kh++)
                    {
                        int ih = oh * ah.Stride - ah.PadBegin + kh * ah.Dilation;
                        if ((uint)ih >= (uint)H) continue;
                        for (int kw = 0; kw < KW; kw++)
                        {
                            int iw = ow * aw.Stride - aw.PadBegin + kw * aw.Dilation;
                            if ((uint)iw >= (uint)Wd) continue;
                            sum += X[(((long)ni * ch + ic) * H + ih) * Wd + iw] * W[(((long)mi * cg + ci) * KH + kh) * KW + kw];
                        }
                    }
                }
                if (op.Activation == Activation.Relu && sum < 0) sum = 0;
                Y[(((long)ni * m + mi) * OH + oh) * OW + ow] = sum;
            }
        }
        var convShape = (int[])xs.Clone();
        convShape[1] = m;
        for (int i = 0; i < axes.Length; i++) convShape[2 + i] = axes[i].Output;
        var y = Elements.FromDoubles(x.DType, convShape, Y);
        if (op.FusedMaxPool is not { } mp) return y;
        var pool = new Node(c.Node.Name, mp, new[] { "x" }, new[] { "y" });
        return Evaluate(pool, new[] { y }, c.Opset)[0];
    }

    private static Tensor Gemm(Call c, GemmOp op)
    {
        var a = c.In(0);
        var b = c.In(1);
        var cc = c.Opt(2);
        c.RequireFloat(a.DType);
        var sa = a.ShapeArray();
        var sb = b.ShapeArray();
        int M = op.TransA ? sa[1] : sa[0], K = op.TransA ? sa[0] : sa[1], N = op.TransB ? sb[0] : sb[1];
        double[] A = Elements.ToDoubles(a), Bm = Elements.ToDoubles(b);
        double[]? C = cc is null ? null : Elements.ToDoubles(cc);
        int cRows = 1, cCols = 1;
        if (cc is not null)
        {
            var cs = cc.ShapeArray();
            if (cs.Length == 2) { cRows = cs[0]; cCols = cs[1]; }
            else if (cs.Length == 1) cCols = cs[0];
        }
        var Y = new double[(long)M * N];
        for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
        {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += A[op.TransA ? (long)k * M + i : (long)i * K + k] * Bm[op.TransB ? (long)j * K + k : (long)k * N + j];
            s *= op.Alpha;
            if (C is not null) s += op.Beta * C[(cRows == 1 ? 0 : i) * cCols + (cCols == 1 ? 0 : j)];
            if (op.Activation == Activation.Relu && s < 0) s = 0;
            Y[(long)i * N + j] = s;
        }
        return Elements.FromDoubles(a.DType, new[] { M, N }, Y);
    }

    private static Tensor MatMul(Call c)
    {
        var a = c.In(0);
        var b = c.In(1);
        var sa = a.ShapeArray();
        var sb = b.ShapeArray();
        var pa = sa.Length == 1 ? new[] { 1, sa[0] } : sa;
        var pb = sb.Length == 1 ? new[] { sb[0], 1 } : sb;
        int M = pa[^2], K = pa[^1], N = pb[^1];
        var batch = ShapeInference.Broadcast(c.Node.Name, pa[..^2], pb[..^2]);
        var ia = Elements.BroadcastIndex(pa[..^2], batch);
        var ib = Elements.BroadcastIndex(pb[..^2], batch);
        int nb = ia.Length;
        bool isFloat = a.DType.IsFloatingPoint();
        if (!isFloat && !a.DType.IsInteger()) throw c.Unsupported(a.DType, "floating-point and integer types");
        var outShape = c.OutShape(0);
        if (isFloat)
        {
            double[] A = Elements.ToDoubles(a), B = Elements.ToDoubles(b);
            var Y = new double[(long)nb * M * N];
            for (int t = 0; t < nb; t++)
            for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                double s = 0;
                for (int k = 0; k < K; k++) s += A[((long)ia[t] * M + i) * K + k] * B[((long)ib[t] * K + k) * N + j];
                Y[((long)t * M + i) * N + j] = s;
            }
            return Elements.FromDoubles(a.DType, outShape, Y);
        }
        else
        {
            long[] A = Elements.ToLongs(a), B = Elements.ToLongs(b);
            var Y = new long[(long)nb * M * N];
            for (int t = 0; t < nb; t++)
            for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                long s = 0;
                for (int k = 0; k < K; k++) s = unchecked(s + A[((long)ia[t] * M + i) * K + k] * B[((long)ib[t] * K + k) * N + j]);
                Y[((long)t * M + i) * N + j] = s;
            }
            return Elements.FromLongs(a.DType, outShape, Y);
        }
    }

    // ---------------------------------------------------------------- elementwise

    private static Tensor Binary(Call c, BinaryOp op)
    {
        var a = c.In(0);
        var b = c.In(1);
        var outShape = c.OutShape(0);
        var ia = Elements.BroadcastIndex(a.ShapeArray(), outShape);
        var ib = Elements.BroadcastIndex(b.ShapeArray(), outShape);
        if (a.DType.IsFloatingPoint())
        {
            double[] A = Elements.ToDoubles(a), B = Elements.ToDoubles(b);
            var Y = new double[ia.Length];
            for (int i = 0; i < Y.Length; i++)
            {
                double x = A[ia[i]], y = B[ib[i]];
                Y[i] = op.Kind switch
                {
                    BinaryKind.Add => x + y,
                    BinaryKind.Sub => x - y,
                    BinaryKind.Mul => x * y,
                    _ => x / y,
                };
            }
            // float32 arithmetic rounds each result once; doing it in double and rounding gives the same
            // value for +, -, × and ÷ (double has more than 2·24+2 significand bits).
            return Elements.FromDoubles(a.DType, outShape, Y);
        }
        if (!a.DType.IsInteger()) throw c.Unsupported(a.DType, "floating-point and integer types");
        {
            long[] A = Elements.ToLongs(a), B = Elements.ToLongs(b);
            var Y = new long[ia.Length];
            bool unsigned64 = a.DType == DType.UInt64;
            for (int i = 0; i < Y.Length; i++)
            {
                long x = A[ia[i]], y = B[ib[i]];
                Y[i] = op.Kind switch
                {
                    BinaryKind.Add => unchecked(x + y),
                    BinaryKind.Sub => unchecked(x - y),
                    BinaryKind.Mul => unchecked(x * y),
                    _ => y == 0
                        ? throw new GraphException(c.Node.Name, $"integer division by zero at output index {i}")
                        : unsigned64 ? unchecked((long)((ulong)x / (ulong)y)) : (x == long.MinValue && y == -1 ? long.MinValue : x / y),
                };
            }
            return Elements.FromLongs(a.DType, outShape, Y);
        }
    }

    private static Tensor Unary(Call c, UnaryOp op)
    {
        var x = c.In(0);
        bool intOk = op.Kind is UnaryKind.Relu or UnaryKind.Neg or UnaryKind.Abs;
        if (!x.DType.IsFloatingPoint())
        {
            bool signedInt = x.DType is DType.Int8 or DType.Int16 or DType.Int32 or DType.Int64;
            if (!intOk || !signedInt) throw c.Unsupported(x.DType, intOk ? "floating-point and signed integer types" : "float32, float64, float16, bfloat16");
            var L = Elements.ToLongs(x);
            for (int i = 0; i < L.Length; i++)
                L[i] = op.Kind switch
                {
                    UnaryKind.Relu => Math.Max(0, L[i]),
                    UnaryKind.Neg => unchecked(-L[i]),
                    _ => L[i] < 0 ? unchecked(-L[i]) : L[i],
                };
            return Elements.FromLongs(x.DType, x.ShapeArray(), L);
        }
        var v = Elements.ToDoubles(x);
        for (int i = 0; i < v.Length; i++)
        {
            double t = v[i];
            v[i] = op.Kind switch
            {
                UnaryKind.Relu => t > 0 ? t : (double.IsNaN(t) ? t : 0),
                UnaryKind.Sigmoid => 1 / (1 + Math.Exp(-t)),
                UnaryKind.Tanh => Math.Tanh(t),
                UnaryKind.Neg => -t,
                UnaryKind.Exp => Math.Exp(t),
                UnaryKind.Sqrt => Math.Sqrt(t),
                UnaryKind.Abs => Math.Abs(t),
                _ => throw new UnsupportedOperatorException(c.Node.Name, op.OpType, "", c.Opset, "unknown unary kind"),
            };
        }
        return Elements.FromDoubles(x.DType, x.ShapeArray(), v);
    }

    // ---------------------------------------------------------------- pooling

    private static Tensor[] MaxPool(Call c, MaxPoolOp op)
    {
        var x = c.In(0);
        if (!x.DType.IsFloatingPoint() && x.DType is not (DType.UInt8 or DType.Int8))
            throw c.Unsupported(x.DType, "floating-point types, int8, uint8");
        var xs = x.ShapeArray();
        var axes = SpatialGeometry.Resolve(c.Node.Name, xs[2..], op.KernelShape, op.Strides, op.Pads, op.Dilations, op.AutoPad, op.CeilMode);
        var (ah, aw) = Axes2D(c, axes);
        var X = Elements.ToDoubles(x);
        int planes = xs[0] * xs[1];
        int H = ah.Input, W = aw.Input, OH = ah.Output, OW = aw.Output;
        var Y = new double[(long)planes * OH * OW];
        var I = new long[Y.Length];
        for (int p = 0; p < planes; p++)
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
        {
            double best = double.NegativeInfinity;
            long bestIndex = -1;
            for (int kh = 0; kh < ah.Kernel; kh++)
            {
                int ih = oh * ah.Stride - ah.PadBegin + kh * ah.Dilation;
                if ((uint)ih >= (uint)H) continue;
                for (int kw = 0; kw < aw.Kernel; kw++)
                {
                    int iw = ow * aw.Stride - aw.PadBegin + kw * aw.Dilation;
                    if ((uint)iw >= (uint)W) continue;
                    double v = X[((long)p * H + ih) * W + iw];
                    if (v > best || bestIndex < 0 || double.IsNaN(v) && !double.IsNaN(best))
                    {
                        best = v;
                        bestIndex = (long)p * H * W + (op.StorageOrder == 0 ? (long)ih * W + iw : (long)iw * H + ih);
                    }
                }
            }
            long o = ((long)p * OH + oh) * OW + ow;
            Y[o] = best;
            I[o] = bestIndex;
        }
        var shape = c.OutShape(0);
        var y = Elements.FromDoubles(x.DType, shape, Y);
        return c.Node.Outputs.Count > 1 && c.Node.Outputs[1].Length > 0
            ? new[] { y, Elements.FromLongs(DType.Int64, shape, I) }
            : new[] { y };
    }

    private static Tensor AveragePool(Call c, AveragePoolOp op)
    {
        var x = c.In(0);
        c.RequireFloat(x.DType);
        var xs = x.ShapeArray();
        var axes = SpatialGeometry.Resolve(c.Node.Name, xs[2..], op.KernelShape, op.Strides, op.Pads, op.Dilations, op.AutoPad, op.CeilMode);
        var (ah, aw) = Axes2D(c, axes);
        var X = Elements.ToDoubles(x);
        int planes = xs[0] * xs[1];
        int H = ah.Input, W = aw.Input, OH = ah.Output, OW = aw.Output;
        var Y = new double[(long)planes * OH * OW];
        for (int p = 0; p < planes; p++)
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
        {
            double sum = 0;
            int valid = 0, inPadded = 0;
            for (int kh = 0; kh < ah.Kernel; kh++)
            {
                int ih = oh * ah.Stride - ah.PadBegin + kh * ah.Dilation;
                bool hPadded = ih >= -ah.PadBegin && ih < H + ah.PadEnd;
                for (int kw = 0; kw < aw.Kernel; kw++)
                {
                    int iw = ow * aw.Stride - aw.PadBegin + kw * aw.Dilation;
                    if (hPadded && iw >= -aw.PadBegin && iw < W + aw.PadEnd) inPadded++;
                    if ((uint)ih >= (uint)H || (uint)iw >= (uint)W) continue;
                    sum += X[((long)p * H + ih) * W + iw];
                    valid++;
                }
            }
            // count_include_pad: taps inside the explicitly padded input (PyTorch's divisor
            // (hend − hstart)·(wend − wstart) with hend clipped to H + pad); a ceil-mode overhang is not counted.
            int divisor = op.CountIncludePad ? inPadded : valid;
            Y[((long)p * OH + oh) * OW + ow] = divisor == 0 ? double.NaN : sum / divisor;
        }
        return Elements.FromDoubles(x.DType, c.OutShape(0), Y);
    }

    private static Tensor AdaptiveAvgPool(Call c, AdaptiveAvgPoolOp op)
    {
        var x = c.In(0);
        c.RequireFloat(x.DType);
        var xs = x.ShapeArray();
        int planes = xs[0] * xs[1], H = xs[2], W = xs[3], OH = op.OutputHeight, OW = op.OutputWidth;
        if (H == 0 || W == 0) throw new GraphException(c.Node.Name, $"AdaptiveAvgPool: input {x} has an empty spatial axis");
        var X = Elements.ToDoubles(x);
        var Y = new double[(long)planes * OH * OW];
        for (int p = 0; p < planes; p++)
        for (int oh = 0; oh < OH; oh++)
        {
            var (h0, h1) = SpatialGeometry.AdaptiveBin(oh, H, OH);
            for (int ow = 0; ow < OW; ow++)
            {
                var (w0, w1) = SpatialGeometry.AdaptiveBin(ow, W, OW);
                double sum = 0;
                for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++)
                    sum += X[((long)p * H + ih) * W + iw];
                Y[((long)p * OH + oh) * OW + ow] = sum / ((h1 - h0) * (w1 - w0));
            }
        }
        return Elements.FromDoubles(x.DType, c.OutShape(0), Y);
    }

    private static Tensor GlobalPool(Call c, bool max)
    {
        var x = c.In(0);
        if (!x.DType.IsFloatingPoint() && !(max && x.DType is DType.UInt8 or DType.Int8))
            throw c.Unsupported(x.DType, max ? "floating-point types, int8, uint8" : "float32, float64, float16, bfloat16");
        var xs = x.ShapeArray();
        int planes = xs[0] * xs[1];
        long area = Tensor.Product(xs[2..]);
        var X = Elements.ToDoubles(x);
        var Y = new double[planes];
        for (int p = 0; p < planes; p++)
        {
            double acc = max ? double.NegativeInfinity : 0;
            for (long i = 0; i < area; i++)
            {
                double v = X[p * area + i];
                acc = max ? (v > acc || double.IsNaN(v) ? v : acc) : acc + v;
            }
            Y[p] = max ? acc : acc / area;
        }
        return Elements.FromDoubles(x.DType, c.OutShape(0), Y);
    }

    // ---------------------------------------------------------------- normalization and activations over an axis

    private static Tensor BatchNorm(Call c, BatchNormOp op)
    {
        var x = c.In(0);
        c.RequireFloat(x.DType);
        var xs = x.ShapeArray();
        double[] X = Elements.ToDoubles(x), S = Elements.ToDoubles(c.In(1)), B = Elements.ToDoubles(c.In(2)),
            Mean = Elements.ToDoubles(c.In(3)), Var = Elements.ToDoubles(c.In(4));
        int n = xs[0], ch = xs[1];
        long inner = Tensor.Product(xs[2..]);
        var Y = new double[X.Length];
        for (int ni = 0; ni < n; ni++)
        for (int ci = 0; ci < ch; ci++)
        {
            double scale = S[ci] / Math.Sqrt(Var[ci] + op.Epsilon);
            double shift = B[ci] - Mean[ci] * scale;
            long o = ((long)ni * ch + ci) * inner;
            for (long i = 0; i < inner; i++) Y[o + i] = X[o + i] * scale + shift;
        }
        return Elements.FromDoubles(x.DType, xs, Y);
    }

    private static Tensor[] Dropout(Call c)
    {
        var x = c.In(0);
        var y = CopyAs(x, x.ShapeArray());
        if (c.Node.Outputs.Count < 2 || c.Node.Outputs[1].Length == 0) return new[] { y };
        var mask = new Tensor(DType.Bool, x.ShapeArray());
        mask.Bytes.Fill(1);
        return new[] { y, mask };
    }

    private static Tensor Softmax(Call c, int axisAttr, bool coerce2D, bool log)
    {
        var x = c.In(0);
        c.RequireFloat(x.DType);
        var xs = x.ShapeArray();
        int r = xs.Length;
        int axis = axisAttr < 0 ? axisAttr + r : axisAttr;
        long outer = Tensor.Product(xs[..axis]);
        long len, inner;
        if (coerce2D) { len = Tensor.Product(xs[axis..]); inner = 1; }
        else { len = xs[axis]; inner = Tensor.Product(xs[(axis + 1)..]); }
        var X = Elements.ToDoubles(x);
        var Y = new double[X.Length];
        for (long o = 0; o < outer; o++)
        for (long i = 0; i < inner; i++)
        {
            long b = o * len * inner + i;
            double mx = double.NegativeInfinity;
            for (long k = 0; k < len; k++) mx = Math.Max(mx, X[b + k * inner]);
            double sum = 0;
            for (long k = 0; k < len; k++) sum += Math.Exp(X[b + k * inner] - mx);
            double logSum = Math.Log(sum);
            for (long k = 0; k < len; k++)
            {
                double d = X[b + k * inner] - mx;
                Y[b + k * inner] = log ? d - logSum : Math.Exp(d) / sum;
            }
        }
        return Elements.FromDoubles(x.DType, xs, Y);
    }

    private static Tensor ReduceMean(Call c, ReduceMeanOp op)
    {
        var x = c.In(0);
        c.RequireFloat(x.DType);
        var xs = x.ShapeArray();
        var axes = ShapeInference.ReduceAxes(c.Node.Name, op, xs.Length, c.Opt(1), c.Opt(1) is not null)!;
        var outShape = c.OutShape(0);
        if (axes.Length == 0) return CopyAs(x, outShape);
        // Output index of each input element: reduced coordinates become 0 (keepdims or not, the order is the same).
        var kept = xs.Select((d, i) => Array.IndexOf(axes, i) >= 0 ? 1 : d).ToArray();
        var keptStrides = Elements.Strides(kept);
        var X = Elements.ToDoubles(x);
        var sums = new double[Tensor.Product(kept)];
        var coord = new int[xs.Length];
        long outIdx = 0;
        for (long k = 0; k < X.Length; k++)
        {
            sums[outIdx] += X[k];
            for (int d = xs.Length - 1; d >= 0; d--)
            {
                coord[d]++;
                bool reduced = Array.IndexOf(axes, d) >= 0;
                if (!reduced) outIdx += keptStrides[d];
                if (coord[d] < xs[d]) break;
                if (!reduced) outIdx -= keptStrides[d] * coord[d];
                coord[d] = 0;
            }
        }
        long count = 1;
        foreach (var a in axes) count *= xs[a];
        for (int i = 0; i < sums.Length; i++) sums[i] /= count;
        return Elements.FromDoubles(x.DType, outShape, sums);
    }

    // ---------------------------------------------------------------- type conversion and quantization

    private static Tensor Cast(Call c, CastOp op)
    {
        var x = c.In(0);
        var shape = x.ShapeArray();
        if (x.DType == op.To) return CopyAs(x, shape);
        if (x.DType.IsInteger() && (op.To.IsInteger() || op.To == DType.Bool))
            return Elements.FromLongs(op.To, shape, Elements.ToLongs(x));
        // Through double: exact for every source except int64/uint64 beyond 2^53 (rounded twice);
        // float64 → bfloat16 rounds via float32, as ONNX's reference does.
        return Elements.FromDoubles(op.To, shape, Elements.ToDoubles(x));
    }

    private static (long Min, long Max) IntRange(DType t) => t switch
    {
        DType.UInt8 => (byte.MinValue, byte.MaxValue),
        DType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        DType.UInt16 => (ushort.MinValue, ushort.MaxValue),
        DType.Int16 => (short.MinValue, short.MaxValue),
        DType.Int32 => (int.MinValue, int.MaxValue),
        _ => throw new NotSupportedException(t.Name()),
    };

    /// <summary>Index into the scale/zero-point tensor for every element of x (per tensor, per axis or blocked).</summary>
    private static int[] ScaleIndex(Call c, int[] xs, int[] ss, int axisAttr, int blockSize)
    {
        long n = Tensor.Product(xs);
        var map = new int[n];
        bool perTensor = ss.Length == 0 || (ss.Length == 1 && ss[0] == 1 && blockSize == 0);
        if (perTensor) return map;
        int axis = axisAttr < 0 ? axisAttr + xs.Length : axisAttr;
        long outer = Tensor.Product(xs[..axis]);
        int len = xs[axis];
        long inner = Tensor.Product(xs[(axis + 1)..]);
        int blocks = blockSize > 0 ? (len + blockSize - 1) / blockSize : 0;
        long k = 0;
        for (long o = 0; o < outer; o++)
        for (int a = 0; a < len; a++)
        for (long i = 0; i < inner; i++)
            map[k++] = blockSize > 0 ? (int)((o * blocks + a / blockSize) * inner + i) : a;
        return map;
    }

    private static Tensor Quantize(Call c, QuantizeLinearOp op)
    {
        var x = c.In(0);
        var scale = c.In(1);
        var zp = c.Opt(2);
        c.RequireFloat(x.DType);
        var dt = c.OutDType(0);
        if (dt is not (DType.UInt8 or DType.Int8 or DType.UInt16 or DType.Int16))
            throw c.Unsupported(dt, "uint8, int8, uint16, int16 outputs");
        var (lo, hi) = IntRange(dt);
        var xs = x.ShapeArray();
        var map = ScaleIndex(c, xs, scale.ShapeArray(), op.Axis, op.BlockSize);
        var X = Elements.ToDoubles(x);
        var S = Elements.ToDoubles(scale);
        long[]? Z = zp is null ? null : Elements.ToLongs(zp);
        var Y = new long[X.Length];
        for (int i = 0; i < X.Length; i++)
        {
            // ONNX reference: rint(x / scale) in the input's precision (float32 division for float32), then + zero point, saturate.
            double q = x.DType == DType.Float64 ? X[i] / S[map[i]] : (float)X[i] / (float)S[map[i]];
            double r = Math.Round(q, MidpointRounding.ToEven);
            double v = r + (Z?[map[i]] ?? 0);
            Y[i] = double.IsNaN(v) ? 0 : (long)Math.Clamp(v, lo, hi);
        }
        return Elements.FromLongs(dt, xs, Y);
    }

    private static Tensor Dequantize(Call c, DequantizeLinearOp op)
    {
        var x = c.In(0);
        var scale = c.In(1);
        var zp = c.Opt(2);
        if (x.DType is not (DType.UInt8 or DType.Int8 or DType.UInt16 or DType.Int16 or DType.Int32))
            throw c.Unsupported(x.DType, "uint8, int8, uint16, int16, int32 inputs");
        c.RequireFloat(scale.DType);
        var xs = x.ShapeArray();
        var map = ScaleIndex(c, xs, scale.ShapeArray(), op.Axis, op.BlockSize);
        var X = Elements.ToLongs(x);
        var S = Elements.ToDoubles(scale);
        long[]? Z = zp is null ? null : Elements.ToLongs(zp);
        var Y = new double[X.Length];
        for (int i = 0; i < X.Length; i++)
        {
            // (x − zero_point) is exact in float32 for 16-bit types; one product rounded in the scale's precision.
            double d = X[i] - (Z?[map[i]] ?? 0);
            Y[i] = scale.DType == DType.Float64 ? d * S[map[i]] : (float)d * (float)S[map[i]];
        }
        return Elements.FromDoubles(scale.DType, xs, Y);
    }

    // ---------------------------------------------------------------- shape and data movement

    private static Tensor ConstantOfShape(Call c, ConstantOfShapeOp op)
    {
        var shape = c.OutShape(0);
        var value = op.Value ?? Tensor.Scalar(0f);
        var t = new Tensor(value.DType, shape);
        int es = value.DType.SizeOf();
        var dst = t.Bytes;
        if (dst.Length == 0) return t;
        value.Bytes[..es].CopyTo(dst);
        // Doubling copies: the filled prefix is copied after itself until the buffer is full.
        for (int filled = es; filled < dst.Length; filled *= 2)
            dst[..Math.Min(filled, dst.Length - filled)].CopyTo(dst[filled..]);
        return t;
    }

    private static Tensor Gather(Call c, GatherOp op)
    {
        var data = c.In(0);
        var indices = c.In(1);
        var ds = data.ShapeArray();
        int axis = op.Axis < 0 ? op.Axis + ds.Length : op.Axis;
        long outer = Tensor.Product(ds[..axis]);
        int len = ds[axis];
        int es = data.DType.SizeOf();
        long innerBytes = Tensor.Product(ds[(axis + 1)..]) * es;
        var idx = Elements.ToLongs(indices);
        var t = new Tensor(data.DType, c.OutShape(0));
        var src = data.Bytes;
        var dst = t.Bytes;
        long w = 0;
        for (long o = 0; o < outer; o++)
        for (int j = 0; j < idx.Length; j++)
        {
            long i = idx[j];
            if (i < -len || i >= len)
                throw new GraphException(c.Node.Name, $"Gather: index {i} is out of range for dimension {axis} of size {len} (data {data})");
            if (i < 0) i += len;
            src.Slice((int)((o * len + i) * innerBytes), (int)innerBytes).CopyTo(dst.Slice((int)w, (int)innerBytes));
            w += innerBytes;
        }
        return t;
    }

    private static Tensor Concat(Call c, ConcatOp op)
    {
        var parts = Enumerable.Range(0, c.Inputs.Count).Where(i => c.Inputs[i] is not null).Select(i => c.Inputs[i]!).ToList();
        var outShape = c.OutShape(0);
        int axis = op.Axis < 0 ? op.Axis + outShape.Length : op.Axis;
        long outer = Tensor.Product(outShape[..axis]);
        int es = parts[0].DType.SizeOf();
        var t = new Tensor(parts[0].DType, outShape);
        var dst = t.Bytes;
        long w = 0;
        for (long o = 0; o < outer; o++)
            foreach (var p in parts)
            {
                int chunk = (int)(Tensor.Product(p.ShapeArray()[axis..]) * es);
                p.Bytes.Slice((int)(o * chunk), chunk).CopyTo(dst.Slice((int)w, chunk));
                w += chunk;
            }
        return t;
    }

    /// <summary>A float32 tensor's data as a span (test and backend helper).</summary>
    internal static Span<float> Floats(Tensor t) => MemoryMarshal.Cast<byte, float>(t.Bytes);
}
