// conv_general.cu: the slower, general paths that make every VGG-style net run: a direct convolution
// with any kernel size, stride, padding, dilation and groups, and a naive GEMM for classifier shapes
// the tiled kernels do not take (K not a multiple of 16 bytes). Correctness first: one thread per
// output element, fp32 (f32, f16) or int32 (i8) accumulation in (r, s, c) order, the same epilogues
// as the fast kernels.
//
// Variants:
//   vgg_conv_general_{f32,f16,i8}(x, w, bias, scale, y, N, H, W, C, K, R, S, OH, OW, sh, sw, pt, pl, dh, dw, groups, relu, out_mode)
//        x NHWC [N][H][W][C]; w [K][R][S][C/groups]; y NHWC [N][OH][OW][K]; output channel k reads input
//        channels of group k / (K/groups). pt/pl: top/left padding (bottom/right are implied by OH/OW).
//        bias: f32 [K] (f32, f16), int32 [K] (i8); scale: i8 only (see conv3x3_i8.cu); out_mode as there.
//   vgg_gemm_naive_{f32,f16,i8}(x, w, bias, scale, y, M, N, K, relu, out_mode)
//        Y[M][N] = act(X[M][K] . W[N][K]^T + b), any sizes.
// Block 256; grid-stride over outputs (channels fastest).
#include "common.cuh"

VGG_DEVICE float vgg_to_acc(float v) { return v; }
VGG_DEVICE float vgg_to_acc(vgg_half v) { return vgg_h2f(v); }
VGG_DEVICE int vgg_to_acc(vgg_i8 v) { return (int)v; }

// Epilogue + store for each path.
VGG_DEVICE void vgg_general_store(float* y, vgg_i64 i, float acc, const float* bias, const float*, int k, int relu, int) {
    float v = acc + bias[k];
    y[i] = relu ? fmaxf(v, 0.0f) : v;
}
VGG_DEVICE void vgg_general_store(vgg_half* y, vgg_i64 i, float acc, const float* bias, const float*, int k, int relu, int out_mode) {
    float v = acc + bias[k];
    if (relu) v = fmaxf(v, 0.0f);
    if (out_mode) reinterpret_cast<float*>(y)[i] = v;
    else y[i] = vgg_f2h(v);
}
VGG_DEVICE void vgg_general_store(vgg_i8* y, vgg_i64 i, int acc, const int* bias, const float* scale, int k, int relu, int out_mode) {
    int a = acc + bias[k];
    if (out_mode) reinterpret_cast<float*>(y)[i] = vgg_dequantize_acc(a, scale[k], relu);
    else y[i] = (vgg_i8)vgg_requantize(a, scale[k], relu);
}

template <typename T, typename ACC, typename BIAS>
VGG_DEVICE void vgg_conv_general(const T* __restrict__ x, const T* __restrict__ w, const BIAS* __restrict__ bias, const float* __restrict__ scale,
                                 T* __restrict__ y, int N, int H, int W, int C, int K, int R, int S, int OH, int OW,
                                 int sh, int sw, int pt, int pl, int dh, int dw, int groups, int relu, int out_mode) {
    const int Cg = C / groups, Kg = K / groups;
    const vgg_i64 total = (vgg_i64)N * OH * OW * K;
    for (vgg_i64 o = blockIdx.x * (vgg_i64)blockDim.x + threadIdx.x; o < total; o += (vgg_i64)gridDim.x * blockDim.x) {
        int k = (int)(o % K); vgg_i64 t = o / K;
        int ow = (int)(t % OW); t /= OW;
        int oh = (int)(t % OH); int n = (int)(t / OH);
        const int c0 = (k / Kg) * Cg;
        ACC acc = 0;
        for (int r = 0; r < R; ++r) {
            int ih = oh * sh - pt + r * dh;
            if ((unsigned)ih >= (unsigned)H) continue;
            for (int s = 0; s < S; ++s) {
                int iw = ow * sw - pl + s * dw;
                if ((unsigned)iw >= (unsigned)W) continue;
                const T* xp = x + (((vgg_i64)n * H + ih) * W + iw) * C + c0;
                const T* wp = w + (((vgg_i64)k * R + r) * S + s) * Cg;
                for (int c = 0; c < Cg; ++c) acc += vgg_to_acc(xp[c]) * vgg_to_acc(wp[c]);
            }
        }
        vgg_general_store(y, o, acc, bias, scale, k, relu, out_mode);
    }
}

template <typename T, typename ACC, typename BIAS>
VGG_DEVICE void vgg_gemm_naive(const T* __restrict__ x, const T* __restrict__ w, const BIAS* __restrict__ bias, const float* __restrict__ scale,
                               T* __restrict__ y, int M, int N, int K, int relu, int out_mode) {
    const vgg_i64 total = (vgg_i64)M * N;
    for (vgg_i64 o = blockIdx.x * (vgg_i64)blockDim.x + threadIdx.x; o < total; o += (vgg_i64)gridDim.x * blockDim.x) {
        int n = (int)(o % N), m = (int)(o / N);
        const T* xp = x + (vgg_i64)m * K;
        const T* wp = w + (vgg_i64)n * K;
        ACC acc = 0;
        for (int k = 0; k < K; ++k) acc += vgg_to_acc(xp[k]) * vgg_to_acc(wp[k]);
        vgg_general_store(y, o, acc, bias, scale, n, relu, out_mode);
    }
}

#define VGG_GENERAL_ENTRIES(SUFFIX, T, ACC, BIAS)                                                                        \
    extern "C" __global__ void __launch_bounds__(256)                                                                    \
    vgg_conv_general_##SUFFIX(const T* __restrict__ x, const T* __restrict__ w, const BIAS* __restrict__ bias,           \
                              const float* __restrict__ scale, T* __restrict__ y, int N, int H, int W, int C, int K,     \
                              int R, int S, int OH, int OW, int sh, int sw, int pt, int pl, int dh, int dw, int groups,  \
                              int relu, int out_mode) {                                                                  \
        vgg_conv_general<T, ACC, BIAS>(x, w, bias, scale, y, N, H, W, C, K, R, S, OH, OW, sh, sw, pt, pl, dh, dw, groups, relu, out_mode); \
    }                                                                                                                    \
    extern "C" __global__ void __launch_bounds__(256)                                                                    \
    vgg_gemm_naive_##SUFFIX(const T* __restrict__ x, const T* __restrict__ w, const BIAS* __restrict__ bias,             \
                            const float* __restrict__ scale, T* __restrict__ y, int M, int N, int K, int relu, int out_mode) { \
        vgg_gemm_naive<T, ACC, BIAS>(x, w, bias, scale, y, M, N, K, relu, out_mode);                                    \
    }

VGG_GENERAL_ENTRIES(f32, float, float, float)
VGG_GENERAL_ENTRIES(f16, vgg_half, float, float)
VGG_GENERAL_ENTRIES(i8, vgg_i8, int, int)
