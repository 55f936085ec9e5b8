using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>
/// A minimal NVRTC binding for the simulator tests: CUDA C → PTX for compute_80, so the simulator is
/// tested on real NVRTC output. Temporary: the CUDA backend's own NVRTC bindings replace it once they
/// are on main. Tests call <see cref="CompileOrIgnore"/>, which ignores the test with
/// "ignored: NVRTC not found" where libnvrtc cannot be loaded.
/// </summary>
internal static unsafe class NvrtcForTests
{
    private static readonly string[] Candidates =
    [
        "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so",
        "nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll",
    ];

    private static readonly Lazy<Api?> Lib = new(Load);
    private static readonly ConcurrentDictionary<string, string> Cache = new();

    private sealed class Api
    {
        public delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int> Create;
        public delegate* unmanaged<nint, int, byte**, int> Compile;
        public delegate* unmanaged<nint, nuint*, int> LogSize;
        public delegate* unmanaged<nint, byte*, int> Log;
        public delegate* unmanaged<nint, nuint*, int> PtxSize;
        public delegate* unmanaged<nint, byte*, int> Ptx;
        public delegate* unmanaged<nint*, int> Destroy;
        public string Name = "";
    }

    private static Api? Load()
    {
        var env = Environment.GetEnvironmentVariable("VGG_NVRTC");
        foreach (var name in env is null ? Candidates : [env, .. Candidates])
        {
            if (!NativeLibrary.TryLoad(name, out var h)) continue;
            try
            {
                return new Api
                {
                    Create = (delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int>)NativeLibrary.GetExport(h, "nvrtcCreateProgram"),
                    Compile = (delegate* unmanaged<nint, int, byte**, int>)NativeLibrary.GetExport(h, "nvrtcCompileProgram"),
                    LogSize = (delegate* unmanaged<nint, nuint*, int>)NativeLibrary.GetExport(h, "nvrtcGetProgramLogSize"),
                    Log = (delegate* unmanaged<nint, byte*, int>)NativeLibrary.GetExport(h, "nvrtcGetProgramLog"),
                    PtxSize = (delegate* unmanaged<nint, nuint*, int>)NativeLibrary.GetExport(h, "nvrtcGetPTXSize"),
                    Ptx = (delegate* unmanaged<nint, byte*, int>)NativeLibrary.GetExport(h, "nvrtcGetPTX"),
                    Destroy = (delegate* unmanaged<nint*, int>)NativeLibrary.GetExport(h, "nvrtcDestroyProgram"),
                    Name = name,
                };
            }
            catch (EntryPointNotFoundException)
            {
                NativeLibrary.Free(h);
            }
        }
        return null;
    }

    public static bool Available => Lib.Value is not null;

    /// <summary>PTX for <paramref name="source"/> (compute_80 unless options say otherwise); ignores the test when NVRTC is absent.</summary>
    public static string CompileOrIgnore(string source, string name = "kernel.cu", IReadOnlyDictionary<string, string>? headers = null, params string[] extraOptions)
    {
        if (!Available) Assert.Ignore("ignored: NVRTC not found (libnvrtc.so.11.2/.12/.13 or VGG_NVRTC)");
        var options = new List<string> { "--gpu-architecture=compute_80", "--std=c++17" };
        options.AddRange(extraOptions);
        var key = source + "\0" + string.Join("\0", options) + "\0" + string.Join("\0", headers?.Select(h => h.Key + "=" + h.Value) ?? []);
        return Cache.GetOrAdd(key, _ => Compile(source, name, headers, options));
    }

    private static string Compile(string source, string name, IReadOnlyDictionary<string, string>? headers, List<string> options)
    {
        var api = Lib.Value!;
        var handles = new List<GCHandle>();
        byte* Utf8(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s + "\0");
            var h = GCHandle.Alloc(bytes, GCHandleType.Pinned);
            handles.Add(h);
            return (byte*)h.AddrOfPinnedObject();
        }
        try
        {
            int nh = headers?.Count ?? 0;
            var hsrc = stackalloc byte*[Math.Max(nh, 1)];
            var hname = stackalloc byte*[Math.Max(nh, 1)];
            int k = 0;
            if (headers is not null)
                foreach (var (hn, hs) in headers) { hname[k] = Utf8(hn); hsrc[k] = Utf8(hs); k++; }
            nint prog;
            Check(api.Create(&prog, Utf8(source), Utf8(name), nh, hsrc, hname), "nvrtcCreateProgram");
            try
            {
                var opts = stackalloc byte*[options.Count];
                for (int i = 0; i < options.Count; i++) opts[i] = Utf8(options[i]);
                int rc = api.Compile(prog, options.Count, opts);
                nuint logSize;
                api.LogSize(prog, &logSize);
                var log = new byte[(int)logSize];
                fixed (byte* lp = log) api.Log(prog, lp);
                if (rc != 0)
                    throw new InvalidOperationException($"NVRTC ({api.Name}) failed to compile {name} (result {rc}):\n{Encoding.UTF8.GetString(log).TrimEnd('\0')}");
                nuint size;
                Check(api.PtxSize(prog, &size), "nvrtcGetPTXSize");
                var ptx = new byte[(int)size];
                fixed (byte* pp = ptx) Check(api.Ptx(prog, pp), "nvrtcGetPTX");
                return Encoding.UTF8.GetString(ptx).TrimEnd('\0');
            }
            finally
            {
                api.Destroy(&prog);
            }
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
    }

    private static void Check(int rc, string call)
    {
        if (rc != 0) throw new InvalidOperationException($"{call} failed with NVRTC result {rc}");
    }
}
