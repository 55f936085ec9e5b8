using static Vgg.Engine.Tests.Simulator.PtxHarness;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>
/// Floating-point, half-precision and conversion instructions (PTX ISA §9.7.3, §9.7.4, cvt §9.7.9.21):
/// rounding modes, fma's single rounding, .ftz, .sat, NaN rules, f16/f16x2/bf16 arithmetic. Expected
/// values are worked out by hand in the comments, or taken from .NET's IEEE conversions (Half) where
/// noted; none comes from the simulator's own rounding code.
/// </summary>
[TestFixture]
public class PtxFloatTests
{
    private static readonly float P2M30 = MathF.ScaleB(1f, -30);

    [Test]
    public void CvtFloatToInt_RoundingModesAndSaturation()
    {
        var r = Run32($$"""
            cvt.rni.s32.f32 %r1, {{F(2.5f)}};
            cvt.rni.s32.f32 %r2, {{F(-2.5f)}};
            cvt.rni.s32.f32 %r3, {{F(1.5f)}};
            cvt.rzi.s32.f32 %r4, {{F(-2.7f)}};
            cvt.rmi.s32.f32 %r5, {{F(-2.1f)}};
            cvt.rpi.s32.f32 %r6, {{F(2.1f)}};
            cvt.rzi.s32.f32 %r7, {{F(3e9f)}};
            cvt.rzi.s32.f32 %r8, {{F(-3e9f)}};
            cvt.rzi.s32.f32 %r9, 0f7FC00000;     // NaN → 0
            cvt.rzi.u32.f32 %r10, {{F(-1f)}};    // clamps to 0
            cvt.rzi.u32.f32 %r11, {{F(5e9f)}};   // clamps to 0xFFFFFFFF
            cvt.rni.s32.f64 %r12, {{Dd(-3.5)}};  // −4
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd0+16], {%r5, %r6, %r7, %r8};
            st.global.v4.u32 [%rd0+32], {%r9, %r10, %r11, %r12};
            """, 12);
        Assert.That(r.Select(x => (int)x), Is.EqualTo(new[] { 2, -2, 2, -2, -3, 3, int.MaxValue, int.MinValue, 0, 0, -1, -4 }));
    }

    [Test]
    public void CvtToHalf_AllRoundingModes()
    {
        float tieEven = 1f + MathF.ScaleB(1f, -11);                          // halfway between 1 and 1+2^-10
        float tieOdd = 1f + 3 * MathF.ScaleB(1f, -11);                       // halfway between 1+2^-10 and 1+2^-9
        float above = 1f + MathF.ScaleB(1f, -11) + MathF.ScaleB(1f, -20);    // just above the first tie
        var r = Run32($$"""
            cvt.rn.f16.f32 %h1, {{F(tieEven)}};
            cvt.rn.f16.f32 %h2, {{F(tieOdd)}};
            cvt.rz.f16.f32 %h3, {{F(above)}};
            cvt.rp.f16.f32 %h4, {{F(above)}};
            cvt.rm.f16.f32 %h5, {{F(-above)}};
            cvt.rz.f16.f32 %h6, {{F(-above)}};
            cvt.rn.f16.f32 %h7, {{F(70000f)}};
            cvt.rz.f16.f32 %h8, {{F(70000f)}};
            cvt.rm.f16.f32 %h9, {{F(70000f)}};
            cvt.rn.f16.f32 %h10, {{F(65520f)}};             // tie between 65504 and 2^16: to even = ∞
            cvt.rn.f16.f32 %h11, {{F(MathF.ScaleB(1f, -25))}};        // tie between 0 and 2^-24: 0
            cvt.rn.f16.f32 %h12, {{F(1.5f * MathF.ScaleB(1f, -25))}}; // 0.75 ulp of the smallest subnormal: 1 ulp
            cvt.rz.f16.f32 %h13, {{F(1.5f * MathF.ScaleB(1f, -25))}}; // toward zero: 0
            cvt.rn.f16.f64 %h14, {{Dd(1.0 / 3.0)}};
            mov.b32 %r1, {%h1, %h2};
            mov.b32 %r2, {%h3, %h4};
            mov.b32 %r3, {%h5, %h6};
            mov.b32 %r4, {%h7, %h8};
            mov.b32 %r5, {%h9, %h10};
            mov.b32 %r6, {%h11, %h12};
            mov.b32 %r7, {%h13, %h14};
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v2.u32 [%rd0+16], {%r5, %r6};
            st.global.u32 [%rd0+24], %r7;
            """, 7);
        ushort[] h = r.SelectMany(w => new[] { (ushort)w, (ushort)(w >> 16) }).ToArray();
        Assert.That(h[..14], Is.EqualTo(new ushort[]
        {
            0x3C00, 0x3C02,          // rn ties to even
            0x3C00, 0x3C01,          // rz, rp
            0xBC01, 0xBC00,          // rm (away from zero for negatives), rz
            0x7C00, 0x7BFF, 0x7BFF,  // overflow: rn → ∞, rz and rm → max finite
            0x7C00,
            0x0000, 0x0001, 0x0000,  // subnormals
            HBits(1.0 / 3.0),        // .NET's IEEE double → half
        }));
    }

    [Test]
    public void CvtBetweenF32AndF64AndIntegers_RoundingModes()
    {
        double tie = 1 + Math.ScaleB(1, -24);
        double above = tie + Math.ScaleB(1, -50);
        var r = Run32($$"""
            cvt.rn.f32.f64 %f1, {{Dd(tie)}};
            cvt.rn.f32.f64 %f2, {{Dd(above)}};
            cvt.rz.f32.f64 %f3, {{Dd(above)}};
            cvt.rp.f32.f64 %f4, {{Dd(1 + Math.ScaleB(1, -40))}};
            cvt.rm.f32.f64 %f5, {{Dd(-(1 + Math.ScaleB(1, -40)))}};
            cvt.rn.f32.s32 %f6, 16777217;
            cvt.rz.f32.s32 %f7, 16777219;
            cvt.rp.f32.s32 %f8, 16777217;
            cvt.rm.f32.s32 %f9, -16777217;
            cvt.rn.f32.u64 %f10, 0xFFFFFFFFFFFFFFFF;
            cvt.rz.f32.u64 %f11, 0xFFFFFFFFFFFFFFFF;
            cvt.sat.f32.f32 %f12, {{F(1.5f)}};
            cvt.sat.f32.f32 %f13, 0f7FC00000;
            cvt.rni.f32.f32 %f14, {{F(2.5f)}};
            cvt.rmi.f32.f32 %f15, {{F(-0.5f)}};
            cvt.f32.f16 %f16, 0x3555;
            st.global.v4.f32 [%rd0], {%f1, %f2, %f3, %f4};
            st.global.v4.f32 [%rd0+16], {%f5, %f6, %f7, %f8};
            st.global.v4.f32 [%rd0+32], {%f9, %f10, %f11, %f12};
            st.global.v4.f32 [%rd0+48], {%f13, %f14, %f15, %f16};
            """, 16);
        var f = r.Select(AsF).ToArray();
        float one = 1f, next = BitConverter.UInt32BitsToSingle(0x3F800001);
        Assert.That(f, Is.EqualTo(new[]
        {
            one, next, one, next,
            -next, 16777216f, 16777218f, 16777218f,
            -16777218f, 18446744073709551616f, BitConverter.UInt32BitsToSingle(0x5F7FFFFF), 1f,
            0f, 2f, -1f, (float)BitConverter.UInt16BitsToHalf(0x3555),
        }));
    }

    [Test]
    public void Cvt64BitIntegerToDouble_Directed()
    {
        long big = (1L << 53) + 1;
        var r = Run64($$"""
            cvt.rn.f64.s64 %fd1, {{big}};
            cvt.rp.f64.s64 %fd2, {{big}};
            cvt.rm.f64.s64 %fd3, {{-big}};
            cvt.rzi.s64.f64 %rd4, {{Dd(-1e30)}};
            st.global.f64 [%rd0], %fd1;
            st.global.f64 [%rd0+8], %fd2;
            st.global.f64 [%rd0+16], %fd3;
            st.global.u64 [%rd0+24], %rd4;
            """, 4);
        Assert.That(BitConverter.UInt64BitsToDouble(r[0]), Is.EqualTo(9007199254740992.0));
        Assert.That(BitConverter.UInt64BitsToDouble(r[1]), Is.EqualTo(9007199254740994.0));
        Assert.That(BitConverter.UInt64BitsToDouble(r[2]), Is.EqualTo(-9007199254740994.0));
        Assert.That((long)r[3], Is.EqualTo(long.MinValue));
    }

    [Test]
    public void CvtPackedHalfAndBf16()
    {
        var r = Run32($$"""
            cvt.rn.f16x2.f32 %r1, {{F(1f)}}, {{F(2f)}};            // hi = cvt(a), lo = cvt(b)
            cvt.rn.relu.f16x2.f32 %r2, {{F(-1f)}}, {{F(0.5f)}};
            cvt.rn.bf16x2.f32 %r3, {{F(1f + MathF.ScaleB(1f, -8))}}, {{F(1f + 3 * MathF.ScaleB(1f, -8))}};
            cvt.rn.bf16.f32 %h1, {{F(-2.5f)}};
            cvt.f32.bf16 %f1, 0x3FC0;                                 // 1.5
            mov.b32 %r4, {%h1, %h1};
            mov.b32 %r5, %f1;
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.u32 [%rd0+16], %r5;
            """, 5);
        Assert.That(r[0], Is.EqualTo(0x3C004000u));
        Assert.That(r[1], Is.EqualTo(0x00003800u));
        Assert.That(r[2], Is.EqualTo(0x3F803F82u), "bf16 ties to even: 1+2^-8 → 1, 1+3·2^-8 → 1+2^-6");
        Assert.That(r[3], Is.EqualTo(0xC020C020u));
        Assert.That(AsF(r[4]), Is.EqualTo(1.5f));
    }

    [Test]
    public void Fma_RoundsOnceAndDirectedModes()
    {
        float a = 1f + MathF.ScaleB(1f, -12);
        float c = -(1f + MathF.ScaleB(1f, -11));
        var r = Run32($$"""
            fma.rn.f32 %f1, {{F(a)}}, {{F(a)}}, {{F(c)}};     // exact a·a + c = 2^-24
            mul.rn.f32 %f2, {{F(a)}}, {{F(a)}};
            add.rn.f32 %f2, %f2, {{F(c)}};                    // rounded product first: 0
            fma.rm.f32 %f3, {{F(1f)}}, {{F(1f)}}, {{F(P2M30)}};
            fma.rp.f32 %f4, {{F(1f)}}, {{F(1f)}}, {{F(P2M30)}};
            fma.rz.f32 %f5, {{F(-1f)}}, {{F(1f)}}, {{F(-P2M30)}};
            fma.rm.f32 %f6, {{F(-1f)}}, {{F(1f)}}, {{F(-P2M30)}};
            add.rz.f32 %f7, {{F(1f)}}, {{F(P2M30)}};
            add.rp.f32 %f8, {{F(1f)}}, {{F(P2M30)}};
            add.rm.f32 %f9, {{F(1f)}}, {{F(-P2M30)}};
            mul.rp.f32 %f10, 0f3F800001, 0f3F800001;          // (1+2^-23)^2 = 1+2^-22+2^-46 → up
            mul.rn.f32 %f11, 0f3F800001, 0f3F800001;
            mad.rn.f32 %f12, {{F(2f)}}, {{F(3f)}}, {{F(4f)}};
            st.global.v4.f32 [%rd0], {%f1, %f2, %f3, %f4};
            st.global.v4.f32 [%rd0+16], {%f5, %f6, %f7, %f8};
            st.global.v4.f32 [%rd0+32], {%f9, %f10, %f11, %f12};
            """, 12);
        Assert.That(r, Is.EqualTo(new uint[]
        {
            Bits(MathF.ScaleB(1f, -24)), 0, 0x3F800000, 0x3F800001,
            0xBF800000, 0xBF800001, 0x3F800000, 0x3F800001,
            0x3F7FFFFF, 0x3F800003, 0x3F800002, Bits(10f),
        }));
    }

    [Test]
    public void DivSqrt_ExactRoundingModes()
    {
        var r = Run32($$"""
            div.rn.f32 %f1, {{F(1f)}}, {{F(3f)}};
            div.rz.f32 %f2, {{F(1f)}}, {{F(3f)}};
            div.rp.f32 %f3, {{F(1f)}}, {{F(3f)}};
            div.rm.f32 %f4, {{F(-1f)}}, {{F(3f)}};
            sqrt.rn.f32 %f5, {{F(2f)}};
            sqrt.rz.f32 %f6, {{F(2f)}};
            sqrt.rp.f32 %f7, {{F(2f)}};
            div.full.f32 %f8, {{F(1f)}}, {{F(4f)}};
            rcp.rn.f32 %f9, {{F(3f)}};
            rcp.approx.f32 %f10, {{F(4f)}};
            rsqrt.approx.f32 %f11, {{F(4f)}};
            div.approx.f32 %f12, {{F(6f)}}, {{F(3f)}};
            st.global.v4.f32 [%rd0], {%f1, %f2, %f3, %f4};
            st.global.v4.f32 [%rd0+16], {%f5, %f6, %f7, %f8};
            st.global.v4.f32 [%rd0+32], {%f9, %f10, %f11, %f12};
            """, 12);
        Assert.That(r, Is.EqualTo(new uint[]
        {
            0x3EAAAAAB, 0x3EAAAAAA, 0x3EAAAAAB, 0xBEAAAAAB,
            0x3FB504F3, 0x3FB504F3, 0x3FB504F4, Bits(0.25f),
            0x3EAAAAAB, Bits(0.25f), Bits(0.5f), Bits(2f),
        }));
    }

    [Test]
    public void FtzSatMinMaxNaNAndSignOps()
    {
        float sub = MathF.ScaleB(1f, -130);
        var r = Run32($$"""
            add.f32 %f1, {{F(sub)}}, {{F(0f)}};                  // subnormal kept
            add.ftz.f32 %f2, {{F(sub)}}, {{F(0f)}};              // flushed
            mul.ftz.f32 %f3, {{F(MathF.ScaleB(1f, -100))}}, {{F(MathF.ScaleB(1f, -30))}}; // subnormal result flushed
            add.sat.f32 %f4, {{F(0.75f)}}, {{F(0.5f)}};
            mul.sat.f32 %f5, {{F(-2f)}}, {{F(3f)}};
            add.sat.f32 %f6, 0f7FC00000, {{F(1f)}};              // NaN → 0
            min.f32 %f7, 0f7FC00000, {{F(3f)}};                  // NaN ignored
            max.NaN.f32 %f8, 0f7FC00000, {{F(3f)}};              // NaN propagates
            min.f32 %f9, 0f80000000, 0f00000000;                 // −0
            max.f32 %f10, 0f80000000, 0f00000000;                // +0
            abs.f32 %f11, {{F(-2f)}};
            neg.f32 %f12, {{F(3f)}};
            copysign.f32 %f13, {{F(-1f)}}, {{F(5f)}};            // b with the sign of a
            testp.subnormal.f32 %p1, {{F(sub)}};
            testp.notanumber.f32 %p2, {{F(1f)}};
            selp.u32 %r1, 1, 0, %p1;
            selp.u32 %r2, 1, 0, %p2;
            mov.b32 %f14, %r1;
            mov.b32 %f15, %r2;
            ex2.approx.ftz.f32 %f16, {{F(3f)}};
            st.global.v4.f32 [%rd0], {%f1, %f2, %f3, %f4};
            st.global.v4.f32 [%rd0+16], {%f5, %f6, %f7, %f8};
            st.global.v4.f32 [%rd0+32], {%f9, %f10, %f11, %f12};
            st.global.v4.f32 [%rd0+48], {%f13, %f14, %f15, %f16};
            """, 16);
        Assert.That(r[0], Is.EqualTo(Bits(sub)));
        Assert.That(r[1], Is.EqualTo(0u));
        Assert.That(r[2], Is.EqualTo(0u));
        Assert.That(AsF(r[3]), Is.EqualTo(1f));
        Assert.That(AsF(r[4]), Is.EqualTo(0f));
        Assert.That(AsF(r[5]), Is.EqualTo(0f));
        Assert.That(AsF(r[6]), Is.EqualTo(3f));
        Assert.That(float.IsNaN(AsF(r[7])), Is.True);
        Assert.That(r[8], Is.EqualTo(0x80000000u));
        Assert.That(r[9], Is.EqualTo(0u));
        Assert.That(AsF(r[10]), Is.EqualTo(2f));
        Assert.That(AsF(r[11]), Is.EqualTo(-3f));
        Assert.That(AsF(r[12]), Is.EqualTo(-5f));
        Assert.That(r[13], Is.EqualTo(1u));
        Assert.That(r[14], Is.EqualTo(0u));
        Assert.That(AsF(r[15]), Is.EqualTo(8f));
    }

    [Test]
    public void ApproximateFunctions_WithinTwoUlpOfTheMath()
    {
        float[] xs = [0.3f, -1.7f, 2.5f, 10f];
        var body = string.Join("\n", xs.Select((x, i) => $$"""
            ex2.approx.f32 %f{{i}}, {{F(x)}};
            lg2.approx.f32 %f{{i + 8}}, {{F(Math.Abs(x))}};
            sin.approx.f32 %f{{i + 16}}, {{F(x)}};
            cos.approx.f32 %f{{i + 24}}, {{F(x)}};
            tanh.approx.f32 %f{{i + 32}}, {{F(x)}};
            st.global.f32 [%rd0+{{4 * i}}], %f{{i}};
            st.global.f32 [%rd0+{{4 * (i + 4)}}], %f{{i + 8}};
            st.global.f32 [%rd0+{{4 * (i + 8)}}], %f{{i + 16}};
            st.global.f32 [%rd0+{{4 * (i + 12)}}], %f{{i + 24}};
            st.global.f32 [%rd0+{{4 * (i + 16)}}], %f{{i + 32}};
            """));
        var r = Run32(body, 20).Select(AsF).ToArray();
        for (int i = 0; i < xs.Length; i++)
        {
            double x = xs[i];
            double[] exact = [Math.Pow(2, x), Math.Log2(Math.Abs(x)), Math.Sin(x), Math.Cos(x), Math.Tanh(x)];
            for (int f = 0; f < 5; f++)
            {
                float got = r[i + 4 * f];
                double ulp = Math.BitIncrement((float)exact[f]) - (float)exact[f];
                Assert.That(Math.Abs(got - exact[f]), Is.LessThanOrEqualTo(2 * Math.Abs(MathF.BitIncrement((float)exact[f]) - (float)exact[f])), $"function {f} at {x}");
                _ = ulp;
            }
        }
    }

    [Test]
    public void Double_ArithmeticAndRounding()
    {
        var r = Run64($$"""
            div.rn.f64 %fd1, {{Dd(1)}}, {{Dd(3)}};
            sqrt.rn.f64 %fd2, {{Dd(2)}};
            fma.rn.f64 %fd3, {{Dd(1 + Math.ScaleB(1, -27))}}, {{Dd(1 + Math.ScaleB(1, -27))}}, {{Dd(-(1 + Math.ScaleB(1, -26)))}};
            add.rz.f64 %fd4, {{Dd(1)}}, {{Dd(Math.ScaleB(1, -60))}};
            add.rp.f64 %fd5, {{Dd(1)}}, {{Dd(Math.ScaleB(1, -60))}};
            mul.f64 %fd6, {{Dd(1.5)}}, {{Dd(-4)}};
            st.global.f64 [%rd0], %fd1;
            st.global.f64 [%rd0+8], %fd2;
            st.global.f64 [%rd0+16], %fd3;
            st.global.f64 [%rd0+24], %fd4;
            st.global.f64 [%rd0+32], %fd5;
            st.global.f64 [%rd0+40], %fd6;
            """, 6);
        var d = r.Select(BitConverter.UInt64BitsToDouble).ToArray();
        Assert.That(d, Is.EqualTo(new[] { 1.0 / 3.0, Math.Sqrt(2), Math.ScaleB(1, -54), 1.0, Math.BitIncrement(1.0), -6.0 }));
    }

    [Test]
    public void Half_ScalarAndPackedArithmetic()
    {
        // Pairs packed {lo, hi}. Expected values are .NET's IEEE double → half of the exact result.
        ushort h(double v) => HBits(v);
        uint pack(double lo, double hi) => h(lo) | (uint)h(hi) << 16;
        double tie = 1 + Math.ScaleB(1, -11), ulp = Math.ScaleB(1, -10);
        var r = Run32($$"""
            add.f16x2 %r1, {{pack(1.5, -2)}}, {{pack(0.25, 0.5)}};
            sub.f16x2 %r2, {{pack(1, 1)}}, {{pack(tie - 1, 3 * (tie - 1))}};   // 1 − 2^-11 exact; 1 − 3·2^-11 → tie
            mul.rn.f16x2 %r3, {{pack(1 + ulp, 3)}}, {{pack(1 + ulp, -0.5)}};    // (1+2^-10)^2 rounds, −1.5 exact
            fma.rn.f16x2 %r4, {{pack(1, 2)}}, {{pack(1, 2)}}, {{pack(tie - 1, 1)}};
            neg.f16x2 %r5, {{pack(1, -2)}};
            abs.f16 %h1, {{h(-3)}};
            min.f16x2 %r6, {{pack(1, double.NaN)}}, {{pack(-1, 4)}};
            max.f16 %h2, {{h(2)}}, {{h(-7)}};
            fma.rn.relu.f16 %h3, {{h(-2)}}, {{h(3)}}, {{h(1)}};
            mul.f16 %h4, {{h(60000)}}, {{h(2)}};                                 // overflow → ∞
            ex2.approx.f16 %h5, {{h(3)}};
            mov.b32 %r7, {%h1, %h2};
            mov.b32 %r8, {%h3, %h4};
            mov.b32 %r9, {%h5, %h5};
            st.global.v4.u32 [%rd0], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd0+16], {%r5, %r6, %r7, %r8};
            st.global.u32 [%rd0+32], %r9;
            """, 9);
        Assert.That(r[0], Is.EqualTo(pack(1.75, -1.5)));
        Assert.That(r[1], Is.EqualTo(pack(1 - Math.ScaleB(1, -11), 1 - 3 * Math.ScaleB(1, -11))));
        Assert.That(r[2], Is.EqualTo(pack((1 + ulp) * (1 + ulp), -1.5)));
        Assert.That(r[3], Is.EqualTo(pack(tie, 5)));
        Assert.That(r[4], Is.EqualTo(pack(-1, 2)));
        Assert.That(r[5], Is.EqualTo(pack(-1, 4)), "min ignores a NaN operand");
        Assert.That(r[6], Is.EqualTo(pack(3, 2)));
        Assert.That(r[7], Is.EqualTo(0x7C000000u), "fma.relu of −5 → +0; 60000·2 → +∞");
        Assert.That(r[8], Is.EqualTo(pack(8, 8)));
    }

    [Test]
    public void BFloat16_Arithmetic()
    {
        var r = Run32("""
            mul.rn.bf16x2 %r1, 0x3FC03F81, 0x3FC03F81;     // lo: (1+2^-7)^2 = 1+2^-6+2^-14 → 1+2^-6; hi: 1.5^2 = 2.25
            add.rn.bf16 %h1, 0x3F80, 0x3B80;               // 1 + 2^-8: tie → 1
            fma.rn.bf16 %h2, 0x4000, 0x4040, 0xBF80;       // 2·3 − 1 = 5
            mov.b32 %r2, {%h1, %h2};
            st.global.v2.u32 [%rd0], {%r1, %r2};
            """, 2);
        Assert.That(r[0], Is.EqualTo(0x40103F82u));
        Assert.That(r[1], Is.EqualTo(0x40A03F80u));
    }
}
