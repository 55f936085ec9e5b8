// softmax.cu: softmax and log-softmax over one axis of a float32 tensor viewed as [outer][A][inner]
// (the axis has length A and stride inner; the classifier's [batch][classes] is outer = batch,
// inner = 1). One block of 256 threads per (outer, inner) line: a block-wide max, then the sum of
// exp(x - max), then the outputs exp(x - max) / sum or (x - max) - log(sum): the numerically stable
// forms torch.softmax / torch.log_softmax compute. expf/logf are the accurate CUDA versions (no
// fast-math), within 2 ulp.
// Variants: vgg_softmax_f32, vgg_log_softmax_f32. Parameters: x, y (may alias x), outer, A, inner.
// Grid: outer * inner blocks; block 256.
#include "common.cuh"

VGG_DEVICE float vgg_block_reduce(float v, bool is_max, float* scratch) {
    v = is_max ? vgg_warp_max(v) : vgg_warp_sum(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();                      // scratch may still be read from a previous reduction
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = scratch[0];
    for (int i = 1; i < warps; ++i) r = is_max ? fmaxf(r, scratch[i]) : r + scratch[i];
    return r;
}

template <bool LOG>
VGG_DEVICE void vgg_softmax(const float* __restrict__ x, float* __restrict__ y, int outer, int A, int inner) {
    __shared__ float scratch[32];
    const int line = blockIdx.x;
    const int o = line / inner, i = line % inner;
    const vgg_i64 base = (vgg_i64)o * A * inner + i;
    float m = 0.0f;
    bool any = false;
    for (int a = threadIdx.x; a < A; a += blockDim.x) {
        float v = x[base + (vgg_i64)a * inner];
        m = any ? fmaxf(m, v) : v;
        any = true;
    }
    if (!any) m = x[base];                // A < blockDim: idle threads contribute a real element
    m = vgg_block_reduce(m, true, scratch);
    float s = 0.0f;
    for (int a = threadIdx.x; a < A; a += blockDim.x) s += expf(x[base + (vgg_i64)a * inner] - m);
    s = vgg_block_reduce(s, false, scratch);
    const float ls = logf(s);
    for (int a = threadIdx.x; a < A; a += blockDim.x) {
        float d = x[base + (vgg_i64)a * inner] - m;
        y[base + (vgg_i64)a * inner] = LOG ? d - ls : expf(d) / s;
    }
}

extern "C" __global__ void __launch_bounds__(256) vgg_softmax_f32(const float* x, float* y, int outer, int A, int inner) {
    vgg_softmax<false>(x, y, outer, A, inner);
}

extern "C" __global__ void __launch_bounds__(256) vgg_log_softmax_f32(const float* x, float* y, int outer, int A, int inner) {
    vgg_softmax<true>(x, y, outer, A, inner);
}
