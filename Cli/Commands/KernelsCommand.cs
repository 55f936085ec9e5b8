using System.CommandLine;
using System.Globalization;
using Vgg.Engine;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Native;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg kernels [--json] [--arch ...]</c>: compiles every kernel source with NVRTC to CUBIN for each architecture
/// (no GPU needed) and prints what ptxas reports per kernel: registers, shared memory, spill stores and loads,
/// stack frame, blocks per SM against the target occupancy and the compile time (<see cref="KernelReport"/>).
/// Text output starts with where each CUDA library was found (<see cref="CudaLibraries.Describe"/>); <c>--json</c>
/// prints only the rows, as a JSON array.
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
        app.SetAction(cmd, (ctx, p) =>
        {
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
