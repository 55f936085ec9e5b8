// Block reduction: grid-stride partial sums, warp shuffle (down), shared memory across warps, one
// atomicAdd per block, plus the per-block partial written out for an exact check.
extern "C" __global__ void reduce_sum(const float* __restrict__ x, float* __restrict__ partial, float* total, int n) {
  __shared__ float warp_sums[32];
  float s = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) s += x[i];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < (blockDim.x >> 5) ? warp_sums[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) { partial[blockIdx.x] = s; atomicAdd(total, s); }
  }
}
