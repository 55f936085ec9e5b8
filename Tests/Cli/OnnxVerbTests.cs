using System.Text.Json;
using Vgg.Cli;
using Vgg.Engine.Tests.Common;
using Vgg.Engine.Tests.Onnx;
using static Vgg.Engine.Tests.Cli.CliRunner;

namespace Vgg.Engine.Tests.Cli;

/// <summary><c>vgg export --onnx</c>, ONNX models through <c>--weights</c>, <c>vgg inspect</c> of .onnx files and <c>vgg onnx-test</c>.</summary>
public class OnnxVerbTests
{
    private static Tensor SeededInput(int seed, params int[] shape)
    {
        var rng = new Random(seed);
        var data = new float[Tensor.Product(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = rng.NextSingle();
        TestContext.Progress.WriteLine($"input: System.Random({seed}) U[0,1) {Tensor.FormatShape(shape)}");
        return Tensor.FromSpan<float>(data, shape);
    }

    /// <summary>‖a − e‖₂ / ‖e‖₂ ≤ rtol; a failure prints the shape, the worst index and values.</summary>
    private static void AssertRelativeError(Tensor actual, Tensor expected, double rtol, string what)
    {
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), what);
        var a = actual.ToFloatArray();
        var e = expected.ToFloatArray();
        double num = 0, den = 0, worst = -1;
        int wi = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - e[i];
            num += d * d;
            den += (double)e[i] * e[i];
            if (Math.Abs(d) > worst) { worst = Math.Abs(d); wi = i; }
        }
        double rel = Math.Sqrt(num / Math.Max(den, 1e-300));
        Assert.That(rel, Is.LessThanOrEqualTo(rtol), $"{what}: shape {Tensor.FormatShape(expected.Shape)}, relative error {rel:G3}, worst at {wi}: ours {a[wi]:R}, ONNX Runtime {e[wi]:R}");
    }

    [TestCase("models/tinyvgg.json", "checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth", new[] { 2, 3, 64, 64 })]
    [TestCase("models/mnist-cnn.json", "checkpoints/mnist-cnn/mnist.pt", new[] { 3, 1, 28, 28 })]
    public void ExportedGraphOnOnnxRuntimeAgreesWithVggRun(string spec, string checkpoint, int[] shape)
    {
        var weights = TestData.Require(checkpoint);
        using var tmp = new TempDir();
        var onnx = tmp.File("model.onnx");
        var e = Run("export", "--onnx", onnx, "--spec", Repo(spec), "--weights", weights);
        Assert.That(e.Code, Is.EqualTo(ExitCodes.Ok), e.ToString());
        Assert.That(e.Out, Does.StartWith($"wrote {onnx} (").And.Contain("opset 17").And.Contain($"input float32[N, {shape[1]}, {shape[2]}, {shape[3]}]"));
        Assert.That(Directory.GetFiles(tmp.Path), Has.Length.EqualTo(1), "no temporary file left");

        var x = SeededInput(42, shape);
        Npy.Write(tmp.File("in.npy"), x);
        var r = Run("run", "--spec", Repo(spec), "--weights", weights, "-i", tmp.File("in.npy"), "-o", tmp.File("out.npy"));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        var ours = Npy.Read(tmp.File("out.npy"));
        var ort = OrtReference.Run(File.ReadAllBytes(onnx), new Dictionary<string, Tensor> { ["input"] = x }).Values.Single();
        AssertRelativeError(ours, ort, 1e-4, $"{spec}: vgg run vs ONNX Runtime on the exported graph");

        // The exported file classifies like the checkpoint it came from (spec for preprocessing and labels).
        var image = TestData.Require(spec.Contains("mnist") ? "images/mnist/3.png" : "images/hopper.png");
        var fromPth = Run("classify", "--spec", Repo(spec), "--weights", weights, image, "--json", "-k", "3");
        var fromOnnx = Run("classify", "--weights", onnx, "--spec", Repo(spec), image, "--json", "-k", "3");
        Assert.That((fromPth.Code, fromOnnx.Code), Is.EqualTo((0, 0)), fromPth + "\n" + fromOnnx);
        var a = fromPth.JsonLines().Single().GetProperty("top").EnumerateArray().ToList();
        var b = fromOnnx.JsonLines().Single().GetProperty("top").EnumerateArray().ToList();
        Assert.That(b.Select(t => t.GetProperty("label").GetString()), Is.EqualTo(a.Select(t => t.GetProperty("label").GetString())));
        for (int i = 0; i < a.Count; i++)
            Assert.That(b[i].GetProperty("prob").GetDouble(), Is.EqualTo(a[i].GetProperty("prob").GetDouble()).Within(1e-6));
    }

    [Test]
    public void AnOnnxModelEndingInSoftmaxIsNotSoftmaxedTwice()
    {
        // A seeded VGG-style spec ending in softmax, exported, then classified through the ONNX file: the
        // probabilities must equal the spec model's (whose output kind is known), not softmax(softmax(x)).
        using var tmp = new TempDir();
        var spec = tmp.File("soft.json");
        File.WriteAllText(spec, """
            { "name": "soft", "input": { "channels": 3, "height": 32, "width": 32 },
              "preprocessing": { "color": "rgb", "resize": [32, 32], "crop": null, "mean": null, "std": null },
              "labels": ["a", "b", "c", "d"],
              "layers": [
                { "name": "conv", "type": "conv", "in": 3, "out": 4, "kernel": 3, "padding": 1 }, { "type": "relu" },
                { "type": "maxpool", "kernel": 2, "stride": 2 }, { "type": "flatten" },
                { "name": "fc", "type": "linear", "in": 1024, "out": 4 }, { "type": "softmax", "dim": 1 } ] }
            """);
        var onnx = tmp.File("soft.onnx");
        Assert.That(Run("export", "--onnx", onnx, "--spec", spec, "--seed", "3").Code, Is.EqualTo(ExitCodes.Ok));
        var image = Repo("samples/shapes.jpg");
        var viaSpec = Run("classify", "--spec", spec, "--seed", "3", image, "--json", "-k", "4");
        var viaOnnx = Run("classify", "--weights", onnx, "--spec", spec, image, "--json", "-k", "4");
        Assert.That((viaSpec.Code, viaOnnx.Code), Is.EqualTo((0, 0)), viaSpec + "\n" + viaOnnx);
        var a = viaSpec.JsonLines().Single().GetProperty("top").EnumerateArray().Select(t => t.GetProperty("prob").GetDouble()).ToArray();
        var b = viaOnnx.JsonLines().Single().GetProperty("top").EnumerateArray().Select(t => t.GetProperty("prob").GetDouble()).ToArray();
        Assert.That(a.Sum(), Is.EqualTo(1.0).Within(1e-6));
        Assert.That(a.Max() - a.Min(), Is.GreaterThan(1e-3), "a distribution a second softmax would visibly flatten");
        Assert.That(b, Is.EqualTo(a).Within(1e-6));
    }

    [Test]
    public void OnnxModelOptionsThatDoNotApplyAreUsageErrors()
    {
        using var tmp = new TempDir();
        var onnx = tmp.File("m.onnx");
        File.WriteAllText(onnx, "not read");
        var r = Run("classify", "--weights", onnx, "--arch", "vgg16", "--num-classes", "3", Repo("samples/shapes.jpg"));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain("--arch, --num-classes cannot be used with an ONNX model"));
    }

    [Test]
    public void AGrayscaleOnnxModelNeedsASpecForItsPreprocessing()
    {
        var weights = TestData.Require("checkpoints/mnist-cnn/mnist.pt");
        using var tmp = new TempDir();
        var onnx = tmp.File("mnist.onnx");
        Assert.That(Run("export", "--onnx", onnx, "--spec", Repo("models/mnist-cnn.json"), "--weights", weights).Code, Is.EqualTo(ExitCodes.Ok));
        var r = Run("classify", "--weights", onnx, TestData.Require("images/mnist/0.png"));
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Err, Does.Contain("1 channels").And.Contain("--spec"));
    }

    [Test]
    public void InspectDescribesOnnxFiles()
    {
        var light = TestData.Require("onnx-models/light_vgg19/model.onnx");
        var r = Run("inspect", light);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        // SOURCES.md 3: onnx-caffe2 export of VGG-19, opset 9, data_0 [1, 3, 224, 224] -> prob_1 [1, 1000].
        Assert.That(r.Out, Does.Contain("format:       onnx (IR version 3), opset 9"));
        Assert.That(r.Out, Does.Contain("input:        data_0 float32[1, 3, 224, 224]"));
        Assert.That(r.Out, Does.Contain("output:       prob_1 float32[1, 1000]"));
        Assert.That(r.Out, Does.Contain("Conv ×16").And.Contain("Softmax ×1").And.Contain("MaxPool ×5").And.Contain("Gemm ×3"));
        Assert.That(r.Out, Does.Match(@"fc6_w_0\s+float32\s+\[4096, 25088\]\s+102,760,448"));

        using var tmp = new TempDir();
        var onnx = tmp.File("vgg.onnx");
        Assert.That(Run("export", "--onnx", onnx, "--weights", TestData.Fixture("models/numeric/vgg11bn_tiny_dp_fp16.pth"), "--opset", "13").Code, Is.EqualTo(ExitCodes.Ok));
        var exported = Run("inspect", onnx);
        Assert.That(exported.Code, Is.EqualTo(ExitCodes.Ok), exported.ToString());
        Assert.That(exported.Out, Does.Contain("opset 13").And.Contain("producer:     Vgg.Engine"));
        Assert.That(exported.Out, Does.Contain("input:        input float32[?, 3, 224, 224]"), "batch dynamic; H×W fixed by the 7×7 adaptive pool");
        Assert.That(exported.Out, Does.Contain("architecture: vgg11_bn"), "torchvision names survive the export");
    }

    [Test]
    public void OnnxTestReportsEachCaseAndASummary()
    {
        var add = TestData.Require("onnx-node/test_add");
        var conv = TestData.Require("onnx-node/test_basic_conv_with_padding");
        var convInteger = TestData.Require("onnx-node/test_convinteger_without_padding");
        var r = Run("onnx-test", add, conv, convInteger);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        Assert.That(r.Lines, Has.Length.EqualTo(5));
        Assert.That(r.Lines[0], Does.StartWith("PASS test_add (1 data set"));
        Assert.That(r.Lines[1], Does.StartWith("PASS test_basic_conv_with_padding"));
        Assert.That(r.Lines[2], Does.StartWith("UNSUPPORTED test_convinteger_without_padding: node ").And.Contain("ConvInteger")
            .And.EndWith("(supported: listed below)"), "the supported operators are listed once, not per case");
        Assert.That(r.Lines[3], Does.StartWith("supported: ").And.Contain("Conv").And.Contain("MaxPool"));
        Assert.That(r.Lines[4], Is.EqualTo("onnx-test: 2 passed, 0 failed, 1 unsupported (3 cases)"));

        var missing = Run("onnx-test", Path.Combine(Path.GetTempPath(), "no-such-case-" + Guid.NewGuid().ToString("N")));
        Assert.That(missing.Code, Is.EqualTo(ExitCodes.ModelOrInputError), missing.ToString());
        Assert.That(missing.Err, Does.Contain("test-case folder not found"));
    }

    [Test]
    public void OnnxTestFailsWhenAnOutputIsWrong()
    {
        var add = TestData.Require("onnx-node/test_add");
        using var tmp = new TempDir();
        var dir = Path.Combine(tmp.Path, "test_add_tampered");
        Directory.CreateDirectory(Path.Combine(dir, "test_data_set_0"));
        File.Copy(Path.Combine(add, "model.onnx"), Path.Combine(dir, "model.onnx"));
        File.Copy(Path.Combine(add, "test_data_set_0", "input_0.pb"), Path.Combine(dir, "test_data_set_0", "input_0.pb"));
        File.Copy(Path.Combine(add, "test_data_set_0", "input_1.pb"), Path.Combine(dir, "test_data_set_0", "input_1.pb"));
        // The expected output is input_0 instead of input_0 + input_1.
        File.Copy(Path.Combine(add, "test_data_set_0", "input_0.pb"), Path.Combine(dir, "test_data_set_0", "output_0.pb"));
        var r = Run("onnx-test", tmp.Path);
        Assert.That(r.Code, Is.EqualTo(ExitCodes.ModelOrInputError), r.ToString());
        Assert.That(r.Lines[0], Does.StartWith("FAIL test_add_tampered"));
        Assert.That(r.Lines[^1], Is.EqualTo("onnx-test: 0 passed, 1 failed, 0 unsupported (1 case)"));
    }
}
