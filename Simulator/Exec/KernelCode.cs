namespace Vgg.Engine.Simulator.Exec;

/// <summary>Special registers (PTX ISA §10 "Special Registers") that are constant for a thread's lifetime.</summary>
internal enum SReg : byte
{
    TidX, TidY, TidZ, NtidX, NtidY, NtidZ, CtaidX, CtaidY, CtaidZ, NctaidX, NctaidY, NctaidZ,
    LaneId, WarpId, NWarpId, SmId, NSmId, GridId, LanemaskEq, LanemaskLe, LanemaskLt, LanemaskGe, LanemaskGt,
    DynamicSmemSize, TotalSmemSize,
}

/// <summary>A kernel parameter's place in the parameter buffer.</summary>
internal sealed record ParamSlot(string Name, int Offset, int Size, int Align);

/// <summary>A decoded kernel, ready to run: instructions, register-file layout and memory layout.</summary>
internal sealed class KernelCode
{
    public required string Name;
    public required Instr[] Code;
    public required string[] Text;
    public required int[] Lines;
    /// <summary>Registers per lane in the simulator's file (declared + constants + special + scratch).</summary>
    public required int RegCount;
    /// <summary>Registers the PTX declares (what the report shows; ptxas allocates its own).</summary>
    public required int DeclaredRegisters;
    public required int[] ConstRegs;
    public required ulong[] ConstValues;
    public required (int Reg, SReg Kind)[] Specials;
    public required int StaticSharedBytes;
    /// <summary>Offset of dynamic shared memory (extern .shared arrays) after the static variables.</summary>
    public required int DynamicSharedOffset;
    public required int LocalBytes;
    public required ParamSlot[] Params;
    public required int ParamBytes;
    public (int X, int Y, int Z)? MaxNtid;
    public (int X, int Y, int Z)? ReqNtid;
    /// <summary>Module-scope .global/.const variables the kernel may touch (allocated per device).</summary>
    public required PtxModule Module;
}

/// <summary>Fixed windows of the simulated generic address space.</summary>
internal static class AddressMap
{
    /// <summary>Generic address of shared offset 0 (cvta.shared adds it, cvta.to.shared subtracts it).</summary>
    public const ulong SharedWindow = 0x0001_0000_0000_0000UL;
    /// <summary>Generic address of local offset 0.</summary>
    public const ulong LocalWindow = 0x0002_0000_0000_0000UL;
    public const ulong WindowSize = 1UL << 32;
    /// <summary>First address handed out by <see cref="SimDevice.Allocate"/>.</summary>
    public const ulong GlobalHeapBase = 0x0000_0010_0000_0000UL;
    /// <summary>Module-scope variables: module id × 4 GiB above this.</summary>
    public const ulong ModuleSegmentBase = 0x0000_4000_0000_0000UL;
}
