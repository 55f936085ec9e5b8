using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// Direct convolution for any kernel size, stride, padding and dilation (group 1), output NCHWc16 with
/// the fused epilogue (bias, ReLU, 2×2 max-pool). Input NCHW or NCHWc16. This is the first-layer path
/// (conv1_1: C = 3 from an NCHW image, where a GEMM or Winograd over K = 27 would waste most of its
/// work) and the general path for the shapes Winograd does not take.
/// </summary>
/// <remarks>
/// Weights packed at prepare time as panels [M/64][C][kh][kw][64] (zero padded). A work item is one
/// output row (or, with the pool, the two conv rows of one pooled row) for one 64-channel panel, for one
/// image. Along the row, blocks of 6 pixels whose receptive fields are inside the input run a register
/// block of 6 pixels × 64 channels (AVX-512: 24 zmm accumulators; per (c, ky, kx): 4 weight loads,
/// 6 broadcasts, 24 FMAs); border pixels take a checked one-pixel path. Rows run into a thread-local
/// [ow][64] buffer, the epilogue then writes NCHWc16.
/// Variants: v1 (this file). Level Avx2/Portable use the same structure with 16 channels per pass.
/// </remarks>
internal sealed unsafe class DirectConv : IPreparedWeights, IDisposable
{
    private readonly int _mb16, _mp64;
    private readonly NativeBuffer _w;
    private readonly NativeBuffer _bias;

    /// <param name="p">Shape; Groups must be 1.</param>
    /// <param name="weight">[M, C, kh, kw] row-major.</param>
    /// <param name="bias">[M] or empty.</param>
    /// <param name="epilogue">Bias is always added; ReLU and the 2×2 max-pool as asked.</param>
    /// <param name="inputNchwc">True: input is NCHWc16; false: plain NCHW.</param>
    /// <param name="level">Vector path; null for the best the hardware has.</param>
    public DirectConv(ConvParams p, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, ConvEpilogue epilogue, bool inputNchwc, SimdLevel? level = null)
    {
        if (p.Groups != 1) throw new ArgumentException($"{p}: DirectConv supports group 1 only");
        if (p.C < 1 || p.M < 1 || p.KernelH < 1 || p.KernelW < 1 || p.StrideH < 1 || p.StrideW < 1 || p.DilationH < 1 || p.DilationW < 1 ||
            p.PadTop < 0 || p.PadLeft < 0 || p.PadBottom < 0 || p.PadRight < 0)
            throw new ArgumentException($"{p}: sizes, strides and dilations must be positive and pads non-negative");
        long wn = (long)p.M * p.C * p.KernelH * p.KernelW;
        if (weight.Length != wn) throw new ArgumentException($"weight has {weight.Length} values, expected M·C·kh·kw = {wn}");
        if (bias.Length != 0 && bias.Length != p.M) throw new ArgumentException($"bias has {bias.Length} values, expected 0 or M = {p.M}");
        Params = p;
        Epilogue = epilogue;
        InputNchwc = inputNchwc;
        Level = CpuSimd.Resolve(level);
        _mb16 = Nchwc.Blocks(p.M);
        _mp64 = (p.M + 63) / 64 * 64;
        int khw = p.KernelH * p.KernelW;
        _w = new NativeBuffer((long)_mp64 * p.C * khw);
        float* wp = _w.Pointer;
        for (int m = 0; m < p.M; m++)
            for (int c = 0; c < p.C; c++)
                for (int k = 0; k < khw; k++)
                    wp[(((long)(m / 64) * p.C + c) * khw + k) * 64 + m % 64] = weight[(int)(((long)m * p.C + c) * khw + k)];
        _bias = new NativeBuffer(_mb16 * 16);
        if (bias.Length != 0) bias.CopyTo(_bias.AsSpan());
    }

    public ConvParams Params { get; }
    public ConvEpilogue Epilogue { get; }
    public bool InputNchwc { get; }
    public SimdLevel Level { get; }
    public long PreparedBytes => _w.Bytes + _bias.Bytes;

    public int ConvOutH(int h) => Params.OutH(h);
    public int ConvOutW(int w) => Params.OutW(w);
    public int OutH(int h) => Epilogue.MaxPool2x2 ? ConvOutH(h) / 2 : ConvOutH(h);
    public int OutW(int w) => Epilogue.MaxPool2x2 ? ConvOutW(w) / 2 : ConvOutW(w);

    public long WorkspaceBytes(int n, int h, int w, IKernelRunner pool) => WorkspaceBytesFor(Params, w, pool.Threads);

    /// <summary>Workspace bytes for a run on input width w, without preparing weights (the planner asks this).</summary>
    public static long WorkspaceBytesFor(ConvParams p, int w, int threads) => threads * PerThreadFloats(p, w) * sizeof(float);

    private long PerThreadFloats(int w) => PerThreadFloats(Params, w);

    private static long PerThreadFloats(ConvParams p, int w) => ((long)2 * (p.OutW(w) + 8) * 64 + 15) / 16 * 16;

    /// <summary>
    /// y = epilogue(conv(x) + bias). x: NCHW [n][C][h][w] or NCHWc16 (<see cref="InputNchwc"/>);
    /// y: NCHWc16 [n][M/16][OutH][OutW][16]. workspace: <see cref="WorkspaceBytes"/> bytes.
    /// </summary>
    public void Run(float* x, float* y, int n, int h, int w, float* workspace, IKernelRunner pool) =>
        RunWithLayouts(x, y, n, h, w, workspace, pool, InputNchwc, outputBlocked: true);

    /// <summary>
    /// As <see cref="Run"/> with the layouts given per call (the prepared weights do not depend on them):
    /// input NCHWc16 or NCHW, output NCHWc16 or (<paramref name="outputBlocked"/> false) NCHW.
    /// </summary>
    public void RunWithLayouts(float* x, float* y, int n, int h, int w, float* workspace, IKernelRunner pool, bool inputNchwc, bool outputBlocked)
    {
        int oh = ConvOutH(h), ow = ConvOutW(w);
        if (n < 1 || h < 1 || w < 1 || oh < 1 || ow < 1)
            throw new ArgumentException($"{Params}: input {n}×{Params.C}×{h}×{w} gives an empty output ({oh}×{ow})");
        if (Epilogue.MaxPool2x2 && (oh < 2 || ow < 2)) throw new ArgumentException($"2×2 max-pool needs a conv output of at least 2×2, got {oh}×{ow}");
        var p = Params;
        int units = Epilogue.MaxPool2x2 ? oh / 2 : oh;
        int sw = p.StrideW, pl = p.PadLeft, effW = (p.KernelW - 1) * p.DilationW;
        int oxLo = Math.Min(ow, (pl + sw - 1) / sw);
        int oxHi = w - 1 - effW + pl < 0 ? -1 : Math.Min(ow - 1, (w - 1 - effW + pl) / sw);
        var ctx = new Ctx
        {
            X = x, Y = y, Ws = workspace, Wt = _w.Pointer, Bias = _bias.Pointer,
            N = n, H = h, W = w, Oh = oh, Ow = ow, Units = units, MBlocks = _mp64 / 64, Mb16 = _mb16,
            C = p.C, Kh = p.KernelH, Kw = p.KernelW, Sh = p.StrideH, Sw = sw, Pt = p.PadTop, Pl = pl, Dh = p.DilationH, Dw = p.DilationW,
            OxLo = oxLo, OxHi = oxHi, Nchwc = inputNchwc, OutBlocked = outputBlocked, M = p.M, Relu = Epilogue.Relu, Pool = Epilogue.MaxPool2x2, Level = Level,
            PerThread = PerThreadFloats(w),
            OutH = OutH(h), OutW = OutW(w),
        };
        pool.For(n * units * ctx.MBlocks, &Item, &ctx);
    }

    private struct Ctx
    {
        public float* X, Y, Ws, Wt, Bias;
        public int N, H, W, Oh, Ow, Units, MBlocks, Mb16, C, Kh, Kw, Sh, Sw, Pt, Pl, Dh, Dw, OxLo, OxHi, OutH, OutW;
        public long PerThread;
        public bool Nchwc, Relu, Pool, OutBlocked;
        public int M;
        public SimdLevel Level;
    }

    private static void Item(void* p, int item, int thread)
    {
        ref Ctx c = ref *(Ctx*)p;
        switch (c.Level)
        {
            case SimdLevel.Avx512: ItemT<V512>(ref c, item, thread); break;
            case SimdLevel.Avx2: ItemT<V256>(ref c, item, thread); break;
            default: ItemT<V128>(ref c, item, thread); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ItemT<T>(ref Ctx c, int item, int thread) where T : struct, IVec16<T>
    {
        int mb = item % c.MBlocks;
        int rest = item / c.MBlocks;
        int unit = rest % c.Units, img = rest / c.Units;
        float* row0 = c.Ws + thread * c.PerThread;
        float* row1 = row0 + (long)(c.Ow + 8) * 64;
        float* wpanel = c.Wt + (long)mb * c.C * c.Kh * c.Kw * 64;
        float* bias = c.Bias + mb * 64;
        int blocks = Math.Min(4, c.Mb16 - mb * 4);
        long outPlane = (long)c.OutH * c.OutW * 16;
        float* dst = c.Y + ((long)img * c.Mb16 + mb * 4) * outPlane;
        long ohw = (long)c.OutH * c.OutW;
        float* nchw = c.Y + ((long)img * c.M + mb * 64) * ohw;
        float* lane = stackalloc float[16];
        if (!c.Pool)
        {
            ConvRow<T>(ref c, img, unit, wpanel, row0);
            for (int ox = 0; ox < c.Ow; ox++)
                for (int j = 0; j < blocks; j++)
                {
                    T v = T.Load(row0 + ox * 64 + j * 16) + T.Load(bias + j * 16);
                    if (c.Relu) v = T.Max(v, T.Zero);
                    long pix = (long)unit * c.OutW + ox;
                    if (c.OutBlocked) T.Store(dst + j * outPlane + pix * 16, v);
                    else EpilogueStore.Scatter(v, nchw + j * 16 * ohw + pix, ohw, Math.Min(16, c.M - mb * 64 - j * 16), lane);
                }
        }
        else
        {
            ConvRow<T>(ref c, img, 2 * unit, wpanel, row0);
            ConvRow<T>(ref c, img, 2 * unit + 1, wpanel, row1);
            for (int px = 0; px < c.OutW; px++)
                for (int j = 0; j < blocks; j++)
                {
                    float* a = row0 + 2 * px * 64 + j * 16;
                    float* b = row1 + 2 * px * 64 + j * 16;
                    T v = T.Max(T.Max(T.Load(a), T.Load(a + 64)), T.Max(T.Load(b), T.Load(b + 64))) + T.Load(bias + j * 16);
                    if (c.Relu) v = T.Max(v, T.Zero);
                    long pix = (long)unit * c.OutW + px;
                    if (c.OutBlocked) T.Store(dst + j * outPlane + pix * 16, v);
                    else EpilogueStore.Scatter(v, nchw + j * 16 * ohw + pix, ohw, Math.Min(16, c.M - mb * 64 - j * 16), lane);
                }
        }
    }

    // One conv output row (no bias) for one 64-channel panel into row[ow][64].
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ConvRow<T>(ref Ctx c, int img, int oy, float* wpanel, float* row) where T : struct, IVec16<T>
    {
        float* ximg = c.X + (long)img * (c.Nchwc ? Nchwc.Padded(c.C) : c.C) * c.H * c.W;
        for (int ox = 0; ox < c.OxLo; ox++) BorderPixel<T>(ref c, ximg, oy, ox, wpanel, row + ox * 64);
        for (int ox = c.OxLo; ox <= c.OxHi; ox += 6)
        {
            int npx = Math.Min(6, c.OxHi + 1 - ox);
            if (typeof(T) == typeof(V512)) Block6x64(ref c, ximg, oy, ox, npx, wpanel, row + ox * 64);
            else for (int j = 0; j < 64; j += 16) Block6x16<T>(ref c, ximg, oy, ox, npx, wpanel + j, row + ox * 64 + j);
        }
        for (int ox = Math.Max(c.OxLo, c.OxHi + 1); ox < c.Ow; ox++) BorderPixel<T>(ref c, ximg, oy, ox, wpanel, row + ox * 64);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long ChannelOffset(ref Ctx c, int ch) =>
        c.Nchwc ? (long)(ch >> 4) * c.H * c.W * 16 + (ch & 15) : (long)ch * c.H * c.W;

    // 6 interior pixels (pixels ≥ npx repeat the last valid one and are not stored) × 64 channels.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block6x64(ref Ctx c, float* ximg, int oy, int ox0, int npx, float* wpanel, float* outp)
    {
        int ps = c.Nchwc ? 16 : 1;
        nint step = (nint)c.Sw * ps;
        nint o1 = (npx > 1 ? 1 : 0) * step, o2 = (npx > 2 ? 2 : npx - 1) * step, o3 = (npx > 3 ? 3 : npx - 1) * step;
        nint o4 = (npx > 4 ? 4 : npx - 1) * step, o5 = (npx > 5 ? 5 : npx - 1) * step;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a43 = default;
        Vector512<float> a50 = default, a51 = default, a52 = default, a53 = default;
        int khw = c.Kh * c.Kw;
        for (int ch = 0; ch < c.C; ch++)
        {
            float* xc = ximg + ChannelOffset(ref c, ch);
            for (int ky = 0; ky < c.Kh; ky++)
            {
                int iy = oy * c.Sh - c.Pt + ky * c.Dh;
                if ((uint)iy >= (uint)c.H) continue;
                float* xr = xc + ((long)iy * c.W + (long)ox0 * c.Sw - c.Pl) * ps;
                float* wk = wpanel + ((long)ch * khw + ky * c.Kw) * 64;
                for (int kx = 0; kx < c.Kw; kx++)
                {
                    float* xp = xr + (nint)kx * c.Dw * ps;
                    var b0 = Vector512.Load(wk); var b1 = Vector512.Load(wk + 16);
                    var b2 = Vector512.Load(wk + 32); var b3 = Vector512.Load(wk + 48);
                    wk += 64;
                    var x = Vector512.Create(xp[0]);
                    a00 = Vector512.FusedMultiplyAdd(x, b0, a00); a01 = Vector512.FusedMultiplyAdd(x, b1, a01);
                    a02 = Vector512.FusedMultiplyAdd(x, b2, a02); a03 = Vector512.FusedMultiplyAdd(x, b3, a03);
                    x = Vector512.Create(xp[o1]);
                    a10 = Vector512.FusedMultiplyAdd(x, b0, a10); a11 = Vector512.FusedMultiplyAdd(x, b1, a11);
                    a12 = Vector512.FusedMultiplyAdd(x, b2, a12); a13 = Vector512.FusedMultiplyAdd(x, b3, a13);
                    x = Vector512.Create(xp[o2]);
                    a20 = Vector512.FusedMultiplyAdd(x, b0, a20); a21 = Vector512.FusedMultiplyAdd(x, b1, a21);
                    a22 = Vector512.FusedMultiplyAdd(x, b2, a22); a23 = Vector512.FusedMultiplyAdd(x, b3, a23);
                    x = Vector512.Create(xp[o3]);
                    a30 = Vector512.FusedMultiplyAdd(x, b0, a30); a31 = Vector512.FusedMultiplyAdd(x, b1, a31);
                    a32 = Vector512.FusedMultiplyAdd(x, b2, a32); a33 = Vector512.FusedMultiplyAdd(x, b3, a33);
                    x = Vector512.Create(xp[o4]);
                    a40 = Vector512.FusedMultiplyAdd(x, b0, a40); a41 = Vector512.FusedMultiplyAdd(x, b1, a41);
                    a42 = Vector512.FusedMultiplyAdd(x, b2, a42); a43 = Vector512.FusedMultiplyAdd(x, b3, a43);
                    x = Vector512.Create(xp[o5]);
                    a50 = Vector512.FusedMultiplyAdd(x, b0, a50); a51 = Vector512.FusedMultiplyAdd(x, b1, a51);
                    a52 = Vector512.FusedMultiplyAdd(x, b2, a52); a53 = Vector512.FusedMultiplyAdd(x, b3, a53);
                }
            }
        }
        Store(outp, a00, a01, a02, a03);
        if (npx > 1) Store(outp + 64, a10, a11, a12, a13);
        if (npx > 2) Store(outp + 128, a20, a21, a22, a23);
        if (npx > 3) Store(outp + 192, a30, a31, a32, a33);
        if (npx > 4) Store(outp + 256, a40, a41, a42, a43);
        if (npx > 5) Store(outp + 320, a50, a51, a52, a53);

        static void Store(float* p, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
        {
            v0.Store(p); v1.Store(p + 16); v2.Store(p + 32); v3.Store(p + 48);
        }
    }

    // Same as Block6x64 for 16 of the panel's channels (wpanel and outp already offset), any level.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block6x16<T>(ref Ctx c, float* ximg, int oy, int ox0, int npx, float* wpanel, float* outp) where T : struct, IVec16<T>
    {
        int ps = c.Nchwc ? 16 : 1;
        nint step = (nint)c.Sw * ps;
        nint o1 = (npx > 1 ? 1 : 0) * step, o2 = (npx > 2 ? 2 : npx - 1) * step, o3 = (npx > 3 ? 3 : npx - 1) * step;
        nint o4 = (npx > 4 ? 4 : npx - 1) * step, o5 = (npx > 5 ? 5 : npx - 1) * step;
        T a0 = T.Zero, a1 = T.Zero, a2 = T.Zero, a3 = T.Zero, a4 = T.Zero, a5 = T.Zero;
        int khw = c.Kh * c.Kw;
        for (int ch = 0; ch < c.C; ch++)
        {
            float* xc = ximg + ChannelOffset(ref c, ch);
            for (int ky = 0; ky < c.Kh; ky++)
            {
                int iy = oy * c.Sh - c.Pt + ky * c.Dh;
                if ((uint)iy >= (uint)c.H) continue;
                float* xr = xc + ((long)iy * c.W + (long)ox0 * c.Sw - c.Pl) * ps;
                float* wk = wpanel + ((long)ch * khw + ky * c.Kw) * 64;
                for (int kx = 0; kx < c.Kw; kx++)
                {
                    float* xp = xr + (nint)kx * c.Dw * ps;
                    T b = T.Load(wk);
                    wk += 64;
                    a0 = T.Fma(T.Splat(xp[0]), b, a0);
                    a1 = T.Fma(T.Splat(xp[o1]), b, a1);
                    a2 = T.Fma(T.Splat(xp[o2]), b, a2);
                    a3 = T.Fma(T.Splat(xp[o3]), b, a3);
                    a4 = T.Fma(T.Splat(xp[o4]), b, a4);
                    a5 = T.Fma(T.Splat(xp[o5]), b, a5);
                }
            }
        }
        T.Store(outp, a0);
        if (npx > 1) T.Store(outp + 64, a1);
        if (npx > 2) T.Store(outp + 128, a2);
        if (npx > 3) T.Store(outp + 192, a3);
        if (npx > 4) T.Store(outp + 256, a4);
        if (npx > 5) T.Store(outp + 320, a5);
    }

    // One pixel whose receptive field crosses the input border: every tap checked.
    private static void BorderPixel<T>(ref Ctx c, float* ximg, int oy, int ox, float* wpanel, float* outp) where T : struct, IVec16<T>
    {
        T a0 = T.Zero, a1 = T.Zero, a2 = T.Zero, a3 = T.Zero;
        int ps = c.Nchwc ? 16 : 1;
        int khw = c.Kh * c.Kw;
        for (int ch = 0; ch < c.C; ch++)
        {
            float* xc = ximg + ChannelOffset(ref c, ch);
            for (int ky = 0; ky < c.Kh; ky++)
            {
                int iy = oy * c.Sh - c.Pt + ky * c.Dh;
                if ((uint)iy >= (uint)c.H) continue;
                for (int kx = 0; kx < c.Kw; kx++)
                {
                    int ix = ox * c.Sw - c.Pl + kx * c.Dw;
                    if ((uint)ix >= (uint)c.W) continue;
                    T x = T.Splat(xc[((long)iy * c.W + ix) * ps]);
                    float* wk = wpanel + ((long)ch * khw + ky * c.Kw + kx) * 64;
                    a0 = T.Fma(x, T.Load(wk), a0);
                    a1 = T.Fma(x, T.Load(wk + 16), a1);
                    a2 = T.Fma(x, T.Load(wk + 32), a2);
                    a3 = T.Fma(x, T.Load(wk + 48), a3);
                }
            }
        }
        T.Store(outp, a0);
        T.Store(outp + 16, a1);
        T.Store(outp + 32, a2);
        T.Store(outp + 48, a3);
    }

    public void Dispose()
    {
        _w.Dispose();
        _bias.Dispose();
    }
}
