namespace Vgg.Engine.Loader.Imaging;

/// <summary>Limits applied while reading an image. Immutable; one instance may serve many threads.</summary>
public sealed record ImageDecodeOptions
{
    /// <summary>Default <see cref="MaxPixels"/>: 64 megapixels (64·2^20 = 67,108,864 pixels, e.g. 8192×8192).</summary>
    public const long DefaultMaxPixels = 64L << 20;

    /// <summary>
    /// Largest <see cref="MaxPixels"/> a preprocessor accepts: one float32 RGB image (12 bytes a pixel) must fit in
    /// one .NET array (<see cref="Array.MaxLength"/> bytes), about 178.9 megapixels.
    /// </summary>
    public static long LargestMaxPixels => Array.MaxLength / 12;

    /// <summary>Default <see cref="MaxEncodedBytes"/>: 256 MiB.</summary>
    public const long DefaultMaxEncodedBytes = 256L << 20;

    /// <summary>
    /// Largest width × height accepted, checked on the header (ImageSharp <c>Image.Identify</c>) before any pixel is
    /// decoded: a guard against decompression bombs (a few KB of PNG can declare 100,000 × 100,000 pixels). The same
    /// limit applies to the resized image and to the resampler's intermediate (output width × source height), so a
    /// 1 × 60,000 image cannot become 256 × 15,360,000 through Resize(256). Default <see cref="DefaultMaxPixels"/>.
    /// </summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>Largest encoded file or stream accepted, in bytes. Default <see cref="DefaultMaxEncodedBytes"/>.</summary>
    public long MaxEncodedBytes { get; init; } = DefaultMaxEncodedBytes;
}
