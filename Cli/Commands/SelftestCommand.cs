using System.CommandLine;
using System.Globalization;
using Vgg.Engine;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Diagnostics;
using Vgg.Engine.Cuda.Runtime;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg selftest --gpu</c>: the GPU kernel correctness checks (<see cref="GpuOpChecks"/>: every kernel variant on
/// VGG-16's shapes and odd sizes against the CPU references, FP32 rtol 1e-5, FP16 1e-2, INT8 bit-exact), run by the
/// published binary on a machine without the .NET SDK, the same list the NUnit category Gpu runs. One line per
/// check (PASS/FAIL, milliseconds, name, detail) and a closing summary; exit code 1 when a check fails or there is
/// no usable device. <c>--list</c> prints the checks without a device.
/// </summary>
internal static class SelftestCommand
{
    public static Command Create(CliApp.App app)
    {
        var gpu = new Option<bool>("--gpu") { Description = "Run the GPU kernel checks on device 0." };
        var filter = new Option<string?>("--filter") { Description = "Only checks whose name or group contains TEXT (case-insensitive).", HelpName = "TEXT" };
        var list = new Option<bool>("--list") { Description = "List the checks (group, work in multiply-adds or elements, name) without running them; needs no device." };
        var cmd = new Command("selftest", "Correctness self-test of the GPU kernels against the CPU references (for machines without the .NET SDK).");
        cmd.Options.Add(gpu);
        cmd.Options.Add(filter);
        cmd.Options.Add(list);
        cmd.Check(r =>
        {
            if (!r.GetValue(gpu) && !r.GetValue(list)) r.AddError("nothing to test: --gpu runs the GPU kernel checks (--list lists them)");
        });
        app.SetAction(cmd, (ctx, p) =>
        {
            var text = p.GetValue(filter);
            var checks = GpuOpChecks.All()
                .Where(c => text is null || c.Name.Contains(text, StringComparison.OrdinalIgnoreCase) || c.Group.Contains(text, StringComparison.OrdinalIgnoreCase))
                .ToList();
            if (checks.Count == 0) throw new CliUsageException($"no check matches --filter '{text}'");
            if (p.GetValue(list))
            {
                foreach (var c in checks) ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{c.Group,-12} {c.Work,14:N0}  {c.Name}"));
                ctx.Out.WriteLine($"{checks.Count} checks");
                return ExitCodes.Ok;
            }
            if (!NvrtcCompiler.IsAvailable(out var nvrtc))
                throw new VggEngineException($"NVRTC is not available: {nvrtc}");
            if (!CudaContext.TryOpen(0, out var device, out var reason))
                throw new VggEngineException($"no usable CUDA device: {reason}");
            using (device)
            using (var gpuCtx = new GpuCheckContext(device!, KernelCache.Default()))
            {
                ctx.Out.WriteLine($"device: {device!.Device}; {nvrtc}");
                int failed = 0;
                ctx.WithProgress("checking", checks.Count, advance =>
                {
                    foreach (var c in checks)
                    {
                        ctx.Cancellation.ThrowIfCancellationRequested();
                        var r = GpuChecks.Run(c, gpuCtx);
                        if (!r.Passed) failed++;
                        ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(r.Passed ? "PASS" : "FAIL")} {r.Milliseconds,9:F1} ms  {r.Name}  {r.Detail}"));
                        advance(1);
                    }
                });
                ctx.Out.WriteLine($"{checks.Count - failed} passed, {failed} failed");
                return failed == 0 ? ExitCodes.Ok : ExitCodes.ModelOrInputError;
            }
        });
        return cmd;
    }
}
