using System.Globalization;

namespace Vgg.Engine.Simulator;

/// <summary>A grid or block extent, or a block/thread index (CUDA's dim3).</summary>
public readonly record struct Dim3(int X, int Y = 1, int Z = 1)
{
    /// <summary>X·Y·Z.</summary>
    public long Volume => (long)X * Y * Z;

    public static implicit operator Dim3(int x) => new(x);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"({X},{Y},{Z})");
}

/// <summary>An address in the simulated device's global memory (what a kernel receives as a pointer argument).</summary>
public readonly record struct DevicePointer(ulong Address)
{
    /// <summary>The pointer <paramref name="bytes"/> further on.</summary>
    public DevicePointer Offset(long bytes) => new((ulong)((long)Address + bytes));

    public override string ToString() => $"0x{Address:X}";
}

/// <summary>
/// One kernel argument, packed into the parameter buffer at the .param's offset. Built implicitly from
/// int, uint, long, ulong, float, double, <see cref="DevicePointer"/>, or from raw bytes for a struct parameter.
/// Its size must equal the .param's size.
/// </summary>
public readonly struct KernelArg
{
    internal readonly byte[] Bytes;

    private KernelArg(byte[] bytes) => Bytes = bytes;

    /// <summary>A struct or array parameter given as its bytes (little-endian, as the device sees it).</summary>
    public static KernelArg FromBytes(ReadOnlySpan<byte> bytes) => new(bytes.ToArray());

    public static implicit operator KernelArg(int v) => new(BitConverter.GetBytes(v));
    public static implicit operator KernelArg(uint v) => new(BitConverter.GetBytes(v));
    public static implicit operator KernelArg(long v) => new(BitConverter.GetBytes(v));
    public static implicit operator KernelArg(ulong v) => new(BitConverter.GetBytes(v));
    public static implicit operator KernelArg(float v) => new(BitConverter.GetBytes(v));
    public static implicit operator KernelArg(double v) => new(BitConverter.GetBytes(v));
    public static implicit operator KernelArg(DevicePointer p) => new(BitConverter.GetBytes(p.Address));

    public int Size => Bytes.Length;
}

/// <summary>Settings of a <see cref="SimDevice"/>.</summary>
public sealed class SimulatorOptions
{
    /// <summary>Blocks simulated at the same time on different cores (default: the processor count).
    /// Set 1 for a fully deterministic order of global atomics across blocks.</summary>
    public int MaxParallelBlocks { get; set; } = Environment.ProcessorCount;

    /// <summary>Report a read of shared memory that no thread of the block wrote (default on).</summary>
    public bool CheckUninitializedShared { get; set; } = true;

    /// <summary>Report two warps touching the same shared byte between barriers with at least one write (default on).</summary>
    public bool CheckSharedRaces { get; set; } = true;

    /// <summary>Warp instructions one block may issue before the launch is stopped as a likely infinite loop (default 200 million).</summary>
    public long MaxWarpInstructionsPerBlock { get; set; } = 200_000_000;

    /// <summary>Byte written into fresh allocations made without data, so that reading memory nobody wrote is visible (0xFF: NaN as f32/f16, −1 as integers).</summary>
    public byte FreshMemoryFill { get; set; } = 0xFF;

    /// <summary>Largest dynamic + static shared memory per block in bytes (default 227 KiB, sm_90's opt-in limit; sm_80 allows 163 KiB).</summary>
    public int MaxSharedBytesPerBlock { get; set; } = 227 * 1024;
}
