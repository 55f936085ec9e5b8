using System.Reflection;

namespace Vgg.Engine.Kernels;

/// <summary>
/// The CUDA C++ sources under Kernels/ (embedded resources named "Kernels/&lt;file&gt;"), read for NVRTC.
/// </summary>
public static class KernelSources
{
    private static readonly Assembly Asm = typeof(KernelSources).Assembly;

    /// <summary>File names of every embedded .cu and .cuh source ("conv3x3.cu", "common.cuh").</summary>
    public static IReadOnlyList<string> Names =>
        Asm.GetManifestResourceNames().Where(n => n.StartsWith("Kernels/", StringComparison.Ordinal)).Select(n => n["Kernels/".Length..]).OrderBy(n => n, StringComparer.Ordinal).ToList();

    /// <summary>The text of <paramref name="name"/>.</summary>
    /// <exception cref="FileNotFoundException">No such embedded source.</exception>
    public static string Read(string name)
    {
        using var s = Asm.GetManifestResourceStream("Kernels/" + name) ?? throw new FileNotFoundException($"kernel source '{name}' is not embedded in {Asm.GetName().Name}");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
