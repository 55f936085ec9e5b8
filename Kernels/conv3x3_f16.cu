// conv3x3_f16.cu: 3x3 convolution, stride 1, padding 1, on tensor cores in FP16 (the VGG hot path).
//
// Layout: input NHWC f16 [batch][H][W][C], C a multiple of 8 (the first layer's 3 channels are
// padded to 8 by convert.cu); weights KRSC f16 [K][3][3][C] (zero in padded channels); bias f32 [K];
// output NHWC [batch][H][W][K] (or [batch][H/2][W/2][K] for the _pool2 variants), f16, or f32 when
// out_mode = 1. Arithmetic: mma.sync m16n8k16 f16 x f16 with FP32 accumulation; bias and ReLU in FP32;
// one rounding to f16 at the store.
//
// Variants (tile sizes beside the kernel; all share tcgemm.cuh's main loop):
//   vgg_conv3x3_bias_relu_f16_128x128        BM=128 pixels x BN=128 channels, 8 warps (2x4, warp tile
//                                            64x32), 3-stage cp.async pipeline, 60 KiB shared. The
//                                            planner's choice when the layer gives at least one full
//                                            wave of 128x128 tiles (large images, batch >= 2 or K >= 128).
//   vgg_conv3x3_bias_relu_f16_64x64          BM=64 x BN=64, 4 warps (2x2, warp tile 32x32), 3 stages,
//                                            30 KiB. For small layers (14x14 and 28x28 at batch 1, K=64)
//                                            where 128x128 tiles would leave most SMs idle; with split-K
//                                            (gridDim.z > 1) when even these are too few.
//   ..._pool2_f16_128x128 / _64x64           the same with the following 2x2/2 max-pool fused into the
//                                            epilogue (rows ordered by pool window; see tcgemm.cuh).
//                                            Picked when the conv's only consumer is a 2x2 stride-2
//                                            max-pool without padding, in floor mode (or ceil mode
//                                            with even H and W, where the two agree).
//
// Parameters: x, w, bias, scale (unused, may be null), y, ws (split-K workspace [z][M][K] f32, or null
// when gridDim.z == 1), batch, H, W, C, K, relu (0/1), out_mode (0: f16, 1: f32), ktiles_per_split.
// Grid: (ceil(M/BM), ceil(K/BN), splits) with M = batch*H*W (or batch*(H/2)*(W/2)*4 pooled);
// block: 256 / 128 threads; dynamic shared memory VGG_TC_SMEM_BYTES(BM, BN, 3).
#include "tcgemm.cuh"

#define VGG_CONV_F16_PARAMS                                                                         \
    const vgg_half* __restrict__ x, const vgg_half* __restrict__ w, const float* __restrict__ bias, \
    const float* __restrict__ scale, void* __restrict__ y, float* __restrict__ ws,                 \
    int batch, int H, int W, int C, int K, int relu, int out_mode, int ktiles_per_split

extern "C" __global__ void __launch_bounds__(256, 2) vgg_conv3x3_bias_relu_f16_128x128(VGG_CONV_F16_PARAMS) {
    vgg_tc_gemm<vgg_half, 128, 128, 2, 4, 3, VGG_A_CONV3X3>(x, w, bias, scale, y, ws, batch * H * W, K, 9 * C, H, W, C, 0, 0,
                                                           relu, out_mode, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(128, 4) vgg_conv3x3_bias_relu_f16_64x64(VGG_CONV_F16_PARAMS) {
    vgg_tc_gemm<vgg_half, 64, 64, 2, 2, 3, VGG_A_CONV3X3>(x, w, bias, scale, y, ws, batch * H * W, K, 9 * C, H, W, C, 0, 0,
                                                         relu, out_mode, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(256, 2) vgg_conv3x3_bias_relu_pool2_f16_128x128(VGG_CONV_F16_PARAMS) {
    int PH = H / 2, PW = W / 2;
    vgg_tc_gemm<vgg_half, 128, 128, 2, 4, 3, VGG_A_CONV3X3_POOL>(x, w, bias, scale, y, ws, batch * PH * PW * 4, K, 9 * C, H, W, C, PH, PW,
                                                                relu, out_mode, ktiles_per_split);
}

extern "C" __global__ void __launch_bounds__(128, 4) vgg_conv3x3_bias_relu_pool2_f16_64x64(VGG_CONV_F16_PARAMS) {
    int PH = H / 2, PW = W / 2;
    vgg_tc_gemm<vgg_half, 64, 64, 2, 2, 3, VGG_A_CONV3X3_POOL>(x, w, bias, scale, y, ws, batch * PH * PW * 4, K, 9 * C, H, W, C, PH, PW,
                                                              relu, out_mode, ktiles_per_split);
}
