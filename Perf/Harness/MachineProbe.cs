using System.Runtime;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using X86 = System.Runtime.Intrinsics.X86;

namespace Vgg.Perf.Harness;

/// <summary>Reads the machine description written into every report, and the process's memory figures.</summary>
public static class MachineProbe
{
    /// <summary>Machine and software description for a run with <paramref name="threads"/> threads.</summary>
    public static MachineInfo Describe(int threads, string? gpu = null) =>
        new(CpuModel(), Environment.ProcessorCount, IsaList(), RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription,
            OrtVersion(), threads, DateTime.UtcNow, GcMode(), gpu);

    /// <summary>CPU model name: /proc/cpuinfo on Linux, PROCESSOR_IDENTIFIER on Windows, else the architecture.</summary>
    public static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal) && line.Contains(':'))
                        return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Environment.GetEnvironmentVariable("PROCESSOR_IDENTIFIER") ?? RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>The vector ISAs the .NET runtime will use, widest first.</summary>
    public static string IsaList()
    {
        var isa = new List<string>();
        if (X86.Avx512F.IsSupported) isa.Add("AVX-512F");
        if (X86.Avx512BW.IsSupported) isa.Add("AVX-512BW");
        if (X86.Avx512Vbmi.IsSupported) isa.Add("AVX-512VBMI");
        if (X86.Avx10v1.IsSupported) isa.Add("AVX10.1");
        if (X86.AvxVnni.IsSupported) isa.Add("AVX-VNNI");
        if (X86.Avx2.IsSupported) isa.Add("AVX2");
        if (X86.Fma.IsSupported) isa.Add("FMA");
        if (System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported) isa.Add("AdvSIMD");
        isa.Add($"Vector512 {(Vector512.IsHardwareAccelerated ? "accelerated" : "not accelerated")}");
        return string.Join(' ', isa);
    }

    /// <summary>ONNX Runtime's native version string, or null when the native library cannot be loaded.</summary>
    public static string? OrtVersion()
    {
        try { return Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetVersionString(); }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            return null;
        }
    }

    private static string GcMode() =>
        $"{(GCSettings.IsServerGC ? "server" : "workstation")}, latency mode {GCSettings.LatencyMode}";

    /// <summary>True where the peak resident set can be read and reset (Linux: /proc/self/status VmHWM and /proc/self/clear_refs).</summary>
    public static bool CanMeasurePeakRss => OperatingSystem.IsLinux() && File.Exists("/proc/self/status");

    /// <summary>Current resident set size of this process, bytes (Linux VmRSS; elsewhere the working set).</summary>
    public static long ResidentBytes() => ReadStatusKb("VmRSS:") is long kb ? kb * 1024 : Environment.WorkingSet;

    /// <summary>Peak resident set since the last <see cref="ResetPeakResident"/>, bytes (Linux VmHWM; elsewhere the process's peak working set).</summary>
    public static long PeakResidentBytes() =>
        ReadStatusKb("VmHWM:") is long kb ? kb * 1024 : System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64;

    /// <summary>Resets the peak resident set to the current one (Linux ≥ 4.0: writes "5" to /proc/self/clear_refs). False where it cannot.</summary>
    public static bool ResetPeakResident()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    private static long? ReadStatusKb(string key)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
                }
        }
        catch (IOException) { }
        return null;
    }
}
