using System.Globalization;
using System.Text.Json;
using Vgg.Engine.Models;

namespace Vgg.Engine.Tests.Models;

public class SeededInitTests
{
    private static JsonElement Reference()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Common.TestData.Fixture("models/seeded_reference.json")));
        return doc.RootElement.Clone();
    }

    [Test]
    public void GeneratorMatchesTheIndependentPythonImplementation()
    {
        // Tests/Fixtures/models/seeded_rng.py computes the same streams with numpy and the platform libm.
        foreach (var c in Reference().GetProperty("cases").EnumerateArray())
        {
            int seed = c.GetProperty("seed").GetInt32();
            string name = c.GetProperty("name").GetString()!;
            var rng = SeededRandom.ForTensor(seed, name);
            string where = $"seed {seed}, '{name}'";
            Assert.That(rng.Key, Is.EqualTo(ulong.Parse(c.GetProperty("key").GetString()!, CultureInfo.InvariantCulture)), where);
            var raw = c.GetProperty("raw").EnumerateArray().Select(v => ulong.Parse(v.GetString()!, CultureInfo.InvariantCulture)).ToArray();
            for (int i = 0; i < raw.Length; i++) Assert.That(rng.Next((ulong)i), Is.EqualTo(raw[i]), $"{where} raw {i}");
            var uni = c.GetProperty("uniform").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (int i = 0; i < uni.Length; i++) Assert.That(rng.Uniform((ulong)i), Is.EqualTo(uni[i]), $"{where} uniform {i}");
            // normals: DetMath against libm, and sin(2πu) in the twin rounds 2π·u first; a few units in the last place of a double
            var nor = c.GetProperty("normal").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (int i = 0; i < nor.Length; i++)
                Assert.That(rng.Normal((ulong)i), Is.EqualTo(nor[i]).Within(1e-15 * Math.Max(1, Math.Abs(nor[i]))), $"{where} normal {i}");
        }
    }

    [Test]
    public void WeightInitMatchesThePythonTwinToTheFloat()
    {
        var r = Reference();
        Check(WeightInit.Create(new ParameterSpec("features.0.weight", new[] { 8, 3, 3, 3 }, ParameterRole.ConvWeight, "features.0"), 5), r.GetProperty("conv_weight_seed5_8x3x3x3"));
        Check(WeightInit.Create(new ParameterSpec("classifier.0.weight", new[] { 3, 7 }, ParameterRole.LinearWeight, "classifier.0"), 5), r.GetProperty("linear_weight_seed5_3x7"));
        Check(WeightInit.Create(new ParameterSpec("features.1.running_var", new[] { 6 }, ParameterRole.BatchNormRunningVar, "features.1"), 5, randomBatchNormStatistics: true), r.GetProperty("bn_var_random_seed5_6"));

        static void Check(Tensor t, JsonElement expected)
        {
            var exp = expected.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
            var act = t.ToFloatArray();
            Assert.That(act, Has.Length.EqualTo(exp.Length));
            // the twin uses libm: allow one float32 ulp where a double result straddled a rounding boundary
            for (int i = 0; i < act.Length; i++)
                Assert.That(Math.Abs(BitConverter.SingleToInt32Bits(act[i]) - BitConverter.SingleToInt32Bits(exp[i])), Is.LessThanOrEqualTo(1), $"element {i}: {act[i]:R} vs {exp[i]:R}");
        }
    }

    [Test]
    public void DetMathAgreesWithLibm()
    {
        var rng = new SeededRandom(99);
        double worstLog = 0, worstTrig = 0;
        for (ulong i = 0; i < 200_000; i++)
        {
            double u = ((rng.Next(i) >> 11) + 1) * (1.0 / (1UL << 53));
            double x = i % 3 == 0 ? u : i % 3 == 1 ? u * 1e-300 : u * 1e300;
            double l = DetMath.Log(x), e = Math.Log(x);
            worstLog = Math.Max(worstLog, Math.Abs(l - e) / Math.Max(Math.Abs(e), 1));
            DetMath.SinCos2Pi(u - Math.Floor(u), out double s, out double c);
            worstTrig = Math.Max(worstTrig, Math.Max(Math.Abs(s - Math.Sin(2 * Math.PI * u)), Math.Abs(c - Math.Cos(2 * Math.PI * u))));
        }
        Assert.That(worstLog, Is.LessThan(5e-16), "Log relative error");
        Assert.That(worstTrig, Is.LessThan(2e-15), "sin/cos absolute error (2πu itself carries ~1e-16·2π)");
        Assert.That(DetMath.Log(1.0), Is.EqualTo(0.0));
        Assert.That(DetMath.Log(double.Epsilon), Is.EqualTo(Math.Log(double.Epsilon)).Within(1e-13));
        Assert.That(DetMath.Log(Math.Sqrt(2)), Is.EqualTo(Math.Log(Math.Sqrt(2))).Within(1e-16));
        DetMath.SinCos2Pi(0.25, out double s1, out double c1);
        Assert.That((s1, c1), Is.EqualTo((1.0, 0.0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => DetMath.Log(0));
    }

    [Test]
    public void ParallelChunkedFillEqualsElementByElement()
    {
        var t = new Tensor(DType.Float32, new[] { 600_001 }); // three chunks of 2^18 and a partial one, odd length
        var rng = SeededRandom.ForTensor(3, "w");
        rng.FillNormal(t, 0.5, 2.0);
        var v = t.AsSpan<float>();
        foreach (int i in new[] { 0, 1, 2, 262_143, 262_144, 262_145, 524_288, 599_999, 600_000 })
            Assert.That(v[i], Is.EqualTo((float)(0.5 + 2.0 * rng.Normal((ulong)i))), $"element {i}");
        for (int i = 0; i < v.Length; i += 997)
            Assert.That(v[i], Is.EqualTo((float)(0.5 + 2.0 * rng.Normal((ulong)i))), $"element {i}");
        var again = new Tensor(DType.Float32, new[] { 600_001 });
        rng.FillNormal(again, 0.5, 2.0);
        Assert.That(again.Bytes.SequenceEqual(t.Bytes), Is.True, "deterministic");
    }

    [Test]
    public void InitFollowsTorchvisionsSchemeStatistically()
    {
        // kaiming_normal_(mode="fan_out", nonlinearity="relu") on VGG's conv4: std = sqrt(2 / (512·3·3))
        var conv = WeightInit.Create(new ParameterSpec("features.24.weight", new[] { 512, 512, 3, 3 }, ParameterRole.ConvWeight, "features.24"), 11);
        CheckNormal(conv.ToFloatArray(), Math.Sqrt(2.0 / (512 * 9)));
        var fc = WeightInit.Create(new ParameterSpec("classifier.3.weight", new[] { 1024, 2048 }, ParameterRole.LinearWeight, "classifier.3"), 11);
        CheckNormal(fc.ToFloatArray(), 0.01);

        Assert.That(WeightInit.Create(new ParameterSpec("b", new[] { 64 }, ParameterRole.ConvBias, "x"), 1).ToFloatArray(), Is.All.EqualTo(0f));
        Assert.That(WeightInit.Create(new ParameterSpec("b", new[] { 64 }, ParameterRole.LinearBias, "x"), 1).ToFloatArray(), Is.All.EqualTo(0f));
        Assert.That(WeightInit.Create(new ParameterSpec("g", new[] { 64 }, ParameterRole.BatchNormWeight, "x"), 1).ToFloatArray(), Is.All.EqualTo(1f));
        Assert.That(WeightInit.Create(new ParameterSpec("v", new[] { 64 }, ParameterRole.BatchNormRunningVar, "x"), 1).ToFloatArray(), Is.All.EqualTo(1f));
        Assert.That(WeightInit.Create(new ParameterSpec("m", new[] { 64 }, ParameterRole.BatchNormRunningMean, "x"), 1).ToFloatArray(), Is.All.EqualTo(0f));

        var var_ = WeightInit.Create(new ParameterSpec("v", new[] { 4096 }, ParameterRole.BatchNormRunningVar, "x"), 1, randomBatchNormStatistics: true).ToFloatArray();
        Assert.That(var_, Is.All.InRange(0.5f, 1.5f));
        Assert.That(var_.Distinct().Count(), Is.GreaterThan(4000));
        var mean = WeightInit.Create(new ParameterSpec("m", new[] { 4096 }, ParameterRole.BatchNormRunningMean, "x"), 1, randomBatchNormStatistics: true).ToFloatArray();
        Assert.That(Std(mean), Is.EqualTo(0.1).Within(0.01));

        // independent per key and seed
        var a = WeightInit.Create(new ParameterSpec("k1", new[] { 16 }, ParameterRole.LinearWeight, "x"), 1).ToFloatArray();
        Assert.That(WeightInit.Create(new ParameterSpec("k1", new[] { 16 }, ParameterRole.LinearWeight, "x"), 1).ToFloatArray(), Is.EqualTo(a));
        Assert.That(WeightInit.Create(new ParameterSpec("k2", new[] { 16 }, ParameterRole.LinearWeight, "x"), 1).ToFloatArray(), Is.Not.EqualTo(a));
        Assert.That(WeightInit.Create(new ParameterSpec("k1", new[] { 16 }, ParameterRole.LinearWeight, "x"), 2).ToFloatArray(), Is.Not.EqualTo(a));
    }

    private static void CheckNormal(float[] v, double std)
    {
        double n = v.Length, mean = v.Average(x => (double)x), s = Std(v);
        Assert.That(Math.Abs(mean), Is.LessThan(5 * std / Math.Sqrt(n)), $"mean {mean} of {n} values");
        Assert.That(s / std, Is.EqualTo(1.0).Within(5 * Math.Sqrt(0.5 / n) + 1e-4), $"std {s}, expected {std}");
        double within1 = v.Count(x => Math.Abs(x) <= std) / n; // 68.27 % for a normal distribution
        Assert.That(within1, Is.EqualTo(0.682689).Within(0.003));
        double within2 = v.Count(x => Math.Abs(x) <= 2 * std) / n; // 95.45 %
        Assert.That(within2, Is.EqualTo(0.954500).Within(0.002));
    }

    private static double Std(float[] v)
    {
        double m = v.Average(x => (double)x);
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Length);
    }
}
