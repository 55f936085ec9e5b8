using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Vgg.Engine.Simulator.Exec;

namespace Vgg.Engine.Simulator;

/// <summary>Counters gathered while blocks run; one per worker, summed at the end of a launch.</summary>
internal sealed class LaunchStats
{
    public long WarpInstructions;
    public long ThreadInstructions;
    public readonly long[] ClassWarp = new long[Enum.GetValues<OpClass>().Length];
    public readonly long[] ClassThread = new long[Enum.GetValues<OpClass>().Length];

    public long GlobalLoadRequests, GlobalLoadBytes, GlobalLoadSectors;
    public long GlobalStoreRequests, GlobalStoreBytes, GlobalStoreSectors;
    public long SharedLoadRequests, SharedStoreRequests, SharedLoadBytes, SharedStoreBytes;
    public long SharedWavefronts, SharedIdealWavefronts;
    public long LocalLoadBytes, LocalStoreBytes;
    public long AtomicOps;
    public long Barriers;
    public long DivergentBranches;
    public long AsyncCopyBytes;
    /// <summary>Warp issues and thread executions per decoded instruction (sized by the first block that folds into it).</summary>
    public long[] IssueByInstr = [];
    public long[] LanesByInstr = [];

    public void Add(LaunchStats o)
    {
        if (o.IssueByInstr.Length > 0)
        {
            if (IssueByInstr.Length == 0) { IssueByInstr = new long[o.IssueByInstr.Length]; LanesByInstr = new long[o.IssueByInstr.Length]; }
            for (int i = 0; i < IssueByInstr.Length; i++) { IssueByInstr[i] += o.IssueByInstr[i]; LanesByInstr[i] += o.LanesByInstr[i]; }
        }
        WarpInstructions += o.WarpInstructions;
        ThreadInstructions += o.ThreadInstructions;
        for (int i = 0; i < ClassWarp.Length; i++) { ClassWarp[i] += o.ClassWarp[i]; ClassThread[i] += o.ClassThread[i]; }
        GlobalLoadRequests += o.GlobalLoadRequests; GlobalLoadBytes += o.GlobalLoadBytes; GlobalLoadSectors += o.GlobalLoadSectors;
        GlobalStoreRequests += o.GlobalStoreRequests; GlobalStoreBytes += o.GlobalStoreBytes; GlobalStoreSectors += o.GlobalStoreSectors;
        SharedLoadRequests += o.SharedLoadRequests; SharedStoreRequests += o.SharedStoreRequests;
        SharedLoadBytes += o.SharedLoadBytes; SharedStoreBytes += o.SharedStoreBytes;
        SharedWavefronts += o.SharedWavefronts; SharedIdealWavefronts += o.SharedIdealWavefronts;
        LocalLoadBytes += o.LocalLoadBytes; LocalStoreBytes += o.LocalStoreBytes;
        AtomicOps += o.AtomicOps; Barriers += o.Barriers; DivergentBranches += o.DivergentBranches;
        AsyncCopyBytes += o.AsyncCopyBytes;
    }

    public void Clear()
    {
        WarpInstructions = ThreadInstructions = 0;
        Array.Clear(ClassWarp);
        Array.Clear(ClassThread);
        GlobalLoadRequests = GlobalLoadBytes = GlobalLoadSectors = 0;
        GlobalStoreRequests = GlobalStoreBytes = GlobalStoreSectors = 0;
        SharedLoadRequests = SharedStoreRequests = SharedLoadBytes = SharedStoreBytes = 0;
        SharedWavefronts = SharedIdealWavefronts = 0;
        LocalLoadBytes = LocalStoreBytes = 0;
        AtomicOps = Barriers = DivergentBranches = AsyncCopyBytes = 0;
    }
}

/// <summary>One PTX instruction's share of a launch.</summary>
/// <param name="Line">1-based line in the PTX text.</param>
/// <param name="Instruction">The instruction as written.</param>
/// <param name="WarpInstructions">Times a warp issued it.</param>
/// <param name="ThreadInstructions">Lane executions (predicate-true active lanes summed).</param>
public sealed record InstructionCount(int Line, string Instruction, long WarpInstructions, long ThreadInstructions);

/// <summary>Count of one opcode class in a launch.</summary>
/// <param name="Class">The class (integer, fp32, global load, mma, ...).</param>
/// <param name="WarpInstructions">Warp-level issues of instructions of this class.</param>
/// <param name="ThreadInstructions">Thread-level executions (active, predicate-true lanes summed).</param>
public sealed record OpClassCount(OpClass Class, long WarpInstructions, long ThreadInstructions);

/// <summary>
/// What one simulated launch did: instruction counts (total and per opcode class), global traffic with
/// its coalescing (32-byte sectors per warp request, as Nsight Compute's l1tex sectors/request), shared
/// memory bank conflicts (32 banks of 4 bytes; a request's wavefronts are the largest number of distinct
/// words in one bank, per phase of 128 bytes), barriers and divergent branches, and the host time it took.
/// <see cref="ToText"/> and <see cref="ToJson"/> are what <c>vgg kernels --simulate</c> prints.
/// </summary>
public sealed class LaunchReport
{
    public required string Kernel { get; init; }
    public required Dim3 Grid { get; init; }
    public required Dim3 Block { get; init; }
    public required int DynamicSharedBytes { get; init; }
    public required int StaticSharedBytes { get; init; }
    public required int LocalBytesPerThread { get; init; }
    public required int RegistersPerThread { get; init; }

    /// <summary>Warp-level instructions issued (a predicated-off instruction still counts: the warp issued it).</summary>
    public required long WarpInstructions { get; init; }
    /// <summary>Thread-level instructions executed (predicate-true active lanes).</summary>
    public required long ThreadInstructions { get; init; }
    public required IReadOnlyList<OpClassCount> ByClass { get; init; }

    public required long GlobalLoadRequests { get; init; }
    public required long GlobalLoadBytes { get; init; }
    public required long GlobalLoadSectors { get; init; }
    public required long GlobalStoreRequests { get; init; }
    public required long GlobalStoreBytes { get; init; }
    public required long GlobalStoreSectors { get; init; }
    public required long SharedLoadRequests { get; init; }
    public required long SharedStoreRequests { get; init; }
    public required long SharedLoadBytes { get; init; }
    public required long SharedStoreBytes { get; init; }
    /// <summary>Shared-memory wavefronts actually needed (bank conflicts make more).</summary>
    public required long SharedWavefronts { get; init; }
    /// <summary>Shared-memory wavefronts a conflict-free pattern of the same bytes would need.</summary>
    public required long SharedIdealWavefronts { get; init; }
    public required long LocalLoadBytes { get; init; }
    public required long LocalStoreBytes { get; init; }
    public required long AtomicOperations { get; init; }
    public required long BarrierReleases { get; init; }
    public required long DivergentBranches { get; init; }
    public required long AsyncCopyBytes { get; init; }
    /// <summary>The most issued instructions (up to 12), most first: where the kernel spends its instructions.</summary>
    public required IReadOnlyList<InstructionCount> HotInstructions { get; init; }
    /// <summary>Host wall time of the simulation, ms.</summary>
    public required double SimulationMs { get; init; }

    /// <summary>32-byte sectors per global load request (1 byte/lane·32 lanes fully coalesced: 1; 4-byte: 4; 16-byte: 16).</summary>
    public double SectorsPerLoadRequest => GlobalLoadRequests == 0 ? 0 : (double)GlobalLoadSectors / GlobalLoadRequests;
    public double SectorsPerStoreRequest => GlobalStoreRequests == 0 ? 0 : (double)GlobalStoreSectors / GlobalStoreRequests;
    /// <summary>Bytes requested / bytes moved in sectors (1.0 = every fetched byte used).</summary>
    public double GlobalLoadEfficiency => GlobalLoadSectors == 0 ? 0 : (double)GlobalLoadBytes / (GlobalLoadSectors * 32.0);
    public double GlobalStoreEfficiency => GlobalStoreSectors == 0 ? 0 : (double)GlobalStoreBytes / (GlobalStoreSectors * 32.0);
    /// <summary>Extra wavefronts caused by bank conflicts.</summary>
    public long SharedBankConflicts => SharedWavefronts - SharedIdealWavefronts;
    /// <summary>Simulated thread instructions per host second.</summary>
    public double ThreadInstructionsPerSecond => SimulationMs <= 0 ? 0 : ThreadInstructions / (SimulationMs / 1000.0);

    /// <summary>A few aligned lines for a terminal.</summary>
    public string ToText()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"kernel {Kernel}  grid {Grid}  block {Block}  shared {StaticSharedBytes}+{DynamicSharedBytes} B  local {LocalBytesPerThread} B/thread  regs {RegistersPerThread}");
        sb.AppendLine(c, $"  instructions   warp {WarpInstructions,14:N0}   thread {ThreadInstructions,16:N0}   (simulated in {SimulationMs:F1} ms, {ThreadInstructionsPerSecond / 1e6:F1} M thread-instr/s)");
        foreach (var k in ByClass.Where(k => k.WarpInstructions > 0).OrderByDescending(k => k.WarpInstructions))
            sb.AppendLine(c, $"    {k.Class,-13} warp {k.WarpInstructions,14:N0}   thread {k.ThreadInstructions,16:N0}");
        sb.AppendLine(c, $"  global load    {GlobalLoadRequests,10:N0} req  {GlobalLoadBytes,14:N0} B  {GlobalLoadSectors,12:N0} sectors  {SectorsPerLoadRequest,5:F2} sectors/req  efficiency {GlobalLoadEfficiency:P0}");
        sb.AppendLine(c, $"  global store   {GlobalStoreRequests,10:N0} req  {GlobalStoreBytes,14:N0} B  {GlobalStoreSectors,12:N0} sectors  {SectorsPerStoreRequest,5:F2} sectors/req  efficiency {GlobalStoreEfficiency:P0}");
        sb.AppendLine(c, $"  shared         {SharedLoadRequests,10:N0} ld  {SharedStoreRequests,10:N0} st  {SharedLoadBytes + SharedStoreBytes,14:N0} B  wavefronts {SharedWavefronts:N0} (ideal {SharedIdealWavefronts:N0}, bank conflicts {SharedBankConflicts:N0})");
        sb.AppendLine(c, $"  local          {LocalLoadBytes:N0} B loaded, {LocalStoreBytes:N0} B stored;  cp.async {AsyncCopyBytes:N0} B;  atomics {AtomicOperations:N0};  barriers {BarrierReleases:N0};  divergent branches {DivergentBranches:N0}");
        if (HotInstructions.Count > 0)
        {
            sb.AppendLine("  hottest instructions (warp issues, share, PTX line):");
            foreach (var h in HotInstructions)
                sb.AppendLine(c, $"    {h.WarpInstructions,12:N0} {(double)h.WarpInstructions / Math.Max(1, WarpInstructions),6:P1}  line {h.Line,-6} {h.Instruction}");
        }
        return sb.ToString();
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The report as an indented JSON object (camelCase names; derived ratios included).</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        kernel = Kernel,
        grid = new[] { Grid.X, Grid.Y, Grid.Z },
        block = new[] { Block.X, Block.Y, Block.Z },
        dynamicSharedBytes = DynamicSharedBytes,
        staticSharedBytes = StaticSharedBytes,
        localBytesPerThread = LocalBytesPerThread,
        registersPerThread = RegistersPerThread,
        warpInstructions = WarpInstructions,
        threadInstructions = ThreadInstructions,
        byClass = ByClass.Where(k => k.WarpInstructions > 0).ToArray(),
        globalLoad = new { requests = GlobalLoadRequests, bytes = GlobalLoadBytes, sectors = GlobalLoadSectors, sectorsPerRequest = SectorsPerLoadRequest, efficiency = GlobalLoadEfficiency },
        globalStore = new { requests = GlobalStoreRequests, bytes = GlobalStoreBytes, sectors = GlobalStoreSectors, sectorsPerRequest = SectorsPerStoreRequest, efficiency = GlobalStoreEfficiency },
        shared = new { loadRequests = SharedLoadRequests, storeRequests = SharedStoreRequests, loadBytes = SharedLoadBytes, storeBytes = SharedStoreBytes, wavefronts = SharedWavefronts, idealWavefronts = SharedIdealWavefronts, bankConflicts = SharedBankConflicts },
        local = new { loadBytes = LocalLoadBytes, storeBytes = LocalStoreBytes },
        asyncCopyBytes = AsyncCopyBytes,
        atomicOperations = AtomicOperations,
        barrierReleases = BarrierReleases,
        divergentBranches = DivergentBranches,
        hotInstructions = HotInstructions,
        simulationMs = SimulationMs,
    }, JsonOptions);

    internal static LaunchReport From(KernelCode k, Dim3 grid, Dim3 block, int dyn, LaunchStats s, double ms) => new()
    {
        Kernel = k.Name, Grid = grid, Block = block, DynamicSharedBytes = dyn, StaticSharedBytes = k.StaticSharedBytes,
        LocalBytesPerThread = k.LocalBytes, RegistersPerThread = k.DeclaredRegisters,
        WarpInstructions = s.WarpInstructions, ThreadInstructions = s.ThreadInstructions,
        ByClass = Enum.GetValues<OpClass>().Select(c => new OpClassCount(c, s.ClassWarp[(int)c], s.ClassThread[(int)c])).ToArray(),
        GlobalLoadRequests = s.GlobalLoadRequests, GlobalLoadBytes = s.GlobalLoadBytes, GlobalLoadSectors = s.GlobalLoadSectors,
        GlobalStoreRequests = s.GlobalStoreRequests, GlobalStoreBytes = s.GlobalStoreBytes, GlobalStoreSectors = s.GlobalStoreSectors,
        SharedLoadRequests = s.SharedLoadRequests, SharedStoreRequests = s.SharedStoreRequests,
        SharedLoadBytes = s.SharedLoadBytes, SharedStoreBytes = s.SharedStoreBytes,
        SharedWavefronts = s.SharedWavefronts, SharedIdealWavefronts = s.SharedIdealWavefronts,
        LocalLoadBytes = s.LocalLoadBytes, LocalStoreBytes = s.LocalStoreBytes,
        AtomicOperations = s.AtomicOps, BarrierReleases = s.Barriers, DivergentBranches = s.DivergentBranches,
        AsyncCopyBytes = s.AsyncCopyBytes, SimulationMs = ms,
        HotInstructions = Enumerable.Range(0, s.IssueByInstr.Length)
            .Where(i => s.IssueByInstr[i] > 0)
            .OrderByDescending(i => s.IssueByInstr[i]).ThenBy(i => i)
            .Take(12)
            .Select(i => new InstructionCount(k.Lines[i], k.Text[i], s.IssueByInstr[i], s.LanesByInstr[i]))
            .ToArray(),
    };
}
