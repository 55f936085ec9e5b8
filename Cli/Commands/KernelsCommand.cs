using System.CommandLine;
using System.Globalization;
using Vgg.Engine;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Diagnostics;
using Vgg.Engine.Cuda.Native;
using Vgg.Engine.Simulator;
using Vgg.Engine.Simulator.Integration;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg kernels [--json] [--arch ...]</c>: compiles every kernel source with NVRTC to CUBIN for each architecture
/// (no GPU needed) and prints what ptxas reports per kernel: registers, shared memory, spill stores and loads,
/// stack frame, blocks per SM against the target occupancy and the compile time (<see cref="KernelReport"/>).
/// Text output starts with where each CUDA library was found (<see cref="CudaLibraries.Describe"/>); <c>--json</c>
/// prints only the rows, as a JSON array.
/// <para><c>--simulate</c> instead runs the CUDA backend's kernel checks (<see cref="GpuOpChecks"/>: every kernel variant on
/// VGG-16 shapes and odd sizes) in the PTX simulator (<see cref="SimulatedGpuDevice"/>) against the CPU references and prints,
/// per check, the outcome and per launch the simulator's counters (<see cref="LaunchReport"/>): warp and thread instructions,
/// global bytes, 32-byte sectors per request, shared-memory bank conflicts — so kernel variants can be compared without a GPU.</para>
/// </summary>
internal static class KernelsCommand
{
    public static Command Create(CliApp.App app)
    {
        var json = new Option<bool>("--json") { Description = "The rows as a JSON array (camelCase fields: kernel, source, arch, registers, ...), nothing else on stdout." };
        var arch = new Option<string[]>("--arch")
        {
            Description = "Architectures, e.g. sm_80 sm_90 or 80,90 (default: " + string.Join(", ", KernelReport.CheckedArchitectures.Select(a => "sm_" + a)) + ").",
            HelpName = "sm_XY",
            AllowMultipleArgumentsPerToken = true,
        };
        var simulate = new Option<bool>("--simulate") { Description = "Run the kernel checks in the PTX simulator (no GPU) and print per-launch counters: instructions, global bytes, sectors/request, bank conflicts." };
        var filter = new Option<string?>("--filter") { Description = "With --simulate: only checks whose name contains TEXT (case-insensitive).", HelpName = "TEXT" };
        var maxWork = new Option<long>("--max-work") { Description = "With --simulate: skip checks of more multiply-adds/elements than this (default 5000000; VGG-16's full layers take minutes each).", DefaultValueFactory = _ => 5_000_000 };
        var detail = new Option<bool>("--detail") { Description = "With --simulate: the full per-launch report (instruction classes, hottest PTX lines) instead of one line per launch." };
        var noCache = new Option<bool>("--no-cache") { Description = "Compile everything now instead of reading the kernel cache (" + KernelCache.DirectoryVariable + ", else ~/.cache/vgg-engine/kernels)." };
        arch.Validators.Add(r =>
        {
            foreach (var v in r.GetValueOrDefault<string[]>() ?? Array.Empty<string>())
                if (ParseArchs(new[] { v }) is null) r.AddError($"--arch: '{v}' is not an architecture such as sm_80, sm_90 or 90");
        });

        var cmd = new Command("kernels", "Compile every CUDA kernel with NVRTC and print ptxas's registers, shared memory, spills and occupancy per architecture (no GPU needed).");
        cmd.Options.Add(json);
        cmd.Options.Add(arch);
        cmd.Options.Add(noCache);
        cmd.Options.Add(simulate);
        cmd.Options.Add(filter);
        cmd.Options.Add(maxWork);
        cmd.Options.Add(detail);
        app.SetAction(cmd, (ctx, p) =>
        {
            if (p.GetValue(simulate))
                return Simulate(ctx, p.GetValue(filter), p.GetValue(maxWork), p.GetValue(json), p.GetValue(detail), p.GetValue(noCache) ? null : KernelCache.Default());
            if (!NvrtcCompiler.IsAvailable(out var reason))
                throw new VggEngineException($"NVRTC is not available: {reason}. Install the CUDA NVRTC library (Debian: libnvrtc11.2, or the nvidia-cuda-nvrtc wheel)");
            var given = p.GetValue(arch);
            var archs = given is { Length: > 0 } ? ParseArchs(given)! : KernelReport.CheckedArchitectures.ToList();
            var supported = NvrtcCompiler.SupportedArchitectures();
            var unsupported = archs.Where(a => !supported.Contains(a)).ToList();
            if (unsupported.Count > 0)
                throw new VggEngineException($"this NVRTC ({reason}) cannot compile for {string.Join(", ", unsupported.Select(a => "sm_" + a))}; it supports {string.Join(", ", supported.Select(a => "sm_" + a))}");
            var cache = p.GetValue(noCache) ? null : KernelCache.Default();
            var rows = ctx.Step($"compiling {KernelCatalog.Sources.Count} kernel sources for {string.Join(", ", archs.Select(a => "sm_" + a))}",
                () => KernelReport.Build(archs, cache));
            if (p.GetValue(json))
            {
                ctx.Out.WriteLine(KernelReport.ToJson(rows));
                return ExitCodes.Ok;
            }
            foreach (var line in CudaLibraries.Describe()) ctx.Out.WriteLine(line);
            ctx.Out.WriteLine();
            ctx.Out.Write(KernelReport.FormatTable(rows));
            var spilling = rows.Where(r => !r.IsSpillFree).Select(r => $"{r.Kernel} ({r.Arch})").ToList();
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{rows.Select(r => r.Kernel).Distinct().Count()} kernels × {archs.Count} architectures; {(spilling.Count == 0 ? "no spills, no stack frames" : "local memory used by: " + string.Join(", ", spilling))}"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static int Simulate(CliContext ctx, string? filter, long maxWork, bool json, bool detail, KernelCache? cache)
    {
        if (!NvrtcCompiler.IsAvailable(out var reason))
            throw new VggEngineException($"NVRTC is not available: {reason}. The simulator runs the PTX that NVRTC generates; install the CUDA NVRTC library (Debian: libnvrtc11.2)");
        var matching = GpuOpChecks.All()
            .Where(c => filter is null || c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase))
            .ToList();
        var checks = matching.Where(c => c.Work <= maxWork).ToList();
        int skipped = matching.Count - checks.Count;
        if (checks.Count == 0)
            throw new VggEngineException($"no kernel check matches{(filter is null ? "" : $" '{filter}'")} within --max-work {maxWork}" +
                (skipped > 0 ? $" ({skipped} larger ones match: raise --max-work)" : "") + "; `vgg selftest --gpu --list` lists the checks and their work");
        var device = new SimulatedGpuDevice(new SimulatorOptions { MaxParallelBlocks = Environment.ProcessorCount }, cache: cache);
        var c = CultureInfo.InvariantCulture;
        var results = new System.Text.Json.Nodes.JsonArray();
        int failed = 0;
        foreach (var check in checks)
        {
            int first = device.Reports.Count;
            GpuCheckResult r;
            try
            {
                r = GpuChecks.Run(check, device);
            }
            catch (PtxSimulatorException e)
            {
                r = new GpuCheckResult(check.Name, false, e.Message, 0);
            }
            var launches = device.Reports.Skip(first).ToList();
            if (!r.Passed) failed++;
            if (json)
            {
                var launchArray = new System.Text.Json.Nodes.JsonArray();
                foreach (var l in launches) launchArray.Add(System.Text.Json.Nodes.JsonNode.Parse(l.ToJson()));
                results.Add(new System.Text.Json.Nodes.JsonObject
                {
                    ["check"] = check.Name,
                    ["group"] = check.Group,
                    ["work"] = check.Work,
                    ["passed"] = r.Passed,
                    ["detail"] = r.Detail,
                    ["launches"] = launchArray,
                });
                continue;
            }
            ctx.Out.WriteLine(string.Create(c, $"{(r.Passed ? "PASS" : "FAIL")}  {check.Name}  ({r.Detail})"));
            foreach (var l in launches)
            {
                if (detail) { ctx.Out.Write(l.ToText()); continue; }
                ctx.Out.WriteLine(string.Create(c,
                    $"      {l.Kernel}  grid {l.Grid} block {l.Block}  warp-instr {l.WarpInstructions:N0}  gld {l.GlobalLoadBytes:N0} B {l.SectorsPerLoadRequest:F2} sect/req  gst {l.GlobalStoreBytes:N0} B {l.SectorsPerStoreRequest:F2} sect/req  smem bank conflicts {l.SharedBankConflicts:N0}"));
            }
        }
        if (json)
            ctx.Out.WriteLine(results.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        else
            ctx.Out.WriteLine(string.Create(c, $"simulated {checks.Count} kernel checks: {checks.Count - failed} passed, {failed} failed") +
                (skipped > 0 ? string.Create(c, $"; {skipped} larger check(s) skipped (over --max-work {maxWork})") : ""));
        return failed == 0 ? ExitCodes.Ok : ExitCodes.ModelOrInputError;
    }

    /// <summary>"sm_80", "80", "compute_90", "80,86" → [80, 86, 90]; null when a value is not an architecture.</summary>
    internal static List<int>? ParseArchs(IEnumerable<string> values)
    {
        var result = new List<int>();
        foreach (var part in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var digits = part.StartsWith("sm_", StringComparison.OrdinalIgnoreCase) ? part[3..]
                : part.StartsWith("compute_", StringComparison.OrdinalIgnoreCase) ? part[8..] : part;
            if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int a) || a < 10 || a > 999) return null;
            if (!result.Contains(a)) result.Add(a);
        }
        return result;
    }
}
