using System.Numerics;
using static Vgg.Engine.Simulator.Exec.Lanes;

namespace Vgg.Engine.Simulator.Exec;

// Integer arithmetic: PTX ISA §9.7.1 "Integer Arithmetic Instructions" (add, sub, mul, mad, mul24,
// mad24, sad, div, rem, abs, neg, min, max, popc, clz, bfind, brev, bfe, bfi, dp4a, dp2a).
// Values live zero-extended in 64-bit registers; signed forms sign-extend their inputs first.

internal struct AddI<W> : IOp2 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ref Instr i) => (a + b) & Mask<W>(); }
internal struct SubI<W> : IOp2 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ref Instr i) => (a - b) & Mask<W>(); }

/// <summary>add.sat.s32 / sub.sat.s32: clamp to [−2^31, 2^31−1] (§9.7.1.1, §9.7.1.2).</summary>
internal struct AddSatS32 : IOp2
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        long s = (long)(int)a + (i.Aux == 1 ? -(long)(int)b : (int)b);
        return (uint)(int)Math.Clamp(s, int.MinValue, int.MaxValue);
    }
}

internal struct MulLo<W> : IOp2 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ref Instr i) => (a * b) & Mask<W>(); }

/// <summary>mul.hi: the high half of the 2W-bit product (§9.7.1.3).</summary>
internal struct MulHiS<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        if (W.Bits == 64) return (ulong)Math.BigMul((long)a, (long)b, out _);
        return (ulong)((Sx<W>(a) * Sx<W>(b)) >> W.Bits) & Mask<W>();
    }
}
internal struct MulHiU<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        if (W.Bits == 64) return Math.BigMul(a, b, out _);
        return ((a & Mask<W>()) * (b & Mask<W>())) >> W.Bits;
    }
}

/// <summary>mul.wide: the full 2W-bit product of W-bit inputs (W = 16, 32).</summary>
internal struct MulWideS<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i) => (ulong)(Sx<W>(a) * Sx<W>(b)) & PTypes.Mask(2 * W.Bits);
}
internal struct MulWideU<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i) => (a & Mask<W>()) * (b & Mask<W>());
}

internal struct MadLo<W> : IOp3 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => (a * b + c) & Mask<W>(); }
internal struct MadHiS<W> : IOp3 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => (MulHiS<W>.Do(a, b, ref i) + c) & Mask<W>(); }
internal struct MadHiU<W> : IOp3 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => (MulHiU<W>.Do(a, b, ref i) + c) & Mask<W>(); }
internal struct MadWideS<W> : IOp3 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => (MulWideS<W>.Do(a, b, ref i) + c) & PTypes.Mask(2 * W.Bits); }
internal struct MadWideU<W> : IOp3 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => (MulWideU<W>.Do(a, b, ref i) + c) & PTypes.Mask(2 * W.Bits); }

/// <summary>mul24.lo / mul24.hi / mad24: 24-bit operands, 48-bit product; .lo keeps bits 0..31, .hi bits 16..47 (§9.7.1.5, §9.7.1.6).</summary>
internal struct Mul24 : IOp3
{
    public static ulong Do(ulong a, ulong b, ulong c, ref Instr i)
    {
        long x, y;
        if (i.Aux2 == 1) { x = ((long)(a << 40)) >> 40; y = ((long)(b << 40)) >> 40; }
        else { x = (long)(a & 0xFFFFFF); y = (long)(b & 0xFFFFFF); }
        long p = x * y;
        ulong r = i.Aux == 1 ? (ulong)(p >> 16) : (ulong)p;
        return (uint)(r + (i.C >= 0 ? c : 0));
    }
}

/// <summary>sad: |a − b| + c (§9.7.1.7).</summary>
internal struct SadS<W> : IOp3 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ulong c, ref Instr i) => ((ulong)Math.Abs(Sx<W>(a) - Sx<W>(b)) + c) & Mask<W>(); }
internal struct SadU<W> : IOp3 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ulong c, ref Instr i)
    {
        ulong x = a & Mask<W>(), y = b & Mask<W>();
        return ((x > y ? x - y : y - x) + c) & Mask<W>();
    }
}

/// <summary>div / rem: truncating; division by zero gives all ones (div) and the dividend (rem), as the hardware sequences do.</summary>
internal struct DivS<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        long x = Sx<W>(a), y = Sx<W>(b);
        if (y == 0) return Mask<W>();
        if (y == -1) return (ulong)(-x) & Mask<W>(); // avoids the MinValue / −1 overflow trap
        return (ulong)(x / y) & Mask<W>();
    }
}
internal struct DivU<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        ulong x = a & Mask<W>(), y = b & Mask<W>();
        return y == 0 ? Mask<W>() : x / y;
    }
}
internal struct RemS<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        long x = Sx<W>(a), y = Sx<W>(b);
        if (y == 0) return a & Mask<W>();
        if (y == -1) return 0;
        return (ulong)(x % y) & Mask<W>();
    }
}
internal struct RemU<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        ulong x = a & Mask<W>(), y = b & Mask<W>();
        return y == 0 ? x : x % y;
    }
}

internal struct AbsI<W> : IOp1 where W : struct, IWidth { public static ulong Do(ulong a, ref Instr i) { long x = Sx<W>(a); return (ulong)(x < 0 ? -x : x) & Mask<W>(); } }
internal struct NegI<W> : IOp1 where W : struct, IWidth { public static ulong Do(ulong a, ref Instr i) => (ulong)(-(long)a) & Mask<W>(); }

internal struct MinS<W> : IOp2 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ref Instr i) => Sx<W>(a) <= Sx<W>(b) ? a & Mask<W>() : b & Mask<W>(); }
internal struct MaxS<W> : IOp2 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ref Instr i) => Sx<W>(a) >= Sx<W>(b) ? a & Mask<W>() : b & Mask<W>(); }
internal struct MinU<W> : IOp2 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ref Instr i) => Math.Min(a & Mask<W>(), b & Mask<W>()); }
internal struct MaxU<W> : IOp2 where W : struct, IWidth { public static ulong Do(ulong a, ulong b, ref Instr i) => Math.Max(a & Mask<W>(), b & Mask<W>()); }
/// <summary>min.relu / max.relu .s32: the result clamped below at 0 (§9.7.1.10, sm_80).</summary>
internal struct MinMaxReluS32 : IOp2
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        int r = i.Aux == 0 ? Math.Min((int)a, (int)b) : Math.Max((int)a, (int)b);
        return (uint)Math.Max(r, 0);
    }
}

internal struct Popc<W> : IOp1 where W : struct, IWidth { public static ulong Do(ulong a, ref Instr i) => (ulong)BitOperations.PopCount(a & Mask<W>()); }
internal struct Clz<W> : IOp1 where W : struct, IWidth { public static ulong Do(ulong a, ref Instr i) => (ulong)(BitOperations.LeadingZeroCount(a & Mask<W>()) - (64 - W.Bits)); }

/// <summary>bfind: position of the most significant non-sign bit, 0xFFFFFFFF if none; .shiftamt gives W−1−pos (§9.7.1.14).</summary>
internal struct BfindS<W> : IOp1 where W : struct, IWidth
{
    public static ulong Do(ulong a, ref Instr i)
    {
        long x = Sx<W>(a);
        ulong v = (ulong)(x < 0 ? ~x : x) & Mask<W>();
        if (v == 0) return 0xFFFFFFFF;
        int pos = 63 - BitOperations.LeadingZeroCount(v);
        return (uint)(i.Aux == 1 ? W.Bits - 1 - pos : pos);
    }
}
internal struct BfindU<W> : IOp1 where W : struct, IWidth
{
    public static ulong Do(ulong a, ref Instr i)
    {
        ulong v = a & Mask<W>();
        if (v == 0) return 0xFFFFFFFF;
        int pos = 63 - BitOperations.LeadingZeroCount(v);
        return (uint)(i.Aux == 1 ? W.Bits - 1 - pos : pos);
    }
}

internal struct Brev<W> : IOp1 where W : struct, IWidth
{
    public static ulong Do(ulong a, ref Instr i)
    {
        ulong x = a;
        x = ((x >> 1) & 0x5555555555555555UL) | ((x & 0x5555555555555555UL) << 1);
        x = ((x >> 2) & 0x3333333333333333UL) | ((x & 0x3333333333333333UL) << 2);
        x = ((x >> 4) & 0x0F0F0F0F0F0F0F0FUL) | ((x & 0x0F0F0F0F0F0F0F0FUL) << 4);
        x = BinaryPrimitivesReverse(x);
        return x >> (64 - W.Bits);
    }

    private static ulong BinaryPrimitivesReverse(ulong x) => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(x);
}

/// <summary>bfe: extract len bits at pos, sign-extended for .s (from the last extracted bit, or the sign bit when pos ≥ W) (§9.7.1.16).</summary>
internal struct Bfe<W> : IOp3 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ulong c, ref Instr i)
    {
        int msb = W.Bits - 1;
        int pos = (int)(b & 0xFF), len = (int)(c & 0xFF);
        bool signed = i.Aux == 1;
        ulong x = a & Mask<W>();
        bool sbit;
        if (!signed || len == 0) sbit = false;
        else sbit = ((x >> Math.Min(pos + len - 1, msb)) & 1) != 0;
        ulong d = 0;
        for (int k = 0; k <= msb; k++)
        {
            bool bit = k < len && pos + k <= msb ? ((x >> (pos + k)) & 1) != 0 : sbit;
            if (bit) d |= 1UL << k;
        }
        return d;
    }
}

internal static class IntOps
{
    /// <summary>bfi d, a, b, pos(C), len(D2): insert the low len bits of a into b at pos (§9.7.1.17).</summary>
    public static void Bfi<W>(Warp w, ref Instr i, uint mask) where W : struct, IWidth
    {
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong a = w.Reg(i.A, l), b = w.Reg(i.B, l) & Mask<W>();
            int pos = (int)(w.Reg(i.C, l) & 0xFF), len = (int)(w.Reg(i.D2, l) & 0xFF);
            ulong d = b;
            for (int k = 0; k < len && pos + k < W.Bits; k++)
            {
                ulong bit = 1UL << (pos + k);
                d = ((a >> k) & 1) != 0 ? d | bit : d & ~bit;
            }
            w.Reg(i.D, l) = d;
        }
    }
}

/// <summary>dp4a: c + Σ a.byte[k]·b.byte[k], each byte signed or unsigned per .atype/.btype (§9.7.1.23).</summary>
internal struct Dp4a : IOp3
{
    public static ulong Do(ulong a, ulong b, ulong c, ref Instr i)
    {
        bool sa = i.Aux == 1, sb = i.Aux2 == 1;
        int acc = (int)c;
        for (int k = 0; k < 4; k++)
        {
            int x = sa ? (sbyte)(a >> (8 * k)) : (byte)(a >> (8 * k));
            int y = sb ? (sbyte)(b >> (8 * k)) : (byte)(b >> (8 * k));
            acc += x * y;
        }
        return (uint)acc;
    }
}

/// <summary>dp2a.lo/.hi: c + Σ a.half[k]·b.byte[k + 2·hi] for k = 0, 1 (§9.7.1.24).</summary>
internal struct Dp2a : IOp3
{
    public static ulong Do(ulong a, ulong b, ulong c, ref Instr i)
    {
        bool sa = i.Aux == 1, sb = i.Aux2 == 1;
        int hi = i.Aux3 == 1 ? 2 : 0;
        int acc = (int)c;
        for (int k = 0; k < 2; k++)
        {
            int x = sa ? (short)(a >> (16 * k)) : (ushort)(a >> (16 * k));
            int y = sb ? (sbyte)(b >> (8 * (k + hi))) : (byte)(b >> (8 * (k + hi)));
            acc += x * y;
        }
        return (uint)acc;
    }
}

// Logic and shift: PTX ISA §9.7.7 "Logic and Shift Instructions" (and, or, xor, not, cnot, lop3, shf, shl, shr).

internal struct And : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => a & b; }
internal struct Or : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => a | b; }
internal struct Xor : IOp2 { public static ulong Do(ulong a, ulong b, ref Instr i) => a ^ b; }
internal struct Not<W> : IOp1 where W : struct, IWidth { public static ulong Do(ulong a, ref Instr i) => ~a & Mask<W>(); }
internal struct NotPred : IOp1 { public static ulong Do(ulong a, ref Instr i) => (a & 1) ^ 1; }
internal struct Cnot<W> : IOp1 where W : struct, IWidth { public static ulong Do(ulong a, ref Instr i) => (a & Mask<W>()) == 0 ? 1UL : 0UL; }

/// <summary>shl: shift amounts ≥ W give 0 (§9.7.7.7). The amount is an unsigned 32-bit value.</summary>
internal struct Shl<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        uint s = (uint)b;
        return s >= W.Bits ? 0 : (a << (int)s) & Mask<W>();
    }
}
internal struct ShrU<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        uint s = (uint)b;
        return s >= W.Bits ? 0 : (a & Mask<W>()) >> (int)s;
    }
}
/// <summary>shr.s: arithmetic; amounts ≥ W fill with the sign (§9.7.7.8).</summary>
internal struct ShrS<W> : IOp2 where W : struct, IWidth
{
    public static ulong Do(ulong a, ulong b, ref Instr i)
    {
        uint s = (uint)b;
        long x = Sx<W>(a);
        return (ulong)(x >> (int)Math.Min(s, 63u)) & Mask<W>();
    }
}

/// <summary>shf.l/.r.wrap/.clamp.b32: funnel shift of the 64-bit b:a (§9.7.7.6).</summary>
internal struct Shf : IOp3
{
    public static ulong Do(ulong a, ulong b, ulong c, ref Instr i)
    {
        uint n = (uint)c;
        n = i.Aux2 == 1 ? Math.Min(n, 32u) : n & 31;
        ulong v = ((b & 0xFFFFFFFF) << 32) | (a & 0xFFFFFFFF);
        if (i.Aux == 0) return (uint)((v << (int)n) >> 32); // left: high word
        return (uint)(v >> (int)n);                          // right: low word
    }
}

/// <summary>lop3.b32 d, a, b, c, immLut: bitwise function given by its truth table (§9.7.7.6 lop3).</summary>
internal struct Lop3 : IOp3
{
    public static ulong Do(ulong a, ulong b, ulong c, ref Instr i)
    {
        uint lut = (uint)i.Aux;
        uint x = (uint)a, y = (uint)b, z = (uint)c;
        uint r = 0;
        if ((lut & 0x01) != 0) r |= ~x & ~y & ~z;
        if ((lut & 0x02) != 0) r |= ~x & ~y & z;
        if ((lut & 0x04) != 0) r |= ~x & y & ~z;
        if ((lut & 0x08) != 0) r |= ~x & y & z;
        if ((lut & 0x10) != 0) r |= x & ~y & ~z;
        if ((lut & 0x20) != 0) r |= x & ~y & z;
        if ((lut & 0x40) != 0) r |= x & y & ~z;
        if ((lut & 0x80) != 0) r |= x & y & z;
        return r;
    }
}

/// <summary>prmt.b32{.mode}: byte permute of {b, a} (§9.7.9.7 "prmt"): generic selector, f4e, b4e, rc8, ecl, ecr, rc16.</summary>
internal struct Prmt : IOp3
{
    public static ulong Do(ulong a, ulong b, ulong c, ref Instr i)
    {
        ulong bytes = ((b & 0xFFFFFFFF) << 32) | (a & 0xFFFFFFFF);
        uint sel = (uint)c;
        uint r = 0;
        int mode = i.Aux;
        for (int k = 0; k < 4; k++)
        {
            int s;
            bool replicateSign = false;
            switch (mode)
            {
                case 0:
                {
                    uint nib = (sel >> (4 * k)) & 0xF;
                    s = (int)(nib & 7);
                    replicateSign = (nib & 8) != 0;
                    break;
                }
                case 1: s = (int)(((sel & 3) + (uint)k) & 7); break;                        // f4e: forward 4 extract
                case 2: s = (int)(((sel & 3) - (uint)k) & 7); break;                        // b4e: backward 4 extract
                case 3: s = (int)(sel & 3); break;                                          // rc8: replicate 8
                case 4: s = Math.Max(k, (int)(sel & 3)); break;                             // ecl: edge clamp left
                case 5: s = Math.Min(k, (int)(sel & 3)); break;                             // ecr: edge clamp right
                default: { int ss = (int)(sel & 1) * 2; s = ss + (k & 1); break; }          // rc16: replicate 16
            }
            byte v = (byte)(bytes >> (8 * s));
            if (replicateSign) v = (v & 0x80) != 0 ? (byte)0xFF : (byte)0;
            r |= (uint)v << (8 * k);
        }
        return r;
    }
}
