using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Diagnostics;
using Vgg.Engine.Cuda.Launch;

namespace Vgg.Engine.Simulator.Integration;

/// <summary>
/// The CUDA backend's check device (<see cref="IGpuCheckDevice"/>) and kernel runner
/// (<see cref="IKernelRunner"/>) on the PTX simulator: the embedded kernel sources are compiled by NVRTC
/// to PTX for compute_80 (the CUDA backend's own compiler and cache), parsed once per source, and every
/// <see cref="KernelLaunch"/> runs on a <see cref="SimDevice"/>. Each launch's <see cref="LaunchReport"/>
/// is kept in <see cref="Reports"/> (what <c>vgg kernels --simulate</c> prints).
/// </summary>
public sealed class SimulatedGpuDevice : IGpuCheckDevice, IKernelRunner
{
    private readonly Dictionary<string, PtxModule> _modules = new(StringComparer.Ordinal);
    private readonly CompileTarget _target;
    private readonly KernelCache? _cache;

    /// <param name="options">Simulator settings (checks, parallel blocks).</param>
    /// <param name="arch">Compute capability the PTX is generated for (80 or 90).</param>
    /// <param name="multiprocessors">SM count the launchers size grids and split-K with (small keeps simulated grids small).</param>
    /// <param name="cache">The NVRTC disk cache, or null.</param>
    public SimulatedGpuDevice(SimulatorOptions? options = null, int arch = 80, int multiprocessors = 8, KernelCache? cache = null)
    {
        Device = new SimDevice(options);
        _target = new CompileTarget(arch, false);
        Multiprocessors = multiprocessors;
        _cache = cache;
    }

    public SimDevice Device { get; }
    public int Multiprocessors { get; }
    public List<LaunchReport> Reports { get; } = [];

    public ulong Upload<T>(T[] data) where T : unmanaged => data.Length == 0 ? Device.Allocate(16).Address : Device.Upload(data).Address;

    public ulong Output(long bytes, byte poison = 0xFF)
    {
        var p = Device.Allocate(Math.Max(1, bytes), "output");
        Device.Memset(p, poison, Math.Max(1, bytes));
        return p.Address;
    }

    public T[] Download<T>(ulong pointer, long count) where T : unmanaged => Device.Download<T>(new DevicePointer(pointer), count);

    public void Run(IEnumerable<KernelLaunch> launches)
    {
        foreach (var l in launches) Launch(l);
    }

    /// <summary>Runs one launch to completion. Arguments are narrowed to the .param sizes (32-bit slots read their low 4 bytes).</summary>
    /// <exception cref="PtxSimulatorException">A parse, decode, launch or execution fault (subclass says which).</exception>
    public void Launch(KernelLaunch launch)
    {
        if (!_modules.TryGetValue(launch.Source, out var module))
            _modules[launch.Source] = module = PtxModule.Parse(NvrtcCompiler.Compile(launch.Source, _target, _cache).PtxText, launch.Source);
        var kernel = module.GetKernel(launch.Kernel);
        var ps = kernel.Parameters;
        if (ps.Count != launch.Args.Length)
            throw new PtxLaunchException(launch.Kernel, $"{launch.Args.Length} arguments given, the kernel takes {ps.Count}");
        var args = new Simulator.KernelArg[launch.Args.Length];
        for (int i = 0; i < args.Length; i++)
            args[i] = ps[i].SizeBytes == 4 ? (Simulator.KernelArg)(uint)launch.Args[i].Bits : (Simulator.KernelArg)launch.Args[i].Bits;
        Reports.Add(Device.Launch(kernel,
            new Simulator.Dim3((int)launch.Grid.X, (int)launch.Grid.Y, (int)launch.Grid.Z),
            new Simulator.Dim3((int)launch.Block.X, (int)launch.Block.Y, (int)launch.Block.Z),
            launch.DynamicSharedBytes, args));
    }
}
