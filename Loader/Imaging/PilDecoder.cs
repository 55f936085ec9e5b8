using System.Buffers;
using System.Runtime.InteropServices;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;
using Vgg.Engine.Models;

namespace Vgg.Engine.Loader.Imaging;

/// <summary>8-bit HWC pixels in a buffer rented from <see cref="ArrayPool{T}.Shared"/>; dispose to return it.</summary>
internal sealed class PixelBuffer : IDisposable
{
    private byte[]? _data;

    public PixelBuffer(int width, int height, int channels)
    {
        Width = width;
        Height = height;
        Channels = channels;
        _data = ArrayPool<byte>.Shared.Rent(checked(width * height * channels));
    }

    public int Width { get; }
    public int Height { get; }
    /// <summary>1 (L) or 3 (RGB).</summary>
    public int Channels { get; }
    public int Length => Width * Height * Channels;
    public Span<byte> Span => (_data ?? throw new ObjectDisposedException(nameof(PixelBuffer))).AsSpan(0, Length);
    internal byte[] Array => _data ?? throw new ObjectDisposedException(nameof(PixelBuffer));

    public void Dispose()
    {
        var d = _data;
        _data = null;
        if (d is not null) ArrayPool<byte>.Shared.Return(d);
    }
}

/// <summary>
/// Decodes JPEG and PNG with ImageSharp 2.1.13 and converts the pixels as PIL 9.4's
/// <c>Image.open(f).convert("RGB" | "L")</c> does. Pillow facts matched (each checked against Pillow 9.4 by
/// Tests/Fixtures/imaging/make_imaging_fixtures.py):
/// <list type="bullet">
/// <item>RGBA / LA / palette+alpha → RGB drops alpha without compositing; palette indices are expanded.</item>
/// <item>16-bit RGB(A) and 16-bit gray+alpha PNG keep the high byte of each sample (Pillow unpacks "RGB;16B" etc.);
///   ImageSharp's own 16→8-bit conversion rounds instead, so those are decoded as 16-bit and reduced here.</item>
/// <item>16-bit grayscale PNG opens as mode "I" in Pillow 9.4, and I → L / RGB clamps to 0..255 (no scaling):
///   a 16-bit value of 1000 becomes 255.</item>
/// <item>L = (R·19595 + G·38470 + B·7471 + 0x8000) &gt;&gt; 16 (Pillow's <c>L24</c>; equal to the documented
///   R·299/1000 + G·587/1000 + B·114/1000 rounded as Pillow does, for all 2^24 triples).</item>
/// <item>CMYK JPEG (Adobe APP14) is inverted CMYK as Pillow reads it; ImageSharp's CMYK → RGB agrees with
///   Pillow's to within the decoders' IDCT differences.</item>
/// </list>
/// A grayscale source stays 1-channel when RGB is asked for (the caller replicates at the end: the same values,
/// a third of the resize work).
/// </summary>
internal static class PilDecoder
{
    /// <summary>ImageSharp with only the JPEG and PNG formats registered (no GIF, BMP, TGA, PBM, TIFF, WebP).</summary>
    internal static readonly Configuration Configuration = new(new JpegConfigurationModule(), new PngConfigurationModule());

    private enum Layout { L8, L16, La16, La32, Rgb24, Rgb48, Rgba64 }

    /// <summary>Header facts read before decoding.</summary>
    internal readonly record struct Header(EncodedFormat Format, int Width, int Height, string Description);

    /// <summary>Recognizes the format, checks completeness and reads the header; enforces the pixel limit.</summary>
    internal static Header ReadHeader(ArraySegment<byte> data, string? name, long maxPixels, out IImageInfo info)
    {
        var format = ImageContainer.Detect(data, name);
        if (format == EncodedFormat.Png) ImageContainer.CheckPngComplete(data, name);
        else ImageContainer.CheckJpegComplete(data, name);

        IImageInfo? identified;
        try
        {
            using var stream = Open(data);
            identified = Image.Identify(Configuration, stream, out _);
        }
        catch (Exception e) when (IsDecoderFailure(e))
        {
            throw new ImageDecodeException(name, e is NotSupportedException
                ? $"{format.ToString().ToUpperInvariant()} uses a feature the decoder does not support: {e.Message}"
                : $"{format.ToString().ToUpperInvariant()} is corrupt (found while reading its header and chunks): {e.Message}", e);
        }
        if (identified is null)
            throw new ImageDecodeException(name, $"{format.ToString().ToUpperInvariant()} header cannot be read");
        info = identified;
        if (info.Width <= 0 || info.Height <= 0)
            throw new ImageDecodeException(name, $"{format.ToString().ToUpperInvariant()} header gives a size of {info.Width}×{info.Height}");
        long pixels = (long)info.Width * info.Height;
        if (pixels > maxPixels)
            throw new ImageDecodeException(name, $"{info.Width}×{info.Height} = {pixels} pixels exceeds the decode limit of {maxPixels} pixels (ImageDecodeOptions.MaxPixels); refused before decoding");
        if (format == EncodedFormat.Png) ImageContainer.CheckPngImageData(data, name); // after the pixel limit: bounded work
        string desc = format == EncodedFormat.Png ? DescribePng(info) : $"JPEG, {info.PixelType.BitsPerPixel / 8} component(s)";
        return new Header(format, info.Width, info.Height, desc);
    }

    private static MemoryStream Open(ArraySegment<byte> data) => new(data.Array!, data.Offset, data.Count, writable: false);

    private static string DescribePng(IImageInfo info)
    {
        var png = info.Metadata.GetPngMetadata();
        return $"PNG {png.ColorType?.ToString() ?? "?"} {png.BitDepth?.ToString() ?? "?"}";
    }

    internal static bool IsDecoderFailure(Exception e) => e is not (OutOfMemoryException or OperationCanceledException);

    private static Layout ChooseLayout(Header h, IImageInfo info)
    {
        if (h.Format == EncodedFormat.Jpeg)
            return info.PixelType.BitsPerPixel == 8 ? Layout.L8 : Layout.Rgb24;
        var png = info.Metadata.GetPngMetadata();
        bool sixteen = png.BitDepth == PngBitDepth.Bit16;
        return png.ColorType switch
        {
            PngColorType.Grayscale => sixteen ? Layout.L16 : Layout.L8,
            PngColorType.GrayscaleWithAlpha => sixteen ? Layout.La32 : Layout.La16,
            PngColorType.Rgb => sixteen ? Layout.Rgb48 : Layout.Rgb24,
            PngColorType.RgbWithAlpha => sixteen ? Layout.Rgba64 : Layout.Rgb24,
            _ => Layout.Rgb24, // palette: indices expanded, alpha dropped
        };
    }

    /// <summary>
    /// Decodes and converts. Returns 1 channel for <see cref="ColorMode.Grayscale"/> and for grayscale sources,
    /// else 3. <paramref name="orientation"/> is the EXIF Orientation tag (1 when absent or unreadable).
    /// </summary>
    internal static PixelBuffer Decode(ArraySegment<byte> data, string? name, Header h, IImageInfo info, ColorMode color, out int orientation)
    {
        var layout = ChooseLayout(h, info);
        bool graySource = layout is Layout.L8 or Layout.L16 or Layout.La16 or Layout.La32;
        int channels = color == ColorMode.Grayscale || graySource ? 1 : 3;
        try
        {
            return layout switch
            {
                Layout.L8 => Run<L8>(data, channels, out orientation, static (row, dst, ch) => ConvertL8(MemoryMarshal.AsBytes(row), dst, ch)),
                Layout.L16 => Run<L16>(data, channels, out orientation, static (row, dst, ch) => ConvertL16(row, dst)),
                Layout.La16 => Run<La16>(data, channels, out orientation, static (row, dst, ch) => ConvertLa16(row, dst)),
                Layout.La32 => Run<La32>(data, channels, out orientation, static (row, dst, ch) => ConvertLa32(row, dst)),
                Layout.Rgb48 => Run<Rgb48>(data, channels, out orientation, static (row, dst, ch) => ConvertRgb48(row, dst, ch)),
                Layout.Rgba64 => Run<Rgba64>(data, channels, out orientation, static (row, dst, ch) => ConvertRgba64(row, dst, ch)),
                _ => Run<Rgb24>(data, channels, out orientation, static (row, dst, ch) => ConvertRgb24(MemoryMarshal.AsBytes(row), dst, ch)),
            };
        }
        catch (Exception e) when (IsDecoderFailure(e) && e is not VggEngineException)
        {
            throw new ImageDecodeException(name, $"{h.Description} {h.Width}×{h.Height} cannot be decoded{(e is NotSupportedException ? " (unsupported feature)" : "")}: {e.Message}", e);
        }
    }

    private delegate void RowConverter<TPixel>(ReadOnlySpan<TPixel> row, Span<byte> dst, int channels) where TPixel : unmanaged;

    private static PixelBuffer Run<TPixel>(ArraySegment<byte> data, int channels, out int orientation, RowConverter<TPixel> convert)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        using var stream = Open(data);
        using var image = Image.Load<TPixel>(Configuration, stream);
        orientation = ReadOrientation(image.Metadata.ExifProfile);
        var result = new PixelBuffer(image.Width, image.Height, channels);
        try
        {
            byte[] target = result.Array;
            int stride = image.Width * channels;
            image.ProcessPixelRows(accessor =>
            {
                for (int y = 0; y < accessor.Height; y++)
                    convert(accessor.GetRowSpan(y), target.AsSpan(y * stride, stride), channels);
            });
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    private static int ReadOrientation(ExifProfile? exif)
    {
        if (exif is null) return 1;
        try
        {
            var v = exif.GetValue(ExifTag.Orientation);
            return v is null ? 1 : v.Value;
        }
        catch (Exception e) when (IsDecoderFailure(e))
        {
            return 1; // an unreadable EXIF block: PIL's exif_transpose also leaves the image as stored
        }
    }

    /// <summary>Pillow's L24: (R·19595 + G·38470 + B·7471 + 0x8000) &gt;&gt; 16.</summary>
    internal static byte Luma(int r, int g, int b) => (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);

    private static void ConvertL8(ReadOnlySpan<byte> row, Span<byte> dst, int channels) => row.CopyTo(dst);

    private static void ConvertL16(ReadOnlySpan<L16> row, Span<byte> dst)
    {
        for (int x = 0; x < row.Length; x++)
        {
            int v = row[x].PackedValue;
            dst[x] = (byte)(v > 255 ? 255 : v); // Pillow I → L clamps
        }
    }

    private static void ConvertLa16(ReadOnlySpan<La16> row, Span<byte> dst)
    {
        for (int x = 0; x < row.Length; x++) dst[x] = row[x].L;
    }

    private static void ConvertLa32(ReadOnlySpan<La32> row, Span<byte> dst)
    {
        for (int x = 0; x < row.Length; x++) dst[x] = (byte)(row[x].L >> 8);
    }

    private static void ConvertRgb24(ReadOnlySpan<byte> rgb, Span<byte> dst, int channels)
    {
        if (channels == 3)
        {
            rgb.CopyTo(dst);
            return;
        }
        for (int x = 0, i = 0; x < dst.Length; x++, i += 3)
            dst[x] = Luma(rgb[i], rgb[i + 1], rgb[i + 2]);
    }

    private static void ConvertRgb48(ReadOnlySpan<Rgb48> row, Span<byte> dst, int channels)
    {
        for (int x = 0; x < row.Length; x++)
        {
            int r = row[x].R >> 8, g = row[x].G >> 8, b = row[x].B >> 8;
            if (channels == 3) { dst[3 * x] = (byte)r; dst[3 * x + 1] = (byte)g; dst[3 * x + 2] = (byte)b; }
            else dst[x] = Luma(r, g, b);
        }
    }

    private static void ConvertRgba64(ReadOnlySpan<Rgba64> row, Span<byte> dst, int channels)
    {
        for (int x = 0; x < row.Length; x++)
        {
            int r = row[x].R >> 8, g = row[x].G >> 8, b = row[x].B >> 8;
            if (channels == 3) { dst[3 * x] = (byte)r; dst[3 * x + 1] = (byte)g; dst[3 * x + 2] = (byte)b; }
            else dst[x] = Luma(r, g, b);
        }
    }
}
