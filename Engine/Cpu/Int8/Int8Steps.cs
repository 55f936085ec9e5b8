using System.Runtime.Intrinsics;
using Vgg.Engine.Cpu.Fp16;
using Vgg.Engine.Cpu.Ops;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.IR;
using Vgg.Engine.Planning;
using Vgg.Engine.Quantization;

namespace Vgg.Engine.Cpu.Int8;

/// <summary>
/// The CPU steps of precision plans (Engine/Quantization): INT8 conv/linear/pool/flatten on NHWC codes, the
/// quantize/dequantize boundaries, and the FP16-weight linear layer. The CPU backend asks here first; an op it
/// does not cover (a grouped INT8 conv) runs on the reference path (its record's Evaluate).
/// </summary>
internal static class LowPrecisionSteps
{
    /// <summary>The fast step for <paramref name="step"/>, or null when this is not a precision op or no fast step covers it.</summary>
    public static CpuStep? TryCreate(PlanStep step, int threads, WeightCache cache) => step.Op switch
    {
        Int8ConvOp op when op.Conv.Group == 1 && step.Inputs[1] is { IsConstant: true } && step.Inputs[2] is { IsConstant: true } && step.Inputs[3] is { IsConstant: true }
            => new Int8ConvStep(step, op, threads, cache),
        Int8GemmOp op when step.Inputs[1] is { IsConstant: true } && step.Inputs[2] is { IsConstant: true } && step.Inputs[3] is { IsConstant: true }
            => new Int8GemmStep(step, op, threads, cache),
        QuantizeNhwcOp op when !step.Inputs[0]!.IsConstant => new QuantizeNhwcStep(step, op.Scale),
        DequantizeNhwcOp op when !step.Inputs[0]!.IsConstant => new DequantizeNhwcStep(step, op.Scale),
        Int8MaxPoolOp op when !step.Inputs[0]!.IsConstant => new Int8MaxPoolStep(step, op),
        Int8AdaptiveAvgPoolOp when !step.Inputs[0]!.IsConstant => new Int8AdaptiveAvgPoolStep(step),
        Int8FlattenOp when !step.Inputs[0]!.IsConstant => new Int8FlattenStep(step),
        Fp16GemmOp op when !step.Inputs[0]!.IsConstant && step.Inputs[1] is { IsConstant: true } && (step.Inputs.Length < 3 || step.Inputs[2] is null || step.Inputs[2]!.IsConstant)
            => new Fp16GemmStep(step, op),
        _ => null,
    };

    /// <summary>Activation bytes of an element in <paramref name="op"/> form.</summary>
    public static int ElementBytes(Int8Operand op) => op == Int8Operand.Int16 ? 2 : 1;

    /// <summary>Elements per k-step (4 bytes).</summary>
    public static int PerStep(Int8Operand op) => op == Int8Operand.Int16 ? 2 : 4;

    public static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    /// <summary>
    /// Writes <paramref name="count"/> int8 codes in operand form: copies (Bytes), adds 128 as uint8 (OffsetBytes) or
    /// sign-extends to int16 (Int16); then pads up to <paramref name="padded"/> elements with code 0 in that form.
    /// </summary>
    public static unsafe void Convert(sbyte* src, byte* dst, int count, int padded, Int8Operand op)
    {
        switch (op)
        {
            case Int8Operand.Bytes:
                Buffer.MemoryCopy(src, dst, count, count);
                new Span<byte>(dst + count, padded - count).Clear();
                break;
            case Int8Operand.OffsetBytes:
            {
                int i = 0;
                if (Vector256.IsHardwareAccelerated)
                    for (; i + 32 <= count; i += 32) (Vector256.Load((byte*)src + i) ^ Vector256.Create((byte)0x80)).Store(dst + i);
                for (; i < count; i++) dst[i] = (byte)(src[i] ^ unchecked((sbyte)0x80));
                new Span<byte>(dst + count, padded - count).Fill(0x80);
                break;
            }
            default:
            {
                short* d = (short*)dst;
                int i = 0;
                if (Vector256.IsHardwareAccelerated)
                    for (; i + 16 <= count; i += 16)
                    {
                        var (lo, hi) = Vector128.Widen(Vector128.Load(src + i));
                        lo.Store(d + i);
                        hi.Store(d + i + 8);
                    }
                for (; i < count; i++) d[i] = src[i];
                new Span<short>(d + count, padded - count).Clear();
                break;
            }
        }
    }

    /// <summary>Fills <paramref name="elements"/> elements with code 0 in operand form.</summary>
    public static unsafe void Zero(byte* dst, int elements, Int8Operand op)
    {
        if (op == Int8Operand.OffsetBytes) new Span<byte>(dst, elements).Fill(0x80);
        else new Span<byte>(dst, elements * ElementBytes(op)).Clear();
    }

    /// <summary>Packed weights shared across plans: codes [O][K'] in the kernel's k order.</summary>
    public static PackedInt8Weights Pack(WeightCache cache, Tensor codes, string kind, Int8Operand op, int outChannels, int kSteps, Func<sbyte[]> rows) =>
        cache.GetOrAdd(codes, $"{kind}:{op}", () => new PackedInt8Weights(rows(), outChannels, kSteps, op));
}

/// <summary>
/// INT8 2-D conv (one group) on NHWC codes: the input is padded once per run (spatial padding and channels up to
/// the k-step) into the shared workspace in the kernel's operand form; each task computes 4-pixel × 64-channel tiles
/// of some output rows of one image and one channel block (implicit GEMM: the tile kernel reads the taps straight from
/// the padded input) and requantizes them (+ReLU). A 2×2/2 max-pool is fused per pair of conv rows in the task's slot
/// scratch; any other fused pool runs as a second phase over a conv-output buffer.
/// </summary>
internal sealed unsafe class Int8ConvStep : CpuStep
{
    private enum PoolKind { None, Pair, General }

    private readonly Int8Isa _isa;
    private readonly Int8Operand _op;
    private readonly PackedInt8Weights _w;
    private readonly int[] _init;
    private readonly float[] _mult;
    private readonly int[] _taps;
    private readonly bool _relu;
    private readonly int _n, _h, _w0, _c, _m, _sh, _sw, _pt, _pl, _hp, _wp, _cpad, _ps, _steps, _oh, _ow, _blocks;
    private readonly PoolKind _pool;
    private readonly SpatialAxis _pa, _pb;
    private readonly int _outH, _outW, _chunks, _rowUnits, _group;
    private readonly long _padImage, _convImage, _padBytes, _convBytes;

    /// <summary>Workspace budget for one group of images (padded input, general-pool buffer): images are processed in
    /// groups that fit (at least one image). 16 MB; settable by tests to force one image per group.</summary>
    internal static long GroupBudgetBytes { get; set; } = 16L << 20;

    public Int8ConvStep(PlanStep step, Int8ConvOp op, int threads, WeightCache cache) : base(step)
    {
        var xs = step.Inputs[0]!.Shape;
        var wt = step.Inputs[1]!.Constant!;
        var ws = wt.ShapeArray();
        var (g, pool) = op.Geometry(step.Node.Name, xs, ws);
        _isa = Int8Cpu.Current;
        _op = Int8Cpu.OperandFor(_isa, op.InputNonNegative);
        _relu = op.Relu;
        (_n, _h, _w0, _c, _m) = (g.N, g.H, g.W, g.C, g.K);
        (_sh, _sw, _pt, _pl) = (g.StrideH, g.StrideW, g.PadTop, g.PadLeft);
        (_oh, _ow) = (g.OutH, g.OutW);
        _hp = g.H + g.PadTop + g.PadBottom;
        _wp = g.W + g.PadLeft + g.PadRight;
        int per = LowPrecisionSteps.PerStep(_op);
        _cpad = LowPrecisionSteps.RoundUp(_c, per);
        _ps = _cpad * LowPrecisionSteps.ElementBytes(_op);
        _steps = _ps / 4;
        int kh = g.R, kw = g.S, cpad = _cpad, c = _c, m = _m;
        _taps = new int[kh * kw];
        for (int r = 0; r < kh; r++)
            for (int s = 0; s < kw; s++) _taps[r * kw + s] = (r * g.DilationH * _wp + s * g.DilationW) * _ps;
        _w = LowPrecisionSteps.Pack(cache, wt, "int8-conv", _op, m, kh * kw * _steps, () =>
        {
            var src = wt.AsSpan<sbyte>();
            var rows = new sbyte[(long)m * kh * kw * cpad];
            for (int o = 0; o < m; o++)
                for (int t = 0; t < kh * kw; t++)
                    src.Slice((o * kh * kw + t) * c, c).CopyTo(rows.AsSpan((o * kh * kw + t) * cpad, c));
            return rows;
        });
        _blocks = _w.Blocks;
        (_init, _mult) = _w.Epilogue(step.Inputs[2]!.Constant!.AsSpan<int>(), step.Inputs[3]!.Constant!.AsSpan<float>(), _op);
        if (pool is null) { _pool = PoolKind.None; (_outH, _outW) = (_oh, _ow); }
        else
        {
            (_pa, _pb) = (pool[0], pool[1]);
            (_outH, _outW) = (_pa.Output, _pb.Output);
            bool pair = _pa is { Kernel: 2, Stride: 2, Dilation: 1, PadBegin: 0 } && _pb is { Kernel: 2, Stride: 2, Dilation: 1, PadBegin: 0 }
                        && 2 * _outH <= _oh && 2 * _outW <= _ow;
            _pool = pair ? PoolKind.Pair : PoolKind.General;
        }
        _rowUnits = _pool == PoolKind.Pair ? _outH : _oh;
        _padImage = (long)_hp * _wp * _ps;
        _convImage = _pool == PoolKind.General ? (long)_oh * _ow * _m : 0;
        _group = (int)Math.Clamp(GroupBudgetBytes / Math.Max(1, _padImage + _convImage), 1, Math.Max(1, _n));
        _chunks = Math.Clamp((8 * threads + _group * _blocks - 1) / Math.Max(1, _group * _blocks), 1, Math.Max(1, _rowUnits));
        _padBytes = _group * _padImage;
        _convBytes = _group * _convImage;
    }

    public override string Algorithm => $"int8 implicit GEMM 4x64, {Int8Cpu.Describe(_isa, _op)}" + _pool switch { PoolKind.Pair => " + fused 2x2 max-pool", PoolKind.General => " + max-pool", _ => "" };
    public override long SharedWorkspaceBytes => MemoryPlanning.Align(_padBytes, 64) + _convBytes;
    public override long SlotWorkspaceBytes => _pool == PoolKind.Pair ? 2L * _ow * PackedInt8Weights.Block : 0;

    /// <summary>Images in the group that starts at <see cref="CpuRunState.Image"/>.</summary>
    private int GroupCount(CpuRunState s) => Math.Min(_group, _n - s.Image);

    public override void Run(CpuRunState s)
    {
        for (int first = 0; first < _n; first += _group)
        {
            s.Image = first;
            int count = GroupCount(s);
            s.Parallel(this, 0, Chunks.Count((long)count * _hp, s.Threads, 4));
            s.Parallel(this, 1, count * _blocks * _chunks);
            if (_pool == PoolKind.General) s.Parallel(this, 2, Chunks.Count((long)count * _outH, s.Threads));
        }
    }

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        byte* padded = s.Shared;
        switch (phase)
        {
            case 0:
            {
                long total = (long)GroupCount(s) * _hp;
                var (r0, r1) = Chunks.Range(total, Chunks.Count(total, s.Threads, 4), index);
                sbyte* x = (sbyte*)(s.Arena + Step.Inputs[0]!.Offset) + (long)s.Image * _h * _w0 * _c;
                for (long row = r0; row < r1; row++)
                {
                    int n = (int)(row / _hp), hp = (int)(row % _hp), ih = hp - _pt;
                    byte* dst = padded + row * _wp * _ps;
                    if ((uint)ih >= (uint)_h) { LowPrecisionSteps.Zero(dst, _wp * _cpad, _op); continue; }
                    LowPrecisionSteps.Zero(dst, _pl * _cpad, _op);
                    sbyte* src = x + ((long)n * _h + ih) * _w0 * _c;
                    if (_c == _cpad) LowPrecisionSteps.Convert(src, dst + (long)_pl * _ps, _w0 * _c, _w0 * _c, _op);
                    else
                        for (int iw = 0; iw < _w0; iw++)
                            LowPrecisionSteps.Convert(src + iw * _c, dst + (long)(_pl + iw) * _ps, _c, _cpad, _op);
                    LowPrecisionSteps.Zero(dst + (long)(_pl + _w0) * _ps, (_wp - _pl - _w0) * _cpad, _op);
                }
                break;
            }
            case 1:
            {
                int chunk = index % _chunks, rest = index / _chunks, blk = rest % _blocks, local = rest / _blocks, n = s.Image + local;
                var (u0, u1) = Chunks.Range(_rowUnits, _chunks, chunk);
                int oc0 = blk * PackedInt8Weights.Block, mv = Math.Min(PackedInt8Weights.Block, _m - oc0);
                sbyte* y = (sbyte*)(s.Arena + Step.Outputs[0].Offset);
                byte* img = padded + local * _padImage;
                int* acc = stackalloc int[4 * PackedInt8Weights.Block];
                byte** rows = stackalloc byte*[4];
                fixed (int* taps = _taps)
                fixed (int* init = _init)
                fixed (float* mult = _mult)
                {
                    byte* wb = _w.BlockPtr(blk);
                    for (long u = u0; u < u1; u++)
                    {
                        switch (_pool)
                        {
                            case PoolKind.None:
                                ConvRow(img, (int)u, wb, init + oc0, mult + oc0, taps, rows, acc, y + ((long)n * _oh + u) * _ow * _m + oc0, _m, mv);
                                break;
                            case PoolKind.General:
                                ConvRow(img, (int)u, wb, init + oc0, mult + oc0, taps, rows, acc, (sbyte*)(s.Shared + MemoryPlanning.Align(_padBytes, 64)) + local * _convImage + u * _ow * _m + oc0, _m, mv);
                                break;
                            default:
                            {
                                sbyte* pair = (sbyte*)s.SlotWorkspace(slot);
                                const int B = PackedInt8Weights.Block;
                                ConvRow(img, (int)(2 * u), wb, init + oc0, mult + oc0, taps, rows, acc, pair, B, mv);
                                ConvRow(img, (int)(2 * u + 1), wb, init + oc0, mult + oc0, taps, rows, acc, pair + _ow * B, B, mv);
                                sbyte* o = y + ((long)n * _outH + u) * _outW * _m + oc0;
                                for (int pw = 0; pw < _outW; pw++)
                                    Int8PoolKernels.Max4(pair + 2 * pw * B, pair + (2 * pw + 1) * B, pair + (_ow + 2 * pw) * B, pair + (_ow + 2 * pw + 1) * B, o + (long)pw * _m, mv);
                                break;
                            }
                        }
                    }
                }
                break;
            }
            default:
            {
                long total = (long)GroupCount(s) * _outH;
                var (r0, r1) = Chunks.Range(total, Chunks.Count(total, s.Threads), index);
                sbyte* conv = (sbyte*)(s.Shared + MemoryPlanning.Align(_padBytes, 64));
                sbyte* y = (sbyte*)(s.Arena + Step.Outputs[0].Offset);
                for (long row = r0; row < r1; row++)
                {
                    int local = (int)(row / _outH), ph = (int)(row % _outH), n = s.Image + local;
                    Int8PoolKernels.MaxPoolRow(conv + local * _convImage, _oh, _ow, _m, _pa, _pb, ph, y + ((long)n * _outH + ph) * _outW * _m);
                }
                break;
            }
        }
    }

    /// <summary>One conv output row (all pixels) for one channel block, requantized into dst (pixel stride <paramref name="stride"/>).</summary>
    private void ConvRow(byte* img, int oh, byte* wb, int* init, float* mult, int* taps, byte** rows, int* acc, sbyte* dst, int stride, int mv)
    {
        byte* rowBase = img + (long)oh * _sh * _wp * _ps;
        for (int ow = 0; ow < _ow; ow += 4)
        {
            int count = Math.Min(4, _ow - ow);
            for (int p = 0; p < count; p++) rows[p] = rowBase + (long)(ow + p) * _sw * _ps;
            Int8Kernels.Tile(_isa, _op, rows, count, taps, _taps.Length, _steps, wb, init, acc);
            for (int p = 0; p < count; p++)
                Int8Kernels.Requantize(acc + p * PackedInt8Weights.Block, mult, _relu, dst + (long)(ow + p) * stride, mv);
        }
    }
}

/// <summary>
/// INT8 linear layer: X int8 [M, K] (read in place when the operand form allows, else converted once per run into the
/// shared workspace), packed weights [O/64][K/4][64][4]; tasks are (channel block, row chunk) with 4-row tiles (1-row
/// for the batch-1 GEMV, which streams the int8 weights: a quarter of float32's bytes); requantizing or dequantizing epilogue.
/// </summary>
internal sealed unsafe class Int8GemmStep : CpuStep
{
    private readonly Int8Isa _isa;
    private readonly Int8Operand _op;
    private readonly PackedInt8Weights _w;
    private readonly int[] _init;
    private readonly float[] _epi;
    private readonly bool _relu, _dequant, _inPlace;
    private readonly int _rows, _k, _kpad, _rowBytes, _o, _blocks, _chunks;

    public Int8GemmStep(PlanStep step, Int8GemmOp op, int threads, WeightCache cache) : base(step)
    {
        var wt = step.Inputs[1]!.Constant!;
        _rows = step.Inputs[0]!.Shape[0];
        _k = step.Inputs[0]!.Shape[1];
        _o = wt.Shape[0];
        _isa = Int8Cpu.Current;
        _op = Int8Cpu.OperandFor(_isa, op.InputNonNegative);
        _relu = op.Relu;
        _dequant = op.DequantizeOutput;
        _kpad = LowPrecisionSteps.RoundUp(_k, LowPrecisionSteps.PerStep(_op));
        _rowBytes = _kpad * LowPrecisionSteps.ElementBytes(_op);
        _inPlace = _op == Int8Operand.Bytes && _kpad == _k;
        int k = _k, kpad = _kpad, o = _o;
        _w = LowPrecisionSteps.Pack(cache, wt, "int8-linear", _op, o, _rowBytes / 4, () =>
        {
            if (kpad == k) return wt.AsSpan<sbyte>().ToArray();
            var src = wt.AsSpan<sbyte>();
            var rows = new sbyte[(long)o * kpad];
            for (int i = 0; i < o; i++) src.Slice(i * k, k).CopyTo(rows.AsSpan(i * kpad, k));
            return rows;
        });
        _blocks = _w.Blocks;
        (_init, _epi) = _w.Epilogue(step.Inputs[2]!.Constant!.AsSpan<int>(), step.Inputs[3]!.Constant!.AsSpan<float>(), _op);
        int tiles = (_rows + 3) / 4;
        _chunks = Math.Clamp((4 * threads + _blocks - 1) / _blocks, 1, Math.Max(1, tiles));
    }

    public override string Algorithm => $"int8 GEMM {(_rows == 1 ? "1x64 (GEMV)" : "4x64")}, {Int8Cpu.Describe(_isa, _op)}{(_dequant ? ", dequantized output" : "")}";
    public override long SharedWorkspaceBytes => _inPlace ? 0 : (long)_rows * _rowBytes;

    public override void Run(CpuRunState s)
    {
        if (!_inPlace) s.Parallel(this, 0, Chunks.Count(_rows, s.Threads, 1));
        s.Parallel(this, 1, _blocks * _chunks);
    }

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        sbyte* x = (sbyte*)(s.Arena + Step.Inputs[0]!.Offset);
        if (phase == 0)
        {
            var (r0, r1) = Chunks.Range(_rows, Chunks.Count(_rows, s.Threads, 1), index);
            for (long r = r0; r < r1; r++) LowPrecisionSteps.Convert(x + r * _k, s.Shared + r * _rowBytes, _k, _kpad, _op);
            return;
        }
        byte* a = _inPlace ? (byte*)x : s.Shared;
        int chunk = index % _chunks, blk = index / _chunks;
        int tiles = (_rows + 3) / 4;
        var (t0, t1) = Chunks.Range(tiles, _chunks, chunk);
        int oc0 = blk * PackedInt8Weights.Block, mv = Math.Min(PackedInt8Weights.Block, _o - oc0);
        int* acc = stackalloc int[4 * PackedInt8Weights.Block];
        byte** rows = stackalloc byte*[4];
        int* taps = stackalloc int[1];
        taps[0] = 0;
        byte* y = s.Arena + Step.Outputs[0].Offset;
        fixed (int* init = _init)
        fixed (float* epi = _epi)
        {
            byte* wb = _w.BlockPtr(blk);
            for (long t = t0; t < t1; t++)
            {
                int r0 = (int)t * 4, count = Math.Min(4, _rows - r0);
                for (int p = 0; p < count; p++) rows[p] = a + (long)(r0 + p) * _rowBytes;
                Int8Kernels.Tile(_isa, _op, rows, count, taps, 1, _rowBytes / 4, wb, init + oc0, acc);
                for (int p = 0; p < count; p++)
                {
                    long at = (long)(r0 + p) * _o + oc0;
                    if (_dequant) Int8Kernels.Dequantize(acc + p * PackedInt8Weights.Block, epi + oc0, _relu, (float*)y + at, mv);
                    else Int8Kernels.Requantize(acc + p * PackedInt8Weights.Block, epi + oc0, _relu, (sbyte*)y + at, mv);
                }
            }
        }
    }
}

/// <summary>Max-pool kernels on NHWC codes.</summary>
internal static unsafe class Int8PoolKernels
{
    /// <summary>y[c] = max(a[c], b[c], c[c], d[c]) for c &lt; count.</summary>
    public static void Max4(sbyte* a, sbyte* b, sbyte* c, sbyte* d, sbyte* y, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 64 <= count; i += 64)
                Vector512.Max(Vector512.Max(Vector512.Load(a + i), Vector512.Load(b + i)), Vector512.Max(Vector512.Load(c + i), Vector512.Load(d + i))).Store(y + i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 32 <= count; i += 32)
                Vector256.Max(Vector256.Max(Vector256.Load(a + i), Vector256.Load(b + i)), Vector256.Max(Vector256.Load(c + i), Vector256.Load(d + i))).Store(y + i);
        for (; i < count; i++) y[i] = Math.Max(Math.Max(a[i], b[i]), Math.Max(c[i], d[i]));
    }

    /// <summary>One output row of a max-pool over an NHWC image [h][w][c] of codes (in-bounds taps only, PyTorch semantics).</summary>
    public static void MaxPoolRow(sbyte* x, int h, int w, int c, SpatialAxis ah, SpatialAxis aw, int oh, sbyte* y)
    {
        int hs = oh * ah.Stride - ah.PadBegin;
        for (int ow = 0; ow < aw.Output; ow++)
        {
            int ws = ow * aw.Stride - aw.PadBegin;
            sbyte* o = y + (long)ow * c;
            bool first = true;
            for (int kh = 0; kh < ah.Kernel; kh++)
            {
                int ih = hs + kh * ah.Dilation;
                if ((uint)ih >= (uint)h) continue;
                for (int kw = 0; kw < aw.Kernel; kw++)
                {
                    int iw = ws + kw * aw.Dilation;
                    if ((uint)iw >= (uint)w) continue;
                    sbyte* src = x + ((long)ih * w + iw) * c;
                    if (first) { Buffer.MemoryCopy(src, o, c, c); first = false; continue; }
                    int i = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; i + 32 <= c; i += 32) Vector256.Max(Vector256.Load(o + i), Vector256.Load(src + i)).Store(o + i);
                    for (; i < c; i++) o[i] = Math.Max(o[i], src[i]);
                }
            }
            if (first) throw new GraphException(null, $"max-pool window ({oh}, {ow}) has no input element: padding too large for the kernel");
        }
    }
}

/// <summary>Max-pool on NHWC codes; parallel over output rows.</summary>
internal sealed unsafe class Int8MaxPoolStep : CpuStep
{
    private readonly SpatialAxis _a, _b;
    private readonly int _n, _h, _w, _c;

    public Int8MaxPoolStep(PlanStep step, Int8MaxPoolOp op) : base(step)
    {
        var xs = step.Inputs[0]!.Shape;
        (_n, _h, _w, _c) = (xs[0], xs[1], xs[2], xs[3]);
        var a = op.Axes(step.Node.Name, xs);
        (_a, _b) = (a[0], a[1]);
    }

    public override string Algorithm => "int8 max-pool (NHWC codes)";
    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count((long)_n * _a.Output, s.Threads));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        long total = (long)_n * _a.Output;
        var (r0, r1) = Chunks.Range(total, Chunks.Count(total, s.Threads), index);
        sbyte* x = (sbyte*)(s.Arena + Step.Inputs[0]!.Offset);
        sbyte* y = (sbyte*)(s.Arena + Step.Outputs[0].Offset);
        for (long r = r0; r < r1; r++)
        {
            int n = (int)(r / _a.Output), oh = (int)(r % _a.Output);
            Int8PoolKernels.MaxPoolRow(x + (long)n * _h * _w * _c, _h, _w, _c, _a, _b, oh, y + ((long)n * _a.Output + oh) * _b.Output * _c);
        }
    }
}

/// <summary>Adaptive (and global) average pool on NHWC codes: rounded integer means (<see cref="Int8Scheme.RoundedMean"/>); a copy when the bins are single pixels.</summary>
internal sealed unsafe class Int8AdaptiveAvgPoolStep : CpuStep
{
    private readonly int _n, _h, _w, _c, _oh, _ow;

    public Int8AdaptiveAvgPoolStep(PlanStep step) : base(step)
    {
        var xs = step.Inputs[0]!.Shape;
        (_n, _h, _w, _c) = (xs[0], xs[1], xs[2], xs[3]);
        (_oh, _ow) = (step.Outputs[0].Shape[1], step.Outputs[0].Shape[2]);
    }

    public override string Algorithm => _oh == _h && _ow == _w ? "int8 adaptive average pool (identity bins: copy)" : "int8 adaptive average pool (rounded integer means)";
    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count((long)_n * _oh, s.Threads));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        long total = (long)_n * _oh;
        var (r0, r1) = Chunks.Range(total, Chunks.Count(total, s.Threads), index);
        sbyte* x = (sbyte*)(s.Arena + Step.Inputs[0]!.Offset);
        sbyte* y = (sbyte*)(s.Arena + Step.Outputs[0].Offset);
        int* sum = stackalloc int[Math.Min(_c, 4096)];
        for (long r = r0; r < r1; r++)
        {
            int n = (int)(r / _oh), oy = (int)(r % _oh);
            var (h0, h1) = SpatialGeometry.AdaptiveBin(oy, _h, _oh);
            for (int ox = 0; ox < _ow; ox++)
            {
                var (w0, w1) = SpatialGeometry.AdaptiveBin(ox, _w, _ow);
                sbyte* o = y + (((long)n * _oh + oy) * _ow + ox) * _c;
                if (h1 - h0 == 1 && w1 - w0 == 1)
                {
                    Buffer.MemoryCopy(x + (((long)n * _h + h0) * _w + w0) * _c, o, _c, _c);
                    continue;
                }
                int count = (h1 - h0) * (w1 - w0);
                for (int c0 = 0; c0 < _c; c0 += 4096)
                {
                    int cn = Math.Min(4096, _c - c0);
                    new Span<int>(sum, cn).Clear();
                    for (int iy = h0; iy < h1; iy++)
                        for (int ix = w0; ix < w1; ix++)
                        {
                            sbyte* p = x + (((long)n * _h + iy) * _w + ix) * _c + c0;
                            for (int c = 0; c < cn; c++) sum[c] += p[c];
                        }
                    for (int c = 0; c < cn; c++) o[c0 + c] = Int8Scheme.RoundedMean(sum[c], count);
                }
            }
        }
    }
}

/// <summary>NHWC [N, H, W, C] codes → [N, C·H·W] in NCHW order (torch.flatten of the NCHW tensor).</summary>
internal sealed unsafe class Int8FlattenStep : CpuStep
{
    private readonly int _n, _h, _w, _c;

    public Int8FlattenStep(PlanStep step) : base(step)
    {
        var xs = step.Inputs[0]!.Shape;
        (_n, _h, _w, _c) = (xs[0], xs[1], xs[2], xs[3]);
    }

    public override string Algorithm => "int8 NHWC→NCHW flatten";
    public override void Run(CpuRunState s) => s.Parallel(this, 0, _n);

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        long img = (long)_h * _w * _c;
        sbyte* x = (sbyte*)(s.Arena + Step.Inputs[0]!.Offset) + index * img;
        sbyte* y = (sbyte*)(s.Arena + Step.Outputs[0].Offset) + index * img;
        int hw = _h * _w;
        for (int p = 0; p < hw; p++)
            for (int c = 0; c < _c; c++) y[(long)c * hw + p] = x[(long)p * _c + c];
    }
}

/// <summary>float32 NCHW (or [N, F]) → int8 codes NHWC (or [N, F]): clamp(round_half_even(x / scale), −128, 127).</summary>
internal sealed unsafe class QuantizeNhwcStep : CpuStep
{
    private readonly float _scale;
    private readonly int _n, _c, _hw;
    private readonly bool _fourD;

    public QuantizeNhwcStep(PlanStep step, float scale) : base(step)
    {
        _scale = scale;
        var xs = step.Inputs[0]!.Shape;
        _fourD = xs.Length == 4;
        (_n, _c, _hw) = _fourD ? (xs[0], xs[1], xs[2] * xs[3]) : (xs[0], xs[1], 1);
    }

    public override string Algorithm => "quantize (NCHW float32 → NHWC int8)";
    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count((long)_n * _c, s.Threads));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        long planes = (long)_n * _c;
        var (p0, p1) = Chunks.Range(planes, Chunks.Count(planes, s.Threads), index);
        float* x = F(s, Step.Inputs[0]!);
        sbyte* y = (sbyte*)(s.Arena + Step.Outputs[0].Offset);
        var sv = Vector256.Create(_scale);
        var lo = Vector256.Create(-128f);
        var hi = Vector256.Create(127f);
        for (long p = p0; p < p1; p++)
        {
            long n = p / _c, c = p % _c;
            float* src = x + p * _hw;
            sbyte* dst = y + n * _c * _hw + c;   // NHWC: pixel stride C
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= _hw; i += 8)
                {
                    // x / scale (a division, as ONNX QuantizeLinear and Int8Scheme.QuantizeActivation), round half even, clamp;
                    // NaN becomes −128 as in the scheme
                    var f = Vector256.Load(src + i) / sv;
                    var v = Vector256.ConvertToInt32(Vector256.Round(Vector256.Min(Vector256.Max(f, lo), hi)));
                    v = Vector256.ConditionalSelect(Vector256.Equals(f, f).AsInt32(), v, Vector256.Create(-128));
                    for (int j = 0; j < 8; j++) dst[(long)(i + j) * _c] = (sbyte)v.GetElement(j);
                }
            for (; i < _hw; i++) dst[(long)i * _c] = Int8Scheme.QuantizeActivation(src[i], _scale);
        }
    }
}

/// <summary>int8 codes NHWC (or [N, F]) → float32 NCHW (or [N, F]): float32(q) · scale.</summary>
internal sealed unsafe class DequantizeNhwcStep : CpuStep
{
    private readonly float _scale;
    private readonly int _n, _c, _hw;

    public DequantizeNhwcStep(PlanStep step, float scale) : base(step)
    {
        _scale = scale;
        var xs = step.Inputs[0]!.Shape;
        (_n, _c, _hw) = xs.Length == 4 ? (xs[0], xs[3], xs[1] * xs[2]) : (xs[0], xs[1], 1);
    }

    public override string Algorithm => "dequantize (NHWC int8 → NCHW float32)";
    public override void Run(CpuRunState s) => s.Parallel(this, 0, Chunks.Count((long)_n * _c, s.Threads));

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        long planes = (long)_n * _c;
        var (p0, p1) = Chunks.Range(planes, Chunks.Count(planes, s.Threads), index);
        sbyte* x = (sbyte*)(s.Arena + Step.Inputs[0]!.Offset);
        float* y = F(s, Step.Outputs[0]);
        for (long p = p0; p < p1; p++)
        {
            long n = p / _c, c = p % _c;
            sbyte* src = x + n * _c * _hw + c;
            float* dst = y + p * _hw;
            for (int i = 0; i < _hw; i++) dst[i] = src[(long)i * _c] * _scale;
        }
    }
}
