using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Vgg.Engine;

namespace Vgg.Perf.Harness;

/// <summary>ONNX Runtime execution provider for <see cref="OrtBenchTarget"/>.</summary>
public enum OrtProvider
{
    /// <summary>The CPU execution provider (package Microsoft.ML.OnnxRuntime).</summary>
    Cpu,

    /// <summary>The CUDA execution provider; needs a package built with it (Microsoft.ML.OnnxRuntime.Gpu) and a device.</summary>
    Cuda,
}

/// <summary>
/// ONNX Runtime on an .onnx file as a bench target: default graph optimizations (ORT_ENABLE_ALL), the
/// given intra-op thread count, one inter-op thread, sequential execution; input and output bound once to
/// pinned arrays so a run allocates nothing. Per-layer times come from ONNX Runtime's own profiler, on a
/// second session created only for that (profiling slows runs down).
/// </summary>
public sealed class OrtBenchTarget : IBenchTarget
{
    private readonly string _path;
    private readonly int _threads;
    private readonly OrtProvider _provider;
    private readonly int[]? _imageShape;
    private readonly InferenceSession _session;
    private readonly string _inputName, _outputName;
    private readonly RunOptions _runOptions = new();
    private float[] _input = [];
    private float[] _output = [];
    private long[] _inShape = [], _outShape = [];
    private OrtValue? _in, _out;
    private string[] _inNames = [], _outNames = [];
    private OrtValue[] _inValues = [], _outValues = [];

    /// <summary>Creates the session.</summary>
    /// <param name="onnxPath">The model (one float32 NCHW input, its first output is compared and kept).</param>
    /// <param name="threads">Intra-op threads (the same count as ours).</param>
    /// <param name="provider">Execution provider.</param>
    /// <param name="imageShape">C, H, W when the model's input has dynamic non-batch dimensions; null to take them from the model.</param>
    /// <param name="name">Target name in reports.</param>
    /// <exception cref="FileNotFoundException">No file at <paramref name="onnxPath"/>.</exception>
    /// <exception cref="NotSupportedException">The provider is not in the loaded ONNX Runtime package (the message says which package has it).</exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime refused the model.</exception>
    public OrtBenchTarget(string onnxPath, int threads, OrtProvider provider = OrtProvider.Cpu, int[]? imageShape = null, string name = "ort")
    {
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"ONNX model '{onnxPath}' does not exist", onnxPath);
        _path = onnxPath;
        _threads = threads;
        _provider = provider;
        _imageShape = imageShape;
        Name = name;
        _session = new InferenceSession(onnxPath, MakeOptions(false, null));
        _inputName = _session.InputMetadata.Keys.First();
        _outputName = _session.OutputMetadata.Keys.First();
        var meta = _session.InputMetadata[_inputName];
        if (meta.ElementType != typeof(float))
            throw new NotSupportedException($"{onnxPath}: input '{_inputName}' is {meta.ElementType.Name}; the harness feeds float32 NCHW images");
        Description = $"ONNX Runtime {MachineProbe.OrtVersion() ?? "?"}, {provider} execution provider, graph optimization ORT_ENABLE_ALL (default), {threads} intra-op thread(s), 1 inter-op, sequential; {Path.GetFileName(onnxPath)}";
    }

    private SessionOptions MakeOptions(bool profile, string? profilePrefix)
    {
        var so = new SessionOptions
        {
            IntraOpNumThreads = _threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        if (profile)
        {
            // The prefix first: setting EnableProfiling passes the prefix current at that moment to ONNX Runtime.
            so.ProfileOutputPathPrefix = profilePrefix!;
            so.EnableProfiling = true;
        }
        if (_provider == OrtProvider.Cuda)
        {
            try { so.AppendExecutionProvider_CUDA(0); }
            catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                so.Dispose();
                throw new NotSupportedException($"ONNX Runtime's CUDA execution provider is not available here ({e.Message.Trim()}); it needs the Microsoft.ML.OnnxRuntime.Gpu package and a CUDA device", e);
            }
        }
        return so;
    }

    public string Name { get; }
    public string Backend => _provider == OrtProvider.Cpu ? "ort-cpu" : "ort-cuda";
    public string Precision => "fp32";
    public string Description { get; }
    public IReadOnlyList<BenchMode> Modes { get; } = [BenchMode.Eager];
    public PlannedMemory? PlannedMemory => null;
    public ReadOnlySpan<float> Output => _output;

    public int[] InputShape(int batch)
    {
        var dims = _session.InputMetadata[_inputName].Dimensions;
        var shape = new int[dims.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            if (i == 0) { shape[0] = batch; continue; }
            if (dims[i] > 0) shape[i] = dims[i];
            else if (_imageShape is not null && _imageShape.Length == dims.Length - 1) shape[i] = _imageShape[i - 1];
            else throw new ArgumentException($"{_path}: input '{_inputName}' dimension {i} is dynamic; give the image shape (C,H,W)");
        }
        return shape;
    }

    public void Prepare(int batch, BenchMode mode, ReadOnlySpan<float> input)
    {
        if (mode != BenchMode.Eager) throw new NotSupportedException($"{Name}: only eager runs (got {mode})");
        _in?.Dispose();
        _out?.Dispose();
        var shape = InputShape(batch);
        _inShape = shape.Select(d => (long)d).ToArray();
        if (input.Length != Tensor.Product(shape))
            throw new ArgumentException($"{Name}: input has {input.Length} values, shape [{string.Join(",", shape)}] needs {Tensor.Product(shape)}");
        _input = input.ToArray();
        _in = OrtValue.CreateTensorValueFromMemory(_input, _inShape);
        // One run with ONNX Runtime's own output allocation to learn the output shape, then bind our array.
        using (var outs = _session.Run(_runOptions, [_inputName], [_in], [_outputName]))
        {
            var info = outs[0].GetTensorTypeAndShape();
            _outShape = info.Shape;
            _output = new float[info.ElementCount];
        }
        _out = OrtValue.CreateTensorValueFromMemory(_output, _outShape);
        // Name and value arrays made once, so a run allocates nothing on the managed heap.
        (_inNames, _outNames, _inValues, _outValues) = ([_inputName], [_outputName], [_in], [_out]);
    }

    public void Run()
    {
        if (_in is null || _out is null) throw new InvalidOperationException($"{Name}: Prepare was not called");
        _session.Run(_runOptions, _inNames, _inValues, _outNames, _outValues);
    }

    public LayerTimings? ProfileLayers(int runs)
    {
        if (_in is null) throw new InvalidOperationException($"{Name}: Prepare was not called");
        var dir = Directory.CreateTempSubdirectory("vgg-bench-ort-");
        try
        {
            string file;
            using (var so = MakeOptions(true, Path.Combine(dir.FullName, "ort_profile")))
            using (var s = new InferenceSession(_path, so))
            {
                var outs = new float[_output.Length];
                using var o = OrtValue.CreateTensorValueFromMemory(outs, _outShape);
                for (int r = 0; r < runs + 1; r++) s.Run(_runOptions, [_inputName], [_in], [_outputName], [o]);
                file = s.EndProfiling();
            }
            if (!Path.IsPathRooted(file)) file = Path.Combine(dir.FullName, Path.GetFileName(file));
            var nodes = OrtProfile.Parse(File.ReadAllText(file), skipRuns: 1);
            var layers = nodes.Select((n, i) => (n.ToLayer(i), n.Provider, (IReadOnlyList<double>)n.Milliseconds)).ToList();
            return new LayerTimings(layers, runs, $"ONNX Runtime profiler ({runs} runs after 1 discarded; kernel time per node)");
        }
        finally
        {
            try { dir.Delete(true); } catch (IOException) { }
        }
    }

    public void Dispose()
    {
        _in?.Dispose();
        _out?.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
    }
}

/// <summary>
/// Reads ONNX Runtime's profile (the Chrome-trace JSON written by <c>SessionOptions.EnableProfiling</c>):
/// events of category "Node" named "&lt;node&gt;_kernel_time" carry the node's kernel time ("dur", µs), its op
/// ("args.op_name"), provider and input/output shapes ("args.input_type_shape": [{"float": [1,3,224,224]}, ...]).
/// </summary>
/// <remarks>
/// Counts from these shapes are the work ONNX Runtime executes: its NCHWc layout pads channels to its block
/// (8 or 16), so a conv with 8 output channels can be profiled (and counted) as one with 16.
/// </remarks>
public static class OrtProfile
{
    /// <summary>One node of the profile with its kernel times, ms, one per run (after the skipped ones).</summary>
    public sealed record NodeTimes(string Name, string OpName, string Provider, IReadOnlyList<TensorArg> Inputs, IReadOnlyList<TensorArg> Outputs, List<double> Milliseconds)
    {
        /// <summary>As a <see cref="BenchLayer"/>; for Conv, Gemm and MatMul kinds inputs after the first are taken to be weights.</summary>
        public BenchLayer ToLayer(int index) => new(index, Name, OpName, null, Inputs.Cast<TensorArg?>().ToList(), Outputs,
            IsView: OpName is "Reshape" or "Flatten" or "Identity" or "Squeeze" or "Unsqueeze");
    }

    /// <summary>Nodes in order of first appearance; the first <paramref name="skipRuns"/> executions of each node are dropped (warm-up).</summary>
    /// <exception cref="JsonException">Not a profile (not a JSON array of events).</exception>
    public static IReadOnlyList<NodeTimes> Parse(string json, int skipRuns = 0)
    {
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new JsonException("an ONNX Runtime profile is a JSON array of trace events");
        var nodes = new List<NodeTimes>();
        var byName = new Dictionary<string, (NodeTimes Node, int Seen)>(StringComparer.Ordinal);
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            var name = e.GetProperty("name").GetString() ?? "";
            if (!name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            name = name[..^"_kernel_time".Length];
            double ms = e.GetProperty("dur").GetDouble() / 1000.0;
            if (!byName.TryGetValue(name, out var entry))
            {
                var args = e.TryGetProperty("args", out var a) ? a : default;
                string op = Str(args, "op_name");
                bool weightsAfterFirst = op is "Conv" or "FusedConv" or "Gemm" or "FusedGemm" or "MatMul" or "FusedMatMul";
                var ins = Shapes(args, "input_type_shape", weightsAfterFirst);
                var outs = Shapes(args, "output_type_shape", false);
                RestorePrepackedGemmWeight(op, ins, outs);
                entry = (new NodeTimes(name, op, Str(args, "provider"), ins, outs, new List<double>()), 0);
                nodes.Add(entry.Node);
            }
            if (entry.Seen >= skipRuns) entry.Node.Milliseconds.Add(ms);
            byName[name] = (entry.Node, entry.Seen + 1);
        }
        return nodes;
    }

    /// <summary>
    /// ONNX Runtime pre-packs a Gemm's constant B and then leaves it out of the profile's input shapes (seen with
    /// 1.31.1 on VGG-16's classifier: inputs A and C only). Put a B of [N, K] back, K = elements(A) / M, so its bytes count.
    /// </summary>
    private static void RestorePrepackedGemmWeight(string op, List<TensorArg> ins, List<TensorArg> outs)
    {
        if (op is not ("Gemm" or "FusedGemm") || outs.Count != 1 || outs[0].Shape.Length != 2 || ins.Count is 0 or >= 3) return;
        if (ins.Count == 2 && ins[1].Shape.Length == 2) return; // A and B present, C absent
        long m = outs[0].Shape[0], k = m == 0 ? 0 : ins[0].Elements / m;
        ins.Insert(1, new TensorArg([outs[0].Shape[1], (int)k], ins[0].DType, IsConstant: true));
    }

    private static string Str(JsonElement args, string key) =>
        args.ValueKind == JsonValueKind.Object && args.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";

    private static List<TensorArg> Shapes(JsonElement args, string key, bool weightsAfterFirst)
    {
        var list = new List<TensorArg>();
        if (args.ValueKind != JsonValueKind.Object || !args.TryGetProperty(key, out var arr) || arr.ValueKind != JsonValueKind.Array) return list;
        foreach (var item in arr.EnumerateArray())
            foreach (var p in item.EnumerateObject())
            {
                var shape = p.Value.EnumerateArray().Select(d => d.GetInt32()).ToArray();
                var dtype = p.Name switch
                {
                    "float" => DType.Float32,
                    "float16" or "MLFloat16" => DType.Float16,
                    "int64_t" or "int64" => DType.Int64,
                    "int32_t" or "int32" => DType.Int32,
                    "int8_t" or "int8" => DType.Int8,
                    "uint8_t" or "uint8" => DType.UInt8,
                    "double" => DType.Float64,
                    _ => DType.Float32,
                };
                list.Add(new TensorArg(shape, dtype, weightsAfterFirst && list.Count > 0));
            }
        return list;
    }
}
