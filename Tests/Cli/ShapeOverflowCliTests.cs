using Vgg.Cli;
using Vgg.Engine.Loader.Onnx.Proto;
using static Vgg.Engine.Tests.Cli.CliRunner;
using static Vgg.Engine.Tests.Onnx.OnnxProtoBuilder;

namespace Vgg.Engine.Tests.Cli;

/// <summary>
/// FRESH_REPORT B3 through the command line: shapes and layer sizes that overflow are a one-line
/// <c>vgg: error: ...</c> with exit code 1 (a model error), not "internal error" with exit code 3.
/// </summary>
public class ShapeOverflowCliTests
{
    private static void IsOneLineModelError(CliResult r, params string[] mustContain)
    {
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.StartWith("vgg: error: "), r.ToString());
        Assert.That(r.Err.TrimEnd('\n'), Does.Not.Contain("\n"), "one line");
        Assert.That(r.Err, Does.Not.Contain("internal error").And.Not.Contain("   at "));
        foreach (var s in mustContain) Assert.That(r.Err, Does.Contain(s));
    }

    [Test]
    public void ClassifyAndPlanWithAHugeConvInASpec()
    {
        using var tmp = new TempDir();
        var spec = tmp.File("spec_huge.json");
        File.WriteAllText(spec, """{"input":{"channels":1,"height":28,"width":28},"layers":[{"type":"conv","in":1,"out":2000000000,"kernel":3},{"type":"flatten"},{"type":"linear","in":5408,"out":10}]}""");
        IsOneLineModelError(Run("classify", "--spec", spec, "--seed", "1", Repo("samples/shapes.jpg")), spec, "'conv_1.weight'", "float32[2000000000, 1, 3, 3]");
        IsOneLineModelError(Run("plan", "--spec", spec), "'conv_1.weight'");
    }

    [Test]
    public void ClassifyWithALinearLargerThanOneBuffer()
    {
        using var tmp = new TempDir();
        var spec = tmp.File("spec_big2.json");
        File.WriteAllText(spec, """{"input":{"channels":1,"height":28,"width":28},"layers":[{"type":"conv","in":1,"out":100000,"kernel":3},{"type":"flatten"},{"type":"linear","in":67600000,"out":10}]}""");
        IsOneLineModelError(Run("classify", "--spec", spec, "--seed", "1", Repo("samples/shapes.jpg")), "'linear_1.weight'", "2,704,000,000 bytes");
    }

    [Test]
    public void RunAnOnnxReshapeToTwoToTheForty()
    {
        using var tmp = new TempDir();
        var shape = new TensorProto { Name = "sh", DataType = 7 };
        shape.Dims.Add(2);
        shape.Int64Data.AddRange(new[] { 1L << 40, 1L << 40 });
        var graph = Graph(new[] { Float("x", 1, 1, 8, 8) }, new[] { Float("y", -1, -1) }, new[] { Node("Reshape", "Reshape_0", new[] { "x", "sh" }, new[] { "y" }) }, new[] { shape });
        var onnx = Save(Model(13, graph), tmp.Path);
        var x = Tensor.From(Enumerable.Range(1, 64).Select(i => i * 0.01f).ToArray(), 1, 1, 8, 8);
        var input = tmp.File("x.npy");
        Npy.Write(input, x);
        var r = Run("run", "--weights", onnx, "--input", input, "--output", tmp.File("o.npy"));
        IsOneLineModelError(r, "node 'Reshape_0'", "Reshape", "[1099511627776, 1099511627776]", "2^31 − 1");
        Assert.That(File.Exists(tmp.File("o.npy")), Is.False, "nothing written");
    }

    [Test]
    public void RunAnOnnxConstantOfShapeTooLargeForOneBuffer()
    {
        // ConstantOfShape [100000, 100000] (10^10 floats): the importer's constant folding leaves it to shape inference,
        // which names the node, instead of failing to allocate it.
        using var tmp = new TempDir();
        var shape = new TensorProto { Name = "sh", DataType = 7 };
        shape.Dims.Add(2);
        shape.Int64Data.AddRange(new[] { 100_000L, 100_000L });
        var graph = Graph(new[] { Float("x", 1, 4) }, new[] { Float("y", -1, -1) },
            new[] { Node("ConstantOfShape", "Fill_0", new[] { "sh" }, new[] { "c" }), Node("Add", "Add_0", new[] { "x", "c" }, new[] { "y" }) }, new[] { shape });
        var onnx = Save(Model(13, graph), tmp.Path);
        var input = tmp.File("x.npy");
        Npy.Write(input, Tensor.From(new[] { 0.5f, 1.5f, 2.5f, 3.5f }, 1, 4));
        var r = Run("run", "--weights", onnx, "--input", input, "--output", tmp.File("o.npy"));
        IsOneLineModelError(r, "Fill_0", "ConstantOfShape");
        Assert.That(File.Exists(tmp.File("o.npy")), Is.False, "nothing written");
    }
}
