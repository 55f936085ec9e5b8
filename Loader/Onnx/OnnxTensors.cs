using System.Buffers.Binary;
using System.Globalization;
using Google.Protobuf;
using Vgg.Engine.Loader.Onnx.Proto;

namespace Vgg.Engine.Loader.Onnx;

/// <summary>
/// A tensor whose ONNX data type the engine does not hold (string, complex, float8, 4-bit and 2-bit
/// types). The importer turns it into an <see cref="UnsupportedOperatorException"/> naming the node that
/// reads the tensor; <see cref="OnnxTensors.ReadTensorFile(string)"/> reports it as a <see cref="ModelFormatException"/>.
/// </summary>
internal sealed class UnsupportedDataTypeException : Exception
{
    public UnsupportedDataTypeException(string tensorName, int onnxType)
        : base($"'{tensorName}' has ONNX data type {OnnxTensors.TypeName(onnxType)} ({onnxType}), which the engine does not support (supported: {OnnxTensors.SupportedTypeList})")
    {
        TensorName = tensorName;
        OnnxType = onnxType;
    }

    public string TensorName { get; }
    public int OnnxType { get; }
}

/// <summary>
/// Conversion between ONNX <c>TensorProto</c> (onnx.proto, "Tensors") and <see cref="Tensor"/>:
/// every storage form the specification allows for the supported types — <c>raw_data</c> (fixed-width
/// little-endian), the typed fields (<c>float_data</c>, <c>int32_data</c> for int8/uint8/int16/uint16/
/// bool/float16/bfloat16 bit patterns, <c>int64_data</c>, <c>double_data</c>, <c>uint64_data</c> for
/// uint32/uint64) and external data files.
/// </summary>
public static class OnnxTensors
{
    internal const string SupportedTypeList = "FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT8, UINT8, INT16, UINT16, INT32, UINT32, INT64, UINT64, BOOL";

    /// <summary>The engine dtype for an ONNX <c>TensorProto.DataType</c> code, or null when the engine has none (string, complex, float8, int4, ...).</summary>
    public static DType? ToDType(int onnxType) => onnxType switch
    {
        1 => DType.Float32,
        2 => DType.UInt8,
        3 => DType.Int8,
        4 => DType.UInt16,
        5 => DType.Int16,
        6 => DType.Int32,
        7 => DType.Int64,
        9 => DType.Bool,
        10 => DType.Float16,
        11 => DType.Float64,
        12 => DType.UInt32,
        13 => DType.UInt64,
        16 => DType.BFloat16,
        _ => null,
    };

    /// <summary>The spec's name of an ONNX data type code ("FLOAT", "COMPLEX64", "FLOAT8E4M3FN", ...).</summary>
    public static string TypeName(int onnxType) => onnxType switch
    {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        17 => "FLOAT8E4M3FN",
        18 => "FLOAT8E4M3FNUZ",
        19 => "FLOAT8E5M2",
        20 => "FLOAT8E5M2FNUZ",
        21 => "UINT4",
        22 => "INT4",
        23 => "FLOAT4E2M1",
        24 => "FLOAT8E8M0",
        25 => "UINT2",
        26 => "INT2",
        _ => "type " + onnxType.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// Reads a file holding one serialized <c>TensorProto</c> (the <c>input_K.pb</c> / <c>output_K.pb</c>
    /// files of ONNX backend test cases).
    /// </summary>
    /// <exception cref="ModelFormatException">Not a TensorProto, an unsupported data type, or data that does not fit its dims.</exception>
    public static Tensor ReadTensorFile(string path) => ReadTensorFile(path, out _);

    /// <summary>As <see cref="ReadTensorFile(string)"/>; also returns the tensor's name field ("" when absent).</summary>
    public static Tensor ReadTensorFile(string path, out string name)
    {
        TensorProto proto;
        try
        {
            using var fs = File.OpenRead(path);
            proto = TensorProto.Parser.ParseFrom(fs);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelFormatException(path, null, "not a serialized ONNX TensorProto: " + e.Message, e);
        }
        catch (IOException e)
        {
            throw new ModelFormatException(path, null, "cannot be read: " + e.Message, e);
        }
        name = proto.Name;
        try
        {
            return FromProto(proto, Path.GetDirectoryName(Path.GetFullPath(path)), path);
        }
        catch (UnsupportedDataTypeException e)
        {
            throw new ModelFormatException(path, proto.Name, e.Message);
        }
    }

    /// <summary>Writes <paramref name="tensor"/> as one serialized TensorProto (raw_data) to <paramref name="path"/>.</summary>
    public static void WriteTensorFile(string path, Tensor tensor, string name = "")
    {
        using var fs = File.Create(path);
        ToProto(tensor, name).WriteTo(fs);
    }

    /// <summary>
    /// Decodes a TensorProto. External data (<c>data_location = EXTERNAL</c>) is read from
    /// <c>location</c> relative to <paramref name="modelDirectory"/>, which it must not leave.
    /// </summary>
    /// <exception cref="UnsupportedDataTypeException">The data type has no engine dtype.</exception>
    /// <exception cref="ModelFormatException">Malformed dims, a data field that does not match the element count, bad external data.</exception>
    internal static Tensor FromProto(TensorProto proto, string? modelDirectory, string? filePath)
    {
        string name = proto.Name;
        var dtype = ToDType(proto.DataType) ?? throw new UnsupportedDataTypeException(name, proto.DataType);
        if (proto.Segment is not null)
            throw new ModelFormatException(filePath, name, "the tensor is a segment of a larger tensor (TensorProto.segment); segmented tensors are not supported");
        var shape = new int[proto.Dims.Count];
        long count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            long d = proto.Dims[i];
            if (d < 0 || d > int.MaxValue)
                throw new ModelFormatException(filePath, name, $"dimension {i} is {d}; dims must be between 0 and {int.MaxValue}");
            shape[i] = (int)d;
            count *= d;
            if (count * dtype.SizeOf() > Array.MaxLength)
                throw new ModelFormatException(filePath, name, $"{FormatDims(proto)} {dtype.Name()} needs more than {Array.MaxLength} bytes, more than one tensor buffer can hold");
        }
        int size = dtype.SizeOf();
        long byteCount = count * size;

        if (proto.HasDataLocation && proto.DataLocation == TensorProto.Types.DataLocation.External)
        {
            var bytes = ReadExternal(proto, modelDirectory, filePath, byteCount);
            return new Tensor(dtype, shape, bytes);
        }
        if (proto.ExternalData.Count > 0)
            throw new ModelFormatException(filePath, name, "external_data entries are present but data_location is not EXTERNAL");

        if (proto.HasRawData)
        {
            var raw = proto.RawData.Span;
            if (raw.Length != byteCount)
                throw new ModelFormatException(filePath, name, $"raw_data holds {raw.Length} bytes; {FormatDims(proto)} {dtype.Name()} needs {byteCount}");
            var data = raw.ToArray();
            if (dtype == DType.Bool)
                for (int i = 0; i < data.Length; i++) data[i] = data[i] != 0 ? (byte)1 : (byte)0;
            return new Tensor(dtype, shape, data);
        }

        var t = new Tensor(dtype, shape);
        int n = checked((int)count);
        switch (dtype)
        {
            case DType.Float32:
                CheckCount(proto.FloatData.Count, n, "float_data", proto, filePath, dtype);
                { var s = t.AsSpan<float>(); for (int i = 0; i < n; i++) s[i] = proto.FloatData[i]; }
                break;
            case DType.Float64:
                CheckCount(proto.DoubleData.Count, n, "double_data", proto, filePath, dtype);
                { var s = t.AsSpan<double>(); for (int i = 0; i < n; i++) s[i] = proto.DoubleData[i]; }
                break;
            case DType.Int64:
                CheckCount(proto.Int64Data.Count, n, "int64_data", proto, filePath, dtype);
                { var s = t.AsSpan<long>(); for (int i = 0; i < n; i++) s[i] = proto.Int64Data[i]; }
                break;
            case DType.UInt32:
                CheckCount(proto.Uint64Data.Count, n, "uint64_data", proto, filePath, dtype);
                { var s = t.AsSpan<uint>(); for (int i = 0; i < n; i++) s[i] = checked((uint)proto.Uint64Data[i]); }
                break;
            case DType.UInt64:
                CheckCount(proto.Uint64Data.Count, n, "uint64_data", proto, filePath, dtype);
                { var s = t.AsSpan<ulong>(); for (int i = 0; i < n; i++) s[i] = proto.Uint64Data[i]; }
                break;
            default:
                // int32_data carries INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16 and BFLOAT16, one element
                // per entry; the 16-bit float types as their bit patterns (onnx.proto, TensorProto.int32_data).
                CheckCount(proto.Int32Data.Count, n, "int32_data", proto, filePath, dtype);
                var d = t.Bytes;
                for (int i = 0; i < n; i++)
                {
                    int v = proto.Int32Data[i];
                    switch (dtype)
                    {
                        case DType.Int32: BinaryPrimitives.WriteInt32LittleEndian(d.Slice(i * 4), v); break;
                        case DType.Int16:
                        case DType.UInt16:
                        case DType.Float16:
                        case DType.BFloat16: BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(i * 2), unchecked((ushort)v)); break;
                        case DType.Int8:
                        case DType.UInt8: d[i] = unchecked((byte)v); break;
                        case DType.Bool: d[i] = v != 0 ? (byte)1 : (byte)0; break;
                        default: throw new InvalidOperationException(dtype.Name());
                    }
                }
                break;
        }
        return t;
    }

    /// <summary>Encodes a tensor as a TensorProto with raw_data (little-endian, fixed width; bool as one byte 0/1).</summary>
    internal static TensorProto ToProto(Tensor tensor, string name)
    {
        var p = new TensorProto { Name = name, DataType = (int)tensor.DType };
        foreach (var d in tensor.Shape) p.Dims.Add(d);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX export needs a little-endian host");
        p.RawData = ByteString.CopyFrom(tensor.Bytes);
        return p;
    }

    /// <summary>
    /// Reads external data as onnx.proto describes it: <c>location</c> (a path relative to the model's
    /// folder), optional <c>offset</c> and <c>length</c> (decimal strings). Absolute paths, paths that
    /// leave the model's folder (also through a symbolic link) and ranges past the end of the file are refused.
    /// </summary>
    private static byte[] ReadExternal(TensorProto proto, string? modelDirectory, string? filePath, long byteCount)
    {
        string name = proto.Name;
        string? location = null;
        long offset = 0;
        long? length = null;
        foreach (var kv in proto.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset":
                    if (!long.TryParse(kv.Value, NumberStyles.None, CultureInfo.InvariantCulture, out offset))
                        throw new ModelFormatException(filePath, name, $"external data offset '{kv.Value}' is not a non-negative integer");
                    break;
                case "length":
                    if (!long.TryParse(kv.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long len))
                        throw new ModelFormatException(filePath, name, $"external data length '{kv.Value}' is not a non-negative integer");
                    length = len;
                    break;
                case "checksum": break; // optional SHA1 of the whole file; not verified
                default: break;         // unknown keys are ignored, as onnx's loader does
            }
        }
        if (string.IsNullOrEmpty(location))
            throw new ModelFormatException(filePath, name, "external data has no 'location' entry");
        if (modelDirectory is null)
            throw new ModelFormatException(filePath, name, $"the tensor's data is in the external file '{location}', but the model was read from a stream with no folder; load it from its path");
        var full = ResolveInside(modelDirectory, location, filePath, name);
        if (length is not null && length.Value != byteCount)
            throw new ModelFormatException(filePath, name, $"external data length is {length.Value} bytes; {FormatDims(proto)} {ToDType(proto.DataType)!.Value.Name()} needs {byteCount}");
        try
        {
            using var fs = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (offset + byteCount > fs.Length)
                throw new ModelFormatException(filePath, name, $"external data '{location}' is {fs.Length} bytes; the tensor needs bytes {offset}..{offset + byteCount} (offset {offset}, {byteCount} bytes)");
            var data = new byte[byteCount];
            fs.Seek(offset, SeekOrigin.Begin);
            fs.ReadExactly(data);
            if (proto.DataType == (int)DType.Bool)
                for (int i = 0; i < data.Length; i++) data[i] = data[i] != 0 ? (byte)1 : (byte)0;
            return data;
        }
        catch (FileNotFoundException e)
        {
            throw new ModelFormatException(filePath, name, $"external data file '{location}' is missing (looked for {full})", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new ModelFormatException(filePath, name, $"external data file '{location}' is missing (looked for {full})", e);
        }
        catch (IOException e) when (e is not EndOfStreamException)
        {
            throw new ModelFormatException(filePath, name, $"external data file '{location}' cannot be read: {e.Message}", e);
        }
    }

    /// <summary>The full path of <paramref name="location"/> under <paramref name="directory"/>, refusing any path that leaves it.</summary>
    internal static string ResolveInside(string directory, string location, string? filePath, string tensorName)
    {
        if (Path.IsPathRooted(location) || location.Contains('\0'))
            throw new ModelFormatException(filePath, tensorName, $"external data location '{location}' is an absolute path; ONNX requires a path relative to the model's folder");
        var root = Path.GetFullPath(directory);
        var rootWithSep = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        var full = Path.GetFullPath(Path.Combine(root, location));
        if (!full.StartsWith(rootWithSep, StringComparison.Ordinal))
            throw new ModelFormatException(filePath, tensorName, $"external data location '{location}' resolves to {full}, outside the model's folder {root}; refused");
        // A symbolic link inside the folder may still point outside it: resolve the final target.
        var info = new FileInfo(full);
        if (info.Exists && info.LinkTarget is not null)
        {
            var target = info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
            if (target is null || !Path.GetFullPath(target).StartsWith(rootWithSep, StringComparison.Ordinal))
                throw new ModelFormatException(filePath, tensorName, $"external data location '{location}' is a symbolic link to {target}, outside the model's folder {root}; refused");
        }
        return full;
    }

    private static void CheckCount(int have, int need, string field, TensorProto p, string? file, DType dtype)
    {
        if (have != need)
            throw new ModelFormatException(file, p.Name, have == 0 && need > 0
                ? $"no data: {FormatDims(p)} {dtype.Name()} needs {need} elements in raw_data or {field}"
                : $"{field} holds {have} elements; {FormatDims(p)} {dtype.Name()} needs {need}");
    }

    private static string FormatDims(TensorProto p) => "[" + string.Join(", ", p.Dims) + "]";
}
