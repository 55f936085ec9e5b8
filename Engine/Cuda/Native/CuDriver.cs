using System.Runtime.InteropServices;

namespace Vgg.Engine.Cuda.Native;

/// <summary>
/// The CUDA driver API (libcuda.so.1 / nvcuda.dll), bound with <c>[LibraryImport]</c>. Versioned
/// symbols are named explicitly (cuMemAlloc_v2, cuStreamDestroy_v2, ...): the names cuda.h's macros
/// map the plain names to, which every driver since CUDA 11 exports. Device pointers are
/// <c>CUdeviceptr</c> = <see cref="ulong"/>; every other handle is an opaque pointer. Call through
/// <see cref="CudaCheck"/> so a non-zero result becomes a <see cref="CudaException"/> naming the call.
/// </summary>
internal static unsafe partial class CuDriver
{
    private const string Lib = CudaLibraries.DriverName;

    static CuDriver() => CudaLibraries.EnsureResolver();

    // ---- initialization, version, errors
    [LibraryImport(Lib)] internal static partial CUresult cuInit(uint flags);
    [LibraryImport(Lib)] internal static partial CUresult cuDriverGetVersion(out int driverVersion);
    [LibraryImport(Lib)] internal static partial CUresult cuGetErrorName(CUresult error, out IntPtr pStr);
    [LibraryImport(Lib)] internal static partial CUresult cuGetErrorString(CUresult error, out IntPtr pStr);

    // ---- devices
    [LibraryImport(Lib)] internal static partial CUresult cuDeviceGetCount(out int count);
    [LibraryImport(Lib)] internal static partial CUresult cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Lib)] internal static partial CUresult cuDeviceGetName(byte* name, int len, int dev);
    [LibraryImport(Lib)] internal static partial CUresult cuDeviceGetAttribute(out int pi, CUdevice_attribute attrib, int dev);
    [LibraryImport(Lib, EntryPoint = "cuDeviceTotalMem_v2")] internal static partial CUresult cuDeviceTotalMem(out nuint bytes, int dev);

    // ---- contexts (the device's primary context, shared with any CUDA runtime user in the process)
    [LibraryImport(Lib)] internal static partial CUresult cuDevicePrimaryCtxRetain(out IntPtr pctx, int dev);
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] internal static partial CUresult cuDevicePrimaryCtxRelease(int dev);
    [LibraryImport(Lib)] internal static partial CUresult cuCtxSetCurrent(IntPtr ctx);
    [LibraryImport(Lib)] internal static partial CUresult cuCtxGetCurrent(out IntPtr pctx);
    [LibraryImport(Lib, EntryPoint = "cuCtxPushCurrent_v2")] internal static partial CUresult cuCtxPushCurrent(IntPtr ctx);
    [LibraryImport(Lib, EntryPoint = "cuCtxPopCurrent_v2")] internal static partial CUresult cuCtxPopCurrent(out IntPtr pctx);
    [LibraryImport(Lib)] internal static partial CUresult cuCtxSynchronize();

    // ---- memory
    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")] internal static partial CUresult cuMemAlloc(out ulong dptr, nuint bytesize);
    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")] internal static partial CUresult cuMemFree(ulong dptr);
    [LibraryImport(Lib, EntryPoint = "cuMemAllocHost_v2")] internal static partial CUresult cuMemAllocHost(out IntPtr pp, nuint bytesize);
    [LibraryImport(Lib)] internal static partial CUresult cuMemFreeHost(IntPtr p);
    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")] internal static partial CUresult cuMemGetInfo(out nuint free, out nuint total);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoD_v2")] internal static partial CUresult cuMemcpyHtoD(ulong dst, void* src, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoH_v2")] internal static partial CUresult cuMemcpyDtoH(void* dst, ulong src, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoDAsync_v2")] internal static partial CUresult cuMemcpyHtoDAsync(ulong dst, void* src, nuint bytes, IntPtr stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoHAsync_v2")] internal static partial CUresult cuMemcpyDtoHAsync(void* dst, ulong src, nuint bytes, IntPtr stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoDAsync_v2")] internal static partial CUresult cuMemcpyDtoDAsync(ulong dst, ulong src, nuint bytes, IntPtr stream);
    [LibraryImport(Lib)] internal static partial CUresult cuMemsetD8Async(ulong dst, byte value, nuint count, IntPtr stream);
    [LibraryImport(Lib)] internal static partial CUresult cuMemsetD32Async(ulong dst, uint value, nuint count, IntPtr stream);

    // ---- modules and kernels
    [LibraryImport(Lib)] internal static partial CUresult cuModuleLoadDataEx(out IntPtr module, void* image, uint numOptions, CUjit_option* options, void** optionValues);
    [LibraryImport(Lib)] internal static partial CUresult cuModuleUnload(IntPtr hmod);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial CUresult cuModuleGetFunction(out IntPtr hfunc, IntPtr hmod, string name);
    [LibraryImport(Lib)] internal static partial CUresult cuFuncGetAttribute(out int pi, CUfunction_attribute attrib, IntPtr hfunc);
    [LibraryImport(Lib)] internal static partial CUresult cuFuncSetAttribute(IntPtr hfunc, CUfunction_attribute attrib, int value);
    [LibraryImport(Lib)]
    internal static partial CUresult cuLaunchKernel(IntPtr f, uint gridDimX, uint gridDimY, uint gridDimZ, uint blockDimX, uint blockDimY, uint blockDimZ,
        uint sharedMemBytes, IntPtr hStream, void** kernelParams, void** extra);

    // ---- streams and events
    [LibraryImport(Lib)] internal static partial CUresult cuStreamCreate(out IntPtr phStream, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuStreamDestroy_v2")] internal static partial CUresult cuStreamDestroy(IntPtr hStream);
    [LibraryImport(Lib)] internal static partial CUresult cuStreamSynchronize(IntPtr hStream);
    [LibraryImport(Lib)] internal static partial CUresult cuStreamWaitEvent(IntPtr hStream, IntPtr hEvent, uint flags);
    [LibraryImport(Lib)] internal static partial CUresult cuEventCreate(out IntPtr phEvent, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuEventDestroy_v2")] internal static partial CUresult cuEventDestroy(IntPtr hEvent);
    [LibraryImport(Lib)] internal static partial CUresult cuEventRecord(IntPtr hEvent, IntPtr hStream);
    [LibraryImport(Lib)] internal static partial CUresult cuEventSynchronize(IntPtr hEvent);
    [LibraryImport(Lib)] internal static partial CUresult cuEventQuery(IntPtr hEvent);
    [LibraryImport(Lib)] internal static partial CUresult cuEventElapsedTime(out float pMilliseconds, IntPtr hStart, IntPtr hEnd);

    // ---- graphs (stream capture)
    [LibraryImport(Lib, EntryPoint = "cuStreamBeginCapture_v2")] internal static partial CUresult cuStreamBeginCapture(IntPtr hStream, CUstreamCaptureMode mode);
    [LibraryImport(Lib)] internal static partial CUresult cuStreamEndCapture(IntPtr hStream, out IntPtr phGraph);
    [LibraryImport(Lib)] internal static partial CUresult cuStreamIsCapturing(IntPtr hStream, out CUstreamCaptureStatus captureStatus);
    [LibraryImport(Lib)] internal static partial CUresult cuGraphInstantiateWithFlags(out IntPtr phGraphExec, IntPtr hGraph, ulong flags);
    [LibraryImport(Lib)] internal static partial CUresult cuGraphLaunch(IntPtr hGraphExec, IntPtr hStream);
    [LibraryImport(Lib)] internal static partial CUresult cuGraphDestroy(IntPtr hGraph);
    [LibraryImport(Lib)] internal static partial CUresult cuGraphExecDestroy(IntPtr hGraphExec);

    /// <summary>"CUDA_ERROR_OUT_OF_MEMORY" and "out of memory" for a code, falling back to the enum name when the driver cannot say.</summary>
    internal static (string Name, string Text) Describe(CUresult r)
    {
        string name = Enum.IsDefined(r) ? r.ToString() : $"CUresult {(int)r}";
        string text = "";
        try
        {
            if (cuGetErrorName(r, out var pn) == CUresult.CUDA_SUCCESS && pn != IntPtr.Zero) name = Marshal.PtrToStringUTF8(pn) ?? name;
            if (cuGetErrorString(r, out var ps) == CUresult.CUDA_SUCCESS && ps != IntPtr.Zero) text = Marshal.PtrToStringUTF8(ps) ?? "";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No driver to ask: the enum name is all there is.
        }
        return (name, text);
    }
}
