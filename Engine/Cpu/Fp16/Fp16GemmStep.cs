using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Vgg.Engine.Cpu.Ops;
using Vgg.Engine.IR;
using Vgg.Engine.Planning;
using Vgg.Engine.Quantization;

namespace Vgg.Engine.Cpu.Fp16;

/// <summary>
/// IEEE binary16 → binary32 widening, exact for every input (normals, subnormals, ±0, ±∞, NaN payloads), vectorized
/// with integer operations (.NET 10 exposes no F16C/vcvtph2ps intrinsic): for h = sign | e | m, the float32 with bits
/// (e | m) &lt;&lt; 13 times 2^112 is the magnitude for finite h (a subnormal h becomes a normal float32; the product is an
/// exact power-of-two scaling); exponent 31 (∞, NaN) keeps its mantissa with the float32 exponent 255; the sign is OR-ed.
/// </summary>
internal static class HalfWidening
{
    private const float Magic = 5.192296858534828e33f; // 2^112

    /// <summary>Widens 16 halves (zero-extended to uint32 lanes) to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen(Vector512<uint> h)
    {
        var em = h & Vector512.Create(0x7FFFu);
        var sign = (h & Vector512.Create(0x8000u)) << 16;
        var finite = (em << 13).AsSingle() * Vector512.Create(Magic);
        var special = ((em << 13) | Vector512.Create(0x7F800000u)).AsSingle();
        var isSpecial = Vector512.GreaterThanOrEqual(em, Vector512.Create(0x7C00u)).AsSingle();
        return (Vector512.ConditionalSelect(isSpecial, special, finite).AsUInt32() | sign).AsSingle();
    }

    /// <summary>Widens 8 halves (zero-extended to uint32 lanes) to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen(Vector256<uint> h)
    {
        var em = h & Vector256.Create(0x7FFFu);
        var sign = (h & Vector256.Create(0x8000u)) << 16;
        var finite = (em << 13).AsSingle() * Vector256.Create(Magic);
        var special = ((em << 13) | Vector256.Create(0x7F800000u)).AsSingle();
        var isSpecial = Vector256.GreaterThanOrEqual(em, Vector256.Create(0x7C00u)).AsSingle();
        return (Vector256.ConditionalSelect(isSpecial, special, finite).AsUInt32() | sign).AsSingle();
    }

    /// <summary>Loads 16 halves and widens them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector512<float> Load16(ushort* p) => Widen(Avx512F.ConvertToVector512UInt32(Vector256.Load(p)));

    /// <summary>Loads 8 halves and widens them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<float> Load8(ushort* p) => Widen(Avx2.ConvertToVector256Int32(Vector128.Load(p)).AsUInt32());

    /// <summary>Widens <paramref name="src"/> into <paramref name="dst"/> (for tests and bulk use).</summary>
    public static unsafe void Widen(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        fixed (ushort* s = src)
        fixed (float* d = dst)
        {
            int i = 0;
            if (Avx512F.IsSupported)
                for (; i + 16 <= src.Length; i += 16) Load16(s + i).Store(d + i);
            if (Avx2.IsSupported)
                for (; i + 8 <= src.Length; i += 8) Load8(s + i).Store(d + i);
            for (; i < src.Length; i++) d[i] = (float)BitConverter.UInt16BitsToHalf(s[i]);
        }
    }
}

/// <summary>
/// <see cref="Fp16GemmOp"/> on the CPU: Y = Alpha·A·Bᵀ + Beta·C (+ReLU) with B stored as binary16 [N, K] (half the
/// bytes of float32: the batch-1 classifier GEMV streams 206 MB instead of 411 MB for VGG-16's fc6) and widened to
/// float32 in registers; float32 FMA accumulation. Tiles of 4 output features × up to 4 rows, 16 lanes of K at a time
/// (AVX-512), 8 (AVX2) or scalar; tasks over feature blocks.
/// </summary>
internal sealed unsafe class Fp16GemmStep : CpuStep
{
    private const int FeaturesPerTask = 64;
    private readonly int _m, _k, _n, _cRows, _cCols;
    private readonly float _alpha, _beta;
    private readonly bool _relu;
    private readonly float[]? _c;

    public Fp16GemmStep(PlanStep step, Fp16GemmOp op) : base(step)
    {
        var a = step.Inputs[0]!;
        var b = step.Inputs[1]!.Constant!;
        (_m, _k, _n) = (a.Shape[0], a.Shape[1], b.Shape[0]);
        (_alpha, _beta, _relu) = (op.Gemm.Alpha, op.Gemm.Beta, op.Gemm.Activation == Activation.Relu);
        // the FP16 weights stay in their tensor (pinned per task)
        var c = step.Inputs.Length > 2 ? step.Inputs[2] : null;
        if (c is not null)
        {
            (_cRows, _cCols) = c.Shape.Length switch { 0 => (1, 1), 1 => (1, c.Shape[0]), _ => (c.Shape[0], c.Shape[1]) };
            _c = Pinned.Copy(c.Constant!);
        }
    }

    public override string Algorithm => $"fp16-weight GEMM{(_m == 1 ? "V" : "")} ({(Avx512F.IsSupported ? "AVX-512" : Avx2.IsSupported ? "AVX2" : "scalar")} widening, float32 FMA)";

    public override void Run(CpuRunState s) => s.Parallel(this, 0, (_n + FeaturesPerTask - 1) / FeaturesPerTask);

    public override void Task(CpuRunState s, int phase, int index, int slot)
    {
        float* a = F(s, Step.Inputs[0]!);
        float* y = F(s, Step.Outputs[0]);
        int j0 = index * FeaturesPerTask, j1 = Math.Min(_n, j0 + FeaturesPerTask);
        float* dots = stackalloc float[16];
        fixed (byte* braw = Step.Inputs[1]!.Constant!.Bytes)
        fixed (float* c = _c)
        {
            ushort* b = (ushort*)braw;
            for (int i0 = 0; i0 < _m; i0 += 4)
            {
                int rows = Math.Min(4, _m - i0);
                for (int j = j0; j < j1; j += 4)
                {
                    int cols = Math.Min(4, j1 - j);
                    Dots(a + (long)i0 * _k, rows, b + (long)j * _k, cols, dots);
                    for (int r = 0; r < rows; r++)
                        for (int q = 0; q < cols; q++)
                        {
                            int i = i0 + r, jj = j + q;
                            float v = _alpha * dots[r * 4 + q];
                            if (c is not null) v += _beta * c[(_cRows == 1 ? 0 : i) * _cCols + (_cCols == 1 ? 0 : jj)];
                            y[(long)i * _n + jj] = _relu ? MathF.Max(v, 0f) : v;
                        }
                }
            }
        }
    }

    /// <summary>dots[r·4 + q] = Σ_k a[r][k] · float(b[q][k]) for r &lt; rows, q &lt; cols.</summary>
    private void Dots(float* a, int rows, ushort* b, int cols, float* dots)
    {
        int k = _k, t = 0;
        float* a0 = a, a1 = a + (rows > 1 ? k : 0), a2 = a + (rows > 2 ? 2 * k : 0), a3 = a + (rows > 3 ? 3 * k : 0);
        ushort* b0 = b, b1 = b + (cols > 1 ? k : 0), b2 = b + (cols > 2 ? 2 * k : 0), b3 = b + (cols > 3 ? 3 * k : 0);
        for (int i = 0; i < 16; i++) dots[i] = 0;
        if (Avx512F.IsSupported && rows == 1)
        {
            // the batch-1 GEMV: weight-streaming, two accumulators per feature
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, u0 = default, u1 = default, u2 = default, u3 = default;
            for (; t + 32 <= k; t += 32)
            {
                var x = Vector512.Load(a0 + t);
                var x2 = Vector512.Load(a0 + t + 16);
                s0 = Vector512.FusedMultiplyAdd(x, HalfWidening.Load16(b0 + t), s0); u0 = Vector512.FusedMultiplyAdd(x2, HalfWidening.Load16(b0 + t + 16), u0);
                s1 = Vector512.FusedMultiplyAdd(x, HalfWidening.Load16(b1 + t), s1); u1 = Vector512.FusedMultiplyAdd(x2, HalfWidening.Load16(b1 + t + 16), u1);
                s2 = Vector512.FusedMultiplyAdd(x, HalfWidening.Load16(b2 + t), s2); u2 = Vector512.FusedMultiplyAdd(x2, HalfWidening.Load16(b2 + t + 16), u2);
                s3 = Vector512.FusedMultiplyAdd(x, HalfWidening.Load16(b3 + t), s3); u3 = Vector512.FusedMultiplyAdd(x2, HalfWidening.Load16(b3 + t + 16), u3);
            }
            dots[0] = Vector512.Sum(s0 + u0); dots[1] = Vector512.Sum(s1 + u1); dots[2] = Vector512.Sum(s2 + u2); dots[3] = Vector512.Sum(s3 + u3);
        }
        else if (Avx512F.IsSupported)
        {
            Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
            Vector512<float> s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
            for (; t + 16 <= k; t += 16)
            {
                var w0 = HalfWidening.Load16(b0 + t); var w1 = HalfWidening.Load16(b1 + t); var w2 = HalfWidening.Load16(b2 + t); var w3 = HalfWidening.Load16(b3 + t);
                var x = Vector512.Load(a0 + t);
                s00 = Vector512.FusedMultiplyAdd(x, w0, s00); s01 = Vector512.FusedMultiplyAdd(x, w1, s01); s02 = Vector512.FusedMultiplyAdd(x, w2, s02); s03 = Vector512.FusedMultiplyAdd(x, w3, s03);
                x = Vector512.Load(a1 + t);
                s10 = Vector512.FusedMultiplyAdd(x, w0, s10); s11 = Vector512.FusedMultiplyAdd(x, w1, s11); s12 = Vector512.FusedMultiplyAdd(x, w2, s12); s13 = Vector512.FusedMultiplyAdd(x, w3, s13);
                x = Vector512.Load(a2 + t);
                s20 = Vector512.FusedMultiplyAdd(x, w0, s20); s21 = Vector512.FusedMultiplyAdd(x, w1, s21); s22 = Vector512.FusedMultiplyAdd(x, w2, s22); s23 = Vector512.FusedMultiplyAdd(x, w3, s23);
                x = Vector512.Load(a3 + t);
                s30 = Vector512.FusedMultiplyAdd(x, w0, s30); s31 = Vector512.FusedMultiplyAdd(x, w1, s31); s32 = Vector512.FusedMultiplyAdd(x, w2, s32); s33 = Vector512.FusedMultiplyAdd(x, w3, s33);
            }
            dots[0] = Vector512.Sum(s00); dots[1] = Vector512.Sum(s01); dots[2] = Vector512.Sum(s02); dots[3] = Vector512.Sum(s03);
            dots[4] = Vector512.Sum(s10); dots[5] = Vector512.Sum(s11); dots[6] = Vector512.Sum(s12); dots[7] = Vector512.Sum(s13);
            dots[8] = Vector512.Sum(s20); dots[9] = Vector512.Sum(s21); dots[10] = Vector512.Sum(s22); dots[11] = Vector512.Sum(s23);
            dots[12] = Vector512.Sum(s30); dots[13] = Vector512.Sum(s31); dots[14] = Vector512.Sum(s32); dots[15] = Vector512.Sum(s33);
        }
        else if (Avx2.IsSupported && Fma.IsSupported)
        {
            for (int r = 0; r < rows; r++)
            {
                float* ax = r switch { 0 => a0, 1 => a1, 2 => a2, _ => a3 };
                Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int tt = 0; tt + 8 <= k; tt += 8)
                {
                    var x = Vector256.Load(ax + tt);
                    s0 = Fma.MultiplyAdd(x, HalfWidening.Load8(b0 + tt), s0); s1 = Fma.MultiplyAdd(x, HalfWidening.Load8(b1 + tt), s1);
                    s2 = Fma.MultiplyAdd(x, HalfWidening.Load8(b2 + tt), s2); s3 = Fma.MultiplyAdd(x, HalfWidening.Load8(b3 + tt), s3);
                }
                dots[r * 4] = Vector256.Sum(s0); dots[r * 4 + 1] = Vector256.Sum(s1); dots[r * 4 + 2] = Vector256.Sum(s2); dots[r * 4 + 3] = Vector256.Sum(s3);
            }
            t = k - k % 8;
        }
        // the tail (all of K on the scalar path)
        for (int r = 0; r < rows; r++)
        {
            float* ax = r switch { 0 => a0, 1 => a1, 2 => a2, _ => a3 };
            for (int q = 0; q < cols; q++)
            {
                ushort* bx = q switch { 0 => b0, 1 => b1, 2 => b2, _ => b3 };
                float sum = 0;
                for (int tt = t; tt < k; tt++) sum += ax[tt] * (float)BitConverter.UInt16BitsToHalf(bx[tt]);
                dots[r * 4 + q] += sum;
            }
        }
    }
}
