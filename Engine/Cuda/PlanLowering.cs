using System.Runtime.InteropServices;
using Vgg.Engine.Cuda.Network;
using Vgg.Engine.IR;
using Vgg.Engine.Planning;

namespace Vgg.Engine.Cuda;

/// <summary>
/// Turns an <see cref="ExecutionPlan"/> into the CUDA backend's <see cref="NetworkDefinition"/>: one
/// float32 NCHW image input; Conv (2-D, any kernel/stride/padding/dilation/groups, fused ReLU and a
/// fused 2×2/2 max-pool), Gemm (as a linear layer: alpha, beta, transB folded into the weights at
/// load), MatMul by a constant 2-D matrix, MaxPool (2-D), AdaptiveAvgPool / GlobalAveragePool,
/// Flatten(1) and the equivalent Reshape, Relu, Softmax / LogSoftmax over the last axis of a 2-D tensor,
/// and Identity views. Anything else is refused by <see cref="Supports"/> with the reason.
/// </summary>
public static class PlanLowering
{
    /// <summary>Whether the CUDA backend runs <paramref name="step"/>; when not, why.</summary>
    public static bool Supports(PlanStep step, out string? reason)
    {
        reason = Check(step);
        return reason is null;
    }

    private static string? Check(PlanStep step)
    {
        var ins = step.Inputs;
        PlanValue? X(int i) => i < ins.Length ? ins[i] : null;
        bool F32(PlanValue? v) => v is null || v.DType == DType.Float32;
        if (!ins.All(F32) || !step.Outputs.All(v => v.DType == DType.Float32)) return "the CUDA backend takes float32 tensors (it converts to FP16/INT8 itself)";
        if (X(0) is { IsConstant: true } && step.Op is not (IdentityOp or FlattenOp or ReshapeOp)) return "a constant data input (folded constants run on the CPU)";
        switch (step.Op)
        {
            case ConvOp c:
                if (c.KernelShape.Length != 2 || X(0)!.Shape.Length != 4) return "only 2-D convolutions (NCHW)";
                if (X(1) is not { IsConstant: true }) return "the weight must be a constant";
                if (X(2) is { IsConstant: false }) return "the bias must be a constant";
                if (c.FusedMaxPool is { } p && !IsPool2x2(p)) return "only a 2x2 stride-2 max-pool without padding fuses";
                return null;
            case GemmOp g:
                if (g.TransA) return "transA is not supported";
                if (X(0)!.Shape.Length != 2) return "the input must be 2-D";
                if (X(1) is not { IsConstant: true } || X(1)!.Shape.Length != 2) return "B must be a constant matrix";
                if (X(2) is { IsConstant: false }) return "C must be a constant";
                if (X(2) is { } cv && !(cv.Shape.Length == 1 || cv.Shape.Length == 2 && cv.Shape[0] == 1) ) return "C must broadcast along rows ([N] or [1, N])";
                return null;
            case MatMulOp:
                if (X(0)!.Shape.Length != 2 || X(1) is not { IsConstant: true } || X(1)!.Shape.Length != 2) return "only a 2-D input times a constant matrix";
                return null;
            case MaxPoolOp m:
                if (m.KernelShape.Length != 2 || X(0)!.Shape.Length != 4) return "only 2-D max-pooling";
                if (step.Outputs.Length > 1) return "the Indices output is not supported";
                return null;
            case AdaptiveAvgPoolOp or GlobalAveragePoolOp:
                return X(0)!.Shape.Length == 4 ? null : "only NCHW inputs";
            case FlattenOp f:
                return IsFlatten1(X(0)!, step.Outputs[0]) ? null : $"only Flatten(axis=1) of a 4-D or 2-D tensor (axis {f.Axis})";
            case ReshapeOp:
                return IsFlatten1(X(0)!, step.Outputs[0]) ? null : "only the reshape [N, C, H, W] -> [N, C*H*W]";
            case IdentityOp:
                return null;
            case UnaryOp { Kind: UnaryKind.Relu }:
                return null;
            case SoftmaxOp s:
                return LastAxisOf2D(X(0)!, s.Axis) ? null : "only the last axis of a 2-D tensor";
            case LogSoftmaxOp s:
                return LastAxisOf2D(X(0)!, s.Axis) ? null : "only the last axis of a 2-D tensor";
            default:
                return $"no CUDA kernel for {step.Op.OpType}";
        }
    }

    /// <summary>A max-pool the conv kernels fuse: 2×2, stride 2, no padding, dilation 1, floor mode.</summary>
    public static bool IsPool2x2(MaxPoolOp p) =>
        p.KernelShape.SequenceEqual(new[] { 2, 2 }) && (p.Strides.Length == 0 || p.Strides.SequenceEqual(new[] { 2, 2 }))
        && (p.Pads.Length == 0 || p.Pads.All(v => v == 0)) && (p.Dilations.Length == 0 || p.Dilations.All(v => v == 1))
        && !p.CeilMode && p.AutoPad is AutoPad.NotSet or AutoPad.Valid;

    private static bool IsFlatten1(PlanValue x, PlanValue y) =>
        (x.Shape.Length == 4 || x.Shape.Length == 2) && y.Shape.Length == 2 && y.Shape[0] == x.Shape[0];

    private static bool LastAxisOf2D(PlanValue x, int axis) => x.Shape.Length == 2 && (axis == -1 || axis == 1);

    /// <summary>The lowered network with the plan's input and output names.</summary>
    /// <param name="Definition">Layers.</param>
    /// <param name="InputShape">[N, C, H, W] of the plan's only input.</param>
    public sealed record Lowered(NetworkDefinition Definition, int[] InputShape);

    /// <summary>Plans <paramref name="graph"/> for one NCHW input shape with the CUDA backend's planner options and lowers it (no device needed).</summary>
    /// <exception cref="UnsupportedOperatorException">A step the backend cannot run.</exception>
    public static (ExecutionPlan Plan, Lowered Lowered) PlanAndLower(IR.Graph graph, int[] inputShape)
    {
        var opts = CudaBackend.PlannerOptionsFor(new PlannerOptions());
        var g = Planner.Prepare(graph, opts);
        var input = g.Inputs.Single(i => !g.Initializers.ContainsKey(i.Name));
        var plan = Planner.Plan(g, new Dictionary<string, int[]> { [input.Name] = inputShape }, opts);
        return (plan, Lower(plan));
    }

    /// <summary>Lowers <paramref name="plan"/>.</summary>
    /// <exception cref="UnsupportedOperatorException">A step <see cref="Supports"/> refuses, or a plan that is not one NCHW image in.</exception>
    public static Lowered Lower(ExecutionPlan plan)
    {
        int opset = plan.Graph.Opset;
        if (plan.Inputs.Count != 1 || plan.Inputs[0].Shape.Length != 4 || plan.Inputs[0].DType != DType.Float32)
            throw new UnsupportedOperatorException(plan.Inputs.FirstOrDefault()?.Name ?? "(input)", "Input", "", opset,
                $"the CUDA backend runs graphs with one float32 NCHW image input; this one has {plan.Inputs.Count} input(s): {string.Join(", ", plan.Inputs)}");
        var input = plan.Inputs[0];
        var alias = new Dictionary<string, string>(StringComparer.Ordinal);
        string Name(string v) => alias.TryGetValue(v, out var a) ? a : v;
        var layers = new List<LayerSpec>();
        foreach (var step in plan.Steps)
        {
            if (!Supports(step, out var why))
                throw new UnsupportedOperatorException(step.Node.Name, step.Op.OpType, "", opset, $"the CUDA backend cannot run it: {why}");
            var x = step.Inputs[0]!;
            string xin = Name(x.Name), y = step.Outputs[0].Name;
            switch (step.Op)
            {
                case ConvOp c:
                {
                    var axes = SpatialGeometry.Resolve(step.Node.Name, x.Shape[2..], c.KernelShape, c.Strides, c.Pads, c.Dilations, c.AutoPad, false);
                    var w = step.Inputs[1]!.Constant!;
                    var bias = step.Inputs.Length > 2 && step.Inputs[2] is { } b ? Floats(b.Constant!) : null;
                    layers.Add(new ConvSpec(y, xin, w.Shape[0], c.KernelShape[0], c.KernelShape[1], axes[0].Stride, axes[1].Stride,
                        axes[0].PadBegin, axes[1].PadBegin, axes[0].PadEnd, axes[1].PadEnd, axes[0].Dilation, axes[1].Dilation, c.Group,
                        Floats(w), bias, c.Activation == Activation.Relu, c.FusedMaxPool is not null));
                    break;
                }
                case GemmOp g:
                {
                    var bT = step.Inputs[1]!.Constant!;
                    int k = x.Shape[1];
                    int n = g.TransB ? bT.Shape[0] : bT.Shape[1];
                    var w = g.Alpha == 1f && g.TransB ? Floats(bT) : Cached(bT, $"gemm alpha={g.Alpha:R} transB={g.TransB}", bw =>
                    {
                        var r = new float[(long)n * k];
                        for (int o = 0; o < n; o++)
                            for (int i = 0; i < k; i++)
                                r[(long)o * k + i] = g.Alpha * (g.TransB ? bw[(long)o * k + i] : bw[(long)i * n + o]);
                        return r;
                    });
                    float[]? bias = null;
                    if (step.Inputs.Length > 2 && step.Inputs[2] is { } cv)
                    {
                        bias = Cached(cv.Constant!, $"gemm bias beta={g.Beta:R} n={n}", c => Enumerable.Range(0, n).Select(o => g.Beta * c[c.Length == 1 ? 0 : o]).ToArray());
                    }
                    layers.Add(new LinearSpec(y, xin, n, w, bias, g.Activation == Activation.Relu));
                    break;
                }
                case MatMulOp:
                {
                    var bT = step.Inputs[1]!.Constant!;
                    int k = bT.Shape[0], n = bT.Shape[1];
                    var w = Cached(bT, "matmul transposed", bw =>
                    {
                        var r = new float[(long)n * k];
                        for (int o = 0; o < n; o++)
                            for (int i = 0; i < k; i++) r[(long)o * k + i] = bw[(long)i * n + o];
                        return r;
                    });
                    layers.Add(new LinearSpec(y, xin, n, w, null, false));
                    break;
                }
                case MaxPoolOp m:
                {
                    var a = SpatialGeometry.Resolve(step.Node.Name, x.Shape[2..], m.KernelShape, m.Strides, m.Pads, m.Dilations, m.AutoPad, m.CeilMode);
                    layers.Add(new MaxPoolSpec(y, xin, m.KernelShape[0], m.KernelShape[1], a[0].Stride, a[1].Stride, a[0].PadBegin, a[1].PadBegin, a[0].PadEnd, a[1].PadEnd,
                        a[0].Dilation, a[1].Dilation, m.CeilMode));
                    break;
                }
                case AdaptiveAvgPoolOp ap:
                    layers.Add(new AdaptiveAvgPoolSpec(y, xin, ap.OutputHeight, ap.OutputWidth));
                    break;
                case GlobalAveragePoolOp:
                    layers.Add(new AdaptiveAvgPoolSpec(y, xin, 1, 1));
                    break;
                case FlattenOp or ReshapeOp:
                    if (x.Shape.Length == 2) alias[y] = xin;
                    else layers.Add(new FlattenSpec(y, xin));
                    break;
                case IdentityOp:
                    alias[y] = xin;
                    break;
                case UnaryOp:
                    layers.Add(new ReluSpec(y, xin));
                    break;
                case SoftmaxOp:
                    layers.Add(new SoftmaxSpec(y, xin, false));
                    break;
                case LogSoftmaxOp:
                    layers.Add(new SoftmaxSpec(y, xin, true));
                    break;
            }
        }
        var outputs = plan.Outputs.Select(o => Name(o.Name)).ToList();
        if (outputs.Contains(input.Name))
            throw new UnsupportedOperatorException(input.Name, "Output", "", opset, "an output that is the input itself is not supported by the CUDA backend");
        return new Lowered(new NetworkDefinition(input.Name, input.Shape[1], layers, outputs), input.Shape);
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Tensor, Dictionary<string, float[]>> Converted = new();

    /// <summary>
    /// The float32 values of a weight tensor, converted once per tensor (and per derived form) and then
    /// reused by every later lowering, so plans for other input shapes share the same arrays, which is
    /// what lets the backend share the uploaded weights between them.
    /// </summary>
    private static float[] Cached(Tensor t, string form, Func<float[], float[]> derive)
    {
        var forms = Converted.GetValue(t, _ => new Dictionary<string, float[]>(StringComparer.Ordinal));
        lock (forms)
        {
            if (forms.TryGetValue(form, out var a)) return a;
            var raw = forms.TryGetValue("", out var r) ? r : forms[""] = t.DType == DType.Float32 ? MemoryMarshal.Cast<byte, float>(t.Bytes).ToArray() : t.ToFloatArray();
            if (form.Length == 0) return raw;
            return forms[form] = derive(raw);
        }
    }

    private static float[] Floats(Tensor t) => Cached(t, "", a => a);
}
