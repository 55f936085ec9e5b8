using BenchmarkDotNet.Attributes;
using Vgg.Engine.Cpu.Kernels;
using Vgg.Perf.Harness.Micro;

namespace Vgg.Perf.Kernels;

/// <summary>
/// BenchmarkDotNet micro-benchmarks of single kernels at VGG-16 shapes (batch 1), run in-process by the
/// harness's <see cref="MicroBench"/> with GFLOP/s and GB/s columns from <see cref="PerfRegistry"/>:
/// <c>Vgg.Perf.Kernels micro [--quick] [--filter *Winograd*]</c>. Validation against ORT and the
/// side-by-side ratios are in the <c>layers</c> command; this is the statistically careful single-op
/// timing (BenchmarkDotNet's warm-up, pilot and outlier handling).
/// </summary>
public unsafe class KernelMicroBenchmarks : IOpWork, IDisposable
{
    /// <summary>conv1_2 (64→64 @224 + pool), conv3_2 (256→256 @56), conv5_1 (512→512 @14), conv1_1 (3→64 @224, direct), fc7 (4096→4096 GEMV).</summary>
    [Params("conv1_2", "conv3_2", "conv5_1", "conv1_1", "fc7")]
    public string Layer { get; set; } = "conv3_2";

    /// <summary>Threads of the kernel pool.</summary>
    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    private KernelThreadPool? _pool;
    private IDisposable? _kernel;
    private NativeBuffer? _x, _y, _ws;
    private Action? _run;

    private (int C, int M, int H, bool Pool, bool Fc) Shape => Layer switch
    {
        "conv1_2" => (64, 64, 224, true, false),
        "conv3_2" => (256, 256, 56, false, false),
        "conv5_1" => (512, 512, 14, false, false),
        "conv1_1" => (3, 64, 224, false, false),
        "fc7" => (4096, 4096, 1, false, true),
        _ => throw new ArgumentException($"unknown layer {Layer}"),
    };

    public (long Flops, long Bytes) Work()
    {
        var (c, m, h, pool, fc) = Shape;
        var s = new LayerShape(1, c, m, h, h, fc ? 1 : 3, pool ? h / 2 : h, pool ? h / 2 : h);
        var row = fc ? PerfRegistry.Linear : c == 3 ? PerfRegistry.ConvDirect : PerfRegistry.ConvWinograd;
        return ((long)row.Flops(s), (long)row.Bytes(s));
    }

    [GlobalSetup]
    public void Setup()
    {
        var (c, m, h, pool, fc) = Shape;
        var rng = new Rng((ulong)(c * 31 + m));
        _pool = new KernelThreadPool(Threads);
        var w = rng.Uniform(m * c * (fc ? 1 : 9), MathF.Sqrt(6f / (c * (fc ? 1 : 9))));
        var b = rng.Uniform(m, 0.1f);
        var ep = new ConvEpilogue(true, pool);
        if (fc)
        {
            var k = new LinearKernel(c, m, w, b, true);
            _kernel = k;
            _x = Filled(c, rng);
            _y = new NativeBuffer(m);
            _ws = new NativeBuffer(k.WorkspaceBytes(1, _pool) / 4 + 16);
            _run = () => k.Run(_x.Pointer, _y.Pointer, 1, _ws.Pointer, _pool);
        }
        else if (c == 3)
        {
            var k = new DirectConv(ConvParams.Square(c, m, 3, 1, 1), w, b, ep, inputNchwc: false);
            _kernel = k;
            _x = Filled((long)c * h * h, rng);
            _y = new NativeBuffer(Nchwc.Floats(1, m, k.OutH(h), k.OutW(h)));
            _ws = new NativeBuffer(k.WorkspaceBytes(1, h, h, _pool) / 4 + 16);
            _run = () => k.Run(_x.Pointer, _y.Pointer, 1, h, h, _ws.Pointer, _pool);
        }
        else
        {
            var k = new WinogradConv3x3(c, m, w, b, ep);
            _kernel = k;
            _x = Filled(Nchwc.Floats(1, c, h, h), rng);
            _y = new NativeBuffer(Nchwc.Floats(1, m, k.OutH(h), k.OutW(h)));
            _ws = new NativeBuffer(k.WorkspaceBytes(1, h, h, _pool) / 4 + 16);
            _run = () => k.Run(_x.Pointer, _y.Pointer, 1, h, h, _ws.Pointer, _pool);
        }
    }

    private static NativeBuffer Filled(long n, Rng rng)
    {
        var buf = new NativeBuffer(n);
        var s = buf.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = rng.NextFloat(1f);
        return buf;
    }

    [Benchmark]
    public void Kernel() => _run!();

    [GlobalCleanup]
    public void Dispose()
    {
        _kernel?.Dispose(); _x?.Dispose(); _y?.Dispose(); _ws?.Dispose(); _pool?.Dispose();
        _kernel = null; _x = _y = _ws = null; _pool = null;
        GC.SuppressFinalize(this);
    }
}
