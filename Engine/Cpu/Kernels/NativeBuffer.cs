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
        _ptr = (float*)NativeMemory.AlignedAlloc(bytes, Alignment);
        if (_ptr == null) throw new OutOfMemoryException($"NativeBuffer: {bytes} bytes");
        NativeMemory.Clear(_ptr, bytes);
        GC.AddMemoryPressure((long)bytes);
    }

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
