// Copies n floats through shared memory in tiles of 4·blockDim floats with cp.async double buffering
// (16-byte copies, the tail zero-filled through src-size), scaling each element by s on the way out.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(s), "l"(gmem), "r"(src_bytes));
}
extern "C" __global__ void copy_cp_async(const float* __restrict__ in, float* __restrict__ out, int n, float scale) {
  extern __shared__ __align__(16) float buf[];           // 2 stages × 4·blockDim floats
  const int tile = 4 * blockDim.x;
  const int tiles = (n + tile - 1) / tile;
  int stage = 0;
  auto issue = [&](int t, int st) {
    int e = t * tile + 4 * threadIdx.x;
    int rem = n - e;
    int bytes = rem >= 4 ? 16 : (rem > 0 ? rem * 4 : 0);
    cp_async16(&buf[st * tile + 4 * threadIdx.x], in + (bytes > 0 ? e : 0), bytes);
    asm volatile("cp.async.commit_group;\n" ::);
  };
  issue(blockIdx.x, 0);
  for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
    int next = t + gridDim.x;
    if (next < tiles) { issue(next, stage ^ 1); asm volatile("cp.async.wait_group 1;\n" ::); }
    else asm volatile("cp.async.wait_group 0;\n" ::);
    __syncthreads();
    for (int k = 0; k < 4; ++k) {
      int i = t * tile + threadIdx.x + k * blockDim.x;
      if (i < n) out[i] = buf[stage * tile + threadIdx.x + k * blockDim.x] * scale;
    }
    __syncthreads();
    stage ^= 1;
  }
}
