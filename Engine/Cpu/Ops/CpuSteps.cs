using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;
using Vgg.Engine.Planning;

namespace Vgg.Engine.Cpu.Ops;

/// <summary>Splitting work into parallel chunks.</summary>
internal static class Chunks
{
    /// <summary>Number of chunks for <paramref name="total"/> items: about 4 per thread, at least <paramref name="minPerChunk"/> items each.</summary>
    public static int Count(long total, int threads, long minPerChunk = 1)
    {
        if (total <= 0) return 0;
        long byMin = Math.Max(1, total / Math.Max(1, minPerChunk));
        return (int)Math.Max(1, Math.Min(Math.Min(byMin, 4L * threads), total));
    }

    /// <summary>Range [start, end) of chunk <paramref name="i"/> of <paramref name="count"/> over <paramref name="total"/>.</summary>
    public static (long Start, long End) Range(long total, int count, int i) => (total * i / count, total * (i + 1) / count);
}

/// <summary>Pinned float32 copies of small constants (biases, broadcast operands), so kernels can take pointers.</summary>
internal static class Pinned
{
    public static float[] Copy(Tensor t)
    {
        var a = GC.AllocateArray<float>((int)t.ElementCount, pinned: true);
        t.AsSpan<float>().CopyTo(a);
        return a;
    }
}

/// <summary>A view step: nothing to do (the output aliases the input's bytes).</summary>
internal sealed class ViewStep : CpuStep
{
    public ViewStep(PlanStep step) : base(step) { }
    public override string Algorithm => "view";
    public override void Run(CpuRunState state) { }
}

/// <summary>Spatial axes of a 1-D or 2-D window op as (H, W); 1-D runs with H = 1.</summary>
internal static class Axes2D
{
    public static readonly SpatialAxis Unit = new(1, 1, 1, 1, 0, 0, 1);

    public static (SpatialAxis H, SpatialAxis W) Of(SpatialAxis[] axes) => axes.Length == 1 ? (Unit, axes[0]) : (axes[0], axes[1]);
}

/// <summary>Float32 pooling kernels on one [H, W] plane.</summary>
internal static unsafe class PoolPlanes
{
    public static void Max(float* x, float* y, SpatialAxis ah, SpatialAxis aw)
    {
        int H = ah.Input, W = aw.Input;
        if (ah.Kernel == 2 && aw.Kernel == 2 && ah.Stride == 2 && aw.Stride == 2 && ah.Dilation == 1 && aw.Dilation == 1
            && ah.PadBegin == 0 && aw.PadBegin == 0 && 2 * ah.Output <= H && 2 * aw.Output <= W)
        {
            // VGG's 2×2 stride-2 pool, every window inside the input.
            for (int oh = 0; oh < ah.Output; oh++)
            {
                float* r0 = x + (long)2 * oh * W, r1 = r0 + W;
                float* o = y + (long)oh * aw.Output;
                for (int ow = 0; ow < aw.Output; ow++)
                {
                    float m = r0[2 * ow];
                    m = Pick(m, r0[2 * ow + 1]);
                    m = Pick(m, r1[2 * ow]);
                    o[ow] = Pick(m, r1[2 * ow + 1]);
                }
            }
            return;
        }
        for (int oh = 0; oh < ah.Output; oh++)
        {
            int hs = oh * ah.Stride - ah.PadBegin;
            for (int ow = 0; ow < aw.Output; ow++)
            {
                int ws = ow * aw.Stride - aw.PadBegin;
                float m = float.NegativeInfinity;
                for (int kh = 0; kh < ah.Kernel; kh++)
                {
                    int ih = hs + kh * ah.Dilation;
                    if ((uint)ih >= (uint)H) continue;
                    float* row = x + (long)ih * W;
                    for (int kw = 0; kw < aw.Kernel; kw++)
                    {
                        int iw = ws + kw * aw.Dilation;
                        if ((uint)iw < (uint)W) m = Pick(m, row[iw]);
                    }
                }
                y[(long)oh * aw.Output + ow] = m;
            }
        }
    }

    /// <summary>max that propagates NaN (as torch.max_pool2d and the reference do).</summary>
    private static float Pick(float m, float v) => v > m || float.IsNaN(v) ? (float.IsNaN(m) ? m : v) : m;

    public static void Average(float* x, float* y, SpatialAxis ah, SpatialAxis aw, bool countIncludePad)
    {
        int H = ah.Input, W = aw.Input;
        for (int oh = 0; oh < ah.Output; oh++)
        {
            int hs = oh * ah.Stride - ah.PadBegin;
            for (int ow = 0; ow < aw.Output; ow++)
            {
                int ws = ow * aw.Stride - aw.PadBegin;
                float sum = 0;
                int valid = 0, padded = 0;
                for (int kh = 0; kh < ah.Kernel; kh++)
                {
                    int ih = hs + kh * ah.Dilation;
                    bool hp = ih >= -ah.PadBegin && ih < H + ah.PadEnd;
                    for (int kw = 0; kw < aw.Kernel; kw++)
                    {
                        int iw = ws + kw * aw.Dilation;
                        if (hp && iw >= -aw.PadBegin && iw < W + aw.PadEnd) padded++;
                        if ((uint)ih >= (uint)H || (uint)iw >= (uint)W) continue;
                        sum += x[(long)ih * W + iw];
                        valid++;
                    }
                }
                int d = countIncludePad ? padded : valid;
                y[(long)oh * aw.Output + ow] = d == 0 ? float.NaN : sum / d;
            }
        }
    }
}

/// <summary>Conv (+bias, +ReLU, +fused max-pool) on float32 NCHW/NCL with constant weights, through a chosen <see cref="IConvKernel"/>.</summary>
internal sealed unsafe class ConvStep : CpuStep
{
    private readonly ConvGeometry _g;
    private readonly IConvKernel _kernel;
    private readonly IPreparedConv _conv;
    private readonly SpatialAxis _ph, _pw;
    private readonly bool _fusedPool;
    private readonly long _inImage, _convImage, _outImage;

    public ConvStep(PlanStep step, int threads, WeightCache cache) : base(step)
    {
        var op = (ConvOp)step.Op;
        var x = step.Inputs[0]!;
        var w = step.Inputs[1]!;
        var b = step.Inputs.Length > 2 ? step.Inputs[2] : null;
        var xs = x.Shape;
        var kernel = op.KernelShape.Length > 0 ? op.KernelShape : w.Shape[2..];
        var axes = SpatialGeometry.Resolve(step.Node.Name, xs[2..], kernel, op.Strides, op.Pads, op.Dilations, op.AutoPad, false);
        var (ah, aw) = Axes2D.Of(axes);
        _fusedPool = op.FusedMaxPool is not null;
        _g = new ConvGeometry(_fusedPool ? 1 : xs[0], xs[1], ah.Input, aw.Input, w.Shape[0], op.Group, ah.Kernel, aw.Kernel,
            ah.Stride, aw.Stride, ah.PadBegin, aw.PadBegin, ah.Dilation, aw.Dilation, ah.Output, aw.Output, op.Activation == Activation.Relu);
        _kernel = CpuKernelRegistry.ChooseConv(_g);
        _conv = _kernel.Prepare(_g, w.Constant!, b?.Constant, threads, cache);
        _inImage = (long)_g.C * _g.H * _g.W;
        _convImage = (long)_g.M * _g.Pixels;
        _outImage = _convImage;
        if (op.FusedMaxPool is { } mp)
        {
            int[] convSpatial = axes.Length == 1 ? new[] { _g.OW } : new[] { _g.OH, _g.OW };
            var pa = SpatialGeometry.Resolve(step.Node.Name, convSpatial, mp.KernelShape, mp.Strides, mp.Pads, mp.Dilations, mp.AutoPad, mp.CeilMode);
            (_ph, _pw) = Axes2D.Of(pa);
            _outImage = (long)_g.M * _ph.Output * _pw.Output;
        }
    }

    public override string Algorithm => _kernel.Name + (_fusedPool ? " + fused max-pool" : "");
    public override long SharedWorkspaceBytes => _fusedPool ? _convImage * 4 : 0;
    public override long SlotWorkspaceBytes => _conv.WorkspaceFloatsPerSlot * 4;

    public override void Run(CpuRunState s)
    {
        int batch = Step.Inputs[0]!.Shape[0];
        if (!_fusedPool)
        {
            s.Parallel(this, 0, batch * _conv.TasksPerImage);
            return;
        }
        for (int img = 0; img < batch; img++)
        {
            s.Image = img;
            s.Parallel(this, 1, _conv.TasksPerImage);
            s.Parallel(this, 2, _g.M);
        }
    }

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        float* x = F(s, Step.Inputs[0]!);
        float* y = F(s, Step.Outputs[0]);
        switch (phase)
        {
            case 0:
            {
                int tpi = _conv.TasksPerImage;
                int img = index / tpi;
                _conv.Execute(index - img * tpi, x + img * _inImage, y + img * _convImage, s.SlotWorkspace(slot));
                break;
            }
            case 1:
                _conv.Execute(index, x + s.Image * _inImage, (float*)s.Shared, s.SlotWorkspace(slot));
                break;
            default:
            {
                var ch = new SpatialAxis(_g.OH, _ph.Kernel, _ph.Stride, _ph.Dilation, _ph.PadBegin, _ph.PadEnd, _ph.Output);
                var cw = new SpatialAxis(_g.OW, _pw.Kernel, _pw.Stride, _pw.Dilation, _pw.PadBegin, _pw.PadEnd, _pw.Output);
                PoolPlanes.Max((float*)s.Shared + (long)index * _g.Pixels, y + s.Image * _outImage + (long)index * _ph.Output * _pw.Output, ch, cw);
                break;
            }
        }
    }
}

/// <summary>ONNX Gemm on float32: Y = Alpha·op(A)·op(B) + Beta·C (C broadcast), ReLU optional.</summary>
internal sealed unsafe class GemmStep : CpuStep
{
    private readonly IPreparedGemm _gemm;
    private readonly IGemmKernel _kernel;
    private readonly int _m, _n, _cRows, _cCols;
    private readonly float _beta;
    private readonly float[]? _aConst, _cConst;

    public GemmStep(PlanStep step, int threads, WeightCache cache) : base(step)
    {
        var op = (GemmOp)step.Op;
        var a = step.Inputs[0]!;
        var b = step.Inputs[1]!;
        var c = step.Inputs.Length > 2 ? step.Inputs[2] : null;
        _m = op.TransA ? a.Shape[1] : a.Shape[0];
        int k = op.TransA ? a.Shape[0] : a.Shape[1];
        _n = op.TransB ? b.Shape[0] : b.Shape[1];
        _beta = op.Beta;
        _aConst = a.IsConstant ? Pinned.Copy(a.Constant!) : null;
        _kernel = CpuKernelRegistry.Gemm;
        _gemm = _kernel.Prepare(_m, _n, k, op.TransA, op.TransB, op.Alpha, op.Activation == Activation.Relu, b.Constant, threads, cache);
        if (c is not null)
        {
            (_cRows, _cCols) = c.Shape.Length switch { 0 => (1, 1), 1 => (1, c.Shape[0]), _ => (c.Shape[0], c.Shape[1]) };
            if (c.IsConstant) _cConst = Pinned.Copy(c.Constant!);
        }
    }

    public override string Algorithm => _gemm is Kernels.FastGemmKernel.RowMajorGemv ? Kernels.FastGemmKernel.RowMajorGemv.Name : _kernel.Name;
    public override long SlotWorkspaceBytes => _gemm.WorkspaceFloatsPerSlot * 4;

    public override void Run(CpuRunState s)
    {
        s.Parallel(this, 0, Chunks.Count(_m, s.Threads, 16));
        s.Parallel(this, 1, _gemm.Tasks);
    }

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        float* y = F(s, Step.Outputs[0]);
        if (phase == 0)
        {
            var (r0, r1) = Chunks.Range(_m, Chunks.Count(_m, s.Threads, 16), index);
            var cv = Step.Inputs.Length > 2 ? Step.Inputs[2] : null;
            fixed (float* cc = _cConst)
            {
                float* c = cv is null ? null : cv.IsConstant ? cc : F(s, cv);
                for (long i = r0; i < r1; i++)
                {
                    float* row = y + i * _n;
                    if (c is null) { new Span<float>(row, _n).Clear(); continue; }
                    float* crow = c + (_cRows == 1 ? 0 : i) * _cCols;
                    for (int j = 0; j < _n; j++) row[j] = _beta * crow[_cCols == 1 ? 0 : j];
                }
            }
            return;
        }
        var av = Step.Inputs[0]!;
        var bv = Step.Inputs[1]!;
        fixed (float* ac = _aConst)
        {
            float* a = av.IsConstant ? ac : F(s, av);
            float* b = bv.IsConstant ? null : F(s, bv); // a constant B is packed inside the prepared GEMM
            _gemm.Execute(index, a, b, y, s.SlotWorkspace(slot));
        }
    }
}

/// <summary>numpy matmul on float32 with batch broadcasting and 1-D promotion.</summary>
internal sealed unsafe class MatMulStep : CpuStep
{
    private readonly IPreparedGemm _gemm;
    private readonly int _m, _n, _k;
    private readonly int[] _aBatch, _bBatch;
    private readonly bool _constB2D;

    public MatMulStep(PlanStep step, int threads, WeightCache cache) : base(step)
    {
        var a = step.Inputs[0]!;
        var b = step.Inputs[1]!;
        var pa = a.Shape.Length == 1 ? new[] { 1, a.Shape[0] } : a.Shape;
        var pb = b.Shape.Length == 1 ? new[] { b.Shape[0], 1 } : b.Shape;
        _m = pa[^2]; _k = pa[^1]; _n = pb[^1];
        var batch = ShapeInference.Broadcast(step.Node.Name, pa[..^2], pb[..^2]);
        _aBatch = Elements.BroadcastIndex(pa[..^2], batch);
        _bBatch = Elements.BroadcastIndex(pb[..^2], batch);
        _constB2D = b.IsConstant && pb.Length == 2;
        // A constant B is packed once (cached under its tensor); the backend sends other constant operands to the reference path.
        _gemm = CpuKernelRegistry.Gemm.Prepare(_m, _n, _k, false, false, 1f, false, _constB2D ? b.Constant! : null, threads, cache);
    }

    public override long SlotWorkspaceBytes => _gemm.WorkspaceFloatsPerSlot * 4;

    public override void Run(CpuRunState s)
    {
        long total = (long)_aBatch.Length * _m * _n;
        new Span<float>(F(s, Step.Outputs[0]), (int)total).Clear();
        s.Parallel(this, 0, _aBatch.Length * _gemm.Tasks);
    }

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        int t = _gemm.Tasks;
        int bi = index / t;
        float* a = F(s, Step.Inputs[0]!) + (long)_aBatch[bi] * _m * _k;
        float* b = _constB2D ? null : F(s, Step.Inputs[1]!) + (long)_bBatch[bi] * _k * _n;
        _gemm.Execute(index - bi * t, a, b, F(s, Step.Outputs[0]) + (long)bi * _m * _n, s.SlotWorkspace(slot));
    }
}

/// <summary>MaxPool (without indices) and AveragePool on float32, 1-D and 2-D; parallel over planes.</summary>
internal sealed unsafe class PoolStep : CpuStep
{
    private readonly SpatialAxis _h, _w;
    private readonly bool _max, _includePad;
    private readonly int _planes;

    public PoolStep(PlanStep step) : base(step)
    {
        var xs = step.Inputs[0]!.Shape;
        SpatialAxis[] axes = step.Op switch
        {
            MaxPoolOp m => SpatialGeometry.Resolve(step.Node.Name, xs[2..], m.KernelShape, m.Strides, m.Pads, m.Dilations, m.AutoPad, m.CeilMode),
            AveragePoolOp a => SpatialGeometry.Resolve(step.Node.Name, xs[2..], a.KernelShape, a.Strides, a.Pads, a.Dilations, a.AutoPad, a.CeilMode),
            _ => throw new InvalidOperationException(),
        };
        (_h, _w) = Axes2D.Of(axes);
        _max = step.Op is MaxPoolOp;
        _includePad = step.Op is AveragePoolOp { CountIncludePad: true };
        _planes = xs[0] * xs[1];
    }

    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count(_planes, s.Threads));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        var (p0, p1) = Chunks.Range(_planes, Chunks.Count(_planes, s.Threads), index);
        float* x = F(s, Step.Inputs[0]!);
        float* y = F(s, Step.Outputs[0]);
        long inPlane = (long)_h.Input * _w.Input, outPlane = (long)_h.Output * _w.Output;
        for (long p = p0; p < p1; p++)
        {
            if (_max) PoolPlanes.Max(x + p * inPlane, y + p * outPlane, _h, _w);
            else PoolPlanes.Average(x + p * inPlane, y + p * outPlane, _h, _w, _includePad);
        }
    }
}

/// <summary>GlobalAveragePool, GlobalMaxPool and AdaptiveAvgPool on float32; parallel over planes.</summary>
internal sealed unsafe class PlanePoolStep : CpuStep
{
    private readonly int _planes, _h, _w, _oh, _ow;
    private readonly long _area;
    private readonly int _kind; // 0 global average, 1 global max, 2 adaptive average (NCHW)

    public PlanePoolStep(PlanStep step) : base(step)
    {
        var xs = step.Inputs[0]!.Shape;
        _planes = xs[0] * xs[1];
        _area = Tensor.Product(xs[2..]);
        _h = xs.Length == 4 ? xs[2] : 1;
        _w = xs.Length == 4 ? xs[3] : (int)_area;
        (_kind, _oh, _ow) = step.Op switch
        {
            GlobalAveragePoolOp => (0, 1, 1),
            GlobalMaxPoolOp => (1, 1, 1),
            AdaptiveAvgPoolOp a => (2, a.OutputHeight, a.OutputWidth),
            _ => throw new InvalidOperationException(),
        };
    }

    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count(_planes, s.Threads));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        var (p0, p1) = Chunks.Range(_planes, Chunks.Count(_planes, s.Threads), index);
        float* x = F(s, Step.Inputs[0]!);
        float* y = F(s, Step.Outputs[0]);
        long area = _area;
        for (long p = p0; p < p1; p++)
        {
            float* xp = x + p * area;
            if (_kind == 0)
            {
                double sum = 0;
                for (long i = 0; i < area; i++) sum += xp[i];
                y[p] = (float)(sum / area);
            }
            else if (_kind == 1)
            {
                float m = float.NegativeInfinity;
                for (long i = 0; i < area; i++) m = xp[i] > m || float.IsNaN(xp[i]) ? (float.IsNaN(m) ? m : xp[i]) : m;
                y[p] = m;
            }
            else
            {
                float* yp = y + p * _oh * _ow;
                for (int oh = 0; oh < _oh; oh++)
                {
                    var (h0, h1) = SpatialGeometry.AdaptiveBin(oh, _h, _oh);
                    for (int ow = 0; ow < _ow; ow++)
                    {
                        var (w0, w1) = SpatialGeometry.AdaptiveBin(ow, _w, _ow);
                        float sum = 0;
                        for (int ih = h0; ih < h1; ih++)
                            for (int iw = w0; iw < w1; iw++) sum += xp[(long)ih * _w + iw];
                        yp[oh * _ow + ow] = sum / ((h1 - h0) * (w1 - w0));
                    }
                }
            }
        }
    }
}

/// <summary>Add/Sub/Mul/Div on float32 with numpy broadcasting (vectorized when both shapes are equal).</summary>
internal sealed unsafe class BinaryStep : CpuStep
{
    private readonly BinaryKind _kind;
    private readonly long _count;
    private readonly int[]? _ia, _ib;
    private readonly float[]? _ca, _cb;

    public BinaryStep(PlanStep step) : base(step)
    {
        _kind = ((BinaryOp)step.Op).Kind;
        var a = step.Inputs[0]!;
        var b = step.Inputs[1]!;
        var o = step.Outputs[0];
        _count = o.ElementCount;
        if (!a.Shape.SequenceEqual(o.Shape) || !b.Shape.SequenceEqual(o.Shape))
        {
            _ia = Elements.BroadcastIndex(a.Shape, o.Shape);
            _ib = Elements.BroadcastIndex(b.Shape, o.Shape);
        }
        if (a.IsConstant) _ca = Pinned.Copy(a.Constant!);
        if (b.IsConstant) _cb = Pinned.Copy(b.Constant!);
    }

    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count(_count, s.Threads, 4096));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        var (i0, i1) = Chunks.Range(_count, Chunks.Count(_count, s.Threads, 4096), index);
        fixed (float* ca = _ca)
        fixed (float* cb = _cb)
        {
            float* a = _ca is null ? F(s, Step.Inputs[0]!) : ca;
            float* b = _cb is null ? F(s, Step.Inputs[1]!) : cb;
            float* y = F(s, Step.Outputs[0]);
            if (_ia is null)
            {
                long i = i0;
                if (Vector256.IsHardwareAccelerated)
                    for (; i + 8 <= i1; i += 8)
                    {
                        var va = Vector256.Load(a + i);
                        var vb = Vector256.Load(b + i);
                        var r = _kind switch { BinaryKind.Add => va + vb, BinaryKind.Sub => va - vb, BinaryKind.Mul => va * vb, _ => va / vb };
                        r.Store(y + i);
                    }
                for (; i < i1; i++) y[i] = Apply(a[i], b[i]);
            }
            else
                for (long i = i0; i < i1; i++) y[i] = Apply(a[_ia[i]], b[_ib![i]]);
        }
    }

    private float Apply(float a, float b) => _kind switch
    {
        BinaryKind.Add => a + b,
        BinaryKind.Sub => a - b,
        BinaryKind.Mul => a * b,
        _ => a / b,
    };
}

/// <summary>Relu/Sigmoid/Tanh/Neg/Exp/Sqrt/Abs on float32.</summary>
internal sealed unsafe class UnaryStep : CpuStep
{
    private readonly UnaryKind _kind;
    private readonly long _count;

    public UnaryStep(PlanStep step) : base(step)
    {
        _kind = ((UnaryOp)step.Op).Kind;
        _count = step.Outputs[0].ElementCount;
    }

    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count(_count, s.Threads, 4096));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        var (i0, i1) = Chunks.Range(_count, Chunks.Count(_count, s.Threads, 4096), index);
        float* x = F(s, Step.Inputs[0]!);
        float* y = F(s, Step.Outputs[0]);
        long i = i0;
        if (_kind == UnaryKind.Relu && Vector256.IsHardwareAccelerated)
            for (; i + 8 <= i1; i += 8)
            {
                var v = Vector256.Load(x + i);
                // NaN stays NaN: max(NaN, 0) must not become 0 (ONNX Relu, torch.relu).
                Vector256.ConditionalSelect(Vector256.Equals(v, v), Vector256.Max(v, Vector256<float>.Zero), v).Store(y + i);
            }
        for (; i < i1; i++)
        {
            float v = x[i];
            y[i] = _kind switch
            {
                UnaryKind.Relu => v > 0 || float.IsNaN(v) ? v : 0,
                UnaryKind.Sigmoid => 1f / (1f + MathF.Exp(-v)),
                UnaryKind.Tanh => MathF.Tanh(v),
                UnaryKind.Neg => -v,
                UnaryKind.Exp => MathF.Exp(v),
                UnaryKind.Sqrt => MathF.Sqrt(v),
                _ => MathF.Abs(v),
            };
        }
    }
}

/// <summary>Inference batch normalization on float32 with constant statistics: y = x·scale[c] + shift[c].</summary>
internal sealed unsafe class BatchNormStep : CpuStep
{
    private readonly float[] _scale, _shift;
    private readonly int _n, _c;
    private readonly long _inner;

    public BatchNormStep(PlanStep step) : base(step)
    {
        var op = (BatchNormOp)step.Op;
        var xs = step.Inputs[0]!.Shape;
        _n = xs[0];
        _c = xs[1];
        _inner = Tensor.Product(xs[2..]);
        var g = step.Inputs[1]!.Constant!.ToFloatArray();
        var b = step.Inputs[2]!.Constant!.ToFloatArray();
        var mean = step.Inputs[3]!.Constant!.ToFloatArray();
        var var = step.Inputs[4]!.Constant!.ToFloatArray();
        _scale = new float[_c];
        _shift = new float[_c];
        for (int i = 0; i < _c; i++)
        {
            double sc = g[i] / Math.Sqrt((double)var[i] + op.Epsilon);
            _scale[i] = (float)sc;
            _shift[i] = (float)(b[i] - mean[i] * sc);
        }
    }

    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count((long)_n * _c, s.Threads));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        var (p0, p1) = Chunks.Range((long)_n * _c, Chunks.Count((long)_n * _c, s.Threads), index);
        float* x = F(s, Step.Inputs[0]!);
        float* y = F(s, Step.Outputs[0]);
        for (long p = p0; p < p1; p++)
        {
            int c = (int)(p % _c);
            float sc = _scale[c], sh = _shift[c];
            for (long i = p * _inner, e = i + _inner; i < e; i++) y[i] = x[i] * sc + sh;
        }
    }
}

/// <summary>Softmax and LogSoftmax on float32 (both axis semantics), computed with a max shift; parallel over rows.</summary>
internal sealed unsafe class SoftmaxStep : CpuStep
{
    private readonly long _outer, _len, _inner;
    private readonly bool _log;

    public SoftmaxStep(PlanStep step) : base(step)
    {
        var xs = step.Inputs[0]!.Shape;
        var (axis, coerce) = step.Op switch
        {
            SoftmaxOp o => (o.Axis, o.Coerce2D),
            LogSoftmaxOp o => (o.Axis, o.Coerce2D),
            _ => throw new InvalidOperationException(),
        };
        _log = step.Op is LogSoftmaxOp;
        if (axis < 0) axis += xs.Length;
        _outer = Tensor.Product(xs[..axis]);
        if (coerce) { _len = Tensor.Product(xs[axis..]); _inner = 1; }
        else { _len = xs[axis]; _inner = Tensor.Product(xs[(axis + 1)..]); }
    }

    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count(_outer * _inner, s.Threads));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        long rows = _outer * _inner;
        var (r0, r1) = Chunks.Range(rows, Chunks.Count(rows, s.Threads), index);
        float* x = F(s, Step.Inputs[0]!);
        float* y = F(s, Step.Outputs[0]);
        for (long r = r0; r < r1; r++)
        {
            long o = r / _inner, i = r % _inner;
            long b = o * _len * _inner + i;
            float mx = float.NegativeInfinity;
            for (long k = 0; k < _len; k++) mx = MathF.Max(mx, x[b + k * _inner]);
            double sum = 0;
            for (long k = 0; k < _len; k++) sum += MathF.Exp(x[b + k * _inner] - mx);
            if (_log)
            {
                float ls = (float)Math.Log(sum);
                for (long k = 0; k < _len; k++) y[b + k * _inner] = x[b + k * _inner] - mx - ls;
            }
            else
            {
                float inv = (float)(1.0 / sum);
                for (long k = 0; k < _len; k++) y[b + k * _inner] = MathF.Exp(x[b + k * _inner] - mx) * inv;
            }
        }
    }
}

/// <summary>
/// Any step the float32 paths do not cover (other dtypes, Concat, Gather, Cast, QuantizeLinear, ...):
/// runs <see cref="ReferenceOps"/> on copies of the inputs and copies the results into the arena. This
/// path allocates per run; it is for correctness, not speed.
/// </summary>
internal sealed unsafe class ReferenceStep : CpuStep
{
    public ReferenceStep(PlanStep step) : base(step) { }

    public override string Algorithm => "reference";

    public override void Run(CpuRunState s)
    {
        var args = new Tensor?[Step.Inputs.Length];
        for (int i = 0; i < args.Length; i++)
        {
            var v = Step.Inputs[i];
            if (v is null) continue;
            if (v.IsConstant) { args[i] = v.Constant; continue; }
            var t = new Tensor(v.DType, v.Shape);
            new ReadOnlySpan<byte>(s.Arena + v.Offset, checked((int)v.Bytes)).CopyTo(t.Bytes);
            args[i] = t;
        }
        var outs = ReferenceOps.Evaluate(Step.Node, args);
        var names = Step.Node.Outputs;
        int k = 0;
        for (int i = 0; i < names.Count && i < outs.Length; i++)
        {
            if (names[i].Length == 0) continue;
            var o = Step.Outputs[k++];
            if (outs[i].ByteCount != o.Bytes)
                throw new GraphException(Step.Node.Name, $"output '{o.Name}' has {outs[i]} but the plan holds {Tensor.FormatShape(o.DType, o.Shape)}");
            outs[i].Bytes.CopyTo(new Span<byte>(s.Arena + o.Offset, checked((int)o.Bytes)));
        }
    }
}
