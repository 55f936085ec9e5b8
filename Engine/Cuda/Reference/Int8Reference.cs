using Vgg.Engine.Cuda.Quantization;

namespace Vgg.Engine.Cuda.Reference;

/// <summary>Geometry of a 2-D convolution over NHWC data (PyTorch/ONNX semantics).</summary>
/// <param name="N">Batch.</param>
/// <param name="H">Input height.</param>
/// <param name="W">Input width.</param>
/// <param name="C">Input channels (as stored; a multiple of groups).</param>
/// <param name="K">Output channels (a multiple of groups).</param>
/// <param name="R">Kernel height.</param>
/// <param name="S">Kernel width.</param>
/// <param name="StrideH">Vertical stride.</param>
/// <param name="StrideW">Horizontal stride.</param>
/// <param name="PadTop">Top padding (the output size fixes the bottom).</param>
/// <param name="PadLeft">Left padding.</param>
/// <param name="PadBottom">Bottom padding.</param>
/// <param name="PadRight">Right padding.</param>
/// <param name="DilationH">Vertical dilation.</param>
/// <param name="DilationW">Horizontal dilation.</param>
/// <param name="Groups">Groups.</param>
public sealed record ConvGeometry(int N, int H, int W, int C, int K, int R = 3, int S = 3, int StrideH = 1, int StrideW = 1,
    int PadTop = 1, int PadLeft = 1, int PadBottom = 1, int PadRight = 1, int DilationH = 1, int DilationW = 1, int Groups = 1)
{
    /// <summary>Output height: floor((H + pads − dilation·(R−1) − 1) / stride) + 1.</summary>
    public int OutH => (H + PadTop + PadBottom - DilationH * (R - 1) - 1) / StrideH + 1;

    /// <summary>Output width.</summary>
    public int OutW => (W + PadLeft + PadRight - DilationW * (S - 1) - 1) / StrideW + 1;

    /// <summary>A 3×3, stride 1, padding 1 convolution (the VGG layer).</summary>
    public static ConvGeometry Conv3x3(int n, int h, int w, int c, int k) => new(n, h, w, c, k);
}

/// <summary>
/// The CPU reference for the INT8 kernels: exact integer arithmetic and the epilogues of
/// <see cref="Int8Scheme"/>, on NHWC int8 codes. The GPU tests and the PTX simulator compare the INT8
/// kernels against these bit for bit. Plain loops, written for clarity, not speed.
/// </summary>
public static class Int8Reference
{
    /// <summary>
    /// Convolution accumulators: acc[n, oh, ow, k] = Σ x[n, ih, iw, g·C/G + c] · w[k, r, s, c] + bias[k], in
    /// int32 (exact for VGG's sizes, wrapping like the GPU's int32 arithmetic otherwise).
    /// </summary>
    /// <param name="x">NHWC int8 [N][H][W][C].</param>
    /// <param name="w">[K][R][S][C/groups] int8.</param>
    /// <param name="bias">int32 [K] in accumulator units, or null for zeros.</param>
    /// <param name="g">Geometry.</param>
    /// <returns>NHWC int32 [N][OH][OW][K].</returns>
    public static int[] ConvAccumulators(ReadOnlySpan<sbyte> x, ReadOnlySpan<sbyte> w, ReadOnlySpan<int> bias, ConvGeometry g)
    {
        int oh = g.OutH, ow = g.OutW, cg = g.C / g.Groups, kg = g.K / g.Groups;
        if (x.Length != (long)g.N * g.H * g.W * g.C) throw new ArgumentException($"x holds {x.Length} codes, {g} needs {(long)g.N * g.H * g.W * g.C}");
        if (w.Length != (long)g.K * g.R * g.S * cg) throw new ArgumentException($"w holds {w.Length} codes, {g} needs {(long)g.K * g.R * g.S * cg}");
        var acc = new int[(long)g.N * oh * ow * g.K];
        for (int n = 0; n < g.N; n++)
            for (int y = 0; y < oh; y++)
                for (int xo = 0; xo < ow; xo++)
                    for (int k = 0; k < g.K; k++)
                    {
                        int c0 = k / kg * cg;
                        int a = bias.IsEmpty ? 0 : bias[k];
                        for (int r = 0; r < g.R; r++)
                        {
                            int ih = y * g.StrideH - g.PadTop + r * g.DilationH;
                            if ((uint)ih >= (uint)g.H) continue;
                            for (int s = 0; s < g.S; s++)
                            {
                                int iw = xo * g.StrideW - g.PadLeft + s * g.DilationW;
                                if ((uint)iw >= (uint)g.W) continue;
                                int xb = ((n * g.H + ih) * g.W + iw) * g.C + c0;
                                int wb = ((k * g.R + r) * g.S + s) * cg;
                                for (int c = 0; c < cg; c++) a = unchecked(a + x[xb + c] * w[wb + c]);
                            }
                        }
                        acc[((n * oh + y) * ow + xo) * g.K + k] = a;
                    }
        return acc;
    }

    /// <summary>One accumulator of <see cref="ConvAccumulators"/> (for checks that sample large layers).</summary>
    public static int ConvAccumulatorAt(ReadOnlySpan<sbyte> x, ReadOnlySpan<sbyte> w, ReadOnlySpan<int> bias, ConvGeometry g, int n, int oh, int ow, int k)
    {
        int cg = g.C / g.Groups, kg = g.K / g.Groups, c0 = k / kg * cg;
        int a = bias.IsEmpty ? 0 : bias[k];
        for (int r = 0; r < g.R; r++)
        {
            int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
            if ((uint)ih >= (uint)g.H) continue;
            for (int s = 0; s < g.S; s++)
            {
                int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                if ((uint)iw >= (uint)g.W) continue;
                int xb = ((n * g.H + ih) * g.W + iw) * g.C + c0;
                int wb = ((k * g.R + r) * g.S + s) * cg;
                for (int c = 0; c < cg; c++) a = unchecked(a + x[xb + c] * w[wb + c]);
            }
        }
        return a;
    }

    /// <summary>One accumulator of <see cref="GemmAccumulators"/>.</summary>
    public static int GemmAccumulatorAt(ReadOnlySpan<sbyte> x, ReadOnlySpan<sbyte> w, ReadOnlySpan<int> bias, int k, int m, int n)
    {
        int a = bias.IsEmpty ? 0 : bias[n];
        for (int t = 0; t < k; t++) a = unchecked(a + x[m * k + t] * w[n * k + t]);
        return a;
    }

    /// <summary>
    /// GEMM accumulators: acc[m, n] = Σ_k x[m, k] · w[n, k] + bias[n] in int32.
    /// </summary>
    /// <param name="x">[M][K] int8.</param>
    /// <param name="w">[N][K] int8 (PyTorch Linear layout).</param>
    /// <param name="bias">int32 [N] or empty.</param>
    /// <param name="m">Rows.</param>
    /// <param name="n">Output features.</param>
    /// <param name="k">Input features.</param>
    public static int[] GemmAccumulators(ReadOnlySpan<sbyte> x, ReadOnlySpan<sbyte> w, ReadOnlySpan<int> bias, int m, int n, int k)
    {
        if (x.Length != (long)m * k || w.Length != (long)n * k) throw new ArgumentException($"GEMM {m}x{n}x{k}: x holds {x.Length}, w holds {w.Length}");
        var acc = new int[(long)m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                int a = bias.IsEmpty ? 0 : bias[j];
                for (int t = 0; t < k; t++) a = unchecked(a + x[i * k + t] * w[j * k + t]);
                acc[i * n + j] = a;
            }
        return acc;
    }

    /// <summary>Requantizes accumulators whose innermost dimension is the channel (length multipliers.Length).</summary>
    public static sbyte[] Requantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> multipliers, bool relu)
    {
        var q = new sbyte[acc.Length];
        int k = multipliers.Length;
        for (int i = 0; i < acc.Length; i++) q[i] = Int8Scheme.Requantize(acc[i], multipliers[i % k], relu);
        return q;
    }

    /// <summary>Dequantizes accumulators whose innermost dimension is the channel.</summary>
    public static float[] Dequantize(ReadOnlySpan<int> acc, ReadOnlySpan<float> factors, bool relu)
    {
        var y = new float[acc.Length];
        int k = factors.Length;
        for (int i = 0; i < acc.Length; i++) y[i] = Int8Scheme.Dequantize(acc[i], factors[i % k], relu);
        return y;
    }

    /// <summary>
    /// Max-pool over NHWC codes, PyTorch semantics (only in-bounds taps; output size given by the caller,
    /// floor or ceil mode).
    /// </summary>
    public static sbyte[] MaxPool(ReadOnlySpan<sbyte> x, int n, int h, int w, int c, int outH, int outW,
        int kh, int kw, int sh, int sw, int padTop, int padLeft, int dh = 1, int dw = 1)
    {
        var y = new sbyte[(long)n * outH * outW * c];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        int best = int.MinValue;
                        for (int i = 0; i < kh; i++)
                        {
                            int iy = oy * sh - padTop + i * dh;
                            if ((uint)iy >= (uint)h) continue;
                            for (int j = 0; j < kw; j++)
                            {
                                int ix = ox * sw - padLeft + j * dw;
                                if ((uint)ix >= (uint)w) continue;
                                best = Math.Max(best, x[((b * h + iy) * w + ix) * c + ch]);
                            }
                        }
                        if (best == int.MinValue) throw new ArgumentException($"pool window ({oy}, {ox}) has no input element: padding too large for the kernel");
                        y[((b * outH + oy) * outW + ox) * c + ch] = (sbyte)best;
                    }
        return y;
    }

    /// <summary>Adaptive average pool over NHWC codes (PyTorch bins), each mean rounded half to even in integers.</summary>
    public static sbyte[] AdaptiveAvgPool(ReadOnlySpan<sbyte> x, int n, int h, int w, int c, int outH, int outW)
    {
        var y = new sbyte[(long)n * outH * outW * c];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                {
                    int hs = oy * h / outH, he = ((oy + 1) * h + outH - 1) / outH;
                    int ws = ox * w / outW, we = ((ox + 1) * w + outW - 1) / outW;
                    for (int ch = 0; ch < c; ch++)
                    {
                        int sum = 0;
                        for (int iy = hs; iy < he; iy++)
                            for (int ix = ws; ix < we; ix++) sum += x[((b * h + iy) * w + ix) * c + ch];
                        y[((b * outH + oy) * outW + ox) * c + ch] = Int8Scheme.RoundedMean(sum, (he - hs) * (we - ws));
                    }
                }
        return y;
    }
}
