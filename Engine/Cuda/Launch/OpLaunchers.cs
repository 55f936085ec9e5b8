using Vgg.Engine.Cuda.Compile;

namespace Vgg.Engine.Cuda.Launch;

/// <summary>Arithmetic precision of a CUDA kernel path.</summary>
public enum CudaPrecision
{
    /// <summary>float32 activations and weights, FP32 FMA.</summary>
    Float32,
    /// <summary>float16 activations and weights, FP32 accumulation on tensor cores.</summary>
    Float16,
    /// <summary>int8 activations and weights (symmetric), int32 accumulation; see Engine/Cuda/QUANTIZATION.md.</summary>
    Int8,
}

/// <summary>Facts about each precision's storage.</summary>
public static class CudaPrecisions
{
    /// <summary>Bytes per activation / weight element: 4, 2, 1.</summary>
    public static int ElementSize(this CudaPrecision p) => p switch { CudaPrecision.Float32 => 4, CudaPrecision.Float16 => 2, _ => 1 };

    /// <summary>Elements per 16-byte vector: the channel / K alignment the fast kernels need (4, 8, 16).</summary>
    public static int VectorElements(this CudaPrecision p) => 16 / p.ElementSize();

    /// <summary>"f32", "f16", "i8": the kernel name suffix.</summary>
    public static string Suffix(this CudaPrecision p) => p switch { CudaPrecision.Float32 => "f32", CudaPrecision.Float16 => "f16", _ => "i8" };

    /// <summary><paramref name="c"/> rounded up to the precision's vector width.</summary>
    public static int PadChannels(this CudaPrecision p, int c) => (c + p.VectorElements() - 1) / p.VectorElements() * p.VectorElements();
}

/// <summary>
/// The epilogue's output type: <see cref="Native"/> writes the path's own type (f32, f16, int8 codes
/// requantized to the next tensor's scale); <see cref="Float32"/> writes float32 (logits, outputs).
/// </summary>
public enum OutputMode
{
    Native = 0,
    Float32 = 1,
}

/// <summary>A planned kernel: variant, grid, block, shared memory and split-K, chosen at plan time without pointers.</summary>
/// <param name="Kernel">Catalog entry.</param>
/// <param name="Grid">Blocks.</param>
/// <param name="Splits">Split-K factor (gridDim.z); 1 means the kernel applies the epilogue itself.</param>
/// <param name="KTilesPerSplit">k-tiles each split covers.</param>
/// <param name="WorkspaceBytes">Split-K workspace (splits·M·N·4 bytes), 0 without split-K.</param>
public sealed record TileChoice(KernelInfo Kernel, Dim3 Grid, int Splits, int KTilesPerSplit, long WorkspaceBytes)
{
    public Dim3 Block => new((uint)Kernel.Threads);
    public override string ToString() => $"{Kernel.Name} grid {Grid} splits {Splits}";
}

/// <summary>
/// A 3×3 / stride 1 / padding 1 convolution on NHWC data, with bias, optional ReLU and optionally the
/// following 2×2/2 max-pool fused (conv3x3_*.cu). <see cref="Plan"/> picks the tile and split-K at
/// plan time; <see cref="Launches"/> packs the arguments once the arena addresses are known.
/// </summary>
/// <param name="Precision">Kernel path.</param>
/// <param name="Batch">N.</param>
/// <param name="H">Input height (= output height before the pool).</param>
/// <param name="W">Input width.</param>
/// <param name="C">Stored input channels, a multiple of the precision's vector width (the network input is padded).</param>
/// <param name="K">Output channels.</param>
/// <param name="Relu">Fused ReLU.</param>
/// <param name="Pool">Fused 2×2 stride-2 max-pool (floor mode).</param>
/// <param name="Output">Output type.</param>
public sealed record Conv3x3Launcher(CudaPrecision Precision, int Batch, int H, int W, int C, int K, bool Relu, bool Pool, OutputMode Output = OutputMode.Native)
{
    /// <summary>Output height (H/2 with the fused pool).</summary>
    public int OutH => Pool ? H / 2 : H;

    /// <summary>Output width.</summary>
    public int OutW => Pool ? W / 2 : W;

    /// <summary>GEMM rows: output pixels, or 4 per pooled pixel.</summary>
    public long M => Pool ? (long)Batch * (H / 2) * (W / 2) * 4 : (long)Batch * H * W;

    /// <summary>Weight layout the kernel reads: [K][3][3][C] (KRSC), C padded like the input.</summary>
    public int[] WeightShape => new[] { K, 3, 3, C };

    /// <summary>Why this layer cannot take the fast kernel, or null when it can.</summary>
    public string? Unsupported()
    {
        int vec = Precision.VectorElements();
        if (C % vec != 0) return $"input channels {C} are not a multiple of {vec} (pad them)";
        if (Pool && (H < 2 || W < 2)) return $"a fused 2x2 pool needs H, W >= 2, got {H}x{W}";
        long inElems = (long)Batch * H * W * C, outElems = (long)Batch * H * W * K;
        if (inElems >= int.MaxValue || outElems >= int.MaxValue || (long)K * 9 * C >= int.MaxValue)
            return $"tensors of {Math.Max(inElems, outElems)} elements exceed the kernels' 32-bit offsets (split the batch)";
        return null;
    }

    /// <summary>Chooses the tile (128×128 when it fills the device, 64×64 otherwise) and split-K.</summary>
    /// <param name="multiprocessors">The device's SM count.</param>
    /// <param name="forceTile">64 or 128 to force a tile (tests cover every variant); 0 to choose.</param>
    /// <param name="forceSplits">A split-K factor to force (≥ 1); 0 to choose.</param>
    /// <exception cref="NotSupportedException">See <see cref="Unsupported"/>.</exception>
    public TileChoice Plan(int multiprocessors, int forceTile = 0, int forceSplits = 0)
    {
        if (Unsupported() is { } why) throw new NotSupportedException($"conv3x3 {Precision}: {why}");
        string p = Precision.Suffix(), pool = Pool ? "pool2_" : "";
        int kdim = 9 * C;
        int bk = Precision == CudaPrecision.Float32 ? 8 : 64 / Precision.ElementSize();
        long bigBlocks = Ceil(M, 128) * Ceil(K, 128);
        bool big = forceTile != 0 ? forceTile == 128 : K >= 128 && bigBlocks >= multiprocessors;
        int tile = big ? 128 : 64;
        var kernel = KernelCatalog.Get($"vgg_conv3x3_bias_relu_{pool}{p}_{tile}x{tile}");
        long blocks = Ceil(M, tile) * Ceil(K, tile);
        int ktiles = (kdim + bk - 1) / bk;
        var (splits, per) = forceSplits > 0 ? Forced(ktiles, forceSplits) : SplitK(blocks, ktiles, multiprocessors, big);
        long ws = splits > 1 ? (long)splits * M * K * 4 : 0;
        return new TileChoice(kernel, new Dim3((uint)Ceil(M, tile), (uint)Ceil(K, tile), (uint)splits), splits, per, ws);
    }

    /// <summary>The launches (the conv, plus the split-K epilogue when split).</summary>
    /// <param name="choice">From <see cref="Plan"/>.</param>
    /// <param name="x">Input NHWC.</param>
    /// <param name="w">Weights KRSC.</param>
    /// <param name="bias">f32 [K] (f32/f16) or int32 [K] (int8).</param>
    /// <param name="scale">int8 only: f32 [K] multipliers (requantize) or factors (dequantize); else 0.</param>
    /// <param name="y">Output NHWC.</param>
    /// <param name="workspace">Split-K workspace of choice.WorkspaceBytes, or 0.</param>
    public KernelLaunch[] Launches(TileChoice choice, ulong x, ulong w, ulong bias, ulong scale, ulong y, ulong workspace)
    {
        var k = choice.Kernel;
        int smem = k.DynamicSharedBytes;
        KernelArg[] args = Precision == CudaPrecision.Float32
            ? new KernelArgs().Ptr(x).Ptr(w).Ptr(bias).Ptr(y).Ptr(workspace).Int(Batch).Int(H).Int(W).Int(C).Int(K).Int(Relu ? 1 : 0).Int(choice.KTilesPerSplit).ToArray()
            : new KernelArgs().Ptr(x).Ptr(w).Ptr(bias).Ptr(scale).Ptr(y).Ptr(workspace).Int(Batch).Int(H).Int(W).Int(C).Int(K).Int(Relu ? 1 : 0).Int((int)Output).Int(choice.KTilesPerSplit).ToArray();
        var main = new KernelLaunch(k.Source, k.Name, choice.Grid, choice.Block, smem, args);
        if (choice.Splits == 1) return new[] { main };
        return new[] { main, SplitKEpilogue.Launch(Precision, choice.Splits, checked((int)M), K, workspace, bias, scale, y, Relu, Pool, Output) };
    }

    internal static long Ceil(long a, long b) => (a + b - 1) / b;

    /// <summary>A forced split-K factor, made consistent (no empty split).</summary>
    internal static (int Splits, int PerSplit) Forced(int ktiles, int splits)
    {
        int per = (ktiles + Math.Min(splits, ktiles) - 1) / Math.Min(splits, ktiles);
        return ((ktiles + per - 1) / per, per);
    }

    /// <summary>Split-K when the tiles do not fill the SMs: enough splits for about two blocks per SM, at least 4 k-tiles each.</summary>
    internal static (int Splits, int PerSplit) SplitK(long blocks, int ktiles, int multiprocessors, bool bigTiles)
    {
        long target = (long)multiprocessors * (bigTiles ? 1 : 2);
        if (blocks >= target || ktiles < 8) return (1, ktiles);
        int splits = (int)Math.Min(Math.Min(Ceil(target, blocks), ktiles / 4), 16);
        if (splits <= 1) return (1, ktiles);
        int per = (ktiles + splits - 1) / splits;
        splits = (ktiles + per - 1) / per;   // no empty split
        return (splits, per);
    }
}

/// <summary>The split-K reduction + epilogue launch (splitk.cu).</summary>
public static class SplitKEpilogue
{
    /// <summary>One launch that sums <paramref name="splits"/> partial [M][N] accumulators and applies the epilogue.</summary>
    public static KernelLaunch Launch(CudaPrecision p, int splits, int m, int n, ulong workspace, ulong bias, ulong scale, ulong y, bool relu, bool pool, OutputMode output)
    {
        var k = KernelCatalog.Get("vgg_splitk_epilogue_" + p.Suffix());
        long total = (long)(pool ? m / 4 : m) * n;
        var grid = new Dim3((uint)Math.Clamp(Conv3x3Launcher.Ceil(total, 256), 1, 65535));
        var a = new KernelArgs().Ptr(workspace).Int(splits).Int(m).Int(n).Ptr(bias);
        if (p == CudaPrecision.Int8) a.Ptr(scale);
        a.Ptr(y).Int(relu ? 1 : 0);
        if (p != CudaPrecision.Float32) a.Int((int)output);
        a.Int(pool ? 1 : 0);
        return new KernelLaunch(k.Source, k.Name, grid, new Dim3(256), 0, a.ToArray());
    }
}

/// <summary>
/// A fully connected layer Y[M][N] = act(X[M][K]·W[N][K]ᵀ + b): the batch-streaming GEMV (gemv.cu) for
/// M ≤ 8·chunks at small batch, the tiled GEMM (gemm.cu) above, the naive kernel when K is not a
/// multiple of the vector width.
/// </summary>
/// <param name="Precision">Kernel path.</param>
/// <param name="M">Rows (batch).</param>
/// <param name="N">Output features.</param>
/// <param name="K">Input features.</param>
/// <param name="Relu">Fused ReLU.</param>
/// <param name="Output">Output type (the last layer writes float32 logits).</param>
public sealed record LinearLauncher(CudaPrecision Precision, int M, int N, int K, bool Relu, OutputMode Output = OutputMode.Native)
{
    /// <summary>Largest batch that takes the GEMV path (weights streamed once per 8 rows).</summary>
    public const int GemvMaxRows = 16;

    /// <summary>How the layer will run.</summary>
    public enum Path
    {
        Gemv,
        Gemm,
        Naive,
    }

    /// <summary>A path to force (tests cover every variant); null to choose.</summary>
    public Path? ForcePath { get; init; }

    /// <summary>64 or 128 to force the GEMM tile; 0 to choose.</summary>
    public int ForceTile { get; init; }

    /// <summary>A split-K factor to force for the GEMM; 0 to choose.</summary>
    public int ForceSplits { get; init; }

    /// <summary>The path: GEMV for M ≤ <see cref="GemvMaxRows"/>, tiled GEMM above, naive when K is misaligned.</summary>
    public Path Choose() =>
        K % Precision.VectorElements() != 0 ? Path.Naive : ForcePath ?? (M <= GemvMaxRows ? Path.Gemv : Path.Gemm);

    /// <summary>Plans the tiled GEMM (only for <see cref="Path.Gemm"/>).</summary>
    public TileChoice PlanGemm(int multiprocessors)
    {
        int tile = ForceTile != 0 ? ForceTile : M <= 64 ? 64 : 128;
        var kernel = KernelCatalog.Get($"vgg_gemm_bias_relu_{Precision.Suffix()}_{tile}x{tile}");
        int bk = Precision == CudaPrecision.Float32 ? 8 : 64 / Precision.ElementSize();
        long blocks = Conv3x3Launcher.Ceil(M, tile) * Conv3x3Launcher.Ceil(N, tile);
        int ktiles = (K + bk - 1) / bk;
        var (splits, per) = ForceSplits > 0 ? Conv3x3Launcher.Forced(ktiles, ForceSplits) : Conv3x3Launcher.SplitK(blocks, ktiles, multiprocessors, tile == 128);
        long ws = splits > 1 ? (long)splits * M * N * 4 : 0;
        return new TileChoice(kernel, new Dim3((uint)Conv3x3Launcher.Ceil(M, tile), (uint)Conv3x3Launcher.Ceil(N, tile), (uint)splits), splits, per, ws);
    }

    /// <summary>Workspace bytes the layer needs (split-K GEMM only).</summary>
    public long WorkspaceBytes(int multiprocessors) => Choose() == Path.Gemm ? PlanGemm(multiprocessors).WorkspaceBytes : 0;

    /// <summary>The launches for the chosen path.</summary>
    /// <param name="multiprocessors">SM count.</param>
    /// <param name="x">[M][K] activations.</param>
    /// <param name="w">[N][K] weights.</param>
    /// <param name="bias">f32 [N] or int32 [N] (int8).</param>
    /// <param name="scale">int8: f32 [N]; else 0.</param>
    /// <param name="y">[M][N] output.</param>
    /// <param name="workspace">Split-K workspace or 0.</param>
    public KernelLaunch[] Launches(int multiprocessors, ulong x, ulong w, ulong bias, ulong scale, ulong y, ulong workspace)
    {
        string p = Precision.Suffix();
        int es = Precision.ElementSize();
        int outEs = Output == OutputMode.Float32 ? 4 : es;
        switch (Choose())
        {
            case Path.Gemv:
            {
                var list = new List<KernelLaunch>();
                for (int r0 = 0; r0 < M; r0 += 8)
                {
                    int rows = Math.Min(8, M - r0);
                    int nb = rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : 8;
                    var k = KernelCatalog.Get($"vgg_gemv_bias_relu_{p}_nb{nb}");
                    var a = new KernelArgs().Ptr(w).Ptr(x + (ulong)((long)r0 * K * es)).Ptr(bias).Ptr(scale).Ptr(y + (ulong)((long)r0 * N * outEs))
                        .Int(rows).Int(N).Int(K).Int(Relu ? 1 : 0).Int((int)Output);
                    list.Add(new KernelLaunch(k.Source, k.Name, new Dim3((uint)Conv3x3Launcher.Ceil(N, 8)), new Dim3(256), 0, a.ToArray()));
                }
                return list.ToArray();
            }
            case Path.Gemm:
            {
                var c = PlanGemm(multiprocessors);
                var a = Precision == CudaPrecision.Float32
                    ? new KernelArgs().Ptr(x).Ptr(w).Ptr(bias).Ptr(y).Ptr(workspace).Int(M).Int(N).Int(K).Int(Relu ? 1 : 0).Int(c.KTilesPerSplit)
                    : new KernelArgs().Ptr(x).Ptr(w).Ptr(bias).Ptr(scale).Ptr(y).Ptr(workspace).Int(M).Int(N).Int(K).Int(Relu ? 1 : 0).Int((int)Output).Int(c.KTilesPerSplit);
                var main = new KernelLaunch(c.Kernel.Source, c.Kernel.Name, c.Grid, c.Block, c.Kernel.DynamicSharedBytes, a.ToArray());
                if (c.Splits == 1) return new[] { main };
                return new[] { main, SplitKEpilogue.Launch(Precision, c.Splits, M, N, workspace, bias, scale, y, Relu, false, Output) };
            }
            default:
            {
                var k = KernelCatalog.Get("vgg_gemm_naive_" + p);
                var a = new KernelArgs().Ptr(x).Ptr(w).Ptr(bias).Ptr(scale).Ptr(y).Int(M).Int(N).Int(K).Int(Relu ? 1 : 0).Int((int)Output);
                return new[] { new KernelLaunch(k.Source, k.Name, GridStride((long)M * N, multiprocessors), new Dim3(256), 0, a.ToArray()) };
            }
        }
    }

    /// <summary>Grid for a grid-stride kernel of 256-thread blocks: enough blocks for the work, at most 16 per SM.</summary>
    internal static Dim3 GridStride(long total, int multiprocessors) =>
        new((uint)Math.Clamp(Conv3x3Launcher.Ceil(total, 256), 1, Math.Max(1, multiprocessors) * 16L));
}

/// <summary>Any 2-D convolution (conv_general.cu): kernel, stride, padding, dilation, groups. The slow, general path.</summary>
public sealed record ConvGeneralLauncher(CudaPrecision Precision, Reference.ConvGeometry Geometry, bool Relu, OutputMode Output = OutputMode.Native)
{
    /// <summary>The launch.</summary>
    /// <param name="multiprocessors">SM count.</param>
    /// <param name="x">NHWC input [N][H][W][C].</param>
    /// <param name="w">[K][R][S][C/groups].</param>
    /// <param name="bias">f32 [K] or int32 [K].</param>
    /// <param name="scale">int8 only.</param>
    /// <param name="y">NHWC output [N][OH][OW][K].</param>
    public KernelLaunch Launch(int multiprocessors, ulong x, ulong w, ulong bias, ulong scale, ulong y)
    {
        var g = Geometry;
        var k = KernelCatalog.Get("vgg_conv_general_" + Precision.Suffix());
        var a = new KernelArgs().Ptr(x).Ptr(w).Ptr(bias).Ptr(scale).Ptr(y).Int(g.N).Int(g.H).Int(g.W).Int(g.C).Int(g.K).Int(g.R).Int(g.S)
            .Int(g.OutH).Int(g.OutW).Int(g.StrideH).Int(g.StrideW).Int(g.PadTop).Int(g.PadLeft).Int(g.DilationH).Int(g.DilationW).Int(g.Groups)
            .Int(Relu ? 1 : 0).Int((int)Output);
        return new KernelLaunch(k.Source, k.Name, LinearLauncher.GridStride((long)g.N * g.OutH * g.OutW * g.K, multiprocessors), new Dim3(256), 0, a.ToArray());
    }
}

/// <summary>Pooling, softmax and conversion launches (pool.cu, softmax.cu, convert.cu).</summary>
public static class SimpleLaunchers
{
    /// <summary>Max-pool over NHWC (output size computed by the caller in floor or ceil mode).</summary>
    public static KernelLaunch MaxPool(CudaPrecision p, int multiprocessors, ulong x, ulong y, int n, int h, int w, int c, int outH, int outW,
        int kh, int kw, int sh, int sw, int padTop, int padLeft, int dh = 1, int dw = 1)
    {
        var k = KernelCatalog.Get("vgg_maxpool_nhwc_" + p.Suffix());
        var a = new KernelArgs().Ptr(x).Ptr(y).Int(n).Int(h).Int(w).Int(c).Int(outH).Int(outW).Int(kh).Int(kw).Int(sh).Int(sw).Int(padTop).Int(padLeft).Int(dh).Int(dw);
        return new KernelLaunch(k.Source, k.Name, LinearLauncher.GridStride((long)n * outH * outW * c, multiprocessors), new Dim3(256), 0, a.ToArray());
    }

    /// <summary>Adaptive (or, with 1×1, global) average pool over NHWC.</summary>
    public static KernelLaunch AdaptiveAvgPool(CudaPrecision p, int multiprocessors, ulong x, ulong y, int n, int h, int w, int c, int outH, int outW)
    {
        var k = KernelCatalog.Get("vgg_adaptive_avgpool_nhwc_" + p.Suffix());
        var a = new KernelArgs().Ptr(x).Ptr(y).Int(n).Int(h).Int(w).Int(c).Int(outH).Int(outW);
        return new KernelLaunch(k.Source, k.Name, LinearLauncher.GridStride((long)n * outH * outW * c, multiprocessors), new Dim3(256), 0, a.ToArray());
    }

    /// <summary>Softmax or log-softmax over the middle axis of a float32 [outer][axis][inner] view.</summary>
    public static KernelLaunch Softmax(bool log, ulong x, ulong y, int outer, int axis, int inner)
    {
        var k = KernelCatalog.Get(log ? "vgg_log_softmax_f32" : "vgg_softmax_f32");
        var a = new KernelArgs().Ptr(x).Ptr(y).Int(outer).Int(axis).Int(inner);
        return new KernelLaunch(k.Source, k.Name, new Dim3((uint)((long)outer * inner)), new Dim3(256), 0, a.ToArray());
    }

    /// <summary>The network input: float32 NCHW → NHWC of the path's type, channels padded to <paramref name="cPad"/>, int8 quantized with <paramref name="scale"/>.</summary>
    public static KernelLaunch NchwToNhwc(CudaPrecision p, int multiprocessors, ulong x, ulong y, int n, int c, int h, int w, int cPad, float scale = 1f)
    {
        var k = KernelCatalog.Get("vgg_nchw_f32_to_nhwc_" + p.Suffix());
        var a = new KernelArgs().Ptr(x).Ptr(y).Int(n).Int(c).Int(h).Int(w).Int(cPad).Float(scale);
        return new KernelLaunch(k.Source, k.Name, LinearLauncher.GridStride((long)n * h * w * cPad, multiprocessors), new Dim3(256), 0, a.ToArray());
    }

    /// <summary>NHWC of the path's type → float32 NCHW, dropping padded channels, int8 dequantized with <paramref name="scale"/>.</summary>
    public static KernelLaunch NhwcToNchwF32(CudaPrecision p, int multiprocessors, ulong x, ulong y, int n, int c, int h, int w, int cPad, float scale = 1f)
    {
        var k = KernelCatalog.Get($"vgg_nhwc_{p.Suffix()}_to_nchw_f32");
        var a = new KernelArgs().Ptr(x).Ptr(y).Int(n).Int(c).Int(h).Int(w).Int(cPad).Float(scale);
        return new KernelLaunch(k.Source, k.Name, LinearLauncher.GridStride((long)n * c * h * w, multiprocessors), new Dim3(256), 0, a.ToArray());
    }

    /// <summary>NHWC → NCHW permutation in the same type (before Flatten).</summary>
    public static KernelLaunch NhwcToNchw(CudaPrecision p, int multiprocessors, ulong x, ulong y, int n, int c, int h, int w, int cPad)
    {
        var k = KernelCatalog.Get("vgg_nhwc_to_nchw_b" + p.ElementSize());
        var a = new KernelArgs().Ptr(x).Ptr(y).Int(n).Int(c).Int(h).Int(w).Int(cPad);
        return new KernelLaunch(k.Source, k.Name, LinearLauncher.GridStride((long)n * c * h * w, multiprocessors), new Dim3(256), 0, a.ToArray());
    }

    /// <summary>An elementwise conversion or activation over <paramref name="count"/> elements: vgg_convert_f32_to_f16, vgg_relu_f16, ...</summary>
    public static KernelLaunch Elementwise(string kernel, int multiprocessors, ulong x, ulong y, long count, float? scale = null)
    {
        var k = KernelCatalog.Get(kernel);
        var a = new KernelArgs().Ptr(x).Ptr(y).Long(count);
        if (scale is { } s) a.Float(s);
        return new KernelLaunch(k.Source, k.Name, LinearLauncher.GridStride(count, multiprocessors), new Dim3(256), 0, a.ToArray());
    }

    /// <summary>Per-row (per-output-channel) weight quantization or dequantization.</summary>
    public static KernelLaunch Rows(bool quantize, int multiprocessors, ulong x, ulong y, int rows, int cols, ulong scales)
    {
        var k = KernelCatalog.Get(quantize ? "vgg_quantize_rows_f32_i8" : "vgg_dequantize_rows_i8_f32");
        var a = new KernelArgs().Ptr(x).Ptr(y).Int(rows).Int(cols).Ptr(scales);
        return new KernelLaunch(k.Source, k.Name, LinearLauncher.GridStride((long)rows * cols, multiprocessors), new Dim3(256), 0, a.ToArray());
    }
}
