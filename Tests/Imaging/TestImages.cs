using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Vgg.Engine.Tests.Imaging;

/// <summary>Builds small encoded images in memory for the error-path tests (PNG chunks with correct CRCs).</summary>
internal static class TestImages
{
    private static readonly uint[] CrcTable = MakeCrcTable();

    private static uint[] MakeCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    /// <summary>PNG CRC-32 (ISO 3309) over chunk type and data.</summary>
    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    public static byte[] Chunk(string type, ReadOnlySpan<byte> data)
    {
        var buf = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(buf, (uint)data.Length);
        Encoding.ASCII.GetBytes(type).CopyTo(buf, 4);
        data.CopyTo(buf.AsSpan(8));
        BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(8 + data.Length), Crc32(buf.AsSpan(4, 4 + data.Length)));
        return buf;
    }

    /// <summary>A PNG with the given IHDR fields and raw (unfiltered, filter byte included) scanlines compressed into one IDAT.</summary>
    public static byte[] Png(int width, int height, byte colorType, byte bitDepth, byte[] rawScanlines)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = bitDepth;
        ihdr[9] = colorType;
        using var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(rawScanlines);
        using var m = new MemoryStream();
        m.Write(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
        m.Write(Chunk("IHDR", ihdr));
        m.Write(Chunk("IDAT", z.ToArray()));
        m.Write(Chunk("IEND", ReadOnlySpan<byte>.Empty));
        return m.ToArray();
    }

    /// <summary>zlib (RFC 1950) compression of <paramref name="raw"/>, for hand-made IDAT data.</summary>
    public static byte[] Zlib(ReadOnlySpan<byte> raw)
    {
        using var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(raw);
        return z.ToArray();
    }

    /// <summary>A PNG with the given IHDR fields and <paramref name="idat"/> as the data of one IDAT chunk, written as is.</summary>
    public static byte[] PngWithIdat(uint width, uint height, byte colorType, byte bitDepth, byte interlace, byte[] idat)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = bitDepth;
        ihdr[9] = colorType;
        ihdr[12] = interlace;
        using var m = new MemoryStream();
        m.Write(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
        m.Write(Chunk("IHDR", ihdr));
        m.Write(Chunk("IDAT", idat));
        m.Write(Chunk("IEND", ReadOnlySpan<byte>.Empty));
        return m.ToArray();
    }

    /// <summary>An 8-bit grayscale PNG of seeded random pixels.</summary>
    public static byte[] GrayPng(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var raw = new byte[height * (width + 1)];
        for (int y = 0; y < height; y++)
        {
            raw[y * (width + 1)] = 0; // filter: none
            for (int x = 0; x < width; x++) raw[y * (width + 1) + 1 + x] = (byte)rng.Next(256);
        }
        return Png(width, height, 0, 8, raw);
    }

    /// <summary>
    /// A decompression bomb's header: IHDR claims <paramref name="width"/> × <paramref name="height"/> RGB pixels,
    /// followed by a tiny IDAT (one zero scanline) and IEND. Well-formed chunks, so only the pixel limit stops it.
    /// </summary>
    public static byte[] BombPng(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = 8;
        ihdr[9] = 2;
        using var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(new byte[1024]);
        using var m = new MemoryStream();
        m.Write(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
        m.Write(Chunk("IHDR", ihdr));
        m.Write(Chunk("IDAT", z.ToArray()));
        m.Write(Chunk("IEND", ReadOnlySpan<byte>.Empty));
        return m.ToArray();
    }

    /// <summary>A copy of a JPEG whose first SOF0/SOF2 header claims <paramref name="width"/> × <paramref name="height"/>.</summary>
    public static byte[] JpegWithSize(byte[] jpeg, ushort width, ushort height)
    {
        var d = (byte[])jpeg.Clone();
        int pos = 2;
        while (pos + 4 < d.Length)
        {
            if (d[pos] != 0xFF) throw new InvalidOperationException($"no marker at byte {pos}");
            byte marker = d[pos + 1];
            int length = BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(pos + 2));
            if (marker is 0xC0 or 0xC1 or 0xC2)
            {
                // SOF: length(2) precision(1) height(2) width(2)
                BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(pos + 5), height);
                BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(pos + 7), width);
                return d;
            }
            pos += 2 + length;
        }
        throw new InvalidOperationException("no SOF marker found");
    }

    /// <summary>A read-only stream that cannot seek (as a network request body).</summary>
    public sealed class ForwardOnlyStream(byte[] data) : Stream
    {
        private int _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            // Deliver in small pieces, as a socket would.
            int n = Math.Min(Math.Min(count, 1000), data.Length - _pos);
            Array.Copy(data, _pos, buffer, offset, n);
            _pos += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
