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
            first = false;
            if (length > int.MaxValue)
                throw new ImageDecodeException(name, $"corrupt PNG: chunk '{type}' at byte {pos} declares {length} bytes (PNG limits chunks to 2^31 − 1)");
            long end = pos + 12 + length;
            if (end > d.Length)
                throw new ImageDecodeException(name, $"truncated PNG: chunk '{type}' at byte {pos} declares {length} data bytes, but the data ends at byte {d.Length}");
            if (type == "IEND")
                return;
            pos = end;
        }
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

    private static ImageDecodeException Truncated(ReadOnlySpan<byte> d, string? name, string where) =>
        new(name, $"truncated JPEG: the data ends at byte {d.Length} {where}, before the EOI marker (FF D9)");
}
