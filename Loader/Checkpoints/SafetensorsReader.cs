using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Vgg.Engine.Models;

namespace Vgg.Engine.Loader.Checkpoints;

/// <summary>
/// safetensors (huggingface/safetensors, format described in its README "Format"): an 8-byte
/// little-endian unsigned header length N, N bytes of UTF-8 JSON mapping each tensor name to
/// <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (offsets relative to the byte buffer after
/// the header) and an optional <c>"__metadata__"</c> string map, then the little-endian row-major data.
/// Checked as the reference implementation's <c>validate</c> does: header at most 100,000,000 bytes,
/// offsets inside the buffer, end − begin = elements × element size, and the tensors covering the
/// buffer without holes or overlaps.
/// </summary>
internal static class SafetensorsReader
{
    /// <summary>The reference implementation's MAX_HEADER_SIZE.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>True when the first bytes are a plausible safetensors header (length fits, JSON object follows).</summary>
    public static bool LooksLikeSafetensors(ReadOnlySpan<byte> head, long fileLength)
    {
        if (head.Length < 9) return false;
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(head);
        return n >= 2 && n <= (ulong)Math.Max(0, fileLength - 8) && head[8] == (byte)'{';
    }

    private static DType? ParseDType(string s) => s switch
    {
        "F64" => DType.Float64,
        "F32" => DType.Float32,
        "F16" => DType.Float16,
        "BF16" => DType.BFloat16,
        "I64" => DType.Int64,
        "I32" => DType.Int32,
        "I16" => DType.Int16,
        "I8" => DType.Int8,
        "U64" => DType.UInt64,
        "U32" => DType.UInt32,
        "U16" => DType.UInt16,
        "U8" => DType.UInt8,
        "BOOL" => DType.Bool,
        _ => null,
    };

    public static StateDict Read(string path, Stream s, ILogger? log)
    {
        long fileLength = s.Length;
        if (fileLength < 8)
            throw new ModelFormatException(path, "header", $"the file is {fileLength} bytes, shorter than the 8-byte header length that starts a safetensors file");
        var lenBytes = new byte[8];
        s.Position = 0;
        s.ReadExactly(lenBytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (n > (ulong)(fileLength - 8))
            throw new ModelFormatException(path, "header",
                $"safetensors header length {n} exceeds the file size ({fileLength} bytes, {fileLength - 8} after the length field){(n > MaxHeaderBytes ? $" and the format's limit of {MaxHeaderBytes} bytes" : "")}: truncated file or not safetensors");
        if (n > MaxHeaderBytes)
            throw new ModelFormatException(path, "header", $"safetensors header length {n} exceeds the format's limit of {MaxHeaderBytes} bytes");
        var header = new byte[n];
        s.ReadExactly(header);
        long dataStart = 8 + (long)n;
        long dataLength = fileLength - dataStart;

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, "header", $"safetensors header is not valid JSON: {e.Message}", e);
        }

        var entries = new List<(string name, DType dtype, int[] shape, long begin, long end)>();
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(path, "header", "safetensors header is not a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object || prop.Value.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.String))
                        throw new ModelFormatException(path, "__metadata__", "expected an object of string values");
                    if (log is not null && log.IsEnabled(LogLevel.Debug))
                        log.LogDebug("{File}: safetensors __metadata__ {Metadata}", path, prop.Value.GetRawText());
                    continue;
                }
                entries.Add(ParseEntry(path, prop.Name, prop.Value, dataLength));
            }
        }

        // No holes, no overlaps: sorted by offset the tensors tile [0, dataLength).
        long expect = 0;
        foreach (var e in entries.OrderBy(e => e.begin).ThenBy(e => e.end))
        {
            if (e.begin != expect)
                throw new ModelFormatException(path, e.name,
                    e.begin < expect
                        ? $"data_offsets [{e.begin}, {e.end}] overlap the previous tensor, which ends at {expect}"
                        : $"data_offsets start at {e.begin}, but the previous tensor ends at {expect}: the header leaves a hole in the data");
            expect = e.end;
        }
        if (expect != dataLength)
            throw new ModelFormatException(path, null, $"the tensors cover {expect} bytes of data, the file holds {dataLength} after the header (truncated file or lying header)");

        var sd = new StateDict(path, "safetensors");
        foreach (var e in entries)
        {
            var buf = new byte[e.end - e.begin];
            s.Position = dataStart + e.begin;
            s.ReadExactly(buf);
            sd.Add(e.name, new Tensor(e.dtype, e.shape, buf));
        }
        return sd;
    }

    private static (string, DType, int[], long, long) ParseEntry(string path, string name, JsonElement v, long dataLength)
    {
        if (v.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, name, "header entry is not an object with dtype, shape and data_offsets");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new ModelFormatException(path, name, "header entry has no \"dtype\" string");
        string dts = dt.GetString()!;
        var dtype = ParseDType(dts) ?? throw new ModelFormatException(path, name, $"dtype {dts} is not supported; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(path, name, "header entry has no \"shape\" array");
        if (sh.GetArrayLength() > TensorMaterializer.MaxRank)
            throw new ModelFormatException(path, name, $"shape has {sh.GetArrayLength()} dimensions; at most {TensorMaterializer.MaxRank} are supported");
        var shape = new int[sh.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int x) || x < 0)
                throw new ModelFormatException(path, name, $"shape entry {d.GetRawText()} is not a dimension (0 to {int.MaxValue})");
            shape[i++] = x;
            count = count == 0 || x == 0 ? 0 : (count > long.MaxValue / x ? long.MaxValue : count * x);
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new ModelFormatException(path, name, "header entry has no \"data_offsets\" [begin, end]");
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new ModelFormatException(path, name, $"data_offsets {off.GetRawText()} are not 0 ≤ begin ≤ end");
        if (end > dataLength)
            throw new ModelFormatException(path, name, $"data_offsets [{begin}, {end}] run past the {dataLength} bytes of data in the file (truncated file or lying header)");
        int es = dtype.SizeOf();
        if (count > long.MaxValue / es || end - begin != count * es)
            throw new ModelFormatException(path, name, $"data_offsets [{begin}, {end}] hold {end - begin} bytes; a {dtype.Name()}{Tensor.FormatShape(shape)} needs {(count > long.MaxValue / es ? "more than 2^63" : (count * es).ToString(System.Globalization.CultureInfo.InvariantCulture))}");
        if (end - begin > Array.MaxLength)
            throw new ModelFormatException(path, name, $"{end - begin} bytes is more than one tensor buffer can hold");
        return (name, dtype, shape, begin, end);
    }
}
