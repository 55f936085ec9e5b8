using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Vgg.Engine.Simulator.Exec;

/// <summary>A cp.async copy issued but not yet completed (PTX ISA §9.7.9.25 "Data Movement and Conversion Instructions: cp.async").</summary>
internal struct PendingCopy
{
    public int Group;
    public int DstOffset;
    public int Size;
    public ulong Lo, Hi;
}

/// <summary>
/// Runs the blocks of one launch on one worker thread, one block at a time: owns the block's warps,
/// shared memory (with its written-bytes map and race-check state), the threads' local memory and
/// cp.async queues, and the worker's counters. Warps run until they block (barrier, collective, exit);
/// when every warp is blocked, a barrier whose threads have all arrived is released, or the block is
/// deadlocked and that is reported.
/// </summary>
internal sealed unsafe class BlockExec
{
    public readonly LaunchContext L;
    public readonly KernelCode K;
    public readonly Warp[] Warps;
    public readonly int Threads;
    public readonly byte[] Shared;
    public readonly int SharedSize;
    /// <summary>Per shared byte: the block serial that last wrote it (written this block ⇔ equals <see cref="BlockSerial"/>).
    /// Writes of whole aligned words stamp <see cref="_wordWritten"/> instead; a byte counts as written when either stamp matches.</summary>
    private readonly int[] _sharedWritten;
    private readonly int[] _wordWritten;
    /// <summary>Race-check state per shared byte: last write (epoch, thread + 1) and reads (epoch, warp + 1 or −1 for several).</summary>
    private struct RaceCell
    {
        public int WriteEpoch, Writer, ReadEpoch, Reader;
    }

    private readonly RaceCell[] _race;
    public int BlockSerial;
    public int Epoch;
    public readonly byte[] Local;
    public readonly byte[] Param;
    public readonly LaunchStats Stats = new();
    public readonly long[] IssueCount;
    public readonly long[] LaneCount;
    public Dim3 BlockIdx;
    public readonly List<PendingCopy>[] Pending;
    public readonly int[] Committed;
    private readonly bool _checkInit, _checkRace;
    private readonly long _budget;
    private readonly int[] _barExpected = new int[16];

    public BlockExec(LaunchContext l)
    {
        L = l;
        K = l.Kernel;
        Threads = (int)l.Block.Volume;
        int nw = (Threads + 31) / 32;
        Warps = new Warp[nw];
        for (int i = 0; i < nw; i++) Warps[i] = new Warp(this, i, K.RegCount);
        SharedSize = K.DynamicSharedOffset + l.DynamicShared;
        Shared = new byte[SharedSize];
        _sharedWritten = new int[SharedSize];
        _wordWritten = new int[(SharedSize + 3) / 4];
        _checkInit = l.Options.CheckUninitializedShared;
        _checkRace = l.Options.CheckSharedRaces;
        _race = _checkRace ? new RaceCell[SharedSize] : [];
        Local = new byte[(long)Threads * K.LocalBytes];
        Param = l.Param;
        IssueCount = new long[K.Code.Length];
        LaneCount = new long[K.Code.Length];
        Pending = new List<PendingCopy>[Threads];
        for (int i = 0; i < Threads; i++) Pending[i] = [];
        Committed = new int[Threads];
        _budget = l.Options.MaxWarpInstructionsPerBlock;
    }

    // ------------------------------------------------------------------ running a block

    public void Run(long linearBlock)
    {
        var g = L.Grid;
        BlockIdx = new Dim3((int)(linearBlock % g.X), (int)(linearBlock / g.X % g.Y), (int)(linearBlock / ((long)g.X * g.Y)));
        BlockSerial++;
        Epoch++;
        Array.Clear(Local);
        for (int t = 0; t < Threads; t++) { Pending[t].Clear(); Committed[t] = 0; }
        Array.Clear(_barExpected);
        InitWarps();
        long issued = 0;
        while (true)
        {
            // Round-robin in time slices, so a warp spinning on a flag another warp sets makes progress;
            // when no warp can run, a barrier is released or the block is deadlocked.
            bool any;
            do
            {
                any = false;
                foreach (var w in Warps)
                {
                    if (w.Runnable == 0) continue;
                    issued = RunWarp(w, issued, issued + TimeSlice);
                    any = true;
                }
            } while (any);
            bool allExited = true;
            foreach (var w in Warps) if (w.Live != 0) { allExited = false; break; }
            if (allExited) break;
            if (TryReleaseBarriers()) continue;
            throw Deadlock();
        }
        FoldCounters();
    }

    private void InitWarps()
    {
        var blk = L.Block;
        var grid = L.Grid;
        foreach (var w in Warps)
        {
            Array.Clear(w.R);
            for (int c = 0; c < K.ConstRegs.Length; c++)
            {
                int r = K.ConstRegs[c] << 5;
                ulong v = K.ConstValues[c];
                w.R.AsSpan(r, 32).Fill(v);
            }
            int first = w.Id * 32;
            int n = Math.Min(32, Threads - first);
            w.Exists = n == 32 ? uint.MaxValue : (1u << n) - 1;
            w.Exited = w.AtBarrier = w.AtCollective = 0;
            Array.Clear(w.Pc);
            w.Group = w.Exists;
            w.GroupPc = 0;
            w.MinParked = int.MaxValue;
            foreach (var (reg, kind) in K.Specials)
            {
                for (int lane = 0; lane < 32; lane++)
                {
                    int t = first + lane;
                    ulong v = kind switch
                    {
                        SReg.TidX => (ulong)(t % blk.X),
                        SReg.TidY => (ulong)(t / blk.X % blk.Y),
                        SReg.TidZ => (ulong)(t / (blk.X * blk.Y)),
                        SReg.NtidX => (ulong)blk.X, SReg.NtidY => (ulong)blk.Y, SReg.NtidZ => (ulong)blk.Z,
                        SReg.CtaidX => (ulong)BlockIdx.X, SReg.CtaidY => (ulong)BlockIdx.Y, SReg.CtaidZ => (ulong)BlockIdx.Z,
                        SReg.NctaidX => (ulong)grid.X, SReg.NctaidY => (ulong)grid.Y, SReg.NctaidZ => (ulong)grid.Z,
                        SReg.LaneId => (ulong)lane,
                        SReg.WarpId => (ulong)w.Id,
                        SReg.NWarpId => 64,
                        SReg.SmId => 0,
                        SReg.NSmId => 132,
                        SReg.GridId => 1,
                        SReg.LanemaskEq => 1UL << lane,
                        SReg.LanemaskLe => (ulong)(uint)((2UL << lane) - 1),
                        SReg.LanemaskLt => (ulong)(uint)((1UL << lane) - 1),
                        SReg.LanemaskGe => (ulong)(uint)(0xFFFFFFFFu << lane),
                        SReg.LanemaskGt => lane == 31 ? 0UL : (ulong)(uint)(0xFFFFFFFFu << (lane + 1)),
                        SReg.DynamicSmemSize => (ulong)L.DynamicShared,
                        SReg.TotalSmemSize => (ulong)SharedSize,
                        _ => 0,
                    };
                    w.R[(reg << 5) + lane] = v;
                }
            }
        }
    }

    /// <summary>Warp instructions a warp runs before the next runnable warp gets its turn.</summary>
    private const long TimeSlice = 4096;

    private long RunWarp(Warp w, long issued, long sliceEnd)
    {
        var code = K.Code;
        var issue = IssueCount;
        var lanes = LaneCount;
        while (true)
        {
            if (w.Group == 0 && !w.Reselect()) return issued;
            if (issued >= sliceEnd) return issued;
            int pc = w.GroupPc;
            ref Instr ins = ref code[pc];
            uint exec = w.Group;
            if (ins.Guard >= 0) exec = GuardMask(w, ins.Guard, ins.GuardNeg, exec);
            issue[pc]++;
            lanes[pc] += BitOperations.PopCount(exec);
            if (++issued > _budget)
                throw new PtxTrapException(Loc(w, pc, BitOperations.TrailingZeroCount(w.Group)), $"more than {_budget:N0} warp instructions in one block: stopped as a likely infinite loop (SimulatorOptions.MaxWarpInstructionsPerBlock)");
            switch (ins.Flow)
            {
                case Flow.Normal:
                    if (exec != 0) ins.Fn(w, ref ins, exec);
                    w.GroupPc = pc + 1;
                    if (pc + 1 >= w.MinParked) w.Reselect();
                    break;
                case Flow.Branch:
                {
                    uint notTaken = w.Group & ~exec;
                    int next;
                    if (exec == 0) next = pc + 1;
                    else if (notTaken == 0) next = ins.Target;
                    else
                    {
                        if (ins.Aux == 1)
                            throw new PtxSynchronizationException(Loc(w, pc, BitOperations.TrailingZeroCount(exec)), $"bra.uni diverged: lanes {MaskText(exec)} take it, lanes {MaskText(notTaken)} do not");
                        Stats.DivergentBranches++;
                        w.SetPc(exec, ins.Target);
                        w.SetPc(notTaken, pc + 1);
                        w.Group = 0;
                        w.Reselect();
                        break;
                    }
                    w.GroupPc = next;
                    if (next >= w.MinParked) w.Reselect();
                    break;
                }
                case Flow.Exit:
                {
                    if (exec != 0)
                    {
                        for (uint m = exec; m != 0; m &= m - 1) CompleteAllCopies(w, ref ins, BitOperations.TrailingZeroCount(m));
                        w.Exited |= exec;
                        w.Group &= ~exec;
                        // Lanes already waiting at a collective that needs an exiting lane can never complete.
                        uint pending = w.AtCollective;
                        while (pending != 0)
                        {
                            int cpc = w.Pc[BitOperations.TrailingZeroCount(pending)];
                            for (uint m = pending; m != 0; m &= m - 1)
                            {
                                int l = BitOperations.TrailingZeroCount(m);
                                if (w.Pc[l] == cpc) pending &= ~(1u << l);
                            }
                            TryCompleteCollective(w, cpc);
                        }
                    }
                    if (w.Group != 0)
                    {
                        w.GroupPc = pc + 1;
                        if (pc + 1 >= w.MinParked) w.Reselect();
                    }
                    break;
                }
                case Flow.Barrier:
                {
                    if (exec != 0)
                    {
                        int lane0 = BitOperations.TrailingZeroCount(exec);
                        int id = (int)(w.Reg(ins.A, lane0) & 15);
                        if (ins.B >= 0)
                        {
                            int cnt = (int)w.Reg(ins.B, lane0);
                            if (cnt <= 0 || cnt % 32 != 0)
                                throw new PtxSynchronizationException(Loc(w, pc, lane0), $"barrier thread count {cnt} is not a positive multiple of the warp size");
                            _barExpected[id] = cnt;
                        }
                        w.SetPc(exec, pc);
                        for (uint m = exec; m != 0; m &= m - 1) w.BarId[BitOperations.TrailingZeroCount(m)] = id;
                        w.AtBarrier |= exec;
                        w.Group &= ~exec;
                    }
                    if (w.Group != 0)
                    {
                        w.GroupPc = pc + 1;
                        if (pc + 1 >= w.MinParked) w.Reselect();
                    }
                    break;
                }
                case Flow.Collective:
                {
                    uint skip = w.Group & ~exec;
                    w.SetPc(exec, pc);
                    w.SetPc(skip, pc + 1);
                    w.AtCollective |= exec;
                    w.Group = 0;
                    TryCompleteCollective(w, pc);
                    w.Reselect();
                    break;
                }
                case Flow.Trap:
                    if (exec != 0)
                        throw new PtxTrapException(Loc(w, pc, BitOperations.TrailingZeroCount(exec)), "the kernel executed trap");
                    w.GroupPc = pc + 1;
                    if (pc + 1 >= w.MinParked) w.Reselect();
                    break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint GuardMask(Warp w, int reg, bool neg, uint mask)
    {
        uint r = 0;
        ulong flip = neg ? 1UL : 0UL;
        for (uint m = mask; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            if (((w.Reg(reg, l) ^ flip) & 1) != 0) r |= 1u << l;
        }
        return r;
    }

    /// <summary>The lanes a collective needs: its member mask (Aux3 = register holding it) or, for .aligned forms, the whole warp.</summary>
    private uint RequiredLanes(Warp w, ref Instr ins, uint waiting)
    {
        if (ins.Aux3 < 0) return w.Exists;
        uint req = 0;
        for (uint m = waiting; m != 0; m &= m - 1) req |= (uint)w.Reg(ins.Aux3, BitOperations.TrailingZeroCount(m));
        return req & w.Exists;
    }

    private void TryCompleteCollective(Warp w, int pc)
    {
        ref Instr ins = ref K.Code[pc];
        uint waiting = 0;
        for (uint m = w.AtCollective; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            if (w.Pc[l] == pc) waiting |= 1u << l;
        }
        if (waiting == 0) return;
        uint req = RequiredLanes(w, ref ins, waiting);
        if ((req & w.Exited) != 0)
            throw new PtxSynchronizationException(Loc(w, pc, BitOperations.TrailingZeroCount(waiting)),
                $"warp-collective needs lanes {MaskText(req)} but lanes {MaskText(req & w.Exited)} have exited");
        if ((req & ~waiting) != 0) return;
        ins.Fn(w, ref ins, waiting);
        w.AtCollective &= ~waiting;
        w.SetPc(waiting, pc + 1);
    }

    private bool TryReleaseBarriers()
    {
        int live = 0;
        Span<int> arrived = stackalloc int[16];
        arrived.Clear();
        foreach (var w in Warps)
        {
            live += BitOperations.PopCount(w.Live);
            for (uint m = w.AtBarrier; m != 0; m &= m - 1) arrived[w.BarId[BitOperations.TrailingZeroCount(m)]]++;
        }
        bool released = false;
        for (int id = 0; id < 16; id++)
        {
            if (arrived[id] == 0) continue;
            int expected = _barExpected[id] > 0 ? _barExpected[id] : live;
            if (arrived[id] < expected) continue;
            foreach (var w in Warps)
            {
                uint rel = 0;
                for (uint m = w.AtBarrier; m != 0; m &= m - 1)
                {
                    int l = BitOperations.TrailingZeroCount(m);
                    if (w.BarId[l] == id) { rel |= 1u << l; w.Pc[l]++; }
                }
                w.AtBarrier &= ~rel;
            }
            _barExpected[id] = 0;
            Stats.Barriers++;
            released = true;
        }
        if (released) Epoch++;
        return released;
    }

    private PtxSynchronizationException Deadlock()
    {
        var sb = new StringBuilder("deadlock: no thread can make progress.");
        Warp? culprit = null;
        int cpc = 0, clane = 0;
        foreach (var w in Warps)
        {
            if (w.Live == 0) continue;
            sb.Append($" warp {w.Id}:");
            if (w.AtBarrier != 0)
            {
                int l = BitOperations.TrailingZeroCount(w.AtBarrier);
                sb.Append($" lanes {MaskText(w.AtBarrier)} at barrier {w.BarId[l]} (line {K.Lines[w.Pc[l]]})");
            }
            if (w.AtCollective != 0)
            {
                int l = BitOperations.TrailingZeroCount(w.AtCollective);
                int pc = w.Pc[l];
                sb.Append($" lanes {MaskText(w.AtCollective)} wait at `{K.Text[pc]}` (line {K.Lines[pc]})");
                if (culprit is null) { culprit = w; cpc = pc; clane = l; }
            }
            if (w.Exited != 0) sb.Append($" lanes {MaskText(w.Exited & w.Exists)} exited");
            sb.Append(';');
        }
        if (culprit is null)
        {
            foreach (var w in Warps)
                if (w.AtBarrier != 0) { culprit = w; clane = BitOperations.TrailingZeroCount(w.AtBarrier); cpc = w.Pc[clane]; break; }
        }
        culprit ??= Warps[0];
        return new PtxSynchronizationException(Loc(culprit, cpc, clane), sb.ToString());
    }

    private void FoldCounters()
    {
        // Per-instruction issue counts → totals and per-class counts; cleared for the next block.
        var code = K.Code;
        if (Stats.IssueByInstr.Length == 0) { Stats.IssueByInstr = new long[code.Length]; Stats.LanesByInstr = new long[code.Length]; }
        for (int i = 0; i < code.Length; i++)
        {
            long n = IssueCount[i];
            if (n == 0) continue;
            long t = LaneCount[i];
            Stats.WarpInstructions += n;
            Stats.ThreadInstructions += t;
            Stats.ClassWarp[(int)code[i].Class] += n;
            Stats.ClassThread[(int)code[i].Class] += t;
            Stats.IssueByInstr[i] += n;
            Stats.LanesByInstr[i] += t;
            IssueCount[i] = 0;
            LaneCount[i] = 0;
        }
    }

    public static string MaskText(uint m)
    {
        if (m == 0) return "{}";
        var sb = new StringBuilder("{");
        int i = 0;
        bool first = true;
        while (i < 32)
        {
            if ((m >> i & 1) == 0) { i++; continue; }
            int j = i;
            while (j + 1 < 32 && (m >> (j + 1) & 1) != 0) j++;
            if (!first) sb.Append(',');
            first = false;
            sb.Append(i == j ? $"{i}" : $"{i}-{j}");
            i = j + 1;
        }
        return sb.Append('}').ToString();
    }

    // ------------------------------------------------------------------ locations and errors

    public KernelLocation Loc(Warp w, int pc, int lane)
    {
        int t = w.Id * 32 + lane;
        var b = L.Block;
        var tid = new Dim3(t % b.X, t / b.X % b.Y, t / (b.X * b.Y));
        return new KernelLocation(K.Name, BlockIdx, tid, K.Lines[pc], K.Text[pc]);
    }

    // ------------------------------------------------------------------ memory

    public PtxMemoryAccessException MemError(Warp w, ref Instr ins, int lane, string space, ulong addr, int size, string problem)
        => new(Loc(w, ins.Index, lane), space, addr, size, problem);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref byte GlobalRef(Warp w, ref Instr ins, int lane, ulong addr, int size)
    {
        var a = w.LastAlloc;
        if (a is null || addr - a.Base + (ulong)size > (ulong)a.Length || addr < a.Base)
            a = FindGlobal(w, ref ins, lane, addr, size);
        if ((addr & (ulong)(size - 1)) != 0)
            throw MemError(w, ref ins, lane, "global", addr, size, "misaligned access");
        return ref a.Data[addr - a.Base];
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Allocation FindGlobal(Warp w, ref Instr ins, int lane, ulong addr, int size)
    {
        var a = L.Device.Find(addr, size);
        if (a is null)
        {
            var near = L.Device.Preceding(addr);
            string why;
            if (addr - AddressMap.SharedWindow < AddressMap.WindowSize)
                why = "out of bounds: a generic shared-memory address used as a global address (missing cvta.to.shared or wrong state space?)";
            else if (near is not null && addr < near.Base + (ulong)near.Length)
                why = $"out of bounds: the access runs past the end of the {near.Length}-byte allocation at 0x{near.Base:X} ({near.Tag})";
            else if (near is not null && addr - (near.Base + (ulong)near.Length) < (1UL << 20))
                why = $"out of bounds: {addr - (near.Base + (ulong)near.Length)} bytes past the end of the {near.Length}-byte allocation at 0x{near.Base:X} ({near.Tag})";
            else
                why = addr < 4096 ? "out of bounds: a null (or nearly null) pointer" : "out of bounds: the address is in no allocation";
            throw MemError(w, ref ins, lane, "global", addr, size, why);
        }
        w.LastAlloc = a;
        return a;
    }

    /// <summary>Shared memory at <paramref name="off"/> for a read: bounds, alignment, written-before-read and race checks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref byte SharedRead(Warp w, ref Instr ins, int lane, ulong off, int size)
    {
        if (off + (ulong)size > (ulong)SharedSize || off >= (ulong)SharedSize)
            throw MemError(w, ref ins, lane, "shared", off, size, $"out of bounds: the block has {SharedSize} bytes of shared memory ({K.StaticSharedBytes} static + {L.DynamicShared} dynamic)");
        if ((off & (ulong)(size - 1)) != 0)
            throw MemError(w, ref ins, lane, "shared", off, size, "misaligned access");
        if (_checkInit || _checkRace) CheckSharedRead(w, ref ins, lane, (int)off, size, ins.Sync);
        return ref Shared[off];
    }

    /// <summary>Shared memory at <paramref name="off"/> for a write: bounds, alignment and race checks; marks the bytes written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref byte SharedWrite(Warp w, ref Instr ins, int lane, ulong off, int size)
    {
        if (off + (ulong)size > (ulong)SharedSize || off >= (ulong)SharedSize)
            throw MemError(w, ref ins, lane, "shared", off, size, $"out of bounds: the block has {SharedSize} bytes of shared memory ({K.StaticSharedBytes} static + {L.DynamicShared} dynamic)");
        if ((off & (ulong)(size - 1)) != 0)
            throw MemError(w, ref ins, lane, "shared", off, size, "misaligned access");
        if (ins.Sync) MarkWritten((int)off, size);
        else MarkSharedWrite(w, ref ins, lane, (int)off, size);
        return ref Shared[off];
    }

    private void CheckSharedRead(Warp w, ref Instr ins, int lane, int off, int size, bool sync)
    {
        if (_checkInit && !IsWritten(off, size))
            throw new PtxUninitializedSharedReadException(Loc(w, ins.Index, lane), (ulong)off, size);
        if (!_checkRace || sync) return;
        int epoch = Epoch, me = w.Id + 1;
        for (int i = off; i < off + size; i++)
        {
            ref RaceCell c = ref _race[i];
            if (c.WriteEpoch == epoch && (c.Writer - 1) >> 5 != w.Id)
                throw new PtxSharedRaceException(Loc(w, ins.Index, lane), (ulong)i,
                    $"read after a write by thread {ThreadText(c.Writer - 1)} (warp {(c.Writer - 1) / 32}) with no barrier between");
            if (c.ReadEpoch != epoch) { c.ReadEpoch = epoch; c.Reader = me; }
            else if (c.Reader != me) c.Reader = -1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsWritten(int off, int size)
    {
        int serial = BlockSerial;
        if (size >= 4)
        {
            // Aligned whole words (alignment was checked by the caller).
            for (int wd = off >> 2, end = (off + size) >> 2; wd < end; wd++)
                if (_wordWritten[wd] != serial && !BytesWritten(wd << 2, 4)) return false;
            return true;
        }
        return _wordWritten[off >> 2] == serial || BytesWritten(off, size);
    }

    private bool BytesWritten(int off, int size)
    {
        for (int i = off; i < off + size; i++) if (_sharedWritten[i] != BlockSerial) return false;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MarkWritten(int off, int size)
    {
        if (size >= 4)
        {
            for (int wd = off >> 2, end = (off + size) >> 2; wd < end; wd++) _wordWritten[wd] = BlockSerial;
            return;
        }
        for (int i = off; i < off + size; i++) _sharedWritten[i] = BlockSerial;
        if (_wordWritten[off >> 2] != BlockSerial && BytesWritten(off & ~3, Math.Min(4, SharedSize - (off & ~3))))
            _wordWritten[off >> 2] = BlockSerial;
    }

    private void MarkSharedWrite(Warp w, ref Instr ins, int lane, int off, int size)
    {
        MarkWritten(off, size);
        if (!_checkRace) return;
        int t = w.Id * 32 + lane, epoch = Epoch, me = w.Id + 1;
        for (int i = off; i < off + size; i++)
        {
            ref RaceCell c = ref _race[i];
            if (c.WriteEpoch == epoch && (c.Writer - 1) >> 5 != w.Id)
                throw new PtxSharedRaceException(Loc(w, ins.Index, lane), (ulong)i,
                    $"write after a write by thread {ThreadText(c.Writer - 1)} (warp {(c.Writer - 1) / 32}) with no barrier between");
            if (c.ReadEpoch == epoch && c.Reader != me)
                throw new PtxSharedRaceException(Loc(w, ins.Index, lane), (ulong)i,
                    $"write after a read by {(c.Reader < 0 ? "several warps" : $"warp {c.Reader - 1}")} with no barrier between");
            c.WriteEpoch = epoch;
            c.Writer = t + 1;
        }
    }

    /// <summary>Marks shared bytes written without race checks (atomics: ordered by definition).</summary>
    public void MarkSharedWrittenNoRace(int off, int size) => MarkWritten(off, size);

    public bool SharedIsWritten(int off, int size) => IsWritten(off, size);

    private string ThreadText(int t)
    {
        var b = L.Block;
        return $"({t % b.X},{t / b.X % b.Y},{t / (b.X * b.Y)})";
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref byte LocalRef(Warp w, ref Instr ins, int lane, ulong off, int size)
    {
        if (off + (ulong)size > (ulong)K.LocalBytes || off >= (ulong)K.LocalBytes)
            throw MemError(w, ref ins, lane, "local", off, size, $"out of bounds: the thread has {K.LocalBytes} bytes of local memory");
        if ((off & (ulong)(size - 1)) != 0)
            throw MemError(w, ref ins, lane, "local", off, size, "misaligned access");
        return ref Local[(long)(w.Id * 32 + lane) * K.LocalBytes + (long)off];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref byte ParamRef(Warp w, ref Instr ins, int lane, ulong off, int size)
    {
        if (off + (ulong)size > (ulong)K.ParamBytes || off >= (ulong)K.ParamBytes)
            throw MemError(w, ref ins, lane, "param", off, size, $"out of bounds: the kernel has {K.ParamBytes} bytes of parameters");
        return ref Param[off];
    }

    /// <summary>Which window a generic address falls in.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Space Classify(ulong addr)
    {
        if (addr - AddressMap.SharedWindow < AddressMap.WindowSize) return Space.Shared;
        if (addr - AddressMap.LocalWindow < AddressMap.WindowSize) return Space.Local;
        return Space.Global;
    }

    // ------------------------------------------------------------------ cp.async

    public void CompleteGroupsUpTo(Warp w, ref Instr ins, int lane, int keepPending)
    {
        int t = w.Id * 32 + lane;
        var list = Pending[t];
        if (list.Count == 0) return;
        int limit = Committed[t] - keepPending; // groups with id < limit complete
        int kept = 0;
        for (int i = 0; i < list.Count; i++)
        {
            var c = list[i];
            if (c.Group < limit) Apply(w, ref ins, lane, c);
            else list[kept++] = c;
        }
        list.RemoveRange(kept, list.Count - kept);
    }

    public void CompleteAllCopies(Warp w, ref Instr ins, int lane)
    {
        int t = w.Id * 32 + lane;
        var list = Pending[t];
        foreach (var c in list) Apply(w, ref ins, lane, c);
        list.Clear();
    }

    private void Apply(Warp w, ref Instr ins, int lane, PendingCopy c)
    {
        // The shared destination was bounds- and alignment-checked when the copy was issued.
        MarkSharedWrite(w, ref ins, lane, c.DstOffset, c.Size);
        Span<byte> src = stackalloc byte[16];
        Unsafe.WriteUnaligned(ref src[0], c.Lo);
        Unsafe.WriteUnaligned(ref src[8], c.Hi);
        src[..c.Size].CopyTo(Shared.AsSpan(c.DstOffset, c.Size));
    }

    /// <summary>Bounds and alignment of a shared destination, without marking it (cp.async marks on completion).</summary>
    public void SharedCheck(Warp w, ref Instr ins, int lane, ulong off, int size)
    {
        if (off + (ulong)size > (ulong)SharedSize || off >= (ulong)SharedSize)
            throw MemError(w, ref ins, lane, "shared", off, size, $"out of bounds: the block has {SharedSize} bytes of shared memory ({K.StaticSharedBytes} static + {L.DynamicShared} dynamic)");
        if ((off & (ulong)(size - 1)) != 0)
            throw MemError(w, ref ins, lane, "shared", off, size, "misaligned access");
    }

    /// <summary>Shared memory for an atomic: bounds, alignment and written-before checks; marks written; no race tracking (atomics are ordered).</summary>
    public ref byte SharedAtomicRef(Warp w, ref Instr ins, int lane, ulong off, int size)
    {
        SharedCheck(w, ref ins, lane, off, size);
        if (_checkInit && !SharedIsWritten((int)off, size))
            throw new PtxUninitializedSharedReadException(Loc(w, ins.Index, lane), off, size);
        MarkSharedWrittenNoRace((int)off, size);
        return ref Shared[off];
    }

    /// <summary>Global memory without an alignment requirement (bounds only), for partial cp.async sources.</summary>
    public ref byte GlobalRefUnaligned(Warp w, ref Instr ins, int lane, ulong addr, int size)
    {
        var a = w.LastAlloc;
        if (a is null || addr < a.Base || addr - a.Base + (ulong)size > (ulong)a.Length)
            a = FindGlobal(w, ref ins, lane, addr, size);
        return ref a.Data[addr - a.Base];
    }
}
