using System.Numerics;
using System.Runtime.CompilerServices;

namespace Vgg.Engine.Simulator.Numerics;

/// <summary>
/// PTX rounding modifiers (PTX ISA §9.7.3 "Floating-Point Instructions" and §9.7.9.21 "cvt"):
/// .rn nearest-even, .rz toward zero, .rm toward −∞, .rp toward +∞, .rna nearest with ties away
/// (cvt to .tf32 only). The integer-result forms .rni/.rzi/.rmi/.rpi map to the same four.
/// </summary>
internal enum Rnd : byte { Rn, Rz, Rm, Rp, Rna }

/// <summary>
/// A binary interchange format narrower than binary64 (f16, bf16, f32): its mantissa (fraction) bits
/// and exponent bits. Rounds exact values held as double or as double+error pairs into the format,
/// in every PTX rounding mode, including subnormals, overflow and the canonical NaN.
/// </summary>
internal readonly struct FloatFormat
{
    public static readonly FloatFormat Half = new(10, 5, 0x7FFF);
    public static readonly FloatFormat BFloat16 = new(7, 8, 0x7FFF);
    public static readonly FloatFormat Single = new(23, 8, 0x7FFFFFFF);
    /// <summary>TensorFloat-32 as a 19-bit format (1 sign, 8 exponent, 10 mantissa bits); in a register it sits in the top 19 bits of an f32.</summary>
    public static readonly FloatFormat TF32 = new(10, 8, 0x7FFFF);

    public readonly int MantBits;
    public readonly int ExpBits;
    public readonly int Bias;
    public readonly ulong CanonicalNaN;

    private FloatFormat(int mant, int exp, ulong canonicalNaN)
    {
        MantBits = mant;
        ExpBits = exp;
        Bias = (1 << (exp - 1)) - 1;
        CanonicalNaN = canonicalNaN;
    }

    public int TotalBits => 1 + MantBits + ExpBits;
    public ulong SignBit => 1UL << (MantBits + ExpBits);
    public ulong ExpMask => ((1UL << ExpBits) - 1) << MantBits;
    public ulong MantMask => (1UL << MantBits) - 1;
    public ulong MaxFinite => ExpMask - (1UL << MantBits) | MantMask;
    public ulong Infinity => ExpMask;

    /// <summary>The exact value of <paramref name="bits"/> as a double (every f16/bf16/f32 value is exact in binary64).</summary>
    public double ToDouble(ulong bits)
    {
        bool neg = (bits & SignBit) != 0;
        ulong e = (bits & ExpMask) >> MantBits;
        ulong m = bits & MantMask;
        double v;
        if (e == (ulong)((1 << ExpBits) - 1))
            v = m == 0 ? double.PositiveInfinity : double.NaN;
        else if (e == 0)
            v = Math.ScaleB((double)m, 1 - Bias - MantBits);
        else
            v = Math.ScaleB((double)(m | (1UL << MantBits)), (int)e - Bias - MantBits);
        return neg ? -v : v;
    }

    public bool IsNaN(ulong bits) => (bits & ExpMask) == ExpMask && (bits & MantMask) != 0;

    /// <summary>Rounds the exact value <paramref name="v"/> into this format with mode <paramref name="mode"/>; NaN gives the canonical NaN.</summary>
    public ulong FromDouble(double v, Rnd mode)
    {
        if (double.IsNaN(v)) return CanonicalNaN;
        ulong db = BitConverter.DoubleToUInt64Bits(v);
        bool neg = (db >> 63) != 0;
        if (double.IsInfinity(v)) return (neg ? SignBit : 0) | Infinity;
        int de = (int)((db >> 52) & 0x7FF);
        ulong sig = db & 0xFFFFFFFFFFFFFUL;
        int e2;
        if (de == 0) e2 = -1074;
        else { sig |= 1UL << 52; e2 = de - 1075; }
        return RoundSig(neg, sig, e2, mode);
    }

    /// <summary>Rounds the exact value sign·<paramref name="sig"/>·2^<paramref name="e2"/> into this format.</summary>
    public ulong RoundSig(bool neg, ulong sig, int e2, Rnd mode)
    {
        ulong signBits = neg ? SignBit : 0;
        if (sig == 0) return signBits;
        int top = 63 - BitOperations.LeadingZeroCount(sig); // value in [2^(top+e2), 2^(top+e2+1))
        int exp = top + e2;
        int emin = 1 - Bias;
        int q = Math.Max(exp, emin) - MantBits; // quantum exponent of the result
        int shift = q - e2;
        ulong m;
        bool up;
        if (shift <= 0)
        {
            m = sig << -shift;
            up = false;
        }
        else
        {
            ulong rem;
            ulong half;
            if (shift >= 64)
            {
                m = 0;
                rem = sig;
                // half = 2^(shift-1) > sig always when shift > 64; when shift == 64, half = 2^63.
                half = shift == 64 ? 1UL << 63 : 0;
                bool above = shift == 64 ? sig > half : false;
                bool equal = shift == 64 && sig == half;
                up = mode switch
                {
                    Rnd.Rn => above, // equal with m even (0) rounds down
                    Rnd.Rna => above || equal,
                    Rnd.Rm => neg,
                    Rnd.Rp => !neg,
                    _ => false,
                };
                goto encode;
            }
            m = sig >> shift;
            rem = sig & ((1UL << shift) - 1);
            half = 1UL << (shift - 1);
            up = mode switch
            {
                Rnd.Rn => rem > half || (rem == half && (m & 1) != 0),
                Rnd.Rna => rem >= half,
                Rnd.Rm => rem != 0 && neg,
                Rnd.Rp => rem != 0 && !neg,
                _ => false,
            };
        }
    encode:
        if (up)
        {
            m++;
            if (m == 1UL << (MantBits + 1)) { m >>= 1; q++; }
        }
        if (m >= 1UL << MantBits)
        {
            int e = q + MantBits; // exponent of the leading bit
            if (e > Bias) return Overflow(neg, mode);
            return signBits | ((ulong)(e + Bias) << MantBits) | (m & MantMask);
        }
        return signBits | m; // subnormal or zero
    }

    private ulong Overflow(bool neg, Rnd mode)
    {
        ulong s = neg ? SignBit : 0;
        bool toInf = mode switch
        {
            Rnd.Rn or Rnd.Rna => true,
            Rnd.Rz => false,
            Rnd.Rm => neg,
            Rnd.Rp => !neg,
            _ => true,
        };
        return s | (toInf ? Infinity : MaxFinite);
    }

    /// <summary>
    /// Rounds the exact value <paramref name="s"/> + <paramref name="e"/> (a double-double from TwoSum,
    /// |e| ≤ ulp(s)/2) into this format: correct in every mode, unlike rounding s alone, when s is
    /// representable or a tie.
    /// </summary>
    public ulong FromDoublePair(double s, double e, Rnd mode)
    {
        if (e == 0 || double.IsNaN(s) || double.IsInfinity(s)) return FromDouble(s, mode);
        ulong down = FromDouble(s, Rnd.Rm), up = FromDouble(s, Rnd.Rp);
        if (down == up)
        {
            // s is representable; the tiny e decides directed modes only.
            return mode switch
            {
                Rnd.Rm => e < 0 ? NextDown(down) : down,
                Rnd.Rp => e > 0 ? NextUp(down) : down,
                Rnd.Rz => (s > 0 && e < 0) ? NextDown(down) : (s < 0 && e > 0) ? NextUp(down) : (s == 0 ? (e < 0 ? SignBit : 0) : down),
                _ => s == 0 ? (e < 0 ? SignBit : 0) : down,
            };
        }
        if (mode is Rnd.Rn or Rnd.Rna)
        {
            double lo = ToDouble(down), hi = ToDouble(up);
            if (!double.IsInfinity(lo) && !double.IsInfinity(hi) && (lo + hi) * 0.5 == s)
                return e > 0 ? up : down;
        }
        return FromDouble(s, mode);
    }

    /// <summary>The next representable value toward +∞ (bits in, bits out).</summary>
    public ulong NextUp(ulong bits)
    {
        if (IsNaN(bits) || bits == Infinity) return bits;
        bool neg = (bits & SignBit) != 0;
        ulong mag = bits & ~SignBit;
        if (neg) return mag == 0 ? 1 : (mag - 1 == 0 ? SignBit : SignBit | (mag - 1));
        return mag + 1;
    }

    /// <summary>The next representable value toward −∞.</summary>
    public ulong NextDown(ulong bits)
    {
        if (IsNaN(bits) || bits == (SignBit | Infinity)) return bits;
        bool neg = (bits & SignBit) != 0;
        ulong mag = bits & ~SignBit;
        if (!neg) return mag == 0 ? SignBit | 1 : mag - 1;
        return SignBit | (mag + 1);
    }
}

/// <summary>Exact error-free transformations and single-precision rounding in directed modes.</summary>
internal static class ExactArith
{
    /// <summary>TwoSum (Knuth): s = fl(a+b), e = (a+b) − s exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double TwoSum(double a, double b, out double e)
    {
        double s = a + b;
        double bb = s - a;
        e = (a - (s - bb)) + (b - bb);
        return s;
    }

    /// <summary>a + b for f32 operands rounded with <paramref name="mode"/> (PTX add{.rnd}.f32).</summary>
    public static float AddF32(float a, float b, Rnd mode)
    {
        if (mode == Rnd.Rn) return a + b;
        double s = TwoSum(a, b, out double e);
        return FromBits(FloatFormat.Single.FromDoublePair(s, e, mode));
    }

    /// <summary>a · b for f32 operands rounded with <paramref name="mode"/> (exact product in binary64).</summary>
    public static float MulF32(float a, float b, Rnd mode)
    {
        if (mode == Rnd.Rn) return a * b;
        return FromBits(FloatFormat.Single.FromDouble((double)a * b, mode));
    }

    /// <summary>a · b + c with a single rounding in <paramref name="mode"/> (PTX fma{.rnd}.f32).</summary>
    public static float FmaF32(float a, float b, float c, Rnd mode)
    {
        if (mode == Rnd.Rn) return MathF.FusedMultiplyAdd(a, b, c);
        double p = (double)a * b; // exact: 24+24 bits
        double s = TwoSum(p, c, out double e);
        if (double.IsInfinity(p) || double.IsNaN(p)) return FromBits(FloatFormat.Single.FromDouble(p + c, mode));
        return FromBits(FloatFormat.Single.FromDoublePair(s, e, mode));
    }

    /// <summary>a + b in binary64 rounded with <paramref name="mode"/>.</summary>
    public static double AddF64(double a, double b, Rnd mode)
    {
        double s = TwoSum(a, b, out double e);
        return AdjustF64(s, e, mode);
    }

    /// <summary>a · b in binary64 rounded with <paramref name="mode"/> (error from an exact FMA).</summary>
    public static double MulF64(double a, double b, Rnd mode)
    {
        double p = a * b;
        if (mode == Rnd.Rn || double.IsInfinity(p) || double.IsNaN(p)) return p;
        double e = Math.FusedMultiplyAdd(a, b, -p);
        return AdjustF64(p, e, mode);
    }

    private static double AdjustF64(double s, double e, Rnd mode)
    {
        if (e == 0 || mode is Rnd.Rn or Rnd.Rna || double.IsInfinity(s) || double.IsNaN(s)) return s;
        return mode switch
        {
            Rnd.Rm => e < 0 ? Math.BitDecrement(s) : s,
            Rnd.Rp => e > 0 ? Math.BitIncrement(s) : s,
            _ => (s > 0 && e < 0) ? Math.BitDecrement(s) : (s < 0 && e > 0) ? Math.BitIncrement(s) : s,
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FromBits(ulong bits) => BitConverter.UInt32BitsToSingle((uint)bits);
}
