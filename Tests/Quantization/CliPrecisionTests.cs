using Vgg.Cli;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Quantization;
using Vgg.Engine.Tests.Cli;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Quantization;

/// <summary>The CLI surface of the precisions: <c>vgg calibrate</c>, <c>--precision</c>/<c>--calibration</c>, INT8 QDQ export; exit codes.</summary>
[NonParallelizable]
public class CliPrecisionTests
{
    private static string[] Mnist() => new[]
    {
        "--spec", CliRunner.Repo("models/mnist-cnn.json"), "--weights", TestData.Require("checkpoints/mnist-cnn/mnist.pt"),
    };

    [Test]
    public void CalibrateThenClassifyInInt8AndFp16NamesEveryDigit()
    {
        var images = TestData.Require("images/mnist");
        using var dir = new TempDir();
        var table = dir.File("mnist.calib.json");
        var r = CliRunner.Run(new[] { "calibrate" }.Concat(Mnist()).Concat(new[] { "--output", table, "--threads", "2", images }).ToArray());
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        Assert.That(r.Out, Does.Contain("7 samples"));
        Assert.That(r.Err, Does.Contain("calibrating on 7 image(s)"), "a tiny calibration set is said to be tiny");
        var t = CalibrationTable.Load(table);
        Assert.That(t.SampleCount, Is.EqualTo(7));

        foreach (var precision in new[] { new[] { "--precision", "int8", "--calibration", table }, new[] { "--precision", "fp16" } })
        {
            var c = CliRunner.Run(new[] { "classify" }.Concat(Mnist()).Concat(precision).Concat(new[] { "--backend", "cpu", "--threads", "2", "--json", images }).ToArray());
            Assert.That(c.Code, Is.EqualTo(ExitCodes.Ok), c.ToString());
            foreach (var line in c.JsonLines())
            {
                var file = Path.GetFileNameWithoutExtension(line.GetProperty("file").GetString()!);
                Assert.That(line.GetProperty("top")[0].GetProperty("index").GetInt32().ToString(), Is.EqualTo(file), $"{string.Join(" ", precision)}: {line}");
            }
        }

        var plan = CliRunner.Run(new[] { "plan" }.Concat(Mnist()).Concat(new[] { "--precision", "int8", "--calibration", table, "--backend", "cpu" }).ToArray());
        Assert.That(plan.Code, Is.EqualTo(ExitCodes.Ok), plan.ToString());
        Assert.That(plan.Out, Does.Contain("vgg.Int8Conv"));

        var onnx = dir.File("mnist.int8.onnx");
        var e = CliRunner.Run(new[] { "export", "--onnx", onnx, "--precision", "int8", "--calibration", table }.Concat(Mnist()).ToArray());
        Assert.That(e.Code, Is.EqualTo(ExitCodes.Ok), e.ToString());
        var g = OnnxImporter.Load(onnx);
        // the importer folds DequantizeLinear of constant weights; activations keep theirs (5 INT8 ops and the dequantize before the BN)
        Assert.That(g.Nodes.Count(n => n.Op is IR.QuantizeLinearOp), Is.GreaterThanOrEqualTo(5));
        Assert.That(g.Nodes.Count(n => n.Op is IR.DequantizeLinearOp), Is.GreaterThanOrEqualTo(6));
    }

    [Test]
    public void PrecisionUsageAndFileErrors()
    {
        var r = CliRunner.Run(new[] { "classify", "--arch", "vgg11", "--seed", "1", "--precision", "int8", CliRunner.Repo("samples/shapes.jpg") });
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain("vgg calibrate"));

        r = CliRunner.Run(new[] { "classify", "--arch", "vgg11", "--seed", "1", "--calibration", "x.json", CliRunner.Repo("samples/shapes.jpg") });
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());

        r = CliRunner.Run(new[] { "classify", "--arch", "vgg11", "--seed", "1", "--precision", "bf16", CliRunner.Repo("samples/shapes.jpg") });
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());

        using var dir = new TempDir();
        r = CliRunner.Run(new[] { "classify", "--arch", "vgg11", "--seed", "1", "--precision", "int8", "--calibration", dir.File("absent.json"), CliRunner.Repo("samples/shapes.jpg") });
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.Contain("absent.json"));

        var bad = dir.File("bad.json");
        File.WriteAllText(bad, "{\"format\": \"other\"}");
        r = CliRunner.Run(new[] { "plan", "--arch", "vgg11", "--precision", "int8", "--calibration", bad });
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.Contain("not a calibration table"));

        r = CliRunner.Run(new[] { "calibrate", "--arch", "vgg11", "--seed", "1", "--output", dir.File("t.json"), dir.Path });
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
    }

    [Test]
    public void TableForAnotherModelIsRefusedWithTheRemedy()
    {
        using var dir = new TempDir();
        var table = dir.File("tiny.json");
        // a table made for MNIST used with a seeded TinyVGG: the hash differs
        var mnist = CalibrationTable.FromMaxAbs(new IR.Graph { Name = "other" }, new Dictionary<string, float> { ["input"] = 1f });
        mnist.Save(table);
        var r = CliRunner.Run(new[] { "plan", "--spec", CliRunner.Repo("models/tinyvgg.json"), "--precision", "int8", "--calibration", table, "--backend", "cpu" });
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.Contain("Calibrate this model"));
    }
}
