using System.Globalization;
using System.Text;
using Vgg.Engine;
using Vgg.Engine.IR;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Models;

namespace Vgg.Cli;

/// <summary>ONNX files on the command line: <c>--weights model.onnx</c> and <c>vgg inspect model.onnx</c>.</summary>
internal static class OnnxModels
{
    /// <summary>A .onnx file (by extension, as every ONNX tool names them).</summary>
    public static bool IsOnnx(string path) => Path.GetExtension(path).Equals(".onnx", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Imports an ONNX model (<see cref="OnnxImporter.LoadModel"/>). ONNX files carry no image pipeline and no labels:
    /// they come from <paramref name="specPath"/> when given (a JSON model spec whose input must match the graph's),
    /// else torchvision's ImageNet pipeline for a 3-channel input. The output kind follows the graph's last operator:
    /// Softmax or LogSoftmax over the class axis of a [N, classes] output makes the output probabilities or
    /// log-probabilities, so classify never applies a second softmax.
    /// </summary>
    /// <exception cref="ModelFormatException">Not an ONNX model, malformed tensors, or a bad spec.</exception>
    /// <exception cref="UnsupportedOperatorException">An operator, attribute or dtype the engine does not support.</exception>
    /// <param name="path">The .onnx file.</param>
    /// <param name="specPath">A JSON model spec giving the preprocessing and labels, or null.</param>
    /// <param name="imagePipeline">Whether the verb decodes images through the model's preprocessing (classify,
    /// calibrate). Verbs that take raw tensors (run, plan, export) pass false: any input then runs without a spec.</param>
    /// <exception cref="ModelMismatchException">The spec's input or labels do not fit the graph, or a non-RGB input without a spec when <paramref name="imagePipeline"/> is set.</exception>
    public static Model Load(string path, string? specPath, bool imagePipeline = true)
    {
        var spec = specPath is null ? null : ModelSpec.Load(specPath);
        var m = OnnxImporter.LoadModel(path, spec?.Preprocessing);
        var g = m.Graph;
        var input = g.Inputs.FirstOrDefault(i => !g.Initializers.ContainsKey(i.Name));
        int channels = input?.Shape is { Length: 4 } s4 ? s4[1] : -1;
        if (spec is not null)
        {
            var net = spec.Network;
            if (channels > 0 && channels != net.InputChannels || input?.Shape is { Length: 4 } s && (s[2] > 0 && s[2] != net.InputHeight || s[3] > 0 && s[3] != net.InputWidth))
                throw new ModelMismatchException(path, input!.Name, $"the input of {specPath} ({net.InputChannels}×{net.InputHeight}×{net.InputWidth})", Tensor.FormatShape(input.Shape!));
            if (spec.Labels is { } l && l.Count != m.NumClasses)
                throw new ModelMismatchException(specPath, "labels", $"{m.NumClasses} labels (the ONNX model's class count)", $"{l.Count}");
        }
        else if (imagePipeline && channels > 0 && channels != 3)
            throw new ModelMismatchException(path, input!.Name, "3 channels for the default ImageNet preprocessing",
                $"{channels} channels", "an ONNX file carries no preprocessing: give --spec FILE whose \"preprocessing\" fits the model (e.g. models/mnist-cnn.json)");

        var kind = OutputKind.Logits;
        if (g.Outputs.Count > 0 && g.Outputs[0].Shape is { Length: 2 } && g.Producer(g.Outputs[0].Name) is { } last)
            kind = last.Op switch
            {
                SoftmaxOp sm when sm.Axis is -1 or 1 => OutputKind.Probabilities,
                LogSoftmaxOp sm when sm.Axis is -1 or 1 => OutputKind.LogProbabilities,
                _ => OutputKind.Logits,
            };
        (int Height, int Width) size = spec is null ? m.InputSize : (spec.Network.InputHeight, spec.Network.InputWidth);
        var pre = m.Preprocessing;
        if (spec is null && size != (224, 224))
        {
            // A fixed input of another size: torchvision's recipe scaled as ModelFactory does for torchvision VGG
            // (Resize(round(min(H, W)·256/224)), CenterCrop(H, W)), ImageNet mean and std.
            var scaled = Preprocessing.ImageNetFor(size.Height, size.Width);
            pre = pre with { ResizeHeight = scaled.ResizeHeight, ResizeWidth = scaled.ResizeWidth, CropHeight = size.Height, CropWidth = size.Width };
        }
        return new Model(g, m.Architecture, pre) { NumClasses = m.NumClasses, InputSize = size, OutputKind = kind, Labels = spec?.Labels };
    }

    /// <summary>The text <c>vgg inspect</c> prints for an ONNX file: model facts, inputs, outputs, every initializer, the
    /// operators after import, and the torchvision architecture when the initializer names are torchvision's.</summary>
    public static string Describe(string path, long fileBytes)
    {
        var ci = CultureInfo.InvariantCulture;
        var g = OnnxImporter.Load(path, OnnxImportOptions.Default, out var info);
        var sb = new StringBuilder();
        sb.Append(ci, $"file:         {path} ({fileBytes:N0} bytes)\n");
        sb.Append(ci, $"format:       onnx (IR version {info.IrVersion}), opset {info.Opset}");
        var other = info.OpsetImports.Where(kv => kv.Key is not ("" or "ai.onnx")).Select(kv => $"{kv.Key} {kv.Value}").ToList();
        if (other.Count > 0) sb.Append(" (also ").Append(string.Join(", ", other)).Append(')');
        sb.Append('\n');
        if (info.ProducerName.Length > 0) sb.Append(("producer:     " + info.ProducerName + " " + info.ProducerVersion).TrimEnd()).Append('\n');
        foreach (var i in g.Inputs.Where(i => !g.Initializers.ContainsKey(i.Name))) sb.Append("input:        ").Append(Describe(i)).Append('\n');
        foreach (var o in g.Outputs) sb.Append("output:       ").Append(Describe(o)).Append('\n');
        var ops = g.Nodes.GroupBy(n => n.Op.OpType).OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal)
            .Select(x => $"{x.Key} ×{x.Count()}");
        sb.Append(ci, $"operators:    {g.Nodes.Count} nodes after import (shape chains and constants folded): {string.Join(", ", ops)}\n\n");

        var rows = new List<string[]> { new[] { "initializer", "dtype", "shape", "elements", "bytes" } };
        foreach (var (key, t) in g.Initializers)
            rows.Add(new[] { key, t.DType.Name(), Tensor.FormatShape(t.Shape), t.ElementCount.ToString("N0", ci), t.ByteCount.ToString("N0", ci) });
        rows.Add(new[] { $"total: {g.Initializers.Count} initializers", "", "", g.Initializers.Values.Sum(t => t.ElementCount).ToString("N0", ci), g.Initializers.Values.Sum(t => t.ByteCount).ToString("N0", ci) });
        Table.Append(sb, rows);
        sb.Append('\n');
        try
        {
            var rec = VggRecognizer.Recognize(g.Initializers.Select(kv => (kv.Key, kv.Value.ShapeArray())), path);
            sb.Append("architecture: ").Append(rec.Describe()).Append(" (from the initializer names and shapes)\n");
        }
        catch (ModelMismatchException)
        {
            sb.Append("architecture: the initializer names are not torchvision VGG's; the graph runs as imported\n");
        }
        return sb.ToString();
    }

    private static string Describe(ValueInfo v) => v.Shape is null
        ? $"{v.Name} {v.DType.Name()} (shape unknown)"
        : $"{v.Name} {v.DType.Name()}[{string.Join(", ", v.Shape.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture)))}]";
}

/// <summary>Fixed-width tables with a rule above the last (total) row: text columns left-aligned, numbers right-aligned.</summary>
internal static class Table
{
    public static void Append(StringBuilder sb, List<string[]> rows, bool totalRow = true)
    {
        int n = rows[0].Length;
        var widths = Enumerable.Range(0, n).Select(c => rows.Max(r => r[c].Length)).ToArray();
        for (int r = 0; r < rows.Count; r++)
        {
            if (totalRow && r == rows.Count - 1) sb.Append(new string('-', widths.Sum() + 2 * (n - 1))).Append('\n');
            for (int c = 0; c < n; c++)
            {
                if (c > 0) sb.Append("  ");
                bool right = c >= n - 2; // elements, bytes
                sb.Append(right ? rows[r][c].PadLeft(widths[c]) : (c == n - 1 ? rows[r][c] : rows[r][c].PadRight(widths[c])));
            }
            sb.Append('\n');
        }
    }
}
