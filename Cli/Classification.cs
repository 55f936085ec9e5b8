using Vgg.Engine.Models;

namespace Vgg.Cli;

/// <summary>One entry of a top-k list: class index, label (null when the model has none) and probability.</summary>
internal readonly record struct Prediction(int Index, string? Label, double Probability);

/// <summary>Class probabilities and top-k from a model's output row.</summary>
internal static class Classification
{
    /// <summary>
    /// Probabilities from one output row, by what the model's last layer already did: logits → softmax
    /// (torch.softmax: exp(x − max) / Σ exp(x − max), computed in float64); log_softmax → exp; softmax → as is.
    /// Never a second softmax on a model that ends in one.
    /// </summary>
    public static double[] Probabilities(ReadOnlySpan<float> row, OutputKind kind)
    {
        var p = new double[row.Length];
        switch (kind)
        {
            case OutputKind.Probabilities:
                for (int i = 0; i < row.Length; i++) p[i] = row[i];
                break;
            case OutputKind.LogProbabilities:
                for (int i = 0; i < row.Length; i++) p[i] = Math.Exp(row[i]);
                break;
            case OutputKind.Logits:
                double max = double.NegativeInfinity;
                foreach (var v in row) max = Math.Max(max, v);
                double sum = 0;
                for (int i = 0; i < row.Length; i++) sum += p[i] = Math.Exp(row[i] - max);
                for (int i = 0; i < row.Length; i++) p[i] /= sum;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "features are not class scores");
        }
        return p;
    }

    /// <summary>The <paramref name="k"/> most probable classes, highest first; ties keep the lower index first
    /// (as a stable sort; torch.topk does not define the order of ties). NaN sorts last.</summary>
    public static Prediction[] TopK(double[] probabilities, int k, IReadOnlyList<string>? labels)
    {
        k = Math.Clamp(k, 0, probabilities.Length);
        var order = Enumerable.Range(0, probabilities.Length)
            .OrderByDescending(i => double.IsNaN(probabilities[i]) ? double.NegativeInfinity : probabilities[i])
            .ThenBy(i => i);
        return order.Take(k).Select(i => new Prediction(i, labels?[i], probabilities[i])).ToArray();
    }
}
