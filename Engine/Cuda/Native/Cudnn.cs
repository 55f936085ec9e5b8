using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vgg.Engine.Cuda.Native;

internal enum CudnnTensorFormat
{
    NCHW = 0,
    NHWC = 1,
}

internal enum CudnnDataType
{
    FLOAT = 0,
    DOUBLE = 1,
    HALF = 2,
    INT8 = 3,
    INT32 = 4,
}

internal enum CudnnMathType
{
    DEFAULT_MATH = 0,
    TENSOR_OP_MATH = 1,
    TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
    FMA_MATH = 3,
}

internal enum CudnnActivationMode
{
    SIGMOID = 0,
    RELU = 1,
    TANH = 2,
    CLIPPED_RELU = 3,
    ELU = 4,
    IDENTITY = 5,
}

internal enum CudnnPoolingMode
{
    MAX = 0,
    AVERAGE_COUNT_INCLUDE_PADDING = 1,
    AVERAGE_COUNT_EXCLUDE_PADDING = 2,
    MAX_DETERMINISTIC = 3,
}

/// <summary>cudnnConvolutionFwdAlgoPerf_t (cudnn_cnn.h): 48 bytes on 64-bit platforms.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CudnnConvolutionFwdAlgoPerf
{
    public int Algo;
    public int Status;
    public float Time;
    public nuint Memory;
    public int Determinism;
    public int MathType;
    public int Reserved0, Reserved1, Reserved2;
}

/// <summary>
/// cuDNN's descriptor ("legacy", v7-style) API, present in cuDNN 8 and 9 (libcudnn.so.9 forwards to
/// its sub-libraries): the baseline the benchmark compares our convolutions against, and a fallback an
/// option can select. Only the calls the baseline uses are bound.
/// </summary>
internal static unsafe partial class Cudnn
{
    private const string Lib = CudaLibraries.CudnnName;

    static Cudnn() => CudaLibraries.EnsureResolver();

    internal const int CUDNN_CONVOLUTION = 0;
    internal const int CUDNN_CROSS_CORRELATION = 1;
    internal const int CUDNN_NOT_PROPAGATE_NAN = 0;
    internal const int CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM = 1;

    [LibraryImport(Lib)] internal static partial nuint cudnnGetVersion();
    [LibraryImport(Lib)] internal static partial IntPtr cudnnGetErrorString(int status);
    [LibraryImport(Lib)] internal static partial int cudnnCreate(out IntPtr handle);
    [LibraryImport(Lib)] internal static partial int cudnnDestroy(IntPtr handle);
    [LibraryImport(Lib)] internal static partial int cudnnSetStream(IntPtr handle, IntPtr stream);

    [LibraryImport(Lib)] internal static partial int cudnnCreateTensorDescriptor(out IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnDestroyTensorDescriptor(IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnSetTensor4dDescriptor(IntPtr desc, CudnnTensorFormat format, CudnnDataType dataType, int n, int c, int h, int w);
    [LibraryImport(Lib)] internal static partial int cudnnCreateFilterDescriptor(out IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnDestroyFilterDescriptor(IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnSetFilter4dDescriptor(IntPtr desc, CudnnDataType dataType, CudnnTensorFormat format, int k, int c, int h, int w);
    [LibraryImport(Lib)] internal static partial int cudnnCreateConvolutionDescriptor(out IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnDestroyConvolutionDescriptor(IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnSetConvolution2dDescriptor(IntPtr desc, int padH, int padW, int u, int v, int dilationH, int dilationW, int mode, CudnnDataType computeType);
    [LibraryImport(Lib)] internal static partial int cudnnSetConvolutionMathType(IntPtr desc, CudnnMathType mathType);
    [LibraryImport(Lib)] internal static partial int cudnnSetConvolutionGroupCount(IntPtr desc, int groupCount);
    [LibraryImport(Lib)] internal static partial int cudnnCreateActivationDescriptor(out IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnDestroyActivationDescriptor(IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnSetActivationDescriptor(IntPtr desc, CudnnActivationMode mode, int reluNanOpt, double coef);
    [LibraryImport(Lib)] internal static partial int cudnnCreatePoolingDescriptor(out IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnDestroyPoolingDescriptor(IntPtr desc);
    [LibraryImport(Lib)] internal static partial int cudnnSetPooling2dDescriptor(IntPtr desc, CudnnPoolingMode mode, int maxpoolingNanOpt, int windowHeight, int windowWidth, int verticalPadding, int horizontalPadding, int verticalStride, int horizontalStride);

    [LibraryImport(Lib)]
    internal static partial int cudnnGetConvolutionForwardAlgorithm_v7(IntPtr handle, IntPtr xDesc, IntPtr wDesc, IntPtr convDesc, IntPtr yDesc, int requestedAlgoCount, out int returnedAlgoCount, CudnnConvolutionFwdAlgoPerf* perfResults);
    [LibraryImport(Lib)]
    internal static partial int cudnnGetConvolutionForwardWorkspaceSize(IntPtr handle, IntPtr xDesc, IntPtr wDesc, IntPtr convDesc, IntPtr yDesc, int algo, out nuint sizeInBytes);
    [LibraryImport(Lib)]
    internal static partial int cudnnConvolutionBiasActivationForward(IntPtr handle, void* alpha1, IntPtr xDesc, ulong x, IntPtr wDesc, ulong w, IntPtr convDesc, int algo,
        ulong workSpace, nuint workSpaceSizeInBytes, void* alpha2, IntPtr zDesc, ulong z, IntPtr biasDesc, ulong bias, IntPtr activationDesc, IntPtr yDesc, ulong y);
    [LibraryImport(Lib)]
    internal static partial int cudnnPoolingForward(IntPtr handle, IntPtr poolingDesc, void* alpha, IntPtr xDesc, ulong x, void* beta, IntPtr yDesc, ulong y);

    internal static string StatusName(int status)
    {
        try
        {
            var p = cudnnGetErrorString(status);
            if (p != IntPtr.Zero) return Marshal.PtrToStringUTF8(p) ?? $"cudnnStatus {status}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
        return $"cudnnStatus {status}";
    }

    /// <exception cref="CudaException">Any status other than CUDNN_STATUS_SUCCESS.</exception>
    internal static void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != 0) throw new CudaException(CudaLibrary.Cudnn, status, StatusName(status), "", CudaCheck.StripPrefix(call));
    }
}
