using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Vgg.Engine.Cuda.Native;
using Vgg.Engine.Kernels;

namespace Vgg.Engine.Cuda.Compile;

/// <summary>What NVRTC is asked to produce: machine code (CUBIN) for <c>sm_XY</c>, or PTX for <c>compute_XY</c>.</summary>
/// <param name="Arch">Compute capability as 10·major + minor (80, 86, 89, 90).</param>
/// <param name="Cubin">True: a CUBIN for sm_Arch (ptxas runs inside NVRTC and reports registers and spills). False: PTX for compute_Arch.</param>
public readonly record struct CompileTarget(int Arch, bool Cubin)
{
    /// <summary>"sm_90" or "compute_90": the value of --gpu-architecture.</summary>
    public string ArchName => (Cubin ? "sm_" : "compute_") + Arch.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public override string ToString() => ArchName;
}

/// <summary>The result of compiling one .cu file for one target.</summary>
/// <param name="Source">"conv3x3_f16.cu".</param>
/// <param name="Target">Architecture and output kind.</param>
/// <param name="Image">CUBIN bytes or PTX text (UTF-8, no terminating NUL).</param>
/// <param name="Log">NVRTC's program log; for a CUBIN it holds ptxas's resource report (-v).</param>
/// <param name="CompileMilliseconds">Wall time of nvrtcCompileProgram when it ran (the cached value when loaded from the disk cache).</param>
/// <param name="FromCache">True when read from the disk or memory cache.</param>
/// <param name="NvrtcVersion">"11.8", "13.0".</param>
/// <param name="Options">The options passed to NVRTC.</param>
public sealed record CompiledSource(string Source, CompileTarget Target, byte[] Image, string Log, double CompileMilliseconds, bool FromCache, string NvrtcVersion, IReadOnlyList<string> Options)
{
    /// <summary>The PTX text (only for a PTX target).</summary>
    public string PtxText => Target.Cubin ? throw new InvalidOperationException($"{Source} was compiled to a CUBIN for {Target}, not PTX") : Encoding.UTF8.GetString(Image);
}

/// <summary>
/// Compiles the embedded kernel sources (<see cref="KernelSources"/>) with NVRTC, for the device's
/// compute capability or any target asked for, through a disk cache (<see cref="KernelCache"/>) keyed
/// by source hash, options, architecture and NVRTC version. Thread-safe: each compile is its own
/// NVRTC program, so several files compile in parallel.
/// </summary>
public static class NvrtcCompiler
{
    private static readonly ConcurrentDictionary<string, Lazy<CompiledSource>> Memory = new(StringComparer.Ordinal);

    /// <summary>Options every compile uses. No fast-math: the INT8 epilogue must round exactly like the CPU reference.</summary>
    public static IReadOnlyList<string> BaseOptions { get; } = new[] { "--std=c++17", "-DVGG_NVRTC=1" };

    /// <summary>True when an NVRTC library loaded; <paramref name="reason"/> says which, or why not.</summary>
    public static bool IsAvailable(out string reason)
    {
        if (!CudaLibraries.TryGet(CudaLibrary.Nvrtc, out reason)) return false;
        try
        {
            var v = Version;
            reason = $"NVRTC {v.Major}.{v.Minor} ({reason})";
            return true;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException or CudaException)
        {
            reason = "NVRTC loaded but unusable: " + e.Message;
            return false;
        }
    }

    /// <summary>NVRTC's version (nvrtcVersion).</summary>
    /// <exception cref="DllNotFoundException">No NVRTC library.</exception>
    public static (int Major, int Minor) Version
    {
        get
        {
            Nvrtc.Check(Nvrtc.nvrtcVersion(out int major, out int minor));
            return (major, minor);
        }
    }

    /// <summary>The architectures this NVRTC can target (nvrtcGetSupportedArchs), e.g. 35..90.</summary>
    public static unsafe IReadOnlyList<int> SupportedArchitectures()
    {
        Nvrtc.Check(Nvrtc.nvrtcGetNumSupportedArchs(out int n));
        var archs = new int[n];
        fixed (int* p = archs) Nvrtc.Check(Nvrtc.nvrtcGetSupportedArchs(p));
        return archs;
    }

    /// <summary>
    /// The target to use for a device of compute capability <paramref name="deviceArch"/>: a CUBIN
    /// for it when this NVRTC knows it; else PTX for the newest architecture it knows that the device
    /// can run (the driver JIT-compiles it at load).
    /// </summary>
    /// <exception cref="NotSupportedException">NVRTC knows no architecture at or below the device's.</exception>
    public static CompileTarget TargetFor(int deviceArch, IReadOnlyList<int> supported)
    {
        if (supported.Contains(deviceArch)) return new CompileTarget(deviceArch, Cubin: true);
        var best = supported.Where(a => a <= deviceArch && a / 10 == deviceArch / 10).DefaultIfEmpty(-1).Max();
        if (best < 0) best = supported.Where(a => a <= deviceArch && a >= 80).DefaultIfEmpty(-1).Max();
        if (best < 0) throw new NotSupportedException($"this NVRTC supports {string.Join(", ", supported.Select(a => "sm_" + a))}, none of which runs on an sm_{deviceArch} device; install an NVRTC that knows sm_{deviceArch}");
        return new CompileTarget(best, Cubin: false);
    }

    /// <summary>
    /// Compiles <paramref name="source"/> for <paramref name="target"/>, from the memory cache, then the
    /// disk cache, then NVRTC. CUBIN targets also ask ptxas for its resource report (-v) and keep it in the log.
    /// </summary>
    /// <param name="source">An embedded .cu file name ("gemv.cu").</param>
    /// <param name="target">Architecture and output kind.</param>
    /// <param name="cache">The disk cache, or null for none.</param>
    /// <exception cref="NvrtcCompileException">The source did not compile; carries the log.</exception>
    /// <exception cref="FileNotFoundException">No such embedded source.</exception>
    public static CompiledSource Compile(string source, CompileTarget target, KernelCache? cache = null)
    {
        var text = KernelSources.Read(source);
        var headers = KernelSources.Names.Where(n => n.EndsWith(".cuh", StringComparison.Ordinal)).Select(n => (Name: n, Text: KernelSources.Read(n))).ToList();
        var options = OptionsFor(target);
        var version = Version;
        var versionText = $"{version.Major}.{version.Minor}";
        var key = KernelCache.Key(source, text, headers, options, target, versionText);
        var lazy = Memory.GetOrAdd(key, _ => new Lazy<CompiledSource>(() =>
        {
            if (cache?.TryRead(key, source, target, versionText, options) is { } hit) return hit;
            var compiled = CompileUncached(source, text, headers, target, options, versionText);
            cache?.Write(key, compiled);
            return compiled;
        }, LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            var r = lazy.Value;
            return r;
        }
        catch
        {
            Memory.TryRemove(key, out _);
            throw;
        }
    }

    /// <summary>
    /// Compiles source text that is not embedded (tests, experiments), with the embedded headers
    /// available, without any cache.
    /// </summary>
    /// <exception cref="NvrtcCompileException">The source did not compile; carries the log.</exception>
    public static CompiledSource CompileText(string name, string text, CompileTarget target)
    {
        var headers = KernelSources.Names.Where(n => n.EndsWith(".cuh", StringComparison.Ordinal)).Select(n => (Name: n, Text: KernelSources.Read(n))).ToList();
        var v = Version;
        return CompileUncached(name, text, headers, target, OptionsFor(target), $"{v.Major}.{v.Minor}");
    }

    /// <summary>
    /// Compiles CUDA C++ <paramref name="text"/> that is not one of the embedded kernel sources (a test kernel, a probe) with
    /// only the given <paramref name="headers"/>, the base options and <paramref name="extraOptions"/>; not cached.
    /// </summary>
    /// <exception cref="NvrtcCompileException">The source did not compile; carries the log.</exception>
    public static CompiledSource CompileText(string name, string text, CompileTarget target, IReadOnlyList<(string Name, string Text)> headers, IReadOnlyList<string>? extraOptions = null)
    {
        var v = Version;
        var options = OptionsFor(target).Concat(extraOptions ?? Array.Empty<string>()).ToList();
        return CompileUncached(name, text, headers, target, options, $"{v.Major}.{v.Minor}");
    }

    /// <summary>Forgets the in-process compile results (the disk cache is untouched).</summary>
    internal static void ClearMemoryCache() => Memory.Clear();

    /// <summary>The NVRTC options used for <paramref name="target"/>.</summary>
    public static IReadOnlyList<string> OptionsFor(CompileTarget target)
    {
        var o = new List<string>(BaseOptions) { "--gpu-architecture=" + target.ArchName };
        if (target.Cubin) o.Add("--ptxas-options=-v");
        return o;
    }

    private static unsafe CompiledSource CompileUncached(string name, string text, IReadOnlyList<(string Name, string Text)> headers, CompileTarget target, IReadOnlyList<string> options, string version)
    {
        var allocations = new List<IntPtr>();
        IntPtr Utf8(string s)
        {
            var p = Marshal.StringToCoTaskMemUTF8(s);
            allocations.Add(p);
            return p;
        }
        try
        {
            var headerTexts = stackalloc byte*[Math.Max(headers.Count, 1)];
            var headerNames = stackalloc byte*[Math.Max(headers.Count, 1)];
            for (int i = 0; i < headers.Count; i++)
            {
                headerTexts[i] = (byte*)Utf8(headers[i].Text);
                headerNames[i] = (byte*)Utf8(headers[i].Name);
            }
            Nvrtc.Check(Nvrtc.nvrtcCreateProgram(out var prog, (byte*)Utf8(text), (byte*)Utf8(name), headers.Count, headerTexts, headerNames));
            using var program = new NvrtcProgramHandle(prog);
            var opts = stackalloc byte*[options.Count];
            for (int i = 0; i < options.Count; i++) opts[i] = (byte*)Utf8(options[i]);
            var sw = Stopwatch.StartNew();
            int rc = Nvrtc.nvrtcCompileProgram(prog, options.Count, opts);
            sw.Stop();
            string log = ReadLog(prog);
            if (rc != Nvrtc.NVRTC_SUCCESS)
                throw new NvrtcCompileException(rc, Nvrtc.ErrorName(rc), name, target.ArchName, options, log);
            byte[] image;
            if (target.Cubin)
            {
                Nvrtc.Check(Nvrtc.nvrtcGetCUBINSize(prog, out var n));
                image = new byte[(int)n];
                fixed (byte* p = image) Nvrtc.Check(Nvrtc.nvrtcGetCUBIN(prog, p));
            }
            else
            {
                Nvrtc.Check(Nvrtc.nvrtcGetPTXSize(prog, out var n));
                var buf = new byte[(int)n];
                fixed (byte* p = buf) Nvrtc.Check(Nvrtc.nvrtcGetPTX(prog, p));
                int len = Array.IndexOf(buf, (byte)0);
                image = len < 0 ? buf : buf[..len];
            }
            return new CompiledSource(name, target, image, log, sw.Elapsed.TotalMilliseconds, false, version, options);
        }
        finally
        {
            foreach (var p in allocations) Marshal.FreeCoTaskMem(p);
        }
    }

    private static unsafe string ReadLog(IntPtr prog)
    {
        if (Nvrtc.nvrtcGetProgramLogSize(prog, out var n) != Nvrtc.NVRTC_SUCCESS || n <= 1) return "";
        var buf = new byte[(int)n];
        fixed (byte* p = buf)
            if (Nvrtc.nvrtcGetProgramLog(prog, p) != Nvrtc.NVRTC_SUCCESS) return "";
        int len = Array.IndexOf(buf, (byte)0);
        return Encoding.UTF8.GetString(buf, 0, len < 0 ? buf.Length : len).Trim();
    }
}
