using System.Runtime.CompilerServices;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// 3×3, stride 1, pad 1 convolution by Winograd's minimal filtering algorithm F(4×4, 3×3)
/// (Lavin &amp; Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, with the
/// interpolation points 0, ±1, ±2, ∞): each 4×4 output tile is Aᵀ[Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)]A with d the
/// 6×6 input patch. The 36 products over channels become 36 GEMMs [tiles × C]·[C × M], which is
/// where the time goes; 36/16 = 2.25 multiplies per output and channel pair instead of 9.
/// </summary>
/// <remarks>
/// Layout: input and output NCHWc16 (<see cref="Nchwc"/>). Weights transformed at prepare time in
/// float64 and stored as packed panels U[36][M/64][Cpad][64] (4× the weight bytes).
/// Epilogue fused in the output transform: + bias, ReLU, 2×2 max-pool (tiles start on even rows and
/// columns, so a 4×4 tile pools to 2×2 without crossing tiles).
/// Work: the tiles of the whole batch are cut into blocks; a work item is (tile block, output-channel
/// range). An item transforms its block's input (Bᵀ d B, all channels) into thread-local V[36][tb][Cpad],
/// runs the 36 GEMMs into O[36][tb][range] with <see cref="GemmMicroKernels"/>, then the output transform.
/// Small layers (few tiles) split the output channels between threads instead of the tiles, so at
/// batch 1 both cores work on conv5 (16 tiles) and each streams half of U. The block size and split
/// come from a small cost model (<see cref="MakePlan"/>).
/// Accuracy: the transforms multiply by up to 8 (Aᵀ) and 5 (Bᵀ) and G has entries 1/24, so the
/// rounding error is several times that of direct summation; measured relative error per layer is in
/// Tests/CpuKernels (bounded there by 2e-5 of the output's largest magnitude).
/// Variants: v1 (this file) F(4×4,3×3) with the level's micro-kernel. Variants of the GEMM are in
/// <see cref="GemmMicroKernels"/>.
/// </remarks>
internal sealed unsafe class WinogradConv3x3 : IPreparedWeights, IDisposable
{
    public const int Alpha = 6;
    public const int TileSize = 4;
    public const int Positions = Alpha * Alpha;

    private readonly int _cb, _cp, _mb16, _mp64;
    private readonly NativeBuffer _u;
    private readonly NativeBuffer _bias;
    private WinogradPlan? _plan;

    /// <param name="c">Input channels.</param>
    /// <param name="m">Output channels.</param>
    /// <param name="weight">[M, C, 3, 3] row-major (torch Conv2d.weight).</param>
    /// <param name="bias">[M] or empty for none.</param>
    /// <param name="epilogue">ReLU and 2×2 max-pool fused into the output transform.</param>
    /// <param name="level">Vector path; null for the best the hardware has.</param>
    public WinogradConv3x3(int c, int m, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, ConvEpilogue epilogue, SimdLevel? level = null)
    {
        if (c < 1 || m < 1) throw new ArgumentOutOfRangeException(nameof(c), $"channels must be positive (C={c}, M={m})");
        if (weight.Length != (long)m * c * 9) throw new ArgumentException($"weight has {weight.Length} values, expected M·C·3·3 = {(long)m * c * 9}");
        if (bias.Length != 0 && bias.Length != m) throw new ArgumentException($"bias has {bias.Length} values, expected 0 or M = {m}");
        C = c;
        M = m;
        Epilogue = epilogue;
        Level = CpuSimd.Resolve(level);
        _cb = Nchwc.Blocks(c);
        _cp = _cb * Nchwc.Block;
        _mb16 = Nchwc.Blocks(m);
        _mp64 = (m + 63) / 64 * 64;
        _u = new NativeBuffer((long)Positions * _cp * _mp64);
        _bias = new NativeBuffer(_mb16 * Nchwc.Block);
        TransformWeights(weight, _u.Pointer);
        if (bias.Length != 0) bias.CopyTo(_bias.AsSpan());
    }

    public int C { get; }
    public int M { get; }
    public ConvEpilogue Epilogue { get; }
    public SimdLevel Level { get; }

    /// <summary>Bytes of the transformed weights held by this object.</summary>
    public long PreparedBytes => _u.Bytes + _bias.Bytes;

    public int OutH(int h) => Epilogue.MaxPool2x2 ? h / 2 : h;
    public int OutW(int w) => Epilogue.MaxPool2x2 ? w / 2 : w;

    /// <summary>Workspace this kernel needs for a run of n×C×h×w on <paramref name="pool"/> (bytes, 64-byte aligned start expected).</summary>
    public long WorkspaceBytes(int n, int h, int w, IKernelRunner pool) => GetPlan(n, h, w, pool.Threads).WorkspaceFloats * sizeof(float);

    // U = G g Gᵀ per (m, c) in float64, rounded once; panel layout U[p][m/64][cpad][m%64], zero padded.
    private void TransformWeights(ReadOnlySpan<float> weight, float* u)
    {
        ReadOnlySpan<double> g = stackalloc double[]
        {
            1.0 / 4, 0, 0,
            -1.0 / 6, -1.0 / 6, -1.0 / 6,
            -1.0 / 6, 1.0 / 6, -1.0 / 6,
            1.0 / 24, 1.0 / 12, 1.0 / 6,
            1.0 / 24, -1.0 / 12, 1.0 / 6,
            0, 0, 1,
        };
        Span<double> tmp = stackalloc double[Alpha * 3];
        int mBlocks = _mp64 / 64;
        for (int m = 0; m < M; m++)
        {
            for (int c = 0; c < C; c++)
            {
                ReadOnlySpan<float> k = weight.Slice((m * C + c) * 9, 9);
                // tmp = G·k  (6×3)
                for (int i = 0; i < Alpha; i++)
                    for (int j = 0; j < 3; j++)
                        tmp[i * 3 + j] = g[i * 3] * k[j] + g[i * 3 + 1] * k[3 + j] + g[i * 3 + 2] * k[6 + j];
                // U = tmp·Gᵀ (6×6)
                for (int i = 0; i < Alpha; i++)
                    for (int j = 0; j < Alpha; j++)
                    {
                        double v = tmp[i * 3] * g[j * 3] + tmp[i * 3 + 1] * g[j * 3 + 1] + tmp[i * 3 + 2] * g[j * 3 + 2];
                        int p = i * Alpha + j;
                        u[(((long)p * mBlocks + m / 64) * _cp + c) * 64 + m % 64] = (float)v;
                    }
            }
        }
    }

    internal WinogradPlan GetPlan(int n, int h, int w, int threads)
    {
        var p = _plan;
        if (p is not null && p.N == n && p.H == h && p.W == w && p.Threads == threads) return p;
        p = MakePlan(n, h, w, threads, _cp, _mp64, ForcePlan, Level);
        _plan = p;
        return p;
    }

    /// <summary>Tuning override for benchmarks: a fixed tile-block size and channel split (null = cost model).</summary>
    internal (int TileBlock, int Splits)? ForcePlan { get; set; }

    /// <summary>Workspace bytes for a conv of C→M channels on n×h×w, without preparing weights (the planner asks this).</summary>
    public static long WorkspaceBytesFor(int c, int m, int n, int h, int w, int threads, SimdLevel? level = null) =>
        MakePlan(n, h, w, threads, Nchwc.Padded(c), (m + 63) / 64 * 64, null, CpuSimd.Resolve(level)).WorkspaceFloats * sizeof(float);

    internal static WinogradPlan MakePlan(int n, int h, int w, int threads, int cp, int mp64, (int TileBlock, int Splits)? forcePlan, SimdLevel level)
    {
        int th = (h + TileSize - 1) / TileSize, tw = (w + TileSize - 1) / TileSize;
        long tl = (long)n * th * tw;
        if (tl > int.MaxValue / 2) throw new ArgumentException($"too many tiles ({tl}) for one call; split the batch");
        int t = (int)tl;
        int mBlocks = mp64 / 64;
        if (forcePlan is { } f)
            return WinogradPlan.Create(n, h, w, threads, th, tw, Math.Min(f.TileBlock, t), (mBlocks + f.Splits - 1) / f.Splits * 64, cp, mp64);

        // Cost model, seconds per work item, calibrated on single-thread CPU-time measurements of
        // VGG-16's layers (Perf/RESULTS.md): the GEMM at 100 GFLOP/s on row groups of 6; transforms at
        // ~300 flops per tile·channel at 20 GFLOP/s; U re-read from memory at 12 GB/s for each item when
        // all of U is larger than ~12 MB (it cannot stay in the shared L3), else free (it streams from L3 behind
        // the FMAs); V and O (written by one phase, read by the next) cost L3 traffic when one item's
        // V+O passes 256 KB (then they and a panel of U no longer stay in the 1 MB L2 together) and
        // memory traffic past ~3 MB; 0.5 µs per item for scheduling. Plans: tile blocks of 6k tiles or ceil(T/k), output channels whole or split in
        // `splits` ranges (what keeps both cores busy on the late layers at batch 1: 49 or 16 tiles).
        // The AVX2/portable micro-kernels walk a 64-wide panel in four 16-column passes, so a panel
        // that is not already in L2 is fetched with a 256-byte stride four times over: for them U costs
        // 10 GB/s per item unless it stays in L2 beside V and O (measured on conv3_2: blocks of 6 tiles
        // 62 ms, of 96 tiles 17.6 ms with AVX2; AVX-512 is indifferent).
        double uTotal = (double)Positions * cp * mp64 * 4;
        bool uFromMemory = uTotal > 12e6;
        bool wideKernel = level == SimdLevel.Avx512;
        WinogradPlan? best = null;
        double bestCost = double.MaxValue;
        long bestWs = long.MaxValue;
        Span<double> load = stackalloc double[Math.Min(threads, 64)];
        Span<int> candidates = stackalloc int[64];
        int nc = 0;
        for (int tb = 6; tb <= Math.Min(RoundUp(t, 6), 192) && nc < 40; tb += 6) candidates[nc++] = Math.Min(tb, t);
        for (int k = 1; k <= 16 && nc < 64; k++) candidates[nc++] = (t + k - 1) / k;
        for (int splits = 1; splits <= Math.Min(mBlocks, 8); splits++)
        {
            int mrBlocks = (mBlocks + splits - 1) / splits;
            if (splits > 1 && (mBlocks + mrBlocks - 1) / mrBlocks != splits) continue;
            int mr = mrBlocks * 64;
            foreach (int tbSize in candidates[..nc])
            {
                long wsPerThread = (long)Positions * tbSize * (cp + mr) * 4;
                if (wsPerThread > 16_000_000 && tbSize > 6) continue;
                int tbCount = (t + tbSize - 1) / tbSize;
                // Makespan of items dealt dynamically: items in order, each to the least loaded thread.
                load.Clear();
                for (int b = 0; b < tbCount; b++)
                {
                    int tn = Math.Min(tbSize, t - b * tbSize);
                    double gemm = (double)Positions * RoundUp(tn, 6) * cp * mr * 2 / 100e9;
                    double inTr = (double)tn * cp * 300 / 20e9;
                    double outTr = (double)tn * mr * 300 / 20e9;
                    double uBytes = (double)Positions * cp * mr * 4;
                    double vo = (double)Positions * tn * (cp + mr) * 4;
                    double uTime = uFromMemory ? uBytes / 12e9 : !wideKernel && uBytes + vo > 900e3 ? uBytes / 10e9 : 0;
                    double spill = vo > 3e6 ? 2 * vo / 15e9 : !uFromMemory && vo > 256e3 ? 2 * vo / 30e9 : 0;
                    for (int s = 0; s < splits; s++)
                    {
                        int k = 0;
                        for (int i = 1; i < load.Length; i++) if (load[i] < load[k]) k = i;
                        load[k] += gemm + inTr + outTr + uTime + spill + 0.5e-6;
                    }
                }
                double cost = 0;
                foreach (var l in load) cost = Math.Max(cost, l);
                if (cost < bestCost * 0.98 || (cost <= bestCost * 1.02 && wsPerThread < bestWs))
                {
                    bestCost = Math.Min(cost, bestCost);
                    bestWs = wsPerThread;
                    best = WinogradPlan.Create(n, h, w, threads, th, tw, tbSize, mr, cp, mp64);
                }
            }
        }
        return best!;
    }

    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;

    /// <summary>
    /// y = epilogue(conv3x3(x) + bias). x: NCHWc16 [n][C/16][h][w][16] (or NCHW [n][C][h][w] when
    /// <paramref name="inputBlocked"/> is false: the input transform gathers the channels, slower);
    /// y: NCHWc16 [n][M/16][OutH][OutW][16] (or NCHW when <paramref name="outputBlocked"/> is false: the
    /// epilogue scatters). workspace: at least <see cref="WorkspaceBytes"/> bytes, 64-byte aligned.
    /// Allocates nothing after the first call for a given (n, h, w).
    /// </summary>
    public void Run(float* x, float* y, int n, int h, int w, float* workspace, IKernelRunner pool, bool inputBlocked = true, bool outputBlocked = true)
    {
        if (n < 1 || h < 1 || w < 1) throw new ArgumentOutOfRangeException(nameof(n), $"input {n}×{C}×{h}×{w}: every dimension must be positive");
        if (Epilogue.MaxPool2x2 && (h < 2 || w < 2)) throw new ArgumentException($"2×2 max-pool needs h, w ≥ 2, got {h}×{w}");
        var plan = GetPlan(n, h, w, pool.Threads);
        int* lastTb = stackalloc int[pool.Threads];
        for (int i = 0; i < pool.Threads; i++) lastTb[i] = -1;
        var ctx = new Ctx
        {
            X = x, Y = y, Ws = workspace, U = _u.Pointer, Bias = _bias.Pointer, LastTb = lastTb,
            N = n, H = h, W = w, Oh = OutH(h), Ow = OutW(w), Th = plan.Th, Tw = plan.Tw, T = plan.Tiles,
            TbSize = plan.TileBlock, MrSize = plan.ChannelRange, MrCount = plan.Splits,
            VFloats = plan.VFloats, PerThread = plan.PerThreadFloats,
            Cb = _cb, Cp = _cp, Mb16 = _mb16, Mp64 = _mp64,
            Relu = Epilogue.Relu, Pool = Epilogue.MaxPool2x2, Level = Level,
            C = C, M = M, InBlocked = inputBlocked, OutBlocked = outputBlocked,
        };
        pool.For(plan.Items, &Item, &ctx);
    }

    private struct Ctx
    {
        public float* X, Y, Ws, U, Bias;
        public int* LastTb;
        public int N, H, W, Oh, Ow, Th, Tw, T, TbSize, MrSize, MrCount;
        public long VFloats, PerThread;
        public int Cb, Cp, Mb16, Mp64;
        public bool Relu, Pool, InBlocked, OutBlocked;
        public int C, M;
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
        int tb = item / c.MrCount, mr = item % c.MrCount;
        float* v = c.Ws + thread * c.PerThread;
        float* o = v + c.VFloats;
        int t0 = tb * c.TbSize;
        int tn = Math.Min(c.TbSize, c.T - t0);
        if (c.LastTb[thread] != tb)
        {
            InputTransform<T>(ref c, v, t0, tn);
            c.LastTb[thread] = tb;
        }
        int m0 = mr * c.MrSize;
        int mLen = Math.Min(c.MrSize, c.Mp64 - m0);
        if (mLen <= 0) return;
        nint vPos = (nint)c.TbSize * c.Cp, oPos = (nint)c.TbSize * c.MrSize;
        int mBlocks = c.Mp64 / 64;
        for (int pos = 0; pos < Positions; pos++)
        {
            float* vp = v + pos * vPos;
            float* op = o + pos * oPos;
            for (int mb = 0; mb < mLen / 64; mb++)
            {
                float* panel = c.U + ((long)pos * mBlocks + m0 / 64 + mb) * c.Cp * 64;
                for (int tg = 0; tg < tn;)
                {
                    int left = tn - tg;
                    int rows = left <= 6 ? left : left <= 8 ? (left + 1) / 2 : 6;
                    GemmMicroKernels.Run(c.Level, vp + (nint)tg * c.Cp, c.Cp, panel, c.Cp, op + (nint)tg * c.MrSize + mb * 64, c.MrSize, rows, false);
                    tg += rows;
                }
            }
        }
        OutputTransform<T>(ref c, o, t0, tn, m0, mLen);
    }

    // V[p][t][c] = (Bᵀ d B)[p] for the tiles t0..t0+tn−1 and all channel blocks.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InputTransform<T>(ref Ctx c, float* v, int t0, int tn) where T : struct, IVec16<T>
    {
        float* tmp = stackalloc float[Positions * 16];
        float* patch = stackalloc float[Positions * 16];
        int tilesPerImage = c.Th * c.Tw;
        long plane = (long)c.H * c.W * 16;
        long hw = (long)c.H * c.W;
        nint vPos = (nint)c.TbSize * c.Cp;
        int h = c.H, w = c.W;
        for (int t = 0; t < tn; t++)
        {
            int g = t0 + t;
            int img = g / tilesPerImage, r = g - img * tilesPerImage;
            int ty = r / c.Tw, tx = r - ty * c.Tw;
            int y0 = ty * TileSize - 1, x0 = tx * TileSize - 1;
            bool interior = y0 >= 0 && x0 >= 0 && y0 + Alpha <= h && x0 + Alpha <= w;
            for (int cb = 0; cb < c.Cb; cb++)
            {
                float* src = c.X + ((long)img * c.Cb + cb) * plane;
                float* dst = v + (nint)t * c.Cp + cb * 16;
                bool gathered = !c.InBlocked;
                if (gathered)
                {
                    // NCHW input: gather the 6×6 patch of these 16 channels into [6][6][16], zero outside.
                    int lanes = Math.Min(16, c.C - cb * 16);
                    float* chan0 = c.X + ((long)img * c.C + cb * 16) * hw;
                    for (int i = 0; i < Alpha; i++)
                        for (int j = 0; j < Alpha; j++)
                        {
                            float* pp = patch + (i * Alpha + j) * 16;
                            int yy = y0 + i, xx = x0 + j;
                            bool inside = (uint)yy < (uint)h && (uint)xx < (uint)w;
                            long off = (long)yy * w + xx;
                            for (int l = 0; l < 16; l++) pp[l] = inside && l < lanes ? chan0[l * hw + off] : 0f;
                        }
                }
                for (int i = 0; i < Alpha; i++)
                {
                    int yy = y0 + i;
                    T d0, d1, d2, d3, d4, d5;
                    if (gathered)
                    {
                        float* row = patch + i * 96;
                        d0 = T.Load(row); d1 = T.Load(row + 16); d2 = T.Load(row + 32);
                        d3 = T.Load(row + 48); d4 = T.Load(row + 64); d5 = T.Load(row + 80);
                    }
                    else if (interior)
                    {
                        float* row = src + ((long)yy * w + x0) * 16;
                        d0 = T.Load(row); d1 = T.Load(row + 16); d2 = T.Load(row + 32);
                        d3 = T.Load(row + 48); d4 = T.Load(row + 64); d5 = T.Load(row + 80);
                    }
                    else if (yy < 0 || yy >= h)
                    {
                        d0 = d1 = d2 = d3 = d4 = d5 = T.Zero;
                    }
                    else
                    {
                        float* row = src + ((long)yy * w + x0) * 16;
                        d0 = x0 >= 0 ? T.Load(row) : T.Zero;
                        d1 = x0 + 1 < w ? T.Load(row + 16) : T.Zero;
                        d2 = x0 + 2 < w ? T.Load(row + 32) : T.Zero;
                        d3 = x0 + 3 < w ? T.Load(row + 48) : T.Zero;
                        d4 = x0 + 4 < w ? T.Load(row + 64) : T.Zero;
                        d5 = x0 + 5 < w ? T.Load(row + 80) : T.Zero;
                    }
                    BT(d0, d1, d2, d3, d4, d5, tmp + i * 96);
                }
                for (int k = 0; k < Alpha; k++)
                {
                    float* col = tmp + k * 16;
                    float* o = dst + k * vPos;
                    BTStrided(T.Load(col), T.Load(col + 96), T.Load(col + 192), T.Load(col + 288), T.Load(col + 384), T.Load(col + 480), o, Alpha * vPos);
                }
            }
        }
    }

    // Bᵀ·d for a 6-vector d, results to out[0..5] (stride 16 floats).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BT<T>(T d0, T d1, T d2, T d3, T d4, T d5, float* o) where T : struct, IVec16<T>
        => BTStrided(d0, d1, d2, d3, d4, d5, o, 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BTStrided<T>(T d0, T d1, T d2, T d3, T d4, T d5, float* o, nint stride) where T : struct, IVec16<T>
    {
        T four = T.Splat(4f), mfive = T.Splat(-5f), two = T.Splat(2f);
        T.Store(o, T.Fma(four, d0, T.Fma(mfive, d2, d4)));
        T s12 = d1 + d2, s34 = d3 + d4;
        T.Store(o + stride, s34 - four * s12);
        T d12 = d1 - d2, d43 = d4 - d3;
        T.Store(o + 2 * stride, T.Fma(four, d12, d43));
        T d31 = d3 - d1, d42 = d4 - d2;
        T.Store(o + 3 * stride, T.Fma(two, d31, d42));
        T.Store(o + 4 * stride, d42 - two * d31);
        T.Store(o + 5 * stride, T.Fma(four, d1, T.Fma(mfive, d3, d5)));
    }

    // Output transform Aᵀ M A of the 36 GEMM results per (tile, 16 channels), then the epilogue.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OutputTransform<T>(ref Ctx c, float* o, int t0, int tn, int m0, int mLen) where T : struct, IVec16<T>
    {
        float* tmp = stackalloc float[Alpha * 4 * 16];
        float* yt = stackalloc float[16 * 16];
        float* lane = stackalloc float[16];
        long ohw = (long)c.Oh * c.Ow;
        int tilesPerImage = c.Th * c.Tw;
        nint oPos = (nint)c.TbSize * c.MrSize;
        int blocks = Math.Min(mLen / 16, c.Mb16 - m0 / 16);
        T two = T.Splat(2f), four = T.Splat(4f), eight = T.Splat(8f);
        for (int t = 0; t < tn; t++)
        {
            int g = t0 + t;
            int img = g / tilesPerImage, r = g - img * tilesPerImage;
            int ty = r / c.Tw, tx = r - ty * c.Tw;
            for (int j = 0; j < blocks; j++)
            {
                int gb = m0 / 16 + j;
                float* src = o + (nint)t * c.MrSize + j * 16;
                for (int i = 0; i < Alpha; i++)
                {
                    float* row = src + i * Alpha * oPos;
                    T m0v = T.Load(row), m1 = T.Load(row + oPos), m2 = T.Load(row + 2 * oPos);
                    T m3 = T.Load(row + 3 * oPos), m4 = T.Load(row + 4 * oPos), m5 = T.Load(row + 5 * oPos);
                    AT(m0v, m1, m2, m3, m4, m5, tmp + i * 64, 16, two, four, eight);
                }
                for (int q = 0; q < 4; q++)
                {
                    float* col = tmp + q * 16;
                    AT(T.Load(col), T.Load(col + 64), T.Load(col + 128), T.Load(col + 192), T.Load(col + 256), T.Load(col + 320),
                        yt + q * 16, 64, two, four, eight);
                }
                T bias = T.Load(c.Bias + gb * 16);
                float* dstPlane = c.Y + ((long)img * c.Mb16 + gb) * c.Oh * c.Ow * 16;
                float* nchw = c.Y + ((long)img * c.M + gb * 16) * ohw;
                int lanes = Math.Min(16, c.M - gb * 16);
                if (!c.Pool)
                {
                    int rows = Math.Min(4, c.H - ty * 4), cols = Math.Min(4, c.W - tx * 4);
                    for (int rr = 0; rr < rows; rr++)
                    {
                        long pix = (long)(ty * 4 + rr) * c.Ow + tx * 4;
                        for (int q = 0; q < cols; q++)
                        {
                            T val = T.Load(yt + (rr * 4 + q) * 16) + bias;
                            if (c.Relu) val = T.Max(val, T.Zero);
                            if (c.OutBlocked) T.Store(dstPlane + (pix + q) * 16, val);
                            else EpilogueStore.Scatter(val, nchw + pix + q, ohw, lanes, lane);
                        }
                    }
                }
                else
                {
                    int rows = Math.Min(2, c.Oh - ty * 2), cols = Math.Min(2, c.Ow - tx * 2);
                    for (int rr = 0; rr < rows; rr++)
                    {
                        long pix = (long)(ty * 2 + rr) * c.Ow + tx * 2;
                        for (int q = 0; q < cols; q++)
                        {
                            float* s = yt + (2 * rr * 4 + 2 * q) * 16;
                            T val = T.Max(T.Max(T.Load(s), T.Load(s + 16)), T.Max(T.Load(s + 64), T.Load(s + 80))) + bias;
                            if (c.Relu) val = T.Max(val, T.Zero);
                            if (c.OutBlocked) T.Store(dstPlane + (pix + q) * 16, val);
                            else EpilogueStore.Scatter(val, nchw + pix + q, ohw, lanes, lane);
                        }
                    }
                }
            }
        }
    }

    // Aᵀ·m for a 6-vector m, results to out[0..3] with the given stride (floats).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AT<T>(T m0, T m1, T m2, T m3, T m4, T m5, float* o, nint stride, T two, T four, T eight) where T : struct, IVec16<T>
    {
        T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        T.Store(o, m0 + s12 + s34);
        T.Store(o + stride, T.Fma(two, d34, d12));
        T.Store(o + 2 * stride, T.Fma(four, s34, s12));
        T.Store(o + 3 * stride, T.Fma(eight, d34, d12) + m5);
    }

    public void Dispose()
    {
        _u.Dispose();
        _bias.Dispose();
    }
}

/// <summary>How one Winograd run is cut into work items (see <see cref="WinogradConv3x3"/>).</summary>
internal sealed record WinogradPlan(int N, int H, int W, int Threads, int Th, int Tw, int Tiles, int TileBlock, int ChannelRange, int Splits, long VFloats, long PerThreadFloats)
{
    public int TileBlocks => (Tiles + TileBlock - 1) / TileBlock;
    public int Items => TileBlocks * Splits;
    public long WorkspaceFloats => PerThreadFloats * Threads;

    public static WinogradPlan Create(int n, int h, int w, int threads, int th, int tw, int tileBlock, int channelRange, int cp, int mp64)
    {
        int tiles = n * th * tw;
        int splits = (mp64 / 64 + channelRange / 64 - 1) / (channelRange / 64);
        long v = (long)WinogradConv3x3.Positions * tileBlock * cp;
        long o = (long)WinogradConv3x3.Positions * tileBlock * channelRange;
        long per = (v + o + 15) / 16 * 16;
        return new WinogradPlan(n, h, w, threads, th, tw, tiles, tileBlock, channelRange, splits, v, per);
    }
}
