using Vgg.Engine.Simulator;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Simulator.SimTestUtil;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>
/// CUDA C kernels (Tests/Fixtures/ptx/cuda/*.cu) compiled by the real NVRTC for compute_80, run in the
/// simulator, checked against C# references: exact where the arithmetic is exact (integer data, same
/// operation order), with the tolerance stated where it is not.
/// </summary>
[TestFixture]
public class NvrtcKernelTests
{
    private static PtxKernel Kernel(string file, string name)
    {
        var src = File.ReadAllText(TestData.Fixture("ptx/cuda/" + file));
        var ptx = NvrtcForTests.CompileOrIgnore(src, file);
        return PtxModule.Parse(ptx, file).GetKernel(name);
    }

    private const string VectorAdd = """
        extern "C" __global__ void vadd(const float* __restrict__ a, const float* __restrict__ b, float* c, int n) {
          int i = blockIdx.x * blockDim.x + threadIdx.x;
          if (i < n) c[i] = a[i] + b[i];
        }
        """;

    [Test]
    public void VectorAdd_OddSize_IsExact()
    {
        var ptx = NvrtcForTests.CompileOrIgnore(VectorAdd, "vadd.cu");
        var k = PtxModule.Parse(ptx, "vadd.cu").GetKernel("vadd");
        const int n = 1000; // not a multiple of the block
        var a = RandomFloats(n, 1);
        var b = RandomFloats(n, 2);
        var dev = Device();
        var da = dev.Upload(a);
        var db = dev.Upload(b);
        var dc = dev.Allocate(n * 4);
        var rep = dev.Launch(k, new Dim3((n + 127) / 128), new Dim3(128), 0, da, db, dc, n);
        var c = dev.Download<float>(dc, n);
        var expected = new float[n];
        for (int i = 0; i < n; i++) expected[i] = a[i] + b[i];
        AssertEqual<float>(expected, c, "vadd");
        Assert.That(rep.GlobalLoadBytes, Is.EqualTo(2 * n * 4), "bytes loaded");
        Assert.That(rep.GlobalStoreBytes, Is.EqualTo(n * 4), "bytes stored");
        // Every full warp request of 32 consecutive floats touches 4 sectors; the last partial one fewer.
        Assert.That(rep.GlobalLoadSectors, Is.EqualTo(2 * ((n + 7) / 8)), "sectors loaded");
    }

    [Test]
    public void Reduction_ShuffleSharedAtomic_IsExactOnIntegerData()
    {
        var k = Kernel("reduce_sum.cu", "reduce_sum");
        const int n = 10_007, blocks = 5, threads = 256;
        var r = new Random(11);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = r.Next(-8, 9); // integers: every partial sum is exact in f32
        var dev = Device();
        var dx = dev.Upload(x);
        var dp = dev.Allocate(blocks * 4);
        var dt = dev.Upload(new float[] { 0f });
        var rep = dev.Launch(k, new Dim3(blocks), new Dim3(threads), 0, dx, dp, dt, n);
        var partial = dev.Download<float>(dp, blocks);
        var expected = new float[blocks];
        for (int b = 0; b < blocks; b++)
            for (int i = b * threads; i < n; i += blocks * threads)
                for (int t = 0; t < threads && i + t < n; t++) expected[b] += x[i + t];
        AssertEqual<float>(expected, partial, "per-block partial sums");
        Assert.That(dev.Download<float>(dt, 1)[0], Is.EqualTo(expected.Sum()), "atomicAdd total");
        Assert.That(rep.ByClass.Single(c => c.Class == OpClass.WarpShuffle).WarpInstructions, Is.EqualTo(blocks * (threads / 32 * 5 + 5)), "shuffles: 5 per warp, 5 more in warp 0");
        Assert.That(rep.BarrierReleases, Is.EqualTo(blocks));
        Assert.That(rep.AtomicOperations, Is.EqualTo(blocks));
    }

    [TestCase(37, 29, 45)]
    [TestCase(16, 16, 16)]
    [TestCase(1, 50, 3)]
    public void TiledSgemm_MatchesFmaOrderReferenceExactly(int m, int n, int kk)
    {
        var k = Kernel("sgemm_tiled.cu", "sgemm_tiled");
        var a = RandomFloats(m * kk, 21);
        var b = RandomFloats(kk * n, 22);
        var dev = Device();
        var da = dev.Upload(a);
        var db = dev.Upload(b);
        var dc = dev.Allocate(m * n * 4);
        var rep = dev.Launch(k, new Dim3((n + 15) / 16, (m + 15) / 16), new Dim3(16, 16), 0, da, db, dc, m, n, kk);
        var c = dev.Download<float>(dc, m * n);
        // Same order as the kernel: acc = fma(a, b, acc) for k = 0..K-1 (zero padding adds fma(0, 0, acc) = acc).
        var expected = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float acc = 0f;
                for (int p = 0; p < kk; p++) acc = MathF.FusedMultiplyAdd(a[i * kk + p], b[p * n + j], acc);
                expected[i * n + j] = acc;
            }
        AssertEqual<float>(expected, c, $"sgemm {m}x{n}x{kk}");
        // Loads of As[ty][k] / Bs[k][tx] are conflict-free; each warp's store Bs[ty][tx] (row pitch 17
        // words) covers words 17ty..17ty+15 and 17ty+17..17ty+32, and 17ty+32 shares a bank with 17ty:
        // exactly one 2-way conflict per warp per k-tile.
        int blocks = (n + 15) / 16 * ((m + 15) / 16), kTiles = (kk + 15) / 16;
        Assert.That(rep.SharedBankConflicts, Is.EqualTo(blocks * 8 * kTiles), "bank conflicts");
    }

    private static ushort[] RandomHalves(int n, int seed)
    {
        var r = new Random(seed);
        var h = new ushort[n];
        for (int i = 0; i < n; i++) h[i] = BitConverter.HalfToUInt16Bits((Half)(r.NextDouble() * 2 - 1));
        return h;
    }

    [TestCase(16, 8, 16)]
    [TestCase(32, 16, 48)]
    public void MmaF16Gemm_LdmatrixAndMma_MatchesDoubleReference(int m, int n, int kk)
    {
        var k = Kernel("hgemm_mma.cu", "hgemm_mma");
        var a = RandomHalves(m * kk, 31);
        var b = RandomHalves(kk * n, 32);
        var dev = Device();
        var da = dev.Upload(a);
        var db = dev.Upload(b);
        var dc = dev.Allocate(m * n * 4);
        int tiles = m / 16 * (n / 8);
        dev.Launch(k, new Dim3((tiles + 3) / 4), new Dim3(128), 0, da, db, dc, m, n, kk);
        var c = dev.Download<float>(dc, m * n);
        var expected = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                // Per 16-wide k step: exact products summed in double, rounded to f32, then accumulated,
                // as the simulator's mma does (GPU tolerance for FP16 paths is 1e-2; this checks layouts).
                float acc = 0f;
                for (int k0 = 0; k0 < kk; k0 += 16)
                {
                    double s = 0;
                    for (int p = k0; p < k0 + 16; p++)
                        s += (double)BitConverter.UInt16BitsToHalf(a[i * kk + p]) * (double)BitConverter.UInt16BitsToHalf(b[p * n + j]);
                    acc = (float)(s + acc);
                }
                expected[i * n + j] = acc;
            }
        AssertClose(expected, c, 1e-6, 1e-6, $"hgemm {m}x{n}x{kk}");
    }

    [TestCase(16, 8, 32)]
    [TestCase(32, 24, 96)]
    public void Int8Gemm_MmaAndDp4a_AreBitExact(int m, int n, int kk)
    {
        var a = RandomInt8(m * kk, 41);
        var bt = RandomInt8(n * kk, 42); // B transposed: N×K
        var expected = new int[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                int s = 0;
                for (int p = 0; p < kk; p++) s += a[i * kk + p] * bt[j * kk + p];
                expected[i * n + j] = s;
            }
        var dev = Device();
        var da = dev.Upload(a);
        var db = dev.Upload(bt);
        var mma = Kernel("igemm_int8.cu", "igemm_mma");
        var dc = dev.Allocate(m * n * 4);
        int tiles = m / 16 * (n / 8);
        var rep = dev.Launch(mma, new Dim3((tiles + 1) / 2), new Dim3(64), 0, da, db, dc, m, n, kk);
        AssertEqual<int>(expected, dev.Download<int>(dc, m * n), "mma m16n8k32 s8");
        Assert.That(rep.ByClass.Single(c => c.Class == OpClass.Mma).WarpInstructions, Is.EqualTo(tiles * (kk / 32)));

        var dp4a = Kernel("igemm_int8.cu", "igemm_dp4a");
        var dc2 = dev.Allocate(m * n * 4);
        dev.Launch(dp4a, new Dim3((n + 31) / 32, m), new Dim3(32), 0, da, db, dc2, m, n, kk);
        AssertEqual<int>(expected, dev.Download<int>(dc2, m * n), "dp4a");
    }

    [TestCase(1000, 2)]
    [TestCase(4096, 3)]
    [TestCase(5, 1)]
    public void CpAsyncDoubleBufferedCopy_CopiesExactlyWithZeroFilledTail(int n, int blocks)
    {
        var k = Kernel("copy_cp_async.cu", "copy_cp_async");
        var x = RandomFloats(n, 51);
        const int threads = 64;
        var dev = Device();
        var din = dev.Upload(x);
        var dout = dev.Allocate(n * 4);
        var rep = dev.Launch(k, new Dim3(blocks), new Dim3(threads), 2 * 4 * threads * 4, din, dout, n, 0.5f);
        var y = dev.Download<float>(dout, n);
        var expected = x.Select(v => v * 0.5f).ToArray();
        AssertEqual<float>(expected, y, "copy through cp.async");
        Assert.That(rep.GlobalLoadBytes, Is.EqualTo(n * 4), "cp.async reads each input byte once (the tail only src-size bytes)");
        Assert.That(rep.ByClass.Single(c => c.Class == OpClass.AsyncCopy).WarpInstructions, Is.GreaterThan(0));
    }

    [Test]
    public void CompilerMath_ExpLogSqrtDivTanhAndRounding()
    {
        var k = Kernel("math_scan.cu", "math_mix");
        const int n = 301;
        var x = RandomFloats(n, 61, -6f, 6f);
        x[0] = 0.5f / 7f * 5; x[1] = -2.5f / 7f; x[2] = 0f; // rounding ties after the ×7
        var dev = Device();
        var dx = dev.Upload(x);
        var dy = dev.Allocate(6 * n * 4);
        var dr = dev.Allocate(4 * n * 4);
        dev.Launch(k, new Dim3((n + 63) / 64), new Dim3(64), 0, dx, dy, dr, n);
        var y = dev.Download<float>(dy, 6 * n);
        var r = dev.Download<int>(dr, 4 * n);
        var expected = new float[6 * n];
        var ri = new int[4 * n];
        for (int i = 0; i < n; i++)
        {
            float v = x[i];
            expected[6 * i] = MathF.Exp(v);
            expected[6 * i + 1] = MathF.Log(MathF.Abs(v) + 1e-3f);
            expected[6 * i + 2] = MathF.Sqrt(MathF.Abs(v));
            expected[6 * i + 3] = 1f / (v + 3f);
            expected[6 * i + 4] = MathF.Tanh(v);
            expected[6 * i + 5] = MathF.Max(MathF.Min(v, 0.5f), -0.5f);
            float s = v * 7f;
            ri[4 * i] = (int)MathF.Round(s, MidpointRounding.ToEven);
            ri[4 * i + 1] = (int)MathF.Truncate(s);
            ri[4 * i + 2] = (int)MathF.Floor(s);
            ri[4 * i + 3] = (int)MathF.Ceiling(s);
        }
        // CUDA's documented maximum errors: expf 2 ulp, logf 1 ulp, tanhf 2 ulp; sqrtf and IEEE division are
        // correctly rounded. 4e-7 relative (about 3 ulp) bounds them all; the sqrt/div/clamp columns are exact.
        AssertClose(expected, y, 1e-7, 4e-7, "math_mix");
        for (int i = 0; i < n; i++)
        {
            Assert.That(y[6 * i + 2], Is.EqualTo(expected[6 * i + 2]), $"sqrtf({x[i]}) is correctly rounded");
            Assert.That(y[6 * i + 3], Is.EqualTo(expected[6 * i + 3]), $"1/(x+3) at {x[i]} is correctly rounded");
        }
        AssertEqual<int>(ri, r, "__float2int_rn/rz/rd/ru");
    }

    [Test]
    public void WarpScan_ShuffleUp_IsExact()
    {
        var k = Kernel("math_scan.cu", "warp_scan");
        const int n = 200;
        var r = new Random(71);
        var x = Enumerable.Range(0, n).Select(_ => r.Next(-1000, 1000)).ToArray();
        var dev = Device();
        var dx = dev.Upload(x);
        var dy = dev.Allocate(n * 4);
        dev.Launch(k, new Dim3(2), new Dim3(128), 0, dx, dy, n);
        var expected = new int[n];
        for (int i = 0; i < n; i++) expected[i] = x[i] + (i % 32 == 0 ? 0 : expected[i - 1]);
        AssertEqual<int>(expected, dev.Download<int>(dy, n), "inclusive warp scan");
    }
}
