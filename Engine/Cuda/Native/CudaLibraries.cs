using System.Reflection;
using System.Runtime.InteropServices;

namespace Vgg.Engine.Cuda.Native;

/// <summary>
/// Loads the NVIDIA libraries once per process and resolves the logical names the
/// <c>[LibraryImport]</c> declarations use ("vgg_cuda", "vgg_nvrtc", ...) to them. One resolver for
/// the assembly (<see cref="NativeLibrary.SetDllImportResolver"/>); the search order is
/// <see cref="CudaLibraryLocator"/>'s. A library that is not found is an ordinary answer
/// (<see cref="TryGet"/> returns false with the list of places tried), never a crash.
/// </summary>
public static class CudaLibraries
{
    internal const string DriverName = "vgg_cuda";
    internal const string NvrtcName = "vgg_nvrtc";
    internal const string CublasName = "vgg_cublas";
    internal const string CublasLtName = "vgg_cublasLt";
    internal const string CudnnName = "vgg_cudnn";

    private static readonly object Gate = new();
    private static readonly Dictionary<CudaLibrary, LoadResult> Loaded = new();
    private static bool _resolverSet;

    /// <summary>What happened when a library was looked for.</summary>
    /// <param name="Handle">The OS handle, or zero when not found.</param>
    /// <param name="Path">The candidate that loaded, or null.</param>
    /// <param name="Message">"loaded X (source)" or "not found; tried: ..." with each candidate and the loader's error.</param>
    public sealed record LoadResult(IntPtr Handle, string? Path, string Message)
    {
        public bool Success => Handle != IntPtr.Zero;
    }

    /// <summary>Installs the assembly's DllImport resolver (idempotent). Called by every binding class's static constructor.</summary>
    internal static void EnsureResolver()
    {
        lock (Gate)
        {
            if (_resolverSet) return;
            _resolverSet = true;
            NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        CudaLibrary? lib = libraryName switch
        {
            DriverName => CudaLibrary.Driver,
            NvrtcName => CudaLibrary.Nvrtc,
            CublasName => CudaLibrary.Cublas,
            CublasLtName => CudaLibrary.CublasLt,
            CudnnName => CudaLibrary.Cudnn,
            _ => null,
        };
        if (lib is null) return IntPtr.Zero; // not ours: default probing
        var r = Load(lib.Value);
        if (!r.Success) throw new DllNotFoundException($"{lib}: {r.Message}");
        return r.Handle;
    }

    /// <summary>Loads <paramref name="lib"/> (once; later calls return the same answer).</summary>
    public static LoadResult Load(CudaLibrary lib)
    {
        lock (Gate)
        {
            if (Loaded.TryGetValue(lib, out var r)) return r;
            r = LoadUncached(lib);
            Loaded[lib] = r;
            return r;
        }
    }

    /// <summary>True when <paramref name="lib"/> loaded; <paramref name="message"/> says from where, or every place tried.</summary>
    public static bool TryGet(CudaLibrary lib, out string message)
    {
        var r = Load(lib);
        message = r.Message;
        return r.Success;
    }

    private static LoadResult LoadUncached(CudaLibrary lib)
    {
        if (!CudaLibraryLocator.IsSupportedPlatform)
            return new LoadResult(IntPtr.Zero, null, $"{lib}: the CUDA backend supports Linux and Windows on x64/arm64, not {RuntimeInformation.OSDescription} {RuntimeInformation.ProcessArchitecture}");
        // cuBLAS needs cuBLASLt from the same release: load Lt first so the soname is already present.
        if (lib == CudaLibrary.Cublas) Load(CudaLibrary.CublasLt);
        var tried = new List<string>();
        foreach (var c in CudaLibraryLocator.CandidatesForThisProcess(lib))
        {
            if (c.IsPath) PreloadSiblings(lib, c.PathOrName);
            if (NativeLibrary.TryLoad(c.PathOrName, out var h))
            {
                var symbol = ProbeSymbol(lib);
                if (NativeLibrary.TryGetExport(h, symbol, out _))
                    return new LoadResult(h, c.PathOrName, $"loaded {c.PathOrName} ({c.Source})");
                tried.Add($"{c}: loaded but has no '{symbol}' export");
                NativeLibrary.Free(h);
                continue;
            }
            tried.Add(c.ToString());
        }
        var hint = lib == CudaLibrary.Driver
            ? "install the NVIDIA driver (it provides libcuda.so.1 / nvcuda.dll), or set VGG_CUDA_DRIVER_LIB to its full path"
            : $"install it (or a pip wheel such as nvidia-cuda-nvrtc / nvidia-cublas / nvidia-cudnn), or set {CudaLibraryLocator.OverrideVariable(lib)} to its full path, {CudaLibraryLocator.LibDirVariable} to its folder, or {CudaLibraryLocator.SitePackagesVariable} to the site-packages holding it";
        return new LoadResult(IntPtr.Zero, null, $"{lib} library not found; tried: {string.Join("; ", tried)}. To fix: {hint}");
    }

    /// <summary>A symbol every version of the library exports, to reject a wrong file.</summary>
    private static string ProbeSymbol(CudaLibrary lib) => lib switch
    {
        CudaLibrary.Driver => "cuInit",
        CudaLibrary.Nvrtc => "nvrtcVersion",
        CudaLibrary.Cublas => "cublasCreate_v2",
        CudaLibrary.CublasLt => "cublasLtCreate",
        CudaLibrary.Cudnn => "cudnnGetVersion",
        _ => throw new ArgumentOutOfRangeException(nameof(lib)),
    };

    /// <summary>
    /// Loads the helper libraries that <paramref name="path"/> opens by name at run time from the same
    /// folder first (NVRTC's builtins, cuDNN 9's sub-libraries), so a wheel folder that is not on the
    /// loader's path still works: the loader matches an already-loaded soname. Best effort.
    /// </summary>
    private static void PreloadSiblings(CudaLibrary lib, string path)
    {
        var dir = Path.GetDirectoryName(path);
        if (dir is null || !Directory.Exists(dir)) return;
        string[] patterns = lib switch
        {
            CudaLibrary.Nvrtc => OperatingSystem.IsWindows() ? new[] { "nvrtc-builtins64_*.dll" } : new[] { "libnvrtc-builtins.so*" },
            CudaLibrary.Cublas => OperatingSystem.IsWindows() ? new[] { "cublasLt64_*.dll" } : new[] { "libcublasLt.so*" },
            CudaLibrary.Cudnn => OperatingSystem.IsWindows()
                ? new[] { "cudnn_graph64_*.dll", "cudnn_engines_precompiled64_*.dll", "cudnn_engines_runtime_compiled64_*.dll", "cudnn_heuristic64_*.dll", "cudnn_ops64_*.dll", "cudnn_cnn64_*.dll", "cudnn_adv64_*.dll" }
                : new[] { "libcudnn_graph.so*", "libcudnn_engines_precompiled.so*", "libcudnn_engines_runtime_compiled.so*", "libcudnn_heuristic.so*", "libcudnn_ops.so*", "libcudnn_cnn.so*", "libcudnn_adv.so*" },
            _ => Array.Empty<string>(),
        };
        foreach (var pattern in patterns)
        {
            string[] files;
            try { files = Directory.GetFiles(dir, pattern); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            // The most specific name (longest: libnvrtc-builtins.so.13.0) is the real file; one is enough.
            foreach (var f in files.OrderByDescending(f => f.Length))
                if (NativeLibrary.TryLoad(f, out _)) break;
        }
    }

    /// <summary>One line per library: where it loaded from or why not (for `vgg kernels`, diagnostics and the self-test).</summary>
    public static IReadOnlyList<string> Describe(params CudaLibrary[] libs) =>
        (libs.Length == 0 ? Enum.GetValues<CudaLibrary>() : libs).Select(l => $"{l}: {Load(l).Message}").ToList();
}
