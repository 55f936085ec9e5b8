namespace Vgg.Perf.Kernels;

/// <summary>One (op, variant) of the kernel benchmarks with its FLOP and byte formulas, so every timing
/// prints GFLOP/s, GB/s and the share of the measured ceiling (STYLE.md: Perf registry rows).</summary>
internal sealed record PerfRow(string Op, string Variant, string FlopFormula, string ByteFormula,
    Func<LayerShape, double> Flops, Func<LayerShape, double> Bytes, Func<LayerShape, double>? ArithmeticFlops = null);

/// <summary>A layer's shape: batch N, input channels (features) C, output channels (features) M, input
/// size H×W, kernel k, output size after the epilogue (pooled) Oh×Ow; tiles of F(4×4,3×3) derive from H, W.</summary>
internal readonly record struct LayerShape(int N, int C, int M, int H, int W, int K, int Oh, int Ow)
{
    public long Tiles => (long)N * ((H + 3) / 4) * ((W + 3) / 4);
}

internal static class PerfRegistry
{
    private static double F(long v) => v;

    /// <summary>Direct convolution (and ORT's conv for comparison): every FLOP of the definition.</summary>
    public static readonly PerfRow ConvDirect = new("conv", "direct 6px×64ch",
        "2·N·M·C·k²·H·W (stride 1, same padding)", "4·(N·C·H·W + M·C·k² + N·M·Oh·Ow)",
        s => 2.0 * s.N * s.M * s.C * s.K * s.K * s.H * s.W,
        s => 4.0 * (F((long)s.N * s.C * s.H * s.W) + F((long)s.M * s.C * s.K * s.K) + F((long)s.N * s.M * s.Oh * s.Ow)));

    /// <summary>Winograd F(4×4,3×3): GFLOP/s reported in direct-convolution FLOPs (comparable with ORT),
    /// the arithmetic actually done is the 36 GEMMs over tiles; bytes count U (36/9 = 4× the weights).</summary>
    public static readonly PerfRow ConvWinograd = new("conv", "winograd F(4x4,3x3)",
        "2·N·M·C·9·H·W (direct-equivalent); done: 2·36·tiles·C·M", "4·(N·C·H·W + 36·C·M + N·M·Oh·Ow)",
        s => 2.0 * s.N * s.M * s.C * 9 * s.H * s.W,
        s => 4.0 * (F((long)s.N * s.C * s.H * s.W) + 36.0 * s.C * s.M + F((long)s.N * s.M * s.Oh * s.Ow)),
        s => 2.0 * 36 * s.Tiles * s.C * s.M);

    /// <summary>Linear layer (GEMV at N = 1): bytes are the weights plus activations.</summary>
    public static readonly PerfRow Linear = new("linear", "panel gemm 6x64 / gemv 1x64",
        "2·N·C·M", "4·(C·M + N·C + N·M)",
        s => 2.0 * s.N * s.C * s.M,
        s => 4.0 * ((double)s.C * s.M + (double)s.N * s.C + (double)s.N * s.M));

    public static IReadOnlyList<PerfRow> All => new[] { ConvDirect, ConvWinograd, Linear };
}
