using System.Runtime.InteropServices;

namespace Vgg.Engine.Cuda.Native;

// One SafeHandle type per native object kind (TorchSharp's habit). ReleaseHandle never throws: a
// failure while freeing is swallowed, since nothing useful can be done with it on a finalizer thread
// or during Dispose. Every handle that lives inside a CUDA context holds a reference on the context's
// handle (DangerousAddRef), so the context is released after all its children even when the
// finalizer runs them in any order; each release makes the context current on its own thread first.

/// <summary>The retained primary context of one device. Release = cuDevicePrimaryCtxRelease.</summary>
public sealed class CudaContextHandle : SafeHandle
{
    internal CudaContextHandle(IntPtr ctx, int device) : base(IntPtr.Zero, ownsHandle: true)
    {
        Device = device;
        SetHandle(ctx);
    }

    /// <summary>The device ordinal whose primary context this is.</summary>
    public int Device { get; }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        try { return CuDriver.cuDevicePrimaryCtxRelease(Device) == CUresult.CUDA_SUCCESS; }
        catch { return false; }
    }
}

/// <summary>Base of handles owned by a context: keeps the context alive and current while releasing.</summary>
public abstract class CudaContextChildHandle : SafeHandle
{
    private readonly CudaContextHandle _context;
    private bool _contextRef;

    private protected CudaContextChildHandle(CudaContextHandle context, IntPtr value) : base(IntPtr.Zero, ownsHandle: true)
    {
        _context = context;
        context.DangerousAddRef(ref _contextRef);
        SetHandle(value);
    }

    /// <summary>The owning context.</summary>
    public CudaContextHandle Context => _context;

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected sealed override bool ReleaseHandle()
    {
        bool ok = false;
        try
        {
            bool pushed = CuDriver.cuCtxPushCurrent(_context.DangerousGetHandle()) == CUresult.CUDA_SUCCESS;
            try { ok = Free(handle) == CUresult.CUDA_SUCCESS; }
            finally
            {
                if (pushed) CuDriver.cuCtxPopCurrent(out _);
            }
        }
        catch
        {
            ok = false;
        }
        finally
        {
            if (_contextRef) _context.DangerousRelease();
        }
        return ok;
    }

    /// <summary>Frees the native object; the context is current.</summary>
    private protected abstract CUresult Free(IntPtr value);
}

/// <summary>Device memory from cuMemAlloc. The handle's value is the CUdeviceptr.</summary>
public sealed class DeviceMemoryHandle : CudaContextChildHandle
{
    internal DeviceMemoryHandle(CudaContextHandle context, ulong pointer, long bytes) : base(context, (IntPtr)(long)pointer) => Bytes = bytes;

    /// <summary>Size of the allocation in bytes.</summary>
    public long Bytes { get; }

    /// <summary>The device address.</summary>
    public ulong Pointer => (ulong)(long)handle;

    private protected override CUresult Free(IntPtr value) => CuDriver.cuMemFree((ulong)(long)value);
}

/// <summary>Page-locked host memory from cuMemAllocHost (for asynchronous copies).</summary>
public sealed class PinnedHostMemoryHandle : CudaContextChildHandle
{
    internal PinnedHostMemoryHandle(CudaContextHandle context, IntPtr pointer, long bytes) : base(context, pointer) => Bytes = bytes;

    public long Bytes { get; }

    private protected override CUresult Free(IntPtr value) => CuDriver.cuMemFreeHost(value);
}

/// <summary>A loaded module (cuModuleLoadDataEx). Its functions live as long as it does.</summary>
public sealed class CudaModuleHandle : CudaContextChildHandle
{
    internal CudaModuleHandle(CudaContextHandle context, IntPtr module) : base(context, module) { }

    private protected override CUresult Free(IntPtr value) => CuDriver.cuModuleUnload(value);
}

/// <summary>A stream (cuStreamCreate).</summary>
public sealed class CudaStreamHandle : CudaContextChildHandle
{
    internal CudaStreamHandle(CudaContextHandle context, IntPtr stream) : base(context, stream) { }

    private protected override CUresult Free(IntPtr value) => CuDriver.cuStreamDestroy(value);
}

/// <summary>An event (cuEventCreate).</summary>
public sealed class CudaEventHandle : CudaContextChildHandle
{
    internal CudaEventHandle(CudaContextHandle context, IntPtr ev) : base(context, ev) { }

    private protected override CUresult Free(IntPtr value) => CuDriver.cuEventDestroy(value);
}

/// <summary>A captured graph (cuStreamEndCapture).</summary>
public sealed class CudaGraphHandle : CudaContextChildHandle
{
    internal CudaGraphHandle(CudaContextHandle context, IntPtr graph) : base(context, graph) { }

    private protected override CUresult Free(IntPtr value) => CuDriver.cuGraphDestroy(value);
}

/// <summary>An instantiated, launchable graph (cuGraphInstantiateWithFlags).</summary>
public sealed class CudaGraphExecHandle : CudaContextChildHandle
{
    internal CudaGraphExecHandle(CudaContextHandle context, IntPtr exec) : base(context, exec) { }

    private protected override CUresult Free(IntPtr value) => CuDriver.cuGraphExecDestroy(value);
}

/// <summary>A cuBLAS handle (cublasCreate_v2); it allocates device workspace in the current context.</summary>
public sealed class CublasHandle : CudaContextChildHandle
{
    internal CublasHandle(CudaContextHandle context, IntPtr h) : base(context, h) { }

    private protected override CUresult Free(IntPtr value) =>
        Cublas.cublasDestroy(value) == 0 ? CUresult.CUDA_SUCCESS : CUresult.CUDA_ERROR_UNKNOWN;
}

/// <summary>A cuDNN handle (cudnnCreate).</summary>
public sealed class CudnnHandle : CudaContextChildHandle
{
    internal CudnnHandle(CudaContextHandle context, IntPtr h) : base(context, h) { }

    private protected override CUresult Free(IntPtr value) =>
        Cudnn.cudnnDestroy(value) == 0 ? CUresult.CUDA_SUCCESS : CUresult.CUDA_ERROR_UNKNOWN;
}

/// <summary>The kinds of cuDNN descriptor, each freed by its own destroy call.</summary>
public enum CudnnDescriptorKind
{
    Tensor,
    Filter,
    Convolution,
    Activation,
    Pooling,
}

/// <summary>A cuDNN descriptor (host-side object; no context needed to free it).</summary>
public sealed class CudnnDescriptorHandle : SafeHandle
{
    internal CudnnDescriptorHandle(CudnnDescriptorKind kind, IntPtr desc) : base(IntPtr.Zero, ownsHandle: true)
    {
        Kind = kind;
        SetHandle(desc);
    }

    public CudnnDescriptorKind Kind { get; }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        try
        {
            return Kind switch
            {
                CudnnDescriptorKind.Tensor => Cudnn.cudnnDestroyTensorDescriptor(handle),
                CudnnDescriptorKind.Filter => Cudnn.cudnnDestroyFilterDescriptor(handle),
                CudnnDescriptorKind.Convolution => Cudnn.cudnnDestroyConvolutionDescriptor(handle),
                CudnnDescriptorKind.Activation => Cudnn.cudnnDestroyActivationDescriptor(handle),
                CudnnDescriptorKind.Pooling => Cudnn.cudnnDestroyPoolingDescriptor(handle),
                _ => 1,
            } == 0;
        }
        catch
        {
            return false;
        }
    }
}

/// <summary>An NVRTC program (nvrtcCreateProgram). Host-only; no context.</summary>
public sealed class NvrtcProgramHandle : SafeHandle
{
    internal NvrtcProgramHandle(IntPtr program) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(program);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        try
        {
            var p = handle;
            return Nvrtc.nvrtcDestroyProgram(ref p) == Nvrtc.NVRTC_SUCCESS;
        }
        catch
        {
            return false;
        }
    }
}
