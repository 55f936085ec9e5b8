using Vgg.Engine.Cuda.Diagnostics;

namespace Vgg.Engine.Tests.Cuda;

/// <summary>
/// Every kernel variant against the CPU references on a real device (GpuOpChecks: FP32 rtol 1e-5,
/// FP16 rtol 1e-2, INT8 bit-exact). Ignored with the reason where there is no CUDA device. The same
/// checks run in the published binary as `vgg selftest --gpu` (Perf/gpu-check.sh).
/// </summary>
[Category("Gpu")]
[NonParallelizable]
public class GpuOpTests
{
    private static readonly Dictionary<string, GpuCheck> Checks = GpuOpChecks.All().ToDictionary(c => c.Name, StringComparer.Ordinal);
    private GpuCheckContext? _shared;

    public static IEnumerable<TestCaseData> Cases() =>
        GpuOpChecks.All().Select(c => new TestCaseData(c.Name).SetName("Gpu " + c.Name).SetCategory(c.Group));

    [OneTimeSetUp]
    public void SetUp()
    {
        if (CudaTestSupport.TryDevice() is { } device) _shared = new GpuCheckContext(device, CudaTestSupport.RunCache);
    }

    [OneTimeTearDown]
    public void TearDown() => _shared?.Dispose();

    [TestCaseSource(nameof(Cases))]
    public void KernelMatchesReference(string name)
    {
        CudaTestSupport.RequireDevice();
        var result = _shared!.RunCheck(Checks[name]);
        if (!result.Passed) Assert.Fail(result.Detail);
        TestContext.Out.WriteLine($"{name}: {result.Detail} ({result.Milliseconds:F0} ms)");
    }

    [Test]
    public void CheckNamesAreUniqueAndEveryKernelIsExercised()
    {
        var all = GpuOpChecks.All();
        Assert.That(all.Select(c => c.Name), Is.Unique);
        Assert.That(all, Has.Count.GreaterThan(150));
    }
}
