// pool.cu: pooling over NHWC activations (the ones not fused into a convolution's epilogue).
//
// Variants (one thread per output element, channels fastest so a warp's loads and stores are
// contiguous; block 256, grid-stride loop):
//   vgg_maxpool_nhwc_{f32,f16,i8}      torch.nn.MaxPool2d / ONNX MaxPool: kernel (kh, kw), stride,
//                                      padding (top, left; bottom/right are implied by the output size
//                                      the host computes, floor or ceil mode), dilation. Padding never
//                                      wins: only in-bounds taps are compared (PyTorch behaviour). Every
//                                      window has at least one in-bounds tap (PyTorch requires
//                                      pad <= kernel/2 and drops ceil-mode windows that start in the
//                                      end padding; the host computes the output size by that rule).
//                                      int8: the max of codes (max commutes with the monotonic dequantization).
//   vgg_adaptive_avgpool_nhwc_{f32,f16,i8}
//                                      torch.nn.AdaptiveAvgPool2d((OH, OW)): bin i along an axis of
//                                      length L covers [floor(i*L/O), ceil((i+1)*L/O)). Global average
//                                      pooling is OH = OW = 1. f32/f16: sum in f32 in row-major tap
//                                      order, divided by the tap count. int8 (same scale in and out):
//                                      the exact rational mean rounded half to even,
//                                      q = floor(sum/count) adjusted by the remainder (integer only).
#include "common.cuh"

template <typename T>
VGG_DEVICE void vgg_maxpool(const T* __restrict__ x, T* __restrict__ y, int N, int H, int W, int C, int OH, int OW,
                            int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw) {
    const vgg_i64 total = (vgg_i64)N * OH * OW * C;
    for (vgg_i64 o = blockIdx.x * (vgg_i64)blockDim.x + threadIdx.x; o < total; o += (vgg_i64)gridDim.x * blockDim.x) {
        int c = (int)(o % C); vgg_i64 t = o / C;
        int ow = (int)(t % OW); t /= OW;
        int oh = (int)(t % OH); int n = (int)(t / OH);
        int h0 = oh * sh - pt, w0 = ow * sw - pl;
        bool any = false;
        float best = 0.0f;
        for (int i = 0; i < kh; ++i) {
            int ih = h0 + i * dh;
            if ((unsigned)ih >= (unsigned)H) continue;
            for (int j = 0; j < kw; ++j) {
                int iw = w0 + j * dw;
                if ((unsigned)iw >= (unsigned)W) continue;
                float v;
                if constexpr (sizeof(T) == 1) v = (float)(int)x[(((vgg_i64)n * H + ih) * W + iw) * C + c];
                else v = vgg_load_f(x + (((vgg_i64)n * H + ih) * W + iw) * C + c);
                best = any ? fmaxf(best, v) : v;
                any = true;
            }
        }
        if constexpr (sizeof(T) == 1) y[o] = (T)(int)best;
        else vgg_store_f(y + o, best);
    }
}

template <typename T>
VGG_DEVICE void vgg_adaptive_avgpool(const T* __restrict__ x, T* __restrict__ y, int N, int H, int W, int C, int OH, int OW) {
    const vgg_i64 total = (vgg_i64)N * OH * OW * C;
    for (vgg_i64 o = blockIdx.x * (vgg_i64)blockDim.x + threadIdx.x; o < total; o += (vgg_i64)gridDim.x * blockDim.x) {
        int c = (int)(o % C); vgg_i64 t = o / C;
        int ow = (int)(t % OW); t /= OW;
        int oh = (int)(t % OH); int n = (int)(t / OH);
        int hs = (oh * H) / OH, he = ((oh + 1) * H + OH - 1) / OH;
        int ws = (ow * W) / OW, we = ((ow + 1) * W + OW - 1) / OW;
        int count = (he - hs) * (we - ws);
        if constexpr (sizeof(T) == 1) {
            int sum = 0;
            for (int ih = hs; ih < he; ++ih)
                for (int iw = ws; iw < we; ++iw) sum += (int)x[(((vgg_i64)n * H + ih) * W + iw) * C + c];
            // round_half_even(sum / count) in integers
            int q = sum / count, r = sum - q * count;
            if (r < 0) { q -= 1; r += count; }     // floor division
            if (2 * r > count || (2 * r == count && (q & 1))) q += 1;
            y[o] = (T)max(-128, min(127, q));
        } else {
            float sum = 0.0f;
            for (int ih = hs; ih < he; ++ih)
                for (int iw = ws; iw < we; ++iw)
                    sum += vgg_load_f(x + (((vgg_i64)n * H + ih) * W + iw) * C + c);
            vgg_store_f(y + o, sum / (float)count);
        }
    }
}

#define VGG_POOL_ENTRIES(SUFFIX, T)                                                                               \
    extern "C" __global__ void __launch_bounds__(256)                                                             \
    vgg_maxpool_nhwc_##SUFFIX(const T* __restrict__ x, T* __restrict__ y, int N, int H, int W, int C, int OH, int OW, \
                              int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw) {                   \
        vgg_maxpool<T>(x, y, N, H, W, C, OH, OW, kh, kw, sh, sw, pt, pl, dh, dw);                                 \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(256)                                                             \
    vgg_adaptive_avgpool_nhwc_##SUFFIX(const T* __restrict__ x, T* __restrict__ y, int N, int H, int W, int C, int OH, int OW) { \
        vgg_adaptive_avgpool<T>(x, y, N, H, W, C, OH, OW);                                                        \
    }

VGG_POOL_ENTRIES(f32, float)
VGG_POOL_ENTRIES(f16, vgg_half)
VGG_POOL_ENTRIES(i8, vgg_i8)
