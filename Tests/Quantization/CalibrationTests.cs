using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.IR;
using Vgg.Engine.Quantization;
using Vgg.Engine.Runtime;

namespace Vgg.Engine.Tests.Quantization;

/// <summary>Calibration: ranges on graphs with hand-computable values, the percentile method, the JSON file, and the errors.</summary>
public class CalibrationTests
{
    /// <summary>x [1, 1, 2, 2] → Relu → r; r · 2 → y (Mul by a constant); y is the output.</summary>
    private static Graph Tiny()
    {
        var g = new Graph { Name = "tiny" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { -1, 1, 2, 2 }));
        g.Initializers["two"] = Tensor.Scalar(2f);
        g.Nodes.Add(new Node("relu", new UnaryOp(UnaryKind.Relu), new[] { "x" }, new[] { "r" }));
        g.Nodes.Add(new Node("mul", new BinaryOp(BinaryKind.Mul), new[] { "r", "two" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, null));
        return g;
    }

    [Test]
    public void MaxCalibrationRecordsHandComputableRanges()
    {
        var batches = new[]
        {
            Tensor.From(new[] { -3f, 1f, 2f, 0.5f }, 1, 1, 2, 2),
            Tensor.From(new[] { 1f, 1f, -1f, 2.5f, 0f, -0.25f, 0.75f, 1.5f }, 2, 1, 2, 2),
        };
        var t = Calibrator.Calibrate(Tiny(), batches);
        Assert.That(t.SampleCount, Is.EqualTo(3));
        Assert.That(t.Method, Is.EqualTo(CalibrationMethod.Max));
        Assert.That(t.Values.Keys, Is.EquivalentTo(new[] { "x", "r", "y" }));
        Assert.That(t.Values["x"], Is.EqualTo(new ValueRange(-3f, 2.5f, 3f, 3f, 3f / 127f)));
        Assert.That(t.Values["r"], Is.EqualTo(new ValueRange(0f, 2.5f, 2.5f, 2.5f, 2.5f / 127f)));
        Assert.That(t.Values["y"], Is.EqualTo(new ValueRange(0f, 5f, 5f, 5f, 5f / 127f)));
        Assert.That(t.Scale("y"), Is.EqualTo(Int8Scheme.ActivationScale(5f)));
        Assert.That(t.ModelHash, Is.EqualTo(CalibrationTable.ComputeModelHash(Tiny())));
    }

    [Test]
    public void ConvNetValuesIncludeEveryFusedOutput()
    {
        var def = QuantTestNets.SmallVgg(1, new[] { 8, 0, 8, 0 }, 1, 16, 4);
        var g = QuantTestNets.FromDefinition(def);
        var t = Calibrator.Calibrate(g, new[] { QuantTestNets.Image(5, 2, 3, 8, 8) });
        // the input, every node output: conv, ReLU and pool values (fusion keeps the pool's name), linear outputs
        foreach (var v in new[] { "input", "features.0.conv", "features.0.relu", "features.0", "features.1", "avgpool", "flatten", "classifier.0", "classifier.3" })
            Assert.That(t.Values.ContainsKey(v), v);
        // a pooled ReLU output is non-negative and no larger than the ReLU output it pools
        Assert.That(t.Values["features.0"].Min, Is.GreaterThanOrEqualTo(0f));
        Assert.That(t.Values["features.0"].MaxAbs, Is.LessThanOrEqualTo(t.Values["features.0.relu"].MaxAbs));
        Assert.That(t.Values["features.0.relu"].MaxAbs, Is.EqualTo(t.Values["features.0.conv"].Max));
    }

    [Test]
    public void PercentileCalibrationClipsARareOutlier()
    {
        // 9,999 values i/10000 (i < 9999) and one outlier 100: the 99.99th percentile of |x| is 0.9998; with 2048 bins over
        // [0, 100·(1+1e-6)) the answer is the upper edge of 0.9998's bin: at most one bin width (≈ 0.0488) above it.
        var v = new float[10000];
        for (int i = 0; i < 9999; i++) v[i] = i / 10000f;
        v[9999] = 100f;
        var g = new Graph { Name = "id" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { -1, 10000 }));
        g.Nodes.Add(new Node("relu", new UnaryOp(UnaryKind.Relu), new[] { "x" }, new[] { "y" }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, null));
        var t = Calibrator.Calibrate(g, new[] { Tensor.From(v, 1, 10000) }, new CalibrationOptions { Method = CalibrationMethod.Percentile, Percentile = 99.99 });
        var r = t.Values["y"];
        double bin = 100 * (1 + 1e-6) / 2048;
        TestContext.Out.WriteLine($"percentile range {r.Range}, max {r.MaxAbs}, bin width {bin}");
        Assert.That(r.MaxAbs, Is.EqualTo(100f));
        Assert.That(r.Range, Is.GreaterThanOrEqualTo(0.9998f).And.LessThanOrEqualTo((float)(0.9998 + bin)));
        Assert.That(r.Scale, Is.EqualTo(r.Range / 127f));
        Assert.That(t.Method, Is.EqualTo(CalibrationMethod.Percentile));
        Assert.That(t.Percentile, Is.EqualTo(99.99));
        // and with later batches that grow the range, the histogram rebins: 100th percentile is the max
        var t2 = Calibrator.Calibrate(g, new[] { Tensor.From(v.Take(5000).Concat(new float[5000]).ToArray(), 1, 10000), Tensor.From(v, 1, 10000) },
            new CalibrationOptions { Method = CalibrationMethod.Percentile, Percentile = 100 });
        Assert.That(t2.Values["y"].Range, Is.EqualTo(100f));
    }

    [Test]
    public void JsonRoundTripKeepsEveryBit()
    {
        var g = QuantTestNets.FromDefinition(QuantTestNets.SmallVgg(2, new[] { 8, 0 }, 1, 8, 3));
        var t = Calibrator.Calibrate(g, new[] { QuantTestNets.Image(6, 2, 3, 6, 6) }, new CalibrationOptions { Method = CalibrationMethod.Percentile, Percentile = 99.9 });
        var path = Path.Combine(Path.GetTempPath(), $"vgg-calib-{Guid.NewGuid():N}.json");
        try
        {
            t.Save(path);
            var u = CalibrationTable.Load(path);
            Assert.That(u.ModelName, Is.EqualTo(t.ModelName));
            Assert.That(u.ModelHash, Is.EqualTo(t.ModelHash));
            Assert.That(u.Method, Is.EqualTo(t.Method));
            Assert.That(u.Percentile, Is.EqualTo(t.Percentile));
            Assert.That(u.SampleCount, Is.EqualTo(2));
            Assert.That(u.Values.Keys, Is.EquivalentTo(t.Values.Keys));
            foreach (var (k, r) in t.Values)
            {
                var q = u.Values[k];
                Assert.That(BitConverter.SingleToInt32Bits(q.Scale), Is.EqualTo(BitConverter.SingleToInt32Bits(r.Scale)), $"{k} scale bits");
                Assert.That(q, Is.EqualTo(r), k);
            }
            u.CheckModel(g);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void MismatchesAreClearErrors()
    {
        var def = QuantTestNets.SmallVgg(3, new[] { 8, 0 }, 1, 8, 3);
        var g = QuantTestNets.FromDefinition(def);
        var t = Calibrator.Calibrate(g, new[] { QuantTestNets.Image(7, 1, 3, 6, 6) });

        // another model (other weights, same structure): the hash differs
        var other = QuantTestNets.FromDefinition(QuantTestNets.SmallVgg(4, new[] { 8, 0 }, 1, 8, 3));
        var e = Assert.Throws<CalibrationException>(() => new Session(other, QuantTestNets.Cpu(Precision.Int8, t)))!;
        Assert.That(e.Message, Does.Contain(t.ModelHash!));
        Assert.That(e.Message, Does.Contain("Calibrate this model"));
        // ... which WithoutModelCheck accepts
        using (new Session(other, QuantTestNets.Cpu(Precision.Int8, t.WithoutModelCheck()))) { }

        // names missing: every one is listed
        var partial = new CalibrationTable("testnet", null, CalibrationMethod.Max, 100, 1,
            t.Values.Where(p => p.Key is not ("features.0" or "classifier.0")).ToDictionary(p => p.Key, p => p.Value));
        e = Assert.Throws<CalibrationException>(() => new Session(g, QuantTestNets.Cpu(Precision.Int8, partial)))!;
        Assert.That(e.MissingValues, Is.EquivalentTo(new[] { "features.0", "classifier.0" }));
        Assert.That(e.Message, Does.Contain("features.0"));

        // INT8 without a table says what to do
        e = Assert.Throws<CalibrationException>(() => new Session(g, QuantTestNets.Cpu(Precision.Int8)))!;
        Assert.That(e.Message, Does.Contain("SessionOptions.Calibration"));
        Assert.That(e.Message, Does.Contain("vgg calibrate"));
    }

    [TestCase("{", "not valid JSON")]
    [TestCase("{\"format\": \"something-else\", \"version\": 1, \"values\": {}}", "not a calibration table")]
    [TestCase("{\"format\": \"vgg-engine-calibration\", \"version\": 99, \"values\": {}}", "newer")]
    [TestCase("{\"format\": \"vgg-engine-calibration\", \"version\": 1}", "\"values\"")]
    [TestCase("{\"format\": \"vgg-engine-calibration\", \"version\": 1, \"values\": {\"x\": {\"scale\": -1}}}", "value 'x'")]
    [TestCase("{\"format\": \"vgg-engine-calibration\", \"version\": 1, \"values\": {\"x\": {\"range\": 1}}}", "\"scale\" is missing")]
    [TestCase("{\"format\": \"vgg-engine-calibration\", \"version\": 1, \"method\": \"entropy\", \"values\": {}}", "unknown method")]
    public void BadFilesAreClearErrors(string json, string expected)
    {
        var path = Path.Combine(Path.GetTempPath(), $"vgg-calib-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try
        {
            var e = Assert.Throws<CalibrationException>(() => CalibrationTable.Load(path))!;
            Assert.That(e.Message, Does.Contain(expected));
            Assert.That(e.Message, Does.Contain(path));
        }
        finally
        {
            File.Delete(path);
        }
        var missing = Assert.Throws<CalibrationException>(() => CalibrationTable.Load(path + ".absent"))!;
        Assert.That(missing.Message, Does.Contain(".absent"));
    }

    [Test]
    public void NonFiniteActivationsAndEmptyInputsAreErrors()
    {
        var e = Assert.Throws<CalibrationException>(() => Calibrator.Calibrate(Tiny(), new[] { Tensor.From(new[] { 1f, float.NaN, 0f, 0f }, 1, 1, 2, 2) }))!;
        Assert.That(e.Message, Does.Contain("'x'"));
        e = Assert.Throws<CalibrationException>(() => Calibrator.Calibrate(Tiny(), Array.Empty<Tensor>()))!;
        Assert.That(e.Message, Does.Contain("no calibration input"));
        Assert.Throws<InvalidInputException>(() => Calibrator.Calibrate(Tiny(), new[] { Tensor.From(new[] { 1f, 2f }, 1, 2) }));
    }

    [Test]
    public void ImageFolderErrorsNameThePath()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"vgg-no-such-{Guid.NewGuid():N}");
        var e = Assert.Throws<CalibrationException>(() => Vgg.Engine.Loader.Quantization.CalibrationImages.Find(new[] { missing }))!;
        Assert.That(e.Message, Does.Contain(missing));
        var empty = Directory.CreateTempSubdirectory("vgg-empty-");
        try
        {
            File.WriteAllText(Path.Combine(empty.FullName, "notes.txt"), "not an image");
            e = Assert.Throws<CalibrationException>(() => Vgg.Engine.Loader.Quantization.CalibrationImages.Find(new[] { empty.FullName }))!;
            Assert.That(e.Message, Does.Contain("no calibration images"));
        }
        finally
        {
            empty.Delete(true);
        }
        var mnist = Common.TestData.Require("images/mnist");
        var found = Vgg.Engine.Loader.Quantization.CalibrationImages.Find(new[] { mnist }, limit: 3);
        Assert.That(found.Select(Path.GetFileName), Is.EqualTo(new[] { "0.png", "1.png", "2.png" }), "ordinal order, limited");
    }

    [Test]
    public void ModelHashCoversWeightsAndStructure()
    {
        var a = Tiny();
        var h = CalibrationTable.ComputeModelHash(a);
        Assert.That(h, Does.Match("^sha256:[0-9a-f]{64}$"));
        Assert.That(CalibrationTable.ComputeModelHash(Tiny()), Is.EqualTo(h));
        var b = Tiny();
        b.Initializers["two"] = Tensor.Scalar(2.0000002f);
        Assert.That(CalibrationTable.ComputeModelHash(b), Is.Not.EqualTo(h), "one weight bit");
        var c = Tiny();
        c.Nodes[1] = new Node("mul", new BinaryOp(BinaryKind.Add), new[] { "r", "two" }, new[] { "y" });
        Assert.That(CalibrationTable.ComputeModelHash(c), Is.Not.EqualTo(h), "an op type");
    }
}
