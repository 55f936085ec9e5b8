using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Loader;

/// <summary>
/// The container edge cases in ../shared/testdata/checkpoints/pt-format decode to the values listed in
/// SOURCES.md section 5c (written there rounded to 5 decimals: atol 5.1e-6; exact for integers, bools
/// and values listed exactly).
/// </summary>
public class PtFormatTests
{
    private const double Dec5 = 5.1e-6;

    private sealed record T(string Key, DType DType, int[] Shape, double[]? Values = null);

    private sealed record Case(string File, string Format, T[] Tensors, string? Wrapper = null)
    {
        public override string ToString() => File;
    }

    private static double[] Fill(int n, double v) => Enumerable.Repeat(v, n).ToArray();

    private static IEnumerable<Case> Cases()
    {
        const DType F = DType.Float32;
        yield return new("batch_norm2d.pt", "pytorch-zip", new T[]
        {
            new("norm1.weight", F, new[] { 5 }, Fill(5, 1.0)),
            new("norm1.bias", F, new[] { 5 }, Fill(5, 0.0)),
            new("norm1.running_mean", F, new[] { 5 }, Fill(5, 0.05)),
            new("norm1.running_var", F, new[] { 5 }, Fill(5, 0.9)),
            new("norm1.num_batches_tracked", DType.Int64, Array.Empty<int>(), new[] { 1.0 }),
        });
        yield return new("bfloat16.pt", "pytorch-zip", new T[] { new("tensor", DType.BFloat16, new[] { 3 }, new[] { 1.5, -2.5, 3.5 }) });
        yield return new("bool.pt", "pytorch-zip", new T[] { new("tensor", DType.Bool, new[] { 5 }, new[] { 1.0, 0, 1, 1, 0 }) });
        yield return new("buffers.pt", "pytorch-zip", new T[]
        {
            new("buffer1", DType.Int32, new[] { 3 }, new[] { 1.0, 2, 3 }),
            new("buffer2", DType.Bool, new[] { 2 }, new[] { 1.0, 0 }),
        });
        yield return new("checkpoint.pt", "pytorch-zip", new T[]
        {
            new("fc1.weight", F, new[] { 10, 5 }),
            new("fc1.bias", F, new[] { 10 }, new[] { -0.09089, -0.57905, -0.85046, 0.08587, 0.18609, 0.67565, 0.13126, 0.01816, -2.24983, 2.10103 }),
            new("fc2.weight", F, new[] { 3, 10 }),
            new("fc2.bias", F, new[] { 3 }, new[] { 1.43713, -0.44006, 0.49959 }),
        }, Wrapper: "model_state_dict");
        yield return new("complex_nested.pt", "pytorch-zip", new T[]
        {
            new("conv_blocks.0.conv.weight", F, new[] { 4, 2, 3, 2 }),
            new("conv_blocks.0.conv.bias", F, new[] { 4 }, new[] { 0.03057, 0.02204, 0.15404, 0.19392 }),
            new("conv_blocks.0.norm.weight", F, new[] { 4 }, Fill(4, 1.0)),
            new("conv_blocks.0.norm.bias", F, new[] { 4 }, Fill(4, 0.0)),
            new("conv_blocks.0.norm.running_mean", F, new[] { 4 }, new[] { -0.0161, 0.05094, -0.08256, 0.03765 }),
            new("conv_blocks.0.norm.running_var", F, new[] { 4 }, Fill(4, 0.81)),
            new("conv_blocks.0.norm.num_batches_tracked", DType.Int64, Array.Empty<int>(), new[] { 2.0 }),
            new("conv_blocks.1.conv.weight", F, new[] { 6, 4, 3, 2 }),
            new("conv_blocks.1.conv.bias", F, new[] { 6 }, new[] { 0.05803, -0.11064, 0.08286, 0.15611, -0.13469, -0.12733 }),
            new("conv_blocks.1.norm.weight", F, new[] { 6 }, Fill(6, 1.0)),
            new("conv_blocks.1.norm.bias", F, new[] { 6 }, Fill(6, 0.0)),
            new("conv_blocks.1.norm.running_mean", F, new[] { 6 }, new[] { 0.01103, -0.02102, 0.01574, 0.02966, -0.02559, -0.02419 }),
            new("conv_blocks.1.norm.running_var", F, new[] { 6 }, Fill(6, 0.81)),
            new("conv_blocks.1.norm.num_batches_tracked", DType.Int64, Array.Empty<int>(), new[] { 2.0 }),
            new("norm1.weight", F, new[] { 6 }, Fill(6, 1.0)),
            new("norm1.bias", F, new[] { 6 }, Fill(6, 0.0)),
            new("norm1.running_mean", F, new[] { 6 }, Fill(6, 0.0)),
            new("norm1.running_var", F, new[] { 6 }, Fill(6, 0.81)),
            new("norm1.num_batches_tracked", DType.Int64, Array.Empty<int>(), new[] { 2.0 }),
            new("fc1.weight", F, new[] { 12, 120 }),
            new("fc1.bias", F, new[] { 12 }, new[] { 0.00529, 0.06407, 0.08798, 0.04166, -0.09094, -0.01638, -0.07999, -1e-05, -0.03576, 0.02415, -0.06105, -0.0485 }),
            new("fc2.weight", F, new[] { 10, 12 }),
            new("fc2.bias", F, new[] { 10 }, new[] { -0.07285, 0.22528, -0.07171, -0.10383, -0.10409, -0.1518, 0.10382, -0.1132, -0.28438, -0.03183 }),
        });
        yield return new("conv2d.pt", "pytorch-zip", new T[]
        {
            new("conv1.weight", F, new[] { 2, 2, 2, 2 }),
            new("conv1.bias", F, new[] { 2 }, new[] { 0.05125, -0.00141 }),
            new("conv2.weight", F, new[] { 2, 2, 2, 2 }),
        });
        yield return new("empty.pt", "pytorch-zip", new T[] { new("tensor", F, new[] { 0 }, Array.Empty<double>()) });
        yield return new("float16.pt", "pytorch-zip", new T[] { new("tensor", DType.Float16, new[] { 3 }, new[] { 1.5, -2.25, 3.125 }) });
        yield return new("float32.pt", "pytorch-zip", new T[] { new("tensor", F, new[] { 4 }, new[] { 1.0, 2.5, (double)-3.7f, 0.0 }) });
        yield return new("float64.pt", "pytorch-zip", new T[] { new("tensor", DType.Float64, new[] { 3 }, new[] { 1.1, 2.2, 3.3 }) });
        yield return new("int64.pt", "pytorch-zip", new T[] { new("tensor", DType.Int64, new[] { 4 }, new[] { 100.0, -200, 300, 0 }) });
        yield return new("int8.pt", "pytorch-zip", new T[] { new("tensor", DType.Int8, new[] { 4 }, new[] { 127.0, -128, 0, 50 }) });
        yield return new("legacy_with_offsets.pt", "pytorch-legacy", new T[]
        {
            new("tensor1", F, new[] { 10 }, Enumerable.Range(0, 10).Select(i => 1.0 + 0.01 * i).ToArray()),
            new("tensor2", F, new[] { 5 }, new[] { 2.0, 2.1, 2.2, 2.3, 2.4 }),
            new("tensor3", F, new[] { 5 }, new[] { 3.0, 3.1, 3.2, 3.3, 3.4 }),
        });
        yield return new("linear_with_bias.pt", "pytorch-zip", new T[]
        {
            new("fc1.weight", F, new[] { 3, 2 }, new[] { -0.42707, -0.11852, -0.305, -0.22659, 0.03386, 0.42153 }),
            new("fc1.bias", F, new[] { 3 }, new[] { 0.38434, -0.69123, 0.43835 }),
        });
        yield return new("multi_layer.safetensors", "safetensors", new T[]
        {
            new("conv1.weight", F, new[] { 4, 3, 3, 3 }),
            new("conv1.bias", F, new[] { 4 }),
            new("norm1.weight", F, new[] { 4 }),
            new("norm1.bias", F, new[] { 4 }),
            new("norm1.running_mean", F, new[] { 4 }),
            new("norm1.running_var", F, new[] { 4 }),
            new("norm1.num_batches_tracked", DType.Int64, Array.Empty<int>()),
            new("fc1.weight", F, new[] { 16, 256 }),
            new("fc1.bias", F, new[] { 16 }),
        });
        yield return new("nested_dict.pt", "pytorch-zip", new T[]
        {
            new("layer1.weight", F, new[] { 2, 3 }, new[] { 0.01915, 0.10517, 0.96034, -0.56718, -0.57065, 1.59804 }),
            new("layer1.bias", F, new[] { 2 }, new[] { 0.11149, -0.0392 }),
            new("layer2.weight", F, new[] { 4, 2 }, new[] { 1.41115, -0.65561, 0.85761, -1.62702, -1.39514, -0.23872, -0.50499, -2.47516 }),
            new("layer2.bias", F, new[] { 4 }, new[] { -0.9316, -0.13349, 0.34149, -0.07157 }),
        });
        yield return new("parameter.pt", "pytorch-zip", new T[]
        {
            new("param", F, new[] { 3, 3 }, new[] { 1.02491, 0.22232, -0.73807, -0.92583, -1.35165, 1.06515, 0.19968, -0.7579, -0.89659 }),
        });
        yield return new("scalar.pt", "pytorch-zip", new T[] { new("tensor", F, Array.Empty<int>(), new[] { 42.0 }) });
        yield return new("simple_legacy.pt", "pytorch-legacy", new T[]
        {
            new("weight", F, new[] { 2, 3 }),
            new("bias", F, new[] { 2 }, new[] { 1.0, 1.0 }),
            new("running_mean", F, new[] { 2 }, new[] { 0.0, 0.0 }),
        });
        yield return new("special_values.pt", "pytorch-zip", new T[]
        {
            new("tensor", F, new[] { 5 }, new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.0, 1.0 }),
        });
        yield return new("state_dict.pt", "pytorch-zip", new T[]
        {
            new("weight", F, new[] { 3, 4 }, new[] { 0.4679, -0.20493, -0.74091, 0.36184, 1.9199, -0.22539, -0.3417, 0.30401, -0.68901, -1.12672, -0.28576, -1.09351 }),
            new("bias", F, new[] { 3 }, new[] { 1.1351, 0.75925, -3.59447 }),
            new("running_mean", F, new[] { 3 }, Fill(3, 0.0)),
            new("running_var", F, new[] { 3 }, Fill(3, 1.0)),
        });
        yield return new("tensor_2d.pt", "pytorch-zip", new T[] { new("tensor", F, new[] { 3, 2 }, new[] { 1.0, 2, 3, 4, 5, 6 }) });
        yield return new("tensor_4d.pt", "pytorch-zip", new T[] { new("tensor", F, new[] { 2, 3, 2, 2 }) });
        yield return new("top_level_key.pt", "pytorch-zip", new T[]
        {
            new("my_state_dict.conv1.weight", F, new[] { 2, 2, 2, 2 }),
            new("my_state_dict.conv1.bias", F, new[] { 2 }, new[] { 0.05125, -0.00141 }),
        });
        yield return new("uint8.pt", "pytorch-zip", new T[] { new("tensor", DType.UInt8, new[] { 4 }, new[] { 0.0, 128, 255, 42 }) });
    }

    [TestCaseSource(nameof(Cases))]
    public void DecodesToTheListedValues(object boxed)
    {
        var c = (Case)boxed;
        var path = TestData.Require("checkpoints/pt-format/" + c.File);
        var sd = WeightsFile.Read(path);
        Assert.That(sd.Format, Is.EqualTo(c.Format), "format");
        Assert.That(sd.SourcePath, Is.EqualTo(path));
        Assert.That(sd.WrapperKey, Is.EqualTo(c.Wrapper), "wrapper key");
        // torch files keep the state_dict's order; a safetensors header has its writer's order.
        if (c.Format == "safetensors")
            Assert.That(sd.Keys, Is.EquivalentTo(c.Tensors.Select(t => t.Key)), "key set");
        else
            Assert.That(sd.Keys.ToArray(), Is.EqualTo(c.Tensors.Select(t => t.Key).ToArray()), "keys in file order");
        foreach (var t in c.Tensors)
            LoaderAssert.Tensor(sd, t.Key, t.DType, t.Shape, t.Values, Dec5);
    }

    [Test]
    public void EveryFileInTheFolderIsCovered()
    {
        var dir = TestData.Require("checkpoints/pt-format");
        var covered = Cases().Select(c => c.File).Append("broken.pt").ToHashSet();
        var files = Directory.GetFiles(dir).Select(Path.GetFileName).ToArray();
        Assert.That(files.Where(f => !covered.Contains(f!)), Is.Empty, "files in pt-format without a decode test");
    }

    [Test]
    public void CheckpointWrapperIgnoresOptimizerEpochAndLoss()
    {
        var sd = WeightsFile.Read(TestData.Require("checkpoints/pt-format/checkpoint.pt"));
        Assert.That(sd.IgnoredEntries, Does.Contain("optimizer_state_dict (dict)"));
        Assert.That(sd.IgnoredEntries, Does.Contain("epoch (int)"));
        Assert.That(sd.IgnoredEntries, Does.Contain("loss (float)"));
        Assert.That(sd.Keys.Any(k => k.Contains("momentum_buffer")), Is.False);
    }

    [Test]
    public void ParameterLoadsAsItsData()
    {
        // parameter.pt pickles torch._utils._rebuild_parameter(_rebuild_tensor_v2(...), True, OrderedDict()).
        var sd = WeightsFile.Read(TestData.Require("checkpoints/pt-format/parameter.pt"));
        Assert.That(sd["param"].ToFloatArray()[0], Is.EqualTo(1.02491f).Within(Dec5));
    }

    [Test]
    public void BrokenFileGivesAClearError()
    {
        var path = TestData.Require("checkpoints/pt-format/broken.pt");
        var e = Assert.Throws<ModelFormatException>(() => WeightsFile.Read(path))!;
        Assert.That(e.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain(path).And.Contain("unrecognised content (3 bytes"));
    }
}
