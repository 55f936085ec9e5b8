using System.Numerics;
using System.Runtime.CompilerServices;
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

    /// <summary>
    /// Most rows of A that read a transposed B (torch's Linear weight [N, K]) in place instead of packing it. At one
    /// row (batch 1, the latency case) the product is a GEMV bound by streaming the weights, which the row-major
    /// kernel does as fast as the panels (VGG-16 fc6: 12.6 vs 12.1 ms on 2 threads here), and the model's weights are
    /// not held a second time (VGG-16's classifier: 471 MiB). From two rows on, the panels' 6×64 micro-kernel reuses
    /// each weight for several rows and is 3.5× faster than dot products over rows (fc6 at batch 8: 11.3 vs 39.6 ms),
    /// so larger batches pack the weights (once per backend, shared by every plan).
    /// </summary>
    public const int MaxInPlaceRows = 1;

    public IPreparedGemm Prepare(int m, int n, int k, bool transA, bool transB, float alpha, bool relu, Tensor? constantB, int threads, WeightCache cache)
    {
        if (!FastConvStep.Enabled || constantB is null || transA || m < 1 || n < 1 || k < 1 || constantB.DType != DType.Float32)
            return _fallback.Prepare(m, n, k, transA, transB, alpha, relu, constantB, threads, cache);
        if (transB && m <= MaxInPlaceRows && InPlaceEnabled)
            return new RowMajorGemv(n, k, alpha, relu, constantB);
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

    /// <summary>Reads B in place for small batches (default on); tests and benchmarks turn it off to compare with the panels.</summary>
    internal static bool InPlaceEnabled { get; set; } = Environment.GetEnvironmentVariable("VGG_CPU_FC_PACK") != "1";

    /// <summary>
    /// y[N] += Alpha·Bᵀ·a for one row a[K] with B the constant [N, K] read in place (row-major, as torch stores a
    /// Linear weight), then ReLU. A task is a block of <see cref="Columns"/> outputs (rows of B); the reduction runs
    /// in chunks of <see cref="KChunk"/> so that the chunk of a (16 KiB) stays in L1 while four weight rows stream,
    /// two accumulators each. Vector&lt;float&gt; (256-bit on x64, 128-bit on Arm64): the loop is bound by memory
    /// bandwidth, not by vector width.
    /// </summary>
    internal sealed unsafe class RowMajorGemv : IPreparedGemm
    {
        public const int Columns = 16;
        public const int KChunk = 4096;

        /// <summary>For plan printouts and profiles: the weights are read where they are, not packed.</summary>
        public const string Name = "gemv in place (weights unpacked)";
        private readonly int _n, _k;
        private readonly float _alpha;
        private readonly bool _relu;
        private readonly Tensor _b;

        public RowMajorGemv(int n, int k, float alpha, bool relu, Tensor b)
        {
            if (b.ElementCount != (long)n * k) throw new ArgumentException($"B has {b.ElementCount} values, expected N·K = {(long)n * k}", nameof(b));
            (_n, _k, _alpha, _relu, _b) = (n, k, alpha, relu, b);
        }

        public int Tasks => (_n + Columns - 1) / Columns;

        public long WorkspaceFloatsPerSlot => 0;

        public void Execute(int task, float* a, float* bIgnored, float* y, float* ws)
        {
            int j0 = task * Columns, cols = Math.Min(Columns, _n - j0);
            float* sums = stackalloc float[Columns];
            new Span<float>(sums, Columns).Clear();
            fixed (float* w = _b.AsSpan<float>())
            {
                for (int k0 = 0; k0 < _k; k0 += KChunk)
                {
                    int klen = Math.Min(KChunk, _k - k0), c = 0;
                    for (; c + 4 <= cols; c += 4)
                        Dot4(w + (long)(j0 + c) * _k + k0, _k, a + k0, klen, sums + c);
                    for (; c < cols; c++)
                        sums[c] += Dot1(w + (long)(j0 + c) * _k + k0, a + k0, klen);
                }
            }
            float* dst = y + j0;
            for (int c = 0; c < cols; c++)
            {
                float v = dst[c] + _alpha * sums[c];
                dst[c] = _relu && v < 0f ? 0f : v;
            }
        }

        /// <summary>Four rows of B (stride <paramref name="ldb"/>) against a; adds to outSums[0..4).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Dot4(float* b, int ldb, float* x, int len, float* outSums)
        {
            int vw = Vector<float>.Count, i = 0;
            float* b0 = b, b1 = b + ldb, b2 = b + 2L * ldb, b3 = b + 3L * ldb;
            Vector<float> s0 = default, s1 = default, s2 = default, s3 = default, t0 = default, t1 = default, t2 = default, t3 = default;
            for (; i + 2 * vw <= len; i += 2 * vw)
            {
                var xa = Unsafe.ReadUnaligned<Vector<float>>(x + i);
                var xb = Unsafe.ReadUnaligned<Vector<float>>(x + i + vw);
                s0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b0 + i), xa, s0);
                s1 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b1 + i), xa, s1);
                s2 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b2 + i), xa, s2);
                s3 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b3 + i), xa, s3);
                t0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b0 + i + vw), xb, t0);
                t1 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b1 + i + vw), xb, t1);
                t2 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b2 + i + vw), xb, t2);
                t3 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b3 + i + vw), xb, t3);
            }
            float r0 = Vector.Sum(s0 + t0), r1 = Vector.Sum(s1 + t1), r2 = Vector.Sum(s2 + t2), r3 = Vector.Sum(s3 + t3);
            for (; i < len; i++)
            {
                float xv = x[i];
                r0 += b0[i] * xv; r1 += b1[i] * xv; r2 += b2[i] * xv; r3 += b3[i] * xv;
            }
            outSums[0] += r0;
            outSums[1] += r1;
            outSums[2] += r2;
            outSums[3] += r3;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static float Dot1(float* b, float* x, int len)
        {
            int vw = Vector<float>.Count, i = 0;
            Vector<float> s0 = default, s1 = default;
            for (; i + 2 * vw <= len; i += 2 * vw)
            {
                s0 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b + i), Unsafe.ReadUnaligned<Vector<float>>(x + i), s0);
                s1 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(b + i + vw), Unsafe.ReadUnaligned<Vector<float>>(x + i + vw), s1);
            }
            float r = Vector.Sum(s0 + s1);
            for (; i < len; i++) r += b[i] * x[i];
            return r;
        }
    }
}
