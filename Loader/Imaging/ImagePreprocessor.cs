using System.Buffers;
using Vgg.Engine.Models;

namespace Vgg.Engine.Loader.Imaging;

/// <summary>
/// Turns JPEG and PNG images into model input tensors exactly as torchvision 0.14 does on PIL 9.4 images through
/// <c>torchvision.datasets.ImageFolder</c>'s loader: <c>Image.open(f).convert("RGB")</c> (or <c>"L"</c>), then
/// <c>Resize</c> → <c>CenterCrop</c> → <c>ToTensor</c> → <c>Normalize</c> as given by a <see cref="Preprocessing"/>.
/// </summary>
/// <remarks>
/// <para>Decoding: SixLabors.ImageSharp 2.1.13 with only its JPEG and PNG decoders registered. JPEG: baseline,
/// progressive, grayscale, CMYK/YCCK (Adobe APP14, inverted as PIL reads it). PNG: every colour type and bit depth,
/// palette, alpha, Adam7. Anything else (GIF, BMP, WebP, TIFF, HTML, truncated or empty data) raises
/// <see cref="ImageDecodeException"/> naming the file and what was found. The header is read first and an image
/// over <see cref="ImageDecodeOptions.MaxPixels"/> is refused before any pixel is decoded.</para>
/// <para>Colour: as PIL's <c>convert</c> (alpha dropped without compositing, palette expanded, 16-bit PNG reduced as
/// Pillow does, L = Pillow's fixed-point BT.601 luma). EXIF orientation only when
/// <see cref="Preprocessing.ApplyExifOrientation"/> is set (torchvision does not apply it).</para>
/// <para>Resize: Pillow's antialiased bilinear resampler re-implemented bit for bit. Output of a PNG (lossless)
/// input equals torchvision's uint8 image and float tensor exactly. JPEG inputs differ only by the decoder
/// (ImageSharp's IDCT and chroma upsampling against libjpeg-turbo's), by about one grey level on average; the tests
/// state the bounds measured per image.</para>
/// <para>Thread-safe: an instance holds only immutable options; buffers come from <see cref="ArrayPool{T}"/>.</para>
/// </remarks>
public sealed class ImagePreprocessor
{
    /// <summary>A preprocessor with the default <see cref="ImageDecodeOptions"/>.</summary>
    public static ImagePreprocessor Default { get; } = new();

    /// <summary>Creates a preprocessor with the given limits (defaults when null).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A limit that is not positive, or MaxPixels over <see cref="ImageDecodeOptions.LargestMaxPixels"/>.</exception>
    public ImagePreprocessor(ImageDecodeOptions? options = null)
    {
        Options = options ?? new ImageDecodeOptions();
        if (Options.MaxPixels <= 0 || Options.MaxPixels > ImageDecodeOptions.LargestMaxPixels)
            throw new ArgumentOutOfRangeException(nameof(options), Options.MaxPixels, $"MaxPixels must be in 1 .. {ImageDecodeOptions.LargestMaxPixels}");
        if (Options.MaxEncodedBytes <= 0) throw new ArgumentOutOfRangeException(nameof(options), Options.MaxEncodedBytes, "MaxEncodedBytes must be positive");
    }

    /// <summary>The limits in force.</summary>
    public ImageDecodeOptions Options { get; }

    /// <summary>
    /// Reads one image file into a float32 tensor [1, C, H, W] (NCHW; C = <see cref="Preprocessing.Channels"/>;
    /// H × W = the crop size, or the resized size when there is no crop). Values are ToTensor's <c>b/255</c> in [0, 1],
    /// then <c>(v − mean)/std</c> per channel when normalization is set.
    /// </summary>
    /// <exception cref="ImageDecodeException">The file cannot be read, is not a complete JPEG or PNG, cannot be
    /// decoded, or exceeds <see cref="ImageDecodeOptions"/> limits. The message names the file.</exception>
    /// <exception cref="ArgumentException">The preprocessing settings are invalid (<see cref="Preprocessing.Validate"/>).</exception>
    public Tensor Load(string path, Preprocessing p)
    {
        ArgumentNullException.ThrowIfNull(path);
        var data = ReadFile(path);
        return Load(data, p, path);
    }

    /// <summary>
    /// As <see cref="Load(string, Preprocessing)"/> for an encoded image in memory (a request body, a blob).
    /// <paramref name="sourceName"/> names it in error messages.
    /// </summary>
    /// <exception cref="ImageDecodeException">See <see cref="Load(string, Preprocessing)"/>.</exception>
    /// <exception cref="ArgumentException">Invalid preprocessing settings.</exception>
    public Tensor Load(ReadOnlyMemory<byte> encoded, Preprocessing p, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate();
        CheckEncodedSize(encoded.Length, sourceName);
        using var prepared = Prepare(encoded, sourceName, p);
        var tensor = new Tensor(DType.Float32, new[] { 1, prepared.OutChannels, prepared.OutHeight, prepared.OutWidth });
        prepared.WriteTensor(tensor.AsSpan<float>(), p);
        return tensor;
    }

    /// <summary>
    /// As <see cref="Load(string, Preprocessing)"/> for an encoded image read from <paramref name="stream"/> (read to
    /// its end, up to <see cref="ImageDecodeOptions.MaxEncodedBytes"/>; the stream is not closed).
    /// </summary>
    /// <exception cref="ImageDecodeException">See <see cref="Load(string, Preprocessing)"/>, or the stream fails.</exception>
    /// <exception cref="ArgumentException">Invalid preprocessing settings.</exception>
    public Tensor Load(Stream stream, Preprocessing p, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var (buffer, length) = ReadStream(stream, sourceName);
        try
        {
            return Load(new ReadOnlyMemory<byte>(buffer, 0, length), p, sourceName);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Reads several image files into one float32 tensor [N, C, H, W], image i at batch index i. Every image must
    /// come out the same size, which a CenterCrop or an exact Resize guarantees; Resize(size) alone keeps each
    /// image's aspect ratio and may not.
    /// </summary>
    /// <exception cref="ImageDecodeException">An image cannot be read or decoded (names the file).</exception>
    /// <exception cref="InvalidInputException">An image's size after resize and crop differs from the first's
    /// (names both files and sizes).</exception>
    /// <exception cref="ArgumentException">No paths, or invalid preprocessing settings.</exception>
    public Tensor LoadBatch(IReadOnlyList<string> paths, Preprocessing p)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(p);
        if (paths.Count == 0) throw new ArgumentException("LoadBatch needs at least one path", nameof(paths));
        p.Validate();
        Tensor? batch = null;
        int c = 0, h = 0, w = 0;
        for (int i = 0; i < paths.Count; i++)
        {
            var data = ReadFile(paths[i]);
            using var prepared = Prepare(data, paths[i], p);
            if (batch is null)
            {
                (c, h, w) = (prepared.OutChannels, prepared.OutHeight, prepared.OutWidth);
                batch = new Tensor(DType.Float32, new[] { paths.Count, c, h, w });
            }
            else if (prepared.OutHeight != h || prepared.OutWidth != w)
            {
                throw new InvalidInputException(paths[i],
                    $"preprocesses to {c}×{prepared.OutHeight}×{prepared.OutWidth} (C×H×W) but the first image of the batch ('{paths[0]}') to {c}×{h}×{w}; " +
                    "a batch needs one size: set a CenterCrop or an exact Resize((h, w))");
            }
            int per = c * h * w;
            prepared.WriteTensor(batch.AsSpan<float>().Slice(i * per, per), p);
        }
        return batch!;
    }

    /// <summary>
    /// The 8-bit image that torchvision hands to ToTensor: decoded, converted, oriented (if set), resized and
    /// cropped (PIL image as <c>numpy.asarray</c>, HWC). For checks against PIL and for inspection.
    /// </summary>
    /// <exception cref="ImageDecodeException">See <see cref="Load(string, Preprocessing)"/>.</exception>
    /// <exception cref="ArgumentException">Invalid preprocessing settings.</exception>
    public ImagePixels LoadPixels(string path, Preprocessing p)
    {
        ArgumentNullException.ThrowIfNull(path);
        return LoadPixels(ReadFile(path), p, path);
    }

    /// <summary>As <see cref="LoadPixels(string, Preprocessing)"/> for an encoded image in memory.</summary>
    /// <exception cref="ImageDecodeException">See <see cref="Load(string, Preprocessing)"/>.</exception>
    /// <exception cref="ArgumentException">Invalid preprocessing settings.</exception>
    public ImagePixels LoadPixels(ReadOnlyMemory<byte> encoded, Preprocessing p, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Validate();
        CheckEncodedSize(encoded.Length, sourceName);
        using var prepared = Prepare(encoded, sourceName, p);
        var bytes = new byte[prepared.OutHeight * prepared.OutWidth * prepared.OutChannels];
        TorchvisionGeometry.CropBytes(prepared.Pixels.Span, prepared.Pixels.Height, prepared.Pixels.Width, prepared.Pixels.Channels,
            prepared.Top, prepared.Left, prepared.OutHeight, prepared.OutWidth, prepared.OutChannels, bytes);
        return new ImagePixels(prepared.OutWidth, prepared.OutHeight, prepared.OutChannels, bytes);
    }

    /// <summary>
    /// Decodes an image to 8-bit pixels as PIL's <c>Image.open(path).convert("RGB" | "L")</c> gives them (optionally
    /// after <c>ImageOps.exif_transpose</c>), without resizing. For tests and tools.
    /// </summary>
    /// <exception cref="ImageDecodeException">See <see cref="Load(string, Preprocessing)"/>.</exception>
    public ImagePixels Decode(string path, ColorMode color, bool applyExifOrientation = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Decode(ReadFile(path), color, applyExifOrientation, path);
    }

    /// <summary>As <see cref="Decode(string, ColorMode, bool)"/> for an encoded image in memory.</summary>
    /// <exception cref="ImageDecodeException">See <see cref="Load(string, Preprocessing)"/>.</exception>
    public ImagePixels Decode(ReadOnlyMemory<byte> encoded, ColorMode color, bool applyExifOrientation = false, string? sourceName = null)
    {
        var p = new Preprocessing
        {
            Color = color, Resize = ResizeMode.None, CropHeight = 0, CropWidth = 0, Mean = null, Std = null,
            ApplyExifOrientation = applyExifOrientation,
        };
        return LoadPixels(encoded, p, sourceName);
    }

    // ------------------------------------------------------------------------------------------------ pipeline

    /// <summary>The resized image and where the crop reads it; owns the pixel buffer.</summary>
    private sealed class Prepared : IDisposable
    {
        public required PixelBuffer Pixels { get; init; }
        public required int Top { get; init; }
        public required int Left { get; init; }
        public required int OutHeight { get; init; }
        public required int OutWidth { get; init; }
        public required int OutChannels { get; init; }

        public void WriteTensor(Span<float> dst, Preprocessing p) =>
            TorchvisionGeometry.WriteChw(Pixels.Span, Pixels.Height, Pixels.Width, Pixels.Channels, Top, Left,
                OutHeight, OutWidth, OutChannels, p.Mean, p.Std, dst);

        public void Dispose() => Pixels.Dispose();
    }

    private Prepared Prepare(ReadOnlyMemory<byte> encoded, string? name, Preprocessing p)
    {
        // ImageSharp 2.1 reads from streams; an array-backed memory is wrapped without a copy.
        if (!System.Runtime.InteropServices.MemoryMarshal.TryGetArray(encoded, out ArraySegment<byte> data))
            data = new ArraySegment<byte>(encoded.ToArray());
        long limit = Options.MaxPixels;
        var header = PilDecoder.ReadHeader(data, name, limit, out var info);
        var current = PilDecoder.Decode(data, name, header, info, p.Color, out int orientation);
        try
        {
            if (p.ApplyExifOrientation && ExifOrientation.IsTransform(orientation))
            {
                bool swap = ExifOrientation.SwapsAxes(orientation);
                var oriented = new PixelBuffer(swap ? current.Height : current.Width, swap ? current.Width : current.Height, current.Channels);
                ExifOrientation.Apply(current.Span, current.Width, current.Height, current.Channels, orientation, oriented.Span);
                current.Dispose();
                current = oriented;
            }

            int h = current.Height, w = current.Width;
            var (rh, rw) = TorchvisionGeometry.ResizedSize(h, w, p);
            if (rh != h || rw != w)
            {
                long outPixels = (long)rh * rw;
                long intermediate = rw != w && rh != h ? (long)rw * h : 0;
                if (rh <= 0 || rw <= 0 || outPixels > limit || intermediate > limit)
                    throw new ImageDecodeException(name,
                        $"resizing {w}×{h} to {rw}×{rh} ({Describe(p)}) needs {Math.Max(outPixels, intermediate)} pixels, over the limit of {limit} (ImageDecodeOptions.MaxPixels)");
                var resized = new PixelBuffer(rw, rh, current.Channels);
                PilResample.Resize(current.Span, w, h, current.Channels, resized.Span, rw, rh);
                current.Dispose();
                current = resized;
            }

            int ch = p.CropHeight > 0 ? p.CropHeight : rh;
            int cw = p.CropWidth > 0 ? p.CropWidth : rw;
            if ((long)ch * cw > limit)
                throw new ImageDecodeException(name, $"CenterCrop({ch}, {cw}) needs {(long)ch * cw} pixels, over the limit of {limit} (ImageDecodeOptions.MaxPixels)");
            var (top, left) = TorchvisionGeometry.CenterCropOrigin(rh, rw, ch, cw);
            return new Prepared { Pixels = current, Top = top, Left = left, OutHeight = ch, OutWidth = cw, OutChannels = p.Channels };
        }
        catch
        {
            current.Dispose();
            throw;
        }
    }

    private static string Describe(Preprocessing p) => p.Resize switch
    {
        ResizeMode.ShorterSide => $"Resize({p.ResizeHeight})",
        ResizeMode.Exact => $"Resize(({p.ResizeHeight}, {p.ResizeWidth}))",
        _ => "no resize",
    };

    private void CheckEncodedSize(long length, string? name)
    {
        if (length > Options.MaxEncodedBytes)
            throw new ImageDecodeException(name, $"{length} bytes exceeds the limit of {Options.MaxEncodedBytes} encoded bytes (ImageDecodeOptions.MaxEncodedBytes)");
    }

    private byte[] ReadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new ImageDecodeException(path, "file not found");
            CheckEncodedSize(info.Length, path);
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException
                                      or System.Security.SecurityException)
        {
            throw new ImageDecodeException(path, $"cannot be read: {e.Message}", e);
        }
    }

    private (byte[] Buffer, int Length) ReadStream(Stream stream, string? name)
    {
        long limit = Options.MaxEncodedBytes;
        if (stream.CanSeek)
        {
            long remaining = stream.Length - stream.Position;
            CheckEncodedSize(remaining, name);
        }
        long initial = stream.CanSeek ? Math.Max(1, stream.Length - stream.Position) : 64 * 1024;
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(initial, limit + 1));
        int length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    // Grow up to limit + 1 bytes: one byte past the limit proves the stream is over it.
                    long size = Math.Min(Math.Min((long)buffer.Length * 2, limit + 1), Array.MaxLength);
                    if (size <= buffer.Length)
                        throw new ImageDecodeException(name, $"the stream holds more than {buffer.Length} bytes, more than one buffer can hold");
                    var bigger = ArrayPool<byte>.Shared.Rent((int)size);
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                int n = stream.Read(buffer, length, buffer.Length - length);
                if (n == 0) break;
                length += n;
                if (length > limit)
                    throw new ImageDecodeException(name, $"the stream holds more than the limit of {limit} encoded bytes (ImageDecodeOptions.MaxEncodedBytes)");
            }
            return (buffer, length);
        }
        catch (Exception e) when (e is IOException or NotSupportedException or ObjectDisposedException)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw new ImageDecodeException(name, $"the stream cannot be read: {e.Message}", e);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }
}
