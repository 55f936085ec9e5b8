using System.Text.Json;
using Vgg.Cli;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Diagnostics;
using Vgg.Engine.Cuda.Runtime;
using Vgg.Engine.Tests.Cuda;
using static Vgg.Engine.Tests.Cli.CliRunner;

namespace Vgg.Engine.Tests.Cli;

/// <summary><c>vgg kernels</c> and <c>vgg selftest</c>: what runs without a GPU.</summary>
[NonParallelizable] // sets VGG_KERNEL_CACHE_DIR for the process while it runs
public class CudaVerbTests
{
    [Test]
    public void KernelsJsonHasEveryCatalogKernelForTheAskedArchitecture()
    {
        CudaTestSupport.RequireNvrtc();
        // The CUDA tests' run cache: whichever runs first compiles, the other reads the cache.
        var saved = Environment.GetEnvironmentVariable(KernelCache.DirectoryVariable);
        Environment.SetEnvironmentVariable(KernelCache.DirectoryVariable, CudaTestSupport.RunCache.Directory);
        try
        {
            var r = Run("kernels", "--arch", "sm_80", "--json");
            Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
            using var doc = JsonDocument.Parse(r.Out);
            var rows = doc.RootElement.EnumerateArray().ToList();
            Assert.That(rows.Select(x => x.GetProperty("kernel").GetString()), Is.EquivalentTo(KernelCatalog.All.Select(k => k.Name)));
            Assert.That(rows.Select(x => x.GetProperty("arch").GetString()), Is.All.EqualTo("sm_80"));
            Assert.That(rows.Select(x => x.GetProperty("registers").GetInt32()), Is.All.GreaterThan(0));

            var text = Run("kernels", "--arch", "80");
            Assert.That(text.Code, Is.EqualTo(ExitCodes.Ok), text.ToString());
            Assert.That(text.Out, Does.Contain("Nvrtc: ").And.Contain("vgg_conv3x3_bias_relu_f16_128x128"));
            Assert.That(text.Lines[^1], Does.StartWith($"{KernelCatalog.All.Count} kernels × 1 architectures;"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(KernelCache.DirectoryVariable, saved);
        }
    }

    [Test]
    public void KernelsSimulateRunsTheChecksInThePtxSimulatorAndPrintsCounters()
    {
        CudaTestSupport.RequireNvrtc();
        var saved = Environment.GetEnvironmentVariable(KernelCache.DirectoryVariable);
        Environment.SetEnvironmentVariable(KernelCache.DirectoryVariable, CudaTestSupport.RunCache.Directory);
        try
        {
            var expected = GpuOpChecks.All().Where(c => c.Work <= 5_000_000 && c.Name.Contains("maxpool", StringComparison.OrdinalIgnoreCase)).ToList();
            Assert.That(expected, Is.Not.Empty);
            var text = Run("kernels", "--simulate", "--filter", "maxpool");
            Assert.That(text.Code, Is.EqualTo(ExitCodes.Ok), text.ToString());
            Assert.That(text.Lines.Count(l => l.StartsWith("PASS  ", StringComparison.Ordinal)), Is.EqualTo(expected.Count));
            Assert.That(text.Out, Does.Contain("warp-instr").And.Contain("sect/req").And.Contain("bank conflicts"));
            Assert.That(text.Lines[^1], Is.EqualTo($"simulated {expected.Count} kernel checks: {expected.Count} passed, 0 failed"));

            var json = Run("kernels", "--simulate", "--filter", "maxpool", "--json");
            Assert.That(json.Code, Is.EqualTo(ExitCodes.Ok), json.ToString());
            using var doc = JsonDocument.Parse(json.Out);
            var rows = doc.RootElement.EnumerateArray().ToList();
            Assert.That(rows.Select(r => r.GetProperty("check").GetString()), Is.EqualTo(expected.Select(c => c.Name)));
            foreach (var r in rows)
            {
                Assert.That(r.GetProperty("passed").GetBoolean(), Is.True, r.GetProperty("detail").GetString());
                var launches = r.GetProperty("launches").EnumerateArray().ToList();
                Assert.That(launches, Is.Not.Empty);
                Assert.That(launches.Select(l => l.GetProperty("warpInstructions").GetInt64()), Is.All.GreaterThan(0));
                Assert.That(launches.Select(l => l.GetProperty("globalStore").GetProperty("bytes").GetInt64()), Is.All.GreaterThan(0));
            }

            var none = Run("kernels", "--simulate", "--filter", "no-such-kernel");
            Assert.That(none.Code, Is.EqualTo(ExitCodes.ModelOrInputError), none.ToString());
            Assert.That(none.Err, Does.Contain("no kernel check matches 'no-such-kernel'"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(KernelCache.DirectoryVariable, saved);
        }
    }

    [TestCase("sm_8x")]
    [TestCase("ampere")]
    public void KernelsRejectsAnArchitectureThatIsNotOne(string arch)
    {
        var r = Run("kernels", "--arch", arch);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain($"'{arch}' is not an architecture"));
    }

    [Test]
    public void SelftestListsTheGpuChecksWithoutADevice()
    {
        var r = Run("selftest", "--gpu", "--list");
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        var all = GpuOpChecks.All();
        Assert.That(r.Lines, Has.Length.EqualTo(all.Count + 1));
        Assert.That(r.Lines[^1], Is.EqualTo($"{all.Count} checks"));
        Assert.That(r.Lines[0], Does.EndWith(all[0].Name));

        var some = Run("selftest", "--gpu", "--list", "--filter", "conv1_2");
        Assert.That(some.Code, Is.EqualTo(ExitCodes.Ok), some.ToString());
        Assert.That(some.Lines[..^1], Is.All.Contains("conv1_2"));
        Assert.That(Run("selftest", "--gpu", "--list", "--filter", "no-such-check").Code, Is.EqualTo(ExitCodes.UsageError));
        Assert.That(Run("selftest").Code, Is.EqualTo(ExitCodes.UsageError), "nothing to test without --gpu");
    }

    [Test]
    public void SelftestWithoutADeviceSaysWhy()
    {
        CudaTestSupport.RequireNvrtc();
        if (CudaContext.TryOpen(0, out var ctx, out _))
        {
            ctx!.Dispose();
            Assert.Ignore("ignored: a CUDA device is present (this checks the no-device answer; the checks themselves run in the Gpu category)");
        }
        var r = Run("selftest", "--gpu", "--filter", "conv1_2");
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.StartWith("vgg: error: no usable CUDA device: "));
        Assert.That(r.Out, Is.Empty);
    }
}
