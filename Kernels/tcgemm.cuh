// tcgemm.cuh: the tensor-core GEMM main loop shared by the FP16 and INT8 3x3 convolutions
// (implicit GEMM) and the FP16 / INT8 classifier GEMM. One template, three A-operand modes:
//
//   VGG_A_PLAIN         A[m][k] row-major with row length K (the classifier's activations).
//   VGG_A_CONV3X3       implicit im2col of a 3x3, stride 1, pad 1 convolution of an NHWC input
//                       [batch][H][W][C]: row m = (n, oh, ow), column k = (r*3 + s)*C + c.
//   VGG_A_CONV3X3_POOL  as VGG_A_CONV3X3, but rows are ordered m = 4*window + q with window =
//                       (n, ph, pw) of the following 2x2/2 max-pool and q = 2*dy + dx its position;
//                       the epilogue takes the max of each group of 4 rows and writes the pooled
//                       row, so the un-pooled activation never reaches memory. Rows of an odd last
//                       row/column (not in any window, floor mode) are not computed.
//
// B is always the weight matrix [N][K] with K contiguous (conv weights in KRSC order: [out][r][s][c],
// PyTorch's OIHW permuted at load; classifier weights as PyTorch stores them, [out][in]), which is
// the "col" operand of mma.sync directly: no transpose anywhere.
//
// Requirements (checked by the launchers): C and K multiples of one 16-byte chunk (8 halves /
// 16 int8), N even for vectorized stores (odd N falls back to scalar stores in the same kernel).
//
// Tiling: block tile BM x BN, k-tile 64 bytes (32 halves or 64 int8: two mma k-steps), warps WM x WN
// each owning a (BM/WM) x (BN/WN) warp tile of 16x8 mma tiles, STAGES-deep cp.async pipeline in
// dynamic shared memory. Shared rows are padded from 64 to 80 bytes so that the 8 row addresses of
// each ldmatrix phase fall in 8 different 16-byte bank groups (80/16 = 5, coprime with 8): no bank
// conflicts. Split-K (gridDim.z > 1) writes raw accumulators to a workspace [z][M][N] and
// splitk.cu's epilogue kernels finish them.
#pragma once
#include "common.cuh"

#define VGG_A_PLAIN 0
#define VGG_A_CONV3X3 1
#define VGG_A_CONV3X3_POOL 2

template <typename T> struct VggTcTraits;
template <> struct VggTcTraits<vgg_half> { typedef float Acc; };
template <> struct VggTcTraits<vgg_i8> { typedef int Acc; };

VGG_DEVICE void vgg_mma_tile(float* c, const unsigned* a, const unsigned* b) { vgg_mma_f16(c, a[0], a[1], a[2], a[3], b[0], b[1]); }
VGG_DEVICE void vgg_mma_tile(int* c, const unsigned* a, const unsigned* b) { vgg_mma_s8(c, a[0], a[1], a[2], a[3], b[0], b[1]); }

// Epilogue value of one accumulator for the FP16 path: acc + bias, ReLU. Returned as float.
VGG_DEVICE float vgg_tc_epilogue(float acc, const void* bias, const float* /*scale*/, int col, int relu, int /*out_mode*/) {
    float v = acc + static_cast<const float*>(bias)[col];
    return relu ? fmaxf(v, 0.0f) : v;
}

// Epilogue value for the INT8 path: acc + bias (int32), then requantized to an int8 code (out_mode 0,
// returned as a float holding the integer) or dequantized to float (out_mode 1).
VGG_DEVICE float vgg_tc_epilogue(int acc, const void* bias, const float* scale, int col, int relu, int out_mode) {
    int a = acc + static_cast<const int*>(bias)[col];
    return out_mode ? vgg_dequantize_acc(a, scale[col], relu) : (float)vgg_requantize(a, scale[col], relu);
}

// Stores two adjacent output values (columns col, col+1 of row `row`) in the output's type.
// out_mode 1 = float32 output for both paths; 0 = f16 (FP16 path) or int8 (INT8 path).
template <typename T>
VGG_DEVICE void vgg_tc_store2(void* out, int row, int col, int N, float v0, float v1, int out_mode) {
    vgg_i64 idx = (vgg_i64)row * N + col;
    bool two = col + 1 < N;
    if (out_mode) {
        float* o = static_cast<float*>(out) + idx;
        if (two && (N & 1) == 0) { *reinterpret_cast<float2*>(o) = make_float2(v0, v1); }
        else { o[0] = v0; if (two) o[1] = v1; }
    } else if (sizeof(T) == 2) {
        vgg_half* o = static_cast<vgg_half*>(out) + idx;
        if (two && (N & 1) == 0) { *reinterpret_cast<unsigned*>(o) = vgg_pack_h2(v0, v1); }
        else { o[0] = vgg_f2h(v0); if (two) o[1] = vgg_f2h(v1); }
    } else {
        vgg_i8* o = static_cast<vgg_i8*>(out) + idx;
        int q0 = (int)v0, q1 = (int)v1;
        if (two && (N & 1) == 0) { *reinterpret_cast<unsigned short*>(o) = (unsigned short)((q0 & 0xFF) | ((q1 & 0xFF) << 8)); }
        else { o[0] = (vgg_i8)q0; if (two) o[1] = (vgg_i8)q1; }
    }
}

template <typename T, int BM, int BN, int WM, int WN, int STAGES, int AMODE>
VGG_DEVICE void vgg_tc_gemm(const T* __restrict__ A, const T* __restrict__ B, const void* __restrict__ bias, const float* __restrict__ scale,
                            void* __restrict__ out, void* __restrict__ ws,
                            int M, int N, int K, int H, int W, int C, int PH, int PW,
                            int relu, int out_mode, int ktiles_per_split) {
    typedef typename VggTcTraits<T>::Acc Acc;
    constexpr int THREADS = WM * WN * 32;
    constexpr int BKB = 64;                  // k-tile, bytes
    constexpr int ROWB = BKB + 16;           // padded shared row pitch, bytes
    constexpr int VEC = 16 / (int)sizeof(T); // elements per 16-byte chunk
    constexpr int BK = BKB / (int)sizeof(T); // elements per k-tile
    constexpr int WTM = BM / WM, WTN = BN / WN;
    constexpr int MT = WTM / 16, NT = WTN / 8;
    constexpr int ROWS_PER_PASS = THREADS / 4; // 4 chunks of 16 bytes per 64-byte row
    constexpr int A_CHUNKS = BM / ROWS_PER_PASS;
    constexpr int B_CHUNKS = BN / ROWS_PER_PASS;
    constexpr int A_BYTES = BM * ROWB;
    constexpr int STAGE_BYTES = (BM + BN) * ROWB;
    static_assert(BM % ROWS_PER_PASS == 0 && BN % ROWS_PER_PASS == 0, "tile rows must be a multiple of THREADS/4");
    static_assert(NT % 2 == 0, "B fragments are loaded two n-tiles at a time");

    extern __shared__ __align__(16) unsigned char vgg_smem[];
    const unsigned smem = vgg_smem_addr(vgg_smem);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN, wn = warp % WN;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int ktiles = (K + BK - 1) / BK;
    const int kt_begin = blockIdx.z * ktiles_per_split;
    const int kt_end = min(ktiles, kt_begin + ktiles_per_split);

    // ---- loader state: this thread copies chunk cc of rows (tid/4 + i*ROWS_PER_PASS).
    const int cc = tid & 3;
    const int lrow = tid >> 2;
    int a_off[A_CHUNKS];   // element offset of the row's pixel (conv) or row (plain); -1 when m >= M
    int a_oh[A_CHUNKS], a_ow[A_CHUNKS];
#pragma unroll
    for (int i = 0; i < A_CHUNKS; ++i) {
        int m = m0 + lrow + i * ROWS_PER_PASS;
        a_off[i] = -1; a_oh[i] = 0; a_ow[i] = 0;
        if (m < M) {
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
    int kk = kt_begin * BK + cc * VEC;   // this thread's k index in the current tile
    int kr = 0, ks = 0, kc = 0;           // conv: kk = (kr*3 + ks)*C + kc
    if (AMODE != VGG_A_PLAIN) {
        int rs = kk / C; kc = kk - rs * C; kr = rs / 3; ks = rs - kr * 3;
    }

    auto load_tile = [&](int stage) {
        const unsigned sA = smem + stage * STAGE_BYTES;
        const unsigned sB = sA + A_BYTES;
#pragma unroll
        for (int i = 0; i < A_CHUNKS; ++i) {
            const T* src = A;
            int bytes = 0;
            if (AMODE == VGG_A_PLAIN) {
                if (a_off[i] >= 0 && kk < K) { src = A + a_off[i] + kk; bytes = 16; }
            } else {
                int ih = a_oh[i] + kr - 1, iw = a_ow[i] + ks - 1;
                if (a_off[i] >= 0 && kr < 3 && (unsigned)ih < (unsigned)H && (unsigned)iw < (unsigned)W) {
                    src = A + a_off[i] + ((kr - 1) * W + (ks - 1)) * C + kc;
                    bytes = 16;
                }
            }
            vgg_cp_async16(sA + (lrow + i * ROWS_PER_PASS) * ROWB + cc * 16, src, bytes);
        }
#pragma unroll
        for (int j = 0; j < B_CHUNKS; ++j) {
            int n = n0 + lrow + j * ROWS_PER_PASS;
            const T* src = B;
            int bytes = 0;
            if (n < N && kk < K) { src = B + n * K + kk; bytes = 16; }
            vgg_cp_async16(sB + (lrow + j * ROWS_PER_PASS) * ROWB + cc * 16, src, bytes);
        }
        // advance to the next k-tile
        kk += BK;
        if (AMODE != VGG_A_PLAIN) {
            kc += BK;
            while (kc >= C) { kc -= C; if (++ks == 3) { ks = 0; ++kr; } }
        }
    };

    Acc acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0;

    // ---- prologue: STAGES-1 tiles in flight
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (kt_begin + s < kt_end) load_tile(s);
        vgg_cp_async_commit();
    }

    int read_stage = 0, write_stage = STAGES - 1;
    for (int kt = kt_begin; kt < kt_end; ++kt) {
        vgg_cp_async_wait<STAGES - 2>();
        __syncthreads();   // tile kt visible to all warps; every warp is done with tile kt-1's stage
        if (kt + STAGES - 1 < kt_end) load_tile(write_stage);
        vgg_cp_async_commit();

        const unsigned sA = smem + read_stage * STAGE_BYTES;
        const unsigned sB = sA + A_BYTES;
#pragma unroll
        for (int k16 = 0; k16 < BKB / 32; ++k16) {
            unsigned af[MT][4], bf[NT][2];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                int row = wm * WTM + mt * 16 + (lane & 15);
                vgg_ldmatrix_x4(af[mt][0], af[mt][1], af[mt][2], af[mt][3], sA + row * ROWB + k16 * 32 + (lane >> 4) * 16);
            }
#pragma unroll
            for (int nt = 0; nt < NT; nt += 2) {
                int row = wn * WTN + nt * 8 + (lane >> 4) * 8 + (lane & 7);
                vgg_ldmatrix_x4(bf[nt][0], bf[nt][1], bf[nt + 1][0], bf[nt + 1][1], sB + row * ROWB + k16 * 32 + ((lane >> 3) & 1) * 16);
            }
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) vgg_mma_tile(acc[mt][nt], af[mt], bf[nt]);
        }
        read_stage = (read_stage + 1 == STAGES) ? 0 : read_stage + 1;
        write_stage = (write_stage + 1 == STAGES) ? 0 : write_stage + 1;
    }
    vgg_cp_async_wait<0>();

    // ---- epilogue
    const int g = lane >> 2, t4 = lane & 3;
    if (gridDim.z > 1) {
        // split-K: raw accumulators to the workspace; splitk.cu finishes bias, activation, pool, store.
        Acc* w = static_cast<Acc*>(ws) + (vgg_i64)blockIdx.z * M * N;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                int row = m0 + wm * WTM + mt * 16 + g + h * 8;
                if (row >= M) continue;
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) {
                    int col = n0 + wn * WTN + nt * 8 + t4 * 2;
                    if (col < N) w[(vgg_i64)row * N + col] = acc[mt][nt][2 * h];
                    if (col + 1 < N) w[(vgg_i64)row * N + col + 1] = acc[mt][nt][2 * h + 1];
                }
            }
        return;
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            int row = m0 + wm * WTM + mt * 16 + g + h * 8;
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
                int col = n0 + wn * WTN + nt * 8 + t4 * 2;
                float v0 = 0.0f, v1 = 0.0f;
                if (col < N) v0 = vgg_tc_epilogue(acc[mt][nt][2 * h], bias, scale, col, relu, out_mode);
                if (col + 1 < N) v1 = vgg_tc_epilogue(acc[mt][nt][2 * h + 1], bias, scale, col + 1, relu, out_mode);
                if (AMODE == VGG_A_CONV3X3_POOL) {
                    // rows g, g^1, g^2, g^3 of a window sit in lanes lane^4, lane^8, lane^12
                    v0 = fmaxf(v0, __shfl_xor_sync(0xffffffffu, v0, 4));
                    v1 = fmaxf(v1, __shfl_xor_sync(0xffffffffu, v1, 4));
                    v0 = fmaxf(v0, __shfl_xor_sync(0xffffffffu, v0, 8));
                    v1 = fmaxf(v1, __shfl_xor_sync(0xffffffffu, v1, 8));
                    if ((g & 3) == 0 && row < M && col < N) vgg_tc_store2<T>(out, row >> 2, col, N, v0, v1, out_mode);
                } else {
                    if (row < M && col < N) vgg_tc_store2<T>(out, row, col, N, v0, v1, out_mode);
                }
            }
        }
}

// Dynamic shared memory of one block of a tile configuration (the launchers use the same formula).
#define VGG_TC_SMEM_BYTES(BM, BN, STAGES) ((STAGES) * ((BM) + (BN)) * 80)
