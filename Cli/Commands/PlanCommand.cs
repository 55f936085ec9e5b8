using System.CommandLine;
using Vgg.Engine.Planning;
using Vgg.Engine.Runtime;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg plan</c>: the execution plan the session makes for one input shape, printed by <see cref="PlanPrinter"/>:
/// per step the node, the op with its fused epilogue, the output shape, buffer, arena offset, size and lifetime; then
/// the arena size against the lower bound (the largest set of tensors alive at one time). Without --weights or --seed
/// the weights are seeded with seed 0: the plan depends on shapes, not on weight values.
/// </summary>
internal static class PlanCommand
{
    public static Command Create(CliApp.App app)
    {
        var model = new ModelSelection(layer: true, implicitSeed: true);
        var runtime = new RuntimeSelection();
        var batch = new Option<int>("--batch") { Description = "Batch size N of the planned input [N, C, H, W].", DefaultValueFactory = _ => 1, HelpName = "N" };
        var planner = new Option<string>("--planner")
        {
            Description = "Arena placement: greedy (largest first, with reuse) or linear (no reuse, for debugging).",
            DefaultValueFactory = _ => "greedy",
            HelpName = "greedy|linear",
        };
        planner.AcceptOnlyFromAmong("greedy", "linear");
        batch.Check(v => v < 1 ? "--batch must be at least 1" : null);

        var cmd = new Command("plan", "Print the execution plan: layers, fused ops, buffers, arena offsets, arena size against the lower bound.");
        model.AddTo(cmd);
        cmd.Options.Add(batch);
        cmd.Options.Add(planner);
        runtime.AddTo(cmd);
        app.SetAction(cmd, (ctx, p) =>
        {
            runtime.GetCalibration(p); // a missing or malformed table stops the verb before the model load
            var m = ModelSelection.Load(ctx, model.Get(p), imagePipeline: false);
            var kind = p.GetValue(planner) == "linear" ? MemoryPlannerKind.Linear : MemoryPlannerKind.Greedy;
            using var session = ctx.Step("preparing the session", () => new Session(m, runtime.Get(p, ctx, kind)));
            int[] shape;
            if (session.Inputs[0].Shape is { Length: > 0 } declared && declared.Skip(1).All(d => d > 0))
            {
                // The graph's own input shape (an ONNX model of any input), the batch from --batch
                shape = declared.ToArray();
                shape[0] = p.GetValue(batch);
            }
            else
                shape = new[] { p.GetValue(batch), m.Network?.InputChannels ?? m.Preprocessing.Channels, m.InputSize.Height, m.InputSize.Width };
            var plan = ctx.Step("planning", () => session.GetPlan(shape));
            ctx.Out.Write(PlanPrinter.Print(plan));
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
