using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Loader;

/// <summary>The real trained checkpoints of SOURCES.md 5a and 5b.</summary>
public class RealCheckpointTests
{
    /// <summary>
    /// Each real checkpoint decodes bit for bit as torch.load (.pt/.pth) and a plain numpy parse
    /// (.safetensors) decode it: SHA-256 of every tensor's contiguous bytes, computed by
    /// make_loader_fixtures.py into real_checkpoint_digests.json.
    /// </summary>
    [TestCase("mnist-cnn/mnist.pt", "pytorch-zip")]
    [TestCase("mnist-cnn/mnist.safetensors", "safetensors")]
    [TestCase("tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth", "pytorch-zip")]
    public void MatchesTorchBitForBit(string rel, string format)
    {
        var sd = WeightsFile.Read(TestData.Require("checkpoints/" + rel));
        Assert.That(sd.Format, Is.EqualTo(format));
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestData.Fixture("loader/real_checkpoint_digests.json")));
        var want = doc.RootElement.GetProperty(rel);
        Assert.That(sd.Keys.Order(StringComparer.Ordinal), Is.EqualTo(want.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)));
        foreach (var p in want.EnumerateObject())
        {
            var t = sd[p.Name];
            Assert.That(t.DType.Name(), Is.EqualTo(p.Value.GetProperty("dtype").GetString()), p.Name);
            Assert.That(t.Shape, Is.EqualTo(p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray()), p.Name);
            var sha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(t.Bytes)).ToLowerInvariant();
            Assert.That(sha, Is.EqualTo(p.Value.GetProperty("sha256").GetString()), $"'{p.Name}' {t}: bytes differ from torch's");
        }
    }

    /// <summary>
    /// mnist.pt and mnist.safetensors load with the same keys, dtypes and shapes. Their values are NOT the
    /// same: torch.load itself gives different numbers for every tensor of the two files (for example
    /// norm1.num_batches_tracked is 3752 in the .pt and 7504 in the .safetensors), so the shared files come
    /// from two different training runs despite SOURCES.md 5b; bit-exactness is checked per file above.
    /// </summary>
    [Test]
    public void MnistPtAndSafetensorsHaveTheSameKeysDtypesAndShapes()
    {
        var pt = WeightsFile.Read(TestData.Require("checkpoints/mnist-cnn/mnist.pt"));
        var st = WeightsFile.Read(TestData.Require("checkpoints/mnist-cnn/mnist.safetensors"));
        Assert.That(st.Keys.Order(StringComparer.Ordinal), Is.EqualTo(pt.Keys.Order(StringComparer.Ordinal)));
        foreach (var key in pt.Keys)
        {
            Assert.That(st[key].DType, Is.EqualTo(pt[key].DType), key);
            Assert.That(st[key].Shape, Is.EqualTo(pt[key].Shape), key);
        }
    }

    [Test]
    public void MnistHasTheListedKeysAndShapes()
    {
        var sd = WeightsFile.Read(TestData.Require("checkpoints/mnist-cnn/mnist.pt"));
        var expected = new (string key, int[] shape)[]
        {
            ("conv1.weight", new[] { 8, 1, 3, 3 }), ("conv1.bias", new[] { 8 }),
            ("conv2.weight", new[] { 16, 8, 3, 3 }), ("conv2.bias", new[] { 16 }),
            ("conv3.weight", new[] { 24, 16, 3, 3 }), ("conv3.bias", new[] { 24 }),
            ("norm1.weight", new[] { 24 }), ("norm1.bias", new[] { 24 }), ("norm1.running_mean", new[] { 24 }), ("norm1.running_var", new[] { 24 }),
            ("fc1.weight", new[] { 32, 11616 }), ("fc1.bias", new[] { 32 }),
            ("fc2.weight", new[] { 10, 32 }), ("fc2.bias", new[] { 10 }),
            ("norm2.weight", new[] { 10 }), ("norm2.bias", new[] { 10 }), ("norm2.running_mean", new[] { 10 }), ("norm2.running_var", new[] { 10 }),
        };
        foreach (var (key, shape) in expected)
            LoaderAssert.Tensor(sd, key, DType.Float32, shape, null, 0);
        LoaderAssert.Tensor(sd, "norm1.num_batches_tracked", DType.Int64, Array.Empty<int>(), null, 0);
        LoaderAssert.Tensor(sd, "norm2.num_batches_tracked", DType.Int64, Array.Empty<int>(), null, 0);
        Assert.That(sd.Count, Is.EqualTo(expected.Length + 2));
        // Trained weights: not all zero, and finite.
        var w = sd["fc1.weight"].ToFloatArray();
        Assert.That(w.All(float.IsFinite), Is.True);
        Assert.That(w.Count(v => v != 0), Is.GreaterThan(w.Length / 2));
    }

    [Test]
    public void TinyVggLoadsWithTheListedKeys()
    {
        var sd = WeightsFile.Read(TestData.Require("checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth"));
        Assert.That(sd.Format, Is.EqualTo("pytorch-zip"));
        Assert.That(sd.WrapperKey, Is.Null);
        var expected = new (string key, int[] shape)[]
        {
            ("conv_block_1.0.weight", new[] { 10, 3, 3, 3 }), ("conv_block_1.0.bias", new[] { 10 }),
            ("conv_block_1.2.weight", new[] { 10, 10, 3, 3 }), ("conv_block_1.2.bias", new[] { 10 }),
            ("conv_block_2.0.weight", new[] { 10, 10, 3, 3 }), ("conv_block_2.0.bias", new[] { 10 }),
            ("conv_block_2.2.weight", new[] { 10, 10, 3, 3 }), ("conv_block_2.2.bias", new[] { 10 }),
            ("classifier.1.weight", new[] { 3, 1690 }), ("classifier.1.bias", new[] { 3 }),
        };
        Assert.That(sd.Keys.ToArray(), Is.EqualTo(expected.Select(e => e.key).ToArray()), "keys in file order");
        foreach (var (key, shape) in expected)
            LoaderAssert.Tensor(sd, key, DType.Float32, shape, null, 0);
        // state_dict() is an OrderedDict with a _metadata attribute, which is listed as ignored.
        Assert.That(sd.IgnoredEntries, Does.Contain("_metadata"));
    }

    [Test]
    public void LogSaysFormatAndCount()
    {
        var log = new LoaderAssert.ListLogger();
        WeightsFile.Read(TestData.Require("checkpoints/pt-format/checkpoint.pt"), log);
        Assert.That(log.Lines, Has.Some.Contains("'model_state_dict'"));
        Assert.That(log.Lines, Has.Some.Contains("pytorch-zip, 4 tensors"));
    }
}
