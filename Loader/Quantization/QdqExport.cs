using Vgg.Engine.IR;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Models;
using Vgg.Engine.Quantization;

namespace Vgg.Engine.Loader.Quantization;

/// <summary>
/// ONNX export of a model in INT8 as QDQ (<see cref="QdqGraph"/>: QuantizeLinear/DequantizeLinear around Conv and Gemm,
/// per-channel int8 weights on axis 0, per-tensor activation scales, zero point int8 0), written by
/// <see cref="OnnxExporter"/>: what <c>vgg export --onnx OUT --precision int8 --calibration TABLE</c> writes.
/// </summary>
public static class QdqExport
{
    /// <summary>Writes <paramref name="model"/> in INT8 with <paramref name="calibration"/> to <paramref name="path"/>.</summary>
    /// <exception cref="CalibrationException">The table does not fit the model.</exception>
    /// <exception cref="UnsupportedOperatorException">A node with no ONNX form at the chosen opset.</exception>
    public static void Export(Model model, CalibrationTable calibration, string path, OnnxExportOptions? options = null) =>
        File.WriteAllBytes(path, ExportToBytes(model, calibration, options));

    /// <summary>The serialized QDQ ONNX model. An AdaptiveAvgPool whose input size is dynamic is exported for
    /// <see cref="Model.InputSize"/> (batch dynamic), as <see cref="OnnxExporter.Export(Model, string, OnnxExportOptions?)"/> does.</summary>
    public static byte[] ExportToBytes(Model model, CalibrationTable calibration, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        var qdq = QdqGraph.Build(model.Graph, calibration);
        options ??= new OnnxExportOptions();
        if (options.InputShapes is null && qdq.Nodes.Any(n => n.Op is AdaptiveAvgPoolOp a && (a.OutputHeight != 1 || a.OutputWidth != 1))
            && qdq.Inputs.Count == 1 && qdq.Inputs[0].Shape is { Length: 4 } s && (s[2] < 0 || s[3] < 0))
            options = options with { InputShapes = new Dictionary<string, int[]>(StringComparer.Ordinal) { [qdq.Inputs[0].Name] = new[] { s[0], s[1], model.InputSize.Height, model.InputSize.Width } } };
        return OnnxExporter.ExportToBytes(qdq, options);
    }
}
