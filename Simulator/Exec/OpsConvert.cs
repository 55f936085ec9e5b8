using System.Numerics;
using Vgg.Engine.Simulator.Numerics;
using static Vgg.Engine.Simulator.Exec.Lanes;

namespace Vgg.Engine.Simulator.Exec;

// Conversions: PTX ISA §9.7.9.21 "cvt" (and §9.7.9.22 "cvt.pack" is not used). Type = destination
// type, Type2 = source type, Rnd = rounding (.rn/.rz/.rm/.rp; with Aux = 1 it is an integer rounding
// .rni/.rzi/.rmi/.rpi), Sat = .sat, Ftz = .ftz, DBits = destination register width. Rules:
//  * float → integer always saturates to the destination range; NaN → 0.
//  * integer → integer truncates, or clamps with .sat; the result is sign- (s) or zero- (u/b) extended
//    to the destination register's width.
//  * float → float narrowing rounds with the given mode; widening is exact; same-size with an integer
//    rounding rounds to an integral value; .sat clamps to [0, 1] (NaN → 0).

internal struct Cvt : IOp1
{
    public static ulong Do(ulong a, ref Instr i)
    {
        PType dt = i.Type, st = i.Type2;
        if (PTypes.IsFloat(st))
        {
            double v = ToDouble(a, st, ref i);
            return PTypes.IsFloat(dt) ? FloatToFloat(v, ref i) : FloatToInt(v, ref i);
        }
        int sb = PTypes.Bits(st);
        bool sSigned = PTypes.IsSigned(st);
        if (PTypes.IsFloat(dt)) return IntToFloat(a, sb, sSigned, ref i);
        return IntToInt(a, sb, sSigned, ref i);
    }

    public static double ToDouble(ulong a, PType st, ref Instr i) => st switch
    {
        PType.F32 => FtzIn(F(a), ref i),
        PType.F64 => D(a),
        PType.F16 => FloatFormat.Half.ToDouble(a & 0xFFFF),
        PType.BF16 => FloatFormat.BFloat16.ToDouble(a & 0xFFFF),
        _ => FtzIn(F(a), ref i),
    };

    private static double FtzIn(float f, ref Instr i) => i.Ftz && float.IsSubnormal(f) ? (float.IsNegative(f) ? -0.0 : 0.0) : f;

    private static double RoundIntegral(double v, Rnd mode) => mode switch
    {
        Rnd.Rz => Math.Truncate(v),
        Rnd.Rm => Math.Floor(v),
        Rnd.Rp => Math.Ceiling(v),
        _ => Math.Round(v, MidpointRounding.ToEven),
    };

    private static ulong FloatToInt(double v, ref Instr i)
    {
        PType dt = i.Type;
        int db = PTypes.Bits(dt);
        if (double.IsNaN(v)) return 0;
        double r = RoundIntegral(v, i.Rnd);
        ulong bits;
        if (PTypes.IsSigned(dt))
        {
            double lo = -Math.Pow(2, db - 1), hi = Math.Pow(2, db - 1) - 1;
            long x = r <= lo ? (long)lo : r >= hi ? (db == 64 ? long.MaxValue : (long)hi) : (long)r;
            bits = (ulong)x;
            return (ulong)PTypes.SignExtend(bits, db) & PTypes.Mask(Math.Max(i.DBits, db));
        }
        double uhi = Math.Pow(2, db) - 1;
        ulong u = r <= 0 ? 0 : r >= uhi ? PTypes.Mask(db) : (ulong)r;
        return u;
    }

    private static ulong IntToInt(ulong a, int sb, bool sSigned, ref Instr i)
    {
        PType dt = i.Type;
        int db = PTypes.Bits(dt);
        bool dSigned = PTypes.IsSigned(dt);
        Int128 v = sSigned ? (Int128)PTypes.SignExtend(a, sb) : (Int128)(a & PTypes.Mask(sb));
        ulong r;
        if (i.Sat)
        {
            Int128 lo = dSigned ? -((Int128)1 << (db - 1)) : 0;
            Int128 hi = dSigned ? ((Int128)1 << (db - 1)) - 1 : ((Int128)1 << db) - 1;
            r = (ulong)(long)Int128.Clamp(v, lo, hi) & PTypes.Mask(db);
        }
        else r = (ulong)(v & (Int128)ulong.MaxValue) & PTypes.Mask(db);
        int regBits = Math.Max(i.DBits, db);
        return dSigned ? (ulong)PTypes.SignExtend(r, db) & PTypes.Mask(regBits) : r;
    }

    private static ulong IntToFloat(ulong a, int sb, bool sSigned, ref Instr i)
    {
        bool neg = false;
        ulong mag;
        if (sSigned)
        {
            long v = PTypes.SignExtend(a, sb);
            neg = v < 0;
            mag = neg ? (ulong)(-(v + 1)) + 1 : (ulong)v;
        }
        else mag = a & PTypes.Mask(sb);
        switch (i.Type)
        {
            case PType.F64:
            {
                double d = (double)mag;
                if (i.Rnd != Rnd.Rn && mag > (1UL << 53))
                {
                    // (double)ulong is round-to-nearest; step once toward the mode if it was inexact.
                    UInt128 back = (UInt128)d;
                    if (back != mag)
                    {
                        bool above = back > mag;
                        Rnd m = neg ? (i.Rnd == Rnd.Rm ? Rnd.Rp : i.Rnd == Rnd.Rp ? Rnd.Rm : i.Rnd) : i.Rnd;
                        if (m == Rnd.Rp && !above) d = Math.BitIncrement(d);
                        else if ((m == Rnd.Rm || m == Rnd.Rz) && above) d = Math.BitDecrement(d);
                    }
                }
                return Db(neg ? -d : d);
            }
            case PType.F32:
            {
                ulong r = FloatFormat.Single.RoundSig(neg, mag, 0, i.Rnd);
                float f = BitConverter.UInt32BitsToSingle((uint)r);
                if (i.Sat) f = F32.Saturate(f);
                return Fb(f);
            }
            case PType.F16:
                return SatH(FloatFormat.Half.RoundSig(neg, mag, 0, i.Rnd), FloatFormat.Half, ref i);
            case PType.BF16:
                return SatH(FloatFormat.BFloat16.RoundSig(neg, mag, 0, i.Rnd), FloatFormat.BFloat16, ref i);
            default:
                return 0;
        }
    }

    private static ulong SatH(ulong bits, FloatFormat fmt, ref Instr i)
    {
        if (!i.Sat) return bits;
        double v = fmt.ToDouble(bits);
        return double.IsNaN(v) || v <= 0 ? 0 : v >= 1 ? fmt.FromDouble(1, Rnd.Rn) : bits;
    }

    private static ulong FloatToFloat(double v, ref Instr i)
    {
        PType dt = i.Type, st = i.Type2;
        if (i.Aux == 1) v = RoundIntegral(v, i.Rnd); // .rni etc. on a same-size conversion
        if (i.Sat) v = double.IsNaN(v) ? 0 : Math.Clamp(v, 0.0, 1.0);
        switch (dt)
        {
            case PType.F64:
                return Db(v);
            case PType.F32:
            {
                float f;
                if (st == PType.F64) f = ExactArith.FromBits(FloatFormat.Single.FromDouble(v, i.Aux == 1 ? Rnd.Rn : i.Rnd));
                else f = (float)v; // from f32/f16/bf16: exact
                if (i.Ftz && float.IsSubnormal(f)) f = float.IsNegative(f) ? -0f : 0f;
                if (float.IsNaN(f)) return 0x7FFFFFFF;
                return Fb(f);
            }
            case PType.F16:
                return FloatFormat.Half.FromDouble(v, i.Aux == 1 ? Rnd.Rn : i.Rnd);
            case PType.BF16:
                return FloatFormat.BFloat16.FromDouble(v, i.Aux == 1 ? Rnd.Rn : i.Rnd);
            case PType.TF32:
            {
                // cvt.rna.tf32.f32: 10 explicit mantissa bits kept in an f32 container (low 13 bits zero).
                return FloatFormat.TF32.FromDouble(v, i.Rnd) << 13;
            }
        }
        return 0;
    }
}

/// <summary>cvt{.relu}{.satfinite}.f16x2/.bf16x2.f32 d, a, b: d.hi = cvt(a), d.lo = cvt(b) (§9.7.9.21). Aux = 1 for .relu, Aux2 = 1 for bf16.</summary>
internal struct CvtPackH2 : IOp2
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        ref readonly var fmt = ref i.Aux2 == 1 ? ref FloatFormat.BFloat16 : ref FloatFormat.Half;
        return One(F(a), in fmt, ref i) << 16 | One(F(b), in fmt, ref i);
    }

    private static ulong One(float f, in FloatFormat fmt, ref Instr i)
    {
        if (float.IsNaN(f)) return fmt.CanonicalNaN;
        double v = f;
        if (i.Aux == 1 && v < 0) v = 0;
        ulong r = fmt.FromDouble(v, i.Rnd);
        if (i.Sat && (r & ~fmt.SignBit) == fmt.Infinity) r = (r & fmt.SignBit) | fmt.MaxFinite;
        return r;
    }
}

/// <summary>Fast paths for the commonest conversions in NVRTC output.</summary>
internal struct CvtU64U32 : IOp1 { public static ulong Do(ulong a, ref Instr i) => a & 0xFFFFFFFF; }
internal struct CvtS64S32 : IOp1 { public static ulong Do(ulong a, ref Instr i) => (ulong)(long)(int)a; }
internal struct CvtF32S32Rn : IOp1 { public static ulong Do(ulong a, ref Instr i) => Fb((float)(int)a); }
internal struct CvtF32U32Rn : IOp1 { public static ulong Do(ulong a, ref Instr i) => Fb((float)(uint)a); }

/// <summary>cvta / cvta.to: generic ↔ shared/local windows; global, const and param are identical in both (Aux: +1 to generic, −1 from generic; Off = window).</summary>
internal struct Cvta : IOp1
{
    public static ulong Do(ulong a, ref Instr i)
    {
        if (i.Aux == 0) return a & PTypes.Mask(i.DBits);
        ulong w = (ulong)i.Off;
        ulong r = i.Aux > 0 ? a + w : a - w;
        return r & PTypes.Mask(PTypes.Bits(i.Type));
    }
}

internal static class MoveOps
{
    /// <summary>mov d, {a, b, ...}: pack the elements (low first) into d; element width = Size bits.</summary>
    public static void Pack(Warp w, ref Instr i, uint mask)
    {
        var v = i.V!;
        int eb = i.Size;
        ulong em = PTypes.Mask(eb);
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong r = 0;
            for (int k = 0; k < v.Length; k++) r |= (w.Reg(v[k], l) & em) << (k * eb);
            w.Reg(i.D, l) = r;
        }
    }

    /// <summary>mov {a, b, ...}, s: split s into the elements (low first).</summary>
    public static void Unpack(Warp w, ref Instr i, uint mask)
    {
        var v = i.V!;
        int eb = i.Size;
        ulong em = PTypes.Mask(eb);
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong s = w.Reg(i.A, l);
            for (int k = 0; k < v.Length; k++) w.Reg(v[k], l) = (s >> (k * eb)) & em;
        }
    }

    /// <summary>mov %r, %clock / %clock64 / %globaltimer: the block's issued warp instructions so far (monotonic, deterministic).</summary>
    public static void Clock(Warp w, ref Instr i, uint mask)
    {
        long t = 0;
        foreach (var c in w.B.IssueCount) t += c;
        for (uint m = mask; m != 0; m &= m - 1)
            w.Reg(i.D, BitOperations.TrailingZeroCount(m)) = (ulong)t & PTypes.Mask(i.DBits);
    }

    /// <summary>activemask.b32 d: the lanes executing this instruction together.</summary>
    public static void ActiveMask(Warp w, ref Instr i, uint mask)
    {
        for (uint m = mask; m != 0; m &= m - 1) w.Reg(i.D, BitOperations.TrailingZeroCount(m)) = w.Group;
    }
}

internal struct Mov : IOp1 { public static ulong Do(ulong a, ref Instr i) => a & PTypes.Mask(i.DBits); }
