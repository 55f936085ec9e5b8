using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Vgg.Engine.Cuda.Quantization;

namespace Vgg.Engine.Cpu.Int8;

/// <summary>
/// Instruction-set paths of the CPU INT8 kernels. All compute exact int32 dot products, so every path gives the
/// same bits (the tests force each one and compare with Int8Reference).
/// </summary>
internal enum Int8Isa
{
    /// <summary>Plain int32 loops.</summary>
    Scalar,

    /// <summary>
    /// Scalar loops that do what the VNNI path does: unsigned activation bytes (x + 128 for signed inputs) times signed
    /// weights, minus the per-channel correction 128·Σw. For checking that algebra on CPUs without AVX-VNNI.
    /// </summary>
    ScalarVnniEmulation,

    /// <summary>
    /// AVX2, 256-bit. Non-negative inputs (after a ReLU): vpmaddubsw (u8×s8 pairs → int16) then vpmaddwd by ones;
    /// exact because |a0·w0 + a1·w1| ≤ 2·127·127 = 32258 &lt; 32767 when a ∈ [0, 127] and |w| ≤ 127 (no int16
    /// saturation). Signed inputs: sign-extended int16 activations and weights with vpmaddwd (exact).
    /// </summary>
    Avx2,

    /// <summary>AVX-512BW, 512-bit: the AVX2 scheme on 16 int32 lanes.</summary>
    Avx512,

    /// <summary>
    /// AVX-VNNI (VEX vpdpbusd, 256-bit): u8×s8 products summed in fours into int32 without intermediate saturation.
    /// Signed inputs are offset by +128 (an XOR of the sign bit) and 128·Σ_k w[o, k] is subtracted per output
    /// channel, exact in int32. (.NET 10 exposes no 512-bit VNNI class; AVX-512-only CPUs use <see cref="Avx512"/>.)
    /// </summary>
    AvxVnni,
}

/// <summary>How a kernel reads activations: 4 bytes per k-step.</summary>
internal enum Int8Operand
{
    /// <summary>int8 codes, 4 channels per k-step (signed for Scalar, unsigned-safe for non-negative inputs).</summary>
    Bytes,

    /// <summary>int8 codes + 128 as uint8 (VNNI with signed inputs), 4 channels per k-step; padding is 0x80.</summary>
    OffsetBytes,

    /// <summary>Sign-extended int16, 2 channels per k-step (signed inputs on AVX2/AVX-512).</summary>
    Int16,
}

/// <summary>ISA selection for the INT8 kernels, with a test hook to force a path.</summary>
internal static class Int8Cpu
{
    /// <summary>Set by tests to force a path (null: best available). Read when a step is created.</summary>
    internal static Int8Isa? Forced { get; set; }

    /// <summary>Whether this CPU can run <paramref name="isa"/>.</summary>
    public static bool IsSupported(Int8Isa isa) => isa switch
    {
        Int8Isa.Scalar or Int8Isa.ScalarVnniEmulation => true,
        Int8Isa.Avx2 => Avx2.IsSupported,
        Int8Isa.Avx512 => Avx512BW.IsSupported,
        Int8Isa.AvxVnni => AvxVnni.IsSupported,
        _ => false,
    };

    /// <summary>The path new steps use: <see cref="Forced"/>, else AVX-VNNI, AVX-512BW, AVX2, scalar in that order.</summary>
    public static Int8Isa Current
    {
        get
        {
            if (Forced is { } f)
                return IsSupported(f) ? f : throw new PlatformNotSupportedException($"INT8 path {f} is not supported by this CPU");
            if (AvxVnni.IsSupported) return Int8Isa.AvxVnni;
            if (Avx512BW.IsSupported) return Int8Isa.Avx512;
            if (Avx2.IsSupported) return Int8Isa.Avx2;
            return Int8Isa.Scalar;
        }
    }

    /// <summary>The activation form <paramref name="isa"/> needs for inputs that may (or may not) be negative.</summary>
    public static Int8Operand OperandFor(Int8Isa isa, bool nonNegative) => isa switch
    {
        Int8Isa.Scalar => Int8Operand.Bytes,
        Int8Isa.ScalarVnniEmulation or Int8Isa.AvxVnni => nonNegative ? Int8Operand.Bytes : Int8Operand.OffsetBytes,
        _ => nonNegative ? Int8Operand.Bytes : Int8Operand.Int16,
    };

    public static string Describe(Int8Isa isa, Int8Operand op) => isa switch
    {
        Int8Isa.Scalar => "scalar",
        Int8Isa.ScalarVnniEmulation => "scalar (VNNI emulation" + (op == Int8Operand.OffsetBytes ? ", +128 offset)" : ")"),
        Int8Isa.AvxVnni => "AVX-VNNI vpdpbusd" + (op == Int8Operand.OffsetBytes ? " (+128 offset)" : ""),
        Int8Isa.Avx512 => op == Int8Operand.Int16 ? "AVX-512 vpmaddwd (int16)" : "AVX-512 vpmaddubsw+vpmaddwd (u8, inputs ≥ 0)",
        _ => op == Int8Operand.Int16 ? "AVX2 vpmaddwd (int16)" : "AVX2 vpmaddubsw+vpmaddwd (u8, inputs ≥ 0)",
    };
}

/// <summary>
/// Weights of one INT8 conv or linear layer packed for the tile kernels: output channels in blocks of 64
/// (zero-padded), k-steps of 4 bytes (4 int8 weights, or 2 int16 for <see cref="Int8Operand.Int16"/>):
/// Data[((block·KSteps + step)·64 + j)·4 + b]; and Σ_k w[o, k] per output channel (the VNNI offset correction).
/// Shared by every plan of a model (cached under the code tensor); bias and epilogue arrays are per step.
/// </summary>
internal sealed unsafe class PackedInt8Weights
{
    public const int Block = 64;

    /// <param name="codes">[O][kSteps·elementsPerStep] in the kernel's k order (zero where the operand is padding).</param>
    /// <param name="outChannels">O.</param>
    /// <param name="kSteps">k-steps of 4 bytes.</param>
    /// <param name="operand">Activation form the kernel reads (decides int8 or int16 weights).</param>
    public PackedInt8Weights(ReadOnlySpan<sbyte> codes, int outChannels, int kSteps, Int8Operand operand)
    {
        OutChannels = outChannels;
        KSteps = kSteps;
        Operand = operand;
        Blocks = (outChannels + Block - 1) / Block;
        int per = operand == Int8Operand.Int16 ? 2 : 4;
        long rowLen = (long)kSteps * per;
        if (codes.Length != outChannels * rowLen)
            throw new ArgumentException($"{codes.Length} codes for {outChannels} channels of {rowLen}");
        Data = GC.AllocateArray<byte>(checked(Blocks * kSteps * Block * 4), pinned: true);
        WeightSums = new long[outChannels];
        fixed (byte* d = Data)
        {
            for (int o = 0; o < outChannels; o++)
            {
                var row = codes.Slice((int)(o * rowLen), (int)rowLen);
                int blk = o / Block, j = o % Block;
                for (int s = 0; s < kSteps; s++)
                {
                    byte* dst = d + (((long)blk * kSteps + s) * Block + j) * 4;
                    if (operand == Int8Operand.Int16)
                    {
                        ((short*)dst)[0] = row[2 * s];
                        ((short*)dst)[1] = row[2 * s + 1];
                    }
                    else
                        for (int b = 0; b < 4; b++) dst[b] = (byte)row[4 * s + b];
                }
                long sum = 0;
                foreach (var w in row) sum += w;
                WeightSums[o] = sum;
            }
        }
    }

    public int OutChannels { get; }
    public int KSteps { get; }
    public int Blocks { get; }
    public Int8Operand Operand { get; }

    /// <summary>Pinned (pointers stay valid).</summary>
    public byte[] Data { get; }

    /// <summary>Σ_k w[o, k] per output channel.</summary>
    public long[] WeightSums { get; }

    public long Bytes => Data.LongLength + WeightSums.LongLength * 8;

    public byte* BlockPtr(int block)
    {
        fixed (byte* d = Data) return d + (long)block * KSteps * Block * 4;
    }

    /// <summary>
    /// Per-step arrays padded to the blocks: accumulator starts (the int32 bias, minus 128·Σw for
    /// <see cref="Int8Operand.OffsetBytes"/>, in wrapping int32 like the GPU) and epilogue factors.
    /// </summary>
    public (int[] Init, float[] Epilogue) Epilogue(ReadOnlySpan<int> bias, ReadOnlySpan<float> factors, Int8Operand operand)
    {
        if (bias.Length != OutChannels || factors.Length != OutChannels)
            throw new ArgumentException($"{bias.Length} biases and {factors.Length} epilogue factors for {OutChannels} channels");
        var init = GC.AllocateArray<int>(Blocks * Block, pinned: true);
        var epi = GC.AllocateArray<float>(Blocks * Block, pinned: true);
        for (int o = 0; o < OutChannels; o++)
        {
            init[o] = operand == Int8Operand.OffsetBytes ? unchecked(bias[o] - (int)(128 * WeightSums[o])) : bias[o];
            epi[o] = factors[o];
        }
        return (init, epi);
    }
}

/// <summary>
/// The INT8 tile kernels: acc[p][j] = init[j] + Σ_t Σ_s dot4(row_p + tapOffset[t] + 4s, W[t·S + s][j]) for up to 4 rows
/// (pixels) and one 64-channel block, in exact int32; and the epilogues (requantize to int8 codes, or dequantize to
/// float32), which reproduce <see cref="Int8Scheme.Requantize"/> / <see cref="Int8Scheme.Dequantize"/> bit for bit
/// (float32 conversion and product are single IEEE operations; the round is to nearest even).
/// </summary>
internal static unsafe class Int8Kernels
{
    public const int Block = PackedInt8Weights.Block;

    /// <summary>
    /// Computes a tile into <paramref name="acc"/> ([rows][64] int32).
    /// </summary>
    /// <param name="isa">Path.</param>
    /// <param name="operand">Activation form (must match the packing).</param>
    /// <param name="rows">Pointers to each row's (pixel's) first activation byte; taps add <paramref name="taps"/>.</param>
    /// <param name="count">Rows, 1..4.</param>
    /// <param name="taps">Byte offset of each tap from a row pointer.</param>
    /// <param name="tapCount">Taps (KH·KW for a conv, 1 for a linear layer).</param>
    /// <param name="stepsPerTap">k-steps (4 bytes each) per tap.</param>
    /// <param name="w">The block's packed weights.</param>
    /// <param name="init">The block's 64 accumulator starts.</param>
    /// <param name="acc">Output [count][64].</param>
    public static void Tile(Int8Isa isa, Int8Operand operand, byte** rows, int count, int* taps, int tapCount, int stepsPerTap, byte* w, int* init, int* acc)
    {
        switch (isa)
        {
            case Int8Isa.Avx512 when operand == Int8Operand.Bytes:
                if (count == 4) Avx512Tile4<MaddU8>(rows, taps, tapCount, stepsPerTap, w, init, acc);
                else for (int p = 0; p < count; p++) Avx512Tile1<MaddU8>(rows[p], taps, tapCount, stepsPerTap, w, init, acc + p * Block);
                break;
            case Int8Isa.Avx512:
                if (count == 4) Avx512Tile4<MaddI16>(rows, taps, tapCount, stepsPerTap, w, init, acc);
                else for (int p = 0; p < count; p++) Avx512Tile1<MaddI16>(rows[p], taps, tapCount, stepsPerTap, w, init, acc + p * Block);
                break;
            case Int8Isa.Avx2 when operand == Int8Operand.Bytes:
                if (count == 1) Avx2Tile1<MaddU8>(rows[0], taps, tapCount, stepsPerTap, w, init, acc);
                else Avx2Tile<MaddU8>(rows, count, taps, tapCount, stepsPerTap, w, init, acc);
                break;
            case Int8Isa.Avx2:
                if (count == 1) Avx2Tile1<MaddI16>(rows[0], taps, tapCount, stepsPerTap, w, init, acc);
                else Avx2Tile<MaddI16>(rows, count, taps, tapCount, stepsPerTap, w, init, acc);
                break;
            case Int8Isa.AvxVnni:
                if (count == 1) Avx2Tile1<DpBusd>(rows[0], taps, tapCount, stepsPerTap, w, init, acc);
                else Avx2Tile<DpBusd>(rows, count, taps, tapCount, stepsPerTap, w, init, acc);
                break;
            default:
                ScalarTile(operand, rows, count, taps, tapCount, stepsPerTap, w, init, acc);
                break;
        }
    }

    // ------------------------------------------------------------------ dot-product forms

    private interface IDot
    {
        static abstract Vector512<int> Dot(Vector512<int> acc, Vector512<byte> x, Vector512<byte> w);
        static abstract Vector256<int> Dot(Vector256<int> acc, Vector256<byte> x, Vector256<byte> w);
    }

    /// <summary>vpmaddubsw (u8 × s8 → int16 pair sums, no saturation for x ∈ [0, 127]) then vpmaddwd by ones (→ int32).</summary>
    private readonly struct MaddU8 : IDot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot(Vector512<int> acc, Vector512<byte> x, Vector512<byte> w) =>
            acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x, w.AsSByte()), Vector512.Create((short)1));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> x, Vector256<byte> w) =>
            acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w.AsSByte()), Vector256.Create((short)1));
    }

    /// <summary>vpmaddwd on int16 pairs (exact).</summary>
    private readonly struct MaddI16 : IDot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot(Vector512<int> acc, Vector512<byte> x, Vector512<byte> w) =>
            acc + Avx512BW.MultiplyAddAdjacent(x.AsInt16(), w.AsInt16());

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> x, Vector256<byte> w) =>
            acc + Avx2.MultiplyAddAdjacent(x.AsInt16(), w.AsInt16());
    }

    /// <summary>AVX-VNNI vpdpbusd (u8 × s8, four products summed into int32, no intermediate saturation).</summary>
    private readonly struct DpBusd : IDot
    {
        public static Vector512<int> Dot(Vector512<int> acc, Vector512<byte> x, Vector512<byte> w) =>
            throw new PlatformNotSupportedException("no 512-bit VNNI in .NET 10");

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> x, Vector256<byte> w) =>
            AvxVnni.MultiplyWideningAndAdd(acc, x, w.AsSByte());
    }

    // ------------------------------------------------------------------ AVX-512: 4 rows × 64 channels

    private static void Avx512Tile4<T>(byte** rows, int* taps, int tapCount, int steps, byte* w, int* init, int* acc) where T : IDot
    {
        var i0 = Vector512.Load(init); var i1 = Vector512.Load(init + 16); var i2 = Vector512.Load(init + 32); var i3 = Vector512.Load(init + 48);
        Vector512<int> a00 = i0, a01 = i1, a02 = i2, a03 = i3;
        Vector512<int> a10 = i0, a11 = i1, a12 = i2, a13 = i3;
        Vector512<int> a20 = i0, a21 = i1, a22 = i2, a23 = i3;
        Vector512<int> a30 = i0, a31 = i1, a32 = i2, a33 = i3;
        byte* r0 = rows[0], r1 = rows[1], r2 = rows[2], r3 = rows[3];
        byte* wp = w;
        for (int t = 0; t < tapCount; t++)
        {
            int off = taps[t];
            int* x0 = (int*)(r0 + off), x1 = (int*)(r1 + off), x2 = (int*)(r2 + off), x3 = (int*)(r3 + off);
            for (int s = 0; s < steps; s++, wp += 256)
            {
                var w0 = Vector512.Load(wp); var w1 = Vector512.Load(wp + 64); var w2 = Vector512.Load(wp + 128); var w3 = Vector512.Load(wp + 192);
                var b = Vector512.Create(x0[s]).AsByte();
                a00 = T.Dot(a00, b, w0); a01 = T.Dot(a01, b, w1); a02 = T.Dot(a02, b, w2); a03 = T.Dot(a03, b, w3);
                b = Vector512.Create(x1[s]).AsByte();
                a10 = T.Dot(a10, b, w0); a11 = T.Dot(a11, b, w1); a12 = T.Dot(a12, b, w2); a13 = T.Dot(a13, b, w3);
                b = Vector512.Create(x2[s]).AsByte();
                a20 = T.Dot(a20, b, w0); a21 = T.Dot(a21, b, w1); a22 = T.Dot(a22, b, w2); a23 = T.Dot(a23, b, w3);
                b = Vector512.Create(x3[s]).AsByte();
                a30 = T.Dot(a30, b, w0); a31 = T.Dot(a31, b, w1); a32 = T.Dot(a32, b, w2); a33 = T.Dot(a33, b, w3);
            }
        }
        a00.Store(acc); a01.Store(acc + 16); a02.Store(acc + 32); a03.Store(acc + 48);
        a10.Store(acc + 64); a11.Store(acc + 80); a12.Store(acc + 96); a13.Store(acc + 112);
        a20.Store(acc + 128); a21.Store(acc + 144); a22.Store(acc + 160); a23.Store(acc + 176);
        a30.Store(acc + 192); a31.Store(acc + 208); a32.Store(acc + 224); a33.Store(acc + 240);
    }

    private static void Avx512Tile1<T>(byte* row, int* taps, int tapCount, int steps, byte* w, int* init, int* acc) where T : IDot
    {
        Vector512<int> a0 = Vector512.Load(init), a1 = Vector512.Load(init + 16), a2 = Vector512.Load(init + 32), a3 = Vector512.Load(init + 48);
        // a second set of accumulators halves the dependency chains (this form streams weights: the batch-1 linear layers)
        Vector512<int> c0 = Vector512<int>.Zero, c1 = c0, c2 = c0, c3 = c0;
        byte* wp = w;
        for (int t = 0; t < tapCount; t++)
        {
            int* x = (int*)(row + taps[t]);
            int s = 0;
            for (; s + 2 <= steps; s += 2, wp += 512)
            {
                var b = Vector512.Create(x[s]).AsByte();
                a0 = T.Dot(a0, b, Vector512.Load(wp)); a1 = T.Dot(a1, b, Vector512.Load(wp + 64));
                a2 = T.Dot(a2, b, Vector512.Load(wp + 128)); a3 = T.Dot(a3, b, Vector512.Load(wp + 192));
                b = Vector512.Create(x[s + 1]).AsByte();
                c0 = T.Dot(c0, b, Vector512.Load(wp + 256)); c1 = T.Dot(c1, b, Vector512.Load(wp + 320));
                c2 = T.Dot(c2, b, Vector512.Load(wp + 384)); c3 = T.Dot(c3, b, Vector512.Load(wp + 448));
            }
            for (; s < steps; s++, wp += 256)
            {
                var b = Vector512.Create(x[s]).AsByte();
                a0 = T.Dot(a0, b, Vector512.Load(wp)); a1 = T.Dot(a1, b, Vector512.Load(wp + 64));
                a2 = T.Dot(a2, b, Vector512.Load(wp + 128)); a3 = T.Dot(a3, b, Vector512.Load(wp + 192));
            }
        }
        (a0 + c0).Store(acc); (a1 + c1).Store(acc + 16); (a2 + c2).Store(acc + 32); (a3 + c3).Store(acc + 48);
    }

    // ------------------------------------------------------------------ AVX2 / AVX-VNNI: up to 4 rows × 16 channels, 4 passes per block

    private static void Avx2Tile<T>(byte** rows, int count, int* taps, int tapCount, int steps, byte* w, int* init, int* acc) where T : IDot
    {
        byte* r0 = rows[0], r1 = rows[count > 1 ? 1 : 0], r2 = rows[count > 2 ? 2 : 0], r3 = rows[count > 3 ? 3 : 0];
        for (int sb = 0; sb < 4; sb++)
        {
            var lo = Vector256.Load(init + 16 * sb);
            var hi = Vector256.Load(init + 16 * sb + 8);
            Vector256<int> a0l = lo, a0h = hi, a1l = lo, a1h = hi, a2l = lo, a2h = hi, a3l = lo, a3h = hi;
            byte* wp = w + 64 * sb;
            for (int t = 0; t < tapCount; t++)
            {
                int off = taps[t];
                int* x0 = (int*)(r0 + off), x1 = (int*)(r1 + off), x2 = (int*)(r2 + off), x3 = (int*)(r3 + off);
                for (int s = 0; s < steps; s++, wp += 256)
                {
                    var wl = Vector256.Load(wp);
                    var wh = Vector256.Load(wp + 32);
                    var b = Vector256.Create(x0[s]).AsByte();
                    a0l = T.Dot(a0l, b, wl); a0h = T.Dot(a0h, b, wh);
                    b = Vector256.Create(x1[s]).AsByte();
                    a1l = T.Dot(a1l, b, wl); a1h = T.Dot(a1h, b, wh);
                    b = Vector256.Create(x2[s]).AsByte();
                    a2l = T.Dot(a2l, b, wl); a2h = T.Dot(a2h, b, wh);
                    b = Vector256.Create(x3[s]).AsByte();
                    a3l = T.Dot(a3l, b, wl); a3h = T.Dot(a3h, b, wh);
                }
            }
            int* o = acc + 16 * sb;
            a0l.Store(o); a0h.Store(o + 8);
            if (count > 1) { a1l.Store(o + 64); a1h.Store(o + 72); }
            if (count > 2) { a2l.Store(o + 128); a2h.Store(o + 136); }
            if (count > 3) { a3l.Store(o + 192); a3h.Store(o + 200); }
        }
    }

    /// <summary>One row × 64 channels in eight 256-bit accumulators (the GEMV form: streams the weights once).</summary>
    private static void Avx2Tile1<T>(byte* row, int* taps, int tapCount, int steps, byte* w, int* init, int* acc) where T : IDot
    {
        Vector256<int> a0 = Vector256.Load(init), a1 = Vector256.Load(init + 8), a2 = Vector256.Load(init + 16), a3 = Vector256.Load(init + 24);
        Vector256<int> a4 = Vector256.Load(init + 32), a5 = Vector256.Load(init + 40), a6 = Vector256.Load(init + 48), a7 = Vector256.Load(init + 56);
        byte* wp = w;
        for (int t = 0; t < tapCount; t++)
        {
            int* x = (int*)(row + taps[t]);
            for (int s = 0; s < steps; s++, wp += 256)
            {
                var b = Vector256.Create(x[s]).AsByte();
                a0 = T.Dot(a0, b, Vector256.Load(wp)); a1 = T.Dot(a1, b, Vector256.Load(wp + 32));
                a2 = T.Dot(a2, b, Vector256.Load(wp + 64)); a3 = T.Dot(a3, b, Vector256.Load(wp + 96));
                a4 = T.Dot(a4, b, Vector256.Load(wp + 128)); a5 = T.Dot(a5, b, Vector256.Load(wp + 160));
                a6 = T.Dot(a6, b, Vector256.Load(wp + 192)); a7 = T.Dot(a7, b, Vector256.Load(wp + 224));
            }
        }
        a0.Store(acc); a1.Store(acc + 8); a2.Store(acc + 16); a3.Store(acc + 24);
        a4.Store(acc + 32); a5.Store(acc + 40); a6.Store(acc + 48); a7.Store(acc + 56);
    }

    // ------------------------------------------------------------------ scalar

    private static void ScalarTile(Int8Operand operand, byte** rows, int count, int* taps, int tapCount, int steps, byte* w, int* init, int* acc)
    {
        for (int p = 0; p < count; p++)
        {
            int* a = acc + p * Block;
            for (int j = 0; j < Block; j++) a[j] = init[j];
            byte* wp = w;
            for (int t = 0; t < tapCount; t++)
            {
                byte* x = rows[p] + taps[t];
                for (int s = 0; s < steps; s++, wp += 256)
                {
                    byte* xs = x + 4 * s;
                    switch (operand)
                    {
                        case Int8Operand.Int16:
                        {
                            int x0 = ((short*)xs)[0], x1 = ((short*)xs)[1];
                            for (int j = 0; j < Block; j++)
                            {
                                short* wj = (short*)(wp + 4 * j);
                                a[j] = unchecked(a[j] + x0 * wj[0] + x1 * wj[1]);
                            }
                            break;
                        }
                        case Int8Operand.OffsetBytes:
                        {
                            // what vpdpbusd computes: unsigned activation bytes times signed weights
                            int x0 = xs[0], x1 = xs[1], x2 = xs[2], x3 = xs[3];
                            for (int j = 0; j < Block; j++)
                            {
                                sbyte* wj = (sbyte*)(wp + 4 * j);
                                a[j] = unchecked(a[j] + x0 * wj[0] + x1 * wj[1] + x2 * wj[2] + x3 * wj[3]);
                            }
                            break;
                        }
                        default:
                        {
                            int x0 = (sbyte)xs[0], x1 = (sbyte)xs[1], x2 = (sbyte)xs[2], x3 = (sbyte)xs[3];
                            for (int j = 0; j < Block; j++)
                            {
                                sbyte* wj = (sbyte*)(wp + 4 * j);
                                a[j] = unchecked(a[j] + x0 * wj[0] + x1 * wj[1] + x2 * wj[2] + x3 * wj[3]);
                            }
                            break;
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ epilogues

    /// <summary>
    /// Requantizes one row of accumulators: y[j] = clamp(round_half_even(float32(acc[j]) · m[j]), −128, 127), then
    /// max(·, 0) with ReLU, for j &lt; <paramref name="count"/> (≤ 64).
    /// </summary>
    public static void Requantize(int* acc, float* m, bool relu, sbyte* y, int count)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var lo = Vector512.Create(-128f);
            var hi = Vector512.Create(127f);
            var floor = relu ? Vector512<int>.Zero : Vector512.Create(-128);
            for (; j + 32 <= count; j += 32)
            {
                var q0 = Vector512.Max(Vector512.ConvertToInt32(Vector512.Round(Vector512.Min(Vector512.Max(Vector512.ConvertToSingle(Vector512.Load(acc + j)) * Vector512.Load(m + j), lo), hi))), floor);
                var q1 = Vector512.Max(Vector512.ConvertToInt32(Vector512.Round(Vector512.Min(Vector512.Max(Vector512.ConvertToSingle(Vector512.Load(acc + j + 16)) * Vector512.Load(m + j + 16), lo), hi))), floor);
                var s = Vector512.Narrow(q0, q1);
                Vector256.Store(Vector512.Narrow(s, s).GetLower(), y + j);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var lo = Vector256.Create(-128f);
            var hi = Vector256.Create(127f);
            var floor = relu ? Vector256<int>.Zero : Vector256.Create(-128);
            for (; j + 16 <= count; j += 16)
            {
                var q0 = Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Min(Vector256.Max(Vector256.ConvertToSingle(Vector256.Load(acc + j)) * Vector256.Load(m + j), lo), hi))), floor);
                var q1 = Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Min(Vector256.Max(Vector256.ConvertToSingle(Vector256.Load(acc + j + 8)) * Vector256.Load(m + j + 8), lo), hi))), floor);
                var s = Vector256.Narrow(q0, q1);
                Vector128.Store(Vector256.Narrow(s, s).GetLower(), y + j);
            }
        }
        for (; j < count; j++) y[j] = Int8Scheme.Requantize(acc[j], m[j], relu);
    }

    /// <summary>Dequantizes one row: y[j] = float32(acc[j]) · d[j], then max(·, 0) with ReLU, for j &lt; <paramref name="count"/>.</summary>
    public static void Dequantize(int* acc, float* d, bool relu, float* y, int count)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; j + 8 <= count; j += 8)
            {
                var v = Vector256.ConvertToSingle(Vector256.Load(acc + j)) * Vector256.Load(d + j);
                (relu ? Vector256.Max(v, Vector256<float>.Zero) : v).Store(y + j);
            }
        for (; j < count; j++) y[j] = Int8Scheme.Dequantize(acc[j], d[j], relu);
    }
}

/// <summary>Which instruction-set paths the CPU backend's low-precision kernels use on this machine (for benchmark and log output).</summary>
public static class CpuPrecisionInfo
{
    /// <summary>The INT8 path new plans use ("Avx512", "AvxVnni", "Avx2", "Scalar") and its dot-product forms.</summary>
    public static string Int8Path
    {
        get
        {
            var isa = Int8Cpu.Current;
            return $"{isa}: inputs ≥ 0 {Int8Cpu.Describe(isa, Int8Cpu.OperandFor(isa, true))}; signed inputs {Int8Cpu.Describe(isa, Int8Cpu.OperandFor(isa, false))}";
        }
    }

    /// <summary>How FP16 weights are widened in the linear layers on this machine.</summary>
    public static string Fp16Path => Avx512F.IsSupported ? "AVX-512 integer widening + FMA" : Avx2.IsSupported ? "AVX2 integer widening + FMA" : "scalar";
}
