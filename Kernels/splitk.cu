// splitk.cu: the epilogue of a split-K GEMM or convolution (tcgemm.cuh / sgemm.cuh launched with
// gridDim.z = splits > 1). Sums the raw partial accumulators ws[z][M][N] over z, then applies exactly
// the epilogue the unsplit kernel would have: bias, ReLU, requantization (INT8), the fused 2x2
// max-pool (pool = 1: rows come in groups of 4 = one window, output row = row / 4) and the store.
// INT8 partial sums are int32 and add exactly, so split-K changes no bit of the INT8 result; FP32
// partial sums change only the summation order.
//
// Variants: vgg_splitk_epilogue_f32 (FP32 path, f32 out), vgg_splitk_epilogue_f16 (FP16 path: f16 out,
// or f32 with out_mode 1), vgg_splitk_epilogue_i8 (INT8 path: int8 codes, or f32 with out_mode 1).
// One thread per output element; grid-stride loop. Block 256; grid ceil(Mout*N/256) capped.
#include "common.cuh"

template <typename ACC>
VGG_DEVICE ACC vgg_splitk_sum(const ACC* __restrict__ ws, int splits, vgg_i64 MN, vgg_i64 idx) {
    ACC s = 0;
    for (int z = 0; z < splits; ++z) s += ws[z * MN + idx];
    return s;
}

extern "C" __global__ void __launch_bounds__(256)
vgg_splitk_epilogue_f32(const float* __restrict__ ws, int splits, int M, int N, const float* __restrict__ bias,
                        float* __restrict__ y, int relu, int pool) {
    const vgg_i64 MN = (vgg_i64)M * N;
    const int Mout = pool ? M / 4 : M;
    const vgg_i64 total = (vgg_i64)Mout * N;
    for (vgg_i64 o = blockIdx.x * (vgg_i64)blockDim.x + threadIdx.x; o < total; o += (vgg_i64)gridDim.x * blockDim.x) {
        int col = (int)(o % N);
        vgg_i64 row = o / N;
        float best = 0.0f;
        for (int q = 0; q < (pool ? 4 : 1); ++q) {
            vgg_i64 r = pool ? row * 4 + q : row;
            float v = vgg_splitk_sum(ws, splits, MN, r * N + col) + bias[col];
            if (relu) v = fmaxf(v, 0.0f);
            best = q == 0 ? v : fmaxf(best, v);
        }
        y[o] = best;
    }
}

extern "C" __global__ void __launch_bounds__(256)
vgg_splitk_epilogue_f16(const float* __restrict__ ws, int splits, int M, int N, const float* __restrict__ bias,
                        void* __restrict__ y, int relu, int out_mode, int pool) {
    const vgg_i64 MN = (vgg_i64)M * N;
    const int Mout = pool ? M / 4 : M;
    const vgg_i64 total = (vgg_i64)Mout * N;
    for (vgg_i64 o = blockIdx.x * (vgg_i64)blockDim.x + threadIdx.x; o < total; o += (vgg_i64)gridDim.x * blockDim.x) {
        int col = (int)(o % N);
        vgg_i64 row = o / N;
        float best = 0.0f;
        for (int q = 0; q < (pool ? 4 : 1); ++q) {
            vgg_i64 r = pool ? row * 4 + q : row;
            float v = vgg_splitk_sum(ws, splits, MN, r * N + col) + bias[col];
            if (relu) v = fmaxf(v, 0.0f);
            best = q == 0 ? v : fmaxf(best, v);
        }
        if (out_mode) static_cast<float*>(y)[o] = best;
        else static_cast<vgg_half*>(y)[o] = vgg_f2h(best);
    }
}

extern "C" __global__ void __launch_bounds__(256)
vgg_splitk_epilogue_i8(const int* __restrict__ ws, int splits, int M, int N, const int* __restrict__ bias,
                       const float* __restrict__ scale, void* __restrict__ y, int relu, int out_mode, int pool) {
    const vgg_i64 MN = (vgg_i64)M * N;
    const int Mout = pool ? M / 4 : M;
    const vgg_i64 total = (vgg_i64)Mout * N;
    for (vgg_i64 o = blockIdx.x * (vgg_i64)blockDim.x + threadIdx.x; o < total; o += (vgg_i64)gridDim.x * blockDim.x) {
        int col = (int)(o % N);
        vgg_i64 row = o / N;
        float best = 0.0f;
        for (int q = 0; q < (pool ? 4 : 1); ++q) {
            vgg_i64 r = pool ? row * 4 + q : row;
            int a = vgg_splitk_sum(ws, splits, MN, r * N + col) + bias[col];
            float v = out_mode ? vgg_dequantize_acc(a, scale[col], relu) : (float)vgg_requantize(a, scale[col], relu);
            best = q == 0 ? v : fmaxf(best, v);
        }
        if (out_mode) static_cast<float*>(y)[o] = best;
        else static_cast<vgg_i8*>(y)[o] = (vgg_i8)(int)best;
    }
}
