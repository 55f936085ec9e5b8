using Vgg.Engine.Simulator;
using static Vgg.Engine.Tests.Simulator.SimTestUtil;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>CUDA C kernels compiled by the real NVRTC, run in the simulator, checked against C# references.</summary>
[TestFixture]
public class NvrtcKernelTests
{
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
        // Each full warp request of 32 consecutive floats touches 4 sectors.
        Assert.That(rep.SectorsPerLoadRequest, Is.EqualTo(4.0).Within(0.2), "sectors per load request");
    }
}
