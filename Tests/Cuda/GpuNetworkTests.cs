using Vgg.Engine.Cuda;
using Vgg.Engine.Cuda.Diagnostics;

namespace Vgg.Engine.Tests.Cuda;

/// <summary>
/// Whole networks on a real device (GpuNetworkChecks): VGG-16 and VGG-11 through the CUDA backend against
/// the CPU backend (FP32, FP16, the cuDNN baseline), INT8 bit-exact against the INT8 reference, graph
/// replay bit-identical to eager, a session used from several threads. Ignored without a device.
/// </summary>
[Category("Gpu")]
[NonParallelizable]
public class GpuNetworkTests
{
    private static readonly Dictionary<string, GpuNetworkCheck> Checks = GpuNetworkChecks.All().ToDictionary(c => c.Name, StringComparer.Ordinal);
    private readonly Dictionary<CudaBackendOptions, CudaBackend> _backends = new();

    public static IEnumerable<TestCaseData> Cases() => GpuNetworkChecks.All().Select(c => new TestCaseData(c.Name).SetName("Gpu network " + c.Name));

    [OneTimeTearDown]
    public void TearDown()
    {
        foreach (var b in _backends.Values) b.Dispose();
        _backends.Clear();
    }

    private CudaBackend Make(CudaBackendOptions options)
    {
        options = options with { Cache = CudaTestSupport.RunCache };
        if (_backends.TryGetValue(options, out var b)) return b;
        if (!CudaBackend.TryCreate(out b, out var reason, options)) Assert.Ignore("ignored: no CUDA device (" + reason + ")");
        return _backends[options] = b!;
    }

    [TestCaseSource(nameof(Cases))]
    public void NetworkMatchesReference(string name)
    {
        CudaTestSupport.RequireDevice();
        var detail = Checks[name].Body(Make);
        TestContext.Out.WriteLine($"{name}: {detail}");
    }
}
