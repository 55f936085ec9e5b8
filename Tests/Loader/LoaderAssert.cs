using System.IO.Compression;
using System.Text;
using Microsoft.Extensions.Logging;
using Vgg.Engine.Models;

namespace Vgg.Engine.Tests.Loader;

/// <summary>Comparisons and builders shared by the loader tests.</summary>
internal static class LoaderAssert
{
    /// <summary>
    /// Asserts dtype, shape and values. Floating values: |a − ref| ≤ atol (NaN matches NaN, ±Inf match
    /// exactly); integers and bools: exact. A failure prints the key, shape, worst index and the values.
    /// </summary>
    public static void Tensor(StateDict sd, string key, DType dtype, int[] shape, double[]? values, double atol)
    {
        Assert.That(sd.ContainsKey(key), Is.True, $"key '{key}' missing; keys: {string.Join(", ", sd.Keys)}");
        var t = sd[key];
        Assert.That(t.DType, Is.EqualTo(dtype), $"'{key}' dtype");
        Assert.That(t.Shape, Is.EqualTo(shape), $"'{key}' shape");
        if (values is null) return;
        Assert.That(t.ElementCount, Is.EqualTo(values.Length), $"'{key}' element count");
        int worst = -1;
        double worstErr = 0;
        for (int i = 0; i < values.Length; i++)
        {
            double a = t.GetDouble(i), r = values[i];
            double err = double.IsNaN(r) ? (double.IsNaN(a) ? 0 : double.PositiveInfinity)
                : double.IsInfinity(r) ? (a == r ? 0 : double.PositiveInfinity)
                : Math.Abs(a - r);
            if (err > atol && (worst < 0 || err > worstErr)) { worst = i; worstErr = err; }
        }
        if (worst >= 0)
        {
            var pairs = string.Join(", ", Enumerable.Range(0, Math.Min(6, values.Length)).Select(i => $"({t.GetDouble(i):R} vs {values[i]:R})"));
            Assert.Fail($"'{key}' {t}: worst index {worst}: got {t.GetDouble(worst):R}, expected {values[worst]:R} (|err| {worstErr:G3} > atol {atol:G3}); first pairs {pairs}");
        }
    }

    /// <summary>A zip laid out like torch.save's, with the given data.pkl and extra entries.</summary>
    public static byte[] TorchZip(string archive, byte[] dataPkl, params (string name, byte[] data)[] extra)
    {
        using var ms = new MemoryStream();
        using (var z = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] data)
            {
                var e = z.CreateEntry(name, CompressionLevel.NoCompression);
                using var s = e.Open();
                s.Write(data);
            }
            Add(archive + "/data.pkl", dataPkl);
            Add(archive + "/version", Encoding.ASCII.GetBytes("3\n"));
            foreach (var (name, data) in extra) Add(name, data);
        }
        return ms.ToArray();
    }

    /// <summary>A temporary folder removed at dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public TempDir() => Path = Directory.CreateDirectory(System.IO.Path.Combine(System.IO.Path.GetTempPath(), "vgg-loader-" + Guid.NewGuid().ToString("N"))).FullName;
        public string Path { get; }
        public string File(string name, byte[] content)
        {
            var p = System.IO.Path.Combine(Path, name);
            System.IO.File.WriteAllBytes(p, content);
            return p;
        }
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Collects formatted log lines.</summary>
    public sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
