using Vgg.Engine.Models;

namespace Vgg.Engine.Loader.Imaging;

/// <summary>
/// The size and offset arithmetic of torchvision 0.14's <c>transforms.Resize</c> and <c>transforms.CenterCrop</c>
/// on PIL images, and the fused CenterCrop + ToTensor + Normalize writer.
/// </summary>
internal static class TorchvisionGeometry
{
    /// <summary>
    /// <c>torchvision.transforms.functional._compute_resized_output_size</c> (max_size = None):
    /// Resize(size) sets the shorter side to size and the longer to <c>int(size · long / short)</c> (truncated);
    /// Resize((h, w)) is exact. Returns (height, width); equal to the input when no resize is configured.
    /// </summary>
    internal static (int Height, int Width) ResizedSize(int height, int width, Preprocessing p)
    {
        switch (p.Resize)
        {
            case ResizeMode.None:
                return (height, width);
            case ResizeMode.Exact:
                return (p.ResizeHeight, p.ResizeWidth);
            case ResizeMode.ShorterSide:
            {
                int size = p.ResizeHeight;
                (int shortSide, int longSide) = width <= height ? (width, height) : (height, width);
                // Python: int(requested_new_short * long / short): exact integer product, correctly rounded true
                // division, truncation. Both operands are exact doubles below 2^53, so IEEE division agrees.
                double exactLong = (double)((long)size * longSide) / shortSide;
                long newLong = (long)exactLong;
                if (newLong > int.MaxValue) newLong = int.MaxValue; // caught by the pixel limit
                return width <= height ? ((int)newLong, size) : (size, (int)newLong);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(p), p.Resize, "unknown resize mode");
        }
    }

    /// <summary>
    /// <c>torchvision.transforms.functional.center_crop</c>: when the crop is larger than the image on an axis, the
    /// image is first padded with 0 by <c>(crop − size) // 2</c> before and <c>(crop − size + 1) // 2</c> after; then
    /// <c>top = int(round((h − crop_h) / 2.0))</c> (Python's round: half to even), likewise left.
    /// Returns the source coordinate of output (0, 0): output (y, x) reads source (y + Top, x + Left), and
    /// coordinates outside the source are padding (0).
    /// </summary>
    internal static (int Top, int Left) CenterCropOrigin(int height, int width, int cropHeight, int cropWidth) =>
        (Origin(height, cropHeight), Origin(width, cropWidth));

    private static int Origin(int size, int crop)
    {
        if (crop > size)
        {
            int before = (crop - size) / 2;
            // After padding the axis is exactly `crop` long, so the crop offset is 0.
            return -before;
        }
        return (int)Math.Round((size - crop) / 2.0, MidpointRounding.ToEven);
    }

    /// <summary>
    /// Fused CenterCrop + ToTensor + Normalize for one image: reads HWC bytes (<paramref name="srcChannels"/> 1 or
    /// 3) and writes CHW float32 with <paramref name="outChannels"/> channels (a 1-channel source is replicated,
    /// as PIL's convert("RGB") does for L). Value = b / 255f (ToTensor's <c>div(255)</c>), then
    /// <c>(v − mean[c]) / std[c]</c> in float32 (Normalize's <c>sub_(mean).div_(std)</c>), bit-identical to torch.
    /// </summary>
    internal static void WriteChw(ReadOnlySpan<byte> src, int height, int width, int srcChannels,
                                  int top, int left, int outHeight, int outWidth, int outChannels,
                                  float[]? mean, float[]? std, Span<float> dst)
    {
        Span<float> lut = stackalloc float[256];
        int plane = outHeight * outWidth;
        for (int c = 0; c < outChannels; c++)
        {
            BuildLut(lut, mean, std, c);
            float pad = lut[0];
            int sc = srcChannels == 1 ? 0 : c;
            var dplane = dst.Slice(c * plane, plane);
            for (int y = 0; y < outHeight; y++)
            {
                var drow = dplane.Slice(y * outWidth, outWidth);
                int sy = y + top;
                if ((uint)sy >= (uint)height)
                {
                    drow.Fill(pad);
                    continue;
                }
                var srow = src.Slice(sy * width * srcChannels, width * srcChannels);
                for (int x = 0; x < outWidth; x++)
                {
                    int sx = x + left;
                    drow[x] = (uint)sx < (uint)width ? lut[srow[sx * srcChannels + sc]] : pad;
                }
            }
        }
    }

    /// <summary>CenterCrop (with torchvision's zero padding) on HWC bytes, replicating a 1-channel source to 3 when asked.</summary>
    internal static void CropBytes(ReadOnlySpan<byte> src, int height, int width, int srcChannels,
                                   int top, int left, int outHeight, int outWidth, int outChannels, Span<byte> dst)
    {
        dst[..(outHeight * outWidth * outChannels)].Clear();
        for (int y = 0; y < outHeight; y++)
        {
            int sy = y + top;
            if ((uint)sy >= (uint)height) continue;
            var srow = src.Slice(sy * width * srcChannels, width * srcChannels);
            var drow = dst.Slice(y * outWidth * outChannels, outWidth * outChannels);
            int x0 = Math.Max(0, -left), x1 = Math.Min(outWidth, width - left);
            if (srcChannels == outChannels)
            {
                if (x1 > x0)
                    srow.Slice((x0 + left) * srcChannels, (x1 - x0) * srcChannels).CopyTo(drow.Slice(x0 * outChannels));
            }
            else
            {
                for (int x = x0; x < x1; x++)
                {
                    byte v = srow[x + left];
                    for (int c = 0; c < outChannels; c++) drow[x * outChannels + c] = v;
                }
            }
        }
    }

    private static void BuildLut(Span<float> lut, float[]? mean, float[]? std, int c)
    {
        float m = 0, s = 1;
        bool normalize = mean is not null && std is not null;
        if (normalize)
        {
            m = mean![mean.Length == 1 ? 0 : c];
            s = std![std.Length == 1 ? 0 : c];
        }
        for (int b = 0; b < 256; b++)
        {
            float v = b / 255f;
            lut[b] = normalize ? (v - m) / s : v;
        }
    }
}
