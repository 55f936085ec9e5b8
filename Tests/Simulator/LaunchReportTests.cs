using System.Text.Json;
using Vgg.Engine.Simulator;
using static Vgg.Engine.Tests.Simulator.PtxHarness;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>The per-launch counters (instructions, coalescing, bank conflicts) on access patterns whose counts are known, and the report's text and JSON forms.</summary>
[TestFixture]
public class LaunchReportTests
{
    private static LaunchReport Launch(string body, int threads, string extraDecls = "", int outBytes = 4096)
    {
        PtxHarness.RunBytes(body, outBytes, threads, 1, new byte[4096], 0, extraDecls, "", null, out var rep);
        return rep;
    }

    [TestCase(1, 4)]     // 32 consecutive floats: 128 bytes = 4 sectors
    [TestCase(2, 8)]     // stride 2 floats: 256 bytes span = 8 sectors
    [TestCase(8, 32)]    // stride 32 bytes: one sector per lane
    [TestCase(0, 1)]     // every lane the same address: 1 sector
    public void GlobalSectorsPerRequest_FollowTheStride(int strideWords, int sectors)
    {
        var rep = Launch($$"""
            mul.lo.u32 %r1, %r0, {{strideWords * 4}};
            cvt.u64.u32 %rd2, %r1;
            add.s64 %rd3, %rd1, %rd2;
            ld.global.f32 %f1, [%rd3];
            """, 32);
        Assert.That(rep.GlobalLoadRequests, Is.EqualTo(1));
        Assert.That(rep.GlobalLoadSectors, Is.EqualTo(sectors));
        Assert.That(rep.GlobalLoadBytes, Is.EqualTo(128));
        Assert.That(rep.GlobalLoadEfficiency, Is.EqualTo(128.0 / (32 * sectors)));
    }

    [TestCase(4, 4, 0)]      // consecutive words: conflict-free
    [TestCase(8, 4, 1)]      // stride 2 words: 2-way conflict
    [TestCase(128, 4, 31)]   // stride 32 words: all lanes in bank 0
    [TestCase(0, 4, 0)]      // one word: broadcast
    [TestCase(8, 8, 0)]      // 8-byte accesses, consecutive: 2 phases of 16 lanes, no conflict
    [TestCase(16, 16, 0)]    // 16-byte accesses, consecutive: 4 phases of 8 lanes, no conflict
    [TestCase(32, 16, 4)]    // 16-byte accesses, 32-byte stride: every phase 2-way
    public void SharedBankConflicts_CountExtraWavefronts(int strideBytes, int bytes, int conflicts)
    {
        string ty = bytes switch { 4 => ".u32", 8 => ".v2.u32", _ => ".v4.u32" };
        string regs = bytes switch { 4 => "%r5", 8 => "{%r5, %r6}", _ => "{%r5, %r6, %r7, %r8}" };
        var rep = Launch($$"""
            mov.u32 %r5, 1;
            mov.u32 %r6, 2;
            mov.u32 %r7, 3;
            mov.u32 %r8, 4;
            mul.lo.u32 %r1, %r0, {{strideBytes}};
            mov.u32 %r2, sm;
            add.u32 %r3, %r2, %r1;
            st.shared{{ty}} [%r3], {{regs}};
            """, 32, ".shared .align 16 .b8 sm[8192];");
        Assert.That(rep.SharedStoreRequests, Is.EqualTo(1));
        Assert.That(rep.SharedBankConflicts, Is.EqualTo(conflicts));
        Assert.That(rep.SharedIdealWavefronts, Is.EqualTo(bytes / 4));
    }

    [Test]
    public void InstructionCounts_PerClassAndPredicatedLanes()
    {
        var rep = Launch("""
            setp.lt.u32 %p1, %r0, 10;
            @%p1 add.u32 %r1, %r0, 1;
            add.f32 %f1, %f1, %f1;
            """, 64);
        // Per warp: ld.param ×2, mov, setp, add.u32, add.f32, ret = 7 warp instructions; 2 warps.
        Assert.That(rep.WarpInstructions, Is.EqualTo(14));
        var integer = rep.ByClass.Single(c => c.Class == OpClass.Integer);
        Assert.That(integer.WarpInstructions, Is.EqualTo(2), "issued by both warps");
        Assert.That(integer.ThreadInstructions, Is.EqualTo(10), "executed by the 10 predicate-true threads");
        Assert.That(rep.ByClass.Single(c => c.Class == OpClass.Float32).ThreadInstructions, Is.EqualTo(64));
        Assert.That(rep.ByClass.Single(c => c.Class == OpClass.ParamLoad).WarpInstructions, Is.EqualTo(4));
    }

    [Test]
    public void TextAndJson_CarryTheCounters()
    {
        var rep = Launch("""
            mul.wide.u32 %rd2, %r0, 4;
            add.s64 %rd3, %rd1, %rd2;
            ld.global.f32 %f1, [%rd3];
            add.s64 %rd4, %rd0, %rd2;
            st.global.f32 [%rd4], %f1;
            """, 64);
        var text = rep.ToText();
        Assert.That(text, Does.Contain("kernel t").And.Contain("grid (1,1,1)").And.Contain("block (64,1,1)").And.Contain("global load").And.Contain("bank conflicts"));
        using var doc = JsonDocument.Parse(rep.ToJson());
        var root = doc.RootElement;
        Assert.That(root.GetProperty("kernel").GetString(), Is.EqualTo("t"));
        Assert.That(root.GetProperty("warpInstructions").GetInt64(), Is.EqualTo(rep.WarpInstructions));
        Assert.That(root.GetProperty("globalLoad").GetProperty("bytes").GetInt64(), Is.EqualTo(256));
        Assert.That(root.GetProperty("globalStore").GetProperty("sectorsPerRequest").GetDouble(), Is.EqualTo(4.0));
        Assert.That(root.GetProperty("byClass").EnumerateArray().Select(e => e.GetProperty("class").GetString()), Does.Contain("GlobalLoad"));
        Assert.That(root.GetProperty("hotInstructions").GetArrayLength(), Is.EqualTo(rep.HotInstructions.Count));
        Assert.That(text, Does.Contain("hottest instructions").And.Contain("ld.global.f32 %f1, [%rd3];"));
    }

    [Test]
    public void HotInstructions_RankTheLoopBody()
    {
        var rep = Launch("""
            mov.u32 %r1, 0;
            LOOP:
            add.u32 %r1, %r1, 1;
            setp.lt.u32 %p1, %r1, 100;
            @%p1 bra LOOP;
            """, 32);
        Assert.That(rep.HotInstructions.Take(3).Select(h => h.WarpInstructions), Is.All.EqualTo(100));
        Assert.That(rep.HotInstructions.Take(3).Select(h => h.Instruction), Is.EquivalentTo(new[] { "add.u32 %r1, %r1, 1;", "setp.lt.u32 %p1, %r1, 100;", "@%p1 bra LOOP;" }));
        Assert.That(rep.HotInstructions[0].ThreadInstructions, Is.EqualTo(3200));
    }
}
