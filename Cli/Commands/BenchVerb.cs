using System.CommandLine;
using Vgg.Perf.Harness;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg bench ...</c>: the perf harness (<see cref="BenchCommand"/> in Perf/Harness): latency percentiles and
/// throughput over batch sizes, a per-layer table against measured ceilings, ONNX Runtime side by side on the same
/// model and weights, JSON and a PNG plot, BenchmarkDotNet micro-benchmarks (<c>--micro</c>). Its options are its
/// own (<c>vgg bench --help</c> prints them; <see cref="CliApp.Run"/> answers that before parsing); this verb passes every token after <c>bench</c> through.
/// </summary>
internal static class BenchVerb
{
    public static Command Create(CliApp.App app)
    {
        var cmd = new Command("bench", "Latency and throughput, per-layer table, side by side with ONNX Runtime (vgg bench --help lists its options).")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        app.SetAction(cmd, (ctx, p) =>
        {
            var args = p.UnmatchedTokens.ToArray();
            int code = BenchCommand.Run(args, ctx.Out, ctx.Err);
            return code switch { 0 => ExitCodes.Ok, 2 => ExitCodes.UsageError, _ => ExitCodes.ModelOrInputError };
        });
        return cmd;
    }
}
