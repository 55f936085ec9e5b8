// conv3x3_i8.cu: 3x3 convolution, stride 1, padding 1, on tensor cores in INT8.
//
// Layout: input NHWC int8 [batch][H][W][C], C a multiple of 16 (the first layer's channels are padded
// by convert.cu); weights KRSC int8 [K][3][3][C]; bias int32 [K] in accumulator units
// (round_half_even(b / (s_x * s_w[k]))); scale f32 [K]: the requantization multiplier
// s_x * s_w[k] / s_y (out_mode 0) or the dequantization factor s_x * s_w[k] (out_mode 1).
// Output NHWC int8 codes (out_mode 0) or f32 (out_mode 1), [batch][H][W][K] or pooled.
// Arithmetic: mma.sync m16n8k32 s8 x s8 with int32 accumulation (exact), then the epilogue of
// common.cuh (vgg_requantize / vgg_dequantize_acc): float32(acc + bias) * scale, round half to even,
// saturate to [-128, 127], ReLU as max(q, 0). Engine/Cuda/Reference/Int8Reference.cs computes the same
// bits on the CPU; the GPU tests and the PTX simulator compare against it exactly.
//
// Variants (same tiles as conv3x3_f16.cu; a 64-byte k-tile holds 64 int8, i.e. two m16n8k32 steps):
//   vgg_conv3x3_bias_relu_i8_128x128        BM=128 x BN=128, 8 warps, 3 stages, 60 KiB shared: large layers.
//   vgg_conv3x3_bias_relu_i8_64x64          BM=64 x BN=64, 4 warps, 3 stages, 30 KiB: small layers, split-K.
//   ..._pool2_i8_128x128 / _64x64           with the following 2x2/2 max-pool fused (requantization is
//                                           monotonic, so max of codes = code of the max).
// Parameters, grid and block: as conv3x3_f16.cu, with ws an int32 workspace.
#include "tcgemm.cuh"

#define VGG_CONV_I8_PARAMS                                                                          \
    const vgg_i8* __restrict__ x, const vgg_i8* __restrict__ w, const int* __restrict__ bias,       \
    const float* __restrict__ scale, void* __restrict__ y, int* __restrict__ ws,                    \
    int batch, int H, int W, int C, int K, int relu, int out_mode, int ktiles_per_split

extern "C" __global__ void __launch_bounds__(256, 2) vgg_conv3x3_bias_relu_i8_128x128(VGG_CONV_I8_PARAMS) {
    vgg_tc_gemm<vgg_i8, 128, 128, 2, 4, 3, VGG_A_CONV3X3>(x, w, bias, scale, y, ws, batch * H * W, K, 9 * C, H, W, C, 0, 0,
                                                         relu, out_mode, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(128, 4) vgg_conv3x3_bias_relu_i8_64x64(VGG_CONV_I8_PARAMS) {
    vgg_tc_gemm<vgg_i8, 64, 64, 2, 2, 3, VGG_A_CONV3X3>(x, w, bias, scale, y, ws, batch * H * W, K, 9 * C, H, W, C, 0, 0,
                                                       relu, out_mode, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(256, 2) vgg_conv3x3_bias_relu_pool2_i8_128x128(VGG_CONV_I8_PARAMS) {
    int PH = H / 2, PW = W / 2;
    vgg_tc_gemm<vgg_i8, 128, 128, 2, 4, 3, VGG_A_CONV3X3_POOL>(x, w, bias, scale, y, ws, batch * PH * PW * 4, K, 9 * C, H, W, C, PH, PW,
                                                              relu, out_mode, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(128, 4) vgg_conv3x3_bias_relu_pool2_i8_64x64(VGG_CONV_I8_PARAMS) {
    int PH = H / 2, PW = W / 2;
    vgg_tc_gemm<vgg_i8, 64, 64, 2, 2, 3, VGG_A_CONV3X3_POOL>(x, w, bias, scale, y, ws, batch * PH * PW * 4, K, 9 * C, H, W, C, PH, PW,
                                                            relu, out_mode, ktiles_per_split);
}
