using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Vgg.Engine.Cpu.Ops;

/// <summary>
/// The single-precision GEMM building blocks (GotoBLAS/BLIS structure): operands are packed into
/// panels (A: <see cref="MR"/> rows × kc, stored k-major a[k·MR + r]; B: <see cref="NR"/> columns × kc,
/// stored b[k·NR + c]), and a register-blocked micro-kernel accumulates an MR × NR tile of C from one A
/// panel and one B panel. MR is 12 with AVX-512 (12 zmm accumulators) and 6 otherwise (6 × 2 ymm
/// accumulators); NR is 16. Packing pads partial panels with zeros, so the kernel always runs full
/// tiles and writes back only the valid part.
/// </summary>
internal static unsafe class Sgemm
{
    /// <summary>Columns of a B panel (and of a C tile).</summary>
    public const int NR = 16;

    /// <summary>Rows of an A panel (and of a C tile): 12 with AVX-512, else 6.</summary>
    public static readonly int MR = Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 12 : 6;

    /// <summary>Description of the micro-kernel in use ("12×16 AVX-512", "6×16 AVX2+FMA", "6×16 portable").</summary>
    public static string KernelName => MR == 12 ? "12×16 AVX-512" : Fma.IsSupported ? "6×16 AVX2+FMA" : "6×16 portable";

    /// <summary>
    /// C[mValid × nValid] += A_panel · B_panel over kc, then (when <paramref name="relu"/>) max(·, 0).
    /// <paramref name="c"/> is row-major with leading dimension <paramref name="ldc"/>.
    /// </summary>
    public static void Kernel(int kc, float* a, float* b, float* c, int ldc, int mValid, int nValid, bool relu)
    {
        if (MR == 12) Kernel12x16(kc, a, b, c, ldc, mValid, nValid, relu);
        else Kernel6x16(kc, a, b, c, ldc, mValid, nValid, relu);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fmadd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, int mValid, int nValid, bool relu)
    {
        const int mr = 6;
        float* tile = stackalloc float[mr * NR];
        bool full = mValid == mr && nValid == NR;
        float* dst = full ? c : tile;
        int ld = full ? ldc : NR;
        if (!full)
        {
            new Span<float>(tile, mr * NR).Clear();
            for (int i = 0; i < mValid; i++)
                for (int j = 0; j < nValid; j++) tile[i * NR + j] = c[(long)i * ldc + j];
        }
        var c00 = Vector256.Load(dst); var c01 = Vector256.Load(dst + 8);
        var c10 = Vector256.Load(dst + ld); var c11 = Vector256.Load(dst + ld + 8);
        var c20 = Vector256.Load(dst + 2 * ld); var c21 = Vector256.Load(dst + 2 * ld + 8);
        var c30 = Vector256.Load(dst + 3 * ld); var c31 = Vector256.Load(dst + 3 * ld + 8);
        var c40 = Vector256.Load(dst + 4 * ld); var c41 = Vector256.Load(dst + 4 * ld + 8);
        var c50 = Vector256.Load(dst + 5 * ld); var c51 = Vector256.Load(dst + 5 * ld + 8);
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var a0 = Vector256.Create(a[0]); c00 = Fmadd(a0, b0, c00); c01 = Fmadd(a0, b1, c01);
            var a1 = Vector256.Create(a[1]); c10 = Fmadd(a1, b0, c10); c11 = Fmadd(a1, b1, c11);
            var a2 = Vector256.Create(a[2]); c20 = Fmadd(a2, b0, c20); c21 = Fmadd(a2, b1, c21);
            var a3 = Vector256.Create(a[3]); c30 = Fmadd(a3, b0, c30); c31 = Fmadd(a3, b1, c31);
            var a4 = Vector256.Create(a[4]); c40 = Fmadd(a4, b0, c40); c41 = Fmadd(a4, b1, c41);
            var a5 = Vector256.Create(a[5]); c50 = Fmadd(a5, b0, c50); c51 = Fmadd(a5, b1, c51);
            a += mr;
            b += NR;
        }
        if (relu)
        {
            var z = Vector256<float>.Zero;
            c00 = Vector256.Max(c00, z); c01 = Vector256.Max(c01, z); c10 = Vector256.Max(c10, z); c11 = Vector256.Max(c11, z);
            c20 = Vector256.Max(c20, z); c21 = Vector256.Max(c21, z); c30 = Vector256.Max(c30, z); c31 = Vector256.Max(c31, z);
            c40 = Vector256.Max(c40, z); c41 = Vector256.Max(c41, z); c50 = Vector256.Max(c50, z); c51 = Vector256.Max(c51, z);
        }
        c00.Store(dst); c01.Store(dst + 8);
        c10.Store(dst + ld); c11.Store(dst + ld + 8);
        c20.Store(dst + 2 * ld); c21.Store(dst + 2 * ld + 8);
        c30.Store(dst + 3 * ld); c31.Store(dst + 3 * ld + 8);
        c40.Store(dst + 4 * ld); c41.Store(dst + 4 * ld + 8);
        c50.Store(dst + 5 * ld); c51.Store(dst + 5 * ld + 8);
        if (!full)
            for (int i = 0; i < mValid; i++)
                for (int j = 0; j < nValid; j++) c[(long)i * ldc + j] = tile[i * NR + j];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel12x16(int kc, float* a, float* b, float* c, int ldc, int mValid, int nValid, bool relu)
    {
        const int mr = 12;
        float* tile = stackalloc float[mr * NR];
        bool full = mValid == mr && nValid == NR;
        float* dst = full ? c : tile;
        long ld = full ? ldc : NR;
        if (!full)
        {
            new Span<float>(tile, mr * NR).Clear();
            for (int i = 0; i < mValid; i++)
                for (int j = 0; j < nValid; j++) tile[i * NR + j] = c[(long)i * ldc + j];
        }
        var c0 = Vector512.Load(dst); var c1 = Vector512.Load(dst + ld); var c2 = Vector512.Load(dst + 2 * ld);
        var c3 = Vector512.Load(dst + 3 * ld); var c4 = Vector512.Load(dst + 4 * ld); var c5 = Vector512.Load(dst + 5 * ld);
        var c6 = Vector512.Load(dst + 6 * ld); var c7 = Vector512.Load(dst + 7 * ld); var c8 = Vector512.Load(dst + 8 * ld);
        var c9 = Vector512.Load(dst + 9 * ld); var c10 = Vector512.Load(dst + 10 * ld); var c11 = Vector512.Load(dst + 11 * ld);
        for (int k = 0; k < kc; k++)
        {
            var bv = Vector512.Load(b);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), bv, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[1]), bv, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2]), bv, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[3]), bv, c3);
            c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[4]), bv, c4);
            c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[5]), bv, c5);
            c6 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[6]), bv, c6);
            c7 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[7]), bv, c7);
            c8 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[8]), bv, c8);
            c9 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[9]), bv, c9);
            c10 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[10]), bv, c10);
            c11 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[11]), bv, c11);
            a += mr;
            b += NR;
        }
        if (relu)
        {
            var z = Vector512<float>.Zero;
            c0 = Vector512.Max(c0, z); c1 = Vector512.Max(c1, z); c2 = Vector512.Max(c2, z); c3 = Vector512.Max(c3, z);
            c4 = Vector512.Max(c4, z); c5 = Vector512.Max(c5, z); c6 = Vector512.Max(c6, z); c7 = Vector512.Max(c7, z);
            c8 = Vector512.Max(c8, z); c9 = Vector512.Max(c9, z); c10 = Vector512.Max(c10, z); c11 = Vector512.Max(c11, z);
        }
        c0.Store(dst); c1.Store(dst + ld); c2.Store(dst + 2 * ld); c3.Store(dst + 3 * ld);
        c4.Store(dst + 4 * ld); c5.Store(dst + 5 * ld); c6.Store(dst + 6 * ld); c7.Store(dst + 7 * ld);
        c8.Store(dst + 8 * ld); c9.Store(dst + 9 * ld); c10.Store(dst + 10 * ld); c11.Store(dst + 11 * ld);
        if (!full)
            for (int i = 0; i < mValid; i++)
                for (int j = 0; j < nValid; j++) c[(long)i * ldc + j] = tile[i * NR + j];
    }

    /// <summary>
    /// Packs rows [m0, m0+MR) × columns [k0, k0+kc) of op(A) into one A panel, scaled by <paramref name="alpha"/>.
    /// A is row-major with leading dimension <paramref name="lda"/>; with <paramref name="transA"/> op(A) = Aᵀ.
    /// Rows at or beyond <paramref name="m"/> are zero.
    /// </summary>
    public static void PackA(float* a, long lda, bool transA, int m, int m0, int k0, int kc, float alpha, float* dst)
    {
        int mr = MR;
        int rows = Math.Min(mr, m - m0);
        for (int k = 0; k < kc; k++)
        {
            float* d = dst + (long)k * mr;
            int r = 0;
            if (!transA)
                for (; r < rows; r++) d[r] = alpha * a[(long)(m0 + r) * lda + k0 + k];
            else
                for (; r < rows; r++) d[r] = alpha * a[(long)(k0 + k) * lda + m0 + r];
            for (; r < mr; r++) d[r] = 0;
        }
    }

    /// <summary>
    /// Packs rows [k0, k0+kc) × columns [n0, n0+NR) of op(B) into one B panel. B is row-major with leading
    /// dimension <paramref name="ldb"/>; with <paramref name="transB"/> op(B) = Bᵀ (B stored [N, K], as a
    /// torch.nn.Linear weight). Columns at or beyond <paramref name="n"/> are zero.
    /// </summary>
    public static void PackB(float* b, long ldb, bool transB, int n, int n0, int k0, int kc, float* dst)
    {
        int cols = Math.Min(NR, n - n0);
        if (!transB)
        {
            for (int k = 0; k < kc; k++)
            {
                float* d = dst + (long)k * NR;
                float* s = b + (long)(k0 + k) * ldb + n0;
                if (cols == NR) Vector512.Store(Vector512.Load(s), d);
                else
                {
                    int c = 0;
                    for (; c < cols; c++) d[c] = s[c];
                    for (; c < NR; c++) d[c] = 0;
                }
            }
        }
        else
        {
            for (int c = 0; c < NR; c++)
            {
                if (c >= cols)
                {
                    for (int k = 0; k < kc; k++) dst[(long)k * NR + c] = 0;
                    continue;
                }
                float* s = b + (long)(n0 + c) * ldb + k0;
                for (int k = 0; k < kc; k++) dst[(long)k * NR + c] = s[k];
            }
        }
    }

    /// <summary>Splits K into blocks of at most <paramref name="maxKc"/> of nearly equal size; returns the block length.</summary>
    public static int BlockK(int k, int maxKc)
    {
        int blocks = Math.Max(1, (k + maxKc - 1) / maxKc);
        return (k + blocks - 1) / blocks;
    }
}
