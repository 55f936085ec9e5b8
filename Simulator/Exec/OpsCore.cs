using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vgg.Engine.Simulator.Exec;

/// <summary>A lane-wise operation with one source.</summary>
internal interface IOp1 { static abstract ulong Do(ulong a, ref Instr i); }
/// <summary>A lane-wise operation with two sources.</summary>
internal interface IOp2 { static abstract ulong Do(ulong a, ulong b, ref Instr i); }
/// <summary>A lane-wise operation with three sources.</summary>
internal interface IOp3 { static abstract ulong Do(ulong a, ulong b, ulong c, ref Instr i); }

/// <summary>Integer widths as types, so that generic handlers are specialized per width by the JIT.</summary>
internal interface IWidth { static abstract int Bits { get; } }
internal struct W16 : IWidth { public static int Bits => 16; }
internal struct W32 : IWidth { public static int Bits => 32; }
internal struct W64 : IWidth { public static int Bits => 64; }

/// <summary>The lane loops every lane-wise handler shares: D = op(A[, B[, C]]) for each lane in the mask.</summary>
internal static class Lanes
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref ulong R0(Warp w) => ref MemoryMarshal.GetArrayDataReference(w.R);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mask<W>() where W : struct, IWidth => W.Bits == 64 ? ulong.MaxValue : (1UL << W.Bits) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Sx<W>(ulong v) where W : struct, IWidth => W.Bits == 64 ? (long)v : ((long)(v << (64 - W.Bits))) >> (64 - W.Bits);

    public static void Op1<T>(Warp w, ref Instr i, uint mask) where T : struct, IOp1
    {
        ref ulong r = ref R0(w);
        int d = i.D << 5, a = i.A << 5;
        if (mask == uint.MaxValue)
        {
            for (int l = 0; l < 32; l++) Unsafe.Add(ref r, d + l) = T.Do(Unsafe.Add(ref r, a + l), ref i);
        }
        else
        {
            for (uint m = mask; m != 0; m &= m - 1)
            {
                int l = BitOperations.TrailingZeroCount(m);
                Unsafe.Add(ref r, d + l) = T.Do(Unsafe.Add(ref r, a + l), ref i);
            }
        }
    }

    public static void Op2<T>(Warp w, ref Instr i, uint mask) where T : struct, IOp2
    {
        ref ulong r = ref R0(w);
        int d = i.D << 5, a = i.A << 5, b = i.B << 5;
        if (mask == uint.MaxValue)
        {
            for (int l = 0; l < 32; l++) Unsafe.Add(ref r, d + l) = T.Do(Unsafe.Add(ref r, a + l), Unsafe.Add(ref r, b + l), ref i);
        }
        else
        {
            for (uint m = mask; m != 0; m &= m - 1)
            {
                int l = BitOperations.TrailingZeroCount(m);
                Unsafe.Add(ref r, d + l) = T.Do(Unsafe.Add(ref r, a + l), Unsafe.Add(ref r, b + l), ref i);
            }
        }
    }

    public static void Op3<T>(Warp w, ref Instr i, uint mask) where T : struct, IOp3
    {
        ref ulong r = ref R0(w);
        int d = i.D << 5, a = i.A << 5, b = i.B << 5, c = i.C << 5;
        if (mask == uint.MaxValue)
        {
            for (int l = 0; l < 32; l++) Unsafe.Add(ref r, d + l) = T.Do(Unsafe.Add(ref r, a + l), Unsafe.Add(ref r, b + l), Unsafe.Add(ref r, c + l), ref i);
        }
        else
        {
            for (uint m = mask; m != 0; m &= m - 1)
            {
                int l = BitOperations.TrailingZeroCount(m);
                Unsafe.Add(ref r, d + l) = T.Do(Unsafe.Add(ref r, a + l), Unsafe.Add(ref r, b + l), Unsafe.Add(ref r, c + l), ref i);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F(ulong v) => BitConverter.UInt32BitsToSingle((uint)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Fb(float f) => BitConverter.SingleToUInt32Bits(f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double D(ulong v) => BitConverter.UInt64BitsToDouble(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Db(double d) => BitConverter.DoubleToUInt64Bits(d);
}
