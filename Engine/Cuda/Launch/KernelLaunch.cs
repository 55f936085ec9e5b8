using System.Runtime.CompilerServices;

namespace Vgg.Engine.Cuda.Launch;

/// <summary>Grid or block dimensions.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    /// <summary>X·Y·Z.</summary>
    public long Count => (long)X * Y * Z;

    public override string ToString() => $"({X}, {Y}, {Z})";
}

/// <summary>
/// One kernel argument in an 8-byte slot: a device address (u64), a 32-bit integer or a float. The
/// driver is given a pointer to the slot; 32-bit parameters read its first 4 bytes (little-endian),
/// which is how the PTX <c>.param .u32</c> / <c>.f32</c> declarations see them. The PTX simulator reads
/// the same slots.
/// </summary>
public readonly record struct KernelArg(ulong Bits, KernelArgKind Kind)
{
    public static KernelArg Pointer(ulong devicePointer) => new(devicePointer, KernelArgKind.Pointer);
    public static KernelArg Int(int value) => new((uint)value, KernelArgKind.Int32);
    public static KernelArg Float(float value) => new(BitConverter.SingleToUInt32Bits(value), KernelArgKind.Float32);
    public static KernelArg Long(long value) => new((ulong)value, KernelArgKind.Int64);

    public override string ToString() => Kind switch
    {
        KernelArgKind.Pointer => $"0x{Bits:x}",
        KernelArgKind.Int32 => ((int)(uint)Bits).ToString(System.Globalization.CultureInfo.InvariantCulture),
        KernelArgKind.Int64 => ((long)Bits).ToString(System.Globalization.CultureInfo.InvariantCulture),
        KernelArgKind.Float32 => BitConverter.UInt32BitsToSingle((uint)Bits).ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        _ => Bits.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>The C type of a kernel parameter.</summary>
public enum KernelArgKind : byte
{
    /// <summary>A device address (<c>T*</c>, PTX .u64).</summary>
    Pointer,
    /// <summary><c>int</c> (PTX .u32 / .s32).</summary>
    Int32,
    /// <summary><c>float</c> (PTX .f32).</summary>
    Float32,
    /// <summary><c>long long</c> (PTX .u64 / .s64).</summary>
    Int64,
}

/// <summary>
/// A fully prepared kernel launch: which entry point of which source file, grid, block, dynamic shared
/// memory and arguments. Made at plan time by the launchers (shape checks and variant choice happen
/// there); running it allocates nothing. Both the CUDA backend and the PTX simulator execute these.
/// </summary>
/// <param name="Source">The .cu file that defines the kernel ("conv3x3_f16.cu").</param>
/// <param name="Kernel">The extern "C" entry point ("vgg_conv3x3_bias_relu_f16_128x128").</param>
/// <param name="Grid">Blocks.</param>
/// <param name="Block">Threads per block.</param>
/// <param name="DynamicSharedBytes">Dynamic shared memory per block in bytes.</param>
/// <param name="Args">Arguments in parameter order.</param>
public sealed record KernelLaunch(string Source, string Kernel, Dim3 Grid, Dim3 Block, int DynamicSharedBytes, KernelArg[] Args)
{
    public override string ToString() => $"{Kernel}<<<{Grid}, {Block}, {DynamicSharedBytes}>>>({string.Join(", ", Args)})";
}

/// <summary>Something that executes <see cref="KernelLaunch"/>es: a CUDA stream, or the PTX simulator.</summary>
public interface IKernelRunner
{
    /// <summary>Enqueues (GPU) or runs (simulator) one launch.</summary>
    void Launch(KernelLaunch launch);
}

/// <summary>Builds an argument list: <c>new KernelArgs().Ptr(x).Int(n).Float(s).ToArray()</c>.</summary>
public sealed class KernelArgs
{
    private readonly List<KernelArg> _args = new();

    public KernelArgs Ptr(ulong p)
    {
        _args.Add(KernelArg.Pointer(p));
        return this;
    }

    public KernelArgs Int(int v)
    {
        _args.Add(KernelArg.Int(v));
        return this;
    }

    public KernelArgs Long(long v)
    {
        _args.Add(KernelArg.Long(v));
        return this;
    }

    public KernelArgs Float(float v)
    {
        _args.Add(KernelArg.Float(v));
        return this;
    }

    public KernelArg[] ToArray() => _args.ToArray();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint CeilDiv(long a, long b) => checked((uint)((a + b - 1) / b));
}
