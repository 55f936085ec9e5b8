using System.Globalization;
using System.Text;
using Vgg.Engine.IR;

namespace Vgg.Engine.Planning;

/// <summary>
/// The text <c>vgg plan MODEL</c> prints: per step the node, op (with fused epilogue), output shape,
/// buffer, arena offset, size and lifetime; then the arena size against the lower bound, the ratio,
/// the workspace and the constant (weight) bytes. Sizes in bytes with MiB in parentheses.
/// </summary>
public static class PlanPrinter
{
    /// <summary>Formats <paramref name="plan"/> as a fixed-width table.</summary>
    public static string Print(ExecutionPlan plan)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(ci, $"plan '{plan.Graph.Name}' for ");
        sb.AppendJoin(", ", plan.Inputs.Select(i => $"{i.Name} {Tensor.FormatShape(i.DType, i.Shape)}"));
        sb.Append(ci, $"; memory planner {plan.PlannerName}, alignment {plan.Alignment} B\n");
        var rows = new List<string[]> { new[] { "step", "node", "op", "output", "shape", "buffer", "offset", "bytes", "life" } };
        foreach (var i in plan.Inputs)
        {
            var b = plan.Buffers[i.Buffer];
            rows.Add(new[] { "in", "", "input", i.Name, Tensor.FormatShape(i.Shape), $"b{b.Id}", i.Offset.ToString("N0", ci), i.Bytes.ToString("N0", ci), $"{b.FirstStep}..{b.LastStep}" });
        }
        foreach (var s in plan.Steps)
        {
            foreach (var (o, k) in s.Outputs.Select((o, k) => (o, k)))
            {
                var b = plan.Buffers[o.Buffer];
                string op = k > 0 ? "" : OpLabel(s);
                rows.Add(new[]
                {
                    k == 0 ? s.Index.ToString(ci) : "", k == 0 ? s.Node.Name : "", op, o.Name, Tensor.FormatShape(o.Shape),
                    s.IsView ? $"b{b.Id} (view)" : $"b{b.Id}", o.Offset.ToString("N0", ci), o.Bytes.ToString("N0", ci), $"{b.FirstStep}..{b.LastStep}",
                });
            }
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        bool[] right = { true, false, false, false, false, false, true, true, false };
        foreach (var r in rows)
        {
            for (int c = 0; c < r.Length; c++)
            {
                if (c > 0) sb.Append("  ");
                sb.Append(right[c] ? r[c].PadLeft(widths[c]) : r[c].PadRight(widths[c]));
            }
            sb.Append('\n');
        }
        sb.Append(ci, $"arena {plan.ArenaBytes:N0} B ({Mib(plan.ArenaBytes)}), lower bound {plan.LowerBoundBytes:N0} B ({Mib(plan.LowerBoundBytes)}), ratio {plan.ArenaRatio:F3}\n");
        sb.Append(ci, $"workspace {plan.WorkspaceBytes:N0} B ({Mib(plan.WorkspaceBytes)}), constants {plan.ConstantBytes:N0} B ({Mib(plan.ConstantBytes)}), {plan.Steps.Count} steps, {plan.Buffers.Count} buffers\n");
        return sb.ToString();
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("F2", CultureInfo.InvariantCulture) + " MiB";

    /// <summary>"Conv 3×3 s1 p1+Relu+MaxPool 2×2 s2", "Gemm+Relu", "Flatten".</summary>
    public static string OpLabel(PlanStep s)
    {
        switch (s.Op)
        {
            case ConvOp c:
            {
                var k = c.KernelShape.Length > 0 ? c.KernelShape : s.Inputs[1]!.Shape[2..];
                var label = $"Conv {string.Join("×", k)}";
                if (c.Strides.Any(x => x != 1)) label += $" s{string.Join(",", c.Strides)}";
                if (c.Pads.Any(x => x != 0)) label += $" p{string.Join(",", c.Pads.Distinct())}";
                if (c.Group != 1) label += $" g{c.Group}";
                if (c.Activation == Activation.Relu) label += "+Relu";
                if (c.FusedMaxPool is { } p) label += $"+MaxPool {string.Join("×", p.KernelShape)} s{string.Join(",", p.Strides.Distinct())}{(p.CeilMode ? " ceil" : "")}";
                return label;
            }
            case GemmOp gm:
                return gm.Activation == Activation.Relu ? "Gemm+Relu" : "Gemm";
            case MaxPoolOp mp:
                return $"MaxPool {string.Join("×", mp.KernelShape)} s{string.Join(",", mp.Strides.Distinct())}{(mp.CeilMode ? " ceil" : "")}";
            default:
                return s.Op.OpType;
        }
    }
}
