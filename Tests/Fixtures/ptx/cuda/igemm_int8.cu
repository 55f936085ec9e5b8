// INT8 GEMM two ways: (1) one warp per 16×8 tile with mma.sync m16n8k32 s8·s8+s32, fragments built
// from global memory by the documented layout; (2) dp4a, one output per thread. A: M×K row-major,
// B: K×N stored transposed as N×K row-major (so 4 consecutive k are one 32-bit word). K % 32 == 0.
// dp4a is inline PTX: without the toolkit headers NVRTC leaves __dp4a an unresolved extern call.
__device__ __forceinline__ int dp4a_s32(int a, int b, int c) {
  int d;
  asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}
extern "C" __global__ void igemm_mma(const signed char* __restrict__ A, const signed char* __restrict__ Bt, int* __restrict__ C, int M, int N, int K) {
  int lane = threadIdx.x & 31;
  int tile = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  int tilesN = N / 8;
  if (tile >= (M / 16) * tilesN) return;
  int tm = tile / tilesN, tn = tile % tilesN, g = lane >> 2, t = lane & 3;
  int c[4] = {0, 0, 0, 0};
  for (int k0 = 0; k0 < K; k0 += 32) {
    const int* a_lo = (const int*)(A + (tm * 16 + g) * K + k0);
    const int* a_hi = (const int*)(A + (tm * 16 + g + 8) * K + k0);
    const int* b = (const int*)(Bt + (tn * 8 + g) * K + k0);
    int a0 = a_lo[t], a1 = a_hi[t], a2 = a_lo[t + 4], a3 = a_hi[t + 4];
    int b0 = b[t], b1 = b[t + 4];
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3]) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
  int* Ct = C + (tm * 16) * N + tn * 8;
  Ct[g * N + 2 * t] = c[0]; Ct[g * N + 2 * t + 1] = c[1];
  Ct[(g + 8) * N + 2 * t] = c[2]; Ct[(g + 8) * N + 2 * t + 1] = c[3];
}
extern "C" __global__ void igemm_dp4a(const signed char* __restrict__ A, const signed char* __restrict__ Bt, int* __restrict__ C, int M, int N, int K) {
  int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y;
  if (row >= M || col >= N) return;
  const int* a = (const int*)(A + row * K);
  const int* b = (const int*)(Bt + col * K);
  int acc = 0;
  for (int k = 0; k < K / 4; ++k) acc = dp4a_s32(a[k], b[k], acc);
  C[row * N + col] = acc;
}
