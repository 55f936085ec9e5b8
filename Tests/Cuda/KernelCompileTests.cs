using System.Text.RegularExpressions;
using Vgg.Engine.Cuda;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Kernels;

namespace Vgg.Engine.Tests.Cuda;

/// <summary>
/// Every kernel compiles with NVRTC to PTX for compute_80 and compute_90 and to CUBIN for sm_80, sm_86,
/// sm_89 and sm_90, and ptxas reports no spill stores, no spill loads, no stack frame and a register
/// count that allows the occupancy each kernel was written for. The CUBIN report is built once
/// (all sources and architectures compiled in parallel) and shared by the checks.
/// </summary>
[NonParallelizable]
public class KernelCompileTests
{
    private static readonly Lazy<IReadOnlyList<KernelReportRow>> Report = new(() =>
        KernelReport.Build(KernelReport.CheckedArchitectures, CudaTestSupport.RunCache));

    private static IReadOnlyList<KernelReportRow> Rows()
    {
        CudaTestSupport.RequireNvrtc();
        return Report.Value;
    }

    [Test]
    public void CatalogListsExactlyTheEntryPointsOfTheSources()
    {
        // Read the extern "C" __global__ names straight from the sources (no NVRTC needed).
        var declared = new HashSet<string>(StringComparer.Ordinal);
        var direct = new Regex(@"extern ""C"" __global__ void(?: __launch_bounds__\([^)]*\))?\s+(vgg_\w+)\(");
        var viaMacro = new Regex(@"^VGG_\w+_ENTR(?:Y|IES)\(([^,]+),", RegexOptions.Multiline);
        foreach (var src in KernelSources.Names.Where(n => n.EndsWith(".cu", StringComparison.Ordinal)))
        {
            var text = KernelSources.Read(src);
            foreach (Match m in direct.Matches(text)) declared.Add(m.Groups[1].Value);
            foreach (Match m in viaMacro.Matches(text))
            {
                var arg = m.Groups[1].Value.Trim();
                if (arg.StartsWith("vgg_", StringComparison.Ordinal)) declared.Add(arg);
            }
        }
        var catalog = KernelCatalog.All.Select(k => k.Name).ToHashSet(StringComparer.Ordinal);
        // Macro-generated names with a suffix parameter are checked against PTX in the next test; here,
        // every directly written or fully named entry must be in the catalog.
        Assert.That(declared.Except(catalog), Is.Empty, "kernels in the sources but not in KernelCatalog");
        Assert.That(KernelCatalog.Sources, Is.SubsetOf(KernelSources.Names));
    }

    [TestCase(80)]
    [TestCase(90)]
    public void EveryKernelCompilesToPtx(int arch)
    {
        CudaTestSupport.RequireNvrtc();
        var target = new CompileTarget(arch, Cubin: false);
        var results = KernelCatalog.Sources.AsParallel().Select(s => NvrtcCompiler.Compile(s, target, CudaTestSupport.RunCache)).ToList();
        var entry = new Regex(@"^\.visible \.entry (\w+)\(", RegexOptions.Multiline);
        foreach (var r in results)
        {
            var ptx = r.PtxText;
            Assert.That(ptx, Does.Contain(".target sm_" + arch), r.Source);
            var entries = entry.Matches(ptx).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
            var expected = KernelCatalog.All.Where(k => k.Source == r.Source).Select(k => k.Name).ToHashSet(StringComparer.Ordinal);
            Assert.That(entries, Is.EquivalentTo(expected), $"{r.Source} for compute_{arch}: PTX entry points vs KernelCatalog");
        }
    }

    [Test]
    public void CubinForEveryCheckedArchitectureHasNoSpillsAndNoStack()
    {
        var rows = Rows();
        Assert.That(rows, Has.Count.EqualTo(KernelCatalog.All.Count * KernelReport.CheckedArchitectures.Count));
        var bad = rows.Where(r => !r.IsSpillFree).Select(r => $"{r.Kernel} {r.Arch}: {r.SpillStoreBytes} B spill stores, {r.SpillLoadBytes} B spill loads, {r.StackFrameBytes} B stack").ToList();
        Assert.That(bad, Is.Empty, "ptxas reported local memory use");
    }

    [Test]
    public void RegisterCountsAllowTheIntendedOccupancy()
    {
        var rows = Rows();
        var bad = rows.Where(r => r.BlocksPerSmByRegisters < r.TargetBlocksPerSm)
            .Select(r => $"{r.Kernel} {r.Arch}: {r.Registers} registers x {r.Threads} threads allow {r.BlocksPerSmByRegisters} blocks/SM, target {r.TargetBlocksPerSm}").ToList();
        Assert.That(bad, Is.Empty);
    }

    [Test]
    public void SharedMemoryFitsEveryCheckedArchitecture()
    {
        var rows = Rows();
        var bad = rows.Where(r => r.StaticSharedBytes + r.DynamicSharedBytes > ArchLimits.For(int.Parse(r.Arch[3..], System.Globalization.CultureInfo.InvariantCulture)).SharedPerBlockOptin || r.BlocksPerSm < 1)
            .Select(r => $"{r.Kernel} {r.Arch}: {r.StaticSharedBytes + r.DynamicSharedBytes} B shared, {r.BlocksPerSm} blocks/SM").ToList();
        Assert.That(bad, Is.Empty);
    }

    [Test]
    public void ReportFormatsAsTableAndJson()
    {
        var rows = Rows();
        var table = KernelReport.FormatTable(rows);
        Assert.That(table, Does.Contain("vgg_conv3x3_bias_relu_f16_128x128").And.Contain("sm_90"));
        var json = KernelReport.ToJson(rows);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.That(doc.RootElement.GetArrayLength(), Is.EqualTo(rows.Count));
        var first = doc.RootElement[0];
        Assert.That(first.GetProperty("kernel").GetString(), Is.EqualTo(rows[0].Kernel));
        Assert.That(first.GetProperty("registers").GetInt32(), Is.EqualTo(rows[0].Registers));
        Assert.That(first.GetProperty("sourceCompileMilliseconds").GetDouble(), Is.GreaterThan(0));
    }

    [Test]
    public void ACompileErrorCarriesTheLogAndTheSourceName()
    {
        CudaTestSupport.RequireNvrtc();
        var e = Assert.Throws<NvrtcCompileException>(() =>
            NvrtcCompiler.CompileText("broken.cu", "#include \"common.cuh\"\nextern \"C\" __global__ void k(float* p) { p[0] = undefined_name; }\n", new CompileTarget(80, false)));
        Assert.Multiple(() =>
        {
            Assert.That(e!.SourceName, Is.EqualTo("broken.cu"));
            Assert.That(e.Log, Does.Contain("undefined_name"));
            Assert.That(e.Message, Does.Contain("broken.cu").And.Contain("NVRTC_ERROR_COMPILATION"));
        });
    }

    [Test]
    public void TheDiskCacheReturnsTheSameImageAndIsKeyedByTarget()
    {
        CudaTestSupport.RequireNvrtc();
        var dir = Path.Combine(Path.GetTempPath(), "vgg-cache-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var cache = new KernelCache(dir);
            NvrtcCompiler.ClearMemoryCache();
            var first = NvrtcCompiler.Compile("softmax.cu", new CompileTarget(80, false), cache);
            NvrtcCompiler.ClearMemoryCache();
            var second = NvrtcCompiler.Compile("softmax.cu", new CompileTarget(80, false), cache);
            var other = NvrtcCompiler.Compile("softmax.cu", new CompileTarget(90, false), cache);
            Assert.Multiple(() =>
            {
                Assert.That(first.FromCache, Is.False);
                Assert.That(second.FromCache, Is.True);
                Assert.That(second.Image, Is.EqualTo(first.Image));
                Assert.That(other.FromCache, Is.False);
                Assert.That(other.PtxText, Does.Contain(".target sm_90"));
                Assert.That(Directory.GetFiles(dir, "*.bin"), Has.Length.EqualTo(2));
            });
            // A corrupted entry is detected (hash mismatch) and recompiled, not loaded.
            foreach (var f in Directory.GetFiles(dir, "*.bin")) File.WriteAllBytes(f, new byte[] { 1, 2, 3 });
            NvrtcCompiler.ClearMemoryCache();
            var again = NvrtcCompiler.Compile("softmax.cu", new CompileTarget(80, false), cache);
            Assert.That(again.FromCache, Is.False);
            Assert.That(again.Image, Is.EqualTo(first.Image));
        }
        finally
        {
            NvrtcCompiler.ClearMemoryCache();
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Test]
    public void TargetChoiceFallsBackToPtxForAnUnknownArchitecture()
    {
        Assert.That(NvrtcCompiler.TargetFor(90, new[] { 80, 86, 89, 90 }), Is.EqualTo(new CompileTarget(90, true)));
        Assert.That(NvrtcCompiler.TargetFor(120, new[] { 80, 86, 89, 90 }), Is.EqualTo(new CompileTarget(90, false)));
        Assert.That(NvrtcCompiler.TargetFor(87, new[] { 80, 86, 89, 90 }), Is.EqualTo(new CompileTarget(86, false)));
        Assert.Throws<NotSupportedException>(() => NvrtcCompiler.TargetFor(75, new[] { 80, 90 }));
    }
}

/// <summary>The ptxas report parser on fixed text (no NVRTC needed).</summary>
public class PtxasLogParserTests
{
    [Test]
    public void ParsesEntriesWithAndWithoutSharedMemoryAndIgnoresDeviceFunctions()
    {
        const string log = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Function properties for _Z6helperv
            ptxas         .     8 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Compiling entry function 'vgg_a' for 'sm_90'
            ptxas info    : Function properties for vgg_a
            ptxas         .     16 bytes stack frame, 12 bytes spill stores, 20 bytes spill loads
            ptxas info    : Used 128 registers, 16896 bytes smem, 420 bytes cmem[0]
            ptxas info    : Compiling entry function 'vgg_b' for 'sm_90'
            ptxas info    : Function properties for vgg_b
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 32 registers, used 1 barriers, 352 bytes cmem[0]
            """;
        var e = KernelReport.ParsePtxasLog(log);
        Assert.That(e, Is.EqualTo(new[]
        {
            new PtxasEntry("vgg_a", 128, 16896, 16, 12, 20),
            new PtxasEntry("vgg_b", 32, 0, 0, 0, 0),
        }));
    }

    [Test]
    public void OccupancyArithmetic()
    {
        var sm90 = ArchLimits.For(90);
        Assert.That(sm90.BlocksByRegisters(128, 256), Is.EqualTo(2));
        Assert.That(sm90.BlocksByRegisters(129, 256), Is.EqualTo(1), "registers are allocated per warp in units of 256");
        Assert.That(sm90.BlocksByRegisters(64, 256), Is.EqualTo(4));
        Assert.That(sm90.BlocksPerSm(96, 128, KernelCatalog.TensorCoreSharedBytes(64, 64)), Is.EqualTo(5));
        Assert.That(ArchLimits.For(86).BlocksPerSm(124, 256, KernelCatalog.TensorCoreSharedBytes(128, 128)), Is.EqualTo(1), "sm_86 has 100 KiB of shared memory per SM");
    }
}
