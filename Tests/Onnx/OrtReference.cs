using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Vgg.Engine.IR;
using Vgg.Engine.Loader.Onnx;

namespace Vgg.Engine.Tests.Onnx;

/// <summary>
/// ONNX Runtime (CPU execution provider) as the independent reference: runs a serialized ONNX model on
/// engine tensors and returns engine tensors. Tensors cross as raw little-endian bytes, so every dtype
/// both sides know passes unchanged.
/// </summary>
internal static class OrtReference
{
    /// <summary>Runs <paramref name="model"/> (serialized ONNX) on <paramref name="inputs"/>; returns every graph output by name.</summary>
    public static Dictionary<string, Tensor> Run(byte[] model, IReadOnlyDictionary<string, Tensor> inputs, bool optimize = true)
    {
        using var so = new SessionOptions { GraphOptimizationLevel = optimize ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_DISABLE_ALL, IntraOpNumThreads = 2 };
        using var session = new InferenceSession(model, so);
        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var (name, t) in inputs)
            {
                if (!session.InputMetadata.ContainsKey(name)) continue;
                var v = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, (TensorElementType)(int)t.DType, t.Shape.Select(d => (long)d).ToArray());
                t.Bytes.CopyTo(v.GetTensorMutableRawData());
                names.Add(name);
                values.Add(v);
            }
            var outNames = session.OutputNames.ToList();
            using var runOptions = new RunOptions();
            using var outs = session.Run(runOptions, names, values, outNames);
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            for (int i = 0; i < outNames.Count; i++)
            {
                var info = outs[i].GetTensorTypeAndShape();
                var shape = info.Shape.Select(d => checked((int)d)).ToArray();
                var t = new Tensor((DType)(int)info.ElementDataType, shape);
                outs[i].GetTensorMutableRawData().CopyTo(t.Bytes);
                result[outNames[i]] = t;
            }
            return result;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>An executor for <see cref="OnnxTestRunner"/> that exports the graph and runs it in ONNX Runtime.</summary>
    public static OnnxGraphExecutor ExportAndRun(int opset = OnnxExporter.DefaultOpset) =>
        (graph, inputs) => Run(OnnxExporter.ExportToBytes(graph, new OnnxExportOptions { Opset = opset }), inputs);
}
