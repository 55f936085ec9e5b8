using Vgg.Engine.Cpu.Ops;
using Vgg.Engine.IR;
using Vgg.Engine.Planning;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// The CPU backend's step for a float32 2-D convolution (group 1, constant weights) on this folder's
/// kernels: <see cref="WinogradConv3x3"/> for 3×3 stride 1 pad 1 with at least 16 input channels,
/// <see cref="DirectConv"/> for every other kernel, stride, padding and dilation (and for the RGB first
/// layer). Bias, ReLU and a fused 2×2/2 max-pool run in the kernel's epilogue; any other fused max-pool
/// runs as <see cref="MaxPoolNchwc"/> on the conv output in the workspace.
/// </summary>
/// <remarks>
/// Layout: the kernels work in NCHWc16. The arena holds NCHW values, except that
/// <see cref="FastConvLayout"/> marks a value blocked (NCHWc16, the same bytes when its channel count is
/// a multiple of 16) when a fast conv writes it and only fast convs read it, so a chain of convs (VGG's
/// 13) stays blocked and converts only at its ends: the first conv reads the NCHW image directly, the
/// last one's epilogue scatters NCHW for Flatten. A Winograd conv whose input is not blocked gathers
/// its channels in the input transform. No layout needs workspace, so the planner's figure is exact. Prepared weights are cached in the backend's <see cref="WeightCache"/>, so
/// every plan (input shape) of a model shares them.
/// </remarks>
internal sealed unsafe class FastConvStep : CpuStep
{
    /// <summary>Global switch (tests and benchmarks compare against the baseline im2col path). Env VGG_CPU_FAST_KERNELS=0 turns it off.</summary>
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("VGG_CPU_FAST_KERNELS") != "0";

    private readonly int _threads;
    private readonly WeightCache _cache;
    private readonly Tensor _weight;
    private readonly Tensor? _bias;
    private readonly ConvParams _p;
    private readonly int _n, _h, _w, _coh, _cow, _oh, _ow;
    private readonly bool _winograd, _fusedPool2x2;
    private readonly SpatialAxis _poolH, _poolW;
    private readonly bool _separatePool;
    private readonly bool _relu;
    private object? _kernel;

    private FastConvStep(PlanStep step, int threads, WeightCache cache, ConvParams p, int n, int h, int w,
        int coh, int cow, int oh, int ow, bool relu, bool fused2x2, bool separatePool, SpatialAxis ph, SpatialAxis pw) : base(step)
    {
        _threads = threads;
        _cache = cache;
        _weight = step.Inputs[1]!.Constant!;
        _bias = step.Inputs.Length > 2 ? step.Inputs[2]?.Constant : null;
        _p = p;
        (_n, _h, _w, _coh, _cow, _oh, _ow) = (n, h, w, coh, cow, oh, ow);
        _relu = relu;
        _fusedPool2x2 = fused2x2;
        _separatePool = separatePool;
        (_poolH, _poolW) = (ph, pw);
        _winograd = p.IsVgg3x3 && p.C >= 16;
    }

    /// <summary>A fast step for <paramref name="step"/>, or null when these kernels do not take it (then the backend's own conv runs).</summary>
    public static FastConvStep? TryCreate(PlanStep step, int threads, WeightCache cache)
    {
        if (!Enabled || step.Op is not ConvOp op || op.Group != 1) return null;
        var x = step.Inputs[0];
        var wv = step.Inputs[1];
        if (x is null || x.Shape.Length != 4 || wv is not { IsConstant: true } || wv.Shape.Length != 4) return null;
        if (step.Inputs.Length > 2 && step.Inputs[2] is { } b && (!b.IsConstant || b.ElementCount != wv.Shape[0])) return null;
        if (step.Outputs.Length != 1 || x.DType != DType.Float32 || wv.DType != DType.Float32 || step.Outputs[0].DType != DType.Float32) return null;
        var xs = x.Shape;
        if (xs.Any(d => d <= 0)) return null;
        var kernel = op.KernelShape.Length > 0 ? op.KernelShape : wv.Shape[2..];
        var axes = SpatialGeometry.Resolve(step.Node.Name, xs[2..], kernel, op.Strides, op.Pads, op.Dilations, op.AutoPad, false);
        var (ah, aw) = (axes[0], axes[1]);
        if (wv.Shape[1] != xs[1]) return null;
        var p = new ConvParams(xs[1], wv.Shape[0], ah.Kernel, aw.Kernel, ah.Stride, aw.Stride, ah.PadBegin, aw.PadBegin, ah.PadEnd, aw.PadEnd, ah.Dilation, aw.Dilation);
        if (p.OutH(ah.Input) != ah.Output || p.OutW(aw.Input) != aw.Output || ah.Output < 1 || aw.Output < 1) return null;
        int oh = ah.Output, ow = aw.Output;
        bool fused2x2 = false, separate = false;
        SpatialAxis ph = default, pw = default;
        if (op.FusedMaxPool is { } mp)
        {
            if (mp.KernelShape.Length != 2) return null;
            var pa = SpatialGeometry.Resolve(step.Node.Name, new[] { ah.Output, aw.Output }, mp.KernelShape, mp.Strides, mp.Pads, mp.Dilations, mp.AutoPad, mp.CeilMode);
            (ph, pw) = (pa[0], pa[1]);
            if (ph.Dilation != 1 || pw.Dilation != 1) return null;
            bool is2x2 = ph.Kernel == 2 && pw.Kernel == 2 && ph.Stride == 2 && pw.Stride == 2 && ph.PadBegin == 0 && pw.PadBegin == 0 &&
                ph.Output == ah.Output / 2 && pw.Output == aw.Output / 2 && ah.Output >= 2 && aw.Output >= 2;
            fused2x2 = is2x2;
            separate = !is2x2;
            (oh, ow) = (ph.Output, pw.Output);
        }
        var o = step.Outputs[0];
        if (o.Shape.Length != 4 || o.Shape[0] != xs[0] || o.Shape[1] != p.M || o.Shape[2] != oh || o.Shape[3] != ow) return null;
        return new FastConvStep(step, threads, cache, p, xs[0], ah.Input, aw.Input, ah.Output, aw.Output, oh, ow,
            op.Activation == Activation.Relu, fused2x2, separate, ph, pw);
    }

    /// <summary>Input is NCHWc16 (written blocked by the producing fast conv). Set by <see cref="FastConvLayout"/>.</summary>
    public bool InputBlocked { get; set; }

    /// <summary>Output is written NCHWc16 (read only by fast convs). Set by <see cref="FastConvLayout"/>.</summary>
    public bool OutputBlocked { get; set; }

    /// <summary>Output channels.</summary>
    public int M => _p.M;

    /// <summary>Whether the output may be stored blocked in the arena: same bytes as NCHW.</summary>
    public bool CanBlockOutput => _p.M % Nchwc.Block == 0;

    /// <summary>Short, for plan printouts and per-layer tables: "winograd43 Avx512 c16→c16 +pool2x2" (c16 = NCHWc16).</summary>
    public override string Algorithm =>
        $"{(_winograd ? "winograd43" : "direct")} {LevelOf(_kernel)} {(InputBlocked ? "c16" : "nchw")}→{(OutputBlocked ? "c16" : "nchw")}" +
        (_fusedPool2x2 ? " +pool2x2" : _separatePool ? " +pool" : "");

    private static SimdLevel LevelOf(object? k) => k switch { WinogradConv3x3 w => w.Level, DirectConv d => d.Level, _ => CpuSimd.Default };

    private long KernelWorkspaceBytes => _winograd
        ? WinogradConv3x3.WorkspaceBytesFor(_p.C, _p.M, _n, _h, _w, _threads, CpuSimd.Default)
        : DirectConv.WorkspaceBytesFor(_p, _w, _threads);

    private long ConvCopyBytes => _separatePool ? Nchwc.Floats(_n, _p.M, _coh, _cow) * 4 : 0;

    private static long A(long b) => MemoryPlanning.Align(b, 64);

    /// <summary>The kernel's scratch, plus the blocked conv output before a max-pool that is not 2×2/2.
    /// Independent of the layout decisions, so the planner's figure is exact.</summary>
    public override long SharedWorkspaceBytes => A(KernelWorkspaceBytes) + A(ConvCopyBytes);

    /// <summary>Prepares (or fetches from the cache) the kernel's transformed weights. Called by the backend after the layout pass.</summary>
    public void Initialize() => _ = Kernel;

    private object Kernel => _kernel ??= CreateKernel();

    private object CreateKernel()
    {
        var ep = new ConvEpilogue(_relu, _fusedPool2x2);
        var level = CpuSimd.Default;
        string kind = $"cpukernels-{(_winograd ? "winograd43" : "direct")}-{_p}-{ep}-{level}";
        return _cache.GetOrAdd<object>(_weight, kind, () =>
        {
            ReadOnlySpan<float> b = _bias is null ? default : _bias.AsSpan<float>();
            return _winograd
                ? new WinogradConv3x3(_p.C, _p.M, _weight.AsSpan<float>(), b, ep, level)
                : new DirectConv(_p, _weight.AsSpan<float>(), b, ep, inputNchwc: false, level);
        });
    }

    public override void Run(CpuRunState s)
    {
        var runner = BackendRunner.Get(s, this);
        float* x = F(s, Step.Inputs[0]!);
        float* y = F(s, Step.Outputs[0]);
        float* kws = (float*)s.Shared;
        float* convCopy = (float*)(s.Shared + A(KernelWorkspaceBytes));
        // Without a separate pool the kernel writes the step's output in its final layout; with one,
        // it writes the blocked conv output to the workspace and the pool writes the final layout.
        float* convOut = _separatePool ? convCopy : y;
        bool convBlocked = _separatePool || OutputBlocked;
        switch (Kernel)
        {
            case WinogradConv3x3 wk:
                wk.Run(x, convOut, _n, _h, _w, kws, runner, InputBlocked, convBlocked);
                break;
            case DirectConv dk:
                dk.RunWithLayouts(x, convOut, _n, _h, _w, kws, runner, InputBlocked, convBlocked);
                break;
        }
        if (_separatePool)
            MaxPoolNchwc.Run(convOut, y, _n, _p.M, _coh, _cow, _poolH.Kernel, _poolW.Kernel, _poolH.Stride, _poolW.Stride,
                _poolH.PadBegin, _poolW.PadBegin, _poolH.PadEnd, _poolW.PadEnd, _poolH.Output, _poolW.Output, LevelOf(_kernel), runner, outputNchw: !OutputBlocked);
    }

    public override void Task(CpuRunState state, int phase, int index, int slot) => BackendRunner.RunItem(state, index, slot);
}

/// <summary>
/// Chooses which arena values the fast convolutions keep in NCHWc16 (see <see cref="FastConvStep"/>):
/// a value is blocked when a fast conv writes it, its channel count is a multiple of 16, it is not a
/// graph output, and every step that reads it is a fast conv. Then prepares the fast steps' weights.
/// </summary>
internal static class FastConvLayout
{
    public static void Assign(ExecutionPlan plan, IReadOnlyList<CpuStep> steps)
    {
        var consumers = new Dictionary<string, List<CpuStep>>();
        foreach (var s in steps)
            foreach (var v in s.Step.Inputs)
                if (v is { IsConstant: false })
                {
                    if (!consumers.TryGetValue(v.Name, out var l)) consumers[v.Name] = l = new List<CpuStep>();
                    l.Add(s);
                }
        var outputs = new HashSet<string>(plan.Outputs.Select(o => o.Name));
        var blocked = new HashSet<string>();
        foreach (var f in steps.OfType<FastConvStep>())
        {
            var o = f.Step.Outputs[0];
            f.OutputBlocked = f.CanBlockOutput && !outputs.Contains(o.Name) &&
                consumers.TryGetValue(o.Name, out var readers) && readers.Count > 0 && readers.All(r => r is FastConvStep);
            if (f.OutputBlocked) blocked.Add(o.Name);
        }
        foreach (var f in steps.OfType<FastConvStep>())
        {
            f.InputBlocked = blocked.Contains(f.Step.Inputs[0]!.Name);
            f.Initialize();
        }
    }
}
