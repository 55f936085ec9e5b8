using System.Numerics;

namespace Vgg.Engine.Loader.Imaging;

/// <summary>
/// PIL's <c>Image.resize(size, Image.BILINEAR)</c> on 8-bit images, re-implemented so that the output is
/// bit-identical to Pillow 9.4 (the resize torchvision 0.14's <c>transforms.Resize</c> calls on a PIL image).
/// </summary>
/// <remarks>
/// The algorithm (Pillow <c>src/libImaging/Resample.c</c>, unchanged since Pillow 4.3):
/// <list type="bullet">
/// <item>Separable: a horizontal pass over the source rows the vertical pass will read, into an 8-bit
///   intermediate (clipped to 0..255), then a vertical pass. An axis whose size does not change is skipped.</item>
/// <item>Per output index <c>i</c>: <c>scale = in/out</c>, <c>filterscale = max(scale, 1)</c>,
///   <c>support = 1·filterscale</c> (the triangle filter widens when downscaling: antialiasing),
///   <c>center = (i + 0.5)·scale</c>, taps <c>[(int)(center − support + 0.5), (int)(center + support + 0.5))</c>
///   clipped to the image, weights <c>tri((j − center + 0.5)/filterscale)</c> with <c>tri(x) = max(0, 1 − |x|)</c>,
///   normalized to sum 1, all in double precision in exactly Pillow's order of operations.</item>
/// <item>Weights become fixed point with 22 fraction bits (<c>PRECISION_BITS = 32 − 8 − 2</c>), rounded half away
///   from zero; each output is <c>clip8((2^21 + Σ pixel·weight) &gt;&gt; 22)</c> in 32-bit integers.</item>
/// </list>
/// Pixels are interleaved 8-bit samples (HWC) with 1 or 3 channels; PIL resamples RGB as RGBX, which gives
/// the same values per channel. Thread-safe: no shared state.
/// </remarks>
internal static class PilResample
{
    private const int PrecisionBits = 32 - 8 - 2;
    private const int Half = 1 << (PrecisionBits - 1);

    /// <summary>Fixed-point weights of one axis: output i reads taps Start[i] .. Start[i] + Count[i] − 1 with weights Weights[Offset[i] + t].</summary>
    internal sealed class Coefficients
    {
        public required int[] Start { get; init; }
        public required int[] Count { get; init; }
        public required int[] Offset { get; init; }
        public required int[] Weights { get; init; }
    }

    /// <summary>
    /// Pillow's <c>precompute_coeffs</c> + <c>normalize_coeffs_8bpc</c> for the bilinear filter over the whole axis
    /// (box 0..inSize). Weights are stored packed (Σ Count ≈ 2·inSize + outSize), not outSize × ksize as Pillow does.
    /// </summary>
    internal static Coefficients Precompute(int inSize, int outSize)
    {
        if (inSize <= 0 || outSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(outSize), $"resize {inSize} -> {outSize}: sizes must be positive");
        // Pillow: scale = (double)(in1 - in0) / outSize with the box (in0, in1) = (0f, inSize) as floats.
        double scale = (double)(float)inSize / outSize;
        double filterscale = scale < 1.0 ? 1.0 : scale;
        double support = 1.0 * filterscale; // bilinear support = 1
        long ksize = (long)Math.Ceiling(support) * 2 + 1;
        var start = new int[outSize];
        var count = new int[outSize];
        var offset = new int[outSize];
        var packed = new List<int>((int)Math.Min(int.MaxValue / 2, 2L * inSize + 2L * outSize));
        double[] k = new double[Math.Min(ksize, (long)inSize + 1)];
        double ss = 1.0 / filterscale;
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = 0.0 + (xx + 0.5) * scale;
            double ww = 0.0;
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++)
            {
                double w = Triangle(((x + xmin) - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++)
            {
                if (ww != 0.0) k[x] /= ww;
            }
            start[xx] = xmin;
            count[xx] = Math.Max(xmax, 0);
            offset[xx] = packed.Count;
            for (int x = 0; x < xmax; x++)
            {
                double v = k[x] * (1 << PrecisionBits);
                packed.Add(k[x] < 0 ? (int)(-0.5 + v) : (int)(0.5 + v));
            }
        }
        return new Coefficients { Start = start, Count = count, Offset = offset, Weights = packed.ToArray() };
    }

    private static double Triangle(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /// <summary>Rows of the source the vertical pass reads: [first, last).</summary>
    internal static (int First, int Last) SourceRows(Coefficients vertical)
    {
        int n = vertical.Start.Length;
        return (vertical.Start[0], vertical.Start[n - 1] + vertical.Count[n - 1]);
    }

    /// <summary>
    /// Resizes <paramref name="src"/> (HWC, <paramref name="channels"/> = 1 or 3, inWidth × inHeight) to
    /// outWidth × outHeight into <paramref name="dst"/> (outHeight·outWidth·channels bytes), as Pillow does.
    /// </summary>
    internal static void Resize(ReadOnlySpan<byte> src, int inWidth, int inHeight, int channels,
                                Span<byte> dst, int outWidth, int outHeight)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 or 3 channels");
        if (src.Length < (long)inWidth * inHeight * channels) throw new ArgumentException("source buffer too small", nameof(src));
        if (dst.Length < (long)outWidth * outHeight * channels) throw new ArgumentException("destination buffer too small", nameof(dst));

        bool needH = outWidth != inWidth;
        bool needV = outHeight != inHeight;
        if (!needH && !needV)
        {
            src[..(inWidth * inHeight * channels)].CopyTo(dst);
            return;
        }

        Coefficients? vert = needV ? Precompute(inHeight, outHeight) : null;
        if (!needH)
        {
            Vertical(src, inWidth, channels, vert!, 0, dst, outHeight);
            return;
        }

        var horiz = Precompute(inWidth, outWidth);
        if (!needV)
        {
            Horizontal(src, inWidth, channels, horiz, 0, inHeight, dst, outWidth);
            return;
        }

        var (first, last) = SourceRows(vert!);
        int rows = last - first;
        long tempLength = (long)outWidth * rows * channels;
        byte[] temp = System.Buffers.ArrayPool<byte>.Shared.Rent(checked((int)tempLength));
        try
        {
            Horizontal(src, inWidth, channels, horiz, first, rows, temp, outWidth);
            Vertical(temp, outWidth, channels, vert!, first, dst, outHeight);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(temp);
        }
    }

    private static byte Clip8(int ss)
    {
        int v = ss >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>Horizontal pass on source rows [rowOffset, rowOffset + rows) into dst rows [0, rows).</summary>
    private static unsafe void Horizontal(ReadOnlySpan<byte> src, int inWidth, int channels, Coefficients c,
                                          int rowOffset, int rows, Span<byte> dst, int outWidth)
    {
        int srcStride = inWidth * channels, dstStride = outWidth * channels;
        if ((long)(rowOffset + rows) * srcStride > src.Length || (long)rows * dstStride > dst.Length)
            throw new ArgumentException("buffers too small for the horizontal pass");
        fixed (byte* sp0 = src)
        fixed (byte* dp0 = dst)
        fixed (int* wp = c.Weights)
        fixed (int* start = c.Start)
        fixed (int* count = c.Count)
        fixed (int* offset = c.Offset)
        {
            for (int yy = 0; yy < rows; yy++)
            {
                byte* s = sp0 + (long)(yy + rowOffset) * srcStride;
                byte* d = dp0 + (long)yy * dstStride;
                if (channels == 3)
                {
                    for (int xx = 0; xx < outWidth; xx++)
                    {
                        int n = count[xx];
                        int* k = wp + offset[xx];
                        byte* p = s + start[xx] * 3;
                        int s0 = Half, s1 = Half, s2 = Half;
                        for (int x = 0; x < n; x++, p += 3)
                        {
                            int kx = k[x];
                            s0 += p[0] * kx;
                            s1 += p[1] * kx;
                            s2 += p[2] * kx;
                        }
                        d[0] = Clip8(s0);
                        d[1] = Clip8(s1);
                        d[2] = Clip8(s2);
                        d += 3;
                    }
                }
                else
                {
                    for (int xx = 0; xx < outWidth; xx++)
                    {
                        int n = count[xx];
                        int* k = wp + offset[xx];
                        byte* p = s + start[xx];
                        int s0 = Half;
                        for (int x = 0; x < n; x++)
                            s0 += p[x] * k[x];
                        d[xx] = Clip8(s0);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Vertical pass: output row yy is the weighted sum of src rows Start[yy] − rowOffset ... (src holds the rows from
    /// rowOffset on). Vectorized across the row: blocks of Vector&lt;byte&gt;.Count samples kept in registers over all
    /// taps, widened to int32 (the same integer arithmetic as Pillow, so the same result).
    /// </summary>
    private static unsafe void Vertical(ReadOnlySpan<byte> src, int width, int channels, Coefficients c,
                                        int rowOffset, Span<byte> dst, int outHeight)
    {
        int stride = width * channels;
        if ((long)outHeight * stride > dst.Length)
            throw new ArgumentException("destination too small for the vertical pass");
        int vb = Vector<byte>.Count;
        var half = new Vector<int>(Half);
        var zero = Vector<int>.Zero;
        var max = new Vector<int>(255);
        fixed (byte* sp0 = src)
        fixed (byte* dp0 = dst)
        fixed (int* wp = c.Weights)
        {
            for (int yy = 0; yy < outHeight; yy++)
            {
                int ymin = c.Start[yy] - rowOffset, n = c.Count[yy];
                if (ymin < 0 || (long)(ymin + n) * stride > src.Length)
                    throw new ArgumentException("source too small for the vertical pass");
                int* k = wp + c.Offset[yy];
                byte* rows = sp0 + (long)ymin * stride;
                byte* d = dp0 + (long)yy * stride;
                int i = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    for (; i + vb <= stride; i += vb)
                    {
                        Vector<int> a0 = half, a1 = half, a2 = half, a3 = half;
                        byte* p = rows + i;
                        for (int y = 0; y < n; y++, p += stride)
                        {
                            var ky = new Vector<int>(k[y]);
                            Vector.Widen(Vector.Load(p), out Vector<ushort> lo, out Vector<ushort> hi);
                            Vector.Widen(lo, out Vector<uint> w0, out Vector<uint> w1);
                            Vector.Widen(hi, out Vector<uint> w2, out Vector<uint> w3);
                            a0 += Vector.AsVectorInt32(w0) * ky;
                            a1 += Vector.AsVectorInt32(w1) * ky;
                            a2 += Vector.AsVectorInt32(w2) * ky;
                            a3 += Vector.AsVectorInt32(w3) * ky;
                        }
                        a0 = Vector.Min(Vector.Max(Vector.ShiftRightArithmetic(a0, PrecisionBits), zero), max);
                        a1 = Vector.Min(Vector.Max(Vector.ShiftRightArithmetic(a1, PrecisionBits), zero), max);
                        a2 = Vector.Min(Vector.Max(Vector.ShiftRightArithmetic(a2, PrecisionBits), zero), max);
                        a3 = Vector.Min(Vector.Max(Vector.ShiftRightArithmetic(a3, PrecisionBits), zero), max);
                        var lo16 = Vector.Narrow(Vector.AsVectorUInt32(a0), Vector.AsVectorUInt32(a1));
                        var hi16 = Vector.Narrow(Vector.AsVectorUInt32(a2), Vector.AsVectorUInt32(a3));
                        Vector.Narrow(lo16, hi16).Store(d + i);
                    }
                }
                for (; i < stride; i++)
                {
                    int ss = Half;
                    byte* p = rows + i;
                    for (int y = 0; y < n; y++, p += stride)
                        ss += *p * k[y];
                    d[i] = Clip8(ss);
                }
            }
        }
    }
}
