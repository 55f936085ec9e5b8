using System.Runtime.InteropServices;
using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Native;
using Vgg.Engine.Cuda.Runtime;

namespace Vgg.Engine.Cuda.Network;

/// <summary>
/// The baseline (and optional fallback): the same network run with cuDNN (convolution + bias + ReLU
/// through cudnnConvolutionBiasActivationForward with the algorithm cuDNN's heuristics rank first,
/// pooling through cudnnPoolingForward) and cuBLAS (cublasGemmEx for linear layers), through the
/// engine's own bindings. FP32 runs NCHW with cuDNN's default math (TF32 where the device has it, as
/// PyTorch's default); FP16 runs NHWC on tensor cores. The glue (layout changes, bias + ReLU after a
/// GEMM, softmax) uses the engine's kernels. No INT8 baseline. Each tensor has its own allocation:
/// this is a reference point, not a tuned executor.
/// </summary>
public sealed class CudnnNetwork : ICudaNetworkInstance
{
    private readonly CudaContext _ctx;
    private readonly CudaKernelSet _kernels;
    private readonly List<DeviceBuffer> _buffers = new();
    private readonly List<CudnnDescriptorHandle> _descriptors = new();
    private readonly List<Action<CudaStream>> _ops = new();
    private readonly CudnnHandle _cudnn;
    private readonly CublasHandle _cublas;
    private readonly PinnedBuffer _inputStaging;
    private readonly List<(ulong Ptr, long Elements, PinnedBuffer Staging)> _outputs = new();
    private readonly ulong _input;
    private readonly long _inputElements;
    private readonly DeviceBuffer _workspace;
    private CudaGraph? _graph;
    private IntPtr _boundStream = IntPtr.Zero;

    private sealed record T4(ulong Ptr, int N, int C, int H, int W, bool Rows);

    /// <summary>Builds the baseline for a batch and input size.</summary>
    /// <exception cref="NotSupportedException">INT8, or a layer the baseline does not cover (names it).</exception>
    /// <exception cref="DllNotFoundException">cuDNN or cuBLAS not found.</exception>
    public CudnnNetwork(CudaContext ctx, CudaKernelSet kernels, NetworkDefinition def, CudaPrecision precision, int batch, int height, int width)
    {
        if (precision == CudaPrecision.Int8) throw new NotSupportedException("the cuDNN baseline has no INT8 path");
        if (!CudaLibraries.TryGet(CudaLibrary.Cudnn, out var why)) throw new DllNotFoundException("cuDNN: " + why);
        if (!CudaLibraries.TryGet(CudaLibrary.Cublas, out why)) throw new DllNotFoundException("cuBLAS: " + why);
        _ctx = ctx;
        _kernels = kernels;
        ctx.MakeCurrent();
        Cudnn.Check(Cudnn.cudnnCreate(out var dnn));
        _cudnn = new CudnnHandle(ctx.Handle, dnn);
        Cublas.Check(Cublas.cublasCreate(out var blas));
        _cublas = new CublasHandle(ctx.Handle, blas);
        bool half = precision == CudaPrecision.Float16;
        int es = half ? 2 : 4;
        var dt = half ? CudnnDataType.HALF : CudnnDataType.FLOAT;
        var fmt = half ? CudnnTensorFormat.NHWC : CudnnTensorFormat.NCHW;
        int sms = ctx.Device.MultiprocessorCount;
        var shapes = def.InferShapes(batch, height, width);
        var tensors = new Dictionary<string, T4>(StringComparer.Ordinal);
        long workspaceBytes = 0;
        var workspaceUsers = new List<Action<ulong>>();

        ulong Alloc(long bytes)
        {
            var b = ctx.Allocate(Math.Max(bytes, 256));
            _buffers.Add(b);
            return b.Pointer;
        }
        ulong Put<T>(T[] data) where T : unmanaged
        {
            var b = ctx.Allocate(Math.Max(data.LongLength * Marshal.SizeOf<T>(), 256));
            b.Upload<T>(data);
            _buffers.Add(b);
            return b.Pointer;
        }
        IntPtr Desc(CudnnDescriptorKind kind, Func<(int, IntPtr)> create)
        {
            var (rc, h) = create();
            Cudnn.Check(rc, $"cudnnCreate{kind}Descriptor");
            _descriptors.Add(new CudnnDescriptorHandle(kind, h));
            return h;
        }
        IntPtr TensorDesc(int n, int c, int h, int w, CudnnDataType type)
        {
            var d = Desc(CudnnDescriptorKind.Tensor, () => (Cudnn.cudnnCreateTensorDescriptor(out var p), p));
            Cudnn.Check(Cudnn.cudnnSetTensor4dDescriptor(d, fmt, type, n, c, h, w));
            return d;
        }

        // input: staging NCHW f32 -> f32 NCHW (the tensor itself) or f16 NHWC
        _inputElements = (long)batch * def.InputChannels * height * width;
        _input = Alloc(_inputElements * 4);
        _inputStaging = ctx.AllocatePinned(_inputElements * 4);
        if (half)
        {
            var x = Alloc(_inputElements * 2);
            var launch = SimpleLaunchers.NchwToNhwc(CudaPrecision.Float16, sms, _input, x, batch, def.InputChannels, height, width, def.InputChannels);
            _ops.Add(s => kernels.Launch(launch, s));
            tensors[def.InputName] = new T4(x, batch, def.InputChannels, height, width, false);
        }
        else
        {
            tensors[def.InputName] = new T4(_input, batch, def.InputChannels, height, width, false);
        }

        foreach (var layer in def.Layers)
        {
            var x = tensors[layer.Input];
            var ys = shapes[layer.Name];
            switch (layer)
            {
                case ConvSpec c:
                {
                    int oh = c.FusedPool ? ys[2] * 2 : ys[2], ow = c.FusedPool ? ys[3] * 2 : ys[3];
                    // the unpooled conv output is (oh, ow) only when the pool is exact; recompute from the geometry
                    oh = (x.H + c.PadTop + c.PadBottom - c.DilationH * (c.KernelH - 1) - 1) / c.StrideH + 1;
                    ow = (x.W + c.PadLeft + c.PadRight - c.DilationW * (c.KernelW - 1) - 1) / c.StrideW + 1;
                    if (c.PadTop != c.PadBottom || c.PadLeft != c.PadRight) throw new NotSupportedException($"{c.Name}: cuDNN takes symmetric padding only");
                    var xd = TensorDesc(x.N, x.C, x.H, x.W, dt);
                    var wd = Desc(CudnnDescriptorKind.Filter, () => (Cudnn.cudnnCreateFilterDescriptor(out var p), p));
                    int cg = x.C / c.Groups;
                    Cudnn.Check(Cudnn.cudnnSetFilter4dDescriptor(wd, dt, fmt, c.OutChannels, cg, c.KernelH, c.KernelW));
                    var cd = Desc(CudnnDescriptorKind.Convolution, () => (Cudnn.cudnnCreateConvolutionDescriptor(out var p), p));
                    Cudnn.Check(Cudnn.cudnnSetConvolution2dDescriptor(cd, c.PadTop, c.PadLeft, c.StrideH, c.StrideW, c.DilationH, c.DilationW, Cudnn.CUDNN_CROSS_CORRELATION, CudnnDataType.FLOAT));
                    Cudnn.Check(Cudnn.cudnnSetConvolutionMathType(cd, half ? CudnnMathType.TENSOR_OP_MATH : CudnnMathType.DEFAULT_MATH));
                    if (c.Groups > 1) Cudnn.Check(Cudnn.cudnnSetConvolutionGroupCount(cd, c.Groups));
                    var yd = TensorDesc(x.N, c.OutChannels, oh, ow, dt);
                    var bd = TensorDesc(1, c.OutChannels, 1, 1, dt);
                    var ad = Desc(CudnnDescriptorKind.Activation, () => (Cudnn.cudnnCreateActivationDescriptor(out var p), p));
                    Cudnn.Check(Cudnn.cudnnSetActivationDescriptor(ad, c.Relu ? CudnnActivationMode.RELU : CudnnActivationMode.IDENTITY, Cudnn.CUDNN_NOT_PROPAGATE_NAN, 0));
                    int algo = Cudnn.CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
                    if (c.Relu)
                    {
                        var perf = new CudnnConvolutionFwdAlgoPerf[8];
                        unsafe
                        {
                            fixed (CudnnConvolutionFwdAlgoPerf* pp = perf)
                                Cudnn.Check(Cudnn.cudnnGetConvolutionForwardAlgorithm_v7(dnn, xd, wd, cd, yd, perf.Length, out int got, pp));
                        }
                        algo = perf[0].Status == 0 ? perf[0].Algo : algo;   // IDENTITY activation needs IMPLICIT_PRECOMP_GEMM; ReLU takes the heuristic's first
                    }
                    Cudnn.Check(Cudnn.cudnnGetConvolutionForwardWorkspaceSize(dnn, xd, wd, cd, yd, algo, out var wsb));
                    workspaceBytes = Math.Max(workspaceBytes, (long)wsb);
                    float[] wf = half ? WeightConversion.ConvToKrsc(c, x.C, x.C) : c.Weight;
                    ulong W = half ? Put(wf.Select(v => (Half)v).ToArray()) : Put(wf);
                    var bias = c.Bias ?? new float[c.OutChannels];
                    ulong B = half ? Put(bias.Select(v => (Half)v).ToArray()) : Put(bias);
                    ulong Y = Alloc((long)x.N * c.OutChannels * oh * ow * es);
                    var xin = x;
                    ulong wsSize = (ulong)wsb;
                    _ops.Add(s =>
                    {
                        BindStream(s);
                        float one = 1f, zero = 0f;
                        unsafe
                        {
                            Cudnn.Check(Cudnn.cudnnConvolutionBiasActivationForward(dnn, &one, xd, xin.Ptr, wd, W, cd, algo, _workspace!.Pointer, (nuint)wsSize,
                                &zero, yd, Y, bd, B, ad, yd, Y), $"cudnnConvolutionBiasActivationForward({c.Name})");
                        }
                    });
                    var conv = new T4(Y, x.N, c.OutChannels, oh, ow, false);
                    tensors[c.Name] = c.FusedPool ? Pool(conv, 2, 2, 2, 2, 0, 0, false, c.Name) : conv;
                    break;
                }
                case MaxPoolSpec mp:
                    if (mp.PadTop != mp.PadBottom || mp.PadLeft != mp.PadRight || mp.CeilMode || mp.DilationH != 1 || mp.DilationW != 1)
                        throw new NotSupportedException($"{mp.Name}: the cuDNN baseline pools with symmetric padding, floor mode, no dilation");
                    tensors[mp.Name] = Pool(x, mp.KernelH, mp.KernelW, mp.StrideH, mp.StrideW, mp.PadTop, mp.PadLeft, false, mp.Name);
                    break;
                case AdaptiveAvgPoolSpec ap when ap.OutH == x.H && ap.OutW == x.W:
                    tensors[ap.Name] = x;
                    break;
                case AdaptiveAvgPoolSpec ap when ap.OutH == 1 && ap.OutW == 1:
                    tensors[ap.Name] = Pool(x, x.H, x.W, x.H, x.W, 0, 0, true, ap.Name);
                    break;
                case FlattenSpec fl:
                {
                    if (x.Rows || !half || (x.H == 1 && x.W == 1)) { tensors[fl.Name] = x with { C = x.C * x.H * x.W, H = 1, W = 1, Rows = true }; break; }
                    ulong y = Alloc((long)x.N * x.C * x.H * x.W * es);
                    var launch = SimpleLaunchers.NhwcToNchw(CudaPrecision.Float16, sms, x.Ptr, y, x.N, x.C, x.H, x.W, x.C);
                    _ops.Add(s => kernels.Launch(launch, s));
                    tensors[fl.Name] = new T4(y, x.N, x.C * x.H * x.W, 1, 1, true);
                    break;
                }
                case LinearSpec f:
                {
                    int m = x.N, n = f.OutFeatures, k = x.C;
                    ulong W = half ? Put(f.Weight.Select(v => (Half)v).ToArray()) : Put(f.Weight);
                    ulong B = Put(f.Bias ?? new float[n]);
                    long scratch = (long)m * n * 4;
                    ulong acc = Alloc(scratch);
                    bool floatOut = !half || (def.Outputs.Contains(f.Name)) || def.Layers.Any(l => l is SoftmaxSpec && l.Input == f.Name);
                    ulong Y = Alloc((long)m * n * (floatOut ? 4 : es));
                    var epi = half
                        ? SplitKEpilogue.Launch(CudaPrecision.Float16, 1, m, n, acc, B, 0, Y, f.Relu, false, floatOut ? OutputMode.Float32 : OutputMode.Native)
                        : SplitKEpilogue.Launch(CudaPrecision.Float32, 1, m, n, acc, B, 0, Y, f.Relu, false, OutputMode.Native);
                    var xin = x;
                    _ops.Add(s =>
                    {
                        BindStream(s);
                        float one = 1f, zero = 0f;
                        var type = half ? CudaDataType.CUDA_R_16F : CudaDataType.CUDA_R_32F;
                        unsafe
                        {
                            Cublas.Check(Cublas.cublasGemmEx(blas, CublasOperation.T, CublasOperation.N, n, m, k, &one, W, type, k, xin.Ptr, type, k, &zero, acc, CudaDataType.CUDA_R_32F, n,
                                CublasComputeType.CUBLAS_COMPUTE_32F, Cublas.CUBLAS_GEMM_DEFAULT), $"cublasGemmEx({f.Name})");
                        }
                        kernels.Launch(epi, s);
                    });
                    tensors[f.Name] = new T4(Y, m, n, 1, 1, true) { };
                    if (floatOut && half) _floatRows.Add(f.Name);
                    break;
                }
                case ReluSpec r:
                {
                    bool f32 = !half || _floatRows.Contains(layer.Input);
                    long count = (long)x.N * x.C * x.H * x.W;
                    ulong y = Alloc(count * (f32 ? 4 : 2));
                    var launch = SimpleLaunchers.Elementwise(f32 ? "vgg_relu_f32" : "vgg_relu_f16", sms, x.Ptr, y, count);
                    _ops.Add(s => kernels.Launch(launch, s));
                    tensors[r.Name] = x with { Ptr = y };
                    if (f32 && half) _floatRows.Add(r.Name);
                    break;
                }
                case SoftmaxSpec sm:
                {
                    if (half && !_floatRows.Contains(sm.Input)) throw new NotSupportedException($"{sm.Name}: softmax of a half tensor");
                    ulong y = Alloc((long)x.N * x.C * 4);
                    var launch = SimpleLaunchers.Softmax(sm.Log, x.Ptr, y, x.N, x.C, 1);
                    _ops.Add(s => kernels.Launch(launch, s));
                    tensors[sm.Name] = new T4(y, x.N, x.C, 1, 1, true);
                    _floatRows.Add(sm.Name);
                    break;
                }
                default:
                    throw new NotSupportedException($"{layer.Name}: the cuDNN baseline does not cover {layer.GetType().Name}");
            }
        }

        foreach (var o in def.Outputs)
        {
            var t = tensors[o];
            long count = (long)t.N * t.C * t.H * t.W;
            ulong ptr = t.Ptr;
            if (half && !_floatRows.Contains(o))
            {
                ptr = Alloc(count * 4);
                var launch = t.Rows
                    ? SimpleLaunchers.Elementwise("vgg_convert_f16_to_f32", sms, t.Ptr, ptr, count)
                    : SimpleLaunchers.NhwcToNchwF32(CudaPrecision.Float16, sms, t.Ptr, ptr, t.N, t.C, t.H, t.W, t.C);
                _ops.Add(s => kernels.Launch(launch, s));
            }
            _outputs.Add((ptr, count, ctx.AllocatePinned(count * 4)));
        }
        _workspace = ctx.Allocate(Math.Max(workspaceBytes, 256));
        WorkspaceBytes = workspaceBytes;
        ArenaBytes = _buffers.Sum(b => b.Bytes);

        T4 Pool(T4 x, int kh, int kw, int sh, int sw, int ph, int pw, bool average, string name)
        {
            int oh = (x.H + 2 * ph - kh) / sh + 1, ow = (x.W + 2 * pw - kw) / sw + 1;
            var xd = TensorDesc(x.N, x.C, x.H, x.W, dt);
            var yd = TensorDesc(x.N, x.C, oh, ow, dt);
            var pd = Desc(CudnnDescriptorKind.Pooling, () => (Cudnn.cudnnCreatePoolingDescriptor(out var p), p));
            Cudnn.Check(Cudnn.cudnnSetPooling2dDescriptor(pd, average ? CudnnPoolingMode.AVERAGE_COUNT_EXCLUDE_PADDING : CudnnPoolingMode.MAX, Cudnn.CUDNN_NOT_PROPAGATE_NAN, kh, kw, ph, pw, sh, sw));
            ulong y = Alloc((long)x.N * x.C * oh * ow * es);
            _ops.Add(s =>
            {
                BindStream(s);
                float one = 1f, zero = 0f;
                unsafe { Cudnn.Check(Cudnn.cudnnPoolingForward(dnn, pd, &one, xd, x.Ptr, &zero, yd, y), $"cudnnPoolingForward({name})"); }
            });
            return new T4(y, x.N, x.C, oh, ow, false);
        }
    }

    private readonly HashSet<string> _floatRows = new(StringComparer.Ordinal);

    private void BindStream(CudaStream s)
    {
        var raw = s.Handle.DangerousGetHandle();
        if (raw == _boundStream) return;
        Cudnn.Check(Cudnn.cudnnSetStream(_cudnn.DangerousGetHandle(), raw));
        Cublas.Check(Cublas.cublasSetStream(_cublas.DangerousGetHandle(), raw));
        _boundStream = raw;
    }

    public long ArenaBytes { get; }
    public long WorkspaceBytes { get; }
    public bool HasGraph => _graph is not null;

    public void SetInput(ReadOnlySpan<float> nchw)
    {
        if (nchw.Length != _inputElements) throw new ArgumentException($"input must hold {_inputElements} float32 values, got {nchw.Length}");
        MemoryMarshal.AsBytes(nchw).CopyTo(_inputStaging.Span);
    }

    public void EnqueueKernels(CudaStream stream, bool useGraph)
    {
        if (useGraph)
        {
            (_graph ?? throw new InvalidOperationException("no graph captured")).Launch(stream);
            return;
        }
        foreach (var op in _ops) op(stream);
    }

    public void Run(CudaStream stream, bool useGraph)
    {
        stream.CopyToDevice(_input, _inputStaging.Pointer, _inputElements * 4);
        EnqueueKernels(stream, useGraph);
        foreach (var (ptr, n, staging) in _outputs) stream.CopyToHost(staging.Pointer, ptr, n * 4);
        stream.Synchronize();
    }

    public void CaptureGraph(CudaStream stream)
    {
        _graph?.Dispose();
        _graph = null;
        BindStream(stream);
        stream.BeginCapture();
        try { EnqueueKernels(stream, false); }
        catch
        {
            try { stream.EndCapture().Dispose(); } catch (CudaException) { }
            throw;
        }
        _graph = stream.EndCapture();
    }

    public void GetOutput(int index, Span<float> destination)
    {
        var (_, n, staging) = _outputs[index];
        if (destination.Length != n) throw new ArgumentException($"output {index} has {n} values, destination {destination.Length}");
        MemoryMarshal.Cast<byte, float>(staging.Span)[..(int)n].CopyTo(destination);
    }

    public void Dispose()
    {
        _graph?.Dispose();
        foreach (var d in _descriptors) d.Dispose();
        foreach (var b in _buffers) b.Dispose();
        _workspace.Dispose();
        _inputStaging.Dispose();
        foreach (var o in _outputs) o.Staging.Dispose();
        _cublas.Dispose();
        _cudnn.Dispose();
    }
}
