// One warp per 16×8 output tile: A (M×K, f16 row-major) and B (K×N, f16 row-major) staged in shared
// memory, fragments loaded with ldmatrix (.x4 for A, .x2.trans for B), mma.sync m16n8k16 f16·f16+f32.
// M % 16 == 0, N % 8 == 0, K % 16 == 0. Block = 32·(tiles per block) threads.
__device__ __forceinline__ unsigned smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }
extern "C" __global__ void hgemm_mma(const unsigned short* __restrict__ A, const unsigned short* __restrict__ B, float* __restrict__ C, int M, int N, int K) {
  __shared__ __align__(16) unsigned short As[4][16 * 16];
  __shared__ __align__(16) unsigned short Bs[4][16 * 8];
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int tile = blockIdx.x * (blockDim.x >> 5) + warp;
  int tilesN = N / 8;
  if (tile >= (M / 16) * tilesN) return;           // whole warps only
  int tm = tile / tilesN, tn = tile % tilesN;
  float c0 = 0.f, c1 = 0.f, c2 = 0.f, c3 = 0.f;
  for (int k0 = 0; k0 < K; k0 += 16) {
    for (int e = lane; e < 256; e += 32) As[warp][e] = A[(tm * 16 + e / 16) * K + k0 + e % 16];
    for (int e = lane; e < 128; e += 32) Bs[warp][e] = B[(k0 + e / 8) * N + tn * 8 + e % 8];
    __syncwarp();
    unsigned a0, a1, a2, a3, b0, b1;
    // A: lanes 0-15 address rows 0-15 at column 0, lanes 16-31 rows 0-15 at column 8.
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(a0), "=r"(a1), "=r"(a2), "=r"(a3) : "r"(smem_addr(&As[warp][(lane % 16) * 16 + (lane / 16) * 8])));
    // B (k-major rows of 8): lanes 0-15 address k rows 0-15; .trans gives the col-major fragment.
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(b0), "=r"(b1) : "r"(smem_addr(&Bs[warp][(lane % 16) * 8])));
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    __syncwarp();
  }
  int g = lane >> 2, t = lane & 3;
  float* Ct = C + (tm * 16) * N + tn * 8;
  Ct[g * N + 2 * t] = c0; Ct[g * N + 2 * t + 1] = c1;
  Ct[(g + 8) * N + 2 * t] = c2; Ct[(g + 8) * N + 2 * t + 1] = c3;
}
