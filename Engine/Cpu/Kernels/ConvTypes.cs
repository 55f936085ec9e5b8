namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// What a convolution kernel applies to its output before storing it: y = pool(act(conv(x) + bias)).
/// <see cref="MaxPool2x2"/> is torch.nn.MaxPool2d(2, 2) (floor mode, no padding): an odd last row or
/// column of the conv output is dropped, as PyTorch does. ReLU commutes with the max, so kernels pool first.
/// </summary>
internal readonly record struct ConvEpilogue(bool Relu, bool MaxPool2x2)
{
    public static ConvEpilogue None => default;
    public static ConvEpilogue ReluOnly => new(true, false);
    public static ConvEpilogue ReluPool => new(true, true);
}

/// <summary>
/// A 2-D convolution's static parameters (ONNX Conv / torch.nn.Conv2d): input channels C, output
/// channels M, kernel kh×kw, strides, pads [top, left, bottom, right], dilations, groups.
/// </summary>
internal readonly record struct ConvParams(
    int C, int M, int KernelH, int KernelW,
    int StrideH = 1, int StrideW = 1,
    int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0,
    int DilationH = 1, int DilationW = 1, int Groups = 1)
{
    /// <summary>torch.nn.Conv2d(C, M, k, stride, padding) with square kernel and symmetric padding.</summary>
    public static ConvParams Square(int c, int m, int k, int stride = 1, int pad = 0) =>
        new(c, m, k, k, stride, stride, pad, pad, pad, pad);

    public int OutH(int h) => (h + PadTop + PadBottom - ((KernelH - 1) * DilationH + 1)) / StrideH + 1;
    public int OutW(int w) => (w + PadLeft + PadRight - ((KernelW - 1) * DilationW + 1)) / StrideW + 1;

    /// <summary>True for the 3×3, stride 1, pad 1, dilation 1, group 1 shape of every VGG conv.</summary>
    public bool IsVgg3x3 => KernelH == 3 && KernelW == 3 && StrideH == 1 && StrideW == 1 &&
        PadTop == 1 && PadLeft == 1 && PadBottom == 1 && PadRight == 1 && DilationH == 1 && DilationW == 1 && Groups == 1;

    public override string ToString() =>
        $"Conv(C={C}, M={M}, k={KernelH}x{KernelW}, s={StrideH}x{StrideW}, pad=[{PadTop},{PadLeft},{PadBottom},{PadRight}], d={DilationH}x{DilationW}, g={Groups})";
}

/// <summary>NCHWc16 helpers: channel c lives in block c/16, lane c%16; [N][ceil(C/16)][H][W][16], padded lanes zero.</summary>
internal static class Nchwc
{
    public const int Block = 16;
    public static int Blocks(int c) => (c + Block - 1) / Block;
    public static int Padded(int c) => Blocks(c) * Block;
    /// <summary>Floats of an NCHWc16 tensor.</summary>
    public static long Floats(int n, int c, int h, int w) => (long)n * Padded(c) * h * w;
}

/// <summary>Epilogue stores to plain NCHW (the end of a blocked chain): one vector of 16 channels to 16 planes.</summary>
internal static unsafe class EpilogueStore
{
    /// <summary>Writes the first <paramref name="lanes"/> lanes of <paramref name="v"/> to y[l·plane], l &lt; lanes; <paramref name="scratch"/> holds 16 floats.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static void Scatter<T>(T v, float* y, long plane, int lanes, float* scratch) where T : struct, IVec16<T>
    {
        T.Store(scratch, v);
        for (int l = 0; l < lanes; l++) y[l * plane] = scratch[l];
    }
}
