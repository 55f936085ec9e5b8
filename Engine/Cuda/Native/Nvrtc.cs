using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vgg.Engine.Cuda.Native;

/// <summary>
/// NVRTC, the run-time CUDA C++ compiler (nvrtc.h), bound with <c>[LibraryImport]</c>. Works with
/// NVRTC 11.2 and later (nvrtcGetCUBIN and nvrtcGetSupportedArchs appeared in 11.1 / 11.2).
/// </summary>
internal static unsafe partial class Nvrtc
{
    private const string Lib = CudaLibraries.NvrtcName;

    static Nvrtc() => CudaLibraries.EnsureResolver();

    internal const int NVRTC_SUCCESS = 0;
    internal const int NVRTC_ERROR_COMPILATION = 6;

    [LibraryImport(Lib)] internal static partial int nvrtcVersion(out int major, out int minor);
    [LibraryImport(Lib)] internal static partial int nvrtcGetNumSupportedArchs(out int numArchs);
    [LibraryImport(Lib)] internal static partial int nvrtcGetSupportedArchs(int* supportedArchs);
    [LibraryImport(Lib)] internal static partial IntPtr nvrtcGetErrorString(int result);
    [LibraryImport(Lib)] internal static partial int nvrtcCreateProgram(out IntPtr prog, byte* src, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(Lib)] internal static partial int nvrtcDestroyProgram(ref IntPtr prog);
    [LibraryImport(Lib)] internal static partial int nvrtcCompileProgram(IntPtr prog, int numOptions, byte** options);
    [LibraryImport(Lib)] internal static partial int nvrtcGetPTXSize(IntPtr prog, out nuint ptxSizeRet);
    [LibraryImport(Lib)] internal static partial int nvrtcGetPTX(IntPtr prog, byte* ptx);
    [LibraryImport(Lib)] internal static partial int nvrtcGetCUBINSize(IntPtr prog, out nuint cubinSizeRet);
    [LibraryImport(Lib)] internal static partial int nvrtcGetCUBIN(IntPtr prog, byte* cubin);
    [LibraryImport(Lib)] internal static partial int nvrtcGetProgramLogSize(IntPtr prog, out nuint logSizeRet);
    [LibraryImport(Lib)] internal static partial int nvrtcGetProgramLog(IntPtr prog, byte* log);

    /// <summary>NVRTC's name for a result code ("NVRTC_ERROR_COMPILATION").</summary>
    internal static string ErrorName(int result)
    {
        try
        {
            var p = nvrtcGetErrorString(result);
            if (p != IntPtr.Zero) return Marshal.PtrToStringUTF8(p) ?? $"nvrtcResult {result}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
        return $"nvrtcResult {result}";
    }

    /// <exception cref="CudaException">Any result other than NVRTC_SUCCESS.</exception>
    internal static void Check(int result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != NVRTC_SUCCESS)
            throw new CudaException(CudaLibrary.Nvrtc, result, ErrorName(result), "", CudaCheck.StripPrefix(call));
    }
}
