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

    public override string ToString() => $"{Architecture} ({Graph})";
}
