using System.Collections.Concurrent;

namespace Vgg.Engine.Cpu.Ops;

/// <summary>
/// Geometry of one 2-D float32 convolution in NCHW (a 1-D conv is run with H = 1): input [Batch, C, H, W],
/// weight [M, C/Group, KH, KW], output [Batch, M, OH, OW], with the padding already resolved (begin pads;
/// end pads are implied by OH/OW) and an optional fused ReLU.
/// </summary>
internal sealed record ConvGeometry(int Batch, int C, int H, int W, int M, int Group, int KH, int KW,
    int StrideH, int StrideW, int PadTop, int PadLeft, int DilationH, int DilationW, int OH, int OW, bool Relu)
{
    /// <summary>Input channels per group.</summary>
    public int Cg => C / Group;

    /// <summary>Output channels per group.</summary>
    public int Mg => M / Group;

    /// <summary>GEMM depth per group: Cg·KH·KW.</summary>
    public int K => Cg * KH * KW;

    /// <summary>Output pixels per image: OH·OW.</summary>
    public int Pixels => OH * OW;

    /// <summary>Multiply-accumulates of the whole batch (for GFLOP/s: 2·MACs).</summary>
    public long Macs => (long)Batch * M * Pixels * K;
}

/// <summary>
/// A convolution algorithm for the CPU backend (im2col + SGEMM here; Winograd or direct kernels from
/// Engine/Cpu/Kernels plug in through <see cref="CpuKernelRegistry"/>). Chosen per plan step.
/// </summary>
internal interface IConvKernel
{
    /// <summary>Name for plan printouts and benchmarks ("im2col+sgemm 12×16 AVX-512").</summary>
    string Name { get; }

    /// <summary>Whether this algorithm handles the geometry (kernel size, stride, dilation, groups).</summary>
    bool Supports(ConvGeometry g);

    /// <summary>
    /// Prepares a convolution once: packs <paramref name="weights"/> ([M, C/Group, KH, KW] float32; may be
    /// cached by <paramref name="cache"/> under the weight tensor) and decides the task split for
    /// <paramref name="threads"/> threads.
    /// </summary>
    IPreparedConv Prepare(ConvGeometry g, Tensor weights, Tensor? bias, int threads, WeightCache cache);
}

/// <summary>
/// A prepared convolution: executes per image, as <see cref="TasksPerImage"/> independent tasks that
/// together write the image's whole output (ReLU applied when the geometry says so).
/// </summary>
internal unsafe interface IPreparedConv
{
    /// <summary>Independent tasks that cover one image.</summary>
    int TasksPerImage { get; }

    /// <summary>Scratch floats one thread needs while running a task.</summary>
    long WorkspaceFloatsPerSlot { get; }

    /// <summary>Runs task <paramref name="task"/> of one image: <paramref name="x"/> [C, H, W], <paramref name="y"/> [M, OH, OW].</summary>
    void Execute(int task, float* x, float* y, float* slotWorkspace);
}

/// <summary>
/// A matrix product for Gemm/MatMul/Linear steps: Y[M, N] = Alpha·op(A)·op(B) (+ C prefilled by the caller),
/// optionally followed by ReLU. B may be a constant (weights), packed once.
/// </summary>
internal interface IGemmKernel
{
    string Name { get; }

    /// <summary>Prepares a product with these dimensions; <paramref name="constantB"/> is packed once (cached) when given.</summary>
    IPreparedGemm Prepare(int m, int n, int k, bool transA, bool transB, float alpha, bool relu, Tensor? constantB, int threads, WeightCache cache);
}

/// <summary>A prepared matrix product, run as <see cref="Tasks"/> independent tasks over tiles of Y.</summary>
internal unsafe interface IPreparedGemm
{
    int Tasks { get; }
    long WorkspaceFloatsPerSlot { get; }

    /// <summary>
    /// Runs one task: accumulates Alpha·op(A)·op(B) onto its tile of <paramref name="y"/> (row-major [M, N],
    /// already holding the bias or zeros), then ReLU. <paramref name="a"/> is row-major [M, K] (or [K, M] when
    /// transposed); <paramref name="b"/> row-major [K, N] (or [N, K]); ignored when B is constant.
    /// </summary>
    void Execute(int task, float* a, float* b, float* y, float* slotWorkspace);
}

/// <summary>
/// Packed weights shared by every plan of one backend (all input shapes of a model): keyed by the weight
/// tensor's identity and the packing kind, so a model's weights are packed once, not once per shape.
/// </summary>
internal sealed class WeightCache
{
    private readonly ConcurrentDictionary<(Tensor Tensor, string Kind), Lazy<object>> _items = new();

    public T GetOrAdd<T>(Tensor tensor, string kind, Func<T> create) where T : class =>
        (T)_items.GetOrAdd((tensor, kind), _ => new Lazy<object>(() => create())).Value;

    /// <summary>Bytes held (for reports).</summary>
    public long Bytes => _items.Values.Where(l => l.IsValueCreated).Sum(l => l.Value switch
    {
        PackedPanels p => p.Data.LongLength * 4,
        Kernels.IPreparedWeights w => w.PreparedBytes,
        _ => 0,
    });
}

/// <summary>A matrix packed into full-K panels: panel p occupies Data[p·K·Width .. (p+1)·K·Width), k-major.</summary>
internal sealed class PackedPanels
{
    public PackedPanels(int panels, int k, int width)
    {
        Panels = panels;
        K = k;
        Width = width;
        Data = GC.AllocateArray<float>(checked(panels * k * width), pinned: true);
    }

    public int Panels { get; }
    public int K { get; }
    public int Width { get; }

    /// <summary>Pinned storage (on the pinned object heap), so pointers stay valid.</summary>
    public float[] Data { get; }

    public unsafe float* Panel(int p, int k0)
    {
        fixed (float* d = Data) return d + ((long)p * K + k0) * Width;
    }
}

/// <summary>
/// The kernels the CPU backend chooses from, in order of preference: the first whose Supports answers
/// yes runs the step. The optimized-kernels work (Engine/Cpu/Kernels) inserts its algorithms in front.
/// </summary>
internal static class CpuKernelRegistry
{
    private static readonly List<IConvKernel> ConvKernels = new() { new Im2colConvKernel() };
    private static IGemmKernel _gemm = new Kernels.FastGemmKernel(new PackedGemmKernel());
    private static readonly object Lock = new();

    /// <summary>Conv algorithms in order of preference.</summary>
    public static IReadOnlyList<IConvKernel> Conv
    {
        get { lock (Lock) return ConvKernels.ToArray(); }
    }

    /// <summary>The GEMM used for Gemm/MatMul steps.</summary>
    public static IGemmKernel Gemm
    {
        get { lock (Lock) return _gemm; }
        set { lock (Lock) _gemm = value; }
    }

    /// <summary>Puts <paramref name="kernel"/> ahead of the existing conv algorithms.</summary>
    public static void RegisterConv(IConvKernel kernel)
    {
        lock (Lock) ConvKernels.Insert(0, kernel);
    }

    /// <summary>The first conv algorithm that supports <paramref name="g"/> (im2col+SGEMM supports all).</summary>
    public static IConvKernel ChooseConv(ConvGeometry g) => Conv.First(k => k.Supports(g));
}
