using Vgg.Engine.IR;

namespace Vgg.Engine.Models;

/// <summary>
/// A loaded model: its graph (weights as initializers), the architecture it was recognised as, the
/// input pipeline it expects and, when known, its class labels.
/// </summary>
public sealed class Model
{
    public Model(Graph graph, string architecture, Preprocessing preprocessing)
    {
        Graph = graph;
        Architecture = architecture;
        Preprocessing = preprocessing;
    }

    /// <summary>The graph IR with weights as float32 initializers.</summary>
    public Graph Graph { get; }

    /// <summary>"vgg16", "vgg16_bn", "spec:tinyvgg", "onnx", ...</summary>
    public string Architecture { get; }

    /// <summary>The image pipeline the model expects.</summary>
    public Preprocessing Preprocessing { get; set; }

    /// <summary>Class names by index, or null when unknown.</summary>
    public IReadOnlyList<string>? Labels { get; set; }

    /// <summary>Number of classes of the classifier head (last dimension of the first output), or 0 when not a classifier.</summary>
    public int NumClasses { get; init; }

    /// <summary>Input height and width the model was built for (224 for torchvision VGG), used when none is given.</summary>
    public (int Height, int Width) InputSize { get; init; } = (224, 224);

    /// <summary>What the graph's first output holds.</summary>
    public OutputKind OutputKind { get; init; } = OutputKind.Logits;

    /// <summary>In features-only mode, the layer or block whose output the graph returns ("features.29", "avgpool"); null for the whole model.</summary>
    public string? OutputLayer { get; init; }

    /// <summary>The sequential network the graph was built from (torchvision VGG or JSON spec), or null (ONNX import).</summary>
    public Network? Network { get; init; }

    /// <summary>How a state dict was bound (renames, conversions, a re-initialised head), or null for seeded weights.</summary>
    public BindingReport? Binding { get; init; }

    /// <summary>What <see cref="VggRecognizer"/> found, when the model was recognised from a state dict.</summary>
    public VggRecognition? Recognition { get; init; }

    /// <summary>The seed of seeded weights, or null when the weights were loaded.</summary>
    public int? Seed { get; init; }

    public override string ToString() => $"{Architecture} ({Graph})";
}

/// <summary>What a model's output holds.</summary>
public enum OutputKind
{
    /// <summary>Unnormalised class scores [N, classes]; softmax gives probabilities.</summary>
    Logits,
    /// <summary>Softmax probabilities [N, classes].</summary>
    Probabilities,
    /// <summary>log_softmax values [N, classes]; exp gives probabilities (the MNIST CNN).</summary>
    LogProbabilities,
    /// <summary>An intermediate activation (features-only mode), e.g. [N, 512, 7, 7].</summary>
    Features,
}
