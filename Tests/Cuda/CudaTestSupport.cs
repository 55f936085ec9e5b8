using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Native;
using Vgg.Engine.Cuda.Runtime;

namespace Vgg.Engine.Tests.Cuda;

/// <summary>Ignores a test, with the reason, when what it needs (NVRTC, a CUDA device) is missing.</summary>
internal static class CudaTestSupport
{
    private static readonly Lazy<(bool Ok, string Reason)> Nvrtc = new(() =>
    {
        bool ok = NvrtcCompiler.IsAvailable(out var reason);
        return (ok, reason);
    });

    private static readonly Lazy<(CudaContext? Context, string Reason)> Device = new(() =>
    {
        if (Environment.GetEnvironmentVariable("VGG_DISABLE_CUDA") == "1") return (null, "VGG_DISABLE_CUDA=1");
        return CudaContext.TryOpen(0, out var ctx, out var reason) ? (ctx, "") : (null, reason);
    });

    /// <summary>Ignores the test unless an NVRTC library loads.</summary>
    public static void RequireNvrtc()
    {
        if (!Nvrtc.Value.Ok) Assert.Ignore("ignored: NVRTC not found (" + Nvrtc.Value.Reason + ")");
    }

    /// <summary>The shared context of device 0; ignores the test when there is no usable CUDA device.</summary>
    public static CudaContext RequireDevice()
    {
        var (ctx, reason) = Device.Value;
        if (ctx is null) Assert.Ignore("ignored: no CUDA device (" + reason + ")");
        RequireNvrtc();
        return ctx!;
    }

    /// <summary>The shared context of device 0 when a device and NVRTC are usable, else null (for fixtures' one-time setup).</summary>
    public static CudaContext? TryDevice() => Device.Value.Context is { } c && Nvrtc.Value.Ok ? c : null;

    /// <summary>A kernel cache private to this test run (a temporary folder).</summary>
    public static KernelCache RunCache { get; } = new(Path.Combine(Path.GetTempPath(), "vgg-engine-test-kernels-" + Environment.ProcessId));
}
