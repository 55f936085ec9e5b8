using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Native;

namespace Vgg.Engine.Cuda.Runtime;

/// <summary>A loaded module: the kernels of one compiled .cu file.</summary>
public sealed class CudaModule : IDisposable
{
    private readonly CudaContext _context;
    private readonly CudaModuleHandle _handle;
    private readonly Dictionary<string, CudaKernel> _kernels = new(StringComparer.Ordinal);

    internal CudaModule(CudaContext context, CudaModuleHandle handle, string name, string jitLog)
    {
        _context = context;
        _handle = handle;
        Name = name;
        JitLog = jitLog;
    }

    /// <summary>The source name ("conv3x3_f16.cu").</summary>
    public string Name { get; }

    /// <summary>What the driver's JIT wrote while loading (empty for a CUBIN, usually).</summary>
    public string JitLog { get; }

    /// <summary>The kernel <paramref name="kernelName"/> (an extern "C" entry point), looked up once.</summary>
    /// <exception cref="CudaModuleException">No such kernel in the module.</exception>
    public CudaKernel GetKernel(string kernelName)
    {
        lock (_kernels)
        {
            if (_kernels.TryGetValue(kernelName, out var k)) return k;
            _context.MakeCurrent();
            var r = CuDriver.cuModuleGetFunction(out var fn, _handle.DangerousGetHandle(), kernelName);
            if (r != CUresult.CUDA_SUCCESS)
            {
                var (n, t) = CuDriver.Describe(r);
                throw new CudaModuleException((int)r, n, t, $"cuModuleGetFunction({kernelName})", $"kernel '{kernelName}' in module '{Name}'", JitLog);
            }
            k = new CudaKernel(_context, this, fn, kernelName);
            _kernels[kernelName] = k;
            return k;
        }
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>One kernel entry point (CUfunction; owned by its module).</summary>
public sealed class CudaKernel
{
    private readonly CudaContext _context;
    private readonly IntPtr _function;
    private int _dynamicSmemLimit = 48 * 1024;

    internal CudaKernel(CudaContext context, CudaModule module, IntPtr function, string name)
    {
        _context = context;
        Module = module;
        _function = function;
        Name = name;
    }

    public CudaModule Module { get; }
    public string Name { get; }

    /// <summary>Registers per thread, as the loaded binary uses them.</summary>
    public int Registers => Attribute(CUfunction_attribute.NUM_REGS);
    /// <summary>Static shared memory per block, bytes.</summary>
    public int StaticSharedBytes => Attribute(CUfunction_attribute.SHARED_SIZE_BYTES);
    /// <summary>Local memory per thread (spills and stack), bytes.</summary>
    public int LocalBytes => Attribute(CUfunction_attribute.LOCAL_SIZE_BYTES);
    /// <summary>Largest block this kernel can be launched with.</summary>
    public int MaxThreadsPerBlock => Attribute(CUfunction_attribute.MAX_THREADS_PER_BLOCK);

    private int Attribute(CUfunction_attribute a)
    {
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuFuncGetAttribute(out int v, a, _function), $"cuFuncGetAttribute({Name}, {a})");
        return v;
    }

    /// <summary>Raises the kernel's dynamic shared-memory limit (needed above 48 KiB). Done at plan time.</summary>
    public void EnsureDynamicSharedMemory(int bytes)
    {
        if (bytes <= _dynamicSmemLimit) return;
        _context.MakeCurrent();
        CudaCheck.Driver(CuDriver.cuFuncSetAttribute(_function, CUfunction_attribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes), $"cuFuncSetAttribute({Name}, MAX_DYNAMIC_SHARED_SIZE_BYTES, {bytes})");
        _dynamicSmemLimit = bytes;
    }

    /// <summary>Enqueues the kernel on <paramref name="stream"/>. Allocates nothing.</summary>
    /// <exception cref="CudaException">The launch was refused (bad configuration, too many resources).</exception>
    public unsafe void Launch(CudaStream stream, Dim3 grid, Dim3 block, int dynamicSharedBytes, ReadOnlySpan<KernelArg> args)
    {
        const int MaxArgs = 32;
        if (args.Length > MaxArgs) throw new ArgumentException($"{Name}: {args.Length} arguments, at most {MaxArgs}");
        _context.MakeCurrent();   // cheap when already current; a pool thread's first launch needs it
        ulong* slots = stackalloc ulong[MaxArgs];
        void** ptrs = stackalloc void*[MaxArgs];
        for (int i = 0; i < args.Length; i++)
        {
            slots[i] = args[i].Bits;
            ptrs[i] = &slots[i];
        }
        var r = CuDriver.cuLaunchKernel(_function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, (uint)dynamicSharedBytes, stream.Raw, ptrs, null);
        if (r != CUresult.CUDA_SUCCESS)
            throw CudaCheck.DriverError(r, $"cuLaunchKernel({Name}, grid {grid}, block {block}, smem {dynamicSharedBytes})");
    }
}
