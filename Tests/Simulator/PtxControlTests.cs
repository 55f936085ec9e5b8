using Vgg.Engine.Simulator;
using static Vgg.Engine.Tests.Simulator.PtxHarness;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>Comparison and selection (§9.7.2), predication, branches and divergence, barriers (§9.7.13.1) and special registers (§10).</summary>
[TestFixture]
public class PtxControlTests
{
    /// <summary>Stores predicate %pK as word K of out.</summary>
    private static string StorePreds(int n) => string.Join("\n", Enumerable.Range(1, n).Select(k => $"selp.u32 %r{k}, 1, 0, %p{k};\nst.global.u32 [%rd0+{4 * (k - 1)}], %r{k};"));

    [Test]
    public void Setp_IntegerComparisons_SignedAndUnsigned()
    {
        var r = Run32("""
            setp.eq.s32 %p1, -1, 1;
            setp.ne.s32 %p2, -1, 1;
            setp.lt.s32 %p3, -1, 1;
            setp.le.s32 %p4, 1, 1;
            setp.gt.s32 %p5, -1, 1;
            setp.ge.s32 %p6, -1, 1;
            setp.lo.u32 %p7, 0xFFFFFFFF, 1;
            setp.ls.u32 %p8, 1, 1;
            setp.hi.u32 %p9, 0xFFFFFFFF, 1;
            setp.hs.u32 %p10, 0, 1;
            setp.lt.u32 %p11, 0xFFFFFFFF, 1;   // unsigned: false
            setp.lt.s64 %p12, -5, 3;
            setp.ne.b16 %p13, 7, 7;
            setp.gt.u16 %p14, 0x8000, 1;
            """ + StorePreds(14), 14);
        Assert.That(r, Is.EqualTo(new uint[] { 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1 }));
    }

    [Test]
    public void Setp_FloatOrderedUnorderedAndBoolCombos()
    {
        var r = Run32($$"""
            setp.lt.f32 %p1, 0f7FC00000, {{F(1f)}};
            setp.ltu.f32 %p2, 0f7FC00000, {{F(1f)}};
            setp.ne.f32 %p3, 0f7FC00000, {{F(1f)}};
            setp.neu.f32 %p4, 0f7FC00000, {{F(1f)}};
            setp.num.f32 %p5, 0f7FC00000, {{F(1f)}};
            setp.nan.f32 %p6, 0f7FC00000, {{F(1f)}};
            setp.equ.f64 %p7, {{Dd(double.NaN)}}, {{Dd(2)}};
            setp.eq.f32 %p8, 0f80000000, 0f00000000;      // −0 == +0
            mov.pred %p0, 0;
            setp.lt.and.s32 %p9|%p10, 1, 2, !%p0;          // p = 1 & 1, q = 0 & 1
            setp.gt.or.s32 %p11|%p12, 1, 2, %p0;           // p = 0 | 0, q = 1 | 0
            setp.eq.xor.s32 %p13|%p14, 3, 3, 1;            // p = 1 ^ 1, q = 0 ^ 1
            """ + StorePreds(14), 14);
        Assert.That(r, Is.EqualTo(new uint[] { 0, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 1, 0, 1 }));
    }

    [Test]
    public void SetpHalf2_AndSetSelpSlct()
    {
        ushort h(double v) => HBits(v);
        var r = Run32($$"""
            setp.lt.f16x2 %p1|%p2, {{h(1) | (uint)h(5) << 16}}, {{h(2) | (uint)h(3) << 16}};  // lo 1<2, hi 5<3
            setp.ge.f16 %p3, {{h(-1)}}, {{h(-1)}};
            set.lt.u32.s32 %r20, -3, 2;
            set.gt.f32.f32 %f1, {{F(1f)}}, {{F(2f)}};
            selp.b32 %r21, 111, 222, %p1;
            selp.f32 %f2, {{F(1.5f)}}, {{F(-1.5f)}}, %p2;
            slct.u32.s32 %r22, 10, 20, -1;
            slct.u32.f32 %r23, 10, 20, 0f80000000;        // −0 ≥ 0
            mov.b32 %r24, %f1;
            mov.b32 %r25, %f2;
            """ + StorePreds(3) + """
            st.global.u32 [%rd0+12], %r20;
            st.global.v4.u32 [%rd0+16], {%r24, %r21, %r25, %r22};
            st.global.u32 [%rd0+32], %r23;
            """, 9);
        Assert.That(r, Is.EqualTo(new uint[] { 1, 0, 1, 0xFFFFFFFF, 0, 111, Bits(-1.5f), 20, 10 }));
    }

    [Test]
    public void PredicateLogic_AndOrXorNot()
    {
        var r = Run32("""
            setp.eq.s32 %p10, 1, 1;     // true
            setp.eq.s32 %p11, 1, 2;     // false
            and.pred %p1, %p10, %p11;
            or.pred %p2, %p10, %p11;
            xor.pred %p3, %p10, %p10;
            not.pred %p4, %p11;
            not.pred %p5, %p10;
            """ + StorePreds(5), 5);
        Assert.That(r, Is.EqualTo(new uint[] { 0, 1, 0, 1, 0 }));
    }

    [Test]
    public void Predication_GuardsStoresPerLane()
    {
        var r = Run32("""
            and.b32 %r1, %r0, 1;
            setp.eq.u32 %p1, %r1, 1;
            mul.wide.u32 %rd2, %r0, 4;
            add.s64 %rd3, %rd0, %rd2;
            mov.u32 %r2, 100;
            @%p1 add.u32 %r2, %r2, %r0;     // odd lanes only
            @!%p1 st.global.u32 [%rd3], %r0;
            @%p1 st.global.u32 [%rd3], %r2;
            """, 32, block: 32);
        for (uint l = 0; l < 32; l++) Assert.That(r[l], Is.EqualTo(l % 2 == 1 ? 100 + l : l), $"lane {l}");
    }

    [Test]
    public void Divergence_PerLaneLoopsAndNestedIfElse_ReconvergeBeforeShuffle()
    {
        // Each lane loops tid times (sum 0..tid), then a three-way if/else on tid % 3, then a full-warp
        // shuffle that only completes if every lane arrived.
        var body = """
            mov.u32 %r1, 0;
            mov.u32 %r2, 0;
            LOOP:
            setp.gt.u32 %p1, %r2, %r0;
            @%p1 bra DONE;
            add.u32 %r1, %r1, %r2;
            add.u32 %r2, %r2, 1;
            bra.uni LOOP;
            DONE:
            rem.u32 %r3, %r0, 3;
            setp.eq.u32 %p2, %r3, 0;
            @%p2 bra ZERO;
            setp.eq.u32 %p3, %r3, 1;
            @%p3 bra ONE;
            mul.lo.u32 %r4, %r1, 3;
            bra.uni JOIN;
            ONE:
            mul.lo.u32 %r4, %r1, 2;
            bra.uni JOIN;
            ZERO:
            mov.u32 %r4, %r1;
            JOIN:
            shfl.sync.bfly.b32 %r5, %r4, 1, 31, -1;
            add.u32 %r6, %r4, %r5;
            mul.wide.u32 %rd2, %r0, 4;
            add.s64 %rd3, %rd0, %rd2;
            st.global.u32 [%rd3], %r6;
            """;
        var k = Compile(body);
        var dev = SimTestUtil.Device();
        var o = dev.Allocate(32 * 4);
        var rep = dev.Launch(k, 1, 32, 0, o, dev.Allocate(16));
        var r = dev.Download<uint>(o, 32);
        uint V(uint t) => t * (t + 1) / 2 * (t % 3 == 0 ? 1u : t % 3 == 1 ? 2u : 3u);
        for (uint t = 0; t < 32; t++) Assert.That(r[t], Is.EqualTo(V(t) + V(t ^ 1)), $"lane {t}");
        Assert.That(rep.DivergentBranches, Is.GreaterThan(0));
    }

    [Test]
    public void BarSync_SharedMemoryAcrossWarps()
    {
        var r = Run32("""
            mul.lo.u32 %r1, %r0, 3;
            shl.b32 %r2, %r0, 2;
            mov.u32 %r3, sm;
            add.u32 %r4, %r3, %r2;
            st.shared.u32 [%r4], %r1;
            bar.sync 0;
            add.u32 %r5, %r0, 1;
            rem.u32 %r5, %r5, 96;
            shl.b32 %r6, %r5, 2;
            add.u32 %r7, %r3, %r6;
            ld.shared.u32 %r8, [%r7];
            mul.wide.u32 %rd2, %r0, 4;
            add.s64 %rd3, %rd0, %rd2;
            st.global.u32 [%rd3], %r8;
            """, 96, block: 96, extraDecls: ".shared .align 4 .b8 sm[384];");
        for (uint t = 0; t < 96; t++) Assert.That(r[t], Is.EqualTo((t + 1) % 96 * 3), $"thread {t}");
    }

    [Test]
    public void EarlyExit_ExitedThreadsDoNotBlockTheBarrier()
    {
        var r = Run32("""
            setp.ge.u32 %p1, %r0, 40;
            @%p1 bra END;                     // threads 40-63 leave
            shl.b32 %r2, %r0, 2;
            mov.u32 %r3, sm;
            add.u32 %r4, %r3, %r2;
            st.shared.u32 [%r4], %r0;
            bar.sync 0;
            sub.u32 %r5, 39, %r0;
            shl.b32 %r6, %r5, 2;
            add.u32 %r7, %r3, %r6;
            ld.shared.u32 %r8, [%r7];
            mul.wide.u32 %rd2, %r0, 4;
            add.s64 %rd3, %rd0, %rd2;
            st.global.u32 [%rd3], %r8;
            END:
            ret;
            """, 40, block: 64, extraDecls: ".shared .align 4 .b8 sm[256];");
        for (uint t = 0; t < 40; t++) Assert.That(r[t], Is.EqualTo(39 - t));
    }

    [Test]
    public void SpecialRegisters_ThreeDimensionalGridAndBlock()
    {
        var block = new Dim3(4, 2, 3);
        var grid = new Dim3(2, 3, 2);
        var body = """
            mov.u32 %r1, %tid.y;
            mov.u32 %r2, %tid.z;
            mov.u32 %r3, %ntid.x;
            mov.u32 %r4, %ntid.y;
            mov.u32 %r5, %ctaid.x;
            mov.u32 %r6, %ctaid.y;
            mov.u32 %r7, %ctaid.z;
            mov.u32 %r8, %nctaid.x;
            mov.u32 %r9, %nctaid.y;
            // linear thread id and block id
            mad.lo.u32 %r10, %r2, %r4, %r1;
            mad.lo.u32 %r10, %r10, %r3, %r0;
            mad.lo.u32 %r11, %r7, %r9, %r6;
            mad.lo.u32 %r11, %r11, %r8, %r5;
            mov.u32 %r12, %ntid.z;
            mul.lo.u32 %r13, %r3, %r4;
            mul.lo.u32 %r13, %r13, %r12;      // threads per block
            mad.lo.u32 %r14, %r11, %r13, %r10;
            mov.u32 %r15, %laneid;
            mov.u32 %r16, %warpid;
            mov.u32 %r17, %lanemask_lt;
            mov.u32 %r18, %nctaid.z;
            shl.b32 %r19, %r0, 0;
            // word = tid.x | tid.y<<4 | tid.z<<8 | ctaid.x<<12 | ctaid.y<<16 | ctaid.z<<20 | laneid<<24
            shl.b32 %r20, %r1, 4;
            or.b32 %r21, %r0, %r20;
            shl.b32 %r20, %r2, 8;
            or.b32 %r21, %r21, %r20;
            shl.b32 %r20, %r5, 12;
            or.b32 %r21, %r21, %r20;
            shl.b32 %r20, %r6, 16;
            or.b32 %r21, %r21, %r20;
            shl.b32 %r20, %r7, 20;
            or.b32 %r21, %r21, %r20;
            shl.b32 %r20, %r15, 24;
            or.b32 %r21, %r21, %r20;
            mul.wide.u32 %rd2, %r14, 8;
            add.s64 %rd3, %rd0, %rd2;
            st.global.v2.u32 [%rd3], {%r21, %r17};
            """;
        int total = (int)(block.Volume * grid.Volume);
        var r = Run32(body, 2 * total, block: block, grid: grid);
        int i = 0;
        for (int bz = 0; bz < 2; bz++)
            for (int by = 0; by < 3; by++)
                for (int bx = 0; bx < 2; bx++)
                    for (int tz = 0; tz < 3; tz++)
                        for (int ty = 0; ty < 2; ty++)
                            for (int tx = 0; tx < 4; tx++, i++)
                            {
                                int lin = tx + 4 * (ty + 2 * tz), lane = lin % 32;
                                uint expect = (uint)(tx | ty << 4 | tz << 8 | bx << 12 | by << 16 | bz << 20 | lane << 24);
                                Assert.That(r[2 * i], Is.EqualTo(expect), $"thread ({tx},{ty},{tz}) block ({bx},{by},{bz})");
                                Assert.That(r[2 * i + 1], Is.EqualTo((1u << lane) - 1), "lanemask_lt");
                            }
    }

    [Test]
    public void NamedBarrierWithThreadCount_ReleasesTheParticipatingWarps()
    {
        // Warps 0 and 1 synchronize on barrier 1 with 64 threads; warp 2 never joins and just exits.
        var r = Run32("""
            setp.ge.u32 %p1, %r0, 64;
            @%p1 bra END;
            shl.b32 %r2, %r0, 2;
            mov.u32 %r3, sm;
            add.u32 %r4, %r3, %r2;
            st.shared.u32 [%r4], %r0;
            bar.sync 1, 64;
            xor.b32 %r5, %r0, 32;
            shl.b32 %r6, %r5, 2;
            add.u32 %r7, %r3, %r6;
            ld.shared.u32 %r8, [%r7];
            mul.wide.u32 %rd2, %r0, 4;
            add.s64 %rd3, %rd0, %rd2;
            st.global.u32 [%rd3], %r8;
            END:
            ret;
            """, 64, block: 96, extraDecls: ".shared .align 4 .b8 sm[256];");
        for (uint t = 0; t < 64; t++) Assert.That(r[t], Is.EqualTo(t ^ 32));
    }

    [Test]
    public void SpinWaitOnAFlagSetByAnotherWarp_CompletesWithVolatileAccesses()
    {
        // Warp 0 spins on a shared flag until warp 1 publishes a value; warps are time-sliced, and volatile
        // accesses synchronize (they are not reported as races).
        var r = Run32("""
            setp.eq.u32 %p1, %r0, 32;
            @%p1 st.shared.u32 [flag], 0;
            bar.sync 0;
            setp.ge.u32 %p2, %r0, 32;
            @%p2 bra PRODUCER;
            SPIN:
            ld.volatile.shared.u32 %r1, [flag];
            setp.eq.u32 %p3, %r1, 0;
            @%p3 bra SPIN;
            ld.volatile.shared.u32 %r2, [data];
            mul.wide.u32 %rd2, %r0, 4;
            add.s64 %rd3, %rd0, %rd2;
            st.global.u32 [%rd3], %r2;
            bra.uni END;
            PRODUCER:
            // warp 1 works a while before publishing; warp 0, which the scheduler visits first, spins
            mov.u32 %r3, 0;
            WORK:
            add.u32 %r3, %r3, 1;
            setp.lt.u32 %p4, %r3, 20000;
            @%p4 bra WORK;
            @%p1 st.volatile.shared.u32 [data], 4242;
            membar.cta;
            @%p1 st.volatile.shared.u32 [flag], 1;
            END:
            ret;
            """, 32, block: 64, extraDecls: ".shared .align 4 .b8 flag[4];\n.shared .align 4 .b8 data[4];");
        Assert.That(r, Is.All.EqualTo(4242u));
    }
}
