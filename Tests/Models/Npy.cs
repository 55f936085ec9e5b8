using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Vgg.Engine.Tests.Models;

/// <summary>
/// Reads a numpy .npy file (format versions 1–3) holding little-endian float32 in C order, as the fixture
/// scripts write with <c>np.save</c>. Anything else is a test-data error.
/// </summary>
internal static partial class Npy
{
    public static Tensor ReadFloat32(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{path}: not a .npy file");
        int major = bytes[6];
        int headerLen = major == 1 ? BitConverter.ToUInt16(bytes, 8) : BitConverter.ToInt32(bytes, 8);
        int start = major == 1 ? 10 : 12;
        var header = Encoding.Latin1.GetString(bytes, start, headerLen);
        if (!header.Contains("'descr': '<f4'", StringComparison.Ordinal) || !header.Contains("'fortran_order': False", StringComparison.Ordinal))
            throw new InvalidDataException($"{path}: expected little-endian float32 in C order, header {header.Trim()}");
        var m = ShapeRegex().Match(header);
        if (!m.Success) throw new InvalidDataException($"{path}: no shape in header {header.Trim()}");
        var shape = m.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var data = bytes.AsSpan(start + headerLen).ToArray();
        return new Tensor(DType.Float32, shape, data);
    }

    [GeneratedRegex(@"'shape':\s*\(([^)]*)\)")]
    private static partial Regex ShapeRegex();
}
