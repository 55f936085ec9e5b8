using Vgg.Engine.Simulator;
using static Vgg.Engine.Tests.Simulator.PtxHarness;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>
/// Warp-collective instructions: shfl.sync (§9.7.9.6) in every mode with CUDA's width/clamp encodings,
/// vote/redux/match, and the fragment layouts of ldmatrix (§9.7.14.5.15) and mma.sync (§9.7.14.5.x)
/// checked against the PTX ISA's row/column formulas, which this file restates on its own.
/// </summary>
[TestFixture]
public class PtxWarpTests
{
    private static uint[] Shuffle(string instr, uint mask = 0xFFFFFFFF, string pre = "")
    {
        // a = lane·10 + 1; each lane stores {result, predicate}.
        return Run32($$"""
            mad.lo.u32 %r1, %r0, 10, 1;
            mov.u32 %r2, 0xDEAD;
            mov.pred %p1, 0;
            {{pre}}
            {{instr}}
            selp.u32 %r3, 1, 0, %p1;
            mul.wide.u32 %rd2, %r0, 8;
            add.s64 %rd3, %rd0, %rd2;
            st.global.v2.u32 [%rd3], {%r2, %r3};
            """, 64, block: 32);
    }

    private static void Check(uint[] r, Func<int, (int Src, bool Valid)> expect, string what)
    {
        for (int l = 0; l < 32; l++)
        {
            var (src, valid) = expect(l);
            Assert.That(r[2 * l], Is.EqualTo((uint)(src * 10 + 1)), $"{what}: lane {l} value");
            Assert.That(r[2 * l + 1], Is.EqualTo(valid ? 1u : 0u), $"{what}: lane {l} predicate");
        }
    }

    [Test]
    public void Shfl_FullWarpModes()
    {
        // CUDA encodings: __shfl_down(v, d) → c = 0x1f; __shfl_up(v, d) → c = 0; __shfl_xor(v, m) → c = 0x1f; __shfl(v, s) → c = 0x1f.
        Check(Shuffle("shfl.sync.down.b32 %r2|%p1, %r1, 3, 0x1f, 0xffffffff;"), l => l + 3 < 32 ? (l + 3, true) : (l, false), "down 3");
        Check(Shuffle("shfl.sync.up.b32 %r2|%p1, %r1, 2, 0, 0xffffffff;"), l => l >= 2 ? (l - 2, true) : (l, false), "up 2");
        Check(Shuffle("shfl.sync.bfly.b32 %r2|%p1, %r1, 5, 0x1f, 0xffffffff;"), l => (l ^ 5, true), "bfly 5");
        Check(Shuffle("shfl.sync.idx.b32 %r2|%p1, %r1, 7, 0x1f, 0xffffffff;"), l => (7, true), "idx 7");
    }

    [Test]
    public void Shfl_WidthEightSegments()
    {
        // width w: c = ((32 − w) << 8) | clamp, clamp = 0x1f for idx/down/bfly and 0 for up.
        Check(Shuffle("shfl.sync.idx.b32 %r2|%p1, %r1, 3, 0x181f, 0xffffffff;"), l => ((l & ~7) + 3, true), "idx 3 width 8");
        Check(Shuffle("shfl.sync.down.b32 %r2|%p1, %r1, 2, 0x181f, 0xffffffff;"), l => (l % 8) + 2 < 8 ? (l + 2, true) : (l, false), "down 2 width 8");
        Check(Shuffle("shfl.sync.up.b32 %r2|%p1, %r1, 2, 0x1800, 0xffffffff;"), l => (l % 8) >= 2 ? (l - 2, true) : (l, false), "up 2 width 8");
        Check(Shuffle("shfl.sync.bfly.b32 %r2|%p1, %r1, 4, 0x181f, 0xffffffff;"), l => (l ^ 4, true), "bfly 4 width 8");
        // A source lane index from a register, per lane.
        Check(Shuffle("shfl.sync.idx.b32 %r2|%p1, %r1, %r5, 0x1f, 0xffffffff;", pre: "sub.u32 %r5, 31, %r0;"), l => (31 - l, true), "idx reversed");
    }

    [Test]
    public void Shfl_PartialMaskInsideDivergentCode()
    {
        var r = Run32("""
            mad.lo.u32 %r1, %r0, 10, 1;
            mov.u32 %r2, 0xDEAD;
            setp.ge.u32 %p2, %r0, 16;
            @%p2 bra SKIP;
            shfl.sync.bfly.b32 %r2, %r1, 1, 0x1f, 0x0000ffff;
            SKIP:
            mul.wide.u32 %rd2, %r0, 4;
            add.s64 %rd3, %rd0, %rd2;
            st.global.u32 [%rd3], %r2;
            """, 32, block: 32);
        for (int l = 0; l < 32; l++) Assert.That(r[l], Is.EqualTo(l < 16 ? (uint)((l ^ 1) * 10 + 1) : 0xDEADu), $"lane {l}");
    }

    [Test]
    public void VoteReduxMatchActivemask()
    {
        var r = Run32("""
            rem.u32 %r1, %r0, 3;
            setp.eq.u32 %p1, %r1, 0;
            vote.sync.ballot.b32 %r2, %p1, 0xffffffff;
            vote.sync.any.pred %p2, %p1, 0xffffffff;
            vote.sync.all.pred %p3, %p1, 0xffffffff;
            vote.sync.all.pred %p4, !%p2, 0xffffffff;      // !true everywhere: false
            vote.sync.uni.pred %p5, %p2, 0xffffffff;
            redux.sync.add.u32 %r3, %r0, 0xffffffff;
            sub.s32 %r9, 10, %r0;
            redux.sync.min.s32 %r4, %r9, 0xffffffff;
            match.any.sync.b32 %r5, %r1, 0xffffffff;
            activemask.b32 %r6;
            selp.u32 %r10, 1, 0, %p2;
            selp.u32 %r11, 1, 0, %p3;
            selp.u32 %r12, 1, 0, %p4;
            selp.u32 %r13, 1, 0, %p5;
            mul.wide.u32 %rd2, %r0, 40;
            add.s64 %rd3, %rd0, %rd2;
            st.global.v2.u32 [%rd3], {%r2, %r3};
            st.global.v2.u32 [%rd3+8], {%r4, %r5};
            st.global.v2.u32 [%rd3+16], {%r6, %r10};
            st.global.v2.u32 [%rd3+24], {%r11, %r12};
            st.global.v2.u32 [%rd3+32], {%r13, %r13};
            """, 320, block: 32);
        uint ballot = 0;
        for (int l = 0; l < 32; l++) if (l % 3 == 0) ballot |= 1u << l;
        for (int l = 0; l < 32; l++)
        {
            uint same = 0;
            for (int o = 0; o < 32; o++) if (o % 3 == l % 3) same |= 1u << o;
            var w = r.AsSpan(10 * l, 10).ToArray();
            Assert.That(w[..9], Is.EqualTo(new uint[] { ballot, 496, unchecked((uint)-21), same, 0xFFFFFFFF, 1, 0, 0, 1 }), $"lane {l}");
        }
    }

    [Test]
    public void Collectives_DestinationMayAliasTheSource()
    {
        var r = Run32("""
            and.b32 %r1, %r0, 3;
            match.any.sync.b32 %r1, %r1, 0xffffffff;     // d = a
            mov.u32 %r2, %r0;
            shfl.sync.bfly.b32 %r2, %r2, 1, 0x1f, 0xffffffff;
            setp.eq.u32 %p1, %r0, 3;
            vote.sync.any.pred %p1, %p1, 0xffffffff;
            selp.u32 %r3, 1, 0, %p1;
            mul.wide.u32 %rd2, %r0, 12;
            add.s64 %rd3, %rd0, %rd2;
            st.global.u32 [%rd3], %r1;
            st.global.u32 [%rd3+4], %r2;
            st.global.u32 [%rd3+8], %r3;
            """, 96, block: 32);
        for (int l = 0; l < 32; l++)
        {
            Assert.That(r[3 * l], Is.EqualTo(0x11111111u << (l & 3)), $"match lane {l}");
            Assert.That(r[3 * l + 1], Is.EqualTo((uint)(l ^ 1)), $"shfl lane {l}");
            Assert.That(r[3 * l + 2], Is.EqualTo(1u), $"vote lane {l}");
        }
    }

    // ------------------------------------------------------------------ ldmatrix

    [Test]
    public void Ldmatrix_X4X2X1AndTrans_MatchThePtxFragmentLayout()
    {
        // Four 8×8 b16 matrices; element (r, c) of matrix j holds j·64 + r·8 + c. Rows live in shared memory
        // with a pitch of 48 bytes and in reverse order, so the result depends on each lane's own row address.
        const int pitch = 48, rows = 32;
        var shared = new ushort[rows * pitch / 2];
        var rowAddr = new uint[32];
        for (int j = 0; j < 4; j++)
            for (int r = 0; r < 8; r++)
            {
                int slot = rows - 1 - (j * 8 + r);              // physical row
                for (int c = 0; c < 8; c++) shared[slot * pitch / 2 + c] = (ushort)(j * 64 + r * 8 + c);
                rowAddr[j * 8 + r] = (uint)(slot * pitch);      // lane 8j + r gives row r of matrix j
            }
        var input = new byte[shared.Length * 2 + 128];
        Buffer.BlockCopy(shared, 0, input, 0, shared.Length * 2);
        Buffer.BlockCopy(rowAddr, 0, input, shared.Length * 2, 128);
        int words = shared.Length / 2;
        var r32 = Run32($$"""
            mov.u32 %r1, sm;
            mov.u32 %r2, %r0;
            COPY:
            mul.wide.u32 %rd2, %r2, 4;
            add.s64 %rd3, %rd1, %rd2;
            ld.global.u32 %r3, [%rd3];
            shl.b32 %r4, %r2, 2;
            add.u32 %r5, %r1, %r4;
            st.shared.u32 [%r5], %r3;
            add.u32 %r2, %r2, 32;
            setp.lt.u32 %p1, %r2, {{words}};
            @%p1 bra COPY;
            bar.warp.sync 0xffffffff;
            mul.wide.u32 %rd2, %r0, 4;
            add.s64 %rd3, %rd1, %rd2;
            ld.global.u32 %r6, [%rd3+{{shared.Length * 2}}];
            add.u32 %r7, %r1, %r6;
            ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%r10, %r11, %r12, %r13}, [%r7];
            ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%r14, %r15, %r16, %r17}, [%r7];
            ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%r18, %r19}, [%r7];
            ldmatrix.sync.aligned.m8n8.x1.trans.shared::cta.b16 {%r20}, [%r7];
            mul.wide.u32 %rd4, %r0, 44;
            add.s64 %rd5, %rd0, %rd4;
            st.global.u32 [%rd5], %r10;
            st.global.u32 [%rd5+4], %r11;
            st.global.u32 [%rd5+8], %r12;
            st.global.u32 [%rd5+12], %r13;
            st.global.u32 [%rd5+16], %r14;
            st.global.u32 [%rd5+20], %r15;
            st.global.u32 [%rd5+24], %r16;
            st.global.u32 [%rd5+28], %r17;
            st.global.u32 [%rd5+32], %r18;
            st.global.u32 [%rd5+36], %r19;
            st.global.u32 [%rd5+40], %r20;
            """, 32 * 11, block: 32, input: input, extraDecls: $".shared .align 16 .b8 sm[{shared.Length * 2}];");
        static uint Elem(int j, int r, int c) => (uint)(j * 64 + r * 8 + c);
        for (int lane = 0; lane < 32; lane++)
        {
            // PTX ISA: each thread holds a fragment of a row: row = laneid / 4, columns 2·(laneid % 4) and +1;
            // with .trans the matrix is read column-major: row 2·(laneid % 4) and +1 of column laneid / 4.
            int row = lane / 4, col = 2 * (lane % 4);
            for (int j = 0; j < 4; j++)
            {
                uint plain = Elem(j, row, col) | Elem(j, row, col + 1) << 16;
                uint trans = Elem(j, col, row) | Elem(j, col + 1, row) << 16;
                Assert.That(r32[lane * 11 + j], Is.EqualTo(plain), $"x4 lane {lane} matrix {j}");
                Assert.That(r32[lane * 11 + 4 + j], Is.EqualTo(trans), $"x4.trans lane {lane} matrix {j}");
                if (j < 2) Assert.That(r32[lane * 11 + 8 + j], Is.EqualTo(plain), $"x2 lane {lane} matrix {j}");
                if (j < 1) Assert.That(r32[lane * 11 + 10], Is.EqualTo(trans), $"x1.trans lane {lane}");
            }
        }
    }

    // ------------------------------------------------------------------ mma.sync fragment layouts
    // Restated from the PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type" and
    // "Matrix Fragments for mma.m16n8k32": groupID = %laneid >> 2, threadID_in_group = %laneid % 4.

    private static (int Row, int Col) DocA_m16n8k16_f16(int lane, int i)
    {
        int groupID = lane >> 2, tig = lane % 4;
        int row = (i >= 0 && i < 2) || (i >= 4 && i < 6) ? groupID : groupID + 8;
        int col = i < 4 ? tig * 2 + (i & 1) : tig * 2 + (i & 1) + 8;
        return (row, col);
    }

    private static (int Row, int Col) DocB_m16n8k16_f16(int lane, int i)
    {
        int groupID = lane >> 2, tig = lane % 4;
        int row = i < 2 ? tig * 2 + (i & 1) : tig * 2 + (i & 1) + 8;
        return (row, groupID);
    }

    private static (int Row, int Col) DocC_m16n8(int lane, int i)
    {
        int groupID = lane >> 2, tig = lane % 4;
        return (i < 2 ? groupID : groupID + 8, tig * 2 + (i & 1));
    }

    private static (int Row, int Col) DocA_m16n8k32_s8(int lane, int i)
    {
        int groupID = lane >> 2, tig = lane % 4;
        int row = (i >= 0 && i < 4) || (i >= 8 && i < 12) ? groupID : groupID + 8;
        int col = i < 8 ? tig * 4 + (i & 3) : tig * 4 + (i & 3) + 16;
        return (row, col);
    }

    private static (int Row, int Col) DocB_m16n8k32_s8(int lane, int i)
    {
        int groupID = lane >> 2, tig = lane % 4;
        int row = i < 4 ? tig * 4 + (i & 3) : tig * 4 + (i & 3) + 16;
        return (row, groupID);
    }

    private static (int Row, int Col) DocA_m16n8k8_f16(int lane, int i)
    {
        int groupID = lane >> 2, tig = lane % 4;
        return (i < 2 ? groupID : groupID + 8, tig * 2 + (i & 1));
    }

    private static (int Row, int Col) DocB_m16n8k8_f16(int lane, int i)
    {
        int groupID = lane >> 2, tig = lane % 4;
        return (tig * 2 + i, groupID);
    }

    /// <summary>Runs one mma instruction on per-lane registers from <paramref name="regs"/> (16 words per lane: A at 0, B at 4, C at 8); returns 4 D words per lane.</summary>
    private static uint[] RunMma(string instr, uint[] regs)
    {
        var input = new byte[regs.Length * 4];
        Buffer.BlockCopy(regs, 0, input, 0, input.Length);
        return Run32($$"""
            mul.wide.u32 %rd2, %r0, 64;
            add.s64 %rd3, %rd1, %rd2;
            ld.global.v4.u32 {%r10, %r11, %r12, %r13}, [%rd3];
            ld.global.v4.u32 {%r14, %r15, %r16, %r17}, [%rd3+16];
            ld.global.v4.u32 {%r20, %r21, %r22, %r23}, [%rd3+32];
            {{instr}}
            mul.wide.u32 %rd4, %r0, 16;
            add.s64 %rd5, %rd0, %rd4;
            st.global.v4.u32 [%rd5], {%r30, %r31, %r32, %r33};
            """, 128, block: 32, input: input);
    }

    private static uint PackHalves(double lo, double hi) => HBits(lo) | (uint)HBits(hi) << 16;

    [Test]
    public void MmaM16n8k16F16_FragmentLayoutsMatchThePtxIsa()
    {
        const string mma = "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%r30, %r31, %r32, %r33}, {%r10, %r11, %r12, %r13}, {%r14, %r15}, {%r20, %r21, %r22, %r23};";
        // 1) A(r, k) = 16r + k, B(k, n) = [k = n] + 256·[k = n + 8], C = 0 ⇒ D(r, n) = A(r, n) + 256·A(r, n + 8).
        double A1(int r, int k) => 16 * r + k;
        double B1(int k, int n) => (k == n ? 1 : 0) + (k == n + 8 ? 256 : 0);
        var regs = BuildF16(DocA_m16n8k16_f16, 8, A1, DocB_m16n8k16_f16, 4, B1, (_, _) => 0);
        var d = RunMma(mma, regs);
        CheckD(d, (r, n) => A1(r, n) + 256 * A1(r, n + 8), "A layout");
        // 2) A = identity, B(k, n) = 8k + n ⇒ D = B.
        double B2(int k, int n) => 8 * k + n;
        regs = BuildF16(DocA_m16n8k16_f16, 8, (r, k) => r == k ? 1 : 0, DocB_m16n8k16_f16, 4, B2, (_, _) => 0);
        CheckD(RunMma(mma, regs), B2, "B layout");
        // 3) A = B = 0, C(r, n) = 8r + n + 0.5 ⇒ D = C (accumulator register order).
        regs = BuildF16(DocA_m16n8k16_f16, 8, (_, _) => 0, DocB_m16n8k16_f16, 4, (_, _) => 0, (r, n) => 8 * r + n + 0.5);
        CheckD(RunMma(mma, regs), (r, n) => 8 * r + n + 0.5, "C/D layout");
    }

    [Test]
    public void MmaM16n8k8F16_FragmentLayoutsMatchThePtxIsa()
    {
        const string mma = "mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%r30, %r31, %r32, %r33}, {%r10, %r11}, {%r14}, {%r20, %r21, %r22, %r23};";
        double A1(int r, int k) => 8 * r + k;
        var regs = BuildF16(DocA_m16n8k8_f16, 4, A1, DocB_m16n8k8_f16, 2, (k, n) => k == n ? 1 : 0, (_, _) => 1);
        CheckD(RunMma(mma, regs), (r, n) => A1(r, n) + 1, "A layout");
        double B2(int k, int n) => 8 * k + n + 1;
        regs = BuildF16(DocA_m16n8k8_f16, 4, (r, k) => r % 8 == k ? 1 : 0, DocB_m16n8k8_f16, 2, B2, (_, _) => 0);
        CheckD(RunMma(mma, regs), (r, n) => B2(r % 8, n), "B layout");
    }

    [Test]
    public void MmaM16n8k16F16Accumulator_PacksHalvesLowFirst()
    {
        const string mma = "mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16 {%r30, %r31}, {%r10, %r11, %r12, %r13}, {%r14, %r15}, {%r20, %r21};";
        double A1(int r, int k) => r + k * 0.25;
        var regs = BuildF16(DocA_m16n8k16_f16, 8, A1, DocB_m16n8k16_f16, 4, (k, n) => k == n ? 1 : 0, (r, n) => 100, cHalf: true);
        var d = RunMma(mma, regs);
        for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < 4; i++)
            {
                var (r, n) = DocC_m16n8(lane, i);
                uint word = d[lane * 4 + i / 2];
                double got = FromH(i % 2 == 0 ? word & 0xFFFF : word >> 16);
                Assert.That(got, Is.EqualTo(A1(r, n) + 100), $"lane {lane} c{i}");
            }
    }

    private static uint[] BuildF16(Func<int, int, (int, int)> la, int na, Func<int, int, double> a,
        Func<int, int, (int, int)> lb, int nb, Func<int, int, double> b, Func<int, int, double> c, bool cHalf = false)
    {
        var regs = new uint[32 * 16];
        for (int lane = 0; lane < 32; lane++)
        {
            for (int i = 0; i < na; i += 2)
            {
                var (r0, c0) = la(lane, i);
                var (r1, c1) = la(lane, i + 1);
                regs[lane * 16 + i / 2] = PackHalves(a(r0, c0), a(r1, c1));
            }
            for (int i = 0; i < nb; i += 2)
            {
                var (r0, c0) = lb(lane, i);
                var (r1, c1) = lb(lane, i + 1);
                regs[lane * 16 + 4 + i / 2] = PackHalves(b(r0, c0), b(r1, c1));
            }
            for (int i = 0; i < 4; i++)
            {
                var (r, n) = DocC_m16n8(lane, i);
                if (cHalf)
                {
                    var (r1, n1) = DocC_m16n8(lane, i + 1);
                    if (i % 2 == 0) regs[lane * 16 + 8 + i / 2] = PackHalves(c(r, n), c(r1, n1));
                }
                else regs[lane * 16 + 8 + i] = Bits((float)c(r, n));
            }
        }
        return regs;
    }

    private static void CheckD(uint[] d, Func<int, int, double> expected, string what)
    {
        for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < 4; i++)
            {
                var (r, n) = DocC_m16n8(lane, i);
                Assert.That(AsF(d[lane * 4 + i]), Is.EqualTo((float)expected(r, n)), $"{what}: lane {lane} d{i} = D({r},{n})");
            }
    }

    [Test]
    public void MmaM16n8k32S8_FragmentLayoutsMatchThePtxIsa()
    {
        const string mma = "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%r30, %r31, %r32, %r33}, {%r10, %r11, %r12, %r13}, {%r14, %r15}, {%r20, %r21, %r22, %r23};";
        static int A(int r, int k) => (r * 32 + k) % 251 - 125;
        static int B(int k, int n) => (k * 8 + n * 7) % 253 - 126;
        uint[] Build(Func<int, int, int> a, Func<int, int, int> b, Func<int, int, int> c)
        {
            var regs = new uint[32 * 16];
            for (int lane = 0; lane < 32; lane++)
            {
                for (int i = 0; i < 16; i++)
                {
                    var (r, k) = DocA_m16n8k32_s8(lane, i);
                    regs[lane * 16 + i / 4] |= (uint)(byte)(sbyte)a(r, k) << (8 * (i % 4));
                }
                for (int i = 0; i < 8; i++)
                {
                    var (k, n) = DocB_m16n8k32_s8(lane, i);
                    regs[lane * 16 + 4 + i / 4] |= (uint)(byte)(sbyte)b(k, n) << (8 * (i % 4));
                }
                for (int i = 0; i < 4; i++)
                {
                    var (r, n) = DocC_m16n8(lane, i);
                    regs[lane * 16 + 8 + i] = (uint)c(r, n);
                }
            }
            return regs;
        }
        void Expect(uint[] d, Func<int, int, int> e, string what)
        {
            for (int lane = 0; lane < 32; lane++)
                for (int i = 0; i < 4; i++)
                {
                    var (r, n) = DocC_m16n8(lane, i);
                    Assert.That((int)d[lane * 4 + i], Is.EqualTo(e(r, n)), $"{what}: lane {lane} d{i} = D({r},{n})");
                }
        }
        // A's columns n + 8j, one selector per run; C adds a per-element offset.
        for (int j = 0; j < 4; j++)
        {
            int jj = j;
            var d = RunMma(mma, Build(A, (k, n) => k == n + 8 * jj ? 1 : 0, (r, n) => 1000 * r + n));
            Expect(d, (r, n) => A(r, n + 8 * jj) + 1000 * r + n, $"A columns {8 * j}..{8 * j + 7}");
        }
        // B's rows r and r + 16 through selector A matrices.
        for (int h = 0; h < 2; h++)
        {
            int hh = h;
            var d = RunMma(mma, Build((r, k) => k == r + 16 * hh ? 1 : 0, B, (_, _) => 0));
            Expect(d, (r, n) => B(r + 16 * hh, n), $"B rows {16 * h}..{16 * h + 15}");
        }
        // A full product against a C# reference, with negative accumulators.
        var full = RunMma(mma, Build(A, B, (r, n) => -r * n));
        Expect(full, (r, n) => Enumerable.Range(0, 32).Sum(k => A(r, k) * B(k, n)) - r * n, "full product");
    }

    [Test]
    public void MmaRequiresEveryLane_ExitedLaneIsReported()
    {
        var ex = Assert.Throws<PtxSynchronizationException>(() => Run32("""
            setp.eq.u32 %p1, %r0, 5;
            @%p1 bra END;
            mov.b32 %r10, 0;
            mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%f1, %f2, %f3, %f4}, {%r10, %r10, %r10, %r10}, {%r10, %r10}, {%f1, %f2, %f3, %f4};
            END:
            ret;
            """, 1, block: 32));
        Assert.That(ex!.Message, Does.Contain("have exited").And.Contain("mma.sync"));
    }
}
