namespace Vgg.Engine.Simulator;

/// <summary>
/// Base of every error the PTX simulator reports: a module it cannot parse, an instruction it does not
/// implement, or a kernel that did something wrong while running (out-of-bounds access, a read of
/// shared memory nothing wrote, a barrier or warp-collective that can never complete).
/// </summary>
public class PtxSimulatorException : VggEngineException
{
    public PtxSimulatorException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>PTX text that does not parse: names the source, the line and what was expected.</summary>
public sealed class PtxParseException : PtxSimulatorException
{
    public PtxParseException(string source, int line, string problem)
        : base($"{source}:{line}: {problem}")
    {
        Source = source;
        Line = line;
        Problem = problem;
    }

    /// <summary>The module's name (file name or the name given to <see cref="PtxModule.Parse"/>).</summary>
    public new string Source { get; }

    /// <summary>1-based line in the PTX text.</summary>
    public int Line { get; }

    public string Problem { get; }
}

/// <summary>
/// An instruction (or a form of one: a type, modifier or operand kind) that the simulator does not
/// implement. Raised when the kernel is decoded (<see cref="PtxModule.GetKernel"/>), before anything runs.
/// Message: "unsupported instruction X at line N of kernel K: detail".
/// </summary>
public sealed class PtxUnsupportedInstructionException : PtxSimulatorException
{
    public PtxUnsupportedInstructionException(string kernel, int line, string instruction, string detail)
        : base($"unsupported instruction {instruction} at line {line} of kernel {kernel}{(detail.Length == 0 ? "" : ": " + detail)}")
    {
        Kernel = kernel;
        Line = line;
        Instruction = instruction;
        Detail = detail;
    }

    public string Kernel { get; }
    public int Line { get; }

    /// <summary>The instruction's opcode with its modifiers as written, e.g. "tex.2d.v4.f32.f32".</summary>
    public string Instruction { get; }

    public string Detail { get; }
}

/// <summary>A launch whose configuration or arguments do not fit the kernel (argument count or size, block size, shared memory).</summary>
public sealed class PtxLaunchException : PtxSimulatorException
{
    public PtxLaunchException(string kernel, string problem) : base($"launch of kernel {kernel}: {problem}")
    {
        Kernel = kernel;
        Problem = problem;
    }

    public string Kernel { get; }
    public string Problem { get; }
}

/// <summary>
/// A fault found while a kernel ran: names the kernel, the block (ctaid), the thread (tid), the PTX line
/// and the instruction text. Subclasses say which kind of fault.
/// </summary>
public class PtxExecutionException : PtxSimulatorException
{
    public PtxExecutionException(KernelLocation where, string problem)
        : base($"kernel {where.Kernel}, block ({where.Block.X},{where.Block.Y},{where.Block.Z}), thread ({where.Thread.X},{where.Thread.Y},{where.Thread.Z}), line {where.Line} `{where.Instruction}`: {problem}")
    {
        Where = where;
        Problem = problem;
    }

    /// <summary>Where the fault happened.</summary>
    public KernelLocation Where { get; }

    /// <summary>What went wrong, without the location.</summary>
    public string Problem { get; }
}

/// <summary>A load or store outside every allocation (global), outside the block's shared memory, the
/// thread's local memory or the parameter buffer, or misaligned for its size.</summary>
public sealed class PtxMemoryAccessException : PtxExecutionException
{
    public PtxMemoryAccessException(KernelLocation where, string space, ulong address, int size, string problem)
        : base(where, $"{problem}: {size}-byte access to {space} address 0x{address:X}")
    {
        Space = space;
        Address = address;
        Size = size;
    }

    /// <summary>"global", "shared", "local", "param" or "generic".</summary>
    public string Space { get; }
    public ulong Address { get; }
    public int Size { get; }
}

/// <summary>A read of shared-memory bytes that no thread of the block has written (nor a cp.async completed into) since the block started.</summary>
public sealed class PtxUninitializedSharedReadException : PtxExecutionException
{
    public PtxUninitializedSharedReadException(KernelLocation where, ulong offset, int size)
        : base(where, $"read of uninitialized shared memory: {size} bytes at shared offset 0x{offset:X} were never written by the block")
    {
        Offset = offset;
        Size = size;
    }

    public ulong Offset { get; }
    public int Size { get; }
}

/// <summary>Two threads of different warps touched the same shared-memory byte between two barriers, at least one of them writing.</summary>
public sealed class PtxSharedRaceException : PtxExecutionException
{
    public PtxSharedRaceException(KernelLocation where, ulong offset, string problem)
        : base(where, $"shared-memory race at shared offset 0x{offset:X}: {problem}")
    {
        Offset = offset;
    }

    public ulong Offset { get; }
}

/// <summary>A barrier or warp-collective (shfl.sync, mma.sync, ldmatrix, vote.sync, bar.warp.sync) that can never complete, or one whose member mask names an exited thread.</summary>
public sealed class PtxSynchronizationException : PtxExecutionException
{
    public PtxSynchronizationException(KernelLocation where, string problem) : base(where, problem) { }
}

/// <summary>A kernel that executed <c>trap</c>, or ran past the configured instruction budget (a likely infinite loop).</summary>
public sealed class PtxTrapException : PtxExecutionException
{
    public PtxTrapException(KernelLocation where, string problem) : base(where, problem) { }
}

/// <summary>Where in a running kernel something happened.</summary>
/// <param name="Kernel">The kernel's entry name.</param>
/// <param name="Block">%ctaid of the block.</param>
/// <param name="Thread">%tid of the thread.</param>
/// <param name="Line">1-based line of the instruction in the PTX text.</param>
/// <param name="Instruction">The instruction as written in the PTX text.</param>
public readonly record struct KernelLocation(string Kernel, Dim3 Block, Dim3 Thread, int Line, string Instruction);
