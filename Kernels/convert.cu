// convert.cu: layout and precision conversions between the engine's tensors and the kernels' layouts.
//
// Variants (one thread per output element, grid-stride; block 256):
//   vgg_nchw_f32_to_nhwc_{f32,f16,i8}(x, y, N, C, H, W, Cpad, scale)
//        float32 NCHW [N][C][H][W] -> NHWC [N][H][W][Cpad] of the kernel's type, channels c >= C zero
//        (padding for the 16-byte-vector convolutions: Cpad = 4 for f32, 8 for f16, 16 for int8 when
//        C = 3). f16: round to nearest even. i8: quantize with the per-tensor scale,
//        clamp(round_half_even(x / scale), -128, 127) (ONNX QuantizeLinear, zero point 0). Used for
//        the network input.
//   vgg_nhwc_{f32,f16,i8}_to_nchw_f32(x, y, N, C, H, W, Cpad, scale)
//        NHWC [N][H][W][Cpad] -> float32 NCHW [N][C][H][W], dropping padded channels; f16 exactly,
//        i8 dequantized as code * scale. Used for graph outputs (features-only mode) and for CPU
//        fallbacks.
//   vgg_nhwc_to_nchw_b{1,2,4}(x, y, N, C, H, W, Cpad)
//        the same permutation without conversion, by element size: before Flatten, so the classifier
//        sees PyTorch's NCHW flatten order with the weights as PyTorch stores them.
//   vgg_convert_f32_to_f16(x, y, n) / vgg_convert_f16_to_f32(x, y, n)
//   vgg_quantize_f32_i8(x, y, n, scale) / vgg_dequantize_i8_f32(x, y, n, scale)   per-tensor scale
//   vgg_quantize_rows_f32_i8(x, y, rows, cols, scales) / vgg_dequantize_rows_i8_f32(x, y, rows, cols, scales)
//        per-row (per-output-channel) scales: weights [K][...] with scales[K]; weight codes use
//        [-127, 127] (symmetric, as the INT8 scheme defines them).
//   vgg_relu_{f32,f16,i8}(x, y, n)   an unfused ReLU (may be in place).
#include "common.cuh"

#define VGG_GRID_STRIDE(i, total) for (vgg_i64 i = blockIdx.x * (vgg_i64)blockDim.x + threadIdx.x; i < (total); i += (vgg_i64)gridDim.x * blockDim.x)

VGG_DEVICE void vgg_put(float* y, vgg_i64 i, float v, float) { y[i] = v; }
VGG_DEVICE void vgg_put(vgg_half* y, vgg_i64 i, float v, float) { y[i] = vgg_f2h(v); }
VGG_DEVICE void vgg_put(vgg_i8* y, vgg_i64 i, float v, float scale) { y[i] = (vgg_i8)vgg_quantize(v, scale); }
VGG_DEVICE float vgg_get(const float* x, vgg_i64 i, float) { return x[i]; }
VGG_DEVICE float vgg_get(const vgg_half* x, vgg_i64 i, float) { return vgg_h2f(x[i]); }
VGG_DEVICE float vgg_get(const vgg_i8* x, vgg_i64 i, float scale) { return (float)(int)x[i] * scale; }

template <typename T>
VGG_DEVICE void vgg_nchw_to_nhwc(const float* __restrict__ x, T* __restrict__ y, int N, int C, int H, int W, int Cpad, float scale) {
    const vgg_i64 total = (vgg_i64)N * H * W * Cpad;
    VGG_GRID_STRIDE(o, total) {
        int c = (int)(o % Cpad); vgg_i64 t = o / Cpad;
        int w = (int)(t % W); t /= W;
        int h = (int)(t % H); int n = (int)(t / H);
        float v = c < C ? x[(((vgg_i64)n * C + c) * H + h) * W + w] : 0.0f;
        vgg_put(y, o, v, scale);
    }
}

template <typename T>
VGG_DEVICE void vgg_nhwc_to_nchw_f32(const T* __restrict__ x, float* __restrict__ y, int N, int C, int H, int W, int Cpad, float scale) {
    const vgg_i64 total = (vgg_i64)N * C * H * W;
    VGG_GRID_STRIDE(o, total) {
        int w = (int)(o % W); vgg_i64 t = o / W;
        int h = (int)(t % H); t /= H;
        int c = (int)(t % C); int n = (int)(t / C);
        y[o] = vgg_get(x, (((vgg_i64)n * H + h) * W + w) * Cpad + c, scale);
    }
}

template <typename T>
VGG_DEVICE void vgg_nhwc_to_nchw_same(const T* __restrict__ x, T* __restrict__ y, int N, int C, int H, int W, int Cpad) {
    const vgg_i64 total = (vgg_i64)N * C * H * W;
    VGG_GRID_STRIDE(o, total) {
        int w = (int)(o % W); vgg_i64 t = o / W;
        int h = (int)(t % H); t /= H;
        int c = (int)(t % C); int n = (int)(t / C);
        y[o] = x[(((vgg_i64)n * H + h) * W + w) * Cpad + c];
    }
}

#define VGG_LAYOUT_ENTRIES(SUFFIX, T)                                                                                   \
    extern "C" __global__ void __launch_bounds__(256)                                                                   \
    vgg_nchw_f32_to_nhwc_##SUFFIX(const float* __restrict__ x, T* __restrict__ y, int N, int C, int H, int W, int Cpad, float scale) { \
        vgg_nchw_to_nhwc<T>(x, y, N, C, H, W, Cpad, scale);                                                             \
    }                                                                                                                   \
    extern "C" __global__ void __launch_bounds__(256)                                                                   \
    vgg_nhwc_##SUFFIX##_to_nchw_f32(const T* __restrict__ x, float* __restrict__ y, int N, int C, int H, int W, int Cpad, float scale) { \
        vgg_nhwc_to_nchw_f32<T>(x, y, N, C, H, W, Cpad, scale);                                                         \
    }

VGG_LAYOUT_ENTRIES(f32, float)
VGG_LAYOUT_ENTRIES(f16, vgg_half)
VGG_LAYOUT_ENTRIES(i8, vgg_i8)

#define VGG_PERMUTE_ENTRY(SUFFIX, T)                                                                                    \
    extern "C" __global__ void __launch_bounds__(256)                                                                   \
    vgg_nhwc_to_nchw_##SUFFIX(const T* __restrict__ x, T* __restrict__ y, int N, int C, int H, int W, int Cpad) {      \
        vgg_nhwc_to_nchw_same<T>(x, y, N, C, H, W, Cpad);                                                               \
    }

VGG_PERMUTE_ENTRY(b1, unsigned char)
VGG_PERMUTE_ENTRY(b2, unsigned short)
VGG_PERMUTE_ENTRY(b4, unsigned int)

extern "C" __global__ void __launch_bounds__(256) vgg_convert_f32_to_f16(const float* __restrict__ x, vgg_half* __restrict__ y, vgg_i64 n) {
    VGG_GRID_STRIDE(i, n) y[i] = vgg_f2h(x[i]);
}

extern "C" __global__ void __launch_bounds__(256) vgg_convert_f16_to_f32(const vgg_half* __restrict__ x, float* __restrict__ y, vgg_i64 n) {
    VGG_GRID_STRIDE(i, n) y[i] = vgg_h2f(x[i]);
}

extern "C" __global__ void __launch_bounds__(256) vgg_quantize_f32_i8(const float* __restrict__ x, vgg_i8* __restrict__ y, vgg_i64 n, float scale) {
    VGG_GRID_STRIDE(i, n) y[i] = (vgg_i8)vgg_quantize(x[i], scale);
}

extern "C" __global__ void __launch_bounds__(256) vgg_dequantize_i8_f32(const vgg_i8* __restrict__ x, float* __restrict__ y, vgg_i64 n, float scale) {
    VGG_GRID_STRIDE(i, n) y[i] = (float)(int)x[i] * scale;
}

extern "C" __global__ void __launch_bounds__(256)
vgg_quantize_rows_f32_i8(const float* __restrict__ x, vgg_i8* __restrict__ y, int rows, int cols, const float* __restrict__ scales) {
    VGG_GRID_STRIDE(i, (vgg_i64)rows * cols) {
        int r = (int)(i / cols);
        y[i] = (vgg_i8)vgg_clamp_to_int(vgg_rint(x[i] / scales[r]), -127.0f, 127.0f);
    }
}

extern "C" __global__ void __launch_bounds__(256)
vgg_dequantize_rows_i8_f32(const vgg_i8* __restrict__ x, float* __restrict__ y, int rows, int cols, const float* __restrict__ scales) {
    VGG_GRID_STRIDE(i, (vgg_i64)rows * cols) y[i] = (float)(int)x[i] * scales[i / cols];
}

extern "C" __global__ void __launch_bounds__(256) vgg_relu_f32(const float* x, float* y, vgg_i64 n) {
    VGG_GRID_STRIDE(i, n) y[i] = fmaxf(x[i], 0.0f);
}

extern "C" __global__ void __launch_bounds__(256) vgg_relu_f16(const vgg_half* x, vgg_half* y, vgg_i64 n) {
    // max(h, +0) on the bits: negative halves (sign bit set, not NaN) become +0.
    VGG_GRID_STRIDE(i, n) { vgg_half h = x[i]; y[i] = (h & 0x8000u) && (h & 0x7FFFu) <= 0x7C00u ? (vgg_half)0 : h; }
}

extern "C" __global__ void __launch_bounds__(256) vgg_relu_i8(const vgg_i8* x, vgg_i8* y, vgg_i64 n) {
    VGG_GRID_STRIDE(i, n) y[i] = x[i] < 0 ? (vgg_i8)0 : x[i];
}
