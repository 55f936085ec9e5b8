using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vgg.Engine.Simulator.Exec;

/// <summary>
/// A warp of 32 lanes: the register file ([reg × 32 + lane], 64 bits per register) and the per-lane
/// program counters and states the scheduler works with.
///
/// Divergence (documented choice): every lane has its own PC. The warp runs the <em>group</em> of
/// runnable lanes with the smallest PC together, one instruction at a time; a divergent branch splits
/// the group, and lanes whose PCs meet again merge (the min-PC heuristic, which reconverges at the
/// immediate post-dominator for the structured code NVVM emits, loops included). A lane waiting at a
/// warp-collective or a barrier is not runnable; a collective runs once every lane it requires waits at
/// it. Correctness does not depend on where reconvergence happens, only the counters do.
/// </summary>
internal sealed class Warp
{
    public readonly ulong[] R;
    public readonly BlockExec B;
    public readonly int Id;
    /// <summary>Lanes that are threads of the block (a partial last warp has fewer).</summary>
    public uint Exists;
    public uint Exited;
    public uint AtBarrier;
    public uint AtCollective;
    public readonly int[] Pc = new int[32];
    public readonly int[] BarId = new int[32];
    /// <summary>PC of the running group (its lanes' entries in <see cref="Pc"/> are stale while it runs).</summary>
    public int GroupPc;
    public uint Group;
    /// <summary>Smallest PC among runnable lanes outside the group (int.MaxValue if none).</summary>
    public int MinParked;
    public Allocation? LastAlloc;

    public Warp(BlockExec block, int id, int regCount)
    {
        B = block;
        Id = id;
        R = new ulong[regCount * 32];
    }

    public uint Live => Exists & ~Exited;
    public uint Runnable => Exists & ~Exited & ~AtBarrier & ~AtCollective;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref ulong Reg(int reg, int lane) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(R), (reg << 5) + lane);

    /// <summary>Writes the group's PC back to its lanes, then picks the runnable lanes with the smallest PC as the new group.</summary>
    public bool Reselect()
    {
        for (uint m = Group; m != 0; m &= m - 1) Pc[BitOperations.TrailingZeroCount(m)] = GroupPc;
        uint run = Runnable;
        if (run == 0)
        {
            Group = 0;
            MinParked = int.MaxValue;
            return false;
        }
        int min = int.MaxValue;
        for (uint m = run; m != 0; m &= m - 1)
        {
            int p = Pc[BitOperations.TrailingZeroCount(m)];
            if (p < min) min = p;
        }
        uint g = 0;
        int next = int.MaxValue;
        for (uint m = run; m != 0; m &= m - 1)
        {
            int l = BitOperations.TrailingZeroCount(m);
            int p = Pc[l];
            if (p == min) g |= 1u << l;
            else if (p < next) next = p;
        }
        Group = g;
        GroupPc = min;
        MinParked = next;
        return true;
    }

    /// <summary>Sets the PC of <paramref name="lanes"/> (which must not be in the running group).</summary>
    public void SetPc(uint lanes, int pc)
    {
        for (uint m = lanes; m != 0; m &= m - 1) Pc[BitOperations.TrailingZeroCount(m)] = pc;
    }

    public int ThreadLinear(int lane) => Id * 32 + lane;
}
