using Vgg.Engine.IR;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Models.ModelTestUtil;

namespace Vgg.Engine.Tests.Models;

/// <summary>The engine's shape inference on our graphs agrees with the shapes the model definitions compute.</summary>
public class GraphShapeTests
{
    private static IEnumerable<TestCaseData> Models()
    {
        yield return new TestCaseData("vgg16_bn-style", new Func<Model>(() => ModelFactory.FromStateDict(MakeStateDict(TinyVggStyle(bn: true)))), new[] { 2, 3, 224, 224 });
        yield return new TestCaseData("vgg16-style 512", new Func<Model>(() => ModelFactory.FromStateDict(MakeStateDict(TinyVggStyle(bn: false)))), new[] { 1, 3, 512, 512 });
        yield return new TestCaseData("gap head 48×80", new Func<Model>(() => ModelFactory.FromStateDict(MakeStateDict(TinyVggStyle(bn: false, pool: 1)))), new[] { 3, 3, 48, 80 });
        yield return new TestCaseData("features.29", new Func<Model>(() => ModelFactory.FromStateDict(MakeStateDict(TinyVggStyle(bn: false)), new ModelOptions { OutputLayer = "features.29" })), new[] { 1, 3, 100, 70 });
        yield return new TestCaseData("tinyvgg", new Func<Model>(() => ModelFactory.FromSpec(Path.Combine(TestData.RepoRoot, "models", "tinyvgg.json"), null)), new[] { 4, 3, 64, 64 });
        yield return new TestCaseData("mnist-cnn", new Func<Model>(() => ModelFactory.FromSpec(Path.Combine(TestData.RepoRoot, "models", "mnist-cnn.json"), null)), new[] { 5, 1, 28, 28 });
    }

    [TestCaseSource(nameof(Models))]
    public void ShapeInferenceAgreesWithTheNetwork(string name, Func<Model> make, int[] input)
    {
        var m = make();
        var expected = m.Network!.InferShapes(input[2], input[3]);
        var types = ShapeInference.Infer(m.Graph, new Dictionary<string, int[]> { ["input"] = input });
        for (int i = 0; i < m.Graph.Nodes.Count; i++)
        {
            var node = m.Graph.Nodes[i];
            var shape = types[node.Outputs[0]].Shape;
            Assert.That(shape, Is.EqualTo(new[] { input[0] }.Concat(expected[i]).ToArray()), $"{name}: node {node.Name}");
        }
        // dynamic: the declared graph output shape is what inference gives without concrete input sizes
        var dynamicTypes = ShapeInference.Infer(m.Graph);
        Assert.That(dynamicTypes[m.Graph.Outputs[0].Name].Shape, Is.EqualTo(m.Graph.Outputs[0].Shape), $"{name}: declared output");
    }
}
