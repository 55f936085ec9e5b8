using System.Numerics;
using Vgg.Engine.Simulator.Numerics;

namespace Vgg.Engine.Simulator.Exec;

// Warp-collectives. The scheduler calls these once every lane they require waits at the instruction;
// the mask is the set of waiting lanes.

internal static class WarpOps
{
    /// <summary>
    /// shfl.sync.mode.b32 d[|p], a, b, c, membermask (PTX ISA §9.7.9.6): c packs the clamp value (bits
    /// 0–4) and the segment mask (bits 8–12); maxLane = (lane &amp; segmask) | (clamp &amp; ~segmask),
    /// minLane = lane &amp; segmask; up: j = lane − b, valid if j ≥ maxLane; down: j = lane + b, valid if
    /// j ≤ maxLane; bfly: j = lane ^ b; idx: j = minLane | (b &amp; ~segmask); bfly/idx valid if j ≤ maxLane.
    /// An invalid j reads the lane's own a; p = valid. Aux = mode (0 up, 1 down, 2 bfly, 3 idx).
    /// A source lane outside the executing set reads its register as it stands (PTX: undefined).
    /// </summary>
    public static void Shfl(Warp w, ref Instr i, uint mask)
    {
        Span<ulong> src = stackalloc ulong[32];
        for (int l = 0; l < 32; l++) src[l] = w.Reg(i.A, l) & 0xFFFFFFFF;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int lane = BitOperations.TrailingZeroCount(m);
            int bval = (int)(w.Reg(i.B, lane) & 0x1F);
            uint c = (uint)w.Reg(i.C, lane);
            int segmask = (int)((c >> 8) & 0x1F), clamp = (int)(c & 0x1F);
            int maxLane = (lane & segmask) | (clamp & ~segmask);
            int minLane = lane & segmask;
            int j;
            bool p;
            switch (i.Aux)
            {
                case 0: j = lane - bval; p = j >= maxLane; break;
                case 1: j = lane + bval; p = j <= maxLane; break;
                case 2: j = lane ^ bval; p = j <= maxLane; break;
                default: j = minLane | (bval & ~segmask); p = j <= maxLane; break;
            }
            if (!p || j < 0 || j > 31) j = lane;
            w.Reg(i.D, lane) = src[j];
            if (i.D2 >= 0) w.Reg(i.D2, lane) = p ? 1UL : 0UL;
        }
    }

    /// <summary>vote.sync.all/.any/.uni.pred d, {!}a, membermask; vote.sync.ballot.b32 d, {!}a, membermask (§9.7.13.9). Aux: 0 all, 1 any, 2 uni, 3 ballot; Aux2 = 1 negates a.</summary>
    public static void Vote(Warp w, ref Instr i, uint mask)
    {
        uint ballot = 0;
        ulong neg = (ulong)i.Aux2;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            if (((w.Reg(i.A, l) ^ neg) & 1) != 0) ballot |= 1u << l;
        }
        ulong r = i.Aux switch
        {
            0 => ballot == mask ? 1UL : 0UL,
            1 => ballot != 0 ? 1UL : 0UL,
            2 => (ballot == mask || ballot == 0) ? 1UL : 0UL,
            _ => ballot,
        };
        for (uint m = mask; m != 0; m &= m - 1) w.Reg(i.D, BitOperations.TrailingZeroCount(m)) = r;
    }

    /// <summary>redux.sync.op.type d, a, membermask (§9.7.13.10, sm_80): Aux: 0 add, 1 min, 2 max, 3 and, 4 or, 5 xor; signedness from Type.</summary>
    public static void Redux(Warp w, ref Instr i, uint mask)
    {
        bool signed = PTypes.IsSigned(i.Type);
        long acc = i.Aux switch { 1 => signed ? int.MaxValue : uint.MaxValue, 2 => signed ? int.MinValue : 0, 3 => -1, _ => 0 };
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong v = w.Reg(i.A, l);
            long x = signed ? (int)v : (uint)v;
            acc = i.Aux switch
            {
                0 => acc + x,
                1 => Math.Min(acc, x),
                2 => Math.Max(acc, x),
                3 => acc & x,
                4 => acc | x,
                _ => acc ^ x,
            };
        }
        for (uint m = mask; m != 0; m &= m - 1) w.Reg(i.D, BitOperations.TrailingZeroCount(m)) = (uint)acc;
    }

    /// <summary>match.sync.any.b32/.b64 d, a, membermask; match.sync.all d[|p], a, membermask (§9.7.13.11).</summary>
    public static void Match(Warp w, ref Instr i, uint mask)
    {
        ulong vm = PTypes.Mask(PTypes.Bits(i.Type));
        Span<ulong> v = stackalloc ulong[32];
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            v[l] = w.Reg(i.A, l) & vm; // snapshot: d may be a
        }
        uint allSame = mask;
        ulong first = v[BitOperations.TrailingZeroCount(mask)];
        for (uint m = mask; m != 0; m &= m - 1)
            if (v[BitOperations.TrailingZeroCount(m)] != first) { allSame = 0; break; }
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            if (i.Aux == 1)
            {
                w.Reg(i.D, l) = allSame;
                if (i.D2 >= 0) w.Reg(i.D2, l) = allSame != 0 ? 1UL : 0UL;
            }
            else
            {
                uint same = 0;
                for (uint k = mask; k != 0; k &= k - 1)
                {
                    int o = BitOperations.TrailingZeroCount(k);
                    if (v[o] == v[l]) same |= 1u << o;
                }
                w.Reg(i.D, l) = same;
            }
        }
    }

    /// <summary>bar.warp.sync membermask: only synchronizes (the scheduler already waited).</summary>
    public static void WarpSync(Warp w, ref Instr i, uint mask) { }
}

/// <summary>The mma.sync shapes and operand types implemented (PTX ISA §9.7.14.5 "Matrix multiply-accumulate operation using mma instruction").</summary>
internal enum MmaKind : byte
{
    /// <summary>m16n8k16 .f16/.bf16 A and B.</summary>
    M16N8K16Half,
    /// <summary>m16n8k8 .f16/.bf16.</summary>
    M16N8K8Half,
    /// <summary>m16n8k8 .tf32.</summary>
    M16N8K8Tf32,
    /// <summary>m16n8k32 .s8/.u8.</summary>
    M16N8K32Int8,
    /// <summary>m16n8k16 .s8/.u8.</summary>
    M16N8K16Int8,
    /// <summary>m8n8k16 .s8/.u8.</summary>
    M8N8K16Int8,
}

internal static class MmaOps
{
    /// <summary>(M, N, K, elements per lane of A, of B, of C/D) for a shape.</summary>
    public static (int M, int N, int K, int A, int B, int C) Shape(MmaKind k) => k switch
    {
        MmaKind.M16N8K16Half => (16, 8, 16, 8, 4, 4),
        MmaKind.M16N8K8Half => (16, 8, 8, 4, 2, 4),
        MmaKind.M16N8K8Tf32 => (16, 8, 8, 4, 2, 4),
        MmaKind.M16N8K32Int8 => (16, 8, 32, 16, 8, 4),
        MmaKind.M16N8K16Int8 => (16, 8, 16, 8, 4, 4),
        _ => (8, 8, 16, 4, 4, 2),
    };

    // Fragment layouts, from the PTX ISA's "Matrix Fragments for mma.mMnNkK" sections (§9.7.14.5.x):
    // g = %laneid >> 2 (groupID), t = %laneid % 4 (threadID_in_group), e = element index (low to high).

    /// <summary>Row and column in A (M×K) of element e held by a lane.</summary>
    public static (int Row, int Col) LayoutA(MmaKind k, int g, int t, int e) => k switch
    {
        // "row = groupID for ai where 0 <= i < 2 || 4 <= i < 6, groupID + 8 otherwise;
        //  col = (threadID_in_group * 2) + (i & 0x1) for i < 4, + 8 for i >= 4"
        MmaKind.M16N8K16Half => (g + 8 * ((e >> 1) & 1), t * 2 + (e & 1) + 8 * (e >> 2)),
        // "row = groupID for a0 and a1, groupID + 8 for a2 and a3; col = threadID_in_group * 2 + (i & 0x1)"
        MmaKind.M16N8K8Half => (g + 8 * (e >> 1), t * 2 + (e & 1)),
        // tf32: "row = groupID for a0 and a2, groupID + 8 for a1 and a3; col = threadID_in_group for a0 and a1, + 4 for a2 and a3"
        MmaKind.M16N8K8Tf32 => (g + 8 * (e & 1), t + 4 * (e >> 1)),
        // "row = groupID for ai where 0 <= i < 4 || 8 <= i < 12, groupID + 8 otherwise;
        //  col = (threadID_in_group * 4) + (i & 0x3) for i < 8, + 16 for i >= 8"
        MmaKind.M16N8K32Int8 => (g + 8 * ((e >> 2) & 1), t * 4 + (e & 3) + 16 * (e >> 3)),
        // "row = groupID for i < 4, groupID + 8 for i >= 4; col = (threadID_in_group * 4) + (i & 0x3)"
        MmaKind.M16N8K16Int8 => (g + 8 * (e >> 2), t * 4 + (e & 3)),
        // m8n8k16: "row = groupID; col = (threadID_in_group * 4) + i"
        _ => (g, t * 4 + e),
    };

    /// <summary>Row (k) and column (n) in B (K×N) of element e held by a lane.</summary>
    public static (int Row, int Col) LayoutB(MmaKind k, int g, int t, int e) => k switch
    {
        // "row = (threadID_in_group * 2) + (i & 0x1) for i < 2, + 8 for i >= 2; col = groupID"
        MmaKind.M16N8K16Half => (t * 2 + (e & 1) + 8 * (e >> 1), g),
        // "row = (threadID_in_group * 2) + i; col = groupID"
        MmaKind.M16N8K8Half => (t * 2 + e, g),
        // tf32: "row = threadID_in_group for b0, + 4 for b1; col = groupID"
        MmaKind.M16N8K8Tf32 => (t + 4 * e, g),
        // "row = (threadID_in_group * 4) + (i & 0x3) for i < 4, + 16 for i >= 4; col = groupID"
        MmaKind.M16N8K32Int8 => (t * 4 + (e & 3) + 16 * (e >> 2), g),
        // "row = (threadID_in_group * 4) + i; col = groupID"
        MmaKind.M16N8K16Int8 => (t * 4 + e, g),
        _ => (t * 4 + e, g),
    };

    /// <summary>Row and column in C/D (M×N) of element e held by a lane.</summary>
    public static (int Row, int Col) LayoutC(MmaKind k, int g, int t, int e) => k switch
    {
        // m8n8k16: "row = groupID; col = (threadID_in_group * 2) + i"
        MmaKind.M8N8K16Int8 => (g, t * 2 + e),
        // "row = groupID for c0 and c1, groupID + 8 for c2 and c3; col = (threadID_in_group * 2) + (i & 0x1)"
        _ => (g + 8 * (e >> 1), t * 2 + (e & 1)),
    };

    /// <summary>
    /// mma.sync.aligned.shape.row.col.dtype.atype.btype.ctype d, a, b, c. V = [D regs, A regs, B regs,
    /// C regs]; Size packs their counts (nD | nA&lt;&lt;4 | nB&lt;&lt;8 | nC&lt;&lt;12); Aux = MmaKind;
    /// Type = dtype, Type2 = atype, Aux2 = btype (as PType), Type3 = ctype, Sat = .satfinite.
    /// Floating point: products are exact, the sum is formed in binary64 and rounded once to the
    /// destination type (the hardware's accumulation order and internal precision are not specified;
    /// results may differ from a GPU in the last bits). Integer: exact, wrapping (or clamped with .satfinite).
    /// </summary>
    public static void Mma(Warp w, ref Instr i, uint mask)
    {
        var kind = (MmaKind)i.Aux;
        var (M, N, K, na, nb, nc) = Shape(kind);
        int nD = i.Size & 15, nA = (i.Size >> 4) & 15, nB = (i.Size >> 8) & 15, nC = (i.Size >> 12) & 15;
        var v = i.V!;
        PType at = i.Type2, bt = (PType)i.Aux2, dt = i.Type, ct = i.Type3;
        bool integer = at is PType.S8 or PType.U8;
        Span<double> A = stackalloc double[M * K];
        Span<double> B = stackalloc double[K * N];
        Span<double> C = stackalloc double[M * N];
        Span<long> Ai = stackalloc long[integer ? M * K : 0];
        Span<long> Bi = stackalloc long[integer ? K * N : 0];
        Span<long> Ci = stackalloc long[integer ? M * N : 0];
        for (int lane = 0; lane < 32; lane++)
        {
            int g = lane >> 2, t = lane & 3;
            for (int e = 0; e < na; e++)
            {
                var (r, c) = LayoutA(kind, g, t, e);
                ulong el = Element(w, v, nD, nA, lane, e, at);
                if (integer) Ai[r * K + c] = IntElem(el, at); else A[r * K + c] = FloatElem(el, at);
            }
            for (int e = 0; e < nb; e++)
            {
                var (r, c) = LayoutB(kind, g, t, e);
                ulong el = Element(w, v, nD + nA, nB, lane, e, bt);
                if (integer) Bi[r * N + c] = IntElem(el, bt); else B[r * N + c] = FloatElem(el, bt);
            }
            for (int e = 0; e < nc; e++)
            {
                var (r, c) = LayoutC(kind, g, t, e);
                ulong el = Element(w, v, nD + nA + nB, nC, lane, e, ct);
                if (integer) Ci[r * N + c] = (int)el; else C[r * N + c] = FloatElem(el, ct);
            }
        }
        // D = A·B + C, then scatter D to the lanes with the C/D layout.
        Span<ulong> dElems = stackalloc ulong[M * N];
        for (int r = 0; r < M; r++)
        {
            for (int c = 0; c < N; c++)
            {
                if (integer)
                {
                    long s = Ci[r * N + c];
                    for (int k = 0; k < K; k++) s += Ai[r * K + k] * Bi[k * N + c];
                    dElems[r * N + c] = i.Sat ? (uint)(int)Math.Clamp(s, int.MinValue, int.MaxValue) : (uint)s;
                }
                else
                {
                    double s = 0;
                    for (int k = 0; k < K; k++) s += A[r * K + k] * B[k * N + c];
                    s += C[r * N + c];
                    dElems[r * N + c] = dt switch
                    {
                        PType.F16 => FloatFormat.Half.FromDouble(s, Rnd.Rn),
                        PType.BF16 => FloatFormat.BFloat16.FromDouble(s, Rnd.Rn),
                        _ => BitConverter.SingleToUInt32Bits((float)s),
                    };
                }
            }
        }
        int dPerReg = dt is PType.F16 or PType.BF16 ? 2 : 1;
        Span<ulong> regs = stackalloc ulong[4];
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int lane = BitOperations.TrailingZeroCount(m);
            int g = lane >> 2, t = lane & 3;
            regs.Clear();
            for (int e = 0; e < nc; e++)
            {
                var (r, c) = LayoutC(kind, g, t, e);
                ulong el = dElems[r * N + c];
                if (dPerReg == 2) regs[e >> 1] |= (el & 0xFFFF) << (16 * (e & 1));
                else regs[e] = el;
            }
            for (int k = 0; k < nD; k++) w.Reg(v[k], lane) = regs[k];
        }
    }

    /// <summary>Element e of an operand whose registers start at V[start]: elements are packed low to high, 4 per register for 8-bit types, 2 for 16-bit, 1 for 32-bit.</summary>
    private static ulong Element(Warp w, int[] v, int start, int count, int lane, int e, PType t)
    {
        int per = PTypes.Size(t) switch { 1 => 4, 2 => 2, _ => 1 };
        if (t == PType.TF32) per = 1;
        int reg = e / per, sub = e % per;
        if (reg >= count) return 0;
        ulong r = w.Reg(v[start + reg], lane);
        int bits = 32 / per;
        return (r >> (bits * sub)) & PTypes.Mask(bits);
    }

    private static long IntElem(ulong el, PType t) => t == PType.S8 ? (sbyte)el : (byte)el;

    private static double FloatElem(ulong el, PType t) => t switch
    {
        PType.F16 => FloatFormat.Half.ToDouble(el),
        PType.BF16 => FloatFormat.BFloat16.ToDouble(el),
        PType.TF32 => BitConverter.UInt32BitsToSingle((uint)el & 0xFFFFE000u), // tf32 uses the top 19 bits
        PType.F64 => BitConverter.UInt64BitsToDouble(el),
        _ => BitConverter.UInt32BitsToSingle((uint)el),
    };
}
