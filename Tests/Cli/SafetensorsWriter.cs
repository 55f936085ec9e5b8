using System.Buffers.Binary;
using System.Text.Json;

namespace Vgg.Engine.Tests.Cli;

/// <summary>
/// Writes float32 tensors as a safetensors file (https://github.com/huggingface/safetensors, "Format"): an 8-byte
/// little-endian header length, a JSON header {key: {"dtype": "F32", "shape", "data_offsets": [begin, end]}}
/// padded with spaces to a multiple of 8, then the raw little-endian data. For tests that need a weights file of
/// a seeded model without Python.
/// </summary>
internal static class SafetensorsWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        var list = tensors.ToList();
        using var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            long offset = 0;
            foreach (var (key, t) in list)
            {
                Assert.That(t.DType, Is.EqualTo(DType.Float32), key);
                w.WriteStartObject(key);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.ByteCount);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.ByteCount;
            }
            w.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        fs.Write(len);
        header.Position = 0;
        header.CopyTo(fs);
        foreach (var (_, t) in list) fs.Write(t.Bytes); // the engine's tensors are little-endian
    }
}
