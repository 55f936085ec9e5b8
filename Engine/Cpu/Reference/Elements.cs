using System.Runtime.InteropServices;

namespace Vgg.Engine.Cpu.Reference;

/// <summary>
/// Bulk element conversions used by the reference operators: every tensor is read as double (floating
/// types, and integers exactly up to 2^53) or as long (integer types exactly), computed on, and written
/// back in its dtype.
/// </summary>
internal static class Elements
{
    /// <summary>All elements as double (float16/bfloat16 exactly, int64 rounded beyond 2^53).</summary>
    public static double[] ToDoubles(Tensor t)
    {
        var r = new double[t.ElementCount];
        var b = t.Bytes;
        switch (t.DType)
        {
            case DType.Float32: { var s = MemoryMarshal.Cast<byte, float>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.Float64: MemoryMarshal.Cast<byte, double>(b).CopyTo(r); break;
            case DType.Float16: { var s = MemoryMarshal.Cast<byte, Half>(b); for (int i = 0; i < r.Length; i++) r[i] = (double)s[i]; break; }
            case DType.BFloat16: { var s = MemoryMarshal.Cast<byte, ushort>(b); for (int i = 0; i < r.Length; i++) r[i] = DTypes.BFloat16ToSingle(s[i]); break; }
            case DType.UInt8: for (int i = 0; i < r.Length; i++) r[i] = b[i]; break;
            case DType.Bool: for (int i = 0; i < r.Length; i++) r[i] = b[i] != 0 ? 1 : 0; break;
            case DType.Int8: for (int i = 0; i < r.Length; i++) r[i] = (sbyte)b[i]; break;
            case DType.UInt16: { var s = MemoryMarshal.Cast<byte, ushort>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.Int16: { var s = MemoryMarshal.Cast<byte, short>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.Int32: { var s = MemoryMarshal.Cast<byte, int>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.UInt32: { var s = MemoryMarshal.Cast<byte, uint>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.Int64: { var s = MemoryMarshal.Cast<byte, long>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.UInt64: { var s = MemoryMarshal.Cast<byte, ulong>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            default: throw new NotSupportedException(t.DType.Name());
        }
        return r;
    }

    /// <summary>All elements of an integer or bool tensor as long (uint64 above 2^63 wraps).</summary>
    public static long[] ToLongs(Tensor t)
    {
        var r = new long[t.ElementCount];
        var b = t.Bytes;
        switch (t.DType)
        {
            case DType.UInt8: for (int i = 0; i < r.Length; i++) r[i] = b[i]; break;
            case DType.Bool: for (int i = 0; i < r.Length; i++) r[i] = b[i] != 0 ? 1 : 0; break;
            case DType.Int8: for (int i = 0; i < r.Length; i++) r[i] = (sbyte)b[i]; break;
            case DType.UInt16: { var s = MemoryMarshal.Cast<byte, ushort>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.Int16: { var s = MemoryMarshal.Cast<byte, short>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.Int32: { var s = MemoryMarshal.Cast<byte, int>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.UInt32: { var s = MemoryMarshal.Cast<byte, uint>(b); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DType.Int64: MemoryMarshal.Cast<byte, long>(b).CopyTo(r); break;
            case DType.UInt64: { var s = MemoryMarshal.Cast<byte, ulong>(b); for (int i = 0; i < r.Length; i++) r[i] = unchecked((long)s[i]); break; }
            default: throw new NotSupportedException($"{t.DType.Name()} is not an integer type");
        }
        return r;
    }

    /// <summary>
    /// A tensor of <paramref name="dtype"/> from doubles: floating types round to nearest even (bfloat16
    /// through float32); integer types truncate toward zero, saturate to the int64 range, then wrap to
    /// the width (as C casts and numpy's astype do for in-range values); bool is value != 0.
    /// </summary>
    public static Tensor FromDoubles(DType dtype, int[] shape, ReadOnlySpan<double> v)
    {
        var t = new Tensor(dtype, shape);
        var b = t.Bytes;
        switch (dtype)
        {
            case DType.Float32: { var s = MemoryMarshal.Cast<byte, float>(b); for (int i = 0; i < v.Length; i++) s[i] = (float)v[i]; break; }
            case DType.Float64: v.CopyTo(MemoryMarshal.Cast<byte, double>(b)); break;
            case DType.Float16: { var s = MemoryMarshal.Cast<byte, Half>(b); for (int i = 0; i < v.Length; i++) s[i] = (Half)v[i]; break; }
            case DType.BFloat16: { var s = MemoryMarshal.Cast<byte, ushort>(b); for (int i = 0; i < v.Length; i++) s[i] = DTypes.SingleToBFloat16((float)v[i]); break; }
            case DType.Bool: for (int i = 0; i < v.Length; i++) b[i] = v[i] != 0 ? (byte)1 : (byte)0; break;
            default:
            {
                var l = new long[v.Length];
                for (int i = 0; i < v.Length; i++) l[i] = double.IsNaN(v[i]) ? 0 : (long)Math.Truncate(v[i]);
                WriteLongs(t, l);
                break;
            }
        }
        return t;
    }

    /// <summary>A tensor of integer or bool <paramref name="dtype"/> from longs, wrapping to the width.</summary>
    public static Tensor FromLongs(DType dtype, int[] shape, ReadOnlySpan<long> v)
    {
        var t = new Tensor(dtype, shape);
        WriteLongs(t, v);
        return t;
    }

    private static void WriteLongs(Tensor t, ReadOnlySpan<long> v)
    {
        var b = t.Bytes;
        unchecked
        {
            switch (t.DType)
            {
                case DType.UInt8: for (int i = 0; i < v.Length; i++) b[i] = (byte)v[i]; break;
                case DType.Bool: for (int i = 0; i < v.Length; i++) b[i] = v[i] != 0 ? (byte)1 : (byte)0; break;
                case DType.Int8: for (int i = 0; i < v.Length; i++) b[i] = (byte)(sbyte)v[i]; break;
                case DType.UInt16: { var s = MemoryMarshal.Cast<byte, ushort>(b); for (int i = 0; i < v.Length; i++) s[i] = (ushort)v[i]; break; }
                case DType.Int16: { var s = MemoryMarshal.Cast<byte, short>(b); for (int i = 0; i < v.Length; i++) s[i] = (short)v[i]; break; }
                case DType.Int32: { var s = MemoryMarshal.Cast<byte, int>(b); for (int i = 0; i < v.Length; i++) s[i] = (int)v[i]; break; }
                case DType.UInt32: { var s = MemoryMarshal.Cast<byte, uint>(b); for (int i = 0; i < v.Length; i++) s[i] = (uint)v[i]; break; }
                case DType.Int64: v.CopyTo(MemoryMarshal.Cast<byte, long>(b)); break;
                case DType.UInt64: { var s = MemoryMarshal.Cast<byte, ulong>(b); for (int i = 0; i < v.Length; i++) s[i] = (ulong)v[i]; break; }
                default: throw new NotSupportedException($"{t.DType.Name()} is not an integer type");
            }
        }
    }

    /// <summary>Row-major strides (in elements) of a shape.</summary>
    public static long[] Strides(IReadOnlyList<int> shape)
    {
        var s = new long[shape.Count];
        long acc = 1;
        for (int i = shape.Count - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    /// <summary>
    /// For each flat index of the broadcast <paramref name="outShape"/>, the flat index into a tensor of
    /// <paramref name="inShape"/> (numpy broadcasting: size-1 and missing leading dimensions repeat).
    /// </summary>
    public static int[] BroadcastIndex(int[] inShape, int[] outShape)
    {
        int r = outShape.Length;
        var inStrides = Strides(inShape);
        var eff = new long[r];
        for (int i = 0; i < r; i++)
        {
            int j = i - (r - inShape.Length);
            eff[i] = j >= 0 && inShape[j] != 1 ? inStrides[j] : 0;
        }
        long n = Tensor.Product(outShape);
        var map = new int[n];
        var coord = new int[r];
        long idx = 0;
        for (long k = 0; k < n; k++)
        {
            map[k] = (int)idx;
            for (int d = r - 1; d >= 0; d--)
            {
                coord[d]++;
                idx += eff[d];
                if (coord[d] < outShape[d]) break;
                idx -= eff[d] * coord[d];
                coord[d] = 0;
            }
        }
        return map;
    }
}
