using System.Text.Json;
using Microsoft.Extensions.Logging;
using Vgg.Engine.Models;

namespace Vgg.Engine.Tests.Models;

/// <summary>Helpers for the model tests: state dicts from (key, shape) lists, the torchvision key fixture, a list logger.</summary>
internal static class ModelTestUtil
{
    /// <summary>One torchvision model's entry in Tests/Fixtures/models/vgg_keys.json.</summary>
    public sealed record TorchvisionEntry(string Id, string Arch, int NumClasses, long Parameters, (string Key, int[] Shape, string DType)[] Keys, string[] Modules);

    private static readonly Lazy<TorchvisionEntry[]> Entries = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Common.TestData.Fixture("models/vgg_keys.json")));
        return doc.RootElement.GetProperty("models").EnumerateObject().Select(m => new TorchvisionEntry(
            m.Name,
            m.Value.GetProperty("arch").GetString()!,
            m.Value.GetProperty("num_classes").GetInt32(),
            m.Value.GetProperty("parameters").GetInt64(),
            m.Value.GetProperty("keys").EnumerateArray().Select(k => (k[0].GetString()!, k[1].EnumerateArray().Select(d => d.GetInt32()).ToArray(), k[2].GetString()!)).ToArray(),
            m.Value.GetProperty("modules").EnumerateArray().Select(x => x.GetString()!).ToArray())).ToArray();
    });

    public static TorchvisionEntry[] TorchvisionModels => Entries.Value;

    public static IEnumerable<TestCaseData> TorchvisionCases() =>
        new[] { "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn" }
            .SelectMany(a => new[] { 1000, 10 }.Select(n => new TestCaseData(a, n).SetName($"{a} num_classes={n}")));

    public static TorchvisionEntry Torchvision(string arch, int numClasses) =>
        TorchvisionModels.Single(e => e.Arch == arch && e.NumClasses == numClasses);

    /// <summary>
    /// A state dict with a float32 tensor per key, filled from <see cref="SeededRandom"/> N(0, 1) keyed by
    /// (seed, key); int64 scalars for num_batches_tracked.
    /// </summary>
    public static StateDict MakeStateDict(IEnumerable<(string Key, int[] Shape)> entries, int seed = 7, string? path = "test.pth")
    {
        var sd = new StateDict(path, "memory");
        foreach (var (k, s) in entries)
        {
            if (k.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            {
                sd.Add(k, Tensor.FromSpan<long>(new long[] { 3 }, Array.Empty<int>()));
                continue;
            }
            var t = new Tensor(DType.Float32, s);
            SeededRandom.ForTensor(seed, k).FillNormal(t, 0, 1);
            if (k.EndsWith("running_var", StringComparison.Ordinal))
                foreach (ref var v in t.AsSpan<float>()) v = Math.Abs(v) + 0.5f;
            sd.Add(k, t);
        }
        return sd;
    }

    /// <summary>A state dict holding the network's parameters (random values).</summary>
    public static StateDict MakeStateDict(Network net, int seed = 7, Func<string, string>? rename = null, string? path = "test.pth") =>
        MakeStateDict(net.Parameters.Select(p => (rename?.Invoke(p.Key) ?? p.Key, p.Shape)), seed, path);

    /// <summary>A VGG-style network: cfg with tiny widths, torchvision numbering, a small head.</summary>
    public static Network TinyVggStyle(bool bn, int[]? layout = null, int hidden = 16, int classes = 5, int pool = 7)
    {
        layout ??= new[] { 4, 4, TorchvisionVgg.M, 8, 8, TorchvisionVgg.M, 8, 8, 8, TorchvisionVgg.M, 8, 8, 8, TorchvisionVgg.M, 8, 8, 8, TorchvisionVgg.M };
        var items = layout.Select(v => v == TorchvisionVgg.M ? (VggFeature)new VggPool() : new VggConv(v, 3, 3, bn, true));
        var layers = TorchvisionVgg.FeatureLayers(items, 3, out int c);
        layers.Add(new AdaptiveAvgPool2dLayer("avgpool", pool, pool));
        layers.Add(new FlattenLayer("flatten"));
        layers.Add(new LinearLayer("classifier.0", c * pool * pool, hidden));
        layers.Add(new ReluLayer("classifier.1"));
        layers.Add(new DropoutLayer("classifier.2"));
        layers.Add(new LinearLayer("classifier.3", hidden, hidden));
        layers.Add(new ReluLayer("classifier.4"));
        layers.Add(new DropoutLayer("classifier.5"));
        layers.Add(new LinearLayer("classifier.6", hidden, classes));
        return new Network("tiny-vgg-style", 3, -1, -1, layers);
    }
}

/// <summary>An ILogger that keeps every message with its level.</summary>
internal sealed class ListLogger : ILogger
{
    public List<(LogLevel Level, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Entries) Entries.Add((logLevel, formatter(state, exception)));
    }
}
