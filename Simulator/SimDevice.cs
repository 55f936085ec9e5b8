using System.Diagnostics;
using System.Runtime.InteropServices;
using Vgg.Engine.Simulator.Exec;

namespace Vgg.Engine.Simulator;

/// <summary>One global-memory allocation of the simulated device.</summary>
internal sealed class Allocation
{
    public required ulong Base;
    public required byte[] Data;
    public required string Tag;
    public long Length => Data.LongLength;
}

/// <summary>
/// A simulated CUDA device: global memory (allocations made from host arrays, read back after a launch)
/// and kernel launches on a grid of blocks, run on the CPU by the PTX interpreter. Blocks run in parallel
/// across cores (<see cref="SimulatorOptions.MaxParallelBlocks"/>); each launch returns its counters.
/// Not thread-safe: one launch at a time per device.
/// </summary>
public sealed class SimDevice
{
    private readonly List<Allocation> _allocs = []; // sorted by Base
    private readonly Dictionary<PtxModule, bool> _modulesLoaded = [];
    private ulong _next = AddressMap.GlobalHeapBase;

    public SimDevice(SimulatorOptions? options = null) => Options = options ?? new SimulatorOptions();

    public SimulatorOptions Options { get; }

    /// <summary>Bytes currently allocated (kernel buffers, not module variables).</summary>
    public long AllocatedBytes => _allocs.Where(a => a.Tag != "module").Sum(a => a.Length);

    /// <summary>Allocates <paramref name="bytes"/> of global memory, 256-byte aligned, filled with <see cref="SimulatorOptions.FreshMemoryFill"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">bytes is negative or above 2 GiB.</exception>
    public DevicePointer Allocate(long bytes, string? tag = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, Array.MaxLength);
        var data = new byte[bytes];
        if (Options.FreshMemoryFill != 0) data.AsSpan().Fill(Options.FreshMemoryFill);
        return Insert(data, tag ?? "buffer");
    }

    /// <summary>Allocates global memory holding a copy of <paramref name="host"/>.</summary>
    public DevicePointer Upload<T>(ReadOnlySpan<T> host, string? tag = null) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(host).ToArray();
        return Insert(bytes, tag ?? "buffer");
    }

    /// <summary>Allocates global memory holding a copy of <paramref name="host"/>.</summary>
    public DevicePointer Upload<T>(T[] host, string? tag = null) where T : unmanaged => Upload<T>(host.AsSpan(), tag);

    /// <summary>Copies <paramref name="host"/> into device memory at <paramref name="dst"/>.</summary>
    /// <exception cref="ArgumentException">The range is not inside one allocation.</exception>
    public void CopyToDevice<T>(DevicePointer dst, ReadOnlySpan<T> host) where T : unmanaged
    {
        var src = MemoryMarshal.AsBytes(host);
        var (a, off) = Locate(dst.Address, src.Length);
        src.CopyTo(a.Data.AsSpan((int)off));
    }

    /// <summary>Reads <paramref name="count"/> elements of <typeparamref name="T"/> starting at <paramref name="src"/>.</summary>
    /// <exception cref="ArgumentException">The range is not inside one allocation.</exception>
    public T[] Download<T>(DevicePointer src, long count) where T : unmanaged
    {
        int size = Marshal.SizeOf<T>();
        var result = new T[count];
        var (a, off) = Locate(src.Address, count * size);
        a.Data.AsSpan((int)off, (int)(count * size)).CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
        return result;
    }

    /// <summary>Fills <paramref name="bytes"/> bytes at <paramref name="dst"/> with <paramref name="value"/>.</summary>
    public void Memset(DevicePointer dst, byte value, long bytes)
    {
        var (a, off) = Locate(dst.Address, bytes);
        a.Data.AsSpan((int)off, (int)bytes).Fill(value);
    }

    /// <summary>Releases the allocation that starts at <paramref name="ptr"/>; later accesses to it are out of bounds.</summary>
    /// <exception cref="ArgumentException">No allocation starts there.</exception>
    public void Free(DevicePointer ptr)
    {
        int i = _allocs.FindIndex(a => a.Base == ptr.Address && a.Tag != "module");
        if (i < 0) throw new ArgumentException($"no allocation starts at {ptr}", nameof(ptr));
        _allocs.RemoveAt(i);
    }

    private DevicePointer Insert(byte[] data, string tag)
    {
        var a = new Allocation { Base = _next, Data = data, Tag = tag };
        _allocs.Add(a);
        _allocs.Sort((x, y) => x.Base.CompareTo(y.Base));
        // 256-byte alignment and a 256-byte gap, so that small overruns land outside every allocation.
        _next += ((ulong)data.LongLength + 255UL & ~255UL) + 256;
        return new DevicePointer(a.Base);
    }

    private (Allocation, long) Locate(ulong addr, long bytes)
    {
        var a = Find(addr, bytes) ?? throw new ArgumentException($"range 0x{addr:X}+{bytes} is not inside one device allocation");
        return (a, (long)(addr - a.Base));
    }

    /// <summary>The allocation containing [addr, addr+size), or null.</summary>
    internal Allocation? Find(ulong addr, long size)
    {
        var list = _allocs;
        int lo = 0, hi = list.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            var a = list[mid];
            if (addr < a.Base) hi = mid - 1;
            else if (addr - a.Base >= (ulong)a.Length) lo = mid + 1;
            else return addr - a.Base + (ulong)size <= (ulong)a.Length ? a : null;
        }
        return null;
    }

    /// <summary>The allocation with the largest base at or below <paramref name="addr"/>, or null.</summary>
    internal Allocation? Preceding(ulong addr)
    {
        Allocation? best = null;
        foreach (var a in _allocs) if (a.Base <= addr && (best is null || a.Base > best.Base)) best = a;
        return best;
    }

    internal void EnsureModuleLoaded(PtxModule module)
    {
        if (_modulesLoaded.ContainsKey(module)) return;
        foreach (var (addr, data) in module.GlobalSegments())
        {
            _allocs.Add(new Allocation { Base = addr, Data = (byte[])data.Clone(), Tag = "module" });
        }
        _allocs.Sort((x, y) => x.Base.CompareTo(y.Base));
        _modulesLoaded[module] = true;
    }

    /// <summary>
    /// Runs <paramref name="kernel"/> on a grid of <paramref name="grid"/> blocks of <paramref name="block"/>
    /// threads with <paramref name="dynamicSharedBytes"/> of dynamic shared memory, as cuLaunchKernel would,
    /// and returns the launch's counters. Device memory holds the results afterwards.
    /// </summary>
    /// <exception cref="PtxLaunchException">Wrong argument count or size, a block larger than 1024 threads or than .maxntid/.reqntid allow, too much shared memory.</exception>
    /// <exception cref="PtxExecutionException">A fault while running (subclass says which), naming block, thread, line and instruction.</exception>
    public LaunchReport Launch(PtxKernel kernel, Dim3 grid, Dim3 block, int dynamicSharedBytes, params KernelArg[] args)
    {
        var k = kernel.Code;
        if (grid.X < 1 || grid.Y < 1 || grid.Z < 1 || grid.Y > 65535 || grid.Z > 65535)
            throw new PtxLaunchException(k.Name, $"grid {grid} is invalid (each extent ≥ 1; y, z ≤ 65535)");
        if (block.X < 1 || block.Y < 1 || block.Z < 1 || block.Volume > 1024 || block.Z > 64)
            throw new PtxLaunchException(k.Name, $"block {block} is invalid (each extent ≥ 1, at most 1024 threads, z ≤ 64)");
        if (k.MaxNtid is { } mx && block.Volume > (long)mx.X * mx.Y * mx.Z)
            throw new PtxLaunchException(k.Name, $"block {block} has more threads than the kernel's .maxntid {mx.X},{mx.Y},{mx.Z}");
        if (k.ReqNtid is { } rq && (block.X != rq.X || block.Y != rq.Y || block.Z != rq.Z))
            throw new PtxLaunchException(k.Name, $"block {block} differs from the kernel's .reqntid {rq.X},{rq.Y},{rq.Z}");
        if (dynamicSharedBytes < 0 || k.DynamicSharedOffset + (long)dynamicSharedBytes > Options.MaxSharedBytesPerBlock)
            throw new PtxLaunchException(k.Name, $"{k.StaticSharedBytes} B static + {dynamicSharedBytes} B dynamic shared memory exceeds {Options.MaxSharedBytesPerBlock} B");
        if (args.Length != k.Params.Length)
            throw new PtxLaunchException(k.Name, $"{args.Length} arguments given, the kernel takes {k.Params.Length} ({string.Join(", ", k.Params.Select(p => $"{p.Name}: {p.Size} B"))})");
        var param = new byte[Math.Max(k.ParamBytes, 1)];
        for (int i = 0; i < args.Length; i++)
        {
            var p = k.Params[i];
            if (args[i].Size != p.Size)
                throw new PtxLaunchException(k.Name, $"argument {i} ({p.Name}) is {args[i].Size} bytes, the parameter is {p.Size} bytes");
            args[i].Bytes.CopyTo(param, p.Offset);
        }
        EnsureModuleLoaded(kernel.Module);

        var sw = Stopwatch.StartNew();
        var launch = new LaunchContext(this, k, grid, block, dynamicSharedBytes, param);
        var total = new LaunchStats();
        long blocks = grid.Volume;
        int workers = (int)Math.Max(1, Math.Min(Options.MaxParallelBlocks, blocks));
        if (workers == 1)
        {
            var exec = new BlockExec(launch);
            for (long b = 0; b < blocks; b++) exec.Run(b);
            total.Add(exec.Stats);
        }
        else
        {
            long next = -1;
            var errors = new PtxSimulatorException?[workers];
            var errorBlock = new long[workers];
            var execs = new BlockExec[workers];
            int stop = 0;
            var threads = new Thread[workers];
            for (int w = 0; w < workers; w++)
            {
                int wi = w;
                threads[w] = new Thread(() =>
                {
                    var exec = execs[wi] = new BlockExec(launch);
                    while (Volatile.Read(ref stop) == 0)
                    {
                        long b = Interlocked.Increment(ref next);
                        if (b >= blocks) break;
                        try { exec.Run(b); }
                        catch (Exception e)
                        {
                            errors[wi] = e as PtxSimulatorException ?? new PtxSimulatorException($"internal simulator error in kernel {k.Name}, block {b}: {e.Message}", e);
                            errorBlock[wi] = b;
                            Volatile.Write(ref stop, 1);
                            break;
                        }
                    }
                }, 16 * 1024 * 1024) { IsBackground = true, Name = "ptxsim-block-worker" };
                threads[w].Start();
            }
            foreach (var t in threads) t.Join();
            PtxSimulatorException? first = null;
            long firstBlock = long.MaxValue;
            for (int w = 0; w < workers; w++)
                if (errors[w] is { } e && errorBlock[w] < firstBlock) { first = e; firstBlock = errorBlock[w]; }
            if (first is not null) throw first;
            foreach (var e in execs) if (e is not null) total.Add(e.Stats);
        }
        sw.Stop();
        return LaunchReport.From(k, grid, block, dynamicSharedBytes, total, sw.Elapsed.TotalMilliseconds);
    }
}

/// <summary>What every block of one launch shares.</summary>
internal sealed class LaunchContext(SimDevice device, KernelCode kernel, Dim3 grid, Dim3 block, int dynamicShared, byte[] param)
{
    public readonly SimDevice Device = device;
    public readonly KernelCode Kernel = kernel;
    public readonly Dim3 Grid = grid;
    public readonly Dim3 Block = block;
    public readonly int DynamicShared = dynamicShared;
    public readonly byte[] Param = param;
    public readonly SimulatorOptions Options = device.Options;
}
