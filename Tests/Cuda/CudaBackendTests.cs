using Vgg.Engine.Backends;
using Vgg.Engine.Cuda;
using Vgg.Engine.Cuda.Network;
using Vgg.Engine.Cuda.Native;
using Vgg.Engine.IR;
using Vgg.Engine.Models;
using Vgg.Engine.Planning;
using Vgg.Engine.Runtime;

namespace Vgg.Engine.Tests.Cuda;

/// <summary>
/// The CUDA backend's device-independent parts: plan lowering (checked by running the lowered network on
/// the float64 reference against the core's CPU backend), the INT8 reference's sanity, and the
/// no-driver answers of the backend and the registry.
/// </summary>
public class CudaBackendTests
{
    internal static (ExecutionPlan Plan, PlanLowering.Lowered Lowered) Lower(Model model, int batch, int size)
    {
        var opts = CudaBackend.PlannerOptionsFor(new PlannerOptions());
        var graph = Planner.Prepare(model.Graph, opts);
        var input = graph.Inputs.Single(i => !graph.Initializers.ContainsKey(i.Name));
        var plan = Planner.Plan(graph, new Dictionary<string, int[]> { [input.Name] = new[] { batch, input.Shape![1], size, size } }, opts);
        return (plan, PlanLowering.Lower(plan));
    }

    internal static float[] Random(int seed, long n)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }

    private static float[] Cpu(Model model, float[] input, int[] shape)
    {
        using var s = new Session(model, new SessionOptions { Backend = BackendChoice.Cpu });
        var outShape = s.GetPlan(shape).Outputs[0].Shape;
        var y = new float[outShape.Aggregate(1, (a, b) => a * b)];
        s.Run(input, shape, y);
        return y;
    }

    private static void AssertClose(float[] actual, float[] expected, double rtol, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        double maxRef = expected.Max(v => Math.Abs((double)v)), num = 0, den = 0;
        int worst = 0;
        double worstErr = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = Math.Abs(actual[i] - (double)expected[i]);
            num += d * d;
            den += (double)expected[i] * expected[i];
            if (d > worstErr) { worstErr = d; worst = i; }
        }
        double rel = Math.Sqrt(num / Math.Max(den, 1e-300));
        Assert.That(worstErr, Is.LessThanOrEqualTo(rtol * maxRef + 1e-12), $"{what}: worst |a-e| at {worst}: {actual[worst]} vs {expected[worst]} (rel l2 {rel:G3})");
        Assert.That(rel, Is.LessThanOrEqualTo(rtol), $"{what}: rel l2");
    }

    [TestCase("vgg11", 32, 2, VggHead.Torchvision)]
    [TestCase("vgg13_bn", 32, 1, VggHead.Torchvision)]
    [TestCase("vgg11", 40, 2, VggHead.GlobalPool)]
    public void LoweredNetworkOnTheFloatReferenceMatchesTheCpuBackend(string arch, int size, int batch, VggHead head)
    {
        var model = ModelFactory.Seeded(arch, seed: 7, numClasses: 10, new ModelOptions { Head = head });
        var (_, lowered) = Lower(model, batch, size);
        var def = lowered.Definition;
        Assert.That(def.Layers.OfType<ConvSpec>().Count(), Is.EqualTo(arch.StartsWith("vgg11", StringComparison.Ordinal) ? 8 : 10));
        Assert.That(def.Layers.OfType<ConvSpec>().Count(c => c.FusedPool), Is.EqualTo(5), "every max-pool fused into its conv");
        Assert.That(def.Layers.OfType<MaxPoolSpec>(), Is.Empty);
        var x = Random(11, (long)batch * 3 * size * size);
        var reference = NetworkReference.RunFloat(def, x, batch, size, size)[def.Outputs[0]];
        var cpu = Cpu(model, x, new[] { batch, 3, size, size });
        AssertClose(reference, cpu, 1e-4, $"{arch} {size}x{size} batch {batch} {head}");
    }

    [Test]
    public void Int8ReferenceStaysCloseToTheFloatReference()
    {
        var model = ModelFactory.Seeded("vgg11", seed: 3, numClasses: 10);
        var (_, lowered) = Lower(model, 2, 32);
        var def = lowered.Definition;
        var x = Random(5, 2L * 3 * 32 * 32);
        var maxAbs = new Dictionary<string, float>(StringComparer.Ordinal);
        var f = NetworkReference.RunFloat(def, x, 2, 32, 32, maxAbs)[def.Outputs[0]];
        var scales = maxAbs.ToDictionary(p => p.Key, p => Vgg.Engine.Cuda.Quantization.Int8Scheme.ActivationScale(p.Value));
        var q = NetworkReference.RunInt8(def, x, 2, 32, 32, scales)[def.Outputs[0]];
        // Quantization error, not a tolerance of the GPU: 8 int8 layers on random weights keep the logits within a few percent.
        double num = 0, den = 0;
        for (int i = 0; i < f.Length; i++) { num += (q[i] - f[i]) * (double)(q[i] - f[i]); den += f[i] * (double)f[i]; }
        Assert.That(Math.Sqrt(num / den), Is.LessThan(0.1), "INT8 logits vs float logits, rel l2");
        Assert.That(q.Distinct().Count(), Is.GreaterThan(10), "the INT8 logits are not degenerate");
    }

    [Test]
    public void UnsupportedStepsSayWhy()
    {
        var g = new Graph { Name = "add" };
        g.Inputs.Add(new ValueInfo("x", DType.Float32, new[] { 1, 3, 4, 4 }));
        g.Outputs.Add(new ValueInfo("y", DType.Float32, null));
        g.Nodes.Add(new Node("add0", new BinaryOp(BinaryKind.Add), new[] { "x", "x" }, new[] { "y" }));
        var opts = CudaBackend.PlannerOptionsFor(new PlannerOptions());
        var plan = Planner.Plan(g, new Dictionary<string, int[]> { ["x"] = new[] { 1, 3, 4, 4 } }, opts);
        Assert.That(PlanLowering.Supports(plan.Steps[0], out var reason), Is.False);
        Assert.That(reason, Does.Contain("Add"));
        var e = Assert.Throws<UnsupportedOperatorException>(() => PlanLowering.Lower(plan));
        Assert.That(e!.NodeName, Is.EqualTo("add0"));
    }

    [Test]
    public void WithoutADriverTheBackendAndTheRegistrySaySo()
    {
        if (CudaLibraries.TryGet(CudaLibrary.Driver, out _)) Assert.Ignore("ignored: a CUDA driver is installed here; the no-driver path is tested where there is none");
        Assert.That(CudaBackend.TryCreate(out var b, out var reason), Is.False);
        Assert.That(b, Is.Null);
        Assert.That(reason, Does.StartWith("no CUDA driver"));
        var e = Assert.Throws<VggEngineException>(() => BackendRegistry.Create(BackendChoice.Cuda, 1));
        Assert.That(e!.Message, Does.Contain("no CUDA driver"));
        using var auto = BackendRegistry.Create(BackendChoice.Auto, 1);
        Assert.That(auto.Kind, Is.EqualTo(BackendKind.Cpu));
    }

    [Test]
    public void EnvironmentOptionsAreParsedAndBadValuesNamed()
    {
        var old = Environment.GetEnvironmentVariable("VGG_CUDA_PRECISION");
        try
        {
            Environment.SetEnvironmentVariable("VGG_CUDA_PRECISION", "fp16");
            Assert.That(CudaBackendOptions.FromEnvironment().Precision, Is.EqualTo(Vgg.Engine.Cuda.Launch.CudaPrecision.Float16));
            Environment.SetEnvironmentVariable("VGG_CUDA_PRECISION", "fp8");
            var e = Assert.Throws<ArgumentException>(() => CudaBackendOptions.FromEnvironment());
            Assert.That(e!.Message, Does.Contain("VGG_CUDA_PRECISION"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("VGG_CUDA_PRECISION", old);
        }
    }
}
