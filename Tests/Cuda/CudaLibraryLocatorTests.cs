using Vgg.Engine.Cuda.Native;

namespace Vgg.Engine.Tests.Cuda;

/// <summary>The library search order, on fake folder trees (no CUDA needed).</summary>
public class CudaLibraryLocatorTests
{
    private string _root = "";

    [SetUp]
    public void SetUp()
    {
        _root = Path.Combine(Path.GetTempPath(), "vgg-locator-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private string Touch(params string[] parts)
    {
        var p = Path.Combine(new[] { _root }.Concat(parts).ToArray());
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllBytes(p, Array.Empty<byte>());
        return p;
    }

    private static Func<string, string?> Env(params (string Key, string Value)[] vars)
    {
        var d = vars.ToDictionary(v => v.Key, v => v.Value);
        return k => d.TryGetValue(k, out var v) ? v : null;
    }

    [Test]
    public void StandardNamesComeFirstNewestMajorFirst()
    {
        var c = CudaLibraryLocator.Candidates(CudaLibrary.Nvrtc, windows: false, Env(), null);
        Assert.That(c.Take(3).Select(x => x.PathOrName), Is.EqualTo(new[] { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2" }));
        Assert.That(c[0].Source, Is.EqualTo("system"));
        Assert.That(c[0].IsPath, Is.False);
    }

    [Test]
    public void FileOverrideComesBeforeEverything()
    {
        var c = CudaLibraryLocator.Candidates(CudaLibrary.Cudnn, windows: false, Env(("VGG_CUDNN_LIB", "/opt/x/libcudnn.so.9")), null);
        Assert.That(c[0], Is.EqualTo(new LibraryCandidate("/opt/x/libcudnn.so.9", "VGG_CUDNN_LIB")));
        Assert.That(c[1].PathOrName, Is.EqualTo("libcudnn.so.9"));
    }

    [Test]
    public void FindsCuda13WheelsUnderAnExplicitSitePackages()
    {
        var site = Path.Combine(_root, "venv", "lib", "python3.12", "site-packages");
        var nvrtc = Touch("venv", "lib", "python3.12", "site-packages", "nvidia", "cu13", "lib", "libnvrtc.so.13");
        var cudnn = Touch("venv", "lib", "python3.12", "site-packages", "nvidia", "cudnn", "lib", "libcudnn.so.9");
        var env = Env(("VGG_PYTHON_SITE_PACKAGES", site));
        var n = CudaLibraryLocator.Candidates(CudaLibrary.Nvrtc, false, env, null);
        var hit = n.Single(x => x.IsPath && x.PathOrName.StartsWith(_root, StringComparison.Ordinal));
        Assert.That(hit.PathOrName, Is.EqualTo(nvrtc));
        Assert.That(hit.Source, Does.StartWith("python wheel"));
        var d = CudaLibraryLocator.Candidates(CudaLibrary.Cudnn, false, env, null);
        Assert.That(d.Select(x => x.PathOrName), Does.Contain(cudnn));
    }

    [Test]
    public void FindsCuda12WheelFoldersThroughVirtualEnvAndPythonOnPath()
    {
        var nvrtc12 = Touch("env1", "lib", "python3.11", "site-packages", "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.12");
        var cublas = Touch("env2", "lib", "python3.10", "site-packages", "nvidia", "cublas", "lib", "libcublas.so.12");
        Touch("env2", "bin", "python3");
        var env = Env(("VIRTUAL_ENV", Path.Combine(_root, "env1")), ("PATH", "/nonexistent:" + Path.Combine(_root, "env2", "bin")));
        Assert.That(CudaLibraryLocator.Candidates(CudaLibrary.Nvrtc, false, env, null).Select(x => x.PathOrName), Does.Contain(nvrtc12));
        Assert.That(CudaLibraryLocator.Candidates(CudaLibrary.Cublas, false, env, null).Select(x => x.PathOrName), Does.Contain(cublas));
    }

    [Test]
    public void HomeLocalSitePackagesIsSearched()
    {
        var lib = Touch("home", ".local", "lib", "python3.12", "site-packages", "nvidia", "cu13", "lib", "libcublasLt.so.13");
        var c = CudaLibraryLocator.Candidates(CudaLibrary.CublasLt, false, Env(), Path.Combine(_root, "home"));
        Assert.That(c.Select(x => x.PathOrName), Does.Contain(lib));
    }

    [Test]
    public void LibDirOverrideIsSearchedForTheStandardNames()
    {
        var lib = Touch("cuda", "lib64", "libnvrtc.so.11.2");
        var c = CudaLibraryLocator.Candidates(CudaLibrary.Nvrtc, false, Env(("VGG_CUDA_LIB_DIR", "/nope:" + Path.Combine(_root, "cuda", "lib64"))), null);
        var hit = c.Single(x => x.PathOrName == lib);
        Assert.That(hit.Source, Is.EqualTo("VGG_CUDA_LIB_DIR"));
        Assert.That(c.ToList().IndexOf(hit), Is.GreaterThan(c.ToList().FindIndex(x => x.PathOrName == "libnvrtc.so.11.2")), "system names before folders");
    }

    [Test]
    public void TheDriverIsNeverTakenFromAWheel()
    {
        var site = Path.Combine(_root, "site");
        Touch("site", "nvidia", "cu13", "lib", "libcuda.so.1");
        var c = CudaLibraryLocator.Candidates(CudaLibrary.Driver, false, Env(("VGG_PYTHON_SITE_PACKAGES", site)), null);
        Assert.That(c.Any(x => x.PathOrName.StartsWith(_root, StringComparison.Ordinal)), Is.False);
        Assert.That(c[0].PathOrName, Is.EqualTo("libcuda.so.1"));
    }

    [Test]
    public void WindowsNamesAndWheelBinFolders()
    {
        var dll = Touch("site", "nvidia", "cu13", "bin", "x86_64", "nvrtc64_130_0.dll");
        var c = CudaLibraryLocator.Candidates(CudaLibrary.Nvrtc, windows: true, Env(("VGG_PYTHON_SITE_PACKAGES", Path.Combine(_root, "site"))), null);
        Assert.That(c[0].PathOrName, Is.EqualTo("nvrtc64_130_0.dll"));
        Assert.That(c.Select(x => x.PathOrName), Does.Contain(dll));
        Assert.That(CudaLibraryLocator.StandardNames(CudaLibrary.Driver, true), Is.EqualTo(new[] { "nvcuda.dll" }));
    }

    [Test]
    public void PathListsSplitPerOperatingSystem()
    {
        Assert.That(CudaLibraryLocator.SplitPathList("/a::/b ", windows: false), Is.EqualTo(new[] { "/a", "/b" }));
        Assert.That(CudaLibraryLocator.SplitPathList(@"C:\a;D:\b", windows: true), Is.EqualTo(new[] { @"C:\a", @"D:\b" }));
        Assert.That(CudaLibraryLocator.SplitPathList(null, false), Is.Empty);
    }
}
