// common.cuh: the engine's own device helpers. Kernels include no toolkit header (no cuda_fp16.h,
// no cuda_runtime.h), so they compile wherever NVRTC is; what they need from the toolkit is written
// here with inline PTX. Every PTX instruction used is named with its PTX ISA section so the PTX
// simulator (issue 6) and a reader can check its semantics.
//
// Conventions shared by every kernel:
//  - Activations are NHWC (channels innermost) on the GPU; the conversion kernels in convert.cu move
//    between the engine's NCHW float32 tensors and this layout, padding channels where a kernel needs
//    16-byte vectors (see each kernel's header).
//  - half is stored as its 16 raw bits (vgg_half = unsigned short); two halves in one 32-bit word are
//    "half2" with the lower-indexed element in the low 16 bits (the mma fragment order).
//  - int8 activations and weights are symmetric (zero point 0). The INT8 epilogue is defined in
//    vgg_requantize() below and reproduced bit-exactly by Engine/Cuda/Reference/Int8Reference.cs.
//  - Offsets are 32-bit: every tensor a kernel touches holds fewer than 2^31 elements (the launchers
//    check this and split the batch otherwise).
#pragma once

typedef unsigned short vgg_half;
typedef signed char vgg_i8;
typedef long long vgg_i64;   // 64-bit on every host (plain long is 32-bit on Windows)

#define VGG_DEVICE __device__ __forceinline__

// ---------------------------------------------------------------- conversions (PTX ISA 9.7.9.21 cvt)

// float32 -> float16, round to nearest even (cvt.rn.f16.f32). Same as System.Half's explicit conversion.
VGG_DEVICE vgg_half vgg_f2h(float f) {
    vgg_half h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// float16 -> float32, exact (cvt.f32.f16).
VGG_DEVICE float vgg_h2f(vgg_half h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

// Two floats -> half2 word: lo in bits 0..15, hi in bits 16..31 (mov.b32 packs {lo, hi}).
VGG_DEVICE unsigned vgg_pack_h2(float lo, float hi) {
    unsigned r;
    asm("{\n\t.reg .f16 l, h;\n\t"
        "cvt.rn.f16.f32 l, %1;\n\t"
        "cvt.rn.f16.f32 h, %2;\n\t"
        "mov.b32 %0, {l, h};\n\t}"
        : "=r"(r) : "f"(lo), "f"(hi));
    return r;
}

VGG_DEVICE float vgg_h2_lo(unsigned w) { return vgg_h2f((vgg_half)(w & 0xFFFFu)); }
VGG_DEVICE float vgg_h2_hi(unsigned w) { return vgg_h2f((vgg_half)(w >> 16)); }

// Round to nearest integer, ties to even (cvt.rni.f32.f32), as a float.
VGG_DEVICE float vgg_rint(float f) {
    float r;
    asm("cvt.rni.f32.f32 %0, %1;" : "=f"(r) : "f"(f));
    return r;
}

// int32 -> float32, round to nearest even (cvt.rn.f32.s32).
VGG_DEVICE float vgg_i2f(int i) {
    float f;
    asm("cvt.rn.f32.s32 %0, %1;" : "=f"(f) : "r"(i));
    return f;
}

// Saturating clamp of an integral float into [lo, hi] followed by an exact conversion to int.
VGG_DEVICE int vgg_clamp_to_int(float integral, float lo, float hi) {
    float c = fminf(fmaxf(integral, lo), hi);
    int r;
    asm("cvt.rzi.s32.f32 %0, %1;" : "=r"(r) : "f"(c));
    return r;
}

// ------------------------------------------------------------------ quantization (see INT8 scheme)

// float -> int8 with a per-tensor scale s: clamp(round_half_even(x / s), -128, 127). This is ONNX
// QuantizeLinear with zero point 0 (division, not multiplication by 1/s, as the spec writes it).
VGG_DEVICE int vgg_quantize(float x, float scale) {
    return vgg_clamp_to_int(vgg_rint(x / scale), -128.0f, 127.0f);
}

// The INT8 epilogue: int32 accumulator (bias already added) times the float32 multiplier
// m = s_x * s_w[k] / s_y, rounded half-to-even and saturated to int8; ReLU as max(q, 0).
// One IEEE multiply, then rint: no FMA contraction is possible, so the CPU reference
// ((float)acc * m, MathF.Round ToEven, clamp) gives the same bits.
VGG_DEVICE int vgg_requantize(int acc, float multiplier, int relu) {
    float v = vgg_i2f(acc) * multiplier;
    int q = vgg_clamp_to_int(vgg_rint(v), -128.0f, 127.0f);
    return relu ? max(q, 0) : q;
}

// The dequantizing epilogue: float32(acc) * d with d = s_x * s_w[k]; ReLU on the float.
VGG_DEVICE float vgg_dequantize_acc(int acc, float d, int relu) {
    float v = vgg_i2f(acc) * d;
    return relu ? fmaxf(v, 0.0f) : v;
}

// ------------------------------------------------------- integer dot product (PTX ISA 9.7.1.23 dp4a)

// c + sum_{i<4} a.byte[i] * b.byte[i], bytes signed.
VGG_DEVICE int vgg_dp4a(int a, int b, int c) {
    int d;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// ------------------------------------------------------------ shared memory addressing and copies

// Generic -> shared-window address (cvta.to.shared, PTX ISA 9.7.9.16), as the 32-bit value
// ldmatrix and cp.async take.
VGG_DEVICE unsigned vgg_smem_addr(const void* p) {
    unsigned r;
    asm("{\n\t.reg .u64 t;\n\tcvta.to.shared.u64 t, %1;\n\tcvt.u32.u64 %0, t;\n\t}" : "=r"(r) : "l"(p));
    return r;
}

// 16-byte asynchronous global -> shared copy, bypassing L1 (cp.async.cg, PTX ISA 9.7.9.25.3.1).
// src_bytes < 16 zero-fills the rest; 0 writes 16 zero bytes and reads nothing (used for padding
// and out-of-range rows; src must still be a valid address, so callers pass the tensor base).
VGG_DEVICE void vgg_cp_async16(unsigned smem_dst, const void* gmem_src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(smem_dst), "l"(gmem_src), "r"(src_bytes) : "memory");
}

VGG_DEVICE void vgg_cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }

// Waits until at most N committed groups are still in flight (cp.async.wait_group, PTX ISA 9.7.9.25.3.3).
template <int N>
VGG_DEVICE void vgg_cp_async_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }

// ------------------------------------------------------------------------- warp-level matrix ops

// Four 8x8 b16 matrices from shared memory (ldmatrix.sync.aligned.m8n8.x4.shared.b16, PTX ISA
// 9.7.14.5.15). Lanes 8i..8i+7 give the row addresses of matrix i; thread t receives, in register i,
// row t/4, elements 2*(t%4) and 2*(t%4)+1 of matrix i. For int8 data the same bytes are four int8
// per register: row t/4, bytes 4*(t%4)..4*(t%4)+3, which is the m16n8k32 .s8 fragment order.
VGG_DEVICE void vgg_ldmatrix_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, unsigned smem_row_addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(smem_row_addr));
}

// D = A*B + C, A 16x16 f16 (row), B 16x8 f16 (col), C/D f32 (mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32,
// PTX ISA 9.7.14.5.8). Fragments (groupID g = lane/4, t = lane%4):
//   a0: A[g][2t..2t+1]  a1: A[g+8][2t..]  a2: A[g][2t+8..]  a3: A[g+8][2t+8..]
//   b0: B[2t..2t+1][g]  b1: B[2t+8..][g]
//   c0,c1: C[g][2t], C[g][2t+1]  c2,c3: C[g+8][2t], C[g+8][2t+1]
VGG_DEVICE void vgg_mma_f16(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// D = A*B + C, A 16x32 s8 (row), B 32x8 s8 (col), C/D s32 (mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32,
// PTX ISA 9.7.14.5.8). Fragments: a0: A[g][4t..4t+3]  a1: A[g+8][4t..]  a2: A[g][4t+16..]  a3: A[g+8][4t+16..]
//   b0: B[4t..4t+3][g]  b1: B[4t+16..][g]; c as for f16. Integer arithmetic: exact (wrapping on overflow,
// which the K bounds of VGG layers cannot reach: 4608 * 127 * 128 < 2^31).
VGG_DEVICE void vgg_mma_s8(int* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// ------------------------------------------------------------------------------ warp reductions

VGG_DEVICE float vgg_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

VGG_DEVICE int vgg_warp_sum_i(int v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

VGG_DEVICE float vgg_warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// -------------------------------------------------------------------- element type traits (I/O)

// Load/store one element of each activation type as float (f32, f16) or as an int8 code.
VGG_DEVICE float vgg_load_f(const float* p) { return *p; }
VGG_DEVICE float vgg_load_f(const vgg_half* p) { return vgg_h2f(*p); }
VGG_DEVICE void vgg_store_f(float* p, float v) { *p = v; }
VGG_DEVICE void vgg_store_f(vgg_half* p, float v) { *p = vgg_f2h(v); }

VGG_DEVICE unsigned vgg_ceil_div(unsigned a, unsigned b) { return (a + b - 1) / b; }
