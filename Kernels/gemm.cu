// gemm.cu: the classifier's fully connected layers as a GEMM with a fused bias + ReLU epilogue,
// Y[M][N] = act(X[M][K] . W[N][K]^T + b), M = batch, N = out_features, K = in_features. W is exactly
// PyTorch's Linear.weight layout [out][in]. Used for batches above the GEMV's (gemv.cu) range.
//
// Variants (main loops: sgemm.cuh for FP32, tcgemm.cuh for FP16 and INT8):
//   vgg_gemm_bias_relu_f32_128x128 / _64x64   FP32 FFMA. K a multiple of 4.
//   vgg_gemm_bias_relu_f16_128x128 / _64x64   FP16 mma.sync m16n8k16, FP32 accumulate; bias f32; output
//                                             f16 (out_mode 0) or f32 (out_mode 1, the logits). K % 8 == 0.
//   vgg_gemm_bias_relu_i8_128x128 / _64x64    INT8 mma.sync m16n8k32, int32 accumulate; bias int32 and
//                                             per-output scale as in conv3x3_i8.cu; int8 codes (out_mode 0)
//                                             or dequantized f32 (out_mode 1). K % 16 == 0.
// The planner takes 64x64 for M <= 64 (one tile row) and 128x128 above, and sets split-K so that the
// grid covers the SMs about twice (fc6 at batch 64: 64 column tiles x 4 splits); with splits > 1 the
// raw accumulators go to ws [splits][M][N] and splitk.cu finishes them.
// Grid: (ceil(M/BM), ceil(N/BN), splits); block 256 (128x128) or 128 (64x64; 256 for f32).
#include "tcgemm.cuh"
#include "sgemm.cuh"

extern "C" __global__ void __launch_bounds__(256, 2)
vgg_gemm_bias_relu_f32_128x128(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
                               float* __restrict__ y, float* __restrict__ ws, int M, int N, int K, int relu, int ktiles_per_split) {
    vgg_sgemm<128, 128, 8, 8, VGG_A_PLAIN>(x, w, bias, y, ws, M, N, K, 0, 0, 0, 0, 0, relu, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(256, 2)
vgg_gemm_bias_relu_f32_64x64(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
                             float* __restrict__ y, float* __restrict__ ws, int M, int N, int K, int relu, int ktiles_per_split) {
    vgg_sgemm<64, 64, 4, 4, VGG_A_PLAIN>(x, w, bias, y, ws, M, N, K, 0, 0, 0, 0, 0, relu, ktiles_per_split);
}

#define VGG_GEMM_TC_PARAMS(T, BIAS_T)                                                                  \
    const T* __restrict__ x, const T* __restrict__ w, const BIAS_T* __restrict__ bias,                 \
    const float* __restrict__ scale, void* __restrict__ y, void* __restrict__ ws,                      \
    int M, int N, int K, int relu, int out_mode, int ktiles_per_split

extern "C" __global__ void __launch_bounds__(256, 2) vgg_gemm_bias_relu_f16_128x128(VGG_GEMM_TC_PARAMS(vgg_half, float)) {
    vgg_tc_gemm<vgg_half, 128, 128, 2, 4, 3, VGG_A_PLAIN>(x, w, bias, scale, y, ws, M, N, K, 0, 0, 0, 0, 0, relu, out_mode, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(128, 4) vgg_gemm_bias_relu_f16_64x64(VGG_GEMM_TC_PARAMS(vgg_half, float)) {
    vgg_tc_gemm<vgg_half, 64, 64, 2, 2, 3, VGG_A_PLAIN>(x, w, bias, scale, y, ws, M, N, K, 0, 0, 0, 0, 0, relu, out_mode, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(256, 2) vgg_gemm_bias_relu_i8_128x128(VGG_GEMM_TC_PARAMS(vgg_i8, int)) {
    vgg_tc_gemm<vgg_i8, 128, 128, 2, 4, 3, VGG_A_PLAIN>(x, w, bias, scale, y, ws, M, N, K, 0, 0, 0, 0, 0, relu, out_mode, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(128, 4) vgg_gemm_bias_relu_i8_64x64(VGG_GEMM_TC_PARAMS(vgg_i8, int)) {
    vgg_tc_gemm<vgg_i8, 64, 64, 2, 2, 3, VGG_A_PLAIN>(x, w, bias, scale, y, ws, M, N, K, 0, 0, 0, 0, 0, relu, out_mode, ktiles_per_split);
}
