using static Vgg.Engine.Tests.Simulator.PtxHarness;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>Integer arithmetic, logic and shift instructions (PTX ISA §9.7.1, §9.7.7, prmt §9.7.9.7) on hand-written PTX with known results.</summary>
[TestFixture]
public class PtxIntegerTests
{
    [Test]
    public void AddSubMul_WrapAndSaturate()
    {
        var r = Run32("""
            mov.u32 %r1, 0x7FFFFFFF;
            add.s32 %r2, %r1, 1;             // wraps to INT_MIN
            add.sat.s32 %r3, %r1, 1;         // clamps
            sub.sat.s32 %r4, -2147483647, 5; // clamps at INT_MIN
            mul.lo.s32 %r5, -7, 6;
            mul.hi.s32 %r6, -2147483648, 2;  // high word of −2^32: −1
            mul.hi.u32 %r7, 0xFFFFFFFF, 0xFFFFFFFF; // 0xFFFFFFFE
            sub.u32 %r8, 3, 5;
            st.global.u32 [%rd0], %r2;
            st.global.u32 [%rd0+4], %r3;
            st.global.u32 [%rd0+8], %r4;
            st.global.u32 [%rd0+12], %r5;
            st.global.u32 [%rd0+16], %r6;
            st.global.u32 [%rd0+20], %r7;
            st.global.u32 [%rd0+24], %r8;
            """, 7);
        Assert.That(r, Is.EqualTo(new uint[] { 0x80000000, 0x7FFFFFFF, 0x80000000, unchecked((uint)-42), 0xFFFFFFFF, 0xFFFFFFFE, unchecked((uint)-2) }));
    }

    [Test]
    public void WideAndMad_Forms()
    {
        var r = Run64("""
            mul.wide.s32 %rd2, -3, 1000000000;
            mul.wide.u32 %rd3, 0xFFFFFFFF, 0xFFFFFFFF;
            mad.wide.s32 %rd4, -2, 3, 100;
            mad.lo.s32 %r1, 7, 8, -60;
            cvt.s64.s32 %rd5, %r1;
            mad.hi.u32 %r2, 0x80000000, 4, 5;   // hi(2^33) + 5 = 7
            cvt.u64.u32 %rd6, %r2;
            mul.hi.u64 %rd7, 0xFFFFFFFFFFFFFFFF, 3;   // 2
            mul.hi.s64 %rd8, -1, 3;                   // −1
            mul24.lo.s32 %r3, 0x00FFFFFF, 2;         // 24-bit signed: −1·2 = −2
            cvt.s64.s32 %rd9, %r3;
            st.global.u64 [%rd0], %rd2;
            st.global.u64 [%rd0+8], %rd3;
            st.global.u64 [%rd0+16], %rd4;
            st.global.u64 [%rd0+24], %rd5;
            st.global.u64 [%rd0+32], %rd6;
            st.global.u64 [%rd0+40], %rd7;
            st.global.u64 [%rd0+48], %rd8;
            st.global.u64 [%rd0+56], %rd9;
            """, 8);
        Assert.That(r, Is.EqualTo(new ulong[] { unchecked((ulong)-3_000_000_000L), 0xFFFFFFFE00000001UL, 94, unchecked((ulong)-4L), 7, 2, ulong.MaxValue, unchecked((ulong)-2L) }));
    }

    [Test]
    public void DivRemMinMaxAbsNeg_SignedAndUnsigned()
    {
        var r = Run32("""
            div.s32 %r1, -7, 2;      // −3 (truncation)
            rem.s32 %r2, -7, 2;      // −1
            div.u32 %r3, 0xFFFFFFF9, 2;
            rem.u32 %r4, 7, 3;
            min.s32 %r5, -1, 1;
            min.u32 %r6, 0xFFFFFFFF, 1;
            max.s32 %r7, -5, -9;
            abs.s32 %r8, -12;
            neg.s32 %r9, 12;
            div.u32 %r10, 5, 0;      // all ones
            max.relu.s32 %r11, -5, -9; // 0
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd0+16], {%r5, %r6, %r7, %r8};
            st.global.v2.u32 [%rd0+32], {%r9, %r10};
            st.global.u32 [%rd0+40], %r11;
            """, 11);
        Assert.That(r, Is.EqualTo(new uint[] { unchecked((uint)-3), unchecked((uint)-1), 0x7FFFFFFC, 1, unchecked((uint)-1), 1, unchecked((uint)-5), 12, unchecked((uint)-12), 0xFFFFFFFF, 0 }));
    }

    [Test]
    public void BitCounting_PopcClzBfindBrev()
    {
        var r = Run32("""
            popc.b32 %r1, 0xF0F0F0F1;
            clz.b32 %r2, 0x00010000;
            bfind.u32 %r3, 0x00010000;
            bfind.s32 %r4, -1;              // no non-sign bit: 0xFFFFFFFF
            bfind.shiftamt.u32 %r5, 0x00010000;
            brev.b32 %r6, 0x00000001;
            popc.b64 %r7, 0xFFFFFFFFFFFFFFFF;
            clz.b64 %r8, 1;
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd0+16], {%r5, %r6, %r7, %r8};
            """, 8);
        Assert.That(r, Is.EqualTo(new uint[] { 17, 15, 16, 0xFFFFFFFF, 15, 0x80000000, 64, 63 }));
    }

    [Test]
    public void BitField_BfeBfi()
    {
        var r = Run32("""
            bfe.u32 %r1, 0xABCD1234, 8, 8;   // 0x12
            bfe.s32 %r2, 0x0000F000, 12, 4;  // 0xF sign-extended: −1
            bfe.s32 %r3, 0x80000000, 28, 8;  // runs past bit 31: sign of bit 31 → −8
            bfe.u32 %r4, 0x12345678, 4, 0;   // len 0 → 0
            bfi.b32 %r5, 0xF, 0x12345678, 8, 4; // 0x12345F78
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.u32 [%rd0+16], %r5;
            """, 5);
        Assert.That(r, Is.EqualTo(new uint[] { 0x12, 0xFFFFFFFF, 0xFFFFFFF8, 0, 0x12345F78 }));
    }

    [Test]
    public void Shifts_LargeAmountsAndFunnel()
    {
        var r = Run32("""
            shl.b32 %r1, 1, 31;
            shl.b32 %r2, 1, 32;              // ≥ width: 0
            shr.u32 %r3, 0x80000000, 40;     // 0
            shr.s32 %r4, 0x80000000, 40;     // sign fill: −1
            shr.s32 %r5, -16, 2;             // −4
            shf.l.wrap.b32 %r6, 0x89ABCDEF, 0x01234567, 8;  // hi word of (b:a) << 8 = 0x23456789
            shf.r.wrap.b32 %r7, 0x89ABCDEF, 0x01234567, 36; // n & 31 = 4: low word of (b:a) >> 4 = 0x789ABCDE
            shf.r.clamp.b32 %r8, 0x89ABCDEF, 0x01234567, 40; // clamp to 32: b
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd0+16], {%r5, %r6, %r7, %r8};
            """, 8);
        Assert.That(r, Is.EqualTo(new uint[] { 0x80000000, 0, 0, 0xFFFFFFFF, unchecked((uint)-4), 0x23456789, 0x789ABCDE, 0x01234567 }));
    }

    [Test]
    public void Logic_AndOrXorNotCnotLop3()
    {
        var r = Run32("""
            and.b32 %r1, 0xFF00FF00, 0x0FF00FF0;
            or.b32 %r2, 0xF0000000, 0x0000000F;
            xor.b32 %r3, 0xFFFF0000, 0x0F0F0F0F;
            not.b32 %r4, 0x0000FFFF;
            cnot.b32 %r5, 0;
            cnot.b32 %r6, 7;
            lop3.b32 %r7, 0xF0F0F0F0, 0xCCCCCCCC, 0xAAAAAAAA, 0x96; // a ^ b ^ c (LUT 0x96)
            lop3.b32 %r8, 0xF0F0F0F0, 0xCCCCCCCC, 0xAAAAAAAA, 0xE8; // majority (LUT 0xE8)
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd0+16], {%r5, %r6, %r7, %r8};
            """, 8);
        uint a = 0xF0F0F0F0, b = 0xCCCCCCCC, c = 0xAAAAAAAA;
        Assert.That(r, Is.EqualTo(new uint[] { 0x0F000F00, 0xF000000F, 0xF0F00F0F, 0xFFFF0000, 1, 0, a ^ b ^ c, (a & b) | (a & c) | (b & c) }));
    }

    [Test]
    public void Prmt_GenericAndModes()
    {
        // a = 0x33221100 (bytes 0-3), b = 0x77665544 (bytes 4-7).
        var r = Run32("""
            prmt.b32 %r1, 0x33221100, 0x77665544, 0x3210;   // identity
            prmt.b32 %r2, 0x33221100, 0x77665544, 0x7654;   // b
            prmt.b32 %r3, 0x33221100, 0x77665544, 0x0415;   // bytes 5,1,4,0 (low first)
            prmt.b32 %r4, 0x33221180, 0x77665544, 0x0008;   // msb 8: replicate sign of byte 0 (0x80) → 0xFF; others byte 0
            prmt.b32.f4e %r5, 0x33221100, 0x77665544, 1;    // bytes 1,2,3,4
            prmt.b32.b4e %r6, 0x33221100, 0x77665544, 1;    // bytes 1,0,7,6
            prmt.b32.ecl %r7, 0x33221100, 0x77665544, 2;    // 3 2 2 2
            prmt.b32.rc16 %r8, 0x33221100, 0x77665544, 1;   // 3 2 3 2
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd0+16], {%r5, %r6, %r7, %r8};
            """, 8);
        Assert.That(r, Is.EqualTo(new uint[] { 0x33221100, 0x77665544, 0x00441155, 0x808080FF, 0x44332211, 0x66770011, 0x33222222, 0x33223322 }));
    }

    [Test]
    public void Dp4aDp2a_SignednessPerOperand()
    {
        // a bytes: 1, −2, 3, −4 (0xFC03FE01); b bytes: 5, 6, 7, 8.
        var r = Run32("""
            dp4a.s32.s32 %r1, 0xFC03FE01, 0x08070605, 10;   // 10 + 5 − 12 + 21 − 32 = −8
            dp4a.u32.u32 %r2, 0xFC03FE01, 0x08070605, 0;    // 5 + 254·6 + 21 + 252·8 = 3566
            dp4a.s32.u32 %r3, 0x08070605, 0xFC03FE01, 0;    // a signed (all positive), b unsigned = 3566
            dp4a.u32.s32 %r4, 0x08070605, 0xFC03FE01, 0;    // b signed: −8 − 10 = −18
            dp2a.lo.s32.s32 %r5, 0xFFFE0003, 0x04030201, 0;  // halves 3, −2 · bytes 1, 2 = −1
            dp2a.hi.s32.s32 %r6, 0xFFFE0003, 0x04030201, 0;  // · bytes 3, 4 = 1
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v2.u32 [%rd0+16], {%r5, %r6};
            """, 6);
        Assert.That(r, Is.EqualTo(new uint[] { unchecked((uint)-8), 3566, 3566, unchecked((uint)-18), unchecked((uint)-1), 1 }));
    }

    [Test]
    public void SixteenBitRegisters_WrapAndExtend()
    {
        var r = Run32("""
            mov.u16 %h1, 0xFFFF;
            add.u16 %h2, %h1, 2;            // wraps to 1
            cvt.u32.u16 %r1, %h2;
            mov.u16 %h3, 0x8000;
            cvt.s32.s16 %r2, %h3;           // −32768
            cvt.s8.s32 %h4, 200;            // low byte 0xC8, sign-extended into the 16-bit register
            cvt.u32.u16 %r3, %h4;
            cvt.sat.s8.s32 %h5, 200;        // clamps to 127
            cvt.u32.u16 %r4, %h5;
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            """, 4);
        Assert.That(r, Is.EqualTo(new uint[] { 1, unchecked((uint)-32768), 0xFFC8, 127 }));
    }
}
