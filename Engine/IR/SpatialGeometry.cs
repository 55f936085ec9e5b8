namespace Vgg.Engine.IR;

/// <summary>
/// One spatial axis of a convolution or pooling window, fully resolved: input length, kernel, stride,
/// dilation, the padding actually applied at the start and end, and the output length. A dynamic
/// input length (−1) gives a dynamic output (−1) and, for SAME auto-padding, unknown pads (−1).
/// </summary>
public readonly record struct SpatialAxis(int Input, int Kernel, int Stride, int Dilation, int PadBegin, int PadEnd, int Output)
{
    /// <summary>Extent of the dilated kernel: (Kernel − 1)·Dilation + 1.</summary>
    public int EffectiveKernel => (int)((long)(Kernel - 1) * Dilation + 1);
}

/// <summary>
/// Output sizes and padding of convolution and pooling windows, shared by shape inference, the
/// reference operators and the backends so that all of them agree on the geometry.
/// </summary>
/// <remarks>
/// Rules (ONNX Conv/MaxPool/AveragePool, https://onnx.ai/onnx/operators/onnx__MaxPool.html, and
/// PyTorch's <c>pooling_output_shape</c> in aten/src/ATen/native/Pool.h):
/// <list type="bullet">
/// <item>explicit pads (auto_pad NOTSET): out = floor((L + pb + pe − eff) / s) + 1, or with ceil_mode
/// ceil(...) + 1, where eff = (k − 1)·d + 1; in ceil mode a last window that would start at or beyond
/// L + pb (entirely in the end padding) is dropped, and a window longer than the padded input still gives one
/// output (PyTorch's div_rtn rounding);</item>
/// <item>SAME_UPPER / SAME_LOWER: out = ceil(L / s); total padding max(0, (out − 1)·s + eff − L),
/// split with the extra element at the end (UPPER) or the start (LOWER);</item>
/// <item>VALID: no padding, out = floor((L − eff) / s) + 1.</item>
/// </list>
/// </remarks>
public static class SpatialGeometry
{
    /// <summary>
    /// Resolves every spatial axis. Empty <paramref name="strides"/>, <paramref name="pads"/> or
    /// <paramref name="dilations"/> mean the ONNX defaults (1, 0, 1).
    /// </summary>
    /// <param name="nodeName">Node named in errors.</param>
    /// <param name="inputSpatial">Input lengths of the spatial axes (H, W or L), −1 when dynamic.</param>
    /// <param name="kernel">Kernel length per spatial axis.</param>
    /// <param name="strides">Stride per axis, or empty.</param>
    /// <param name="pads">All begins then all ends (2·spatial entries), or empty.</param>
    /// <param name="dilations">Dilation per axis, or empty.</param>
    /// <param name="autoPad">ONNX auto_pad; NotSet uses <paramref name="pads"/>.</param>
    /// <param name="ceilMode">Pooling ceil_mode (false for convolution).</param>
    /// <exception cref="GraphException">Attribute lengths do not match the spatial rank, a non-positive
    /// kernel, stride or dilation, negative pads, or a window larger than the padded input.</exception>
    public static SpatialAxis[] Resolve(string nodeName, IReadOnlyList<int> inputSpatial, IReadOnlyList<int> kernel,
        IReadOnlyList<int>? strides, IReadOnlyList<int>? pads, IReadOnlyList<int>? dilations, AutoPad autoPad, bool ceilMode)
    {
        int r = inputSpatial.Count;
        if (kernel.Count != r)
            throw new GraphException(nodeName, $"kernel_shape has {kernel.Count} entries, the input has {r} spatial axes");
        if (strides is { Count: > 0 } && strides.Count != r)
            throw new GraphException(nodeName, $"strides has {strides.Count} entries, the input has {r} spatial axes");
        if (dilations is { Count: > 0 } && dilations.Count != r)
            throw new GraphException(nodeName, $"dilations has {dilations.Count} entries, the input has {r} spatial axes");
        if (autoPad == AutoPad.NotSet && pads is { Count: > 0 } && pads.Count != 2 * r)
            throw new GraphException(nodeName, $"pads has {pads.Count} entries, expected {2 * r} (begins then ends for {r} spatial axes)");

        var axes = new SpatialAxis[r];
        for (int i = 0; i < r; i++)
        {
            int L = inputSpatial[i];
            int k = kernel[i];
            int s = strides is { Count: > 0 } ? strides[i] : 1;
            int d = dilations is { Count: > 0 } ? dilations[i] : 1;
            if (k <= 0) throw new GraphException(nodeName, $"kernel length {k} on {Axis(i, r)} must be positive");
            if (s <= 0) throw new GraphException(nodeName, $"stride {s} on {Axis(i, r)} must be positive");
            if (d <= 0) throw new GraphException(nodeName, $"dilation {d} on {Axis(i, r)} must be positive");
            long effLong = (long)(k - 1) * d + 1;
            if (effLong > int.MaxValue)
                throw new GraphException(nodeName, $"{Axis(i, r)}: the dilated kernel (kernel {k} − 1)·dilation {d} + 1 = {effLong} is longer than 2^31 − 1");
            int eff = (int)effLong;
            int pb, pe, o;
            switch (autoPad)
            {
                case AutoPad.SameUpper:
                case AutoPad.SameLower:
                    if (L < 0) { axes[i] = new SpatialAxis(L, k, s, d, -1, -1, -1); continue; }
                    o = (int)(((long)L + s - 1) / s);
                    long totalLong = Math.Max(0, (long)(o - 1) * s + eff - L);
                    if (totalLong > int.MaxValue)
                        throw new GraphException(nodeName, $"{Axis(i, r)}: SAME padding of input length {L} with stride {s} and window {eff} would need {totalLong} padding elements, more than 2^31 − 1");
                    int total = (int)totalLong;
                    if (autoPad == AutoPad.SameUpper) { pb = total / 2; pe = total - pb; }
                    else { pe = total / 2; pb = total - pe; }
                    break;
                case AutoPad.Valid:
                    pb = pe = 0;
                    if (L < 0) { axes[i] = new SpatialAxis(L, k, s, d, 0, 0, -1); continue; }
                    if (L < eff)
                        throw new GraphException(nodeName, $"{Axis(i, r)}: input length {L} is smaller than the window {eff} (kernel {k}, dilation {d}) with VALID padding");
                    o = (L - eff) / s + 1;
                    break;
                default:
                    pb = pads is { Count: > 0 } ? pads[i] : 0;
                    pe = pads is { Count: > 0 } ? pads[i + r] : 0;
                    if (pb < 0 || pe < 0) throw new GraphException(nodeName, $"{Axis(i, r)}: negative padding ({pb}, {pe})");
                    if (L < 0) { axes[i] = new SpatialAxis(L, k, s, d, pb, pe, -1); continue; }
                    o = OutputLength(nodeName, i, L, eff, s, pb, pe, ceilMode, r);
                    break;
            }
            axes[i] = new SpatialAxis(L, k, s, d, pb, pe, o);
        }
        return axes;
    }

    /// <summary>"height (spatial axis 0)" for NCHW's two spatial axes, "length" for one, "depth" … for three; else the index.</summary>
    private static string Axis(int axis, int spatialRank) => spatialRank switch
    {
        1 => "length (spatial axis 0)",
        2 => (axis == 0 ? "height" : "width") + $" (spatial axis {axis})",
        3 => (axis == 0 ? "depth" : axis == 1 ? "height" : "width") + $" (spatial axis {axis})",
        _ => $"spatial axis {axis}",
    };

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);

    /// <summary>Output length on one axis with explicit padding (see the class remarks for the rule).</summary>
    /// <exception cref="GraphException">The window does not fit in the padded input.</exception>
    public static int OutputLength(string nodeName, int axis, int input, int effectiveKernel, int stride, int padBegin, int padEnd, bool ceilMode, int spatialRank = 0)
    {
        long span = (long)input + padBegin + padEnd - effectiveKernel;
        // Floor division (PyTorch's div_rtn): in ceil mode a window longer than the padded input still gives one
        // output when it starts inside it (MaxPool2d(2, 2, ceil_mode=True) on a 1×1 input gives 1×1).
        long o = ceilMode ? FloorDiv(span + stride - 1, stride) + 1 : span < 0 ? 0 : span / stride + 1;
        if (ceilMode && o > 0 && (o - 1) * stride >= (long)input + padBegin) o--;
        if (o < 1)
            throw new GraphException(nodeName, $"{Axis(axis, spatialRank)}: the window ({effectiveKernel}) is larger than the padded input ({input} + {padBegin} + {padEnd}); the output would be empty (the input is too small for this layer)");
        if (o > int.MaxValue)
            throw new GraphException(nodeName, $"{Axis(axis, spatialRank)}: output length {o} (input {input} + padding {padBegin} + {padEnd}, window {effectiveKernel}, stride {stride}) is more than 2^31 − 1");
        return (int)o;
    }

    /// <summary>
    /// Bin bounds of torch.nn.AdaptiveAvgPool along one axis: bin <paramref name="i"/> of
    /// <paramref name="outputLength"/> over <paramref name="inputLength"/> covers
    /// [floor(i·L/O), ceil((i+1)·L/O)) (aten/src/ATen/native/AdaptiveAveragePooling.cpp start_index/end_index).
    /// </summary>
    public static (int Start, int End) AdaptiveBin(int i, int inputLength, int outputLength)
    {
        int start = (int)((long)i * inputLength / outputLength);
        int end = (int)(((long)(i + 1) * inputLength + outputLength - 1) / outputLength);
        return (start, end);
    }
}
