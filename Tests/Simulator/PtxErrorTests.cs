using Vgg.Engine.Simulator;
using static Vgg.Engine.Tests.Simulator.PtxHarness;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>Every fault the simulator reports is a typed exception naming the kernel, block, thread, line and instruction.</summary>
[TestFixture]
public class PtxErrorTests
{
    private static (PtxKernel K, SimDevice Dev) Prepare(string body, string extraDecls = "", SimulatorOptions? options = null)
        => (Compile(body, extraDecls), new SimDevice(options ?? new SimulatorOptions { MaxParallelBlocks = 2 }));

    [Test]
    public void OutOfBoundsGlobalStore_NamesBlockThreadLineAndAllocation()
    {
        var (k, dev) = Prepare("""
            mov.u32 %r1, %ctaid.x;
            mad.lo.u32 %r2, %r1, 8, %r0;
            mul.wide.u32 %rd2, %r2, 4;
            add.s64 %rd3, %rd0, %rd2;
            st.global.u32 [%rd3], %r2;
            """);
        var o = dev.Allocate(20 * 4, "out");
        var ex = Assert.Throws<PtxMemoryAccessException>(() => dev.Launch(k, 3, 8, 0, o, dev.Allocate(16)));
        Assert.That(ex!.Where.Block, Is.EqualTo(new Dim3(2, 0, 0)));
        Assert.That(ex.Where.Thread, Is.EqualTo(new Dim3(4, 0, 0)), "global id 20 is the first outside the 20-element buffer");
        Assert.That(ex.Where.Instruction, Is.EqualTo("st.global.u32 [%rd3], %r2;"));
        Assert.That(ex.Where.Line, Is.EqualTo(21), "the harness prelude puts the body at line 17");
        Assert.That(ex.Space, Is.EqualTo("global"));
        Assert.That(ex.Message, Does.Contain("out of bounds").And.Contain("80-byte allocation").And.Contain("(out)"));
    }

    [Test]
    public void UninitializedSharedRead_NamesTheReadingThread()
    {
        var (k, dev) = Prepare("""
            shl.b32 %r1, %r0, 2;
            st.shared.u32 [sm+%r1], %r0;
            """.Replace("[sm+%r1]", "[%r3]").Insert(0, "mov.u32 %r3, sm;\nshl.b32 %r4, %r0, 2;\nadd.u32 %r3, %r3, %r4;\n") + """

            bar.sync 0;
            ld.shared.u32 %r5, [%r3+4];
            """, ".shared .align 4 .b8 sm[256];");
        var ex = Assert.Throws<PtxUninitializedSharedReadException>(() => dev.Launch(k, 1, 32, 0, dev.Allocate(4), dev.Allocate(4)));
        Assert.That(ex!.Where.Thread, Is.EqualTo(new Dim3(31, 0, 0)));
        Assert.That(ex.Offset, Is.EqualTo(128UL));
        Assert.That(ex.Where.Instruction, Does.StartWith("ld.shared.u32"));
    }

    [Test]
    public void UnsupportedInstruction_ClearMessageAtDecode()
    {
        var ex = Assert.Throws<PtxUnsupportedInstructionException>(() => Compile("vabsdiff.s32.s32.s32 %r1, %r2, %r3;"));
        Assert.That(ex!.Message, Does.StartWith("unsupported instruction vabsdiff.s32.s32.s32 at line 17 of kernel t"));
        var ex2 = Assert.Throws<PtxUnsupportedInstructionException>(() => Compile("add.cc.u32 %r1, %r2, %r3;"));
        Assert.That(ex2!.Message, Does.Contain("add.cc.u32").And.Contain("carry"));
        var ex3 = Assert.Throws<PtxUnsupportedInstructionException>(() => Compile("ld.global.nc.L1::bogus.u32 %r1, [%rd1];"));
        Assert.That(ex3!.Message, Does.Contain(".L1::bogus"));
    }

    [Test]
    public void CallToExternFunction_ExplainsTheUnresolvedSymbol()
    {
        var m = SimTestUtil.Snippet("""
            .extern .func (.param .b32 func_retval0) _Z6__dp4aiii (.param .b32 a, .param .b32 b, .param .b32 c);
            .visible .entry k(.param .u64 o)
            {
            .reg .b32 %r<4>;
            { // callseq 0, 0
            .param .b32 param0;
            st.param.b32 [param0+0], %r1;
            .param .b32 retval0;
            call.uni (retval0), _Z6__dp4aiii, (param0, param0, param0);
            ld.param.b32 %r2, [retval0+0];
            }
            ret;
            }
            """);
        var ex = Assert.Throws<PtxUnsupportedInstructionException>(() => m.GetKernel("k"));
        Assert.That(ex!.Message, Does.Contain("call.uni").And.Contain("_Z6__dp4aiii").And.Contain("without a body"));
    }

    [Test]
    public void SharedOutOfBoundsAndMisalignedGlobal()
    {
        var (k, dev) = Prepare("ld.shared.u32 %r1, [sm+64];", ".shared .align 4 .b8 sm[64];");
        var ex = Assert.Throws<PtxMemoryAccessException>(() => dev.Launch(k, 1, 1, 0, dev.Allocate(4), dev.Allocate(4)));
        Assert.That(ex!.Space, Is.EqualTo("shared"));
        Assert.That(ex.Message, Does.Contain("64 bytes of shared memory"));

        var (k2, dev2) = Prepare("ld.global.u32 %r1, [%rd1+2];");
        var ex2 = Assert.Throws<PtxMemoryAccessException>(() => dev2.Launch(k2, 1, 1, 0, dev2.Allocate(4), dev2.Allocate(16)));
        Assert.That(ex2!.Message, Does.Contain("misaligned"));
    }

    [Test]
    public void SharedRaceBetweenWarps_WithoutBarrier()
    {
        var (k, dev) = Prepare("""
            setp.eq.u32 %p1, %r0, 0;
            @%p1 st.shared.u32 [sm], 5;
            setp.eq.u32 %p2, %r0, 32;
            @%p2 ld.shared.u32 %r1, [sm];
            """, ".shared .align 4 .b8 sm[4];");
        var ex = Assert.Throws<PtxSharedRaceException>(() => dev.Launch(k, 1, 64, 0, dev.Allocate(4), dev.Allocate(4)));
        Assert.That(ex!.Where.Thread, Is.EqualTo(new Dim3(32, 0, 0)));
        Assert.That(ex.Message, Does.Contain("read after a write by thread (0,0,0)"));

        // The same accesses with a barrier between them are fine.
        var (k2, dev2) = Prepare("""
            setp.eq.u32 %p1, %r0, 0;
            @%p1 st.shared.u32 [sm], 5;
            bar.sync 0;
            setp.eq.u32 %p2, %r0, 32;
            @%p2 ld.shared.u32 %r1, [sm];
            """, ".shared .align 4 .b8 sm[4];");
        Assert.DoesNotThrow(() => dev2.Launch(k2, 1, 64, 0, dev2.Allocate(4), dev2.Allocate(4)));
    }

    [Test]
    public void Deadlock_ShuffleWhileTheOtherHalfWaitsAtABarrier()
    {
        var (k, dev) = Prepare("""
            setp.lt.u32 %p1, %r0, 16;
            @%p1 bra SHFL;
            bar.sync 0;
            bra.uni END;
            SHFL:
            shfl.sync.idx.b32 %r1, %r0, 0, 31, -1;
            END:
            ret;
            """);
        var ex = Assert.Throws<PtxSynchronizationException>(() => dev.Launch(k, 1, 32, 0, dev.Allocate(4), dev.Allocate(4)));
        Assert.That(ex!.Message, Does.Contain("deadlock").And.Contain("lanes {0-15} wait at `shfl.sync.idx.b32").And.Contain("lanes {16-31} at barrier 0"));
    }

    [Test]
    public void DivergentBraUni_TrapAndInfiniteLoop()
    {
        var (k, dev) = Prepare("""
            setp.lt.u32 %p1, %r0, 3;
            @%p1 bra.uni L;
            L:
            ret;
            """);
        Assert.That(() => dev.Launch(k, 1, 32, 0, dev.Allocate(4), dev.Allocate(4)), Throws.TypeOf<PtxSynchronizationException>().With.Message.Contain("bra.uni diverged"));

        var (k2, dev2) = Prepare("trap;");
        Assert.That(() => dev2.Launch(k2, 1, 1, 0, dev2.Allocate(4), dev2.Allocate(4)), Throws.TypeOf<PtxTrapException>().With.Message.Contain("trap"));

        var (k3, dev3) = Prepare("L:\nbra.uni L;", options: new SimulatorOptions { MaxWarpInstructionsPerBlock = 10_000 });
        Assert.That(() => dev3.Launch(k3, 1, 1, 0, dev3.Allocate(4), dev3.Allocate(4)), Throws.TypeOf<PtxTrapException>().With.Message.Contain("infinite loop"));
    }

    [Test]
    public void LaunchConfiguration_Errors()
    {
        var k = Compile("ret;");
        var dev = SimTestUtil.Device();
        var p = dev.Allocate(4);
        Assert.That(() => dev.Launch(k, 1, 1, 0, p), Throws.TypeOf<PtxLaunchException>().With.Message.Contain("1 arguments given, the kernel takes 2"));
        Assert.That(() => dev.Launch(k, 1, 1, 0, p, 5), Throws.TypeOf<PtxLaunchException>().With.Message.Contain("argument 1 (t_in) is 4 bytes, the parameter is 8 bytes"));
        Assert.That(() => dev.Launch(k, 1, 2048, 0, p, p), Throws.TypeOf<PtxLaunchException>().With.Message.Contain("at most 1024 threads"));
        Assert.That(() => dev.Launch(k, 1, 32, 1 << 20, p, p), Throws.TypeOf<PtxLaunchException>().With.Message.Contain("shared memory"));
        var limited = SimTestUtil.Snippet(".visible .entry m() .maxntid 64, 1, 1\n{\nret;\n}").GetKernel("m");
        Assert.That(() => dev.Launch(limited, 1, 128, 0), Throws.TypeOf<PtxLaunchException>().With.Message.Contain(".maxntid 64,1,1"));
    }

    [Test]
    public void MalformedPtx_ParseErrorsNameTheLine()
    {
        var ex = Assert.Throws<PtxParseException>(() => SimTestUtil.Snippet(".visible .entry m()\n{\nadd.u32 %r1, %r2 %r3;\n}"));
        Assert.That(ex!.Line, Is.EqualTo(6));
        Assert.That(ex.Message, Does.StartWith("snippet.ptx:6: expected ';'"));
        var ex2 = Assert.Throws<PtxParseException>(() => SimTestUtil.Snippet(".visible .entry m()\n{\n.reg .b32 %r<2>;\nadd.u32 %r1, %r9, 1;\n}").GetKernel("m"));
        Assert.That(ex2!.Message, Does.Contain("unknown name '%r9'"));
        Assert.That(() => SimTestUtil.Snippet(".visible .entry m()\n{\nbra.uni NOWHERE;\n}").GetKernel("m"), Throws.TypeOf<PtxParseException>().With.Message.Contain("unknown label 'NOWHERE'"));
        Assert.That(() => SimTestUtil.Snippet(".visible .entry m()\n{\nret;\n}").GetKernel("other"), Throws.TypeOf<KeyNotFoundException>().With.Message.Contain("m"));
    }
}
