using System.Buffers.Binary;
using System.Text;
using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Loader;

/// <summary>
/// Error messages that name the actual problem (fresh-user report, nits 13 and 16): an absurd safetensors header
/// length, a pickle length of 2^31 and more, and a zip entry whose bytes do not match its CRC-32.
/// </summary>
public class FormatMessageTests
{
    private static ModelFormatException ReadFails(string path)
    {
        var e = Assert.Throws(Is.InstanceOf<ModelFormatException>(), () => WeightsFile.Read(path)) as ModelFormatException;
        Assert.That(e, Is.Not.Null);
        Assert.That(e!.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.StartWith(path));
        TestContext.Out.WriteLine(e.Message);
        return e;
    }

    private static byte[] Safetensors(ulong headerLength, string json)
    {
        var b = new byte[8 + Encoding.UTF8.GetByteCount(json)];
        BinaryPrimitives.WriteUInt64LittleEndian(b, headerLength);
        Encoding.UTF8.GetBytes(json, b.AsSpan(8));
        return b;
    }

    /// <summary>The JSON header opens at byte 8 but the length in front of it is absurd; the extension does not matter.</summary>
    [TestCase(1UL << 62, "weights.safetensors", " and the format's limit of 100000000 bytes")]
    [TestCase(1UL << 62, "weights.pt", " and the format's limit of 100000000 bytes")]
    [TestCase(1_000_000UL, "weights.safetensors", "")]
    [TestCase(8UL, "weights.bin", "")]
    public void SafetensorsHeaderLengthLargerThanTheFile(ulong n, string name, string limit)
    {
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File(name, Safetensors(n, """{"a":1}""")));
        Assert.That(e.Key, Is.EqualTo("header"));
        Assert.That(e.Message, Does.Contain($"safetensors header length {n} exceeds the file size (15 bytes, 7 after the length field){limit}: truncated file or not safetensors"));
    }

    /// <summary>A file named .safetensors whose first bytes are no header at all still gets the safetensors reader's account.</summary>
    [Test]
    public void SafetensorsExtensionWithoutJsonHeader()
    {
        using var dir = new LoaderAssert.TempDir();
        var bytes = new byte[64];
        new Random(4321).NextBytes(bytes);
        bytes[0] = 0x17; bytes[7] = 0x40; bytes[8] = (byte)'x';
        var e = ReadFails(dir.File("model.safetensors", bytes));
        Assert.That(e.Message, Does.Contain("safetensors header length").And.Contain("exceeds the file size (64 bytes"));
        var shortFile = ReadFails(dir.File("tiny.safetensors", new byte[] { 1, 2, 3 }));
        Assert.That(shortFile.Message, Does.Contain("the file is 3 bytes, shorter than the 8-byte header length"));
        // The same random bytes under another name stay "unrecognised" (no '{' at byte 8).
        Assert.That(ReadFails(dir.File("model.pt", bytes)).Message, Does.Contain("unrecognised content"));
        // A web page saved as .safetensors is still called a web page.
        Assert.That(ReadFails(dir.File("page.safetensors", "<!DOCTYPE html><html>login</html>"u8.ToArray())).Message, Does.Contain("HTML page"));
    }

    /// <summary>protocol-2 pickle: PROTO 2, the opcode, its length field (little-endian), 4 bytes of text, STOP.</summary>
    private static byte[] Pickle(byte opcode, byte[] length) =>
        new byte[] { 0x80, 2, opcode }.Concat(length).Concat("abc."u8.ToArray()).ToArray();

    private static byte[] Le32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    private static byte[] Le64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return b; }

    /// <summary>CPython reads BINUNICODE/BINBYTES lengths as unsigned ('&lt;I'), BINUNICODE8/BINBYTES8 as '&lt;Q'.</summary>
    [TestCase((byte)'X', 0x8000_0000u, "BINUNICODE length 2147483648 exceeds the remaining 4 bytes")]
    [TestCase((byte)'X', 0xFFFF_FFFFu, "BINUNICODE length 4294967295 exceeds the remaining 4 bytes")]
    [TestCase((byte)'B', 0x8000_0000u, "BINBYTES length 2147483648 exceeds the remaining 4 bytes")]
    [TestCase((byte)'X', 5u, "BINUNICODE length 5 exceeds the remaining 4 bytes")]
    public void Pickle32BitLengthsAreUnsigned(byte opcode, uint length, string message)
    {
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("p.pt", LoaderAssert.TorchZip("archive", Pickle(opcode, Le32(length)))));
        Assert.That(e.Message, Does.Contain(message));
        Assert.That(e.Message, Does.Not.Contain("negative"));
    }

    [TestCase((byte)0x8d, 1UL << 63, "BINUNICODE8 length 9223372036854775808 exceeds the remaining 4 bytes")]
    [TestCase((byte)0x8e, 1UL << 40, "BINBYTES8 length 1099511627776 exceeds the remaining 4 bytes")]
    public void Pickle64BitLengthsAreUnsigned(byte opcode, ulong length, string message)
    {
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("p.pt", LoaderAssert.TorchZip("archive", Pickle(opcode, Le64(length)))));
        Assert.That(e.Message, Does.Contain(message));
    }

    /// <summary>BINSTRING's count is signed in CPython ('&lt;i'), which refuses a negative one; so do we, by name.</summary>
    [Test]
    public void BinstringNegativeCountIsNamed()
    {
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("p.pt", LoaderAssert.TorchZip("archive", Pickle((byte)'T', Le32(0x8000_0000u)))));
        Assert.That(e.Message, Does.Contain("BINSTRING byte count -2147483648 is negative"));
    }

    /// <summary>
    /// A stored storage entry with one flipped byte: ZipArchive does not check CRC-32 for stored entries, Python's
    /// zipfile does. The unchanged file loads (control); the damaged one names the entry.
    /// </summary>
    [Test]
    public void StoredEntryWithWrongCrcIsRefused()
    {
        var bytes = File.ReadAllBytes(TestData.Fixture("loader/transposed_zip.pt"));
        using var dir = new LoaderAssert.TempDir();
        Assert.DoesNotThrow(() => WeightsFile.Read(dir.File("ok.pt", bytes)));

        // The first entry whose name contains "/data/" (size from the central directory: torch writes sizes in a
        // data descriptor after the data, so the local header's are zero): flip a byte in the middle of its data.
        string? name;
        long size;
        using (var zip = new System.IO.Compression.ZipArchive(new MemoryStream(bytes)))
        {
            var entry = zip.Entries.First(en => en.FullName.Contains("/data/", StringComparison.Ordinal));
            (name, size) = (entry.FullName, entry.CompressedLength);
            Assert.That(entry.Length, Is.EqualTo(size), "torch.save stores entries uncompressed");
        }
        Assert.That(size, Is.GreaterThan(2));
        int pos = bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(name)) - 30;
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos)), Is.EqualTo(0x04034b50u), "local file header");
        int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(pos + 26));
        int extraLen = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(pos + 28));
        bytes[pos + 30 + nameLen + extraLen + size / 2] ^= 0x04;
        Assert.That(name, Is.Not.Null, "no data entry found");
        var e = ReadFails(dir.File("bitflip_crc.pt", bytes));
        Assert.That(e.Key, Is.EqualTo(name));
        Assert.That(e.Message, Does.Contain("CRC-32 mismatch").And.Contain("corrupt"), e.Message);
    }
}
