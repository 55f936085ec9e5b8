using Vgg.Engine.Cpu.Ops;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>Prepared weights that report their size (the backend's packed-weight total counts them).</summary>
internal interface IPreparedWeights
{
    long PreparedBytes { get; }
}

/// <summary>
/// The CPU backend's GEMM for a constant B (Linear/Gemm weights, MatMul with a constant 2-D right side)
/// on this folder's micro-kernels: B packed once into 64-column panels [N/64][K][64]; a task is one panel
/// for a block of up to 48 rows of A, reduction in blocks of <see cref="LinearKernel.KBlock"/> when more
/// than 6 rows share a panel. At batch 1 this is the memory-bound GEMV of
/// <see cref="LinearKernel"/> (1×64 micro-kernel, 8 accumulators). Products with a non-constant B or a
/// transposed A go to the backend's packed SGEMM (<see cref="PackedGemmKernel"/>).
/// </summary>
internal sealed class FastGemmKernel : IGemmKernel
{
    public const int RowBlock = 48;
    private readonly IGemmKernel _fallback;

    public FastGemmKernel(IGemmKernel fallback) => _fallback = fallback;

    /// <summary>Short, for plan printouts; products this kernel does not take run on the fallback (its doc names it).</summary>
    public string Name => $"panel gemm {CpuSimd.Default}";

    public IPreparedGemm Prepare(int m, int n, int k, bool transA, bool transB, float alpha, bool relu, Tensor? constantB, int threads, WeightCache cache)
    {
        if (!FastConvStep.Enabled || constantB is null || transA || m < 1 || n < 1 || k < 1 || constantB.DType != DType.Float32)
            return _fallback.Prepare(m, n, k, transA, transB, alpha, relu, constantB, threads, cache);
        var panels = cache.GetOrAdd(constantB, $"cpukernels-panels64-{(transB ? "t" : "n")}-k{k}-n{n}", () => new Panels64(constantB, k, n, transB));
        return new Prepared(m, n, k, alpha, relu, panels, CpuSimd.Default);
    }

    /// <summary>B [K, N] (or Bᵀ [N, K]) packed as [ceil(N/64)][K][64], zero padded.</summary>
    internal sealed unsafe class Panels64 : IPreparedWeights, IDisposable
    {
        public readonly NativeBuffer Data;
        public readonly int K, N, Count;

        public Panels64(Tensor b, int k, int n, bool transB)
        {
            (K, N, Count) = (k, n, (n + 63) / 64);
            Data = new NativeBuffer((long)Count * k * 64);
            float* d = Data.Pointer;
            ReadOnlySpan<float> src = b.AsSpan<float>();
            for (int j = 0; j < n; j++)
            {
                float* col = d + (long)(j / 64) * k * 64 + j % 64;
                if (transB)
                {
                    ReadOnlySpan<float> row = src.Slice(j * k, k);
                    for (int i = 0; i < k; i++) col[(long)i * 64] = row[i];
                }
                else
                    for (int i = 0; i < k; i++) col[(long)i * 64] = src[i * n + j];
            }
        }

        public long PreparedBytes => Data.Bytes;
        public float* Panel(int p) => Data.Pointer + (long)p * K * 64;
        public void Dispose() => Data.Dispose();
    }

    private sealed unsafe class Prepared : IPreparedGemm
    {
        private readonly int _m, _n, _k, _rowBlocks;
        private readonly float _alpha;
        private readonly bool _relu;
        private readonly Panels64 _b;
        private readonly SimdLevel _level;

        public Prepared(int m, int n, int k, float alpha, bool relu, Panels64 b, SimdLevel level)
        {
            (_m, _n, _k, _alpha, _relu, _b, _level) = (m, n, k, alpha, relu, b, level);
            _rowBlocks = (m + RowBlock - 1) / RowBlock;
        }

        public int Tasks => _rowBlocks * _b.Count;

        public long WorkspaceFloatsPerSlot => (long)Math.Min(_m, RowBlock) * 64;

        public void Execute(int task, float* a, float* b, float* y, float* ws)
        {
            // Panel-major order: consecutive tasks share a row block, the slow-changing index is the panel.
            int rb = task % _rowBlocks, panel = task / _rowBlocks;
            int r0 = rb * RowBlock, rows = Math.Min(RowBlock, _m - r0);
            float* wpanel = _b.Panel(panel);
            int kb = rows > GemmMicroKernels.MaxRows || (_level != SimdLevel.Avx512 && rows > 1) ? LinearKernel.KBlock : _k;
            for (int k0 = 0; k0 < _k; k0 += kb)
            {
                int klen = Math.Min(kb, _k - k0);
                for (int g = 0; g < rows;)
                {
                    int left = rows - g;
                    int rg = left <= GemmMicroKernels.MaxRows ? left : left <= 8 ? (left + 1) / 2 : GemmMicroKernels.MaxRows;
                    GemmMicroKernels.RunStreaming(_level, a + (long)(r0 + g) * _k + k0, _k, wpanel + (long)k0 * 64, klen, ws + g * 64, 64, rg, k0 > 0);
                    g += rg;
                }
            }
            int cols = Math.Min(64, _n - panel * 64);
            for (int r = 0; r < rows; r++)
            {
                float* src = ws + r * 64;
                float* dst = y + (long)(r0 + r) * _n + panel * 64;
                for (int j = 0; j < cols; j++)
                {
                    float v = dst[j] + _alpha * src[j];
                    dst[j] = _relu && v < 0f ? 0f : v;
                }
            }
        }
    }
}
