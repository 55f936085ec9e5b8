using System.Runtime.CompilerServices;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// Fully connected layer y = act(x·Wᵀ + b) (torch.nn.Linear, ONNX Gemm with transB = 1): x [n, K]
/// row-major, W [Out, K] as torch stores it, y [n, Out]. W is packed at prepare time into panels
/// [Out/64][K][64] (zero padded) so every work item streams one contiguous block of weights.
/// </summary>
/// <remarks>
/// At batch 1 this is a GEMV bound by memory bandwidth (VGG-16's fc6 is 102.8 M weights, 411 MB): the
/// 1×64 micro-kernel keeps 8 accumulators and both cores stream disjoint panels (one work item per
/// panel, dealt dynamically). At batch n &gt; 1 the 6×64 micro-kernel reads each weight once per 6 rows of
/// x; for n &gt; 6 the reduction dimension is cut into blocks of <see cref="KBlock"/> so the second pass over a
/// panel block hits L2 instead of memory.
/// Variants: v1 (this file) over <see cref="GemmMicroKernels"/>.
/// </remarks>
internal sealed unsafe class LinearKernel : IPreparedWeights, IDisposable
{
    public const int KBlock = 1024;
    private readonly NativeBuffer _w;
    private readonly NativeBuffer _bias;
    private readonly int _panels;

    /// <param name="inFeatures">K, the reduction length.</param>
    /// <param name="outFeatures">Output features.</param>
    /// <param name="weight">[outFeatures, inFeatures] row-major.</param>
    /// <param name="bias">[outFeatures] or empty.</param>
    /// <param name="relu">Fuse a ReLU after the bias.</param>
    /// <param name="level">Vector path; null for the best the hardware has.</param>
    public LinearKernel(int inFeatures, int outFeatures, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, bool relu, SimdLevel? level = null)
    {
        if (inFeatures < 1 || outFeatures < 1) throw new ArgumentOutOfRangeException(nameof(inFeatures), $"features must be positive (in={inFeatures}, out={outFeatures})");
        if (weight.Length != (long)inFeatures * outFeatures) throw new ArgumentException($"weight has {weight.Length} values, expected out·in = {(long)inFeatures * outFeatures}");
        if (bias.Length != 0 && bias.Length != outFeatures) throw new ArgumentException($"bias has {bias.Length} values, expected 0 or {outFeatures}");
        In = inFeatures;
        Out = outFeatures;
        Relu = relu;
        Level = CpuSimd.Resolve(level);
        _panels = (outFeatures + 63) / 64;
        _w = new NativeBuffer((long)_panels * 64 * inFeatures);
        float* wp = _w.Pointer;
        for (int o = 0; o < outFeatures; o++)
        {
            ReadOnlySpan<float> row = weight.Slice(o * inFeatures, inFeatures);
            float* dst = wp + (long)(o / 64) * inFeatures * 64 + o % 64;
            for (int k = 0; k < inFeatures; k++) dst[(long)k * 64] = row[k];
        }
        _bias = new NativeBuffer(_panels * 64);
        if (bias.Length != 0) bias.CopyTo(_bias.AsSpan());
    }

    public int In { get; }
    public int Out { get; }
    public bool Relu { get; }
    public SimdLevel Level { get; }
    public long PreparedBytes => _w.Bytes + _bias.Bytes;

    public long WorkspaceBytes(int n, IKernelRunner pool) => (long)pool.Threads * PerThread(n) * sizeof(float);

    private static long PerThread(int n) => (long)(n + 6) * 64;

    /// <summary>y [n, Out] = act(x [n, In]·Wᵀ + b). workspace: <see cref="WorkspaceBytes"/> bytes.</summary>
    public void Run(float* x, float* y, int n, float* workspace, IKernelRunner pool)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), $"batch must be positive, got {n}");
        var ctx = new Ctx { X = x, Y = y, Ws = workspace, Wt = _w.Pointer, Bias = _bias.Pointer, N = n, In = In, Out = Out, Relu = Relu, Level = Level, PerThread = PerThread(n) };
        pool.For(_panels, &Item, &ctx);
    }

    private struct Ctx
    {
        public float* X, Y, Ws, Wt, Bias;
        public int N, In, Out;
        public long PerThread;
        public bool Relu;
        public SimdLevel Level;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Item(void* p, int panel, int thread)
    {
        ref Ctx c = ref *(Ctx*)p;
        float* tmp = c.Ws + thread * c.PerThread;
        float* wpanel = c.Wt + (long)panel * c.In * 64;
        // Full K in one pass where the kernel reads each panel row once (AVX-512, or one row of x);
        // else blocks of KBlock so repeated passes over a panel block hit L2.
        int kb = c.N > GemmMicroKernels.MaxRows || (c.Level != SimdLevel.Avx512 && c.N > 1) ? KBlock : c.In;
        for (int k0 = 0; k0 < c.In; k0 += kb)
        {
            int klen = Math.Min(kb, c.In - k0);
            for (int r0 = 0; r0 < c.N;)
            {
                // Row groups of 6; a remainder of 7 or 8 rows goes as two groups of ≤ 4 (the 4-row kernel).
                int left = c.N - r0;
                int rows = left <= GemmMicroKernels.MaxRows ? left : left <= 8 ? (left + 1) / 2 : GemmMicroKernels.MaxRows;
                GemmMicroKernels.RunStreaming(c.Level, c.X + (long)r0 * c.In + k0, c.In, wpanel + (long)k0 * 64, klen, tmp + r0 * 64, 64, rows, k0 > 0);
                r0 += rows;
            }
        }
        int cols = Math.Min(64, c.Out - panel * 64);
        float* bias = c.Bias + panel * 64;
        for (int r = 0; r < c.N; r++)
        {
            float* src = tmp + r * 64;
            float* dst = c.Y + (long)r * c.Out + panel * 64;
            for (int j = 0; j < cols; j++)
            {
                float v = src[j] + bias[j];
                dst[j] = c.Relu && !(v >= 0f) && !float.IsNaN(v) ? 0f : v;
            }
        }
    }

    public void Dispose()
    {
        _w.Dispose();
        _bias.Dispose();
    }
}
