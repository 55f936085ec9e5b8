using System.Numerics;
using System.Runtime.CompilerServices;
using Vgg.Engine.Simulator.Numerics;

namespace Vgg.Engine.Simulator.Exec;

// Memory: PTX ISA §9.7.9 "Data Movement and Conversion Instructions": ld (§9.7.9.8), ldu (§9.7.9.9),
// st (§9.7.9.10), prefetch (§9.7.9.15), cp.async / cp.async.commit_group / cp.async.wait_group
// (§9.7.9.25), and §9.7.13 "Parallel Synchronization and Communication Instructions": atom (§9.7.13.5),
// red (§9.7.13.6). Addresses are A (register, possibly a constant) + Off. Accesses must be naturally
// aligned to their whole (vector) size. .nc, .volatile, .relaxed/.acquire/.release, scopes and cache
// qualifiers do not change results on a single simulated device and are accepted.
//
// Counters: a global request's sectors are the distinct 32-byte sectors its active lanes touch; a
// shared request is split in phases of 128 bytes (32 lanes of ≤4 B, 16 lanes of 8 B, 8 lanes of 16 B),
// and each phase needs as many wavefronts as the most distinct 4-byte words any one bank serves.

internal static class MemOps
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Read(ref byte p, int size) => size switch
    {
        1 => p,
        2 => Unsafe.ReadUnaligned<ushort>(ref p),
        4 => Unsafe.ReadUnaligned<uint>(ref p),
        _ => Unsafe.ReadUnaligned<ulong>(ref p),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(ref byte p, int size, ulong v)
    {
        switch (size)
        {
            case 1: p = (byte)v; break;
            case 2: Unsafe.WriteUnaligned(ref p, (ushort)v); break;
            case 4: Unsafe.WriteUnaligned(ref p, (uint)v); break;
            default: Unsafe.WriteUnaligned(ref p, v); break;
        }
    }

    /// <summary>Widens a loaded value to the destination register: sign-extended for .s types, zero-extended otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Ext(ulong raw, int size, ref Instr i)
    {
        if (size < 8 && PTypes.IsSigned(i.Type)) return (ulong)PTypes.SignExtend(raw, size * 8) & PTypes.Mask(i.DBits);
        return raw;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddSector(Span<ulong> set, ref int n, ulong sector)
    {
        for (int k = n - 1; k >= 0; k--) if (set[k] == sector) return;
        set[n++] = sector;
    }

    /// <summary>Adds the 32-byte sectors of an access of <paramref name="bytes"/> (≤ 32) at <paramref name="addr"/>: its first and last.</summary>
    private static void AddSectors(Span<ulong> set, ref int n, ulong addr, int bytes)
    {
        ulong s0 = addr >> 5, s1 = (addr + (ulong)bytes - 1) >> 5;
        if (n == 0 || set[n - 1] != s0) AddSector(set, ref n, s0); // consecutive lanes usually share the last sector
        if (s1 != s0) AddSector(set, ref n, s1);
    }

    private static void CountGlobal(LaunchStats s, bool store, uint mask, int bytesPerLane, int sectors)
    {
        long bytes = (long)BitOperations.PopCount(mask) * bytesPerLane;
        if (store) { s.GlobalStoreRequests++; s.GlobalStoreBytes += bytes; s.GlobalStoreSectors += sectors; }
        else { s.GlobalLoadRequests++; s.GlobalLoadBytes += bytes; s.GlobalLoadSectors += sectors; }
    }

    /// <summary>Wavefronts for one shared request: offsets per lane (only lanes in mask), bytes per lane.</summary>
    public static void CountShared(LaunchStats s, ReadOnlySpan<uint> offs, uint mask, int bytesPerLane, bool store)
    {
        long bytes = (long)BitOperations.PopCount(mask) * bytesPerLane;
        if (store) { s.SharedStoreRequests++; s.SharedStoreBytes += bytes; }
        else { s.SharedLoadRequests++; s.SharedLoadBytes += bytes; }
        int lanesPerPhase = bytesPerLane <= 4 ? 32 : 128 / bytesPerLane;
        int wordsPerLane = Math.Max(1, bytesPerLane / 4);
        Span<uint> words = stackalloc uint[32];
        Span<int> perBank = stackalloc int[32];
        for (int p0 = 0; p0 < 32; p0 += lanesPerPhase)
        {
            int n = 0;
            for (int l = p0; l < p0 + lanesPerPhase; l++)
            {
                if ((mask >> l & 1) == 0) continue;
                uint w0 = offs[l] >> 2;
                for (int k = 0; k < wordsPerLane; k++) words[n++] = w0 + (uint)k;
            }
            if (n == 0) continue;
            s.SharedIdealWavefronts++;
            s.SharedWavefronts += Wavefronts(words[..n], perBank);
        }
    }

    /// <summary>Most distinct words any one bank serves. Fast path: one distinct word per bank (conflict-free or broadcast); a second distinct word in a bank falls back to sorting.</summary>
    public static int Wavefronts(Span<uint> words, Span<int> perBank)
    {
        Span<uint> first = stackalloc uint[32];
        uint seen = 0;
        foreach (uint w in words)
        {
            int b = (int)(w & 31);
            if ((seen >> b & 1) == 0) { seen |= 1u << b; first[b] = w; }
            else if (first[b] != w) return WavefrontsSorted(words, perBank);
        }
        return seen == 0 ? 0 : 1;
    }

    private static int WavefrontsSorted(Span<uint> words, Span<int> perBank)
    {
        words.Sort();
        perBank.Clear();
        int max = 0;
        for (int k = 0; k < words.Length; k++)
        {
            if (k > 0 && words[k] == words[k - 1]) continue; // same word: broadcast
            int b = (int)(words[k] & 31);
            int c = ++perBank[b];
            if (c > max) max = c;
        }
        return max;
    }

    // ------------------------------------------------------------------ global

    public static void LdGlobal(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int size = i.Size, n = i.V?.Length ?? 1, total = size * n;
        bool sx = size < 8 && PTypes.IsSigned(i.Type);
        ulong dmask = PTypes.Mask(i.DBits);
        Span<ulong> sectors = stackalloc ulong[64];
        int ns = 0;
        ref ulong r = ref Lanes.R0(w);
        int a = i.A << 5, d = i.D << 5;
        ulong off0 = (ulong)i.Off;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong addr = Unsafe.Add(ref r, a + l) + off0;
            ref byte p = ref b.GlobalRef(w, ref i, l, addr, total);
            if (i.V is null)
            {
                ulong v = Read(ref p, size);
                Unsafe.Add(ref r, d + l) = sx ? (ulong)PTypes.SignExtend(v, size * 8) & dmask : v;
            }
            else for (int e = 0; e < n; e++) w.Reg(i.V![e], l) = Ext(Read(ref Unsafe.Add(ref p, e * size), size), size, ref i);
            AddSectors(sectors, ref ns, addr, total);
        }
        CountGlobal(b.Stats, false, mask, total, ns);
    }

    public static void StGlobal(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int size = i.Size, n = i.V?.Length ?? 1, total = size * n;
        Span<ulong> sectors = stackalloc ulong[64];
        int ns = 0;
        ref ulong r = ref Lanes.R0(w);
        int a = i.A << 5, src = i.B << 5;
        ulong off0 = (ulong)i.Off;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong addr = Unsafe.Add(ref r, a + l) + off0;
            ref byte p = ref b.GlobalRef(w, ref i, l, addr, total);
            if (i.V is null) Write(ref p, size, Unsafe.Add(ref r, src + l));
            else for (int e = 0; e < n; e++) Write(ref Unsafe.Add(ref p, e * size), size, w.Reg(i.V![e], l));
            AddSectors(sectors, ref ns, addr, total);
        }
        CountGlobal(b.Stats, true, mask, total, ns);
    }

    // ------------------------------------------------------------------ shared

    public static void LdShared(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int size = i.Size, n = i.V?.Length ?? 1, total = size * n;
        bool sx = size < 8 && PTypes.IsSigned(i.Type);
        ulong dmask = PTypes.Mask(i.DBits);
        Span<uint> offs = stackalloc uint[32];
        ref ulong r = ref Lanes.R0(w);
        int a = i.A << 5, d = i.D << 5;
        ulong off0 = (ulong)i.Off;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong off = Unsafe.Add(ref r, a + l) + off0;
            ref byte p = ref b.SharedRead(w, ref i, l, off, total);
            offs[l] = (uint)off;
            if (i.V is null)
            {
                ulong v = Read(ref p, size);
                Unsafe.Add(ref r, d + l) = sx ? (ulong)PTypes.SignExtend(v, size * 8) & dmask : v;
            }
            else for (int e = 0; e < n; e++) w.Reg(i.V![e], l) = Ext(Read(ref Unsafe.Add(ref p, e * size), size), size, ref i);
        }
        CountShared(b.Stats, offs, mask, total, false);
    }

    public static void StShared(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int size = i.Size, n = i.V?.Length ?? 1, total = size * n;
        Span<uint> offs = stackalloc uint[32];
        ref ulong r = ref Lanes.R0(w);
        int a = i.A << 5, src = i.B << 5;
        ulong off0 = (ulong)i.Off;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong off = Unsafe.Add(ref r, a + l) + off0;
            ref byte p = ref b.SharedWrite(w, ref i, l, off, total);
            offs[l] = (uint)off;
            if (i.V is null) Write(ref p, size, Unsafe.Add(ref r, src + l));
            else for (int e = 0; e < n; e++) Write(ref Unsafe.Add(ref p, e * size), size, w.Reg(i.V![e], l));
        }
        CountShared(b.Stats, offs, mask, total, true);
    }

    // ------------------------------------------------------------------ local, param

    public static void LdLocal(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int size = i.Size, n = i.V?.Length ?? 1, total = size * n;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong off = w.Reg(i.A, l) + (ulong)i.Off;
            ref byte p = ref b.LocalRef(w, ref i, l, off, total);
            if (i.V is null) w.Reg(i.D, l) = Ext(Read(ref p, size), size, ref i);
            else for (int e = 0; e < n; e++) w.Reg(i.V![e], l) = Ext(Read(ref Unsafe.Add(ref p, e * size), size), size, ref i);
        }
        b.Stats.LocalLoadBytes += (long)BitOperations.PopCount(mask) * total;
    }

    public static void StLocal(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int size = i.Size, n = i.V?.Length ?? 1, total = size * n;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong off = w.Reg(i.A, l) + (ulong)i.Off;
            ref byte p = ref b.LocalRef(w, ref i, l, off, total);
            if (i.V is null) Write(ref p, size, w.Reg(i.B, l));
            else for (int e = 0; e < n; e++) Write(ref Unsafe.Add(ref p, e * size), size, w.Reg(i.V![e], l));
        }
        b.Stats.LocalStoreBytes += (long)BitOperations.PopCount(mask) * total;
    }

    public static void LdParam(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int size = i.Size, n = i.V?.Length ?? 1, total = size * n;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong off = w.Reg(i.A, l) + (ulong)i.Off;
            ref byte p = ref b.ParamRef(w, ref i, l, off, total);
            if (i.V is null) w.Reg(i.D, l) = Ext(Read(ref p, size), size, ref i);
            else for (int e = 0; e < n; e++) w.Reg(i.V![e], l) = Ext(Read(ref Unsafe.Add(ref p, e * size), size), size, ref i);
        }
    }

    // ------------------------------------------------------------------ generic

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref byte GenericRef(Warp w, ref Instr i, int l, ulong addr, int total, bool store, out Space sp)
    {
        sp = BlockExec.Classify(addr);
        var b = w.B;
        switch (sp)
        {
            case Space.Shared:
                ulong so = addr - AddressMap.SharedWindow;
                return ref store ? ref b.SharedWrite(w, ref i, l, so, total) : ref b.SharedRead(w, ref i, l, so, total);
            case Space.Local:
                return ref b.LocalRef(w, ref i, l, addr - AddressMap.LocalWindow, total);
            default:
                return ref b.GlobalRef(w, ref i, l, addr, total);
        }
    }

    public static void LdGeneric(Warp w, ref Instr i, uint mask) => Generic(w, ref i, mask, false);
    public static void StGeneric(Warp w, ref Instr i, uint mask) => Generic(w, ref i, mask, true);

    private static void Generic(Warp w, ref Instr i, uint mask, bool store)
    {
        var b = w.B;
        int size = i.Size, n = i.V?.Length ?? 1, total = size * n;
        Span<ulong> sectors = stackalloc ulong[64];
        Span<uint> offs = stackalloc uint[32];
        int ns = 0;
        uint gmask = 0, smask = 0, lmask = 0;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong addr = w.Reg(i.A, l) + (ulong)i.Off;
            ref byte p = ref GenericRef(w, ref i, l, addr, total, store, out var sp);
            if (store)
            {
                if (i.V is null) Write(ref p, size, w.Reg(i.B, l));
                else for (int e = 0; e < n; e++) Write(ref Unsafe.Add(ref p, e * size), size, w.Reg(i.V![e], l));
            }
            else
            {
                if (i.V is null) w.Reg(i.D, l) = Ext(Read(ref p, size), size, ref i);
                else for (int e = 0; e < n; e++) w.Reg(i.V![e], l) = Ext(Read(ref Unsafe.Add(ref p, e * size), size), size, ref i);
            }
            switch (sp)
            {
                case Space.Shared: smask |= 1u << l; offs[l] = (uint)(addr - AddressMap.SharedWindow); break;
                case Space.Local: lmask |= 1u << l; break;
                default:
                    gmask |= 1u << l;
                    AddSectors(sectors, ref ns, addr, total);
                    break;
            }
        }
        if (gmask != 0) CountGlobal(b.Stats, store, gmask, total, ns);
        if (smask != 0) CountShared(b.Stats, offs, smask, total, store);
        if (lmask != 0)
        {
            if (store) b.Stats.LocalStoreBytes += (long)BitOperations.PopCount(lmask) * total;
            else b.Stats.LocalLoadBytes += (long)BitOperations.PopCount(lmask) * total;
        }
    }

    public static void Nop(Warp w, ref Instr i, uint mask) { }

    // ------------------------------------------------------------------ atomics

    /// <summary>atom/red operation codes (Aux).</summary>
    public const int AtomAdd = 0, AtomMin = 1, AtomMax = 2, AtomAnd = 3, AtomOr = 4, AtomXor = 5, AtomExch = 6, AtomCas = 7, AtomInc = 8, AtomDec = 9;

    /// <summary>atom{.space}.op.type d, [a], b{, c} and red (D = −1). Lanes are applied in lane order.</summary>
    public static void Atom(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int size = i.Size;
        Span<ulong> sectors = stackalloc ulong[64];
        int ns = 0;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong addr = w.Reg(i.A, l) + (ulong)i.Off;
            Space sp = i.Space == Space.Generic ? BlockExec.Classify(addr) : i.Space;
            ulong bv = w.Reg(i.B, l), cv = i.C >= 0 ? w.Reg(i.C, l) : 0;
            ulong old;
            switch (sp)
            {
                case Space.Shared:
                {
                    ulong off = i.Space == Space.Generic ? addr - AddressMap.SharedWindow : addr;
                    ref byte p = ref b.SharedAtomicRef(w, ref i, l, off, size);
                    old = Read(ref p, size);
                    Write(ref p, size, Apply(old, bv, cv, ref i));
                    break;
                }
                case Space.Global:
                {
                    ref byte p = ref b.GlobalRef(w, ref i, l, addr, size);
                    old = Rmw(ref p, addr, size, bv, cv, ref i);
                    AddSector(sectors, ref ns, addr >> 5);
                    break;
                }
                default:
                    throw b.MemError(w, ref i, l, "local", addr, size, "atomic on local memory");
            }
            if (i.D >= 0) w.Reg(i.D, l) = Ext(old, size, ref i);
        }
        b.Stats.AtomicOps += BitOperations.PopCount(mask);
        if (ns > 0) CountGlobal(b.Stats, true, mask, size, ns);
    }

    /// <summary>Thread-safe read-modify-write on global memory (blocks run on several host threads).</summary>
    private static ulong Rmw(ref byte p, ulong addr, int size, ulong bv, ulong cv, ref Instr i)
    {
        if (size == 4)
        {
            ref int loc = ref Unsafe.As<byte, int>(ref p);
            if (i.Aux == AtomAdd && PTypes.IsInt(i.Type)) return (uint)(Interlocked.Add(ref loc, (int)bv) - (int)bv);
            while (true)
            {
                int old = Volatile.Read(ref loc);
                int nv = (int)Apply((uint)old, bv, cv, ref i);
                if (Interlocked.CompareExchange(ref loc, nv, old) == old) return (uint)old;
            }
        }
        if (size == 8)
        {
            ref long loc = ref Unsafe.As<byte, long>(ref p);
            if (i.Aux == AtomAdd && PTypes.IsInt(i.Type)) return (ulong)(Interlocked.Add(ref loc, (long)bv) - (long)bv);
            while (true)
            {
                long old = Volatile.Read(ref loc);
                long nv = (long)Apply((ulong)old, bv, cv, ref i);
                if (Interlocked.CompareExchange(ref loc, nv, old) == old) return (ulong)old;
            }
        }
        // 16-bit: CAS on the aligned 32-bit word that holds it.
        int shift = (int)(addr & 2) * 8;
        ref int word = ref Unsafe.As<byte, int>(ref Unsafe.Subtract(ref p, (int)(addr & 2)));
        while (true)
        {
            int old = Volatile.Read(ref word);
            ulong oh = ((uint)old >> shift) & 0xFFFF;
            ulong nh = Apply(oh, bv, cv, ref i) & 0xFFFF;
            int nv = (int)(((uint)old & ~(0xFFFFu << shift)) | ((uint)nh << shift));
            if (Interlocked.CompareExchange(ref word, nv, old) == old) return oh;
        }
    }

    /// <summary>The new value stored by an atomic (PTX ISA §9.7.13.5 semantics table).</summary>
    private static ulong Apply(ulong old, ulong b, ulong c, ref Instr i)
    {
        PType t = i.Type;
        int bits = PTypes.Bits(t);
        ulong mask = PTypes.Mask(bits);
        switch (i.Aux)
        {
            case AtomAdd:
                switch (t)
                {
                    case PType.F32:
                    {
                        // atom.add.f32 rounds to nearest even and flushes subnormal inputs and results.
                        float x = Ftz(Lanes.F(old)), y = Ftz(Lanes.F(b));
                        return Lanes.Fb(Ftz(x + y));
                    }
                    case PType.F64: return Lanes.Db(Lanes.D(old) + Lanes.D(b));
                    case PType.F16: return AddHalf(old, b, FloatFormat.Half);
                    case PType.BF16: return AddHalf(old, b, FloatFormat.BFloat16);
                    case PType.F16x2: return AddHalf(old, b, FloatFormat.Half) | (AddHalf(old >> 16, b >> 16, FloatFormat.Half) << 16);
                    case PType.BF16x2: return AddHalf(old, b, FloatFormat.BFloat16) | (AddHalf(old >> 16, b >> 16, FloatFormat.BFloat16) << 16);
                    default: return (old + b) & mask;
                }
            case AtomMin:
            case AtomMax:
            {
                bool max = i.Aux == AtomMax;
                if (t == PType.F32) return Lanes.Fb(F32.MinMax(Lanes.F(old), Lanes.F(b), max, false));
                if (PTypes.IsSigned(t))
                {
                    long x = PTypes.SignExtend(old, bits), y = PTypes.SignExtend(b, bits);
                    return (ulong)(max ? Math.Max(x, y) : Math.Min(x, y)) & mask;
                }
                return max ? Math.Max(old & mask, b & mask) : Math.Min(old & mask, b & mask);
            }
            case AtomAnd: return old & b & mask;
            case AtomOr: return (old | b) & mask;
            case AtomXor: return (old ^ b) & mask;
            case AtomExch: return b & mask;
            case AtomCas: return (old & mask) == (b & mask) ? c & mask : old & mask;
            case AtomInc: return (uint)old >= (uint)b ? 0 : (old + 1) & mask;
            case AtomDec: return ((uint)old == 0 || (uint)old > (uint)b) ? b & mask : (old - 1) & mask;
        }
        return old;
    }

    private static float Ftz(float f) => float.IsSubnormal(f) ? (float.IsNegative(f) ? -0f : 0f) : f;

    private static ulong AddHalf(ulong a, ulong b, FloatFormat fmt)
    {
        double s = ExactArith.TwoSum(fmt.ToDouble(a & 0xFFFF), fmt.ToDouble(b & 0xFFFF), out double e);
        return fmt.FromDoublePair(s, e, Rnd.Rn);
    }

    // ------------------------------------------------------------------ cp.async

    /// <summary>
    /// cp.async.ca/.cg.shared.global [dst], [src], cp-size{, src-size | ignore-src}: A+Off = shared dst,
    /// B+Aux = global src, Size = cp-size, C = src-size register (Aux2 = 1: C is the ignore-src predicate).
    /// The source is read now; the shared bytes are written when a wait_group retires the copy's group.
    /// </summary>
    public static void CpAsync(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int cp = i.Size;
        Span<ulong> sectors = stackalloc ulong[64];
        int ns = 0;
        Span<byte> buf = stackalloc byte[16];
        long bytes = 0;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            ulong dst = w.Reg(i.A, l) + (ulong)i.Off;
            ulong src = w.Reg(i.B, l) + (ulong)(long)i.Aux;
            int srcSize = cp;
            if (i.C >= 0)
            {
                ulong cv = w.Reg(i.C, l);
                srcSize = i.Aux2 == 1 ? ((cv & 1) != 0 ? 0 : cp) : (int)(uint)cv;
            }
            if (srcSize > cp || srcSize < 0)
                throw b.MemError(w, ref i, l, "global", src, srcSize, $"cp.async src-size {srcSize} is larger than cp-size {cp}");
            b.SharedCheck(w, ref i, l, dst, cp);
            buf.Clear();
            if (srcSize > 0)
            {
                if ((src & (ulong)(cp - 1)) != 0) throw b.MemError(w, ref i, l, "global", src, cp, "misaligned cp.async source");
                ref byte p = ref b.GlobalRefUnaligned(w, ref i, l, src, srcSize);
                for (int k = 0; k < srcSize; k++) buf[k] = Unsafe.Add(ref p, k);
                AddSector(sectors, ref ns, src >> 5);
                bytes += srcSize;
            }
            int t = w.Id * 32 + l;
            b.Pending[t].Add(new PendingCopy
            {
                Group = b.Committed[t],
                DstOffset = (int)dst,
                Size = cp,
                Lo = Unsafe.ReadUnaligned<ulong>(ref buf[0]),
                Hi = Unsafe.ReadUnaligned<ulong>(ref buf[8]),
            });
        }
        var s = b.Stats;
        s.AsyncCopyBytes += (long)BitOperations.PopCount(mask) * cp;
        s.GlobalLoadRequests++;
        s.GlobalLoadBytes += bytes;
        s.GlobalLoadSectors += ns;
    }

    public static void CpAsyncCommit(Warp w, ref Instr i, uint mask)
    {
        for (uint m = mask; m != 0; m &= m - 1) w.B.Committed[w.Id * 32 + BitOperations.TrailingZeroCount(m)]++;
    }

    /// <summary>cp.async.wait_group N (Aux = N) / cp.async.wait_all (Aux2 = 1: commit, then wait for all).</summary>
    public static void CpAsyncWait(Warp w, ref Instr i, uint mask)
    {
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            if (i.Aux2 == 1) { w.B.Committed[w.Id * 32 + l]++; w.B.CompleteGroupsUpTo(w, ref i, l, 0); }
            else w.B.CompleteGroupsUpTo(w, ref i, l, i.Aux);
        }
    }

    // ------------------------------------------------------------------ ldmatrix

    /// <summary>
    /// ldmatrix.sync.aligned.m8n8.x1/.x2/.x4{.trans}.shared.b16 (PTX ISA §9.7.14.5.15): lanes 8j..8j+7 give
    /// the row addresses of matrix j (16 bytes per row); lane l receives in V[j] the elements
    /// (row l/4, cols 2(l%4), 2(l%4)+1) of matrix j, or with .trans (rows 2(l%4), 2(l%4)+1, col l/4).
    /// Aux = number of matrices, Aux2 = 1 for .trans, Space = Shared or Generic.
    /// </summary>
    public static void LdMatrix(Warp w, ref Instr i, uint mask)
    {
        var b = w.B;
        int nm = i.Aux;
        bool trans = i.Aux2 == 1;
        Span<ushort> mat = stackalloc ushort[4 * 64];
        Span<uint> offs = stackalloc uint[32];
        Span<uint> words = stackalloc uint[32];
        Span<int> perBank = stackalloc int[32];
        for (int j = 0; j < nm; j++)
        {
            int nw = 0;
            for (int r = 0; r < 8; r++)
            {
                int lane = j * 8 + r;
                ulong addr = w.Reg(i.A, lane) + (ulong)i.Off;
                if (i.Space == Space.Generic)
                {
                    if (BlockExec.Classify(addr) != Space.Shared)
                        throw b.MemError(w, ref i, lane, "generic", addr, 16, "ldmatrix row address is not in shared memory");
                    addr -= AddressMap.SharedWindow;
                }
                ref byte p = ref b.SharedRead(w, ref i, lane, addr, 16);
                for (int c = 0; c < 8; c++) mat[j * 64 + r * 8 + c] = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref p, 2 * c));
                offs[lane] = (uint)addr;
                for (int k = 0; k < 4; k++) words[nw++] = ((uint)addr >> 2) + (uint)k;
            }
            b.Stats.SharedIdealWavefronts++;
            b.Stats.SharedWavefronts += Wavefronts(words[..nw], perBank);
        }
        b.Stats.SharedLoadRequests++;
        b.Stats.SharedLoadBytes += nm * 128;
        var v = i.V!;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            for (int j = 0; j < nm; j++)
            {
                ulong lo, hi;
                if (!trans)
                {
                    int row = l >> 2, col = 2 * (l & 3);
                    lo = mat[j * 64 + row * 8 + col];
                    hi = mat[j * 64 + row * 8 + col + 1];
                }
                else
                {
                    int row = 2 * (l & 3), col = l >> 2;
                    lo = mat[j * 64 + row * 8 + col];
                    hi = mat[j * 64 + (row + 1) * 8 + col];
                }
                w.Reg(v[j], l) = lo | (hi << 16);
            }
        }
    }
}
