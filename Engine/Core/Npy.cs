using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace Vgg.Engine;

/// <summary>
/// numpy's .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html), for
/// <c>vgg run --input/--output</c> and test fixtures: read versions 1.0, 2.0 and 3.0, write 1.0 (2.0 when
/// the header needs it); C order only; little-endian float32, float64, float16, int8, uint8, int16,
/// uint16, int32, int64, bool. Also reads .npz archives (np.savez, stored or deflated).
/// </summary>
public static partial class Npy
{
    private static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

    private static readonly (string Descr, DType DType)[] Types =
    {
        ("<f4", DType.Float32), ("<f8", DType.Float64), ("<f2", DType.Float16), ("|i1", DType.Int8), ("|u1", DType.UInt8),
        ("<i2", DType.Int16), ("<u2", DType.UInt16), ("<i4", DType.Int32), ("<i8", DType.Int64), ("|b1", DType.Bool),
        ("<u4", DType.UInt32), ("<u8", DType.UInt64),
    };

    /// <summary>Reads a .npy file.</summary>
    /// <exception cref="ModelFormatException">Not a .npy file, an unsupported dtype or Fortran order, or truncated data (names the file).</exception>
    public static Tensor Read(string path)
    {
        using var s = File.OpenRead(path);
        return Read(s, path);
    }

    /// <summary>Reads one array from <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="ModelFormatException">Not a .npy stream, an unsupported dtype or Fortran order, or truncated data.</exception>
    public static Tensor Read(Stream stream, string? source = null)
    {
        var pre = new byte[8];
        if (ReadFully(stream, pre) < 8 || !pre.AsSpan(0, 6).SequenceEqual(Magic))
            throw new ModelFormatException(source, null, "not a .npy file (the \\x93NUMPY magic is missing)");
        int major = pre[6];
        int headerLength;
        if (major == 1)
        {
            var l = new byte[2];
            if (ReadFully(stream, l) < 2) throw new ModelFormatException(source, null, "truncated .npy header");
            headerLength = l[0] | l[1] << 8;
        }
        else if (major is 2 or 3)
        {
            var l = new byte[4];
            if (ReadFully(stream, l) < 4) throw new ModelFormatException(source, null, "truncated .npy header");
            headerLength = BitConverter.ToInt32(l);
        }
        else throw new ModelFormatException(source, null, $".npy version {major}.{pre[7]} is not supported (1.0, 2.0, 3.0 are)");
        if (headerLength is < 0 or > 1 << 20) throw new ModelFormatException(source, null, $"implausible .npy header length {headerLength}");
        var hb = new byte[headerLength];
        if (ReadFully(stream, hb) < headerLength) throw new ModelFormatException(source, null, "truncated .npy header");
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(hb);

        var descr = DescrRegex().Match(header);
        var fortran = FortranRegex().Match(header);
        var shapeM = ShapeRegex().Match(header);
        if (!descr.Success || !fortran.Success || !shapeM.Success)
            throw new ModelFormatException(source, null, $"unreadable .npy header: {header.Trim()}");
        if (fortran.Groups[1].Value == "True")
            throw new ModelFormatException(source, null, "Fortran-order arrays are not supported; save with np.ascontiguousarray");
        var d = descr.Groups[1].Value;
        if (d == "<b1") d = "|b1";
        if (d == "<u1") d = "|u1";
        if (d == "<i1") d = "|i1";
        var type = Types.FirstOrDefault(t => t.Descr == d);
        if (type.Descr is null)
            throw new ModelFormatException(source, null, $"dtype '{descr.Groups[1].Value}' is not supported (little-endian float32/float64/float16, int8..int64, uint8..uint64, bool are)");
        var shape = shapeM.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var t = new Tensor(type.DType, shape);
        var data = t.Bytes;
        int read = 0;
        while (read < data.Length)
        {
            int n = stream.Read(data[read..]);
            if (n == 0) throw new ModelFormatException(source, null, $"truncated .npy data: {Tensor.FormatShape(type.DType, shape)} needs {data.Length} bytes, {read} present");
            read += n;
        }
        return t;
    }

    /// <summary>Reads every array of an .npz archive (np.savez / np.savez_compressed) by name (without ".npy").</summary>
    /// <exception cref="ModelFormatException">Not a zip archive, or an entry that is not a .npy array.</exception>
    public static Dictionary<string, Tensor> ReadArchive(string path)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new ModelFormatException(path, null, "not an .npz (zip) archive", e);
        }
        using (zip)
        {
            foreach (var entry in zip.Entries)
            {
                var name = entry.FullName.EndsWith(".npy", StringComparison.Ordinal) ? entry.FullName[..^4] : entry.FullName;
                using var s = entry.Open();
                result[name] = Read(s, $"{path}:{entry.FullName}");
            }
        }
        return result;
    }

    /// <summary>Writes <paramref name="tensor"/> as a version 1.0 .npy file (C order, little-endian).</summary>
    public static void Write(string path, Tensor tensor)
    {
        using var s = File.Create(path);
        Write(s, tensor);
    }

    /// <summary>Writes <paramref name="tensor"/> in .npy format to <paramref name="stream"/>.</summary>
    /// <exception cref="NotSupportedException">bfloat16, which numpy has no dtype for.</exception>
    public static void Write(Stream stream, Tensor tensor)
    {
        var type = Types.FirstOrDefault(t => t.DType == tensor.DType);
        if (type.Descr is null) throw new NotSupportedException($"{tensor.DType.Name()} has no numpy dtype; cast to float32 first");
        var shape = tensor.Shape.Count == 1 ? $"({tensor.Shape[0]},)" : "(" + string.Join(", ", tensor.Shape) + ")";
        var dict = $"{{'descr': '{type.Descr}', 'fortran_order': False, 'shape': {shape}, }}";
        int prefix = 10;
        int total = (prefix + dict.Length + 1 + 63) / 64 * 64;
        int major = 1;
        if (total - prefix > ushort.MaxValue) { prefix = 12; total = (prefix + dict.Length + 1 + 63) / 64 * 64; major = 2; }
        var header = dict.PadRight(total - prefix - 1) + "\n";
        stream.Write(Magic);
        stream.WriteByte((byte)major);
        stream.WriteByte(0);
        if (major == 1) stream.Write(BitConverter.GetBytes((ushort)header.Length));
        else stream.Write(BitConverter.GetBytes(header.Length));
        stream.Write(Encoding.Latin1.GetBytes(header));
        stream.Write(tensor.Bytes);
    }

    private static int ReadFully(Stream s, Span<byte> buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = s.Read(buffer[read..]);
            if (n == 0) break;
            read += n;
        }
        return read;
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")]
    private static partial Regex DescrRegex();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranRegex();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeRegex();
}
