using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// Register-blocked GEMM micro-kernels over a packed B panel: C[r, 0..63] (+)= Σ_k A[r, k]·B[k, 0..63]
/// for r &lt; rows ≤ 6. A is row-major with row stride lda (floats); B is a packed panel, 64 floats per
/// k, contiguous in k (the layout every prepared weight in this folder uses); C has row stride ldc.
/// Used by the Winograd convolution (one GEMM per transform position) and by the linear layers.
/// </summary>
/// <remarks>
/// Variants (the caller picks by <see cref="SimdLevel"/>):
/// <list type="number">
/// <item>v1 <see cref="Generic6x16{T}"/>: 6 rows × 16 columns per pass, generic over <see cref="IVec16{T}"/>,
///   four passes over the 64-wide panel. The portable path (Vector128: NEON on Arm64).</item>
/// <item>v2 <see cref="Avx512_6x64"/>: 6 rows × 64 columns, 24 zmm accumulators, 4 panel loads and 6
///   embedded-broadcast A operands per k: 24 FMAs per 10 loads. The panel streams from L2 once per
///   6 rows of A. Rows beyond <c>rows</c> repeat the last valid row (wasted FMAs, no branches) and are not stored.</item>
/// <item>v5 <see cref="Avx2_6x16"/>: v1 written out for Vector256 (12 ymm accumulators, 2 panel loads, 6
///   broadcasts per k: BLIS's Haswell shape), k unrolled by two; v1 through the Vec16 wrapper ran 3.5×
///   slower than AVX-512 on Zen 4 where both have the same FMA throughput.</item>
/// <item>v6 <see cref="Avx2_1x64"/>: the batch-1 GEMV for AVX2, one pass over the panel with 8 ymm
///   accumulators (v5's four 16-column passes read a 6 MB fc6 panel from memory four times: VGG-16 at
///   batch 1 on the AVX2 path went from 0.76 to 0.55 of ORT's (AVX-512) time, see Perf/RESULTS.md).</item>
/// <item>v4 <see cref="Avx512_4x64"/>: 4 rows × 64 (16 accumulators) for remainders of 2–4 rows, so a
///   batch of 8 runs as 4 + 4 instead of 6 + 6 with four repeated rows (v2 alone wasted a third of its FMAs there).</item>
/// <item>v3 <see cref="Avx512_1x64"/>: one row (batch-1 linear layers, a GEMV): 8 accumulators (k unrolled
///   by two) so the FMA latency chain never limits a weight stream that is bound by memory bandwidth.</item>
/// </list>
/// </remarks>
internal static unsafe class GemmMicroKernels
{
    public const int PanelWidth = 64;
    public const int MaxRows = 6;

    /// <summary>Dispatch by level. <paramref name="accumulate"/>: add to C instead of overwriting it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(SimdLevel level, float* a, nint lda, float* b, int k, float* c, nint ldc, int rows, bool accumulate)
    {
        if (level == SimdLevel.Avx512)
        {
            if (rows == 1) Avx512_1x64(a, b, k, c, accumulate);
            else if (rows <= 4) Avx512_4x64(a, lda, b, k, c, ldc, rows, accumulate);
            else Avx512_6x64(a, lda, b, k, c, ldc, rows, accumulate);
        }
        else if (level == SimdLevel.Avx2)
        {
            if (rows == 1) Avx2_1x64(a, b, k, c, accumulate);
            else for (int j = 0; j < PanelWidth; j += 16) Avx2_6x16(a, lda, b + j, k, c + j, ldc, rows, accumulate);
        }
        else
        {
            for (int j = 0; j < PanelWidth; j += 16) Generic6x16<V128>(a, lda, b + j, k, c + j, ldc, rows, accumulate);
        }
    }

    /// <summary>
    /// As <see cref="Run"/> for a panel that is streamed for these rows only (linear layers): on AVX2 a
    /// group of fewer than 6 rows runs as one-row passes of <see cref="Avx2_1x64"/>, each reading the
    /// (L2-resident, K-blocked) panel sequentially, instead of the four strided 16-column passes of
    /// <see cref="Avx2_6x16"/> with repeated rows (VGG-16 fc6 at batch 8 on AVX2: 78.8 → 40.8 ms).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RunStreaming(SimdLevel level, float* a, nint lda, float* b, int k, float* c, nint ldc, int rows, bool accumulate)
    {
        if (level == SimdLevel.Avx2 && rows < MaxRows)
            for (int r = 0; r < rows; r++) Avx2_1x64(a + r * lda, b, k, c + r * ldc, accumulate);
        else
            Run(level, a, lda, b, k, c, ldc, rows, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Generic6x16<T>(float* a, nint lda, float* b, int k, float* c, nint ldc, int rows, bool accumulate)
        where T : struct, IVec16<T>
    {
        float* a0 = a;
        float* a1 = rows > 1 ? a0 + lda : a0;
        float* a2 = rows > 2 ? a1 + lda : a1;
        float* a3 = rows > 3 ? a2 + lda : a2;
        float* a4 = rows > 4 ? a3 + lda : a3;
        float* a5 = rows > 5 ? a4 + lda : a4;
        T c0 = T.Zero, c1 = T.Zero, c2 = T.Zero, c3 = T.Zero, c4 = T.Zero, c5 = T.Zero;
        for (int i = 0; i < k; i++)
        {
            T bv = T.Load(b);
            b += PanelWidth;
            c0 = T.Fma(T.Splat(a0[i]), bv, c0);
            c1 = T.Fma(T.Splat(a1[i]), bv, c1);
            c2 = T.Fma(T.Splat(a2[i]), bv, c2);
            c3 = T.Fma(T.Splat(a3[i]), bv, c3);
            c4 = T.Fma(T.Splat(a4[i]), bv, c4);
            c5 = T.Fma(T.Splat(a5[i]), bv, c5);
        }
        StoreRow(c, c0, accumulate);
        if (rows > 1) StoreRow(c + ldc, c1, accumulate);
        if (rows > 2) StoreRow(c + 2 * ldc, c2, accumulate);
        if (rows > 3) StoreRow(c + 3 * ldc, c3, accumulate);
        if (rows > 4) StoreRow(c + 4 * ldc, c4, accumulate);
        if (rows > 5) StoreRow(c + 5 * ldc, c5, accumulate);

        static void StoreRow(float* p, T v, bool acc) => T.Store(p, acc ? T.Load(p) + v : v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2_6x16(float* a, nint lda, float* b, int k, float* c, nint ldc, int rows, bool accumulate)
    {
        float* a0 = a;
        float* a1 = rows > 1 ? a0 + lda : a0;
        float* a2 = rows > 2 ? a1 + lda : a1;
        float* a3 = rows > 3 ? a2 + lda : a2;
        float* a4 = rows > 4 ? a3 + lda : a3;
        float* a5 = rows > 5 ? a4 + lda : a4;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (nint i = 0; i < k; i++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            b += PanelWidth;
            var x = Vector256.Create(a0[i]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a1[i]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a2[i]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a3[i]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a4[i]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a5[i]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }
        Store2(c, c00, c01, accumulate);
        if (rows > 1) Store2(c + ldc, c10, c11, accumulate);
        if (rows > 2) Store2(c + 2 * ldc, c20, c21, accumulate);
        if (rows > 3) Store2(c + 3 * ldc, c30, c31, accumulate);
        if (rows > 4) Store2(c + 4 * ldc, c40, c41, accumulate);
        if (rows > 5) Store2(c + 5 * ldc, c50, c51, accumulate);

        static void Store2(float* p, Vector256<float> v0, Vector256<float> v1, bool acc)
        {
            if (acc) { v0 += Vector256.Load(p); v1 += Vector256.Load(p + 8); }
            v0.Store(p); v1.Store(p + 8);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2_1x64(float* a, float* b, int k, float* c, bool accumulate)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (nint i = 0; i < k; i++)
        {
            var x = Vector256.Create(a[i]);
            c0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b), c0);
            c1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 8), c1);
            c2 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 16), c2);
            c3 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 24), c3);
            c4 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 32), c4);
            c5 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 40), c5);
            c6 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 48), c6);
            c7 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 56), c7);
            b += PanelWidth;
        }
        if (accumulate)
        {
            c0 += Vector256.Load(c); c1 += Vector256.Load(c + 8); c2 += Vector256.Load(c + 16); c3 += Vector256.Load(c + 24);
            c4 += Vector256.Load(c + 32); c5 += Vector256.Load(c + 40); c6 += Vector256.Load(c + 48); c7 += Vector256.Load(c + 56);
        }
        c0.Store(c); c1.Store(c + 8); c2.Store(c + 16); c3.Store(c + 24);
        c4.Store(c + 32); c5.Store(c + 40); c6.Store(c + 48); c7.Store(c + 56);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512_6x64(float* a, nint lda, float* b, int k, float* c, nint ldc, int rows, bool accumulate)
    {
        float* a0 = a;
        float* a1 = rows > 1 ? a0 + lda : a0;
        float* a2 = rows > 2 ? a1 + lda : a1;
        float* a3 = rows > 3 ? a2 + lda : a2;
        float* a4 = rows > 4 ? a3 + lda : a3;
        float* a5 = rows > 5 ? a4 + lda : a4;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        for (nint i = 0; i < k; i++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var b3 = Vector512.Load(b + 48);
            b += PanelWidth;
            var x = Vector512.Create(a0[i]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(a1[i]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(a2[i]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(a3[i]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            x = Vector512.Create(a4[i]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            c42 = Vector512.FusedMultiplyAdd(x, b2, c42); c43 = Vector512.FusedMultiplyAdd(x, b3, c43);
            x = Vector512.Create(a5[i]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            c52 = Vector512.FusedMultiplyAdd(x, b2, c52); c53 = Vector512.FusedMultiplyAdd(x, b3, c53);
        }
        Store4(c, c00, c01, c02, c03, accumulate);
        if (rows > 1) Store4(c + ldc, c10, c11, c12, c13, accumulate);
        if (rows > 2) Store4(c + 2 * ldc, c20, c21, c22, c23, accumulate);
        if (rows > 3) Store4(c + 3 * ldc, c30, c31, c32, c33, accumulate);
        if (rows > 4) Store4(c + 4 * ldc, c40, c41, c42, c43, accumulate);
        if (rows > 5) Store4(c + 5 * ldc, c50, c51, c52, c53, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512_4x64(float* a, nint lda, float* b, int k, float* c, nint ldc, int rows, bool accumulate)
    {
        float* a0 = a;
        float* a1 = rows > 1 ? a0 + lda : a0;
        float* a2 = rows > 2 ? a1 + lda : a1;
        float* a3 = rows > 3 ? a2 + lda : a2;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        for (nint i = 0; i < k; i++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var b3 = Vector512.Load(b + 48);
            b += PanelWidth;
            var x = Vector512.Create(a0[i]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(a1[i]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(a2[i]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(a3[i]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
        }
        Store4(c, c00, c01, c02, c03, accumulate);
        if (rows > 1) Store4(c + ldc, c10, c11, c12, c13, accumulate);
        if (rows > 2) Store4(c + 2 * ldc, c20, c21, c22, c23, accumulate);
        if (rows > 3) Store4(c + 3 * ldc, c30, c31, c32, c33, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512_1x64(float* a, float* b, int k, float* c, bool accumulate)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default;
        nint i = 0;
        for (; i + 1 < k; i += 2)
        {
            var x = Vector512.Create(a[i]);
            c0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b), c0);
            c1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 16), c1);
            c2 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 32), c2);
            c3 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 48), c3);
            var y = Vector512.Create(a[i + 1]);
            d0 = Vector512.FusedMultiplyAdd(y, Vector512.Load(b + 64), d0);
            d1 = Vector512.FusedMultiplyAdd(y, Vector512.Load(b + 80), d1);
            d2 = Vector512.FusedMultiplyAdd(y, Vector512.Load(b + 96), d2);
            d3 = Vector512.FusedMultiplyAdd(y, Vector512.Load(b + 112), d3);
            b += 2 * PanelWidth;
        }
        if (i < k)
        {
            var x = Vector512.Create(a[i]);
            c0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b), c0);
            c1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 16), c1);
            c2 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 32), c2);
            c3 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 48), c3);
        }
        Store4(c, c0 + d0, c1 + d1, c2 + d2, c3 + d3, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* p, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3, bool acc)
    {
        if (acc)
        {
            v0 += Vector512.Load(p); v1 += Vector512.Load(p + 16);
            v2 += Vector512.Load(p + 32); v3 += Vector512.Load(p + 48);
        }
        v0.Store(p); v1.Store(p + 16); v2.Store(p + 32); v3.Store(p + 48);
    }
}
