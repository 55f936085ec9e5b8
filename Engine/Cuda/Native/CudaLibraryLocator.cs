using System.Runtime.InteropServices;

namespace Vgg.Engine.Cuda.Native;

/// <summary>The native NVIDIA libraries the CUDA backend binds.</summary>
public enum CudaLibrary
{
    /// <summary>The CUDA driver API: libcuda.so.1 on Linux, nvcuda.dll on Windows. Installed with the display driver, never by a wheel.</summary>
    Driver,
    /// <summary>NVRTC, the run-time CUDA C++ compiler: libnvrtc.so.13 / .12 / .11.2, nvrtc64_130_0.dll, ...</summary>
    Nvrtc,
    /// <summary>cuBLAS (baseline and fallback GEMM).</summary>
    Cublas,
    /// <summary>cuBLASLt (baseline INT8 / FP16 GEMM with epilogues).</summary>
    CublasLt,
    /// <summary>cuDNN (baseline and fallback convolution and pooling).</summary>
    Cudnn,
}

/// <summary>One place to look for a library: a bare file name (the OS loader's own search) or a full path.</summary>
/// <param name="PathOrName">A full path, or a bare name such as "libcuda.so.1" for the system loader.</param>
/// <param name="Source">Where the candidate came from, for messages: "system", "VGG_NVRTC_LIB", "python wheel (/opt/x/site-packages)", ...</param>
public readonly record struct LibraryCandidate(string PathOrName, string Source)
{
    /// <summary>True when <see cref="PathOrName"/> is a path rather than a bare name for the system search.</summary>
    public bool IsPath => PathOrName.Contains('/') || PathOrName.Contains('\\');

    public override string ToString() => $"{PathOrName} ({Source})";
}

/// <summary>
/// Where to look for each NVIDIA library, in order. A pure function of the operating system, the
/// environment variables and the file system, so it is unit-tested without any CUDA installed.
/// </summary>
/// <remarks>
/// Order, first hit wins:
/// <list type="number">
/// <item>A per-library file override: <c>VGG_CUDA_DRIVER_LIB</c>, <c>VGG_NVRTC_LIB</c>, <c>VGG_CUBLAS_LIB</c>,
/// <c>VGG_CUBLASLT_LIB</c>, <c>VGG_CUDNN_LIB</c> (a full path). Explicit, so it comes before everything.</item>
/// <item>The standard names, newest major version first, through the OS loader's own search
/// (LD_LIBRARY_PATH, the ldconfig cache, PATH on Windows).</item>
/// <item>The folders in <c>VGG_CUDA_LIB_DIR</c> (a path list), then the usual install folders
/// (<c>$CUDA_HOME/lib64</c>, <c>/usr/local/cuda/lib64</c>, <c>/usr/local/nvidia/lib64</c>, ...).</item>
/// <item>Python wheel folders: <c>site-packages/nvidia/*/lib</c> (CUDA 12 wheels: <c>nvidia/cuda_nvrtc/lib</c>,
/// <c>nvidia/cublas/lib</c>, <c>nvidia/cudnn/lib</c>; CUDA 13 wheels: <c>nvidia/cu13/lib</c>) under every
/// site-packages found without running Python: <c>VGG_PYTHON_SITE_PACKAGES</c> (a path list), <c>$VIRTUAL_ENV</c>,
/// <c>$CONDA_PREFIX</c>, the venv of each <c>python3</c> on PATH, <c>~/.local</c>, <c>/usr/local/lib</c>,
/// <c>/usr/lib</c>, <c>/opt/conda</c> and <c>/opt/*/.venv</c>.</item>
/// </list>
/// </remarks>
public static class CudaLibraryLocator
{
    /// <summary>Environment variable naming a folder list searched after the system names.</summary>
    public const string LibDirVariable = "VGG_CUDA_LIB_DIR";

    /// <summary>Environment variable naming extra site-packages folders (path list).</summary>
    public const string SitePackagesVariable = "VGG_PYTHON_SITE_PACKAGES";

    /// <summary>The per-library file override variable.</summary>
    public static string OverrideVariable(CudaLibrary lib) => lib switch
    {
        CudaLibrary.Driver => "VGG_CUDA_DRIVER_LIB",
        CudaLibrary.Nvrtc => "VGG_NVRTC_LIB",
        CudaLibrary.Cublas => "VGG_CUBLAS_LIB",
        CudaLibrary.CublasLt => "VGG_CUBLASLT_LIB",
        CudaLibrary.Cudnn => "VGG_CUDNN_LIB",
        _ => throw new ArgumentOutOfRangeException(nameof(lib)),
    };

    /// <summary>File names of <paramref name="lib"/> on the OS, newest CUDA major version first.</summary>
    public static IReadOnlyList<string> StandardNames(CudaLibrary lib, bool windows) => (lib, windows) switch
    {
        (CudaLibrary.Driver, false) => new[] { "libcuda.so.1", "libcuda.so" },
        (CudaLibrary.Driver, true) => new[] { "nvcuda.dll" },
        (CudaLibrary.Nvrtc, false) => new[] { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so" },
        (CudaLibrary.Nvrtc, true) => new[] { "nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll" },
        (CudaLibrary.Cublas, false) => new[] { "libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so" },
        (CudaLibrary.Cublas, true) => new[] { "cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll" },
        (CudaLibrary.CublasLt, false) => new[] { "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so" },
        (CudaLibrary.CublasLt, true) => new[] { "cublasLt64_13.dll", "cublasLt64_12.dll", "cublasLt64_11.dll" },
        (CudaLibrary.Cudnn, false) => new[] { "libcudnn.so.9", "libcudnn.so.8", "libcudnn.so" },
        (CudaLibrary.Cudnn, true) => new[] { "cudnn64_9.dll", "cudnn64_8.dll" },
        _ => throw new ArgumentOutOfRangeException(nameof(lib)),
    };

    /// <summary>
    /// Every candidate for <paramref name="lib"/> in search order (see the class remarks). Folder
    /// candidates are included only when the file exists, so the list stays short and readable.
    /// </summary>
    /// <param name="lib">The library.</param>
    /// <param name="windows">Windows naming and folders; otherwise Linux.</param>
    /// <param name="env">Environment lookup (name → value or null).</param>
    /// <param name="homeDirectory">The user's home folder (for ~/.local), or null.</param>
    public static IReadOnlyList<LibraryCandidate> Candidates(CudaLibrary lib, bool windows, Func<string, string?> env, string? homeDirectory)
    {
        var result = new List<LibraryCandidate>();
        var seen = new HashSet<string>(windows ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        void Add(string p, string source)
        {
            if (seen.Add(p)) result.Add(new LibraryCandidate(p, source));
        }

        var overrideVar = OverrideVariable(lib);
        var fileOverride = env(overrideVar);
        if (!string.IsNullOrWhiteSpace(fileOverride)) Add(fileOverride.Trim(), overrideVar);

        var names = StandardNames(lib, windows);
        foreach (var n in names) Add(n, "system");

        foreach (var dir in SearchFolders(lib, windows, env))
            foreach (var n in names)
            {
                var p = Path.Combine(dir.Folder, n);
                if (File.Exists(p)) Add(p, dir.Source);
            }

        if (lib != CudaLibrary.Driver)
        {
            foreach (var site in SitePackages(windows, env, homeDirectory))
                foreach (var libDir in WheelLibraryFolders(site, windows))
                    foreach (var n in names)
                    {
                        var p = Path.Combine(libDir, n);
                        if (File.Exists(p)) Add(p, $"python wheel ({site})");
                    }
        }
        return result;
    }

    /// <summary>Install folders searched after the system names: VGG_CUDA_LIB_DIR, CUDA_HOME/CUDA_PATH and the usual places.</summary>
    internal static IEnumerable<(string Folder, string Source)> SearchFolders(CudaLibrary lib, bool windows, Func<string, string?> env)
    {
        foreach (var d in SplitPathList(env(LibDirVariable), windows)) yield return (d, LibDirVariable);
        foreach (var v in new[] { "CUDA_HOME", "CUDA_PATH", "CUDA_ROOT" })
        {
            var root = env(v);
            if (string.IsNullOrWhiteSpace(root)) continue;
            if (windows)
            {
                yield return (Path.Combine(root, "bin"), v);
                yield return (Path.Combine(root, "bin", "x64"), v);
            }
            else
            {
                yield return (Path.Combine(root, "lib64"), v);
                yield return (Path.Combine(root, "lib"), v);
                yield return (Path.Combine(root, "targets", "x86_64-linux", "lib"), v);
            }
        }
        if (windows)
        {
            var sys = env("SystemRoot");
            if (!string.IsNullOrEmpty(sys)) yield return (Path.Combine(sys, "System32"), "Windows system folder");
            yield break;
        }
        if (lib == CudaLibrary.Driver)
        {
            foreach (var d in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib", "/run/opengl-driver/lib", "/usr/lib/aarch64-linux-gnu" })
                yield return (d, "driver folder");
            yield break;
        }
        foreach (var d in new[] { "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/lib" })
            yield return (d, "install folder");
    }

    /// <summary>
    /// site-packages (and Debian's dist-packages) folders that exist, found without running Python;
    /// see the class remarks for the places looked at.
    /// </summary>
    public static IReadOnlyList<string> SitePackages(bool windows, Func<string, string?> env, string? homeDirectory)
    {
        var roots = new List<string>();
        var seen = new HashSet<string>(windows ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        void AddIfDir(string p)
        {
            if (Directory.Exists(p) && seen.Add(Path.GetFullPath(p))) roots.Add(Path.GetFullPath(p));
        }
        void AddPrefix(string prefix)
        {
            // A Python installation or venv prefix: <prefix>/lib/python3.X/site-packages (Linux),
            // <prefix>\Lib\site-packages (Windows).
            if (windows)
            {
                AddIfDir(Path.Combine(prefix, "Lib", "site-packages"));
                return;
            }
            foreach (var lib in new[] { "lib", "lib64" })
            {
                var libDir = Path.Combine(prefix, lib);
                foreach (var py in SafeDirectories(libDir, "python3*"))
                {
                    AddIfDir(Path.Combine(py, "site-packages"));
                    AddIfDir(Path.Combine(py, "dist-packages"));
                }
            }
        }

        foreach (var d in SplitPathList(env(SitePackagesVariable), windows)) AddIfDir(d);
        foreach (var v in new[] { "VIRTUAL_ENV", "CONDA_PREFIX" })
        {
            var p = env(v);
            if (!string.IsNullOrWhiteSpace(p)) AddPrefix(p);
        }
        // The venv or installation of every python3 on PATH (bin/python3 → prefix = bin/..).
        foreach (var dir in SplitPathList(env("PATH"), windows))
        {
            var exe = windows ? "python.exe" : "python3";
            if (File.Exists(Path.Combine(dir, exe)))
            {
                var parent = Directory.GetParent(Path.GetFullPath(dir));
                if (parent is not null) AddPrefix(windows ? dir : parent.FullName);
            }
        }
        if (windows)
        {
            var local = env("LOCALAPPDATA");
            if (!string.IsNullOrEmpty(local))
                foreach (var py in SafeDirectories(Path.Combine(local, "Programs", "Python"), "Python3*")) AddPrefix(py);
            var roaming = env("APPDATA");
            if (!string.IsNullOrEmpty(roaming))
                foreach (var py in SafeDirectories(Path.Combine(roaming, "Python"), "Python3*")) AddIfDir(Path.Combine(py, "site-packages"));
            return roots;
        }
        if (!string.IsNullOrEmpty(homeDirectory)) AddPrefix(Path.Combine(homeDirectory, ".local"));
        AddPrefix("/usr/local");
        AddPrefix("/usr");
        AddIfDir("/usr/lib/python3/dist-packages");
        AddPrefix("/opt/conda");
        foreach (var opt in SafeDirectories("/opt", "*"))
        {
            AddPrefix(Path.Combine(opt, ".venv"));
            AddPrefix(Path.Combine(opt, "venv"));
        }
        return roots;
    }

    /// <summary>The library folders of NVIDIA's wheels under one site-packages: nvidia/*/lib (Linux), nvidia/*/bin and nvidia/*/bin/x86_64 (Windows).</summary>
    public static IEnumerable<string> WheelLibraryFolders(string sitePackages, bool windows)
    {
        var nvidia = Path.Combine(sitePackages, "nvidia");
        // cu13 (CUDA 13 wheels put every library there) first, then the per-package folders in name order.
        var packages = SafeDirectories(nvidia, "*")
            .OrderBy(d => Path.GetFileName(d).StartsWith("cu1", StringComparison.Ordinal) ? 0 : 1)
            .ThenByDescending(d => Path.GetFileName(d), StringComparer.Ordinal);
        foreach (var pkg in packages)
        {
            if (windows)
            {
                yield return Path.Combine(pkg, "bin");
                yield return Path.Combine(pkg, "bin", "x86_64");
            }
            else
            {
                yield return Path.Combine(pkg, "lib");
            }
        }
    }

    /// <summary>Splits a PATH-style list (':' on Linux, ';' on Windows), dropping empty entries.</summary>
    public static IEnumerable<string> SplitPathList(string? list, bool windows) =>
        string.IsNullOrWhiteSpace(list)
            ? Array.Empty<string>()
            : list.Split(windows ? ';' : ':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static IEnumerable<string> SafeDirectories(string dir, string pattern)
    {
        try
        {
            return Directory.Exists(dir) ? Directory.GetDirectories(dir, pattern).OrderBy(d => d, StringComparer.Ordinal).ToArray() : Array.Empty<string>();
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return Array.Empty<string>();
        }
    }

    /// <summary>The candidates for this process's OS and environment.</summary>
    public static IReadOnlyList<LibraryCandidate> CandidatesForThisProcess(CudaLibrary lib) =>
        Candidates(lib, OperatingSystem.IsWindows(), Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    /// <summary>True on the operating systems the CUDA backend supports (Linux and Windows, x64 or arm64).</summary>
    public static bool IsSupportedPlatform =>
        (OperatingSystem.IsLinux() || OperatingSystem.IsWindows()) && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;
}
