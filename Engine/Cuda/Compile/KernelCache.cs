using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Vgg.Engine.Cuda.Compile;

/// <summary>
/// The on-disk cache of compiled kernels. One entry per (source text with every header, options,
/// architecture, NVRTC version): <c>&lt;key&gt;.bin</c> holds the CUBIN or PTX, <c>&lt;key&gt;.json</c> the
/// log and compile time. Entries are written to a temporary file and renamed, so concurrent processes
/// never read half an entry. A cache folder that cannot be written just means no caching.
/// </summary>
public sealed partial class KernelCache
{
    /// <summary>Environment variable that overrides the folder.</summary>
    public const string DirectoryVariable = "VGG_KERNEL_CACHE_DIR";

    private const int FormatVersion = 1;

    public KernelCache(string directory) => Directory = directory;

    /// <summary>The cache folder.</summary>
    public string Directory { get; }

    /// <summary>
    /// The default cache: <c>$VGG_KERNEL_CACHE_DIR</c>, else the user's cache folder
    /// (<c>$XDG_CACHE_HOME</c> or <c>~/.cache</c> on Linux, LocalApplicationData on Windows) + <c>vgg-engine/kernels</c>.
    /// </summary>
    public static KernelCache Default()
    {
        var env = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrWhiteSpace(env)) return new KernelCache(env);
        string root;
        if (OperatingSystem.IsWindows())
            root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        else
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            root = !string.IsNullOrWhiteSpace(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        }
        if (string.IsNullOrEmpty(root)) root = Path.GetTempPath();
        return new KernelCache(Path.Combine(root, "vgg-engine", "kernels"));
    }

    /// <summary>The cache key: SHA-256 over everything that changes the output.</summary>
    public static string Key(string source, string text, IEnumerable<(string Name, string Text)> headers, IEnumerable<string> options, CompileTarget target, string nvrtcVersion)
    {
        var sb = new StringBuilder();
        sb.Append("format=").Append(FormatVersion).Append('\n');
        sb.Append("source=").Append(source).Append('\n').Append(text).Append('\n');
        foreach (var (n, t) in headers.OrderBy(h => h.Name, StringComparer.Ordinal)) sb.Append("header=").Append(n).Append('\n').Append(t).Append('\n');
        foreach (var o in options) sb.Append("option=").Append(o).Append('\n');
        sb.Append("target=").Append(target.ArchName).Append('\n');
        sb.Append("nvrtc=").Append(nvrtcVersion).Append('\n');
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString()))).ToLowerInvariant();
    }

    internal sealed record Meta(int Format, string Source, string Target, string Nvrtc, string Log, double CompileMilliseconds, string[] Options, string Sha256);

    internal CompiledSource? TryRead(string key, string source, CompileTarget target, string nvrtcVersion, IReadOnlyList<string> options)
    {
        try
        {
            var bin = Path.Combine(Directory, key + ".bin");
            var json = Path.Combine(Directory, key + ".json");
            if (!File.Exists(bin) || !File.Exists(json)) return null;
            var meta = JsonSerializer.Deserialize(File.ReadAllText(json), KernelCacheJson.Default.Meta);
            if (meta is null || meta.Format != FormatVersion || meta.Source != source || meta.Target != target.ArchName || meta.Nvrtc != nvrtcVersion) return null;
            var image = File.ReadAllBytes(bin);
            if (Convert.ToHexString(SHA256.HashData(image)).ToLowerInvariant() != meta.Sha256) return null; // torn or tampered: recompile
            return new CompiledSource(source, target, image, meta.Log, meta.CompileMilliseconds, true, nvrtcVersion, options);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    internal void Write(string key, CompiledSource compiled)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            var meta = new Meta(FormatVersion, compiled.Source, compiled.Target.ArchName, compiled.NvrtcVersion, compiled.Log, compiled.CompileMilliseconds,
                compiled.Options.ToArray(), Convert.ToHexString(SHA256.HashData(compiled.Image)).ToLowerInvariant());
            WriteAtomically(Path.Combine(Directory, key + ".bin"), compiled.Image);
            WriteAtomically(Path.Combine(Directory, key + ".json"), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(meta, KernelCacheJson.Default.Meta)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not writable: run without a cache.
        }
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        var tmp = path + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }

    [System.Text.Json.Serialization.JsonSerializable(typeof(Meta))]
    internal sealed partial class KernelCacheJson : System.Text.Json.Serialization.JsonSerializerContext
    {
    }
}
