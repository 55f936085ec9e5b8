using System.Text.Json;
using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Loader;

/// <summary>
/// Fixtures written by real torch 1.13 (Tests/Fixtures/loader/make_loader_fixtures.py) decode to the
/// values that torch itself reported when writing them (expected.json). Values compare exactly: the
/// JSON holds each element as the double torch gave (float16/bfloat16 widened exactly).
/// </summary>
public class GeneratedFixtureTests
{
    private static readonly Lazy<JsonDocument> Expected = new(() =>
        JsonDocument.Parse(File.ReadAllText(TestData.Fixture("loader/expected.json"))));

    private static IEnumerable<string> Files() =>
        Expected.Value.RootElement.EnumerateObject().Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal);

    private static DType ParseDType(string s) => s switch
    {
        "float32" => DType.Float32, "float16" => DType.Float16, "bfloat16" => DType.BFloat16, "float64" => DType.Float64,
        "int64" => DType.Int64, "int32" => DType.Int32, "int16" => DType.Int16, "int8" => DType.Int8,
        "uint8" => DType.UInt8, "bool" => DType.Bool,
        _ => throw new ArgumentException(s),
    };

    private static double ParseValue(JsonElement v) => v.ValueKind == JsonValueKind.String
        ? v.GetString() switch { "nan" => double.NaN, "inf" => double.PositiveInfinity, "-inf" => double.NegativeInfinity, var s => throw new FormatException(s) }
        : v.GetDouble();

    [TestCaseSource(nameof(Files))]
    public void DecodesToTorchsValues(string file)
    {
        var e = Expected.Value.RootElement.GetProperty(file);
        var sd = WeightsFile.Read(TestData.Fixture("loader/" + file));
        Assert.That(sd.Format, Is.EqualTo(e.GetProperty("format").GetString()));
        var wrapper = e.GetProperty("wrapper");
        Assert.That(sd.WrapperKey, Is.EqualTo(wrapper.ValueKind == JsonValueKind.Null ? null : wrapper.GetString()));
        foreach (var ign in e.GetProperty("ignored").EnumerateArray())
            Assert.That(sd.IgnoredEntries, Has.Some.StartsWith(ign.GetString() + " ("), $"ignored entries: {string.Join(", ", sd.IgnoredEntries)}");
        var tensors = e.GetProperty("tensors");
        Assert.That(sd.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray(),
            Is.EqualTo(tensors.EnumerateObject().Select(p => p.Name).OrderBy(k => k, StringComparer.Ordinal).ToArray()), "key set");
        foreach (var p in tensors.EnumerateObject())
        {
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var values = p.Value.GetProperty("values").EnumerateArray().Select(ParseValue).ToArray();
            LoaderAssert.Tensor(sd, p.Name, ParseDType(p.Value.GetProperty("dtype").GetString()!), shape, values, atol: 0);
        }
    }

    [Test]
    public void KeysKeepFileOrder()
    {
        var sd = WeightsFile.Read(TestData.Fixture("loader/dtypes_zip.pt"));
        Assert.That(sd.Keys.ToArray(), Is.EqualTo(new[]
        {
            "float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool", "scalar", "empty", "matrix_f16",
        }));
    }

    [Test]
    public void DataParallelPrefixIsKeptForTheBinder()
    {
        var sd = WeightsFile.Read(TestData.Fixture("loader/dataparallel.pt"));
        Assert.That(sd.Keys, Is.Not.Empty.And.All.StartsWith("module."));
        Assert.That(sd.ContainsKey("module.conv.weight"), Is.True);
    }

    [Test]
    public void SharedStorageViewsAreIndependentCopies()
    {
        // "all" may take the storage buffer itself; every view must still hold its own values.
        var sd = WeightsFile.Read(TestData.Fixture("loader/shared_zip.pt"));
        var all = sd["all"].ToFloatArray();
        var slice = sd["slice"];
        slice.AsSpan<float>()[0] = 1234.5f;
        Assert.That(sd["all"].ToFloatArray(), Is.EqualTo(all), "writing a view's copy must not change another tensor");
        Assert.That(sd["block"].ToFloatArray(), Is.EqualTo(new[] { all[6], all[7], all[11], all[12], all[16], all[17] }));
    }

    [Test]
    public void WrapperKeyIsLogged()
    {
        var log = new LoaderAssert.ListLogger();
        var sd = WeightsFile.Read(TestData.Fixture("loader/wrap_net.pt"), log);
        Assert.That(sd.WrapperKey, Is.EqualTo("net"));
        Assert.That(log.Lines, Has.Some.Contains("'net'"));
        Assert.That(sd.Keys.Any(k => k.StartsWith("optimizer", StringComparison.Ordinal)), Is.False);
    }
}
