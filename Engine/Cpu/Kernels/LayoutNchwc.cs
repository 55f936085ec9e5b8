using System.Runtime.CompilerServices;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// Layout changes between NCHW and NCHWc16 ([N][ceil(C/16)][H][W][16], padded lanes zero), used at
/// the two ends of a chain of NCHWc16 kernels. Memory bound; parallel over (image, channel block).
/// </summary>
internal static unsafe class LayoutNchwc
{
    /// <summary>NCHW [n][c][h][w] → NCHWc16. Padded lanes are written as zero.</summary>
    public static void ToNchwc(float* src, float* dst, int n, int c, int h, int w, IKernelRunner pool)
    {
        var ctx = new Ctx { Src = src, Dst = dst, C = c, Cb = Nchwc.Blocks(c), Hw = (long)h * w };
        pool.For(n * ctx.Cb, &ToItem, &ctx);
    }

    /// <summary>NCHWc16 → NCHW [n][c][h][w] (padded lanes dropped).</summary>
    public static void FromNchwc(float* src, float* dst, int n, int c, int h, int w, IKernelRunner pool)
    {
        var ctx = new Ctx { Src = src, Dst = dst, C = c, Cb = Nchwc.Blocks(c), Hw = (long)h * w };
        pool.For(n * ctx.Cb, &FromItem, &ctx);
    }

    private struct Ctx
    {
        public float* Src, Dst;
        public int C, Cb;
        public long Hw;
    }

    private static void ToItem(void* p, int item, int thread)
    {
        ref Ctx c = ref *(Ctx*)p;
        int img = item / c.Cb, cb = item % c.Cb;
        int lanes = Math.Min(16, c.C - cb * 16);
        float* d = c.Dst + (long)item * c.Hw * 16;
        float* s = c.Src + ((long)img * c.C + cb * 16) * c.Hw;
        for (long i = 0; i < c.Hw; i++)
        {
            float* di = d + i * 16;
            int l = 0;
            for (; l < lanes; l++) di[l] = s[l * c.Hw + i];
            for (; l < 16; l++) di[l] = 0f;
        }
    }

    private static void FromItem(void* p, int item, int thread)
    {
        ref Ctx c = ref *(Ctx*)p;
        int img = item / c.Cb, cb = item % c.Cb;
        int lanes = Math.Min(16, c.C - cb * 16);
        float* s = c.Src + (long)item * c.Hw * 16;
        float* d = c.Dst + ((long)img * c.C + cb * 16) * c.Hw;
        for (int l = 0; l < lanes; l++)
        {
            float* dl = d + l * c.Hw;
            for (long i = 0; i < c.Hw; i++) dl[i] = s[i * 16 + l];
        }
    }
}

/// <summary>
/// Max pooling on NCHWc16 (torch.nn.MaxPool2d / ONNX MaxPool): kernel kh×kw, stride, pads
/// [top, left, bottom, right], dilation 1, floor or ceil mode (in ceil mode a window that would start
/// in the end padding is dropped, the PyTorch and ONNX rule). Padding never wins a max. Used where the
/// pool is not fused into a conv epilogue.
/// </summary>
internal static unsafe class MaxPoolNchwc
{
    public static int OutSize(int len, int k, int s, int padBegin, int padEnd, bool ceil)
    {
        int span = len + padBegin + padEnd - k;
        int o = (ceil ? (span + s - 1) / s : span / s) + 1;
        if (ceil && (o - 1) * s >= len + padBegin) o--;
        return o;
    }

    /// <summary>x NCHWc16 [n][C/16][h][w][16] → y NCHWc16 [n][C/16][oh][ow][16].</summary>
    public static void Run(float* x, float* y, int n, int c, int h, int w, int kh, int kw, int sh, int sw,
        int padTop, int padLeft, int padBottom, int padRight, bool ceilMode, SimdLevel level, IKernelRunner pool)
    {
        int oh = OutSize(h, kh, sh, padTop, padBottom, ceilMode), ow = OutSize(w, kw, sw, padLeft, padRight, ceilMode);
        Run(x, y, n, c, h, w, kh, kw, sh, sw, padTop, padLeft, padBottom, padRight, oh, ow, level, pool);
    }

    /// <summary>
    /// As above with the output size (oh, ow) already resolved (ONNX/PyTorch rules applied by the
    /// caller). With <c>outputNchw</c> y is written as plain NCHW [n][c][oh][ow] instead of NCHWc16.
    /// </summary>
    public static void Run(float* x, float* y, int n, int c, int h, int w, int kh, int kw, int sh, int sw,
        int padTop, int padLeft, int padBottom, int padRight, int oh, int ow, SimdLevel level, IKernelRunner pool, bool outputNchw = false)
    {
        if (oh < 1 || ow < 1) throw new ArgumentException($"max-pool {kh}×{kw} on {h}×{w} gives an empty output");
        var ctx = new Ctx
        {
            X = x, Y = y, H = h, W = w, Oh = oh, Ow = ow, Kh = kh, Kw = kw, Sh = sh, Sw = sw, Pt = padTop, Pl = padLeft,
            Level = level, C = c, Cb = Nchwc.Blocks(c), OutNchw = outputNchw,
        };
        pool.For(n * Nchwc.Blocks(c) * oh, &Item, &ctx);
    }

    private struct Ctx
    {
        public float* X, Y;
        public int H, W, Oh, Ow, Kh, Kw, Sh, Sw, Pt, Pl, C, Cb;
        public SimdLevel Level;
        public bool OutNchw;
    }

    private static void Item(void* p, int item, int thread)
    {
        ref Ctx c = ref *(Ctx*)p;
        switch (c.Level)
        {
            case SimdLevel.Avx512: Row<V512>(ref c, item); break;
            case SimdLevel.Avx2: Row<V256>(ref c, item); break;
            default: Row<V128>(ref c, item); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row<T>(ref Ctx c, int item) where T : struct, IVec16<T>
    {
        int oy = item % c.Oh, plane = item / c.Oh;
        float* xp = c.X + (long)plane * c.H * c.W * 16;
        float* yp = c.Y + ((long)plane * c.Oh + oy) * c.Ow * 16;
        int img = plane / c.Cb, cb = plane % c.Cb;
        long ohw = (long)c.Oh * c.Ow;
        float* nchw = c.Y + ((long)img * c.C + cb * 16) * ohw + (long)oy * c.Ow;
        int lanes = Math.Min(16, c.C - cb * 16);
        float* lane = stackalloc float[16];
        int y0 = oy * c.Sh - c.Pt;
        int ya = Math.Max(0, y0), yb = Math.Min(c.H, y0 + c.Kh);
        T ninf = T.Splat(float.NegativeInfinity);
        for (int ox = 0; ox < c.Ow; ox++)
        {
            int x0 = ox * c.Sw - c.Pl;
            int xa = Math.Max(0, x0), xb = Math.Min(c.W, x0 + c.Kw);
            T m = ninf;
            for (int iy = ya; iy < yb; iy++)
                for (int ix = xa; ix < xb; ix++)
                    m = T.Max(m, T.Load(xp + ((long)iy * c.W + ix) * 16));
            if (c.OutNchw) EpilogueStore.Scatter(m, nchw + ox, ohw, lanes, lane);
            else T.Store(yp + ox * 16, m);
        }
    }
}
