using Vgg.Engine.Cpu.Kernels;

namespace Vgg.Perf.Kernels;

/// <summary>
/// VGG-16 run directly on the optimized kernels, for benchmarking them end to end before (and beside)
/// the engine's planner and session: conv1_1 by <see cref="DirectConv"/> from the NCHW image into
/// NCHWc16, the twelve other convs by <see cref="WinogradConv3x3"/> with bias, ReLU and every 2×2 pool
/// fused, one NCHWc16 → NCHW change before flatten (7×7 is already the adaptive pool's output size),
/// then fc6–fc8 by <see cref="LinearKernel"/>. Buffers are allocated once per batch size.
/// </summary>
internal sealed unsafe class Vgg16Chain : IDisposable
{
    private readonly KernelThreadPool _pool;
    private readonly DirectConv _first;
    private readonly List<WinogradConv3x3> _convs = new();
    private readonly List<LinearKernel> _fcs = new();
    private int _n = -1;
    private NativeBuffer? _a, _b, _ws, _f0, _f1;

    public Vgg16Chain(Vgg16Model model, KernelThreadPool pool, SimdLevel? level = null)
    {
        _pool = pool;
        var c0 = model.Convs[0];
        _first = new DirectConv(ConvParams.Square(c0.C, c0.M, 3, 1, 1), c0.W, c0.B, new ConvEpilogue(true, c0.PoolAfter), inputNchwc: false, level);
        foreach (var (C, M, W, B, pool2) in model.Convs.Skip(1))
            _convs.Add(new WinogradConv3x3(C, M, W, B, new ConvEpilogue(true, pool2), level));
        foreach (var (In, Out, W, B, relu) in model.Linears)
            _fcs.Add(new LinearKernel(In, Out, W, B, relu, level));
    }

    public IReadOnlyList<WinogradConv3x3> Convs => _convs;
    public DirectConv First => _first;
    public IReadOnlyList<LinearKernel> Linears => _fcs;

    public long PreparedBytes => _first.PreparedBytes + _convs.Sum(c => c.PreparedBytes) + _fcs.Sum(f => f.PreparedBytes);

    private void Ensure(int n)
    {
        if (_n == n) return;
        DisposeBuffers();
        long act = Nchwc.Floats(n, 64, 224, 224);
        _a = new NativeBuffer(act);
        _b = new NativeBuffer(act);
        long ws = _first.WorkspaceBytes(n, 224, 224, _pool);
        int h = 224;
        foreach (var c in _convs)
        {
            ws = Math.Max(ws, c.WorkspaceBytes(n, h, h, _pool));
            h = c.OutH(h);
        }
        foreach (var f in _fcs) ws = Math.Max(ws, f.WorkspaceBytes(n, _pool));
        _ws = new NativeBuffer(ws / 4 + 16);
        _f0 = new NativeBuffer((long)n * 25088);
        _f1 = new NativeBuffer((long)n * 4096);
        _n = n;
    }

    /// <summary>Workspace + activation bytes for batch n (after the first run at n).</summary>
    public long BufferBytes => (_a?.Bytes ?? 0) + (_b?.Bytes ?? 0) + (_ws?.Bytes ?? 0) + (_f0?.Bytes ?? 0) + (_f1?.Bytes ?? 0);

    /// <summary>logits [n, classes] from input [n, 3, 224, 224] NCHW. <paramref name="layerMs"/>: per-layer times when given (16 entries).</summary>
    public void Run(float* input, float* logits, int n, double[]? layerMs = null)
    {
        Ensure(n);
        double last = Clock.NowMs();
        int li = 0;
        void Lap()
        {
            if (layerMs is null) return;
            double now = Clock.NowMs();
            layerMs[li++] += now - last;
            last = now;
        }
        float* x = _a!.Pointer, y = _b!.Pointer, ws = _ws!.Pointer;
        _first.Run(input, x, n, 224, 224, ws, _pool);
        Lap();
        int h = 224;
        foreach (var c in _convs)
        {
            c.Run(x, y, n, h, h, ws, _pool);
            h = c.OutH(h);
            float* t = x; x = y; y = t;
            Lap();
        }
        LayoutNchwc.FromNchwc(x, _f0!.Pointer, n, 512, 7, 7, _pool);
        _fcs[0].Run(_f0.Pointer, _f1!.Pointer, n, ws, _pool);
        Lap();
        _fcs[1].Run(_f1.Pointer, _f0.Pointer, n, ws, _pool);
        Lap();
        _fcs[2].Run(_f0.Pointer, logits, n, ws, _pool);
        Lap();
    }

    public static readonly string[] LayerNames =
    {
        "conv1_1", "conv1_2+pool", "conv2_1", "conv2_2+pool", "conv3_1", "conv3_2", "conv3_3+pool",
        "conv4_1", "conv4_2", "conv4_3+pool", "conv5_1", "conv5_2", "conv5_3+pool", "fc6", "fc7", "fc8",
    };

    private void DisposeBuffers()
    {
        _a?.Dispose(); _b?.Dispose(); _ws?.Dispose(); _f0?.Dispose(); _f1?.Dispose();
        _a = _b = _ws = _f0 = _f1 = null;
        _n = -1;
    }

    public void Dispose()
    {
        DisposeBuffers();
        _first.Dispose();
        foreach (var c in _convs) c.Dispose();
        foreach (var f in _fcs) f.Dispose();
    }
}
