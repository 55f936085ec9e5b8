// Compiler-generated math (expf, logf, sqrtf, IEEE division, tanhf, rounding intrinsics) and an
// inclusive warp scan with __shfl_up_sync, one element per thread.
extern "C" __global__ void math_mix(const float* __restrict__ x, float* __restrict__ y, int* __restrict__ r, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float v = x[i];
  y[6 * i + 0] = expf(v);
  y[6 * i + 1] = logf(fabsf(v) + 1e-3f);
  y[6 * i + 2] = sqrtf(fabsf(v));
  y[6 * i + 3] = 1.0f / (v + 3.0f);
  y[6 * i + 4] = tanhf(v);
  y[6 * i + 5] = fmaxf(fminf(v, 0.5f), -0.5f);
  r[4 * i + 0] = __float2int_rn(v * 7.0f);
  r[4 * i + 1] = __float2int_rz(v * 7.0f);
  r[4 * i + 2] = __float2int_rd(v * 7.0f);
  r[4 * i + 3] = __float2int_ru(v * 7.0f);
}
extern "C" __global__ void warp_scan(const int* __restrict__ x, int* __restrict__ y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = i < n ? x[i] : 0;
  int lane = threadIdx.x & 31;
  for (int d = 1; d < 32; d <<= 1) {
    int t = __shfl_up_sync(0xffffffffu, v, d);
    if (lane >= d) v += t;
  }
  if (i < n) y[i] = v;
}
