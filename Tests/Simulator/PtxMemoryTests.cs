using Vgg.Engine.Simulator;
using static Vgg.Engine.Tests.Simulator.PtxHarness;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>ld/st in every state space and vector form (§9.7.9.8, §9.7.9.10), cvta, module variables, cp.async groups (§9.7.9.25) and atomics (§9.7.13.5–6).</summary>
[TestFixture]
public class PtxMemoryTests
{
    private static byte[] Bytes(params uint[] words)
    {
        var b = new byte[words.Length * 4];
        Buffer.BlockCopy(words, 0, b, 0, b.Length);
        return b;
    }

    [Test]
    public void VectorLoadsAndStores_AllWidths()
    {
        var input = Bytes(0x11223344, 0x55667788, 0x99AABBCC, 0xDDEEFF00, 0x80FF7F01, 0x8000FFFF, 7, 8);
        var r = Run32("""
            ld.global.v4.u32 {%r1, %r2, %r3, %r4}, [%rd1];
            ld.global.nc.v2.u32 {%r5, %r6}, [%rd1+8];
            ld.global.v4.u8 {%r7, %r8, %r9, %r10}, [%rd1+16];      // zero-extended bytes
            ld.global.s8 %r11, [%rd1+16+3];                        // 0x80 → −128
            ld.global.v2.s16 {%r12, %r13}, [%rd1+20];              // 0xFFFF → −1, 0x8000 → −32768
            ld.global.v2.u64 {%rd2, %rd3}, [%rd1+16];
            ld.global.v4.b16 {%h1, %h2, %h3, %h4}, [%rd1];
            mov.b64 {%r20, %r21}, %rd3;                            // unpack 64 → 2×32
            mov.b32 %r22, {%h1, %h4};
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v2.u32 [%rd0+16], {%r5, %r6};
            st.global.v4.u32 [%rd0+24+8], {%r7, %r8, %r9, %r10};
            st.global.v2.u32 [%rd0+48], {%r11, %r12};
            st.global.u32 [%rd0+56], %r13;
            st.global.u64 [%rd0+64], %rd2;
            st.global.v2.u32 [%rd0+72], {%r20, %r21};
            st.global.u32 [%rd0+80], %r22;
            st.global.v4.u8 [%rd0+84], {1, 2, 3, 4};
            """, 22, input: input);
        Assert.That(r[..6], Is.EqualTo(new uint[] { 0x11223344, 0x55667788, 0x99AABBCC, 0xDDEEFF00, 0x99AABBCC, 0xDDEEFF00 }));
        Assert.That(r[8..12], Is.EqualTo(new uint[] { 0x01, 0x7F, 0xFF, 0x80 }));
        Assert.That(r[12..15], Is.EqualTo(new uint[] { unchecked((uint)-128), 0xFFFFFFFF, unchecked((uint)-32768) }));
        Assert.That(r[16] | (ulong)r[17] << 32, Is.EqualTo(0x8000FFFF80FF7F01UL));
        Assert.That(r[18..20], Is.EqualTo(new uint[] { 7, 8 }));
        Assert.That(r[20], Is.EqualTo(0x55663344u));
        Assert.That(r[21], Is.EqualTo(0x04030201u));
    }

    [Test]
    public void LocalMemory_PerThreadArraysWithDynamicIndex()
    {
        var r = Run32("""
            mov.u64 %rd4, depot;
            cvta.local.u64 %rd5, %rd4;              // generic address of the thread's local array
            mov.u32 %r1, 0;
            FILL:
            mul.lo.u32 %r2, %r1, %r0;
            mul.wide.u32 %rd6, %r1, 4;
            add.s64 %rd7, %rd4, %rd6;
            st.local.u32 [%rd7], %r2;
            add.u32 %r1, %r1, 1;
            setp.lt.u32 %p1, %r1, 8;
            @%p1 bra FILL;
            and.b32 %r3, %r0, 7;
            mul.wide.u32 %rd6, %r3, 4;
            add.s64 %rd8, %rd5, %rd6;
            ld.u32 %r4, [%rd8];                     // generic load lands in local memory
            mul.wide.u32 %rd9, %r0, 4;
            add.s64 %rd10, %rd0, %rd9;
            st.global.u32 [%rd10], %r4;
            """, 64, block: 64, extraDecls: ".local .align 4 .b8 depot[32];");
        for (uint t = 0; t < 64; t++) Assert.That(r[t], Is.EqualTo((t & 7) * t), $"thread {t}");
    }

    [Test]
    public void GenericAddressing_SharedAndGlobalThroughCvta()
    {
        var r = Run32("""
            mov.u64 %rd2, sm;
            cvta.shared.u64 %rd3, %rd2;             // generic pointer to shared
            st.u32 [%rd3+8], 1234;                  // generic store lands in shared
            ld.shared.u32 %r1, [sm+8];
            cvta.to.shared.u64 %rd4, %rd3;          // back to a shared address
            ld.shared.u32 %r2, [%rd4+8];
            cvta.global.u64 %rd5, %rd0;
            st.u32 [%rd5+8], 77;                    // generic store to global
            cvta.to.global.u64 %rd6, %rd5;
            ld.global.u32 %r3, [%rd6+8];
            st.global.v2.u32 [%rd0], {%r1, %r2};
            st.global.u32 [%rd0+12], %r3;
            """, 4, extraDecls: ".shared .align 8 .b8 sm[64];");
        Assert.That(r, Is.EqualTo(new uint[] { 1234, 1234, 77, 77 }));
    }

    [Test]
    public void ModuleVariables_GlobalWithInitializerConstAndDynamicShared()
    {
        const string module = """
            .global .align 4 .u32 counter = 5;
            .const .align 4 .f32 table[4] = {0f3F800000, 0f40000000, 0f40400000, 0f40800000};
            .extern .shared .align 16 .b8 dyn[];
            """;
        var r = Run32("""
            ld.global.u32 %r1, [counter];
            add.u32 %r1, %r1, 1;
            st.global.u32 [counter], %r1;
            ld.global.u32 %r2, [counter];
            ld.const.f32 %f1, [table+8];
            mov.u32 %r3, dyn;
            st.shared.u32 [dyn+4], 99;
            ld.shared.u32 %r4, [%r3+4];
            mov.u32 %r5, %dynamic_smem_size;
            mov.b32 %r6, %f1;
            st.global.v4.u32 [%rd0], {%r2, %r6, %r4, %r5};
            """, 4, dynShared: 256, moduleScope: module);
        Assert.That(r, Is.EqualTo(new uint[] { 6, Bits(3f), 99, 256 }));
    }

    [Test]
    public void ParamStruct_FieldsReadByOffset()
    {
        var k = SimTestUtil.Snippet("""
            .visible .entry s(.param .u64 s_out, .param .align 8 .b8 s_args[16])
            {
            .reg .b32 %r<4>;
            .reg .b64 %rd<3>;
            ld.param.u64 %rd1, [s_out];
            ld.param.u32 %r1, [s_args+4];
            ld.param.v2.u32 {%r2, %r3}, [s_args+8];
            st.global.v2.u32 [%rd1], {%r1, %r2};
            st.global.u32 [%rd1+8], %r3;
            ret;
            }
            """).GetKernel("s");
        var dev = SimTestUtil.Device();
        var o = dev.Allocate(12);
        var args = new byte[16];
        BitConverter.GetBytes(11).CopyTo(args, 4);
        BitConverter.GetBytes(22).CopyTo(args, 8);
        BitConverter.GetBytes(33).CopyTo(args, 12);
        dev.Launch(k, 1, 1, 0, o, KernelArg.FromBytes(args));
        Assert.That(dev.Download<int>(o, 3), Is.EqualTo(new[] { 11, 22, 33 }));
    }

    [Test]
    public void CpAsync_GroupsCompleteInOrderWithZeroFillAndIgnoreSrc()
    {
        var input = Bytes(1, 2, 3, 4, 5, 6, 7, 8);
        var r = Run32("""
            mov.u32 %r1, sm;
            cp.async.ca.shared.global [%r1], [%rd1], 16;            // group 0: words 0-3
            cp.async.commit_group;
            cp.async.ca.shared.global [%r1+16], [%rd1+16], 8, 4;   // group 1: 4 bytes copied, 4 zero-filled
            setp.eq.u32 %p1, 1, 1;
            cp.async.ca.shared.global [%r1+24], [%rd1+24], 8, %p1; // ignore-src true: 8 zero bytes
            cp.async.commit_group;
            cp.async.wait_group 1;                                   // group 0 only
            ld.shared.v4.u32 {%r2, %r3, %r4, %r5}, [%r1];
            cp.async.wait_all;
            ld.shared.v4.u32 {%r6, %r7, %r8, %r9}, [%r1+16];
            st.global.v4.u32 [%rd0], {%r2, %r3, %r4, %r5};
            st.global.v4.u32 [%rd0+16], {%r6, %r7, %r8, %r9};
            """, 8, input: input, extraDecls: ".shared .align 16 .b8 sm[32];");
        Assert.That(r, Is.EqualTo(new uint[] { 1, 2, 3, 4, 5, 0, 0, 0 }));
    }

    [Test]
    public void CpAsync_ReadingBeforeWaitGroupIsReported()
    {
        // The second group's destination is read before any wait retires it: the bytes were never written.
        var ex = Assert.Throws<PtxUninitializedSharedReadException>(() => Run32("""
            mov.u32 %r1, sm;
            cp.async.cg.shared.global [%r1], [%rd1], 16;
            cp.async.commit_group;
            ld.shared.u32 %r2, [%r1];
            st.global.u32 [%rd0], %r2;
            """, 1, extraDecls: ".shared .align 16 .b8 sm[16];"));
        Assert.That(ex!.Where.Instruction, Does.StartWith("ld.shared.u32"));
    }

    [Test]
    public void Atomics_GlobalContentionAcrossBlocksAndWarps()
    {
        // 4 blocks × 64 threads on 2 host workers. Words: 0 add counter, 1 max.s32, 2 min.u32, 3 inc,
        // 4-5 red.add.u64, 6 exch; 16.. the old values returned by add.
        var k = PtxHarness.Compile("""
            mov.u32 %r1, %ctaid.x;
            mad.lo.u32 %r2, %r1, 64, %r0;                     // global thread id
            atom.global.add.u32 %r3, [%rd0], 1;
            mul.wide.u32 %rd2, %r2, 4;
            add.s64 %rd3, %rd0, %rd2;
            st.global.u32 [%rd3+64], %r3;
            atom.global.max.s32 %r4, [%rd0+4], %r2;
            sub.s32 %r5, 1000, %r2;
            atom.global.min.u32 %r6, [%rd0+8], %r5;
            atom.global.inc.u32 %r7, [%rd0+12], 9;            // wraps to 0 after 9
            red.global.add.u64 [%rd0+16], 3;
            atom.global.exch.b32 %r8, [%rd0+24], %r2;
            """);
        var dev = SimTestUtil.Device(parallel: 2);
        var init = new uint[16 + 256];
        init[1] = unchecked((uint)-1);
        init[2] = uint.MaxValue;
        init[6] = 0xFFFF;
        var o = dev.Upload(init);
        dev.Launch(k, 4, 64, 0, o, dev.Allocate(16));
        var w = dev.Download<uint>(o, init.Length);
        Assert.That(w[0], Is.EqualTo(256u), "counter");
        Assert.That(w[16..272].OrderBy(x => x), Is.EqualTo(Enumerable.Range(0, 256).Select(x => (uint)x)), "every old value of add appears once");
        Assert.That((int)w[1], Is.EqualTo(255), "max");
        Assert.That(w[2], Is.EqualTo(1000u - 255), "min");
        Assert.That(w[3], Is.EqualTo(256u % 10), "inc wraps");
        Assert.That(w[4] | (ulong)w[5] << 32, Is.EqualTo(256UL * 3), "red.add.u64");
        Assert.That(w[6], Is.LessThan(256u), "exch leaves one thread's id");
    }

    [Test]
    public void Atomics_SharedFloatCasAndHalf2()
    {
        var r = Run32($$"""
            mov.u32 %r1, sm;
            setp.eq.u32 %p1, %r0, 0;
            @%p1 st.shared.f32 [%r1], {{F(0f)}};
            @%p1 st.shared.u32 [%r1+4], 0;
            @%p1 st.shared.v2.u32 [%r1+8], {0, 0};
            bar.sync 0;
            atom.shared.add.f32 %f1, [%r1], {{F(0.5f)}};
            // cas loop: increment word 1 by tid+1
            CAS:
            ld.shared.u32 %r2, [%r1+4];
            add.u32 %r3, %r2, %r0;
            add.u32 %r3, %r3, 1;
            atom.shared.cas.b32 %r4, [%r1+4], %r2, %r3;
            setp.ne.u32 %p2, %r4, %r2;
            @%p2 bra CAS;
            atom.shared.add.noftz.f16x2 %r5, [%r1+8], 0x3C003800;   // (+0.5 lo, +1.0 hi)
            bar.sync 0;
            @%p1 ld.shared.v4.u32 {%r6, %r7, %r8, %r9}, [%r1];
            @%p1 st.global.v4.u32 [%rd0], {%r6, %r7, %r8, %r9};
            """, 4, block: 64, extraDecls: ".shared .align 16 .b8 sm[16];");
        Assert.That(AsF(r[0]), Is.EqualTo(32f));
        Assert.That(r[1], Is.EqualTo((uint)(64 * 65 / 2)));
        Assert.That(FromH(r[2] & 0xFFFF), Is.EqualTo(32.0));
        Assert.That(FromH(r[2] >> 16), Is.EqualTo(64.0));
    }
}
