using Vgg.Engine.Cuda.Diagnostics;
using Vgg.Engine.Simulator;
using Vgg.Engine.Simulator.Integration;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>
/// Every kernel variant of the CUDA backend, run in the PTX simulator against the CPU references with the
/// GPU tests' tolerances (GpuOpChecks: FP32 rtol 1e-5, FP16 rtol 1e-2, INT8 bit-exact), on the checks
/// small enough for the simulator (work ≤ <see cref="MaxWork"/> multiply-adds), with the race and
/// uninitialized-shared-memory checks on. Needs NVRTC, not a GPU.
/// </summary>
[TestFixture]
[Category("Simulator")]
public class SimulatedGpuOpTests
{
    /// <summary>Largest check (multiply-adds or elements) simulated in CI: covers every variant on the odd shapes and VGG-16's classifier.</summary>
    public const long MaxWork = 60_000_000;

    private static SimulatedGpuDevice? _device;

    /// <summary>
    /// Whole-network checks (seeded VGG-11 and its global-pool head at 32×32 / 40×36, every precision, against the core's CPU
    /// backend; INT8 bit-exact) are simulated up to this work: about a minute for all six on 2 cores.
    /// </summary>
    public const long MaxNetworkWork = 1_000_000_000;

    private static IEnumerable<TestCaseData> Cases() =>
        GpuOpChecks.All().Where(c => c.Work <= MaxWork || (c.Group == "network" && c.Work <= MaxNetworkWork))
            .Select(c => new TestCaseData(c.Name).SetName("Sim " + c.Name));

    [TestCaseSource(nameof(Cases))]
    public void KernelMatchesCpuReference(string name)
    {
        if (!NvrtcForTests.Available) Assert.Ignore("ignored: NVRTC not found");
        var check = GpuOpChecks.All().Single(c => c.Name == name);
        _device ??= new SimulatedGpuDevice(new SimulatorOptions { MaxParallelBlocks = Environment.ProcessorCount });
        var result = GpuChecks.Run(check, _device);
        Assert.That(result.Passed, Is.True, result.Detail);
        TestContext.Out.WriteLine(result.Detail);
    }
}
