using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vgg.Engine.Cuda.Native;

/// <summary>cudaDataType_t values (library_types.h) used with cuBLAS.</summary>
internal enum CudaDataType
{
    CUDA_R_32F = 0,
    CUDA_R_16F = 2,
    CUDA_R_8I = 3,
    CUDA_R_32I = 10,
}

/// <summary>cublasComputeType_t (cublas_api.h, CUDA 11+).</summary>
internal enum CublasComputeType
{
    CUBLAS_COMPUTE_16F = 64,
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_PEDANTIC = 69,
    CUBLAS_COMPUTE_32I = 72,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
}

/// <summary>cublasOperation_t.</summary>
internal enum CublasOperation
{
    N = 0,
    T = 1,
}

/// <summary>
/// cuBLAS (cublas_api.h, the v2 API), the baseline and optional fallback for the classifier GEMM.
/// cuBLAS is column-major: the engine's row-major Y[M,N] = X[M,K]·W[N,K]ᵀ is computed as the
/// column-major Yᵀ[N,M] = W·Xᵀ, i.e. cublasGemmEx(T, N, n=N, m=M, k=K, W, ldw=K, X, ldx=K, Y, ldy=N).
/// </summary>
internal static unsafe partial class Cublas
{
    private const string Lib = CudaLibraries.CublasName;

    static Cublas() => CudaLibraries.EnsureResolver();

    internal const int CUBLAS_GEMM_DEFAULT = -1;
    internal const int CUBLAS_DEFAULT_MATH = 0;
    internal const int CUBLAS_TF32_TENSOR_OP_MATH = 3;
    internal const int CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16;

    [LibraryImport(Lib, EntryPoint = "cublasCreate_v2")] internal static partial int cublasCreate(out IntPtr handle);
    [LibraryImport(Lib, EntryPoint = "cublasDestroy_v2")] internal static partial int cublasDestroy(IntPtr handle);
    [LibraryImport(Lib, EntryPoint = "cublasGetVersion_v2")] internal static partial int cublasGetVersion(IntPtr handle, out int version);
    [LibraryImport(Lib, EntryPoint = "cublasSetStream_v2")] internal static partial int cublasSetStream(IntPtr handle, IntPtr stream);
    [LibraryImport(Lib)] internal static partial int cublasSetMathMode(IntPtr handle, int mode);
    [LibraryImport(Lib)] internal static partial IntPtr cublasGetStatusName(int status);

    [LibraryImport(Lib)]
    internal static partial int cublasGemmEx(IntPtr handle, CublasOperation transa, CublasOperation transb, int m, int n, int k,
        void* alpha, ulong a, CudaDataType aType, int lda, ulong b, CudaDataType bType, int ldb,
        void* beta, ulong c, CudaDataType cType, int ldc, CublasComputeType computeType, int algo);

    internal static string StatusName(int status)
    {
        try
        {
            var p = cublasGetStatusName(status);
            if (p != IntPtr.Zero) return Marshal.PtrToStringUTF8(p) ?? $"cublasStatus {status}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
        return $"cublasStatus {status}";
    }

    /// <exception cref="CudaException">Any status other than CUBLAS_STATUS_SUCCESS.</exception>
    internal static void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != 0) throw new CudaException(CudaLibrary.Cublas, status, StatusName(status), "", CudaCheck.StripPrefix(call));
    }
}

/// <summary>
/// cuBLASLt (cublasLt.h): located and versioned so `vgg kernels` and the self-test report it. The
/// baselines use cublasGemmEx, which dispatches to cuBLASLt's kernels itself; the matmul-descriptor
/// API is not bound because no engine path uses it.
/// </summary>
internal static partial class CublasLt
{
    private const string Lib = CudaLibraries.CublasLtName;

    static CublasLt() => CudaLibraries.EnsureResolver();

    [LibraryImport(Lib)] internal static partial int cublasLtCreate(out IntPtr handle);
    [LibraryImport(Lib)] internal static partial int cublasLtDestroy(IntPtr handle);
    [LibraryImport(Lib)] internal static partial nuint cublasLtGetVersion();
}
