namespace Vgg.Engine.Cuda.Reference;

/// <summary>
/// Float references for the FP32 and FP16 kernels on NHWC data, accumulated in float64 so that the
/// only error left in a comparison is the kernel's. Single-element functions let a check of a large
/// layer (VGG-16's 224×224 convolutions) sample output positions instead of computing them all.
/// </summary>
public static class FloatReference
{
    /// <summary>
    /// One output of a convolution before the epilogue's activation: Σ x·w + bias, in float64.
    /// </summary>
    /// <param name="x">NHWC input [N][H][W][C].</param>
    /// <param name="w">[K][R][S][C/groups].</param>
    /// <param name="bias">[K], or empty for zeros.</param>
    /// <param name="g">Geometry.</param>
    /// <param name="n">Image.</param>
    /// <param name="oh">Output row.</param>
    /// <param name="ow">Output column.</param>
    /// <param name="k">Output channel.</param>
    public static double ConvAt(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, ConvGeometry g, int n, int oh, int ow, int k)
    {
        int cg = g.C / g.Groups, kg = g.K / g.Groups, c0 = k / kg * cg;
        double a = bias.IsEmpty ? 0 : bias[k];
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
                for (int c = 0; c < cg; c++) a += (double)x[xb + c] * w[wb + c];
            }
        }
        return a;
    }

    /// <summary>One output of Y = X·Wᵀ + b (X [M][K], W [N][K]) in float64, before the activation.</summary>
    public static double GemmAt(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int k, int m, int n)
    {
        double a = bias.IsEmpty ? 0 : bias[n];
        var xr = x.Slice(m * k, k);
        var wr = w.Slice(n * k, k);
        for (int t = 0; t < k; t++) a += (double)xr[t] * wr[t];
        return a;
    }

    /// <summary>Max over the in-bounds taps of one pooling window of an NHWC tensor (PyTorch semantics).</summary>
    public static float MaxPoolAt(ReadOnlySpan<float> x, int h, int w, int c, int n, int oh, int ow, int ch,
        int kh, int kw, int sh, int sw, int padTop, int padLeft, int dh = 1, int dw = 1)
    {
        float best = float.NegativeInfinity;
        bool any = false;
        for (int i = 0; i < kh; i++)
        {
            int iy = oh * sh - padTop + i * dh;
            if ((uint)iy >= (uint)h) continue;
            for (int j = 0; j < kw; j++)
            {
                int ix = ow * sw - padLeft + j * dw;
                if ((uint)ix >= (uint)w) continue;
                best = any ? MathF.Max(best, x[((n * h + iy) * w + ix) * c + ch]) : x[((n * h + iy) * w + ix) * c + ch];
                any = true;
            }
        }
        return best;
    }

    /// <summary>Adaptive average pool of an NHWC tensor at one output (PyTorch bins), in float64.</summary>
    public static double AdaptiveAvgAt(ReadOnlySpan<float> x, int h, int w, int c, int outH, int outW, int n, int oh, int ow, int ch)
    {
        int hs = oh * h / outH, he = ((oh + 1) * h + outH - 1) / outH;
        int ws = ow * w / outW, we = ((ow + 1) * w + outW - 1) / outW;
        double s = 0;
        for (int iy = hs; iy < he; iy++)
            for (int ix = ws; ix < we; ix++) s += x[((n * h + iy) * w + ix) * c + ch];
        return s / ((he - hs) * (we - ws));
    }

    /// <summary>Softmax (or log-softmax) of each line of a [outer][axis][inner] float32 view, in float64.</summary>
    public static double[] Softmax(ReadOnlySpan<float> x, int outer, int axis, int inner, bool log)
    {
        var y = new double[x.Length];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                double m = double.NegativeInfinity;
                for (int a = 0; a < axis; a++) m = Math.Max(m, x[(o * axis + a) * inner + i]);
                double s = 0;
                for (int a = 0; a < axis; a++) s += Math.Exp(x[(o * axis + a) * inner + i] - m);
                for (int a = 0; a < axis; a++)
                {
                    double d = x[(o * axis + a) * inner + i] - m;
                    y[(o * axis + a) * inner + i] = log ? d - Math.Log(s) : Math.Exp(d) / s;
                }
            }
        return y;
    }
}
