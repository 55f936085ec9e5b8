// sgemm.cuh: the FP32 (SIMT, FFMA) GEMM main loop shared by the FP32 3x3 convolution (implicit GEMM)
// and the FP32 classifier GEMM. The same A-operand modes as tcgemm.cuh (VGG_A_PLAIN, VGG_A_CONV3X3,
// VGG_A_CONV3X3_POOL) and the same operand layouts: A rows with k contiguous (NHWC pixels or
// activation rows), B = weights [N][K] with K contiguous (KRSC conv weights, [out][in] linear weights).
//
// Tiling: block tile BM x BN, k-tile BK = 8, 256 threads in a 16 x 16 grid, each computing TM x TN
// outputs as two (TM = 8) or one (TM = 4) groups of 4 rows and likewise for columns, so that a
// thread's shared-memory reads are float4 and its 4-row groups are whole pool windows. Operands are
// read from global memory as float4 (4 consecutive k) into registers one tile ahead, and stored
// transposed (k-major) into a double-buffered shared tile; one barrier per k-tile. Shared rows are
// padded by 4 floats: the transposing stores of a warp hit 32 different banks.
//
// Requirements: C (conv) and K (plain) multiples of 4 floats. Any M and N.
#pragma once
#include "common.cuh"

#ifndef VGG_A_PLAIN
#define VGG_A_PLAIN 0
#define VGG_A_CONV3X3 1
#define VGG_A_CONV3X3_POOL 2
#endif

template <int BM, int BN, int TM, int TN, int AMODE>
VGG_DEVICE void vgg_sgemm(const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ bias,
                          float* __restrict__ out, float* __restrict__ ws,
                          int M, int N, int K, int H, int W, int C, int PH, int PW, int relu, int ktiles_per_split) {
    constexpr int BK = 8, THREADS = 256;
    constexpr int TX = BN / TN, TY = BM / TM;
    static_assert(TX * TY == THREADS, "256 threads");
    static_assert(TM == 4 || TM == 8, "TM");
    static_assert(TN == 4 || TN == 8, "TN");
    constexpr int A_LD = (BM * 2 + THREADS - 1) / THREADS; // float4 chunks per thread per tile
    constexpr int B_LD = (BN * 2 + THREADS - 1) / THREADS;
    __shared__ __align__(16) float As[2][BK][BM + 4];
    __shared__ __align__(16) float Bs[2][BK][BN + 4];

    const int tid = threadIdx.x;
    const int tx = tid % TX, ty = tid / TX;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int ktiles = (K + BK - 1) / BK;
    const int kt_begin = blockIdx.z * ktiles_per_split;
    const int kt_end = min(ktiles, kt_begin + ktiles_per_split);

    // ---- loader state: chunk q = tid + i*256 covers row q/2, k offset 4*(q%2) of the tile.
    const int khalf = tid & 1;
    int a_off[A_LD], a_oh[A_LD], a_ow[A_LD];
#pragma unroll
    for (int i = 0; i < A_LD; ++i) {
        int row = (tid >> 1) + i * (THREADS / 2);
        int m = m0 + row;
        a_off[i] = -1; a_oh[i] = 0; a_ow[i] = 0;
        if (row < BM && m < M) {
            if (AMODE == VGG_A_PLAIN) {
                a_off[i] = m * K;
            } else {
                int n, oh, ow;
                if (AMODE == VGG_A_CONV3X3) {
                    ow = m % W; int t = m / W; oh = t % H; n = t / H;
                } else {
                    int q = m & 3, win = m >> 2;
                    int pw = win % PW; int t = win / PW; int ph = t % PH; n = t / PH;
                    oh = 2 * ph + (q >> 1); ow = 2 * pw + (q & 1);
                }
                a_off[i] = ((n * H + oh) * W + ow) * C;
                a_oh[i] = oh; a_ow[i] = ow;
            }
        }
    }
    int kk = kt_begin * BK + khalf * 4;
    int kr = 0, ks = 0, kc = 0;
    if (AMODE != VGG_A_PLAIN) {
        int rs = kk / C; kc = kk - rs * C; kr = rs / 3; ks = rs - kr * 3;
    }

    float4 ra[A_LD], rb[B_LD];
    auto load_global = [&]() {
#pragma unroll
        for (int i = 0; i < A_LD; ++i) {
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (AMODE == VGG_A_PLAIN) {
                if (a_off[i] >= 0 && kk < K) v = *reinterpret_cast<const float4*>(A + a_off[i] + kk);
            } else {
                int ih = a_oh[i] + kr - 1, iw = a_ow[i] + ks - 1;
                if (a_off[i] >= 0 && kr < 3 && (unsigned)ih < (unsigned)H && (unsigned)iw < (unsigned)W)
                    v = *reinterpret_cast<const float4*>(A + a_off[i] + ((kr - 1) * W + (ks - 1)) * C + kc);
            }
            ra[i] = v;
        }
#pragma unroll
        for (int j = 0; j < B_LD; ++j) {
            int row = (tid >> 1) + j * (THREADS / 2);
            int n = n0 + row;
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (row < BN && n < N && kk < K) v = *reinterpret_cast<const float4*>(B + (vgg_i64)n * K + kk);
            rb[j] = v;
        }
        kk += BK;
        if (AMODE != VGG_A_PLAIN) {
            kc += BK;
            while (kc >= C) { kc -= C; if (++ks == 3) { ks = 0; ++kr; } }
        }
    };
    auto store_shared = [&](int buf) {
#pragma unroll
        for (int i = 0; i < A_LD; ++i) {
            int row = (tid >> 1) + i * (THREADS / 2);
            if (row < BM) {
                As[buf][khalf * 4 + 0][row] = ra[i].x;
                As[buf][khalf * 4 + 1][row] = ra[i].y;
                As[buf][khalf * 4 + 2][row] = ra[i].z;
                As[buf][khalf * 4 + 3][row] = ra[i].w;
            }
        }
#pragma unroll
        for (int j = 0; j < B_LD; ++j) {
            int row = (tid >> 1) + j * (THREADS / 2);
            if (row < BN) {
                Bs[buf][khalf * 4 + 0][row] = rb[j].x;
                Bs[buf][khalf * 4 + 1][row] = rb[j].y;
                Bs[buf][khalf * 4 + 2][row] = rb[j].z;
                Bs[buf][khalf * 4 + 3][row] = rb[j].w;
            }
        }
    };

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

    int buf = 0;
    if (kt_begin < kt_end) {
        load_global();
        store_shared(0);
    }
    __syncthreads();
    for (int kt = kt_begin; kt < kt_end; ++kt) {
        bool more = kt + 1 < kt_end;
        if (more) load_global();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            float a[TM], b[TN];
            float4 a0 = *reinterpret_cast<const float4*>(&As[buf][k][ty * 4]);
            a[0] = a0.x; a[1] = a0.y; a[2] = a0.z; a[3] = a0.w;
            if (TM == 8) {
                float4 a1 = *reinterpret_cast<const float4*>(&As[buf][k][ty * 4 + BM / 2]);
                a[TM - 4] = a1.x; a[TM - 3] = a1.y; a[TM - 2] = a1.z; a[TM - 1] = a1.w;
            }
            float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][k][tx * 4]);
            b[0] = b0.x; b[1] = b0.y; b[2] = b0.z; b[3] = b0.w;
            if (TN == 8) {
                float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][k][tx * 4 + BN / 2]);
                b[TN - 4] = b1.x; b[TN - 3] = b1.y; b[TN - 2] = b1.z; b[TN - 1] = b1.w;
            }
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        if (more) store_shared(buf ^ 1);
        __syncthreads();
        buf ^= 1;
    }

    // ---- epilogue: rows (4-groups) ty*4 + {0..3} [+ BM/2], columns tx*4 + {0..3} [+ BN/2]
#pragma unroll
    for (int ig = 0; ig < TM / 4; ++ig) {
        int rbase = m0 + ty * 4 + ig * (BM / 2);
#pragma unroll
        for (int jg = 0; jg < TN / 4; ++jg) {
            int cbase = n0 + tx * 4 + jg * (BN / 2);
            if (gridDim.z > 1) {
                float* w = ws + (vgg_i64)blockIdx.z * M * N;
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    int row = rbase + i;
                    if (row >= M) continue;
#pragma unroll
                    for (int j = 0; j < 4; ++j)
                        if (cbase + j < N) w[(vgg_i64)row * N + cbase + j] = acc[ig * 4 + i][jg * 4 + j];
                }
                continue;
            }
            float bj[4];
#pragma unroll
            for (int j = 0; j < 4; ++j) bj[j] = cbase + j < N ? bias[cbase + j] : 0.0f;
            if (AMODE != VGG_A_CONV3X3_POOL) {
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    int row = rbase + i;
                    if (row >= M) continue;
                    float v[4];
#pragma unroll
                    for (int j = 0; j < 4; ++j) {
                        float t = acc[ig * 4 + i][jg * 4 + j] + bj[j];
                        v[j] = relu ? fmaxf(t, 0.0f) : t;
                    }
                    float* o = out + (vgg_i64)row * N + cbase;
                    if ((N & 3) == 0 && cbase + 3 < N) *reinterpret_cast<float4*>(o) = make_float4(v[0], v[1], v[2], v[3]);
                    else
#pragma unroll
                        for (int j = 0; j < 4; ++j) if (cbase + j < N) o[j] = v[j];
                }
                continue;
            }
            float v[4][4];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    float t = acc[ig * 4 + i][jg * 4 + j] + bj[j];
                    v[i][j] = relu ? fmaxf(t, 0.0f) : t;
                }
            {
                if (rbase >= M) continue;   // a window is entirely in or out (M and rbase multiples of 4)
                float p[4];
#pragma unroll
                for (int j = 0; j < 4; ++j) p[j] = fmaxf(fmaxf(v[0][j], v[1][j]), fmaxf(v[2][j], v[3][j]));
                float* o = out + (vgg_i64)(rbase >> 2) * N + cbase;
                if ((N & 3) == 0 && cbase + 3 < N) *reinterpret_cast<float4*>(o) = make_float4(p[0], p[1], p[2], p[3]);
                else
#pragma unroll
                    for (int j = 0; j < 4; ++j) if (cbase + j < N) o[j] = p[j];
            }
        }
    }
}
