using Vgg.Engine;
using Vgg.Engine.Backends;
using Vgg.Engine.IR;
using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Models;
using Vgg.Engine.Planning;
using Vgg.Engine.Quantization;
using Vgg.Engine.Runtime;

namespace Vgg.Perf.Harness;

/// <summary>
/// Our engine as a bench target: a <see cref="Session"/> (the service path users call), timed through
/// <c>Session.Run(input, shape, output)</c>; per-layer times through the same call with an
/// <see cref="Vgg.Engine.Diagnostics.IStepProfiler"/>; the planned memory from the session's plan for the batch.
/// </summary>
public sealed class SessionBenchTarget : IBenchTarget
{
    private readonly Graph _graph;
    private readonly SessionOptions _options;
    private readonly Dictionary<BenchMode, Session> _sessions = new();
    private readonly string _model;
    private readonly (int H, int W) _inputSize;
    private Session _session;
    private float[] _input = [];
    private float[] _output = [];
    private int[] _shape = [];
    private ExecutionPlan? _plan;
    private List<BenchLayer> _layers = new();

    /// <summary>Creates the session for <paramref name="graph"/> (first input: float32 NCHW images).</summary>
    /// <param name="graph">The model graph (weights as initializers).</param>
    /// <param name="options">Session options (backend, threads, precision and calibration).</param>
    /// <param name="modelName">Model name for the description.</param>
    /// <param name="inputSize">Height and width where the graph's input is dynamic.</param>
    /// <param name="name">Target name in reports.</param>
    /// <remarks>On the CUDA backend the target offers eager launches and CUDA graph replay (one session each,
    /// <see cref="SessionOptions.CudaGraphs"/>); the CPU backend runs eagerly only.</remarks>
    /// <exception cref="VggEngineException">The session could not be created (names the reason).</exception>
    public SessionBenchTarget(Graph graph, SessionOptions options, string modelName, (int H, int W) inputSize, string name = "vgg")
    {
        _graph = graph;
        _options = options;
        _session = new Session(graph, options with { CudaGraphs = false });
        _sessions[BenchMode.Eager] = _session;
        _model = modelName;
        _inputSize = inputSize;
        Name = name;
        if (_session.Inputs.Count != 1 || _session.Inputs[0].DType != DType.Float32)
        {
            _session.Dispose();
            throw new InvalidInputException(graph.Inputs.FirstOrDefault()?.Name ?? "(none)", $"the harness times single-input float32 models; '{modelName}' has {_session.Inputs.Count} input(s)");
        }
        Modes = _session.BackendKind == BackendKind.Cuda ? [BenchMode.Eager, BenchMode.GraphReplay] : [BenchMode.Eager];
    }

    public string Name { get; }
    public string Backend => _session.BackendKind == BackendKind.Cuda ? "cuda" : "cpu";
    public string Precision => _options.Precision.ToString().ToLowerInvariant();
    public string Description => $"Vgg.Engine Session ({_session.BackendName}) on {_model}";
    public IReadOnlyList<BenchMode> Modes { get; }
    public ReadOnlySpan<float> Output => _output;

    /// <summary>The session of the mode last prepared (e.g. to print its plan).</summary>
    public Session Session => _session;

    /// <summary>Arena, weights (constants the plan reads, after BN folding) and workspace of the prepared batch's plan.</summary>
    public PlannedMemory? PlannedMemory => _plan is null ? null : new PlannedMemory(_plan.ArenaBytes, _plan.ConstantBytes, _plan.WorkspaceBytes, _session.PreparedHostWeightBytes);

    public int[] InputShape(int batch)
    {
        var decl = _session.Inputs[0].Shape ?? [-1, 3, -1, -1];
        var s = new int[decl.Length];
        for (int i = 0; i < s.Length; i++)
            s[i] = i == 0 ? batch : decl[i] >= 0 ? decl[i] : i == decl.Length - 2 ? _inputSize.H : i == decl.Length - 1 ? _inputSize.W
                : throw new ArgumentException($"input '{_session.Inputs[0].Name}' dimension {i} is dynamic; give the image shape");
        return s;
    }

    public void Prepare(int batch, BenchMode mode, ReadOnlySpan<float> input)
    {
        if (!Modes.Contains(mode)) throw new NotSupportedException($"{Name}: the {Backend} backend runs {string.Join(" and ", Modes)} only (got {mode})");
        if (!_sessions.TryGetValue(mode, out var session))
            _sessions[mode] = session = new Session(_graph, _options with { CudaGraphs = mode == BenchMode.GraphReplay });
        _session = session;
        _shape = InputShape(batch);
        _input = input.ToArray();
        _output = new float[Tensor.Product(_session.OutputShape(_shape))];
        _plan = _session.GetPlan(_shape);
        _layers = _plan.Steps.Select(ToLayer).ToList();
    }

    /// <summary>A plan step as a bench layer (arena values and constants with their shapes).</summary>
    public static BenchLayer ToLayer(PlanStep s) =>
        new(s.Index, s.Node.Name, s.Op.OpType, s.Op,
            s.Inputs.Select(v => v is null ? null : new TensorArg(v.Shape, v.DType, v.IsConstant)).ToArray(),
            s.Outputs.Select(v => new TensorArg(v.Shape, v.DType, v.IsConstant)).ToArray(), s.IsView);

    public void Run() => _session.Run(_input, _shape, _output);

    public LayerTimings? ProfileLayers(int runs)
    {
        var c = new StepTimeCollector();
        for (int r = 0; r < runs; r++) _session.Run(_input, _shape, _output, c);
        return c.ToTimings(_layers, runs, "IStepProfiler in the backend's execute loop (Stopwatch around each step)");
    }

    public void Dispose()
    {
        foreach (var session in _sessions.Values) session.Dispose();
    }
}

/// <summary>Builds our engine's bench target from a <c>vgg bench</c> command line.</summary>
public static class BenchTargets
{
    /// <summary>True when the command line names a model for our engine (--arch, --spec, --weights, or --onnx alone).</summary>
    public static bool HasModel(BenchCommandLine c) => c.Arch is not null || c.Spec is not null || c.Weights is not null || c.OnnxPath is not null;

    /// <summary>
    /// Loads our engine's model for <paramref name="c"/>: --arch (seeded weights from --weights-seed, or --weights),
    /// --spec (with optional --weights), a checkpoint alone (--weights, architecture recognised), or else the --onnx file
    /// (ONNX importer). Returns the model and a name for reports.
    /// </summary>
    /// <exception cref="ArgumentException">No model option.</exception>
    /// <exception cref="VggEngineException">The model could not be loaded (names the file and the problem).</exception>
    public static (Model Model, string Name) LoadModel(BenchCommandLine c)
    {
        var mo = new ModelOptions { Seed = c.WeightsSeed, InputSize = c.ImageShape is { } img ? (img[1], img[2]) : null };
        if (c.Spec is not null)
            return (ModelFactory.FromSpec(c.Spec, c.Weights is null ? null : WeightsFile.Read(c.Weights), mo), Path.GetFileName(c.Spec));
        if (c.Arch is not null && c.Weights is null)
        {
            var m = ModelFactory.Seeded(c.Arch, c.WeightsSeed, options: mo);
            return (m, $"{m.Architecture} (seeded weights, seed {c.WeightsSeed})");
        }
        if (c.Weights is not null)
        {
            var m = ModelFactory.FromStateDict(WeightsFile.Read(c.Weights), mo with { Architecture = c.Arch });
            return (m, $"{m.Architecture} ({Path.GetFileName(c.Weights)})");
        }
        if (c.OnnxPath is not null)
            return (OnnxImporter.LoadModel(c.OnnxPath), Path.GetFileName(c.OnnxPath));
        throw new ArgumentException("our engine needs a model: --arch NAME [--weights FILE], --spec FILE [--weights FILE], --weights FILE or --onnx FILE");
    }

    /// <summary>
    /// The target for <paramref name="c"/>: the model of <see cref="LoadModel"/> on --backend cpu|cuda through a
    /// <see cref="Session"/>, or the reference executor for --backend reference. The model is loaded here, so the
    /// harness's memory pass counts its weights.
    /// </summary>
    /// <exception cref="ArgumentException">No model option, or an option this build cannot honour (names it).</exception>
    /// <exception cref="VggEngineException">The model could not be loaded (names the file and the problem).</exception>
    public static IBenchTarget FromCommandLine(BenchCommandLine c)
    {
        var (model, name) = LoadModel(c);
        if (c.Backend == "reference")
        {
            if (c.Precision != "fp32") throw new ArgumentException($"--precision {c.Precision}: the reference executor runs fp32 only");
            return new ReferenceBenchTarget(model.Graph, [3, model.InputSize.Height, model.InputSize.Width], "vgg-reference");
        }
        var precision = c.Precision switch { "fp16" => Precision.Fp16, "int8" => Precision.Int8, _ => Precision.Fp32 };
        CalibrationTable? table = null;
        if (precision == Precision.Int8)
        {
            if (c.Calibration is not null)
            {
                table = CalibrationTable.Load(c.Calibration);
            }
            else
            {
                // Timing only: activation ranges from seeded synthetic images (real accuracy needs `vgg calibrate` on real images).
                var shape = new[] { 4, model.Preprocessing.Channels, model.InputSize.Height, model.InputSize.Width };
                var rng = new Random(c.Options.Seed);
                var data = new float[Tensor.Product(shape)];
                for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 4 - 2);
                table = Calibrator.Calibrate(model, [Tensor.From(data, shape)]);
                name += ", INT8 calibrated on 4 synthetic images (timing only)";
            }
        }
        var so = new SessionOptions
        {
            Backend = c.Backend == "cuda" ? BackendChoice.Cuda : BackendChoice.Cpu,
            Threads = c.Options.Threads,
            Precision = precision,
            Calibration = table,
        };
        return new SessionBenchTarget(model.Graph, so, name, model.InputSize);
    }

    /// <summary>
    /// Writes our model of <paramref name="c"/> as ONNX (<see cref="OnnxExporter"/>, opset 17) to <paramref name="path"/>,
    /// so ONNX Runtime runs the same model and weights; the model is released afterwards.
    /// </summary>
    public static void ExportForBaseline(BenchCommandLine c, string path)
    {
        var (model, _) = LoadModel(c);
        OnnxExporter.Export(model, path);
    }
}
