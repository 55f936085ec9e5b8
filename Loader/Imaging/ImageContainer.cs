using System.Buffers.Binary;
using System.Text;

namespace Vgg.Engine.Loader.Imaging;

/// <summary>Encoded formats the preprocessor decodes.</summary>
internal enum EncodedFormat
{
    Jpeg,
    Png,
}

/// <summary>
/// Recognizes the container from its signature and checks that it is complete before any decoder runs.
/// ImageSharp 2.1 decodes a truncated JPEG or PNG without complaint (missing data becomes grey or black);
/// PIL raises "image file is truncated". These walks make truncation a clear error instead.
/// </summary>
internal static class ImageContainer
{
    private static ReadOnlySpan<byte> PngSignature => new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };

    /// <summary>JPEG (FF D8 FF) or PNG (the 8-byte signature); anything else throws naming what it looks like.</summary>
    internal static EncodedFormat Detect(ReadOnlySpan<byte> data, string? name)
    {
        if (data.Length == 0)
            throw new ImageDecodeException(name, "empty (0 bytes); expected a JPEG or PNG image");
        if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
            return EncodedFormat.Jpeg;
        if (data.Length >= 8 && data[..8].SequenceEqual(PngSignature))
            return EncodedFormat.Png;
        throw new ImageDecodeException(name, $"not a JPEG or PNG image: found {Describe(data)}. Only JPEG and PNG are decoded; convert other formats first.");
    }

    /// <summary>A short description of unrecognized data: the format its signature names, or its first bytes.</summary>
    internal static string Describe(ReadOnlySpan<byte> d)
    {
        static bool Starts(ReadOnlySpan<byte> d, string ascii) =>
            d.Length >= ascii.Length && d[..ascii.Length].SequenceEqual(Encoding.ASCII.GetBytes(ascii));

        string? what = null;
        if (Starts(d, "GIF87a") || Starts(d, "GIF89a")) what = "a GIF image (signature '" + Encoding.ASCII.GetString(d[..6]) + "')";
        else if (Starts(d, "BM")) what = "a BMP image (signature 'BM')";
        else if (Starts(d, "RIFF") && d.Length >= 12 && d.Slice(8, 4).SequenceEqual("WEBP"u8)) what = "a WebP image (RIFF/WEBP)";
        else if (Starts(d, "II*\0") || Starts(d, "MM\0*")) what = "a TIFF image";
        else if (d.Length >= 12 && d.Slice(4, 4).SequenceEqual("ftyp"u8)) what = $"an ISO-BMFF file (HEIC/AVIF/MP4, brand '{Printable(d.Slice(8, 4))}')";
        else if (d.Length >= 12 && d[..12].SequenceEqual(new byte[] { 0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A })) what = "a JPEG 2000 image";
        else if (d.Length >= 4 && d[0] == 0 && d[1] == 0 && d[2] == 1 && d[3] == 0) what = "an ICO image";
        else if (Starts(d, "8BPS")) what = "a Photoshop PSD file";
        else if (Starts(d, "%PDF")) what = "a PDF document";
        else if (Starts(d, "PK\u0003\u0004")) what = "a ZIP archive";
        else if (Starts(d, "version https://git-lfs")) what = "a Git LFS pointer (the image itself was not fetched)";
        else if (d[0] == (byte)'<' || (d.Length >= 4 && d[..4].SequenceEqual(new byte[] { 0xEF, 0xBB, 0xBF, (byte)'<' }))) what = "text markup (HTML/XML/SVG)";
        else if (d.Length >= 2 && d[0] == 0xFF && d[1] == 0xD8) what = "a JPEG SOI marker not followed by a marker";
        var head = Convert.ToHexString(d[..Math.Min(8, d.Length)]);
        var bytes = string.Join(' ', Enumerable.Range(0, head.Length / 2).Select(i => head.Substring(2 * i, 2)));
        return (what ?? "unrecognized data") + $" (first bytes {bytes}, {d.Length} bytes in all)";
    }

    private static string Printable(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder();
        foreach (var c in b) sb.Append(c is >= 0x20 and < 0x7F ? (char)c : '?');
        return sb.ToString();
    }

    /// <summary>
    /// Walks the PNG chunks: every chunk must lie wholly inside the data and IEND must be reached, with IHDR
    /// first. (PIL also accepts a file that stops right after a complete chunk without IEND; we do not, since a
    /// cut at an IDAT chunk boundary would otherwise decode silently with missing rows.)
    /// </summary>
    internal static void CheckPngComplete(ReadOnlySpan<byte> d, string? name)
    {
        long pos = 8;
        bool first = true;
        while (true)
        {
            if (pos + 8 > d.Length)
                throw new ImageDecodeException(name, $"truncated PNG: the data ends at byte {d.Length} before the IEND chunk{(pos < d.Length ? " (inside a chunk header)" : "")}");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(d.Slice((int)pos, 4));
            var type = Printable(d.Slice((int)pos + 4, 4));
            if (first && type != "IHDR")
                throw new ImageDecodeException(name, $"corrupt PNG: the first chunk is '{type}', expected 'IHDR'");
            if (length > int.MaxValue)
                throw new ImageDecodeException(name, $"corrupt PNG: chunk '{type}' at byte {pos} declares {length} bytes (PNG limits chunks to 2^31 − 1)");
            long end = pos + 12 + length;
            if (end > d.Length)
                throw new ImageDecodeException(name, $"truncated PNG: chunk '{type}' at byte {pos} declares {length} data bytes, but the data ends at byte {d.Length}");
            if (first)
                ReadIhdr(d.Slice((int)pos + 8, (int)length), name);
            first = false;
            if (type == "IEND")
                return;
            pos = end;
        }
    }

    /// <summary>The IHDR fields (PNG spec, 11.2.2).</summary>
    internal readonly record struct PngHeader(int Width, int Height, int BitDepth, int ColorType, bool Interlaced)
    {
        /// <summary>Samples per pixel: 1 gray, 3 RGB, 1 palette index, 2 gray+alpha, 4 RGBA.</summary>
        public int Channels => ColorType switch { 2 => 3, 4 => 2, 6 => 4, _ => 1 };

        /// <summary>Bytes of one filtered scanline of <paramref name="width"/> pixels, the filter-type byte included.</summary>
        public long ScanlineBytes(int width) => 1 + ((long)width * Channels * BitDepth + 7) / 8;

        public string Describe() =>
            $"{Width}×{Height} {ColorType switch { 0 => "grayscale", 2 => "RGB", 3 => "palette", 4 => "grayscale+alpha", _ => "RGBA" }} {BitDepth}-bit{(Interlaced ? " Adam7-interlaced" : "")}";
    }

    /// <summary>
    /// Checks the IHDR chunk's data (PNG spec 11.2.2): 13 bytes; width and height 1 .. 2^31 − 1; a bit depth
    /// allowed for the colour type; compression and filter method 0; interlace method 0 or 1.
    /// </summary>
    internal static PngHeader ReadIhdr(ReadOnlySpan<byte> ihdr, string? name)
    {
        if (ihdr.Length != 13)
            throw new ImageDecodeException(name, $"corrupt PNG: the IHDR chunk holds {ihdr.Length} bytes, expected 13");
        uint w = BinaryPrimitives.ReadUInt32BigEndian(ihdr), h = BinaryPrimitives.ReadUInt32BigEndian(ihdr[4..]);
        if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue)
            throw new ImageDecodeException(name, $"invalid PNG header (IHDR): the image is {w}×{h} pixels; width and height must be 1 .. 2^31 − 1");
        int depth = ihdr[8], color = ihdr[9];
        bool ok = color switch
        {
            0 => depth is 1 or 2 or 4 or 8 or 16,
            3 => depth is 1 or 2 or 4 or 8,
            2 or 4 or 6 => depth is 8 or 16,
            _ => false,
        };
        if (!ok)
            throw new ImageDecodeException(name, color is 0 or 2 or 3 or 4 or 6
                ? $"invalid PNG header (IHDR): bit depth {depth} is not allowed for colour type {color}"
                : $"invalid PNG header (IHDR): colour type {color} does not exist (0, 2, 3, 4 or 6)");
        if (ihdr[10] != 0 || ihdr[11] != 0 || ihdr[12] > 1)
            throw new ImageDecodeException(name, $"invalid PNG header (IHDR): compression method {ihdr[10]}, filter method {ihdr[11]}, interlace method {ihdr[12]}; expected 0, 0 and 0 or 1");
        return new PngHeader((int)w, (int)h, depth, color, ihdr[12] == 1);
    }

    /// <summary>Adam7 passes (PNG spec 8.2): x start, y start, x step, y step.</summary>
    private static readonly (int X0, int Y0, int Dx, int Dy)[] Adam7 =
        { (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2) };

    private static int PassExtent(int size, int start, int step) => size <= start ? 0 : (size - start + step - 1) / step;

    /// <summary>
    /// Checks that the concatenated IDAT data inflates to at least the filtered image size (per Adam7 pass when
    /// interlaced: rows × (1 + row bytes) over the non-empty passes). ImageSharp 2.1 leaves the missing rows
    /// black; Pillow raises "image file is truncated" for a zlib stream that stops early. A complete zlib stream
    /// that holds too few rows is refused too (Pillow 9.4 silently leaves those rows black). Inflation stops at the
    /// expected size, so nothing past it is decompressed (a decompression bomb costs no more than the image), and
    /// trailing data after the last row is ignored as Pillow and libpng do. Call after the pixel limit is checked.
    /// </summary>
    internal static void CheckPngImageData(ArraySegment<byte> data, string? name)
    {
        var d = data.AsSpan();
        var idat = new List<(int Offset, int Length)>();
        PngHeader? hdr = null;
        for (long pos = 8; pos + 8 <= d.Length;)
        {
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(d.Slice((int)pos, 4)); // checked ≤ 2^31 − 1 by CheckPngComplete
            var type = d.Slice((int)pos + 4, 4);
            if (hdr is null) hdr = ReadIhdr(d.Slice((int)pos + 8, length), name);
            else if (type.SequenceEqual("IDAT"u8)) { if (length > 0) idat.Add(((int)pos + 8, length)); }
            else if (type.SequenceEqual("IEND"u8)) break;
            pos += 12L + length;
        }
        var h = hdr ?? throw new ImageDecodeException(name, "corrupt PNG: no IHDR chunk");
        if (idat.Count == 0)
            throw new ImageDecodeException(name, $"corrupt PNG: no image data (no IDAT chunk, or only empty ones) for a {h.Describe()} image");

        // Filtered bytes per pass (one pass when not interlaced).
        var passes = new List<(int Pass, int Rows, long RowBytes)>();
        if (!h.Interlaced) passes.Add((0, h.Height, h.ScanlineBytes(h.Width)));
        else
        {
            for (int p = 0; p < 7; p++)
            {
                var (x0, y0, dx, dy) = Adam7[p];
                int pw = PassExtent(h.Width, x0, dx), ph = PassExtent(h.Height, y0, dy);
                if (pw > 0 && ph > 0) passes.Add((p + 1, ph, h.ScanlineBytes(pw)));
            }
        }
        long expected = passes.Sum(p => p.Rows * p.RowBytes);

        long total = 0;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            using var z = new System.IO.Compression.ZLibStream(new ChunkDataStream(data.Array!, data.Offset, idat), System.IO.Compression.CompressionMode.Decompress);
            while (total < expected)
            {
                int n = z.Read(buffer, 0, (int)Math.Min(buffer.Length, expected - total));
                if (n == 0) break;
                total += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new ImageDecodeException(name, $"corrupt PNG image data: the IDAT zlib stream cannot be inflated after {total} of the {expected} bytes a {h.Describe()} image needs: {e.Message}", e);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        if (total >= expected) return;

        // Where the data stops: full rows of the pass it stops in.
        long left = total;
        string where = "";
        foreach (var (pass, rows, rowBytes) in passes)
        {
            long passBytes = rows * rowBytes;
            if (left < passBytes)
            {
                long full = left / rowBytes;
                where = pass == 0 ? $"{full} of {rows} rows" : $"it stops in Adam7 pass {pass} of 7 after {full} of that pass's {rows} rows";
                break;
            }
            left -= passBytes;
        }
        throw new ImageDecodeException(name, $"truncated PNG image data: the IDAT zlib stream inflates to {total} of the {expected} bytes a {h.Describe()} image needs ({where})");
    }

    /// <summary>The data of several chunks read back to back, as one forward-only stream (no copy).</summary>
    private sealed class ChunkDataStream(byte[] array, int baseOffset, List<(int Offset, int Length)> parts) : Stream
    {
        private int _part, _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            while (_part < parts.Count && _pos == parts[_part].Length) { _part++; _pos = 0; }
            if (_part == parts.Count || buffer.Length == 0) return 0;
            var (off, len) = parts[_part];
            int n = Math.Min(buffer.Length, len - _pos);
            array.AsSpan(baseOffset + off + _pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>
    /// Walks the JPEG markers from SOI to EOI: marker segments by their length, entropy-coded data after each SOS
    /// up to the next marker that is not a restart marker or a stuffed 0xFF00. Reaching the end of the data before
    /// EOI means the file is truncated (PIL: "image file is truncated").
    /// </summary>
    internal static void CheckJpegComplete(ReadOnlySpan<byte> d, string? name)
    {
        int pos = 2;
        bool sawFrame = false, sawScan = false;
        while (true)
        {
            // Find the next marker (libjpeg skips stray bytes between segments with a warning; so do we).
            int ff = pos < d.Length ? d[pos..].IndexOf((byte)0xFF) : -1;
            if (ff < 0) throw Truncated(d, name, sawScan ? "after the last scan" : "before the first scan");
            pos += ff;
            while (pos < d.Length && d[pos] == 0xFF) pos++; // fill bytes
            if (pos >= d.Length) throw Truncated(d, name, "inside a marker");
            byte marker = d[pos++];
            if (marker == 0xD9)
            {
                if (!sawFrame || !sawScan)
                    throw new ImageDecodeException(name, $"corrupt JPEG: EOI at byte {pos - 2} before any {(sawFrame ? "scan (SOS)" : "frame header (SOF)")}");
                return;
            }
            if (marker == 0x00 || marker == 0x01 || marker == 0xD8 || marker is >= 0xD0 and <= 0xD7)
                continue; // stand-alone markers (and a stray stuffed byte)
            if (pos + 2 > d.Length) throw Truncated(d, name, $"in the length of marker FF{marker:X2}");
            int length = BinaryPrimitives.ReadUInt16BigEndian(d.Slice(pos, 2));
            if (length < 2)
                throw new ImageDecodeException(name, $"corrupt JPEG: marker FF{marker:X2} at byte {pos - 2} declares length {length}");
            if (pos + length > d.Length)
                throw Truncated(d, name, $"inside marker segment FF{marker:X2} at byte {pos - 2} (declares {length} bytes)");
            if (marker is >= 0xC0 and <= 0xCF && marker is not (0xC4 or 0xC8 or 0xCC)) sawFrame = true;
            pos += length;
            if (marker != 0xDA) continue;
            sawScan = true;
            // Entropy-coded data: runs until FF followed by anything other than 00 or a restart marker.
            while (true)
            {
                int next = pos < d.Length ? d[pos..].IndexOf((byte)0xFF) : -1;
                if (next < 0) throw Truncated(d, name, "inside the entropy-coded data of a scan");
                pos += next;
                if (pos + 1 >= d.Length) throw Truncated(d, name, "inside the entropy-coded data of a scan");
                byte b = d[pos + 1];
                if (b == 0x00 || b is >= 0xD0 and <= 0xD7) { pos += 2; continue; }
                if (b == 0xFF) { pos += 1; continue; }
                break; // a marker: back to the segment loop
            }
        }
    }

    /// <summary>
    /// The walk reached the end of the data before EOI. When the data nevertheless ends with an EOI marker the
    /// file is complete and its structure is damaged (typically flipped bytes in the entropy-coded data that read
    /// as a marker whose declared length runs past the end), so it is reported as corrupt, not truncated.
    /// </summary>
    private static ImageDecodeException Truncated(ReadOnlySpan<byte> d, string? name, string where) =>
        d.Length >= 4 && d[^2] == 0xFF && d[^1] == 0xD9
            ? new(name, $"corrupt JPEG: the marker walk reaches the end of the data at byte {d.Length} {where}, yet the data ends with an EOI marker (FF D9): the file is complete but damaged (e.g. flipped bytes read as a marker), not truncated")
            : new(name, $"truncated JPEG: the data ends at byte {d.Length} {where}, before the EOI marker (FF D9)");
}
