using System.Runtime.InteropServices;
using Vgg.Engine.Cuda.Native;

namespace Vgg.Engine.Cuda.Runtime;

/// <summary>
/// Device memory. Freed by <see cref="Dispose"/> (or its context's), never left to the garbage
/// collector on purpose; the SafeHandle only guards against a leak.
/// </summary>
public sealed class DeviceBuffer : IDisposable
{
    private readonly CudaContext _context;
    private readonly DeviceMemoryHandle _handle;

    internal DeviceBuffer(CudaContext context, DeviceMemoryHandle handle)
    {
        _context = context;
        _handle = handle;
    }

    /// <summary>The device address (CUdeviceptr).</summary>
    public ulong Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.Pointer;
        }
    }

    /// <summary>Size in bytes.</summary>
    public long Bytes => _handle.Bytes;

    /// <summary>Copies <paramref name="source"/> to the start of the buffer (synchronous).</summary>
    /// <exception cref="ArgumentException">The source is larger than the buffer.</exception>
    public unsafe void Upload<T>(ReadOnlySpan<T> source, long byteOffset = 0) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(source);
        if (byteOffset < 0 || byteOffset + bytes.Length > Bytes)
            throw new ArgumentException($"upload of {bytes.Length} bytes at offset {byteOffset} does not fit a {Bytes}-byte device buffer");
        if (bytes.Length == 0) return;
        _context.MakeCurrent();
        fixed (byte* p = bytes)
            CudaCheck.Driver(CuDriver.cuMemcpyHtoD(Pointer + (ulong)byteOffset, p, (nuint)bytes.Length));
    }

    /// <summary>Copies the buffer's first destination.Length elements to <paramref name="destination"/> (synchronous).</summary>
    public unsafe void Download<T>(Span<T> destination, long byteOffset = 0) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(destination);
        if (byteOffset < 0 || byteOffset + bytes.Length > Bytes)
            throw new ArgumentException($"download of {bytes.Length} bytes at offset {byteOffset} does not fit a {Bytes}-byte device buffer");
        if (bytes.Length == 0) return;
        _context.MakeCurrent();
        fixed (byte* p = bytes)
            CudaCheck.Driver(CuDriver.cuMemcpyDtoH(p, Pointer + (ulong)byteOffset, (nuint)bytes.Length));
    }

    /// <summary>Fills the buffer with the byte <paramref name="value"/> on <paramref name="stream"/>.</summary>
    public void Fill(byte value, CudaStream stream)
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuMemsetD8Async(Pointer, value, (nuint)Bytes, stream.Handle.DangerousGetHandle()));
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>Page-locked host memory: the staging area for asynchronous copies.</summary>
public sealed class PinnedBuffer : IDisposable
{
    private readonly PinnedHostMemoryHandle _handle;

    internal PinnedBuffer(PinnedHostMemoryHandle handle) => _handle = handle;

    /// <summary>Host address.</summary>
    public IntPtr Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.DangerousGetHandle();
        }
    }

    /// <summary>Size in bytes.</summary>
    public long Bytes => _handle.Bytes;

    /// <summary>The memory as a span (valid while the buffer is alive; at most 2 GiB).</summary>
    public unsafe Span<byte> Span => new((void*)Pointer, checked((int)Bytes));

    public void Dispose() => _handle.Dispose();
}

/// <summary>A CUDA stream: asynchronous copies, kernel launches, graph capture and replay.</summary>
public sealed class CudaStream : IDisposable
{
    private readonly CudaContext _context;

    internal CudaStream(CudaContext context, CudaStreamHandle handle)
    {
        _context = context;
        Handle = handle;
    }

    public CudaStreamHandle Handle { get; }

    internal IntPtr Raw => Handle.DangerousGetHandle();

    /// <summary>Host → device copy, asynchronous when <paramref name="source"/> is pinned memory.</summary>
    public unsafe void CopyToDevice(ulong destination, IntPtr source, long bytes)
    {
        if (bytes == 0) return;
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuMemcpyHtoDAsync(destination, (void*)source, (nuint)bytes, Raw));
    }

    /// <summary>Device → host copy, asynchronous when <paramref name="destination"/> is pinned memory.</summary>
    public unsafe void CopyToHost(IntPtr destination, ulong source, long bytes)
    {
        if (bytes == 0) return;
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuMemcpyDtoHAsync((void*)destination, source, (nuint)bytes, Raw));
    }

    /// <summary>Device → device copy.</summary>
    public void CopyDeviceToDevice(ulong destination, ulong source, long bytes)
    {
        if (bytes == 0) return;
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuMemcpyDtoDAsync(destination, source, (nuint)bytes, Raw));
    }

    /// <summary>Sets <paramref name="bytes"/> bytes at <paramref name="destination"/> to <paramref name="value"/>.</summary>
    public void Memset(ulong destination, byte value, long bytes)
    {
        if (bytes == 0) return;
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuMemsetD8Async(destination, value, (nuint)bytes, Raw));
    }

    /// <summary>Blocks until the stream's work is done; reports a fault from any kernel on it.</summary>
    public void Synchronize()
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuStreamSynchronize(Raw));
    }

    /// <summary>Starts capturing the stream's work into a graph (thread-local mode: other threads' CUDA calls are not affected).</summary>
    public void BeginCapture()
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuStreamBeginCapture(Raw, CUstreamCaptureMode.THREAD_LOCAL));
    }

    /// <summary>Ends capture and instantiates the graph.</summary>
    /// <exception cref="CudaException">The capture was invalidated (an unsupported call during capture) or instantiation failed.</exception>
    public CudaGraph EndCapture()
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuStreamEndCapture(Raw, out var graph));
        var g = new CudaGraphHandle(_context.Handle, graph);
        try
        {
            CudaCheck.Driver(CuDriver.cuGraphInstantiateWithFlags(out var exec, graph, 0));
            var result = new CudaGraph(_context, g, new CudaGraphExecHandle(_context.Handle, exec));
            _context.Adopt(result);
            return result;
        }
        catch
        {
            g.Dispose();
            throw;
        }
    }

    /// <summary>True while the stream is being captured.</summary>
    public bool IsCapturing
    {
        get
        {
            _context.MakeCurrent();
            CudaCheck.Driver(CuDriver.cuStreamIsCapturing(Raw, out var status));
            return status != CUstreamCaptureStatus.NONE;
        }
    }

    /// <summary>Makes later work on this stream wait for <paramref name="ev"/>.</summary>
    public void Wait(CudaEvent ev)
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuStreamWaitEvent(Raw, ev.Raw, 0));
    }

    public void Dispose() => Handle.Dispose();
}

/// <summary>A CUDA event, for timing (elapsed milliseconds between two) and cross-stream ordering.</summary>
public sealed class CudaEvent : IDisposable
{
    private readonly CudaContext _context;

    internal CudaEvent(CudaContext context, CudaEventHandle handle)
    {
        _context = context;
        Handle = handle;
    }

    public CudaEventHandle Handle { get; }

    internal IntPtr Raw => Handle.DangerousGetHandle();

    public void Record(CudaStream stream)
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuEventRecord(Raw, stream.Raw));
    }

    public void Synchronize()
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuEventSynchronize(Raw));
    }

    /// <summary>Milliseconds from <paramref name="start"/> to this event (both recorded and complete; resolution about 0.5 µs).</summary>
    public float ElapsedSince(CudaEvent start)
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuEventElapsedTime(out float ms, start.Raw, Raw));
        return ms;
    }

    public void Dispose() => Handle.Dispose();
}

/// <summary>An instantiated CUDA graph: the captured launches of one (plan, batch size), replayed with one call.</summary>
public sealed class CudaGraph : IDisposable
{
    private readonly CudaContext _context;
    private readonly CudaGraphHandle _graph;
    private readonly CudaGraphExecHandle _exec;

    internal CudaGraph(CudaContext context, CudaGraphHandle graph, CudaGraphExecHandle exec)
    {
        _context = context;
        _graph = graph;
        _exec = exec;
    }

    /// <summary>Replays the graph on <paramref name="stream"/>.</summary>
    public void Launch(CudaStream stream)
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuGraphLaunch(_exec.DangerousGetHandle(), stream.Raw));
    }

    public void Dispose()
    {
        _exec.Dispose();
        _graph.Dispose();
    }
}
