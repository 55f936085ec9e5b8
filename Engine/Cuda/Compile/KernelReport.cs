using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Vgg.Engine.Cuda.Compile;

/// <summary>What ptxas reported for one entry point (from NVRTC's log with --ptxas-options=-v).</summary>
/// <param name="Kernel">Entry point name.</param>
/// <param name="Registers">Registers per thread.</param>
/// <param name="StaticSharedBytes">Static shared memory per block, bytes.</param>
/// <param name="StackFrameBytes">Per-thread stack frame, bytes (0 for a kernel that keeps everything in registers).</param>
/// <param name="SpillStoreBytes">Bytes of register spill stores.</param>
/// <param name="SpillLoadBytes">Bytes of register spill loads.</param>
public sealed record PtxasEntry(string Kernel, int Registers, int StaticSharedBytes, int StackFrameBytes, int SpillStoreBytes, int SpillLoadBytes);

/// <summary>One row of `vgg kernels`: a kernel on one architecture.</summary>
/// <param name="Kernel">Entry point.</param>
/// <param name="Source">Source file.</param>
/// <param name="Arch">"sm_90".</param>
/// <param name="Registers">Registers per thread (ptxas).</param>
/// <param name="StaticSharedBytes">Static shared memory per block (ptxas), bytes.</param>
/// <param name="DynamicSharedBytes">Dynamic shared memory per block the launcher requests, bytes.</param>
/// <param name="SpillStoreBytes">ptxas spill stores, bytes.</param>
/// <param name="SpillLoadBytes">ptxas spill loads, bytes.</param>
/// <param name="StackFrameBytes">ptxas stack frame, bytes.</param>
/// <param name="Threads">Threads per block.</param>
/// <param name="TargetBlocksPerSm">The occupancy the kernel was written for.</param>
/// <param name="BlocksPerSmByRegisters">Blocks per SM the register count allows.</param>
/// <param name="BlocksPerSm">Blocks per SM with registers, shared memory and threads all counted.</param>
/// <param name="SourceCompileMilliseconds">Wall time NVRTC took for the whole source file on this architecture (all its kernels together).</param>
/// <param name="FromCache">True when the compile came from the kernel cache (the time is the original compile's).</param>
public sealed record KernelReportRow(string Kernel, string Source, string Arch, int Registers, int StaticSharedBytes, int DynamicSharedBytes,
    int SpillStoreBytes, int SpillLoadBytes, int StackFrameBytes, int Threads, int TargetBlocksPerSm, int BlocksPerSmByRegisters, int BlocksPerSm,
    double SourceCompileMilliseconds, bool FromCache)
{
    /// <summary>True when ptxas kept everything in registers: no spill stores or loads and no stack frame.</summary>
    public bool IsSpillFree => SpillStoreBytes == 0 && SpillLoadBytes == 0 && StackFrameBytes == 0;
}

/// <summary>
/// Compiles every kernel source to CUBIN for each architecture asked for and reports, per kernel,
/// what ptxas says about registers, shared memory, spills and stack, with the occupancy that follows.
/// This is the data `vgg kernels [--json]` prints, and what the CI checks assert on.
/// </summary>
public static partial class KernelReport
{
    /// <summary>The architectures the CI checks cover: Ampere (sm_80, sm_86), Ada (sm_89), Hopper (sm_90).</summary>
    public static IReadOnlyList<int> CheckedArchitectures { get; } = new[] { 80, 86, 89, 90 };

    [GeneratedRegex(@"Compiling entry function '([^']+)' for '([^']+)'")]
    private static partial Regex EntryRegex();

    [GeneratedRegex(@"Function properties for (\S+)")]
    private static partial Regex PropertiesRegex();

    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex StackRegex();

    [GeneratedRegex(@"Used (\d+) registers")]
    private static partial Regex RegistersRegex();

    [GeneratedRegex(@"(\d+) bytes smem")]
    private static partial Regex SmemRegex();

    /// <summary>
    /// Parses ptxas's -v report. Lines per entry: "Compiling entry function 'K' for 'sm_XY'",
    /// "Function properties for K", "N bytes stack frame, N bytes spill stores, N bytes spill loads",
    /// "Used N registers[, N bytes smem][, ...]". Device functions that were not inlined get their own
    /// "Function properties" block, which is ignored (their stack shows in the entry's own line).
    /// </summary>
    public static IReadOnlyList<PtxasEntry> ParsePtxasLog(string log)
    {
        var result = new List<PtxasEntry>();
        string? entry = null, propertiesOf = null;
        int stack = 0, spillSt = 0, spillLd = 0;
        bool haveStack = false;
        foreach (var raw in log.Split('\n'))
        {
            var line = raw.Trim();
            var m = EntryRegex().Match(line);
            if (m.Success)
            {
                entry = m.Groups[1].Value;
                haveStack = false;
                stack = spillSt = spillLd = 0;
                propertiesOf = null;
                continue;
            }
            m = PropertiesRegex().Match(line);
            if (m.Success)
            {
                propertiesOf = m.Groups[1].Value;
                continue;
            }
            m = StackRegex().Match(line);
            if (m.Success)
            {
                if (entry is not null && propertiesOf == entry)
                {
                    stack = Int(m.Groups[1].Value);
                    spillSt = Int(m.Groups[2].Value);
                    spillLd = Int(m.Groups[3].Value);
                    haveStack = true;
                }
                continue;
            }
            m = RegistersRegex().Match(line);
            if (m.Success && entry is not null)
            {
                var smem = SmemRegex().Match(line);
                if (!haveStack) throw new FormatException($"ptxas report for '{entry}' has no stack/spill line before its register count");
                result.Add(new PtxasEntry(entry, Int(m.Groups[1].Value), smem.Success ? Int(smem.Groups[1].Value) : 0, stack, spillSt, spillLd));
                entry = null;
            }
        }
        return result;
    }

    private static int Int(string s) => int.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>
    /// Compiles every source in <see cref="KernelCatalog.Sources"/> for every architecture (CUBIN, with
    /// the ptxas report), up to <paramref name="parallelism"/> compiles at once, and returns one row per
    /// (kernel, architecture) in catalog order.
    /// </summary>
    /// <exception cref="NvrtcCompileException">A source did not compile.</exception>
    /// <exception cref="InvalidDataException">A catalog kernel is missing from ptxas's report, or the report names a kernel the catalog lacks.</exception>
    public static IReadOnlyList<KernelReportRow> Build(IEnumerable<int> architectures, KernelCache? cache = null, int parallelism = 0)
    {
        var archs = architectures.ToList();
        var jobs = (from src in KernelCatalog.Sources from a in archs select (src, a)).ToList();
        var compiled = new CompiledSource[jobs.Count];
        Parallel.For(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount },
            i => compiled[i] = NvrtcCompiler.Compile(jobs[i].src, new CompileTarget(jobs[i].a, Cubin: true), cache));
        var rows = new List<KernelReportRow>();
        for (int i = 0; i < jobs.Count; i++)
        {
            var (src, arch) = jobs[i];
            var c = compiled[i];
            var entries = ParsePtxasLog(c.Log).ToDictionary(e => e.Kernel, StringComparer.Ordinal);
            var expected = KernelCatalog.All.Where(k => k.Source == src).ToList();
            var extra = entries.Keys.Except(expected.Select(k => k.Name)).ToList();
            if (extra.Count > 0) throw new InvalidDataException($"{src} ({c.Target}): ptxas reports kernels the catalog lacks: {string.Join(", ", extra)}");
            var limits = ArchLimits.For(arch);
            foreach (var k in expected)
            {
                if (!entries.TryGetValue(k.Name, out var e))
                    throw new InvalidDataException($"{src} ({c.Target}): kernel '{k.Name}' is in the catalog but not in ptxas's report (log:\n{c.Log})");
                rows.Add(new KernelReportRow(k.Name, src, c.Target.ArchName, e.Registers, e.StaticSharedBytes, k.DynamicSharedBytes,
                    e.SpillStoreBytes, e.SpillLoadBytes, e.StackFrameBytes, k.Threads, k.TargetBlocksPerSm,
                    limits.BlocksByRegisters(e.Registers, k.Threads), limits.BlocksPerSm(e.Registers, k.Threads, e.StaticSharedBytes + k.DynamicSharedBytes),
                    c.CompileMilliseconds, c.FromCache));
            }
        }
        return rows;
    }

    /// <summary>A fixed-width table, one line per row, for the console.</summary>
    public static string FormatTable(IReadOnlyList<KernelReportRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"kernel",-44} {"arch",-6} {"regs",4} {"smem",7} {"spill st/ld",11} {"stack",5} {"thr",4} {"blk/SM",6} {"target",6} {"compile ms",10}");
        foreach (var r in rows)
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"{r.Kernel,-44} {r.Arch,-6} {r.Registers,4} {r.StaticSharedBytes + r.DynamicSharedBytes,7} {r.SpillStoreBytes + "/" + r.SpillLoadBytes,11} {r.StackFrameBytes,5} {r.Threads,4} {r.BlocksPerSm,6} {r.TargetBlocksPerSm,6} {r.SourceCompileMilliseconds,10:F0}{(r.FromCache ? " (cached)" : "")}");
        return sb.ToString();
    }

    /// <summary>The rows as a JSON array (camelCase properties: kernel, source, arch, registers, ...).</summary>
    public static string ToJson(IReadOnlyList<KernelReportRow> rows) =>
        JsonSerializer.Serialize(rows.ToList(), KernelReportJson.Default.ListKernelReportRow);
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<KernelReportRow>))]
internal sealed partial class KernelReportJson : System.Text.Json.Serialization.JsonSerializerContext
{
}
