using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// Sixteen float lanes: one channel block of the NCHWc16 layout. Kernels that work a block at a time
/// (Winograd transforms, epilogues, pooling, layout changes) are written once, generic over this
/// interface, and the JIT specializes them per implementation: <see cref="V512"/> (one zmm),
/// <see cref="V256"/> (two ymm) and <see cref="V128"/> (four xmm / NEON q, or software elsewhere).
/// </summary>
internal unsafe interface IVec16<T> where T : struct, IVec16<T>
{
    static abstract T Load(float* p);
    static abstract void Store(float* p, T v);
    static abstract T Zero { get; }
    static abstract T Splat(float x);
    static abstract T operator +(T a, T b);
    static abstract T operator -(T a, T b);
    static abstract T operator *(T a, T b);
    /// <summary>a·b + c with one rounding.</summary>
    static abstract T Fma(T a, T b, T c);
    static abstract T Max(T a, T b);
}

internal unsafe struct V512 : IVec16<V512>
{
    public Vector512<float> V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public V512(Vector512<float> v) { V = v; }
    public static V512 Load(float* p) => new(Vector512.Load(p));
    public static void Store(float* p, V512 v) => v.V.Store(p);
    public static V512 Zero => new(Vector512<float>.Zero);
    public static V512 Splat(float x) => new(Vector512.Create(x));
    public static V512 operator +(V512 a, V512 b) => new(a.V + b.V);
    public static V512 operator -(V512 a, V512 b) => new(a.V - b.V);
    public static V512 operator *(V512 a, V512 b) => new(a.V * b.V);
    public static V512 Fma(V512 a, V512 b, V512 c) => new(Vector512.FusedMultiplyAdd(a.V, b.V, c.V));
    public static V512 Max(V512 a, V512 b) => new(Vector512.Max(a.V, b.V));
}

internal unsafe struct V256 : IVec16<V256>
{
    public Vector256<float> A, B;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public V256(Vector256<float> a, Vector256<float> b) { A = a; B = b; }
    public static V256 Load(float* p) => new(Vector256.Load(p), Vector256.Load(p + 8));
    public static void Store(float* p, V256 v) { v.A.Store(p); v.B.Store(p + 8); }
    public static V256 Zero => new(Vector256<float>.Zero, Vector256<float>.Zero);
    public static V256 Splat(float x) { var v = Vector256.Create(x); return new(v, v); }
    public static V256 operator +(V256 a, V256 b) => new(a.A + b.A, a.B + b.B);
    public static V256 operator -(V256 a, V256 b) => new(a.A - b.A, a.B - b.B);
    public static V256 operator *(V256 a, V256 b) => new(a.A * b.A, a.B * b.B);
    public static V256 Fma(V256 a, V256 b, V256 c) => new(Vector256.FusedMultiplyAdd(a.A, b.A, c.A), Vector256.FusedMultiplyAdd(a.B, b.B, c.B));
    public static V256 Max(V256 a, V256 b) => new(Vector256.Max(a.A, b.A), Vector256.Max(a.B, b.B));
}

internal unsafe struct V128 : IVec16<V128>
{
    public Vector128<float> A, B, C, D;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public V128(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d) { A = a; B = b; C = c; D = d; }
    public static V128 Load(float* p) => new(Vector128.Load(p), Vector128.Load(p + 4), Vector128.Load(p + 8), Vector128.Load(p + 12));
    public static void Store(float* p, V128 v) { v.A.Store(p); v.B.Store(p + 4); v.C.Store(p + 8); v.D.Store(p + 12); }
    public static V128 Zero => new(Vector128<float>.Zero, Vector128<float>.Zero, Vector128<float>.Zero, Vector128<float>.Zero);
    public static V128 Splat(float x) { var v = Vector128.Create(x); return new(v, v, v, v); }
    public static V128 operator +(V128 a, V128 b) => new(a.A + b.A, a.B + b.B, a.C + b.C, a.D + b.D);
    public static V128 operator -(V128 a, V128 b) => new(a.A - b.A, a.B - b.B, a.C - b.C, a.D - b.D);
    public static V128 operator *(V128 a, V128 b) => new(a.A * b.A, a.B * b.B, a.C * b.C, a.D * b.D);
    public static V128 Fma(V128 a, V128 b, V128 c) => new(
        Vector128.FusedMultiplyAdd(a.A, b.A, c.A), Vector128.FusedMultiplyAdd(a.B, b.B, c.B),
        Vector128.FusedMultiplyAdd(a.C, b.C, c.C), Vector128.FusedMultiplyAdd(a.D, b.D, c.D));
    public static V128 Max(V128 a, V128 b) => new(Vector128.Max(a.A, b.A), Vector128.Max(a.B, b.B), Vector128.Max(a.C, b.C), Vector128.Max(a.D, b.D));
}
