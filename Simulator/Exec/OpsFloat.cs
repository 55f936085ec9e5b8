using System.Runtime.CompilerServices;
using Vgg.Engine.Simulator.Numerics;
using static Vgg.Engine.Simulator.Exec.Lanes;

namespace Vgg.Engine.Simulator.Exec;

// Single and double precision: PTX ISA §9.7.3 "Floating-Point Instructions" (add, sub, mul, fma, mad,
// div, abs, neg, min, max, rcp, sqrt, rsqrt, sin, cos, lg2, ex2, tanh, copysign, testp).
// Rounding modifiers .rn/.rz/.rm/.rp are exact (see ExactArith); .ftz flushes f32 subnormal inputs and
// results to sign-preserving zero; .sat clamps to [0, 1] with NaN → +0. The .approx functions use the
// correctly rounded value (the hardware's is within its documented ulp bound of it).

internal static class F32
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float In(ulong bits, ref Instr i)
    {
        float f = F(bits);
        if (i.Ftz && float.IsSubnormal(f)) f = float.IsNegative(f) ? -0f : 0f;
        return f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Out(float f, ref Instr i)
    {
        if (i.Ftz && float.IsSubnormal(f)) f = float.IsNegative(f) ? -0f : 0f;
        if (i.Sat) f = Saturate(f);
        if (float.IsNaN(f)) return 0x7FFFFFFF; // canonical NaN
        return Fb(f);
    }

    public static float Saturate(float f) => float.IsNaN(f) ? 0f : f < 0f ? 0f : f > 1f ? 1f : f;

    /// <summary>IEEE 754-2019 minNum/maxNum as PTX min/max.f32: a NaN operand is ignored; −0 &lt; +0. With .NaN (Aux2 = 1) a NaN operand gives NaN.</summary>
    public static float MinMax(float a, float b, bool max, bool nanProp)
    {
        if (float.IsNaN(a) || float.IsNaN(b))
        {
            if (nanProp || (float.IsNaN(a) && float.IsNaN(b))) return float.NaN;
            return float.IsNaN(a) ? b : a;
        }
        if (a == b) // ±0
            return max ? (float.IsNegative(a) ? b : a) : (float.IsNegative(a) ? a : b);
        return max ? Math.Max(a, b) : Math.Min(a, b);
    }
}

internal struct AddF32 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => F32.Out(ExactArith.AddF32(F32.In(a, ref i), F32.In(b, ref i), i.Rnd), ref i); }
internal struct SubF32 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => F32.Out(ExactArith.AddF32(F32.In(a, ref i), -F32.In(b, ref i), i.Rnd), ref i); }
internal struct MulF32 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => F32.Out(ExactArith.MulF32(F32.In(a, ref i), F32.In(b, ref i), i.Rnd), ref i); }
internal struct FmaF32 : IOp3 { public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => F32.Out(ExactArith.FmaF32(F32.In(a, ref i), F32.In(b, ref i), F32.In(c, ref i), i.Rnd), ref i); }

/// <summary>Fast paths for the plain .rn forms without .ftz/.sat (the common case in NVRTC output).</summary>
internal struct AddF32Rn : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => Fb(F(a) + F(b)); }
internal struct SubF32Rn : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => Fb(F(a) - F(b)); }
internal struct MulF32Rn : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => Fb(F(a) * F(b)); }
internal struct FmaF32Rn : IOp3 { public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => Fb(MathF.FusedMultiplyAdd(F(a), F(b), F(c))); }

/// <summary>div.f32: .rn/.rz/.rm/.rp exact (sign of the FMA residual decides), .approx/.full = correctly rounded quotient.</summary>
internal struct DivF32 : IOp2
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        float x = F32.In(a, ref i), y = F32.In(b, ref i);
        float q;
        if (i.Rnd == Rnd.Rn || i.Aux == 1) q = x / y;
        else
        {
            double qd = (double)x / y;
            if (double.IsNaN(qd) || double.IsInfinity(qd) || qd == 0) q = (float)qd;
            else
            {
                double res = Math.FusedMultiplyAdd(-qd, y, x); // sign of the remainder x − qd·y
                double e = res / y;
                q = ExactArith.FromBits(FloatFormat.Single.FromDoublePair(qd, e == 0 && res != 0 ? Math.CopySign(double.Epsilon, res * y) : e, i.Rnd));
            }
        }
        return F32.Out(q, ref i);
    }
}

internal struct RcpF32 : IOp1
{
    public static ulong Do(ulong a, ref Instr i)
    {
        float x = F32.In(a, ref i);
        if (i.Rnd == Rnd.Rn || i.Aux == 1) return F32.Out(1f / x, ref i);
        uint one = 0x3F800000;
        return DivF32.Do(one, a, ref i);
    }
}

internal struct SqrtF32 : IOp1
{
    public static ulong Do(ulong a, ref Instr i)
    {
        float x = F32.In(a, ref i);
        if (i.Rnd == Rnd.Rn || i.Aux == 1) return F32.Out(MathF.Sqrt(x), ref i);
        double s = Math.Sqrt(x); // sqrt of a float in double: the residual sign decides the directed rounding
        double res = Math.FusedMultiplyAdd(-s, s, x);
        return F32.Out(ExactArith.FromBits(FloatFormat.Single.FromDoublePair(s, res == 0 ? 0 : Math.CopySign(double.Epsilon, res), i.Rnd)), ref i);
    }
}

internal struct RsqrtF32 : IOp1 { public static ulong Do(ulong a, ref Instr i) => F32.Out((float)(1.0 / Math.Sqrt(F32.In(a, ref i))), ref i); }
internal struct Ex2F32 : IOp1 { public static ulong Do(ulong a, ref Instr i) => F32.Out((float)Math.Pow(2.0, F32.In(a, ref i)), ref i); }
internal struct Lg2F32 : IOp1 { public static ulong Do(ulong a, ref Instr i) => F32.Out((float)Math.Log2(F32.In(a, ref i)), ref i); }
internal struct SinF32 : IOp1 { public static ulong Do(ulong a, ref Instr i) => F32.Out((float)Math.Sin(F32.In(a, ref i)), ref i); }
internal struct CosF32 : IOp1 { public static ulong Do(ulong a, ref Instr i) => F32.Out((float)Math.Cos(F32.In(a, ref i)), ref i); }
internal struct TanhF32 : IOp1 { public static ulong Do(ulong a, ref Instr i) => F32.Out((float)Math.Tanh(F32.In(a, ref i)), ref i); }
internal struct AbsF32 : IOp1 { public static ulong Do(ulong a, ref Instr i) { float f = F32.In(a, ref i); return Fb(f) & 0x7FFFFFFF; } }
internal struct NegF32 : IOp1 { public static ulong Do(ulong a, ref Instr i) { float f = F32.In(a, ref i); return Fb(f) ^ 0x80000000; } }
internal struct MinF32 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => F32.Out(F32.MinMax(F32.In(a, ref i), F32.In(b, ref i), false, i.Aux2 == 1), ref i); }
internal struct MaxF32 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => F32.Out(F32.MinMax(F32.In(a, ref i), F32.In(b, ref i), true, i.Aux2 == 1), ref i); }
/// <summary>copysign d, a, b: b with the sign of a (§9.7.3.3).</summary>
internal struct CopysignF32 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => ((uint)b & 0x7FFFFFFFu) | ((uint)a & 0x80000000u); }
internal struct CopysignF64 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => (b & 0x7FFFFFFFFFFFFFFFUL) | (a & 0x8000000000000000UL); }

internal struct AddF64 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => Db(ExactArith.AddF64(D(a), D(b), i.Rnd)); }
internal struct SubF64 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => Db(ExactArith.AddF64(D(a), -D(b), i.Rnd)); }
internal struct MulF64 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => Db(ExactArith.MulF64(D(a), D(b), i.Rnd)); }
internal struct FmaF64 : IOp3 { public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => Db(Math.FusedMultiplyAdd(D(a), D(b), D(c))); }
internal struct DivF64 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => Db(D(a) / D(b)); }
internal struct RcpF64 : IOp1 { public static ulong Do(ulong a, ref Instr i) => Db(1.0 / D(a)); }
internal struct SqrtF64 : IOp1 { public static ulong Do(ulong a, ref Instr i) => Db(Math.Sqrt(D(a))); }
internal struct RsqrtF64 : IOp1 { public static ulong Do(ulong a, ref Instr i) => Db(1.0 / Math.Sqrt(D(a))); }
internal struct AbsF64 : IOp1 { public static ulong Do(ulong a, ref Instr i) => a & 0x7FFFFFFFFFFFFFFFUL; }
internal struct NegF64 : IOp1 { public static ulong Do(ulong a, ref Instr i) => a ^ 0x8000000000000000UL; }
internal struct MinF64 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => Db(MinMax64(D(a), D(b), false, i.Aux2 == 1)); public static double MinMax64(double a, double b, bool max, bool nan) { if (double.IsNaN(a) || double.IsNaN(b)) { if (nan || (double.IsNaN(a) && double.IsNaN(b))) return double.NaN; return double.IsNaN(a) ? b : a; } if (a == b) return max ? (double.IsNegative(a) ? b : a) : (double.IsNegative(a) ? a : b); return max ? Math.Max(a, b) : Math.Min(a, b); } }
internal struct MaxF64 : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => Db(MinF64.MinMax64(D(a), D(b), true, i.Aux2 == 1)); }

/// <summary>testp.op.f32/.f64 p, a (§9.7.3.2): Aux = 0 finite, 1 infinite, 2 number, 3 notanumber, 4 normal, 5 subnormal.</summary>
internal struct Testp : IOp1
{
    public static ulong Do(ulong a, ref Instr i)
    {
        double v = i.Type == PType.F64 ? D(a) : F(a);
        bool sub = i.Type == PType.F64 ? double.IsSubnormal(v) : float.IsSubnormal((float)v);
        bool r = i.Aux switch
        {
            0 => double.IsFinite(v),
            1 => double.IsInfinity(v),
            2 => !double.IsNaN(v),
            3 => double.IsNaN(v),
            4 => double.IsFinite(v) && v != 0 && !sub,
            _ => sub,
        };
        return r ? 1UL : 0UL;
    }
}

// Half precision: PTX ISA §9.7.4 "Half Precision Floating-Point Instructions" (add, sub, mul, fma, neg,
// abs, min, max, tanh, ex2) on .f16, .f16x2, .bf16, .bf16x2. Each half is computed exactly in binary64
// (TwoSum for sums) and rounded once into the 16-bit format. Aux2 = 1 for bf16; Size = 2 for the x2 forms.

internal static class H16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref readonly FloatFormat Fmt(ref Instr i) => ref i.Aux2 == 1 ? ref FloatFormat.BFloat16 : ref FloatFormat.Half;

    public static double ToD(ulong bits, ref Instr i)
    {
        double v = Fmt(ref i).ToDouble(bits & 0xFFFF);
        if (i.Ftz && Math.Abs(v) < (i.Aux2 == 1 ? 1.1754943508222875e-38 : 6.103515625e-05) && v != 0) v = v < 0 ? -0.0 : 0.0;
        return v;
    }

    public static ulong Round(double s, double e, ref Instr i)
    {
        ref readonly var fmt = ref Fmt(ref i);
        ulong r = fmt.FromDoublePair(s, e, i.Rnd);
        double v = fmt.ToDouble(r);
        if (i.Ftz && v != 0 && Math.Abs(v) < (i.Aux2 == 1 ? 1.1754943508222875e-38 : 6.103515625e-05)) r &= 0x8000;
        if (i.Sat)
        {
            if (double.IsNaN(v) || v <= 0) r = 0;
            else if (v > 1) r = fmt.FromDouble(1.0, Rnd.Rn);
        }
        return r;
    }
}

internal struct AddH : IOp2
{
    public static ulong Do(ulong a, ulong b, ref Instr i) => i.Size == 2 ? One(a & 0xFFFF, b & 0xFFFF, ref i) | (One(a >> 16 & 0xFFFF, b >> 16 & 0xFFFF, ref i) << 16) : One(a, b, ref i);
    private static ulong One(ulong a, ulong b, ref Instr i)
    {
        double x = H16.ToD(a, ref i), y = H16.ToD(b, ref i);
        if (i.Aux == 1) y = -y;
        double s = ExactArith.TwoSum(x, y, out double e);
        return H16.Round(s, e, ref i);
    }
}

internal struct MulH : IOp2
{
    public static ulong Do(ulong a, ulong b, ref Instr i) => i.Size == 2 ? One(a & 0xFFFF, b & 0xFFFF, ref i) | (One(a >> 16 & 0xFFFF, b >> 16 & 0xFFFF, ref i) << 16) : One(a, b, ref i);
    private static ulong One(ulong a, ulong b, ref Instr i) => H16.Round(H16.ToD(a, ref i) * H16.ToD(b, ref i), 0, ref i); // 11+11 (8+8) bit product: exact
}

internal struct FmaH : IOp3
{
    public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => i.Size == 2 ? One(a & 0xFFFF, b & 0xFFFF, c & 0xFFFF, ref i) | (One(a >> 16 & 0xFFFF, b >> 16 & 0xFFFF, c >> 16 & 0xFFFF, ref i) << 16) : One(a, b, c, ref i);
    private static ulong One(ulong a, ulong b, ulong c, ref Instr i)
    {
        double p = H16.ToD(a, ref i) * H16.ToD(b, ref i); // exact
        double s = ExactArith.TwoSum(p, H16.ToD(c, ref i), out double e);
        ulong r = H16.Round(s, e, ref i);
        if (i.Aux == 1 && (r & 0x8000) != 0 && !H16.Fmt(ref i).IsNaN(r)) r = 0; // fma.relu: negative → +0
        return r;
    }
}

/// <summary>neg/abs on f16/bf16 (x2): sign-bit operations (Aux: 0 neg, 1 abs).</summary>
internal struct NegAbsH : IOp1
{
    public static ulong Do(ulong a, ref Instr i)
    {
        ulong m = i.Size == 2 ? 0x80008000UL : 0x8000UL;
        ulong v = a & (i.Size == 2 ? 0xFFFFFFFFUL : 0xFFFFUL);
        return i.Aux == 0 ? v ^ m : v & ~m;
    }
}

/// <summary>min/max on f16/bf16 (x2) (Aux: 0 min, 1 max; Aux3 = 1 for .NaN).</summary>
internal struct MinMaxH : IOp2
{
    public static ulong Do(ulong a, ulong b, ref Instr i) => i.Size == 2 ? One(a & 0xFFFF, b & 0xFFFF, ref i) | (One(a >> 16 & 0xFFFF, b >> 16 & 0xFFFF, ref i) << 16) : One(a, b, ref i);
    private static ulong One(ulong a, ulong b, ref Instr i)
    {
        ref readonly var fmt = ref H16.Fmt(ref i);
        bool an = fmt.IsNaN(a & 0xFFFF), bn = fmt.IsNaN(b & 0xFFFF);
        if (an || bn)
        {
            if (i.Aux3 == 1 || (an && bn)) return fmt.CanonicalNaN;
            return an ? b & 0xFFFF : a & 0xFFFF;
        }
        double x = fmt.ToDouble(a & 0xFFFF), y = fmt.ToDouble(b & 0xFFFF);
        bool pickA;
        if (x == y) pickA = i.Aux == 1 ? !double.IsNegative(x) : double.IsNegative(x);
        else pickA = i.Aux == 1 ? x > y : x < y;
        return pickA ? a & 0xFFFF : b & 0xFFFF;
    }
}

/// <summary>ex2.approx / tanh.approx on f16/bf16 (x2) (Aux: 0 ex2, 1 tanh).</summary>
internal struct FuncH : IOp1
{
    public static ulong Do(ulong a, ref Instr i) => i.Size == 2 ? One(a & 0xFFFF, ref i) | (One(a >> 16 & 0xFFFF, ref i) << 16) : One(a, ref i);
    private static ulong One(ulong a, ref Instr i)
    {
        double x = H16.ToD(a, ref i);
        double y = i.Aux == 0 ? Math.Pow(2.0, x) : Math.Tanh(x);
        return H16.Round(y, 0, ref i);
    }
}
