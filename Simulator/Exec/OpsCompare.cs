using System.Numerics;
using System.Runtime.CompilerServices;
using Vgg.Engine.Simulator.Numerics;
using static Vgg.Engine.Simulator.Exec.Lanes;

namespace Vgg.Engine.Simulator.Exec;

// Comparison and selection: PTX ISA §9.7.2 "Comparison and Selection Instructions" (set, setp, selp,
// slct) and §9.7.7 "Half Precision Comparison Instructions". A comparison first yields one relation of
// {less, equal, greater, unordered}; the CmpOp is the set of relations for which it is true (Aux), so
// eq = {eq}, ne = {lt, gt} (ordered), ltu = {lt, un}, num = {lt, eq, gt}, nan = {un}, and so on.
// BoolOp (Aux2: 0 none, 1 and, 2 or, 3 xor) combines with the predicate C, negated when Aux3 = 1:
// p = cmp BoolOp c, q = !cmp BoolOp c.

internal interface IRel { static abstract int Rel(ulong a, ulong b, ref Instr i); }

internal struct RelS<W> : IRel where W : struct, IWidth
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Rel(ulong a, ulong b, ref Instr i) { long x = Sx<W>(a), y = Sx<W>(b); return x < y ? 0 : x == y ? 1 : 2; }
}
internal struct RelU<W> : IRel where W : struct, IWidth
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Rel(ulong a, ulong b, ref Instr i) { ulong x = a & Mask<W>(), y = b & Mask<W>(); return x < y ? 0 : x == y ? 1 : 2; }
}
internal struct RelF32 : IRel
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Rel(ulong a, ulong b, ref Instr i)
    {
        float x = F32.In(a, ref i), y = F32.In(b, ref i);
        return float.IsNaN(x) || float.IsNaN(y) ? 3 : x < y ? 0 : x == y ? 1 : 2;
    }
}
internal struct RelF64 : IRel
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Rel(ulong a, ulong b, ref Instr i)
    {
        double x = D(a), y = D(b);
        return double.IsNaN(x) || double.IsNaN(y) ? 3 : x < y ? 0 : x == y ? 1 : 2;
    }
}
/// <summary>f16/bf16 (scalar, low half) — Aux2 of the handler is the BoolOp, so the format comes from Type.</summary>
internal struct RelH : IRel
{
    public static int Rel(ulong a, ulong b, ref Instr i)
    {
        ref readonly var fmt = ref i.Type is PType.BF16 or PType.BF16x2 ? ref FloatFormat.BFloat16 : ref FloatFormat.Half;
        double x = fmt.ToDouble(a & 0xFFFF), y = fmt.ToDouble(b & 0xFFFF);
        return double.IsNaN(x) || double.IsNaN(y) ? 3 : x < y ? 0 : x == y ? 1 : 2;
    }
}

internal static class CompareOps
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Combine(bool r, int boolOp, bool c) => boolOp switch
    {
        1 => r & c,
        2 => r | c,
        3 => r ^ c,
        _ => r,
    };

    /// <summary>setp.CmpOp{.BoolOp}.type p[|q], a, b[, {!}c].</summary>
    public static void Setp<T>(Warp w, ref Instr i, uint mask) where T : struct, IRel
    {
        int cmp = i.Aux, bop = i.Aux2;
        ulong neg = (ulong)i.Aux3;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            bool r = ((cmp >> T.Rel(w.Reg(i.A, l), w.Reg(i.B, l), ref i)) & 1) != 0;
            bool c = bop != 0 && ((w.Reg(i.C, l) ^ neg) & 1) != 0;
            w.Reg(i.D, l) = Combine(r, bop, c) ? 1UL : 0UL;
            if (i.D2 >= 0) w.Reg(i.D2, l) = Combine(!r, bop, c) ? 1UL : 0UL;
        }
    }

    /// <summary>setp.CmpOp{.BoolOp}.f16x2/.bf16x2 p|q, a, b[, {!}c]: p from the low halves, q from the high halves.</summary>
    public static void SetpH2(Warp w, ref Instr i, uint mask)
    {
        int cmp = i.Aux, bop = i.Aux2;
        ulong neg = (ulong)i.Aux3;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong a = w.Reg(i.A, l), b = w.Reg(i.B, l);
            bool r0 = ((cmp >> RelH.Rel(a, b, ref i)) & 1) != 0;
            bool r1 = ((cmp >> RelH.Rel(a >> 16, b >> 16, ref i)) & 1) != 0;
            bool c = bop != 0 && ((w.Reg(i.C, l) ^ neg) & 1) != 0;
            w.Reg(i.D, l) = Combine(r0, bop, c) ? 1UL : 0UL;
            if (i.D2 >= 0) w.Reg(i.D2, l) = Combine(r1, bop, c) ? 1UL : 0UL;
        }
    }

    /// <summary>set.CmpOp{.BoolOp}.dtype.stype d, a, b[, {!}c]: 0xFFFFFFFF / 1.0f for true (dtype in Type2: u32/s32/f32).</summary>
    public static void Set<T>(Warp w, ref Instr i, uint mask) where T : struct, IRel
    {
        int cmp = i.Aux, bop = i.Aux2;
        ulong neg = (ulong)i.Aux3;
        ulong t = i.Type2 == PType.F32 ? 0x3F800000UL : i.Type2 is PType.U16 or PType.S16 ? 0xFFFFUL : 0xFFFFFFFFUL;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            bool r = ((cmp >> T.Rel(w.Reg(i.A, l), w.Reg(i.B, l), ref i)) & 1) != 0;
            bool c = bop != 0 && ((w.Reg(i.C, l) ^ neg) & 1) != 0;
            w.Reg(i.D, l) = Combine(r, bop, c) ? t : 0UL;
        }
    }

    /// <summary>selp.type d, a, b, c: d = c ? a : b.</summary>
    public static void Selp(Warp w, ref Instr i, uint mask)
    {
        ref ulong r = ref R0(w);
        int d = i.D << 5, a = i.A << 5, b = i.B << 5, c = i.C << 5;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            Unsafe.Add(ref r, d + l) = (Unsafe.Add(ref r, c + l) & 1) != 0 ? Unsafe.Add(ref r, a + l) : Unsafe.Add(ref r, b + l);
        }
    }

    /// <summary>slct.dtype.s32/.f32 d, a, b, c: d = c ≥ 0 ? a : b (Aux = 1 for the f32 selector, with −0 ≥ 0 and NaN → b).</summary>
    public static void Slct(Warp w, ref Instr i, uint mask)
    {
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong c = w.Reg(i.C, l);
            bool ge = i.Aux == 1 ? F(c) >= 0f : (int)c >= 0;
            w.Reg(i.D, l) = ge ? w.Reg(i.A, l) : w.Reg(i.B, l);
        }
    }

    /// <summary>Relation mask of a CmpOp name (bits: 0 less, 1 equal, 2 greater, 3 unordered), or −1.</summary>
    public static int CmpMask(string op, bool unsignedInt) => op switch
    {
        "eq" => 0b0010,
        "ne" => 0b0101,
        "lt" or "lo" => 0b0001,
        "le" or "ls" => 0b0011,
        "gt" or "hi" => 0b0100,
        "ge" or "hs" => 0b0110,
        "equ" => 0b1010,
        "neu" => 0b1101,
        "ltu" => 0b1001,
        "leu" => 0b1011,
        "gtu" => 0b1100,
        "geu" => 0b1110,
        "num" => 0b0111,
        "nan" => 0b1000,
        _ => -1,
    };
}
