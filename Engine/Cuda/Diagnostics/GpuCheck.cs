using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Runtime;

namespace Vgg.Engine.Cuda.Diagnostics;

/// <summary>A check failed: the message gives the case, shape, worst index, worst values and the first few pairs.</summary>
public sealed class GpuCheckFailedException(string message) : Exception(message);

/// <summary>
/// One correctness check of GPU code against a CPU reference. The same list runs as NUnit tests
/// (category Gpu) and as `vgg selftest --gpu` in the published binary on a machine without the .NET
/// SDK, so that the H200 run and CI run identical checks.
/// </summary>
/// <param name="Name">Readable, unique: "conv3x3 f16 128x128 pool n2 13x11 c8 k24".</param>
/// <param name="Group">"conv3x3", "linear", "pool", ...: for filtering.</param>
/// <param name="Body">Runs the check; returns a one-line summary (errors) or throws <see cref="GpuCheckFailedException"/>.</param>
/// <param name="Work">Rough size of the kernel work (multiply-adds or elements touched), so a slow executor
/// such as the PTX simulator can pick the small checks.</param>
public sealed record GpuCheck(string Name, string Group, Func<IGpuCheckDevice, string> Body, long Work)
{
    public override string ToString() => Name;
}

/// <summary>
/// What a check needs from a device: memory, kernel launches in order, read-back. Implemented by
/// <see cref="GpuCheckContext"/> on a CUDA device, and by the PTX simulator on the CPU.
/// </summary>
public interface IGpuCheckDevice
{
    /// <summary>SM count used to size grids and split-K.</summary>
    int Multiprocessors { get; }

    /// <summary>Copies an array to new device memory; returns its address.</summary>
    ulong Upload<T>(T[] data) where T : unmanaged;

    /// <summary>New device memory of <paramref name="bytes"/>, every byte <paramref name="poison"/>.</summary>
    ulong Output(long bytes, byte poison = 0xFF);

    /// <summary>Runs the launches in order and waits for them.</summary>
    void Run(IEnumerable<KernelLaunch> launches);

    /// <summary>Reads <paramref name="count"/> elements at <paramref name="pointer"/> (an address returned by Upload or Output).</summary>
    T[] Download<T>(ulong pointer, long count) where T : unmanaged;
}

/// <summary>The outcome of one check.</summary>
public sealed record GpuCheckResult(string Name, bool Passed, string Detail, double Milliseconds);

/// <summary>
/// Device, kernels and a stream for running checks, with the helpers every check needs: upload,
/// poisoned output buffers, run-and-synchronize, download.
/// </summary>
public sealed class GpuCheckContext : IGpuCheckDevice, IDisposable
{
    private readonly List<DeviceBuffer> _buffers = new();

    /// <summary>A context on <paramref name="context"/>'s device; compiles kernels through <paramref name="cache"/>.</summary>
    public GpuCheckContext(CudaContext context, KernelCache? cache)
    {
        Context = context;
        Kernels = new CudaKernelSet(context, cache);
        Stream = context.CreateStream();
    }

    public CudaContext Context { get; }
    public CudaKernelSet Kernels { get; }
    public CudaStream Stream { get; }

    /// <summary>SM count of the device (the launchers size grids and split-K with it).</summary>
    public int Multiprocessors => Context.Device.MultiprocessorCount;

    /// <summary>Uploads an array to a new device buffer (freed with the context's next <see cref="ReleaseBuffers"/>).</summary>
    public ulong Upload<T>(T[] data) where T : unmanaged
    {
        var b = Context.Allocate(Math.Max(1, data.Length * (long)Marshal.SizeOf<T>()));
        b.Upload<T>(data);
        _buffers.Add(b);
        return b.Pointer;
    }

    /// <summary>A device buffer of <paramref name="bytes"/> filled with <paramref name="poison"/> (0xFF: NaN for f32 and f16), so unwritten outputs show.</summary>
    public ulong Output(long bytes, byte poison = 0xFF)
    {
        var b = Context.Allocate(Math.Max(1, bytes));
        b.Fill(poison, Stream);
        _buffers.Add(b);
        return b.Pointer;
    }

    /// <summary>Runs the launches in order on the stream and waits; a kernel fault surfaces here as a CudaException.</summary>
    public void Run(IEnumerable<KernelLaunch> launches)
    {
        foreach (var l in launches) Kernels.Launch(l, Stream);
        Stream.Synchronize();
    }

    /// <summary>Downloads <paramref name="count"/> elements from <paramref name="pointer"/>.</summary>
    public T[] Download<T>(ulong pointer, long count) where T : unmanaged
    {
        long bytes = count * Marshal.SizeOf<T>();
        var b = _buffers.FirstOrDefault(x => pointer >= x.Pointer && pointer + (ulong)bytes <= x.Pointer + (ulong)x.Bytes)
            ?? throw new ArgumentException($"0x{pointer:x} + {bytes} bytes is not inside a buffer of this check context");
        var r = new T[count];
        b.Download<T>(r, (long)(pointer - b.Pointer));
        return r;
    }

    /// <summary>Frees the buffers of the last check.</summary>
    public void ReleaseBuffers()
    {
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
    }

    /// <summary>Runs one check, timing it and catching its failure; frees its buffers after.</summary>
    public GpuCheckResult RunCheck(GpuCheck check) => GpuChecks.Run(check, this);

    public void Dispose()
    {
        ReleaseBuffers();
        Stream.Dispose();
        Kernels.Dispose();
    }
}

/// <summary>Runs checks on any <see cref="IGpuCheckDevice"/>.</summary>
public static class GpuChecks
{
    /// <summary>Runs <paramref name="check"/> on <paramref name="device"/>, timing it; a failure (mismatch, CUDA error, refused shape) becomes a failed result.</summary>
    /// <remarks>A <see cref="GpuCheckContext"/> frees the check's buffers afterwards, so long runs do not accumulate device memory.</remarks>
    public static GpuCheckResult Run(GpuCheck check, IGpuCheckDevice device)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            var detail = check.Body(device);
            return new GpuCheckResult(check.Name, true, detail, sw.Elapsed.TotalMilliseconds);
        }
        catch (Exception e) when (e is GpuCheckFailedException or VggEngineException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            return new GpuCheckResult(check.Name, false, e is GpuCheckFailedException ? e.Message : e.GetType().Name + ": " + e.Message, sw.Elapsed.TotalMilliseconds);
        }
        finally
        {
            (device as GpuCheckContext)?.ReleaseBuffers();
        }
    }
}

/// <summary>
/// Element-wise comparison with stated tolerances: |actual − expected| ≤ atol + rtol·|expected|, plus the
/// whole-tensor relative error ‖a − e‖₂ / ‖e‖₂ ≤ rtol. A failure prints the shape, the worst index, the
/// worst pair and the first few pairs.
/// </summary>
public static class GpuCompare
{
    /// <summary>Float comparison. <paramref name="atolScale"/> scales atol with the largest |expected| (atol = atolScale·max|e|).</summary>
    /// <param name="what">Case name and tensor, for the message.</param>
    /// <param name="shape">Shape of the whole output, for the message.</param>
    /// <param name="indices">Flat indices compared.</param>
    /// <param name="actual">Kernel output at those indices.</param>
    /// <param name="expected">Reference values at those indices.</param>
    /// <param name="rtol">Relative tolerance.</param>
    /// <param name="atolScale">Absolute tolerance as a fraction of max |expected|.</param>
    /// <returns>"max abs err …, rel l2 …".</returns>
    public static string Close(string what, int[] shape, IReadOnlyList<long> indices, IReadOnlyList<double> actual, IReadOnlyList<double> expected, double rtol, double atolScale)
    {
        double maxRef = 0;
        for (int i = 0; i < expected.Count; i++) maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        double atol = atolScale * maxRef;
        double worst = -1, num = 0, den = 0;
        int worstAt = -1, bad = 0;
        for (int i = 0; i < actual.Count; i++)
        {
            double a = actual[i], e = expected[i], d = Math.Abs(a - e);
            if (double.IsNaN(a) || double.IsInfinity(a) && !double.IsInfinity(e)) d = double.PositiveInfinity;
            num += d * d;
            den += e * e;
            double excess = d - (atol + rtol * Math.Abs(e));
            if (excess > 0) bad++;
            if (double.IsPositiveInfinity(d) || excess > worst) { worst = double.IsPositiveInfinity(d) ? double.PositiveInfinity : excess; worstAt = i; }
        }
        double relL2 = den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
        if (bad > 0 || relL2 > rtol || double.IsNaN(relL2))
        {
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"{what}: {bad} of {actual.Count} compared elements outside |a-e| <= {atol:G3} + {rtol:G3}*|e|, rel l2 {relL2:G3} (limit {rtol:G3}); shape [{string.Join(", ", shape)}]");
            if (worstAt >= 0)
                sb.Append(CultureInfo.InvariantCulture, $"; worst at flat index {indices[worstAt]} ({Unflatten(indices[worstAt], shape)}): actual {actual[worstAt]:R}, expected {expected[worstAt]:R}");
            sb.Append("; first pairs:");
            for (int i = 0; i < Math.Min(5, actual.Count); i++) sb.Append(CultureInfo.InvariantCulture, $" [{indices[i]}] {actual[i]:G7} vs {expected[i]:G7}");
            throw new GpuCheckFailedException(sb.ToString());
        }
        double maxAbs = 0;
        for (int i = 0; i < actual.Count; i++) maxAbs = Math.Max(maxAbs, Math.Abs(actual[i] - expected[i]));
        return string.Create(CultureInfo.InvariantCulture, $"{actual.Count} values, max abs err {maxAbs:G3}, rel l2 {relL2:G3}");
    }

    /// <summary>Exact comparison (INT8 codes, or the bits of dequantized floats).</summary>
    public static string Exact<T>(string what, int[] shape, IReadOnlyList<long> indices, IReadOnlyList<T> actual, IReadOnlyList<T> expected) where T : IEquatable<T>
    {
        int bad = 0, first = -1;
        for (int i = 0; i < actual.Count; i++)
            if (!actual[i].Equals(expected[i]))
            {
                bad++;
                if (first < 0) first = i;
            }
        if (bad > 0)
        {
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"{what}: {bad} of {actual.Count} compared elements differ from the INT8 reference (bit-exact required); shape [{string.Join(", ", shape)}]; first at flat index {indices[first]} ({Unflatten(indices[first], shape)}): actual {actual[first]}, expected {expected[first]}; pairs:");
            int shown = 0;
            for (int i = first; i < actual.Count && shown < 5; i++)
                if (!actual[i].Equals(expected[i])) { sb.Append(CultureInfo.InvariantCulture, $" [{indices[i]}] {actual[i]} vs {expected[i]}"); shown++; }
            throw new GpuCheckFailedException(sb.ToString());
        }
        return string.Create(CultureInfo.InvariantCulture, $"{actual.Count} values bit-exact");
    }

    /// <summary>"n=0, h=3, w=5, c=17" style coordinates of a flat index.</summary>
    public static string Unflatten(long index, int[] shape)
    {
        var coords = new long[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            coords[d] = index % shape[d];
            index /= shape[d];
        }
        return string.Join(", ", coords);
    }

    /// <summary>Every index when the tensor is small, else <paramref name="samples"/> seeded random ones plus the first and last 64.</summary>
    public static long[] Positions(long total, int samples, int seed)
    {
        if (total <= 65536) return Enumerable.Range(0, (int)total).Select(i => (long)i).ToArray();
        var rng = new Random(seed);
        var set = new SortedSet<long>();
        for (long i = 0; i < 64; i++) { set.Add(i); set.Add(total - 1 - i); }
        while (set.Count < samples + 128) set.Add(rng.NextInt64(total));
        return set.ToArray();
    }
}
