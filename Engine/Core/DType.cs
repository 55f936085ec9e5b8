using System.Runtime.CompilerServices;

namespace Vgg.Engine;

/// <summary>
/// Element type of a <see cref="Tensor"/>. The numeric values are those of ONNX's
/// <c>TensorProto.DataType</c> (onnx.proto), so an ONNX dtype code converts by a cast.
/// </summary>
public enum DType : byte
{
    /// <summary>IEEE 754 binary32.</summary>
    Float32 = 1,
    /// <summary>Unsigned 8-bit integer.</summary>
    UInt8 = 2,
    /// <summary>Signed 8-bit integer.</summary>
    Int8 = 3,
    /// <summary>Unsigned 16-bit integer.</summary>
    UInt16 = 4,
    /// <summary>Signed 16-bit integer.</summary>
    Int16 = 5,
    /// <summary>Signed 32-bit integer.</summary>
    Int32 = 6,
    /// <summary>Signed 64-bit integer.</summary>
    Int64 = 7,
    /// <summary>Boolean stored as one byte, 0 or 1.</summary>
    Bool = 9,
    /// <summary>IEEE 754 binary16.</summary>
    Float16 = 10,
    /// <summary>IEEE 754 binary64.</summary>
    Float64 = 11,
    /// <summary>Unsigned 32-bit integer.</summary>
    UInt32 = 12,
    /// <summary>Unsigned 64-bit integer.</summary>
    UInt64 = 13,
    /// <summary>bfloat16: the upper 16 bits of a binary32.</summary>
    BFloat16 = 16,
}

/// <summary>Facts about <see cref="DType"/> values and scalar conversions between them.</summary>
public static class DTypes
{
    /// <summary>Size of one element in bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Unknown dtype.</exception>
    public static int SizeOf(this DType t) => t switch
    {
        DType.Float32 or DType.Int32 or DType.UInt32 => 4,
        DType.UInt8 or DType.Int8 or DType.Bool => 1,
        DType.UInt16 or DType.Int16 or DType.Float16 or DType.BFloat16 => 2,
        DType.Int64 or DType.UInt64 or DType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    /// <summary>True for Float32, Float64, Float16 and BFloat16.</summary>
    public static bool IsFloatingPoint(this DType t) =>
        t is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16;

    /// <summary>True for the signed and unsigned integer types (not Bool).</summary>
    public static bool IsInteger(this DType t) =>
        t is DType.UInt8 or DType.Int8 or DType.UInt16 or DType.Int16 or DType.Int32 or DType.Int64 or DType.UInt32 or DType.UInt64;

    /// <summary>Lower-case name as numpy spells it ("float32", "int64", "bfloat16", "bool").</summary>
    public static string Name(this DType t) => t switch
    {
        DType.Float32 => "float32",
        DType.UInt8 => "uint8",
        DType.Int8 => "int8",
        DType.UInt16 => "uint16",
        DType.Int16 => "int16",
        DType.Int32 => "int32",
        DType.Int64 => "int64",
        DType.Bool => "bool",
        DType.Float16 => "float16",
        DType.Float64 => "float64",
        DType.UInt32 => "uint32",
        DType.UInt64 => "uint64",
        DType.BFloat16 => "bfloat16",
        _ => $"dtype({(int)t})",
    };

    /// <summary>The dtype that stores the CLR type <typeparamref name="T"/>; BFloat16 has no CLR type here and is read as <see cref="ushort"/> bits.</summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not an element type.</exception>
    public static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(double)) return DType.Float64;
        if (typeof(T) == typeof(Half)) return DType.Float16;
        if (typeof(T) == typeof(byte)) return DType.UInt8;
        if (typeof(T) == typeof(sbyte)) return DType.Int8;
        if (typeof(T) == typeof(ushort)) return DType.UInt16;
        if (typeof(T) == typeof(short)) return DType.Int16;
        if (typeof(T) == typeof(int)) return DType.Int32;
        if (typeof(T) == typeof(long)) return DType.Int64;
        if (typeof(T) == typeof(uint)) return DType.UInt32;
        if (typeof(T) == typeof(ulong)) return DType.UInt64;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        throw new NotSupportedException($"{typeof(T).Name} is not a tensor element type");
    }

    /// <summary>
    /// bfloat16 bits to float32: exact (bfloat16 is the upper half of a binary32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>
    /// float32 to bfloat16 bits, round to nearest even; NaN stays a quiet NaN of the same sign
    /// (the rounding torch and ONNX's <c>float32_to_bfloat16(truncate=False)</c> use).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToBFloat16(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((u >> 16) | 0x0040);
        uint rounding = 0x7FFF + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }
}
