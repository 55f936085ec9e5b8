using System.Collections.Concurrent;
using Vgg.Engine.Cuda.Compile;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>
/// CUDA C test kernels compiled to PTX (compute_80) by the engine's own NVRTC binding
/// (<see cref="NvrtcCompiler.CompileText(string, string, CompileTarget, IReadOnlyList{ValueTuple{string, string}}, IReadOnlyList{string}?)"/>),
/// cached per source for the test run. Tests call <see cref="CompileOrIgnore"/>, which ignores the test with the reason where
/// NVRTC is absent.
/// </summary>
internal static class NvrtcForTests
{
    private static readonly ConcurrentDictionary<string, string> Cache = new();

    public static bool Available => NvrtcCompiler.IsAvailable(out _);

    /// <summary>PTX for <paramref name="source"/> (compute_80); ignores the test when NVRTC is absent.</summary>
    public static string CompileOrIgnore(string source, string name = "kernel.cu")
    {
        if (!NvrtcCompiler.IsAvailable(out var reason)) Assert.Ignore($"ignored: NVRTC not found ({reason})");
        return Cache.GetOrAdd(name + "\0" + source, _ => NvrtcCompiler.CompileText(name, source, new CompileTarget(80, false), Array.Empty<(string, string)>()).PtxText);
    }
}
