namespace Vgg.Engine.Loader.Checkpoints;

/// <summary>
/// Turns a <see cref="TorchTensorRef"/> (storage, offset, sizes, strides: torch's
/// <c>Tensor.set_(storage, offset, size, stride)</c>) into a contiguous row-major <see cref="Tensor"/>
/// in the stored dtype, after checking that every element it addresses lies inside the storage.
/// </summary>
internal sealed class TensorMaterializer
{
    /// <summary>Most dimensions accepted: a guard against absurd ranks in a corrupt file (VGG's tensors have at most 4).</summary>
    public const int MaxRank = 64;

    private readonly TorchCheckpoint _ck;
    private readonly Dictionary<TorchStorageRef, byte[]> _cache = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<TorchStorageRef> _handedOut = new(ReferenceEqualityComparer.Instance);

    public TensorMaterializer(TorchCheckpoint ck) => _ck = ck;

    /// <exception cref="ModelFormatException">Unsupported dtype, bad sizes or strides, storage too short, missing data.</exception>
    public Tensor Materialize(string key, TorchTensorRef t)
    {
        string path = _ck.Path;
        var storage = t.Storage;
        var root = storage.Root ?? storage;
        DType dtype;
        int es;
        if (t.DTypeOverride is { } o)
        {
            dtype = o.DType ?? throw new ModelFormatException(path, key, $"dtype {o.Name} is not supported; expected one of float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool");
            es = o.ElementSize;
        }
        else
        {
            dtype = storage.Type.DType ?? throw new ModelFormatException(path, key, $"storage type {storage.Type.Name} is not supported; expected one of {TorchPickle.SupportedStorages}");
            es = storage.Type.ElementSize;
        }

        int rank = t.Size.Length;
        if (rank > MaxRank) throw new ModelFormatException(path, key, $"tensor of {rank} dimensions; at most {MaxRank} are supported");
        var shape = new int[rank];
        long count = 1;
        for (int d = 0; d < rank; d++)
        {
            if (t.Size[d] < 0 || t.Size[d] > int.MaxValue)
                throw new ModelFormatException(path, key, $"{t.Describe()}: dimension {d} is {t.Size[d]}, expected 0 to {int.MaxValue}");
            if (t.Stride[d] < 0)
                throw new ModelFormatException(path, key, $"{t.Describe()}: negative stride in dimension {d}");
            shape[d] = (int)t.Size[d];
            count = count == 0 ? 0 : (t.Size[d] == 0 ? 0 : CheckedMul(path, key, count, t.Size[d], t));
        }
        if (t.Offset < 0) throw new ModelFormatException(path, key, $"{t.Describe()}: negative storage offset");
        if (count * (long)es > Array.MaxLength)
            throw new ModelFormatException(path, key, $"{t.Describe()}: {count * (long)es} bytes is more than one tensor buffer can hold ({Array.MaxLength})");
        if (count == 0) return new Tensor(dtype, shape);

        // Highest element addressed, in elements of the tensor's dtype.
        long last = t.Offset;
        for (int d = 0; d < rank; d++)
            last = CheckedAdd(path, key, last, CheckedMul(path, key, t.Size[d] - 1, t.Stride[d], t), t);
        long storageBytes = storage.ByteCount;
        long neededBytes = CheckedMul(path, key, last + 1, es, t);
        if (neededBytes > storageBytes)
            throw new ModelFormatException(path, key,
                $"storage '{storage.Key}' is too short: a {dtype.Name()} {t.Describe()} addresses element {last}, so it needs {neededBytes} bytes; the storage holds {storage.Numel} elements of {storage.Type.Name} = {storageBytes} bytes");
        if (storage.Root is not null && (storage.ViewOffset + storage.Numel) > root.Numel)
            throw new ModelFormatException(path, key, $"storage view '{storage.Key}' extends past its root storage '{root.Key}'");

        if (!_cache.TryGetValue(root, out var rootBytes))
        {
            rootBytes = _ck.ReadStorage(root);
            _cache[root] = rootBytes;
        }
        long baseByte = storage.Root is null ? 0 : storage.ViewOffset * storage.Type.ElementSize;
        long startByte = baseByte + t.Offset * es;
        long bytes = count * es;

        if (IsContiguous(t.Size, t.Stride))
        {
            if (startByte == 0 && bytes == rootBytes.LongLength && _handedOut.Add(root))
                return new Tensor(dtype, shape, rootBytes); // the whole storage: no copy (first user only)
            return new Tensor(dtype, shape, rootBytes.AsSpan((int)startByte, (int)bytes).ToArray());
        }

        var dst = new byte[bytes];
        GatherStrided(rootBytes, startByte, es, t.Size, t.Stride, dst);
        return new Tensor(dtype, shape, dst);
    }

    /// <summary>Row-major contiguous (dimensions of size 1 may have any stride, as in torch's is_contiguous).</summary>
    internal static bool IsContiguous(long[] size, long[] stride)
    {
        long expected = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            if (size[d] == 1) continue;
            if (stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }

    /// <summary>
    /// Copies a strided view into row-major order: an odometer over the outer dimensions, with a block
    /// copy of the innermost dimension when its stride is 1.
    /// </summary>
    internal static void GatherStrided(byte[] src, long startByte, int es, long[] size, long[] stride, byte[] dst)
    {
        int rank = size.Length;
        if (rank == 0)
        {
            src.AsSpan((int)startByte, es).CopyTo(dst);
            return;
        }
        long inner = size[rank - 1];
        long innerStride = stride[rank - 1];
        var idx = new long[rank - 1];
        long outer = 1;
        for (int d = 0; d < rank - 1; d++) outer *= size[d];
        long o = 0;
        for (long n = 0; n < outer; n++)
        {
            long elem = 0;
            for (int d = 0; d < rank - 1; d++) elem += idx[d] * stride[d];
            long srcByte = startByte + elem * es;
            if (innerStride == 1)
            {
                src.AsSpan((int)srcByte, (int)(inner * es)).CopyTo(dst.AsSpan((int)o));
                o += inner * es;
            }
            else
            {
                for (long i = 0; i < inner; i++, o += es)
                    src.AsSpan((int)(srcByte + i * innerStride * es), es).CopyTo(dst.AsSpan((int)o));
            }
            for (int d = rank - 2; d >= 0; d--)
            {
                if (++idx[d] < size[d]) break;
                idx[d] = 0;
            }
        }
    }

    private static long CheckedMul(string path, string key, long a, long b, TorchTensorRef t)
    {
        try { return checked(a * b); }
        catch (OverflowException) { throw new ModelFormatException(path, key, $"{t.Describe()}: sizes overflow 64-bit arithmetic"); }
    }

    private static long CheckedAdd(string path, string key, long a, long b, TorchTensorRef t)
    {
        try { return checked(a + b); }
        catch (OverflowException) { throw new ModelFormatException(path, key, $"{t.Describe()}: sizes overflow 64-bit arithmetic"); }
    }
}
