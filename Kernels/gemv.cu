// gemv.cu: the classifier at small batch: Y[b][n] = act(sum_k W[n][k] * X[b][k] + bias[n]) for up to
// NB batch rows at once, streaming the weight matrix once at memory bandwidth. fc6 of VGG-16 is
// 4096 x 25088 = 103 M weights (411 MB f32, 205 MB f16, 103 MB int8): at batch 1 the layer is pure
// weight traffic, so the kernel is built around the weight stream:
//   - one warp per output row n, 8 warps per block; each lane reads 16-byte chunks of the row
//     (32 lanes = 512 contiguous bytes per step: fully coalesced), 4 independent chunks (2 at NB = 8) in flight
//     per lane before the first use;
//   - weights are loaded with the streaming cache hint (ld.global.cs, PTX ISA 9.7.9.8): read once,
//     they should not evict the activations from L2;
//   - the NB activation rows are small (<= 8 x 50 KB) and come from L1/L2;
//   - per-lane partial sums, then a shuffle reduction; lane 0 applies the epilogue.
// Arithmetic: f32: FMA in f32. f16: each half converted exactly to f32, FMA in f32 (no f16 products),
// so the result differs from an f32 GEMV on the same f16 values only by summation order. i8: dp4a,
// int32 accumulate (exact), then the INT8 epilogue of common.cuh.
//
// Variants: vgg_gemv_bias_relu_{f32,f16,i8}_nb{1,2,4,8}: NB activation rows per launch (the launcher
// takes the smallest NB >= rows left and loops in chunks of 8). `rows` <= NB is the number of valid
// rows. Requirement: K a multiple of 16 bytes / element size (4 / 8 / 16).
// Parameters: w [N][K], x [rows][K], bias (f32 [N], or int32 [N] for i8), scale (i8 only: f32 [N]),
// y [rows][N] (f32, f16 or int8 codes by out_mode as in gemm.cu), rows, N, K, relu, out_mode.
// Grid: ceil(N/8); block 256.
#include "common.cuh"

VGG_DEVICE uint4 vgg_ld_stream16(const void* p) {
    uint4 v;
    asm volatile("ld.global.cs.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

VGG_DEVICE float vgg_dot16(float acc, uint4 w, uint4 x, float) {   // 4 x f32
    acc = fmaf(__uint_as_float(w.x), __uint_as_float(x.x), acc);
    acc = fmaf(__uint_as_float(w.y), __uint_as_float(x.y), acc);
    acc = fmaf(__uint_as_float(w.z), __uint_as_float(x.z), acc);
    acc = fmaf(__uint_as_float(w.w), __uint_as_float(x.w), acc);
    return acc;
}

VGG_DEVICE float vgg_dot16(float acc, uint4 w, uint4 x, vgg_half) { // 8 x f16
    const unsigned ws[4] = {w.x, w.y, w.z, w.w}, xs[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        acc = fmaf(vgg_h2_lo(ws[i]), vgg_h2_lo(xs[i]), acc);
        acc = fmaf(vgg_h2_hi(ws[i]), vgg_h2_hi(xs[i]), acc);
    }
    return acc;
}

VGG_DEVICE int vgg_dot16(int acc, uint4 w, uint4 x, vgg_i8) {       // 16 x int8
    acc = vgg_dp4a((int)w.x, (int)x.x, acc);
    acc = vgg_dp4a((int)w.y, (int)x.y, acc);
    acc = vgg_dp4a((int)w.z, (int)x.z, acc);
    acc = vgg_dp4a((int)w.w, (int)x.w, acc);
    return acc;
}

VGG_DEVICE void vgg_gemv_store(float acc, const void* bias, const float*, void* y, vgg_i64 idx, int n, int relu, int out_mode, float) {
    float v = acc + static_cast<const float*>(bias)[n];
    if (relu) v = fmaxf(v, 0.0f);
    static_cast<float*>(y)[idx] = v;
}

VGG_DEVICE void vgg_gemv_store(float acc, const void* bias, const float*, void* y, vgg_i64 idx, int n, int relu, int out_mode, vgg_half) {
    float v = acc + static_cast<const float*>(bias)[n];
    if (relu) v = fmaxf(v, 0.0f);
    if (out_mode) static_cast<float*>(y)[idx] = v;
    else static_cast<vgg_half*>(y)[idx] = vgg_f2h(v);
}

VGG_DEVICE void vgg_gemv_store(int acc, const void* bias, const float* scale, void* y, vgg_i64 idx, int n, int relu, int out_mode, vgg_i8) {
    int a = acc + static_cast<const int*>(bias)[n];
    if (out_mode) static_cast<float*>(y)[idx] = vgg_dequantize_acc(a, scale[n], relu);
    else static_cast<vgg_i8*>(y)[idx] = (vgg_i8)vgg_requantize(a, scale[n], relu);
}

template <typename T, typename ACC, int NB>
VGG_DEVICE void vgg_gemv(const T* __restrict__ w, const T* __restrict__ x, const void* __restrict__ bias, const float* __restrict__ scale,
                         void* __restrict__ y, int rows, int N, int K, int relu, int out_mode) {
    constexpr int VEC = 16 / (int)sizeof(T);
    constexpr int UNROLL = NB >= 8 ? 2 : 4;   // NB = 8 keeps 8 accumulators; fewer chunks in flight keeps it under 64 registers
    const int lane = threadIdx.x & 31;
    const int n = blockIdx.x * 8 + (threadIdx.x >> 5);
    if (n >= N) return;   // whole warp leaves together
    const int chunks = K / VEC;
    const T* wrow = w + (vgg_i64)n * K;
    ACC acc[NB];
#pragma unroll
    for (int b = 0; b < NB; ++b) acc[b] = 0;
    for (int base = lane; base < chunks; base += 32 * UNROLL) {
        uint4 wv[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            int c = base + 32 * u;
            wv[u] = c < chunks ? vgg_ld_stream16(wrow + c * VEC) : make_uint4(0u, 0u, 0u, 0u);
        }
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            int c = base + 32 * u;
            if (c >= chunks) break;
#pragma unroll
            for (int b = 0; b < NB; ++b) {
                if (b < rows) {
                    uint4 xv = *reinterpret_cast<const uint4*>(x + (vgg_i64)b * K + c * VEC);
                    acc[b] = vgg_dot16(acc[b], wv[u], xv, T());
                }
            }
        }
    }
#pragma unroll
    for (int b = 0; b < NB; ++b) {
        ACC s = acc[b];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0 && b < rows) vgg_gemv_store(s, bias, scale, y, (vgg_i64)b * N + n, n, relu, out_mode, T());
    }
}

#define VGG_GEMV_ENTRY(NAME, T, ACC, BIAS_T, NB)                                                                    \
    extern "C" __global__ void __launch_bounds__(256, 4)                                                            \
    NAME(const T* __restrict__ w, const T* __restrict__ x, const BIAS_T* __restrict__ bias, const float* __restrict__ scale, \
         void* __restrict__ y, int rows, int N, int K, int relu, int out_mode) {                                     \
        vgg_gemv<T, ACC, NB>(w, x, bias, scale, y, rows, N, K, relu, out_mode);                                      \
    }

VGG_GEMV_ENTRY(vgg_gemv_bias_relu_f32_nb1, float, float, float, 1)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_f32_nb2, float, float, float, 2)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_f32_nb4, float, float, float, 4)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_f32_nb8, float, float, float, 8)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_f16_nb1, vgg_half, float, float, 1)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_f16_nb2, vgg_half, float, float, 2)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_f16_nb4, vgg_half, float, float, 4)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_f16_nb8, vgg_half, float, float, 8)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_i8_nb1, vgg_i8, int, int, 1)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_i8_nb2, vgg_i8, int, int, 2)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_i8_nb4, vgg_i8, int, int, 4)
VGG_GEMV_ENTRY(vgg_gemv_bias_relu_i8_nb8, vgg_i8, int, int, 8)
