using System.Runtime.InteropServices;
using System.Text;

namespace Vgg.Engine;

/// <summary>
/// A dense, row-major (C-contiguous), little-endian tensor on the host: an element type, a shape and
/// a byte buffer. Image tensors are NCHW. Views made by <see cref="Reshape"/> share the buffer.
/// </summary>
/// <remarks>
/// The buffer is a managed <c>byte[]</c>, so one tensor holds at most <see cref="Array.MaxLength"/>
/// bytes (about 2 GiB); VGG's largest weight (fc6, 102,760,448 float32 values) is 392 MiB.
/// </remarks>
public sealed class Tensor
{
    private readonly int[] _shape;
    private readonly byte[] _data;

    /// <summary>A zero-filled tensor.</summary>
    /// <exception cref="ArgumentException">A negative dimension, or more than 2 GiB of data.</exception>
    public Tensor(DType dtype, IReadOnlyList<int> shape)
    {
        DType = dtype;
        _shape = CheckShape(shape);
        ElementCount = Product(_shape);
        if (ElementCount > Array.MaxLength / dtype.SizeOf())
            throw new ArgumentException(ElementCount == long.MaxValue
                ? $"tensor {FormatShape(dtype, _shape)} has more than {long.MaxValue} elements, more than one buffer can hold ({Array.MaxLength} bytes)"
                : $"tensor {FormatShape(dtype, _shape)} needs {ElementCount * (decimal)dtype.SizeOf()} bytes, more than one buffer can hold ({Array.MaxLength} bytes)");
        long bytes = ElementCount * dtype.SizeOf();
        _data = new byte[bytes];
    }

    /// <summary>A tensor over <paramref name="data"/> (not copied): row-major, little-endian, exactly ElementCount·SizeOf bytes.</summary>
    /// <exception cref="ArgumentException">The buffer length does not match dtype and shape.</exception>
    public Tensor(DType dtype, IReadOnlyList<int> shape, byte[] data)
    {
        DType = dtype;
        _shape = CheckShape(shape);
        ElementCount = Product(_shape);
        ArgumentNullException.ThrowIfNull(data);
        if (ElementCount > Array.MaxLength || data.LongLength != ElementCount * dtype.SizeOf())
            throw new ArgumentException($"tensor {FormatShape(dtype, _shape)} needs {ElementCount * (decimal)dtype.SizeOf()} bytes, the buffer has {data.LongLength}");
        _data = data;
    }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Dimensions, outermost first (NCHW for images). A 0-d scalar has an empty shape.</summary>
    public IReadOnlyList<int> Shape => _shape;

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements (1 for a scalar, 0 when any dimension is 0).</summary>
    public long ElementCount { get; }

    /// <summary>Size of the data in bytes.</summary>
    public long ByteCount => _data.LongLength;

    /// <summary>The raw little-endian bytes; writable, shared with views.</summary>
    public Span<byte> Bytes => _data;

    /// <summary>The underlying buffer, shared with views. Callers must not keep it past the tensor's use.</summary>
    internal byte[] Buffer => _data;

    /// <summary>A copy of <see cref="Shape"/> as an array.</summary>
    public int[] ShapeArray() => (int[])_shape.Clone();

    /// <summary>Elements as <typeparamref name="T"/>; BFloat16 reads as <see cref="ushort"/> bits.</summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> does not match <see cref="DType"/>.</exception>
    public Span<T> AsSpan<T>() where T : unmanaged
    {
        bool ok = DType == DType.BFloat16 ? typeof(T) == typeof(ushort) : DTypes.Of<T>() == DType;
        if (!ok)
            throw new InvalidOperationException($"tensor is {DType.Name()}, read as {typeof(T).Name}");
        return MemoryMarshal.Cast<byte, T>(_data.AsSpan());
    }

    /// <summary>Copies <paramref name="values"/> into a new tensor of the matching dtype.</summary>
    /// <exception cref="ArgumentException">The shape does not hold values.Length elements.</exception>
    public static Tensor FromSpan<T>(ReadOnlySpan<T> values, params int[] shape) where T : unmanaged
    {
        var t = new Tensor(DTypes.Of<T>(), shape);
        if (t.ElementCount != values.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] holds {t.ElementCount} elements, {values.Length} given");
        MemoryMarshal.AsBytes(values).CopyTo(t._data);
        return t;
    }

    /// <summary>Copies <paramref name="values"/> into a new tensor; without a shape it is 1-D.</summary>
    public static Tensor From<T>(T[] values, params int[] shape) where T : unmanaged =>
        FromSpan<T>(values, shape.Length == 0 ? new[] { values.Length } : shape);

    /// <summary>A 0-d float32 scalar.</summary>
    public static Tensor Scalar(float value) => FromSpan<float>(new[] { value }, Array.Empty<int>());

    /// <summary>A view of the same data with another shape; one dimension may be -1 (inferred).</summary>
    /// <exception cref="ArgumentException">The element counts differ or more than one -1.</exception>
    public Tensor Reshape(params int[] shape)
    {
        var resolved = ResolveShape(shape, ElementCount);
        return new Tensor(DType, resolved, _data);
    }

    /// <summary>A deep copy.</summary>
    public Tensor Clone() => new(DType, _shape, (byte[])_data.Clone());

    /// <summary>Every element converted to float32 (bfloat16 and float16 exactly, wider types rounded to nearest).</summary>
    public float[] ToFloatArray()
    {
        var result = new float[ElementCount];
        ReadAsFloat(result);
        return result;
    }

    /// <summary>Writes every element converted to float32 into <paramref name="destination"/> (ElementCount long).</summary>
    public void ReadAsFloat(Span<float> destination)
    {
        if (destination.Length != ElementCount)
            throw new ArgumentException($"destination holds {destination.Length} elements, the tensor {ElementCount}");
        switch (DType)
        {
            case DType.Float32: AsSpan<float>().CopyTo(destination); break;
            case DType.Float64: { var s = AsSpan<double>(); for (int i = 0; i < s.Length; i++) destination[i] = (float)s[i]; break; }
            case DType.Float16: { var s = AsSpan<Half>(); for (int i = 0; i < s.Length; i++) destination[i] = (float)s[i]; break; }
            case DType.BFloat16: { var s = AsSpan<ushort>(); for (int i = 0; i < s.Length; i++) destination[i] = DTypes.BFloat16ToSingle(s[i]); break; }
            default:
                for (long i = 0; i < ElementCount; i++) destination[(int)i] = (float)GetDouble(i);
                break;
        }
    }

    /// <summary>Element <paramref name="index"/> (flat, row-major) as a double; integers and bools exactly.</summary>
    public double GetDouble(long index)
    {
        var d = _data.AsSpan();
        int i = checked((int)index);
        return DType switch
        {
            DType.Float32 => MemoryMarshal.Cast<byte, float>(d)[i],
            DType.Float64 => MemoryMarshal.Cast<byte, double>(d)[i],
            DType.Float16 => (double)MemoryMarshal.Cast<byte, Half>(d)[i],
            DType.BFloat16 => DTypes.BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(d)[i]),
            DType.UInt8 => d[i],
            DType.Int8 => (sbyte)d[i],
            DType.Bool => d[i] != 0 ? 1 : 0,
            DType.UInt16 => MemoryMarshal.Cast<byte, ushort>(d)[i],
            DType.Int16 => MemoryMarshal.Cast<byte, short>(d)[i],
            DType.Int32 => MemoryMarshal.Cast<byte, int>(d)[i],
            DType.UInt32 => MemoryMarshal.Cast<byte, uint>(d)[i],
            DType.Int64 => MemoryMarshal.Cast<byte, long>(d)[i],
            DType.UInt64 => MemoryMarshal.Cast<byte, ulong>(d)[i],
            _ => throw new NotSupportedException(DType.Name()),
        };
    }

    /// <summary>Element <paramref name="index"/> of an integer or bool tensor as a long.</summary>
    /// <exception cref="InvalidOperationException">The tensor is floating point.</exception>
    public long GetInt64(long index)
    {
        if (DType.IsFloatingPoint())
            throw new InvalidOperationException($"GetInt64 on a {DType.Name()} tensor");
        var d = _data.AsSpan();
        int i = checked((int)index);
        return DType switch
        {
            DType.Int64 => MemoryMarshal.Cast<byte, long>(d)[i],
            DType.UInt64 => (long)MemoryMarshal.Cast<byte, ulong>(d)[i],
            _ => (long)GetDouble(index),
        };
    }

    /// <summary>All elements of an integer tensor as longs (shape operands, axes).</summary>
    public long[] ToInt64Array()
    {
        var r = new long[ElementCount];
        for (long i = 0; i < r.Length; i++) r[i] = GetInt64(i);
        return r;
    }

    /// <summary>"float32[1, 3, 224, 224]".</summary>
    public override string ToString() => FormatShape(DType, _shape);

    /// <summary>"float32[1, 3, 224, 224]" for a dtype and shape.</summary>
    public static string FormatShape(DType dtype, IReadOnlyList<int> shape) => dtype.Name() + FormatShape(shape);

    /// <summary>"[1, 3, 224, 224]"; -1 prints as "?".</summary>
    public static string FormatShape(IReadOnlyList<int> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i] < 0 ? "?" : shape[i].ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return sb.Append(']').ToString();
    }

    /// <summary>
    /// Product of the dimensions (1 for a scalar, 0 when any dimension is 0). When the true product of
    /// non-negative dimensions does not fit a <see cref="long"/> (rank ≥ 3 with dimensions near 2^31), the
    /// result is <see cref="long.MaxValue"/> instead of a wrapped-around value, so size checks still fail.
    /// </summary>
    public static long Product(IReadOnlyList<int> shape)
    {
        long n = 1;
        bool saturated = false;
        for (int i = 0; i < shape.Count; i++)
        {
            int d = shape[i];
            if (d == 0) return 0;
            if (saturated) continue;
            long m = n * d;
            if (m / d != n) saturated = true;
            else n = m;
        }
        return saturated ? long.MaxValue : n;
    }

    /// <summary>Resolves one -1 dimension against an element count.</summary>
    /// <exception cref="ArgumentException">Counts differ or more than one -1.</exception>
    public static int[] ResolveShape(IReadOnlyList<int> shape, long elementCount)
    {
        var r = shape.ToArray();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < r.Length; i++)
        {
            if (r[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"shape {FormatShape(shape)} has more than one -1");
                infer = i;
            }
            else if (r[i] < 0) throw new ArgumentException($"shape {FormatShape(shape)} has a negative dimension");
            else known *= r[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || elementCount % known != 0)
                throw new ArgumentException($"cannot reshape {elementCount} elements to {FormatShape(shape)}");
            r[infer] = checked((int)(elementCount / known));
        }
        else if (known != elementCount)
            throw new ArgumentException($"cannot reshape {elementCount} elements to {FormatShape(shape)}");
        return r;
    }

    private static int[] CheckShape(IReadOnlyList<int> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var s = shape.ToArray();
        foreach (var d in s)
            if (d < 0) throw new ArgumentException($"shape {FormatShape(s)} has a negative dimension");
        return s;
    }
}
