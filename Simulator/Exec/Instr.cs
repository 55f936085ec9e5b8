using Vgg.Engine.Simulator.Numerics;

namespace Vgg.Engine.Simulator.Exec;

/// <summary>Fundamental PTX types (PTX ISA §5.2.1 "Fundamental Types") plus the packed half types.</summary>
internal enum PType : byte
{
    None, Pred,
    B8, B16, B32, B64, B128,
    U8, U16, U32, U64,
    S8, S16, S32, S64,
    F16, F16x2, BF16, BF16x2, TF32, F32, F64,
}

internal static class PTypes
{
    public static PType Parse(string s) => s switch
    {
        "pred" => PType.Pred,
        "b8" => PType.B8, "b16" => PType.B16, "b32" => PType.B32, "b64" => PType.B64, "b128" => PType.B128,
        "u8" => PType.U8, "u16" => PType.U16, "u32" => PType.U32, "u64" => PType.U64,
        "s8" => PType.S8, "s16" => PType.S16, "s32" => PType.S32, "s64" => PType.S64,
        "f16" => PType.F16, "f16x2" => PType.F16x2, "bf16" => PType.BF16, "bf16x2" => PType.BF16x2,
        "tf32" => PType.TF32, "f32" => PType.F32, "f64" => PType.F64,
        _ => PType.None,
    };

    public static int Size(PType t) => t switch
    {
        PType.Pred => 1,
        PType.B8 or PType.U8 or PType.S8 => 1,
        PType.B16 or PType.U16 or PType.S16 or PType.F16 or PType.BF16 => 2,
        PType.B32 or PType.U32 or PType.S32 or PType.F32 or PType.F16x2 or PType.BF16x2 or PType.TF32 => 4,
        PType.B64 or PType.U64 or PType.S64 or PType.F64 => 8,
        PType.B128 => 16,
        _ => 0,
    };

    public static int Bits(PType t) => Size(t) * 8;
    public static bool IsSigned(PType t) => t is PType.S8 or PType.S16 or PType.S32 or PType.S64;
    public static bool IsUnsigned(PType t) => t is PType.U8 or PType.U16 or PType.U32 or PType.U64;
    public static bool IsBits(PType t) => t is PType.B8 or PType.B16 or PType.B32 or PType.B64 or PType.B128;
    public static bool IsInt(PType t) => IsSigned(t) || IsUnsigned(t) || IsBits(t);
    public static bool IsFloat(PType t) => t is PType.F16 or PType.F16x2 or PType.BF16 or PType.BF16x2 or PType.TF32 or PType.F32 or PType.F64;

    public static ulong Mask(int bits) => bits >= 64 ? ulong.MaxValue : (1UL << bits) - 1;

    /// <summary>Sign-extends the low <paramref name="bits"/> of v to 64 bits.</summary>
    public static long SignExtend(ulong v, int bits) => bits >= 64 ? (long)v : ((long)(v << (64 - bits))) >> (64 - bits);
}

/// <summary>How an instruction affects control flow; the warp scheduler handles all but Normal itself.</summary>
internal enum Flow : byte
{
    Normal,
    Branch,
    Exit,
    Barrier,
    /// <summary>A warp-collective (shfl.sync, vote.sync, mma.sync, ldmatrix, bar.warp.sync, redux.sync, match.sync): runs once every required lane has arrived.</summary>
    Collective,
    Trap,
}

/// <summary>State spaces of a memory instruction (PTX ISA §5.1).</summary>
internal enum Space : byte { Generic, Global, Shared, Local, Param, Const }

/// <summary>
/// One decoded instruction: a handler, resolved register indices (immediates, symbols and special
/// registers live in constant registers, so every source is a register index) and small fields whose
/// meaning depends on the handler. Registers are laid out [reg * 32 + lane] in the warp's file.
/// </summary>
internal unsafe struct Instr
{
    public delegate*<Warp, ref Instr, uint, void> Fn;
    public int D, A, B, C;
    /// <summary>Second destination (the p of d|p) or an extra source.</summary>
    public int D2;
    public int Guard;
    public bool GuardNeg;
    public Flow Flow;
    public OpClass Class;
    public Space Space;
    public PType Type;
    public PType Type2;
    public PType Type3;
    public Rnd Rnd;
    public bool Ftz, Sat;
    /// <summary>A synchronizing access (.volatile, .relaxed, .acquire, .release): exempt from the shared race check, like atomics.</summary>
    public bool Sync;
    /// <summary>Bytes per access (ld/st/atom/cp.async) or element count.</summary>
    public int Size;
    /// <summary>Address offset, or an immediate that handlers use directly.</summary>
    public long Off;
    public int Aux, Aux2, Aux3;
    /// <summary>Branch target (instruction index).</summary>
    public int Target;
    /// <summary>Vector registers (ld/st .v2/.v4 elements, mma/ldmatrix fragments: D then A then B then C).</summary>
    public int[]? V;
    /// <summary>Destination register width in bits (for sign/zero extension of narrow results).</summary>
    public int DBits;
    public int Index;
}
