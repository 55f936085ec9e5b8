namespace Vgg.Engine.Loader.Imaging;

/// <summary>
/// An 8-bit image as PIL holds it: <see cref="Height"/> × <see cref="Width"/> × <see cref="Channels"/> bytes,
/// row-major, channels interleaved (HWC, the layout of <c>numpy.asarray(pil_image)</c>). <see cref="Channels"/>
/// is 3 (RGB) or 1 (L). Returned by <see cref="ImagePreprocessor.Decode(string, Vgg.Engine.Models.ColorMode, bool)"/>
/// and <see cref="ImagePreprocessor.LoadPixels(string, Vgg.Engine.Models.Preprocessing)"/>.
/// </summary>
public sealed class ImagePixels
{
    /// <summary>Wraps <paramref name="data"/> (not copied).</summary>
    /// <exception cref="ArgumentException">A non-positive size, channels other than 1 or 3, or a length other than H·W·C.</exception>
    public ImagePixels(int width, int height, int channels, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (width <= 0 || height <= 0) throw new ArgumentException($"size {width}×{height} must be positive");
        if (channels is not (1 or 3)) throw new ArgumentException($"channels must be 1 or 3, got {channels}");
        if (data.LongLength != (long)width * height * channels)
            throw new ArgumentException($"{width}×{height}×{channels} needs {(long)width * height * channels} bytes, got {data.LongLength}");
        Width = width;
        Height = height;
        Channels = channels;
        Data = data;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>3 for RGB, 1 for L (grayscale).</summary>
    public int Channels { get; }

    /// <summary>The samples, HWC: sample (y, x, c) is at <c>(y·Width + x)·Channels + c</c>.</summary>
    public byte[] Data { get; }

    /// <summary>Sample at row <paramref name="y"/>, column <paramref name="x"/>, channel <paramref name="c"/>.</summary>
    public byte this[int y, int x, int c] => Data[((long)y * Width + x) * Channels + c];

    /// <summary>"RGB 224×224" or "L 28×28".</summary>
    public override string ToString() => $"{(Channels == 3 ? "RGB" : "L")} {Width}×{Height}";
}
