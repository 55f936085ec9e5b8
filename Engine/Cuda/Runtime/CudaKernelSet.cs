using System.Collections.Concurrent;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Launch;

namespace Vgg.Engine.Cuda.Runtime;

/// <summary>
/// The engine's kernels on one device: each .cu file compiled by NVRTC for the device (CUBIN for its
/// compute capability when NVRTC knows it, else PTX for the driver to JIT), through the disk cache,
/// loaded on first use. Thread-safe. <see cref="Prepare(KernelLaunch)"/> runs at plan time (module load, the
/// dynamic shared-memory opt-in); <see cref="Launch"/> then only enqueues.
/// </summary>
public sealed class CudaKernelSet : IDisposable
{
    private readonly CudaContext _context;
    private readonly KernelCache? _cache;
    private readonly ConcurrentDictionary<string, Lazy<CudaModule>> _modules = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CudaKernel> _kernels = new(StringComparer.Ordinal);

    /// <summary>Kernels for <paramref name="context"/>'s device.</summary>
    /// <param name="context">The device context.</param>
    /// <param name="cache">Disk cache, or null for none (the default cache is <see cref="KernelCache.Default"/>).</param>
    /// <exception cref="NotSupportedException">NVRTC cannot target the device.</exception>
    public CudaKernelSet(CudaContext context, KernelCache? cache)
    {
        _context = context;
        _cache = cache;
        Target = NvrtcCompiler.TargetFor(context.Device.ComputeCapability, NvrtcCompiler.SupportedArchitectures());
    }

    /// <summary>What the kernels are compiled to.</summary>
    public CompileTarget Target { get; }

    /// <summary>The device context.</summary>
    public CudaContext Context => _context;

    /// <summary>The module of <paramref name="source"/>, compiled and loaded on first use.</summary>
    /// <exception cref="NvrtcCompileException">The source did not compile (carries the log).</exception>
    /// <exception cref="CudaModuleException">The driver refused the image (carries the JIT log).</exception>
    public CudaModule Module(string source)
    {
        var lazy = _modules.GetOrAdd(source, s => new Lazy<CudaModule>(() =>
        {
            var compiled = NvrtcCompiler.Compile(s, Target, _cache);
            return _context.LoadModule(compiled.Image, s);
        }, LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return lazy.Value;
        }
        catch
        {
            _modules.TryRemove(source, out _);
            throw;
        }
    }

    /// <summary>The kernel of a launch (its module loaded, its shared-memory limit raised as needed).</summary>
    public CudaKernel Prepare(KernelLaunch launch)
    {
        var key = launch.Source + "/" + launch.Kernel;
        if (!_kernels.TryGetValue(key, out var k))
        {
            k = Module(launch.Source).GetKernel(launch.Kernel);
            _kernels[key] = k;
        }
        if (launch.DynamicSharedBytes > 48 * 1024)
        {
            if (launch.DynamicSharedBytes > _context.Device.SharedMemoryPerBlockOptin)
                throw new NotSupportedException($"{launch.Kernel} needs {launch.DynamicSharedBytes} bytes of shared memory per block; {_context.Device.Name} allows {_context.Device.SharedMemoryPerBlockOptin}");
            k.EnsureDynamicSharedMemory(launch.DynamicSharedBytes);
        }
        return k;
    }

    /// <summary>Prepares every launch (plan time).</summary>
    public void Prepare(IEnumerable<KernelLaunch> launches)
    {
        foreach (var l in launches) Prepare(l);
    }

    /// <summary>Enqueues <paramref name="launch"/> on <paramref name="stream"/>.</summary>
    public void Launch(KernelLaunch launch, CudaStream stream) =>
        Prepare(launch).Launch(stream, launch.Grid, launch.Block, launch.DynamicSharedBytes, launch.Args);

    /// <summary>A runner that enqueues on <paramref name="stream"/>.</summary>
    public IKernelRunner On(CudaStream stream) => new StreamRunner(this, stream);

    private sealed class StreamRunner(CudaKernelSet set, CudaStream stream) : IKernelRunner
    {
        public void Launch(KernelLaunch launch) => set.Launch(launch, stream);
    }

    public void Dispose()
    {
        foreach (var m in _modules.Values)
            if (m.IsValueCreated)
                m.Value.Dispose();
        _modules.Clear();
        _kernels.Clear();
    }
}
