using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// Which vector code path a prepared kernel runs. Every kernel has all three; the best one the
/// hardware accelerates is the default, and tests force the lower ones so every path is checked on
/// an AVX-512 machine.
/// </summary>
internal enum SimdLevel
{
    /// <summary>Vector128 (SSE on x86, NEON on Arm64; a software fallback elsewhere). Correct everywhere.</summary>
    Portable = 0,
    /// <summary>Vector256 with FMA (AVX2 + FMA3 on x86).</summary>
    Avx2 = 1,
    /// <summary>Vector512 with FMA (AVX-512F), 32 vector registers.</summary>
    Avx512 = 2,
}

internal static class CpuSimd
{
    /// <summary>The best level this machine accelerates.</summary>
    public static SimdLevel Detected { get; } = Detect();

    private static SimdLevel Detect()
    {
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Fma.IsSupported) return SimdLevel.Avx512;
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported) return SimdLevel.Avx2;
        return SimdLevel.Portable;
    }

    /// <summary>
    /// The level kernels use when none is asked for: <see cref="Detected"/>, lowered by the environment
    /// variable VGG_CPU_SIMD=avx2|portable (to run or measure the fallback paths on a bigger machine).
    /// Settable for tests and benchmarks; never above <see cref="Detected"/>.
    /// </summary>
    public static SimdLevel Default
    {
        get => s_default;
        set => s_default = value < Detected ? value : Detected;
    }

    private static SimdLevel s_default = FromEnvironment();

    private static SimdLevel FromEnvironment()
    {
        var v = Environment.GetEnvironmentVariable("VGG_CPU_SIMD")?.Trim().ToLowerInvariant();
        SimdLevel asked = v switch { "avx2" => SimdLevel.Avx2, "portable" or "vector128" => SimdLevel.Portable, _ => SimdLevel.Avx512 };
        return asked < Detected ? asked : Detected;
    }

    /// <summary>The requested level (or <see cref="Default"/>) clamped to what the hardware has.</summary>
    public static SimdLevel Resolve(SimdLevel? requested)
    {
        var r = requested ?? Default;
        return r < Detected ? r : Detected;
    }
}
