using System.Runtime.CompilerServices;
using Vgg.Engine.Cuda.Native;

namespace Vgg.Engine.Cuda;

/// <summary>
/// A CUDA library call (driver, NVRTC, cuBLAS, cuDNN) that returned an error. Names the library, the
/// error's name and text as the library spells them, and the call as written at the call site.
/// </summary>
public class CudaException : VggEngineException
{
    public CudaException(CudaLibrary library, int code, string errorName, string errorText, string call, string? detail = null)
        : base($"{call} failed: {errorName}{(errorText.Length > 0 ? " (" + errorText + ")" : "")}{(detail is null ? "" : ". " + detail)}")
    {
        Library = library;
        Code = code;
        ErrorName = errorName;
        ErrorText = errorText;
        Call = call;
    }

    /// <summary>The library that returned the error.</summary>
    public CudaLibrary Library { get; }

    /// <summary>The numeric status (CUresult, nvrtcResult, cublasStatus_t, cudnnStatus_t).</summary>
    public int Code { get; }

    /// <summary>"CUDA_ERROR_OUT_OF_MEMORY", "NVRTC_ERROR_COMPILATION", ...</summary>
    public string ErrorName { get; }

    /// <summary>The library's description of the error (may be empty).</summary>
    public string ErrorText { get; }

    /// <summary>The call as written at the call site, e.g. "cuMemAlloc(out p, bytes)".</summary>
    public string Call { get; }

    /// <summary>The driver status, when <see cref="Library"/> is the driver.</summary>
    public CUresult? DriverResult => Library == CudaLibrary.Driver ? (CUresult)Code : null;
}

/// <summary>NVRTC rejected a kernel source. Carries the compile log, the source file and the options.</summary>
public sealed class NvrtcCompileException : CudaException
{
    public NvrtcCompileException(int code, string errorName, string sourceName, string architecture, IReadOnlyList<string> options, string log)
        : base(CudaLibrary.Nvrtc, code, errorName, "", $"nvrtcCompileProgram({sourceName}, {architecture})", "compile log:\n" + log)
    {
        SourceName = sourceName;
        Architecture = architecture;
        Options = options;
        Log = log;
    }

    /// <summary>"conv3x3_f16.cu".</summary>
    public string SourceName { get; }
    /// <summary>"sm_90", "compute_80".</summary>
    public string Architecture { get; }
    public IReadOnlyList<string> Options { get; }
    /// <summary>NVRTC's program log (errors and warnings with line numbers).</summary>
    public string Log { get; }
}

/// <summary>
/// The driver refused to load a compiled module or to find a kernel in it. Carries the JIT error and
/// info logs from cuModuleLoadDataEx and the kernel or source name.
/// </summary>
public sealed class CudaModuleException : CudaException
{
    public CudaModuleException(int code, string errorName, string errorText, string call, string what, string jitLog)
        : base(CudaLibrary.Driver, code, errorName, errorText, call, $"{what}{(jitLog.Length > 0 ? "; JIT log:\n" + jitLog : "")}")
    {
        What = what;
        JitLog = jitLog;
    }

    /// <summary>The source file or kernel name concerned.</summary>
    public string What { get; }
    /// <summary>The driver JIT's error and info log (empty when it wrote none).</summary>
    public string JitLog { get; }
}

/// <summary>
/// Turns a driver result into an exception at the call site (ONNX Runtime C#'s habit):
/// <c>CudaCheck.Driver(CuDriver.cuMemAlloc(out p, n))</c> throws a <see cref="CudaException"/> whose
/// <see cref="CudaException.Call"/> is the text of the argument.
/// </summary>
internal static class CudaCheck
{
    /// <exception cref="CudaException">Any result other than CUDA_SUCCESS.</exception>
    internal static void Driver(CUresult result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result == CUresult.CUDA_SUCCESS) return;
        throw DriverError(result, call);
    }

    internal static CudaException DriverError(CUresult result, string call, string? detail = null)
    {
        var (name, text) = CuDriver.Describe(result);
        return new CudaException(CudaLibrary.Driver, (int)result, name, text, StripPrefix(call), detail);
    }

    /// <summary>"CuDriver.cuMemAlloc(out p, n)" → "cuMemAlloc(out p, n)": the library's own name for the call.</summary>
    internal static string StripPrefix(string call)
    {
        foreach (var prefix in new[] { "CuDriver.", "Nvrtc.", "Cublas.", "CublasLt.", "Cudnn." })
            if (call.StartsWith(prefix, StringComparison.Ordinal)) return call[prefix.Length..];
        return call;
    }
}
