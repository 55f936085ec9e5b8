using System.Buffers.Binary;
using Vgg.Engine.Loader.Imaging;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Imaging;

/// <summary>
/// The PNG image data (IDAT) and header (IHDR) checks, and JPEG corrupt-versus-truncated wording. ImageSharp 2.1
/// decodes a PNG whose zlib stream stops early with the missing rows black; Pillow 9.4 raises
/// "image file is truncated". Images are built in memory (seeded random pixels) unless a test names shared data.
/// </summary>
[TestFixture]
public class PngImageDataTests
{
    private static readonly ImagePreprocessor Pre = ImagePreprocessor.Default;

    /// <summary>Seeded random filtered scanlines (filter type 0 on every row) of <paramref name="rows"/> × <paramref name="rowBytes"/>.</summary>
    private static byte[] RawScanlines(int rows, int rowBytes, int seed)
    {
        var rng = new Random(seed);
        var raw = new byte[rows * (1 + rowBytes)];
        rng.NextBytes(raw);
        for (int y = 0; y < rows; y++) raw[y * (1 + rowBytes)] = 0;
        return raw;
    }

    private static ImageDecodeException Refused(byte[] png, string name)
    {
        var e = Assert.Throws<ImageDecodeException>(() => Pre.Decode(png, ColorMode.Rgb, sourceName: name))!;
        Assert.That(e.FilePath, Is.EqualTo(name));
        Assert.That(e.Message, Does.StartWith(name + ": "));
        TestContext.Out.WriteLine(e.Message);
        return e;
    }

    [Test]
    public void CompleteImageDataDecodes()
    {
        // Control for the tests below: the same construction with all rows decodes to exactly those pixels.
        const int w = 20, h = 12, seed = 7;
        var raw = RawScanlines(h, 3 * w, seed);
        var img = Pre.Decode(TestImages.PngWithIdat(w, h, 2, 8, 0, TestImages.Zlib(raw)), ColorMode.Rgb, sourceName: "full.png");
        Assert.That((img.Width, img.Height, img.Channels), Is.EqualTo((w, h, 3)));
        for (int y = 0; y < h; y++)
            Assert.That(img.Data.AsSpan(y * 3 * w, 3 * w).ToArray(), Is.EqualTo(raw.AsSpan(y * (1 + 3 * w) + 1, 3 * w).ToArray()), $"row {y}");
    }

    /// <summary>The zlib stream cut in half (as half_idat_hopper.png of the fresh-user report), chunk CRC valid.</summary>
    [Test]
    public void ZlibStreamCutShortIsRefused()
    {
        const int w = 20, h = 12, seed = 8;
        var z = TestImages.Zlib(RawScanlines(h, 3 * w, seed)); // random bytes do not compress: about 12 rows per half
        var png = TestImages.PngWithIdat(w, h, 2, 8, 0, z[..(z.Length / 2)]);
        var e = Refused(png, "half.png");
        Assert.That(e.Message, Does.Contain("truncated PNG image data").And.Contain($"of the {h * (1 + 3 * w)} bytes a 20×12 RGB 8-bit image needs").And.Contain("of 12 rows"), e.Message);
    }

    /// <summary>A complete zlib stream holding 5 of 12 rows: Pillow 9.4 leaves the rest black without a word; we refuse it.</summary>
    [Test]
    public void CompleteZlibStreamWithTooFewRowsIsRefused()
    {
        const int w = 9, h = 12, seed = 9;
        var raw = RawScanlines(h, w, seed);
        var png = TestImages.PngWithIdat(w, h, 0, 8, 0, TestImages.Zlib(raw.AsSpan(0, 5 * (1 + w) + 3)));
        var e = Refused(png, "short.png");
        Assert.That(e.Message, Is.EqualTo($"short.png: truncated PNG image data: the IDAT zlib stream inflates to {5 * (1 + w) + 3} of the {h * (1 + w)} bytes a 9×12 grayscale 8-bit image needs (5 of 12 rows)"));
    }

    /// <summary>Adam7: 10 × 10 gray 8-bit has passes of 2×2, 1×2, 3×1, 2×3, 5×2, 5×5, 10×5 pixels = 2·3+2·2+1·4+3·3+2·6+5·6+5·11 = 120 bytes.</summary>
    [Test]
    public void InterlacedImageDataIsCountedPerPass()
    {
        const int expected = 2 * 3 + 2 * 2 + 1 * 4 + 3 * 3 + 2 * 6 + 5 * 6 + 5 * 11;
        var rng = new Random(10);
        var raw = new byte[expected];
        rng.NextBytes(raw);
        // Filter bytes must be valid (0..4) for the full image to decode: zero them per pass row.
        int pos = 0;
        foreach (var (rows, rowBytes) in new[] { (2, 3), (2, 2), (1, 4), (3, 3), (2, 6), (5, 6), (5, 11) })
            for (int r = 0; r < rows; r++, pos += rowBytes) raw[pos] = 0;
        Assert.That(pos, Is.EqualTo(expected));
        Assert.DoesNotThrow(() => Pre.Decode(TestImages.PngWithIdat(10, 10, 0, 8, 1, TestImages.Zlib(raw)), ColorMode.Grayscale, sourceName: "adam7.png"));

        // Cut inside pass 6 (starts after 2·3+2·2+1·4+3·3+2·6 = 35 bytes; rows of 6 bytes): 35 + 2·6 + 1 bytes = 2 full rows.
        var e = Refused(TestImages.PngWithIdat(10, 10, 0, 8, 1, TestImages.Zlib(raw.AsSpan(0, 48))), "adam7-short.png");
        Assert.That(e.Message, Does.Contain($"inflates to 48 of the {expected} bytes a 10×10 grayscale 8-bit Adam7-interlaced image needs (it stops in Adam7 pass 6 of 7 after 2 of that pass's 5 rows)"), e.Message);
    }

    /// <summary>Sub-byte pixels: 1-bit grayscale rows of 13 pixels take ceil(13/8) = 2 bytes + the filter byte.</summary>
    [Test]
    public void SubBytePixelsAreCountedInBits()
    {
        var png = TestImages.PngWithIdat(13, 4, 0, 1, 0, TestImages.Zlib(new byte[4 * 3 - 1]));
        var e = Refused(png, "bits.png");
        Assert.That(e.Message, Does.Contain("inflates to 11 of the 12 bytes a 13×4 grayscale 1-bit image needs (3 of 4 rows)"), e.Message);
        Assert.DoesNotThrow(() => Pre.Decode(TestImages.PngWithIdat(13, 4, 0, 1, 0, TestImages.Zlib(new byte[12])), ColorMode.Grayscale, sourceName: "bits-ok.png"));
    }

    [Test]
    public void InvalidZlibDataIsCorrupt()
    {
        var z = TestImages.Zlib(RawScanlines(4, 4, seed: 11));
        z[0] = 0x79; // CMF with an invalid header check (FCHECK): not a zlib stream
        var e = Refused(TestImages.PngWithIdat(4, 4, 0, 8, 0, z), "badzlib.png");
        Assert.That(e.Message, Does.StartWith("badzlib.png: corrupt PNG image data: the IDAT zlib stream cannot be inflated"), e.Message);
    }

    /// <summary>The report's case: hopper.png with its IDAT payload halved and the chunk length and CRC fixed up.</summary>
    [Test]
    public void HopperWithHalfItsIdatIsRefused()
    {
        var d = File.ReadAllBytes(TestData.Require("images/hopper.png"));
        int pos = 8;
        while (!d.AsSpan(pos + 4, 4).SequenceEqual("IDAT"u8)) pos += 12 + (int)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(pos));
        int len = (int)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(pos));
        var half = d.AsSpan(pos + 8, len / 2).ToArray();
        var png = d[..pos].Concat(TestImages.Chunk("IDAT", half)).Concat(d[(pos + 12 + len)..]).ToArray();
        var e = Refused(png, "half_idat_hopper.png");
        Assert.That(e.Message, Does.Contain("truncated PNG image data").And.Contain("128×128 RGB 8-bit").And.Contain("of 128 rows"), e.Message);
    }

    /// <summary>ImageSharp says "PNG Image does not contain a header chunk" for an IHDR of 0 × 0; the header is there, its size is wrong.</summary>
    [TestCase(0u, 0u, "0×0")]
    [TestCase(5u, 0u, "5×0")]
    [TestCase(0x8000_0000u, 1u, "2147483648×1")]
    public void ZeroOrHugeIhdrSizeIsNamed(uint w, uint h, string size)
    {
        var png = TestImages.PngWithIdat(w, h, 2, 8, 0, TestImages.Zlib(new byte[4]));
        var e = Refused(png, "zero.png");
        Assert.That(e.Message, Is.EqualTo($"zero.png: invalid PNG header (IHDR): the image is {size} pixels; width and height must be 1 .. 2^31 − 1"));
    }

    [TestCase((byte)2, (byte)4, "bit depth 4 is not allowed for colour type 2")]
    [TestCase((byte)3, (byte)16, "bit depth 16 is not allowed for colour type 3")]
    [TestCase((byte)5, (byte)8, "colour type 5 does not exist")]
    public void InvalidIhdrFieldsAreNamed(byte colorType, byte depth, string what)
    {
        var e = Refused(TestImages.PngWithIdat(4, 4, colorType, depth, 0, TestImages.Zlib(new byte[64])), "ihdr.png");
        Assert.That(e.Message, Does.Contain("invalid PNG header (IHDR): " + what), e.Message);
    }

    /// <summary>
    /// Flipped bytes inside the entropy-coded data that read as an APP3 marker (FF E3) declaring 65,535 bytes, with
    /// the file's EOI intact: corrupt, not truncated (bitflip.jpg of the report). The same file cut before its EOI is
    /// truncated.
    /// </summary>
    [Test]
    public void DamagedJpegScanIsCorruptNotTruncated()
    {
        var d = File.ReadAllBytes(TestData.Require("images/hopper.jpg"));
        int sos = d.AsSpan().IndexOf(new byte[] { 0xFF, 0xDA });
        Assert.That(sos, Is.GreaterThan(0).And.LessThan(d.Length - 2000));
        int at = d.Length - 1000; // inside the scan, fewer than 65,535 bytes before the end
        d[at] = 0xFF; d[at + 1] = 0xE3; d[at + 2] = 0xFF; d[at + 3] = 0xFF;
        var e = Assert.Throws<ImageDecodeException>(() => Pre.Decode(d, ColorMode.Rgb, sourceName: "bitflip.jpg"))!;
        Assert.That(e.Message, Does.StartWith("bitflip.jpg: corrupt JPEG").And.Contain("FFE3").And.Contain("not truncated"), e.Message);
        Assert.That(e.Message, Does.Not.StartWith("bitflip.jpg: truncated"), e.Message);

        var cut = d[..^2]; // no EOI: now it is truncated
        var t = Assert.Throws<ImageDecodeException>(() => Pre.Decode(cut, ColorMode.Rgb, sourceName: "cut.jpg"))!;
        Assert.That(t.Message, Does.StartWith("cut.jpg: truncated JPEG"), t.Message);
    }
}
