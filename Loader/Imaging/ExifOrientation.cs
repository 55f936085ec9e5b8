namespace Vgg.Engine.Loader.Imaging;

/// <summary>
/// The EXIF Orientation tag (0x0112) applied as PIL's <c>ImageOps.exif_transpose</c> does:
/// 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270 (90° clockwise),
/// 7 TRANSVERSE, 8 ROTATE_90 (90° counter-clockwise). 1 and any other value leave the pixels as stored.
/// </summary>
internal static class ExifOrientation
{
    /// <summary>True when the orientation swaps width and height (5..8).</summary>
    internal static bool SwapsAxes(int orientation) => orientation is >= 5 and <= 8;

    /// <summary>True when the orientation moves pixels (2..8).</summary>
    internal static bool IsTransform(int orientation) => orientation is >= 2 and <= 8;

    /// <summary>
    /// Writes the transformed image (HWC, <paramref name="channels"/> bytes per pixel) into <paramref name="dst"/>;
    /// its width × height is height × width of the source when <see cref="SwapsAxes"/>.
    /// </summary>
    internal static void Apply(ReadOnlySpan<byte> src, int width, int height, int channels, int orientation, Span<byte> dst)
    {
        bool swap = SwapsAxes(orientation);
        int outW = swap ? height : width, outH = swap ? width : height;
        for (int yo = 0; yo < outH; yo++)
        {
            for (int xo = 0; xo < outW; xo++)
            {
                // Source pixel (x, y) shown at output (xo, yo).
                (int x, int y) = orientation switch
                {
                    2 => (width - 1 - xo, yo),
                    3 => (width - 1 - xo, height - 1 - yo),
                    4 => (xo, height - 1 - yo),
                    5 => (yo, xo),
                    6 => (yo, height - 1 - xo),
                    7 => (width - 1 - yo, height - 1 - xo),
                    8 => (width - 1 - yo, xo),
                    _ => (xo, yo),
                };
                src.Slice((y * width + x) * channels, channels).CopyTo(dst.Slice((yo * outW + xo) * channels, channels));
            }
        }
    }
}
