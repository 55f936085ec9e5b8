using System.Runtime.InteropServices;
using System.Text;
using Vgg.Engine.Cuda.Native;

namespace Vgg.Engine.Cuda.Runtime;

/// <summary>What the engine needs to know about a CUDA device (read with cuDeviceGetAttribute).</summary>
/// <param name="Ordinal">Device index (0-based, as CUDA_VISIBLE_DEVICES presents them).</param>
/// <param name="Name">"NVIDIA H200".</param>
/// <param name="Major">Compute capability major (9 for Hopper).</param>
/// <param name="Minor">Compute capability minor.</param>
/// <param name="MultiprocessorCount">Number of SMs (132 on an H100/H200 SXM).</param>
/// <param name="TotalMemoryBytes">Device memory in bytes.</param>
/// <param name="SharedMemoryPerBlockOptin">Largest dynamic shared memory one block may request after opting in, bytes.</param>
/// <param name="SharedMemoryPerMultiprocessor">Shared memory per SM, bytes.</param>
/// <param name="RegistersPerMultiprocessor">32-bit registers per SM.</param>
/// <param name="L2CacheBytes">L2 cache size, bytes.</param>
/// <param name="DriverVersion">cuDriverGetVersion: 1000·major + 10·minor (13000 for CUDA 13.0).</param>
public sealed record CudaDeviceInfo(int Ordinal, string Name, int Major, int Minor, int MultiprocessorCount, long TotalMemoryBytes,
    int SharedMemoryPerBlockOptin, int SharedMemoryPerMultiprocessor, int RegistersPerMultiprocessor, int L2CacheBytes, int DriverVersion)
{
    /// <summary>Compute capability as 10·major + minor (90 for sm_90).</summary>
    public int ComputeCapability => Major * 10 + Minor;

    public override string ToString() =>
        $"{Name} (sm_{Major}{Minor}, {MultiprocessorCount} SMs, {TotalMemoryBytes / (1L << 30)} GiB, driver CUDA {DriverVersion / 1000}.{DriverVersion % 1000 / 10})";
}

/// <summary>
/// The primary context of one device, and the owner of every CUDA object made in it (ILGPU's
/// habit: children are disposed before their context). All methods make the context current on the
/// calling thread first, so any thread may use it.
/// </summary>
public sealed class CudaContext : IDisposable
{
    private readonly CudaContextHandle _handle;
    private readonly List<WeakReference<IDisposable>> _children = new();
    private readonly object _gate = new();
    [ThreadStatic] private static IntPtr _currentOnThread;

    private CudaContext(CudaContextHandle handle, CudaDeviceInfo device)
    {
        _handle = handle;
        Device = device;
    }

    /// <summary>The device.</summary>
    public CudaDeviceInfo Device { get; }

    /// <summary>The context handle (children hold a reference on it).</summary>
    public CudaContextHandle Handle => _handle;

    /// <summary>
    /// Initializes the driver and retains device <paramref name="ordinal"/>'s primary context. No driver,
    /// no device or a driver too old is an ordinary answer: false with one sentence saying why.
    /// </summary>
    public static bool TryOpen(int ordinal, out CudaContext? context, out string reason)
    {
        context = null;
        if (!CudaLibraries.TryGet(CudaLibrary.Driver, out var msg))
        {
            reason = "no CUDA driver: " + msg;
            return false;
        }
        try
        {
            var r = CuDriver.cuInit(0);
            if (r != CUresult.CUDA_SUCCESS)
            {
                var (name, text) = CuDriver.Describe(r);
                reason = r == CUresult.CUDA_ERROR_NO_DEVICE
                    ? "the CUDA driver found no device (cuInit: CUDA_ERROR_NO_DEVICE)"
                    : $"the CUDA driver did not initialize (cuInit: {name}{(text.Length > 0 ? ", " + text : "")})";
                return false;
            }
            CudaCheck.Driver(CuDriver.cuDeviceGetCount(out int count));
            if (count == 0)
            {
                reason = "the CUDA driver reports no device";
                return false;
            }
            if (ordinal < 0 || ordinal >= count)
            {
                reason = $"CUDA device {ordinal} does not exist (the driver reports {count})";
                return false;
            }
            var info = QueryDevice(ordinal);
            if (info.Major < 8)
            {
                reason = $"{info.Name} has compute capability {info.Major}.{info.Minor}; the engine's kernels need 8.0 or later (Ampere, Ada, Hopper)";
                return false;
            }
            CudaCheck.Driver(CuDriver.cuDevicePrimaryCtxRetain(out var ctx, ordinal));
            var handle = new CudaContextHandle(ctx, ordinal);
            context = new CudaContext(handle, info);
            context.MakeCurrent();
            reason = "";
            return true;
        }
        catch (Exception e) when (e is CudaException or DllNotFoundException or EntryPointNotFoundException)
        {
            reason = "the CUDA driver could not be used: " + e.Message;
            context?.Dispose();
            context = null;
            return false;
        }
    }

    private static unsafe CudaDeviceInfo QueryDevice(int ordinal)
    {
        CudaCheck.Driver(CuDriver.cuDeviceGet(out int dev, ordinal));
        var nameBuf = stackalloc byte[256];
        CudaCheck.Driver(CuDriver.cuDeviceGetName(nameBuf, 256, dev));
        var name = Marshal.PtrToStringUTF8((IntPtr)nameBuf) ?? $"device {ordinal}";
        int Attr(CUdevice_attribute a)
        {
            CudaCheck.Driver(CuDriver.cuDeviceGetAttribute(out int v, a, dev));
            return v;
        }
        CudaCheck.Driver(CuDriver.cuDeviceTotalMem(out nuint total, dev));
        CudaCheck.Driver(CuDriver.cuDriverGetVersion(out int driver));
        return new CudaDeviceInfo(ordinal, name, Attr(CUdevice_attribute.COMPUTE_CAPABILITY_MAJOR), Attr(CUdevice_attribute.COMPUTE_CAPABILITY_MINOR),
            Attr(CUdevice_attribute.MULTIPROCESSOR_COUNT), (long)total, Attr(CUdevice_attribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
            Attr(CUdevice_attribute.MAX_SHARED_MEMORY_PER_MULTIPROCESSOR), Attr(CUdevice_attribute.MAX_REGISTERS_PER_MULTIPROCESSOR),
            Attr(CUdevice_attribute.L2_CACHE_SIZE), driver);
    }

    /// <summary>Makes this context current on the calling thread (cheap when it already is).</summary>
    /// <exception cref="ObjectDisposedException">The context was disposed.</exception>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        var h = _handle.DangerousGetHandle();
        if (_currentOnThread == h) return;
        CudaCheck.Driver(CuDriver.cuCtxSetCurrent(h));
        _currentOnThread = h;
    }

    private T Track<T>(T child) where T : IDisposable
    {
        lock (_gate)
        {
            _children.RemoveAll(w => !w.TryGetTarget(out _));
            _children.Add(new WeakReference<IDisposable>(child));
        }
        return child;
    }

    /// <summary>Allocates <paramref name="bytes"/> of device memory (uninitialized).</summary>
    /// <exception cref="CudaException">CUDA_ERROR_OUT_OF_MEMORY and the like.</exception>
    public DeviceBuffer Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        MakeCurrent();
        CudaCheck.Driver(CuDriver.cuMemAlloc(out ulong p, (nuint)Math.Max(bytes, 1)), $"cuMemAlloc({bytes} bytes)");
        return Track(new DeviceBuffer(this, new DeviceMemoryHandle(_handle, p, bytes)));
    }

    /// <summary>Allocates page-locked host memory for asynchronous copies.</summary>
    public PinnedBuffer AllocatePinned(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        MakeCurrent();
        CudaCheck.Driver(CuDriver.cuMemAllocHost(out var p, (nuint)Math.Max(bytes, 1)), $"cuMemAllocHost({bytes} bytes)");
        return Track(new PinnedBuffer(new PinnedHostMemoryHandle(_handle, p, bytes)));
    }

    /// <summary>A new non-blocking stream (does not synchronize with the legacy default stream).</summary>
    public CudaStream CreateStream()
    {
        MakeCurrent();
        const uint CU_STREAM_NON_BLOCKING = 1;
        CudaCheck.Driver(CuDriver.cuStreamCreate(out var s, CU_STREAM_NON_BLOCKING));
        return Track(new CudaStream(this, new CudaStreamHandle(_handle, s)));
    }

    /// <summary>A new event; <paramref name="timing"/> false makes it cheaper (no timestamps).</summary>
    public CudaEvent CreateEvent(bool timing = true)
    {
        MakeCurrent();
        const uint CU_EVENT_DEFAULT = 0, CU_EVENT_DISABLE_TIMING = 2;
        CudaCheck.Driver(CuDriver.cuEventCreate(out var e, timing ? CU_EVENT_DEFAULT : CU_EVENT_DISABLE_TIMING));
        return Track(new CudaEvent(this, new CudaEventHandle(_handle, e)));
    }

    /// <summary>
    /// Loads a CUBIN or PTX image with cuModuleLoadDataEx, capturing the JIT's error and info logs.
    /// </summary>
    /// <param name="image">CUBIN bytes, or PTX text as UTF-8 (a terminating NUL is added when missing).</param>
    /// <param name="name">The source name for messages ("conv3x3_f16.cu").</param>
    /// <exception cref="CudaModuleException">The driver refused the image; carries the JIT log.</exception>
    public unsafe CudaModule LoadModule(byte[] image, string name)
    {
        MakeCurrent();
        byte[] data = image;
        bool isElf = image.Length >= 4 && image[0] == 0x7F && image[1] == (byte)'E' && image[2] == (byte)'L' && image[3] == (byte)'F';
        if (!isElf && (image.Length == 0 || image[^1] != 0))
        {
            data = new byte[image.Length + 1];
            image.CopyTo(data, 0);
        }
        const int LogSize = 16384;
        var infoLog = new byte[LogSize];
        var errorLog = new byte[LogSize];
        var options = stackalloc CUjit_option[5];
        var values = stackalloc void*[5];
        fixed (byte* pImage = data, pInfo = infoLog, pError = errorLog)
        {
            options[0] = CUjit_option.INFO_LOG_BUFFER; values[0] = pInfo;
            options[1] = CUjit_option.INFO_LOG_BUFFER_SIZE_BYTES; values[1] = (void*)(nint)LogSize;
            options[2] = CUjit_option.ERROR_LOG_BUFFER; values[2] = pError;
            options[3] = CUjit_option.ERROR_LOG_BUFFER_SIZE_BYTES; values[3] = (void*)(nint)LogSize;
            options[4] = CUjit_option.LOG_VERBOSE; values[4] = (void*)(nint)1;
            var r = CuDriver.cuModuleLoadDataEx(out var module, pImage, 5, options, values);
            string log = (CString(errorLog) + "\n" + CString(infoLog)).Trim();
            if (r != CUresult.CUDA_SUCCESS)
            {
                var (en, et) = CuDriver.Describe(r);
                throw new CudaModuleException((int)r, en, et, $"cuModuleLoadDataEx({name})", $"module '{name}' ({(isElf ? "CUBIN" : "PTX")}, {image.Length} bytes) for {Device.Name} sm_{Device.ComputeCapability}", log);
            }
            return Track(new CudaModule(this, new CudaModuleHandle(_handle, module), name, log));
        }
    }

    private static string CString(byte[] buf)
    {
        int n = Array.IndexOf(buf, (byte)0);
        return Encoding.UTF8.GetString(buf, 0, n < 0 ? buf.Length : n);
    }

    /// <summary>Free and total device memory in bytes (cuMemGetInfo).</summary>
    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        CudaCheck.Driver(CuDriver.cuMemGetInfo(out var free, out var total));
        return ((long)free, (long)total);
    }

    /// <summary>Waits for all work in the context (cuCtxSynchronize).</summary>
    public void Synchronize()
    {
        MakeCurrent();
        CudaCheck.Driver(CuDriver.cuCtxSynchronize());
    }

    /// <summary>Disposes every object made in this context that is still alive, then releases the primary context.</summary>
    public void Dispose()
    {
        if (_handle.IsClosed) return;
        List<IDisposable> alive;
        lock (_gate)
        {
            alive = _children.Select(w => w.TryGetTarget(out var c) ? c : null).Where(c => c is not null).Select(c => c!).ToList();
            _children.Clear();
        }
        // Graphs and modules before the memory and streams they refer to; reverse creation order does that.
        for (int i = alive.Count - 1; i >= 0; i--)
        {
            try { alive[i].Dispose(); }
            catch (Exception)
            {
                // Disposal of a child never stops the context's release.
            }
        }
        if (_currentOnThread == _handle.DangerousGetHandle()) _currentOnThread = IntPtr.Zero;
        _handle.Dispose();
    }

    internal void Adopt<T>(T child) where T : IDisposable => Track(child);
}
