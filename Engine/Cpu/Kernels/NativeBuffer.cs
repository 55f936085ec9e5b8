using System.Runtime.InteropServices;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// A 64-byte aligned, zero-initialised block of native memory (NativeMemory.AlignedAlloc) holding
/// floats: prepared weights and workspaces. Never moves (no pinning needed), freed by Dispose or the
/// finalizer. Pointers handed out are valid until Dispose.
/// </summary>
internal sealed unsafe class NativeBuffer : IDisposable
{
    public const int Alignment = 64;
    private float* _ptr;

    public NativeBuffer(long floats)
    {
        if (floats < 0) throw new ArgumentOutOfRangeException(nameof(floats));
        Length = floats;
        nuint bytes = (nuint)Math.Max(1, floats) * sizeof(float);
        bool huge = bytes >= HugePage && OperatingSystem.IsLinux() && UseHugePages;
        _ptr = (float*)NativeMemory.AlignedAlloc(bytes, huge ? HugePage : Alignment);
        if (_ptr == null) throw new OutOfMemoryException($"NativeBuffer: {bytes} bytes");
        if (huge) _ = Madvise(_ptr, bytes, MadvHugePage); // a hint: failure only costs TLB misses
        NativeMemory.Clear(_ptr, bytes);
        GC.AddMemoryPressure((long)bytes);
    }

    private const nuint HugePage = 2 << 20;
    private const int MadvHugePage = 14;

    /// <summary>
    /// Ask Linux for transparent huge pages (madvise MADV_HUGEPAGE) on buffers of 2 MiB and more:
    /// streaming hundreds of MB of weights through 4 KiB pages costs a TLB miss every 64 cache lines,
    /// which is expensive under virtualization. Settable for benchmarks.
    /// </summary>
    internal static bool UseHugePages { get; set; } = true;

    [DllImport("libc", EntryPoint = "madvise", SetLastError = false)]
    private static extern int Madvise(void* addr, nuint length, int advice);

    /// <summary>Number of floats.</summary>
    public long Length { get; }

    /// <summary>Size in bytes.</summary>
    public long Bytes => Length * sizeof(float);

    public float* Pointer => _ptr != null ? _ptr : throw new ObjectDisposedException(nameof(NativeBuffer));

    public Span<float> AsSpan() => new(Pointer, checked((int)Length));

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer() => Free();

    private void Free()
    {
        var p = _ptr;
        _ptr = null;
        if (p != null)
        {
            NativeMemory.AlignedFree(p);
            GC.RemoveMemoryPressure(Math.Max(1, Length) * sizeof(float));
        }
    }
}
