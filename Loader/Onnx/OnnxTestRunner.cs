using System.Diagnostics;
using System.Globalization;
using System.Text;
using Vgg.Engine.IR;

namespace Vgg.Engine.Loader.Onnx;

/// <summary>Runs a graph on named inputs and returns (at least) its outputs by name: the backend under test.</summary>
public delegate IReadOnlyDictionary<string, Tensor> OnnxGraphExecutor(Graph graph, IReadOnlyDictionary<string, Tensor> inputs);

/// <summary>Outcome of one ONNX backend test case.</summary>
public enum OnnxCaseOutcome
{
    /// <summary>Every output of every data set within tolerance.</summary>
    Passed,
    /// <summary>A wrong output, a malformed case, or an error while loading or running it.</summary>
    Failed,
    /// <summary>The model uses an operator, attribute or data type the engine does not support (<see cref="UnsupportedOperatorException"/>).</summary>
    Unsupported,
}

/// <summary>Elementwise tolerance |actual − expected| ≤ Atol + Rtol·|expected| for floating-point outputs; integer and bool outputs are compared exactly.</summary>
/// <param name="Rtol">Relative tolerance.</param>
/// <param name="Atol">Absolute tolerance.</param>
/// <param name="Reason">Why a case needs other than the default (shown in reports).</param>
public sealed record OnnxTolerance(double Rtol, double Atol, string? Reason = null)
{
    /// <summary>The ONNX backend test runner's defaults: rtol 1e-3, atol 1e-7.</summary>
    public static OnnxTolerance Default { get; } = new(1e-3, 1e-7);
}

/// <summary>The result of one case.</summary>
/// <param name="Name">The case folder's name ("test_add").</param>
/// <param name="CaseDirectory">The case folder.</param>
/// <param name="Outcome">Passed, failed or unsupported.</param>
/// <param name="Message">Why it failed or is unsupported; for a pass, what was compared.</param>
/// <param name="DataSets">Data sets compared.</param>
/// <param name="Elapsed">Wall time of load and run.</param>
public sealed record OnnxCaseResult(string Name, string CaseDirectory, OnnxCaseOutcome Outcome, string Message, int DataSets, TimeSpan Elapsed)
{
    /// <summary>"PASS test_add (1 data set, 12 ms)", "FAIL test_x: ...", "UNSUPPORTED test_lrn: ...".</summary>
    public string Line => Outcome switch
    {
        OnnxCaseOutcome.Passed => $"PASS {Name} ({DataSets} data set{(DataSets == 1 ? "" : "s")}, {Elapsed.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture)} ms)",
        OnnxCaseOutcome.Failed => $"FAIL {Name}: {Message}",
        _ => $"UNSUPPORTED {Name}: {Message}",
    };

    public override string ToString() => Line;
}

/// <summary>All cases of a run and the closing summary.</summary>
public sealed class OnnxTestReport
{
    public OnnxTestReport(IReadOnlyList<OnnxCaseResult> cases) => Cases = cases;

    public IReadOnlyList<OnnxCaseResult> Cases { get; }

    public int Passed => Cases.Count(c => c.Outcome == OnnxCaseOutcome.Passed);

    public int Failed => Cases.Count(c => c.Outcome == OnnxCaseOutcome.Failed);

    public int Unsupported => Cases.Count(c => c.Outcome == OnnxCaseOutcome.Unsupported);

    /// <summary>"onnx-test: 120 passed, 0 failed, 11 unsupported (131 cases)".</summary>
    public string SummaryLine => $"onnx-test: {Passed} passed, {Failed} failed, {Unsupported} unsupported ({Cases.Count} case{(Cases.Count == 1 ? "" : "s")})";
}

/// <summary>
/// Runs ONNX backend test-case folders (the layout of onnx/backend/test/data: <c>model.onnx</c> beside
/// <c>test_data_set_N/input_K.pb</c> and <c>output_K.pb</c>, serialized TensorProtos) through the engine's
/// importer and an executor, and compares every output with the stored one.
/// </summary>
/// <remarks>
/// <para>Inputs: <c>input_K.pb</c> is the K-th graph input that has no initializer, as in ONNX's runner.
/// Outputs: <c>output_K.pb</c> is the K-th graph output. Tolerances: <see cref="OnnxTolerance.Default"/>
/// (ONNX's rtol 1e-3, atol 1e-7) unless <see cref="ToleranceOverrides"/> names the case with a reason;
/// integer and bool outputs exactly.</para>
/// <para>A folder with <c>model.onnx</c> and <c>output_K.pb</c> but no data sets is one of ONNX's "light"
/// models: its input is generated as the ONNX runner does, x = arange(n) / n as float32 in the input's shape.</para>
/// </remarks>
public sealed class OnnxTestRunner
{
    private readonly OnnxGraphExecutor _executor;
    private readonly OnnxImportOptions _import;

    /// <param name="executor">The backend: runs a graph on inputs (the CPU session, the reference executor, CUDA, ...).</param>
    /// <param name="importOptions">Import choices (default: strict).</param>
    public OnnxTestRunner(OnnxGraphExecutor executor, OnnxImportOptions? importOptions = null)
    {
        _executor = executor ?? throw new ArgumentNullException(nameof(executor));
        _import = importOptions ?? OnnxImportOptions.Default;
    }

    /// <summary>
    /// A runner whose executor is an engine <see cref="Vgg.Engine.Runtime.Session"/> created per case with
    /// <paramref name="sessionOptions"/> (backend CPU, CUDA or Auto): what <c>vgg onnx-test</c> runs.
    /// </summary>
    public static OnnxTestRunner ForSession(Vgg.Engine.Runtime.SessionOptions? sessionOptions = null, OnnxImportOptions? importOptions = null) =>
        new((graph, inputs) =>
        {
            using var session = new Vgg.Engine.Runtime.Session(graph, sessionOptions);
            return session.Run(inputs);
        }, importOptions);

    /// <summary>Tolerance for cases not in <see cref="ToleranceOverrides"/>.</summary>
    public OnnxTolerance DefaultTolerance { get; init; } = OnnxTolerance.Default;

    /// <summary>Per-case tolerances by case name, each with its reason.</summary>
    public Dictionary<string, OnnxTolerance> ToleranceOverrides { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The case folders under <paramref name="path"/>: the folder itself when it holds <c>model.onnx</c>, else
    /// its sub-folders that do, sorted by name.
    /// </summary>
    public static IReadOnlyList<string> FindCases(string path)
    {
        if (File.Exists(Path.Combine(path, "model.onnx"))) return new[] { Path.GetFullPath(path) };
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path}: no such folder");
        return Directory.GetDirectories(path)
            .Where(d => File.Exists(Path.Combine(d, "model.onnx")))
            .OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal)
            .Select(Path.GetFullPath)
            .ToList();
    }

    /// <summary>Runs every case found under <paramref name="paths"/> (see <see cref="FindCases"/>), reporting each to <paramref name="onCase"/>.</summary>
    public OnnxTestReport Run(IEnumerable<string> paths, Action<OnnxCaseResult>? onCase = null)
    {
        var results = new List<OnnxCaseResult>();
        foreach (var p in paths)
        {
            foreach (var dir in FindCases(p))
            {
                var r = RunCase(dir);
                results.Add(r);
                onCase?.Invoke(r);
            }
        }
        return new OnnxTestReport(results);
    }

    /// <summary>Loads and runs one case folder. Never throws for a bad case: the result says what went wrong.</summary>
    public OnnxCaseResult RunCase(string caseDirectory)
    {
        var sw = Stopwatch.StartNew();
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(caseDirectory));
        int sets = 0;
        try
        {
            var model = Path.Combine(caseDirectory, "model.onnx");
            var graph = OnnxImporter.Load(model, _import);
            var tol = ToleranceOverrides.TryGetValue(name, out var t) ? t : DefaultTolerance;
            var failures = new StringBuilder();
            var dataSets = Directory.GetDirectories(caseDirectory, "test_data_set_*").OrderBy(d => d, StringComparer.Ordinal).ToList();
            if (dataSets.Count == 0)
            {
                var expected = ReadNumbered(caseDirectory, "output_");
                if (expected.Count == 0) return Result(OnnxCaseOutcome.Failed, "no test_data_set_* folders and no output_*.pb beside model.onnx");
                sets = 1;
                CompareSet(graph, GeneratedInputs(graph), expected, tol, "generated input", failures);
            }
            foreach (var ds in dataSets)
            {
                sets++;
                var inputs = ReadNumbered(ds, "input_");
                var expected = ReadNumbered(ds, "output_");
                if (inputs.Count != graph.Inputs.Count)
                    return Result(OnnxCaseOutcome.Failed, $"{Path.GetFileName(ds)} has {inputs.Count} input files; the graph has {graph.Inputs.Count} runtime inputs ({string.Join(", ", graph.Inputs.Select(i => i.Name))})");
                var feed = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                for (int i = 0; i < inputs.Count; i++) feed[graph.Inputs[i].Name] = inputs[i];
                CompareSet(graph, feed, expected, tol, Path.GetFileName(ds), failures);
            }
            if (failures.Length > 0) return Result(OnnxCaseOutcome.Failed, failures.ToString().TrimEnd(';', ' '));
            return Result(OnnxCaseOutcome.Passed, tol == DefaultTolerance ? "" : $"tolerance rtol {tol.Rtol}, atol {tol.Atol}: {tol.Reason}");
        }
        catch (UnsupportedOperatorException e)
        {
            return Result(OnnxCaseOutcome.Unsupported, e.Message);
        }
        catch (VggEngineException e)
        {
            return Result(OnnxCaseOutcome.Failed, $"{e.GetType().Name}: {e.Message}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Result(OnnxCaseOutcome.Failed, $"error {e.GetType().Name}: {e.Message}");
        }

        OnnxCaseResult Result(OnnxCaseOutcome o, string message) => new(name, caseDirectory, o, message, sets, sw.Elapsed);
    }

    private void CompareSet(Graph graph, IReadOnlyDictionary<string, Tensor> feed, IReadOnlyList<Tensor> expected, OnnxTolerance tol, string setName, StringBuilder failures)
    {
        if (expected.Count != graph.Outputs.Count)
        {
            failures.Append($"{setName} has {expected.Count} output files; the graph has {graph.Outputs.Count} outputs; ");
            return;
        }
        var actual = _executor(graph, feed);
        for (int k = 0; k < expected.Count; k++)
        {
            var outName = graph.Outputs[k].Name;
            if (!actual.TryGetValue(outName, out var got))
            {
                failures.Append($"output '{outName}' ({setName}): the executor returned no such value; ");
                continue;
            }
            var cmp = TensorComparison.Compare(expected[k], got, tol.Rtol, tol.Atol);
            if (!cmp.Passed) failures.Append($"output '{outName}' ({setName}): {cmp.Summary}; ");
        }
    }

    /// <summary>input_0.pb, input_1.pb, ... (or output_*) in index order.</summary>
    private static List<Tensor> ReadNumbered(string dir, string prefix)
    {
        var files = Directory.GetFiles(dir, prefix + "*.pb")
            .Select(f => (File: f, Index: int.TryParse(Path.GetFileNameWithoutExtension(f)[prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : -1))
            .Where(x => x.Index >= 0)
            .OrderBy(x => x.Index)
            .ToList();
        for (int i = 0; i < files.Count; i++)
            if (files[i].Index != i) throw new ModelFormatException(dir, prefix + i + ".pb", "missing: the numbered files must run 0, 1, 2, ...");
        return files.Select(f => OnnxTensors.ReadTensorFile(f.File)).ToList();
    }

    /// <summary>ONNX's input for the "light" models: arange(n) / n as float32, reshaped to each input's (static) shape.</summary>
    private static Dictionary<string, Tensor> GeneratedInputs(Graph graph)
    {
        var feed = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var i in graph.Inputs)
        {
            if (i.DType != DType.Float32 || i.Shape is null || i.Shape.Any(d => d < 0))
                throw new ModelFormatException(null, i.Name, $"a generated input needs a float32 input of static shape; it is {i}");
            var t = new Tensor(DType.Float32, i.Shape);
            var s = t.AsSpan<float>();
            long n = t.ElementCount;
            for (long k = 0; k < n; k++) s[(int)k] = (float)((double)k / n);
            feed[i.Name] = t;
        }
        return feed;
    }
}
