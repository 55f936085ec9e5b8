using Vgg.Engine.Cuda.Native;
using Vgg.Engine.Cuda.Runtime;

namespace Vgg.Engine.Tests.Cuda;

/// <summary>Where there is no CUDA driver (CI, this machine) the engine says so once and goes on.</summary>
public class NoDriverTests
{
    [Test]
    public void WithoutADriverTryOpenReturnsFalseWithOneClearReason()
    {
        if (CudaLibraries.TryGet(CudaLibrary.Driver, out var where))
            Assert.Ignore("ignored: a CUDA driver is installed here (" + where + "); the no-driver path is tested where there is none");
        bool ok = CudaContext.TryOpen(0, out var ctx, out var reason);
        Assert.Multiple(() =>
        {
            Assert.That(ok, Is.False);
            Assert.That(ctx, Is.Null);
            Assert.That(reason, Does.StartWith("no CUDA driver"));
            Assert.That(reason, Does.Contain("libcuda.so.1").Or.Contain("nvcuda.dll"), "names the library it looked for");
            Assert.That(reason, Does.Contain("VGG_CUDA_DRIVER_LIB"), "says how to point at it");
        });
    }

    [Test]
    public void AMissingLibraryThroughABindingIsADllNotFoundExceptionNamingTheSearch()
    {
        if (CudaLibraries.TryGet(CudaLibrary.Driver, out _))
            Assert.Ignore("ignored: a CUDA driver is installed here; the no-driver path is tested where there is none");
        var e = Assert.Throws<DllNotFoundException>(() => CuDriver.cuInit(0));
        Assert.That(e!.Message, Does.Contain("Driver library not found"));
    }

    [Test]
    public void DriverErrorsNameTheCallAndTheError()
    {
        var e = CudaCheckAccess.Error(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc(out p, 1 << 40)");
        Assert.That(e.Message, Does.StartWith("cuMemAlloc(out p, 1 << 40) failed: CUDA_ERROR_OUT_OF_MEMORY"));
        Assert.That(e.DriverResult, Is.EqualTo(CUresult.CUDA_ERROR_OUT_OF_MEMORY));
    }
}

internal static class CudaCheckAccess
{
    public static Vgg.Engine.Cuda.CudaException Error(CUresult r, string call) => Vgg.Engine.Cuda.CudaCheck.DriverError(r, call);
}
