// conv3x3_f32.cu: 3x3 convolution, stride 1, padding 1, in FP32 (implicit GEMM on the FP32 units).
//
// Layout: input NHWC f32 [batch][H][W][C], C a multiple of 4 (the first layer's 3 channels are padded
// to 4 by convert.cu); weights KRSC f32 [K][3][3][C]; bias f32 [K]; output NHWC f32 [batch][H][W][K]
// (or pooled). Arithmetic: FP32 fused multiply-add in k order (r, s, c) per thread; results differ
// from the CPU backend only by summation order (well inside the 1e-5 relative tolerance).
//
// Variants (tile sizes beside the kernel; all share sgemm.cuh's main loop, 256 threads, 17 KiB /
// 8.5 KiB static shared memory, double-buffered):
//   vgg_conv3x3_bias_relu_f32_128x128        BM=128 x BN=128, 8x8 outputs per thread. Large layers.
//   vgg_conv3x3_bias_relu_f32_64x64          BM=64 x BN=64, 4x4 outputs per thread. Small layers (and
//                                            split-K through gridDim.z with the f32 workspace).
//   ..._pool2_f32_128x128 / _64x64           with the following 2x2/2 max-pool fused in the epilogue.
// Parameters: x, w, bias, y, ws, batch, H, W, C, K, relu, ktiles_per_split (k-tiles of 8).
// Grid: (ceil(M/BM), ceil(K/BN), splits); block 256.
#include "sgemm.cuh"

#define VGG_CONV_F32_PARAMS                                                                        \
    const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,     \
    float* __restrict__ y, float* __restrict__ ws, int batch, int H, int W, int C, int K, int relu, int ktiles_per_split

extern "C" __global__ void __launch_bounds__(256, 2) vgg_conv3x3_bias_relu_f32_128x128(VGG_CONV_F32_PARAMS) {
    vgg_sgemm<128, 128, 8, 8, VGG_A_CONV3X3>(x, w, bias, y, ws, batch * H * W, K, 9 * C, H, W, C, 0, 0, relu, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(256, 2) vgg_conv3x3_bias_relu_f32_64x64(VGG_CONV_F32_PARAMS) {
    vgg_sgemm<64, 64, 4, 4, VGG_A_CONV3X3>(x, w, bias, y, ws, batch * H * W, K, 9 * C, H, W, C, 0, 0, relu, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(256, 2) vgg_conv3x3_bias_relu_pool2_f32_128x128(VGG_CONV_F32_PARAMS) {
    int PH = H / 2, PW = W / 2;
    vgg_sgemm<128, 128, 8, 8, VGG_A_CONV3X3_POOL>(x, w, bias, y, ws, batch * PH * PW * 4, K, 9 * C, H, W, C, PH, PW, relu, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(256, 2) vgg_conv3x3_bias_relu_pool2_f32_64x64(VGG_CONV_F32_PARAMS) {
    int PH = H / 2, PW = W / 2;
    vgg_sgemm<64, 64, 4, 4, VGG_A_CONV3X3_POOL>(x, w, bias, y, ws, batch * PH * PW * 4, K, 9 * C, H, W, C, PH, PW, relu, ktiles_per_split);
}
