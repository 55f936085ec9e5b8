using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.IR;

namespace Vgg.Engine.Quantization;

/// <summary>
/// What calibration observed for one graph value (float32 activations, all elements of all calibration inputs).
/// </summary>
/// <param name="Min">Smallest value seen.</param>
/// <param name="Max">Largest value seen.</param>
/// <param name="MaxAbs">max |x| seen.</param>
/// <param name="Range">The |x| bound the scale covers: <see cref="MaxAbs"/> (method Max) or the percentile (method Percentile).</param>
/// <param name="Scale">The per-tensor activation scale, Range / 127 (1 when Range is 0), float32 (real value = code · scale).</param>
public sealed record ValueRange(float Min, float Max, float MaxAbs, float Range, float Scale);

/// <summary>
/// Per-tensor activation scales of a model, keyed by graph value name (the names of the model's
/// <see cref="Graph"/> as loaded: node outputs and graph inputs), with the method that made them, the number
/// of calibration samples and the identity of the model they were measured on. Made by <see cref="Calibrator"/>,
/// saved and loaded as JSON (format in Engine/Quantization/PRECISION.md), consumed by the INT8 precision pass of
/// the CPU backend and by the CUDA backend (<see cref="Scales"/>). Immutable.
/// </summary>
/// <remarks>
/// The scheme is Engine/Cuda/QUANTIZATION.md's: scale = max |x| / 127 (<see cref="Int8Scheme.ActivationScale"/>),
/// codes = clamp(round_half_even(x / scale), −128, 127). Scales are stored as float32 and written to JSON in the
/// shortest form that reads back to the same bits, so a saved table gives bit-identical INT8 results.
/// </remarks>
public sealed class CalibrationTable
{
    /// <summary>The "format" field of the JSON file.</summary>
    public const string FormatName = "vgg-engine-calibration";

    /// <summary>The "version" field this code writes and the highest it reads.</summary>
    public const int FormatVersion = 1;

    private readonly Dictionary<string, ValueRange> _values;

    /// <summary>Creates a table.</summary>
    /// <param name="modelName">Model name (the graph's name), for messages.</param>
    /// <param name="modelHash">"sha256:…" from <see cref="ComputeModelHash"/>, or null when unknown (no model check).</param>
    /// <param name="method">How ranges were chosen.</param>
    /// <param name="percentile">The percentile (0–100] for <see cref="CalibrationMethod.Percentile"/>; ignored otherwise.</param>
    /// <param name="sampleCount">Number of calibration images (batch elements) observed.</param>
    /// <param name="values">Value name → range and scale.</param>
    /// <exception cref="CalibrationException">A scale that is not positive and finite (names the value).</exception>
    public CalibrationTable(string modelName, string? modelHash, CalibrationMethod method, double percentile, int sampleCount, IReadOnlyDictionary<string, ValueRange> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        ModelName = modelName;
        ModelHash = modelHash;
        Method = method;
        Percentile = method == CalibrationMethod.Percentile ? percentile : 100.0;
        SampleCount = sampleCount;
        _values = new Dictionary<string, ValueRange>(values, StringComparer.Ordinal);
        foreach (var (name, r) in _values)
            if (!(r.Scale > 0) || !float.IsFinite(r.Scale))
                throw new CalibrationException(null, $"value '{name}' has scale {r.Scale}; a scale must be positive and finite");
    }

    /// <summary>
    /// A table from max |x| per value (method Max), e.g. ranges measured elsewhere or chosen by hand in tests;
    /// scale = <see cref="Int8Scheme.ActivationScale"/>(maxAbs).
    /// </summary>
    /// <param name="graph">The model the ranges belong to (name and hash are taken from it), or null for no model check.</param>
    /// <param name="maxAbs">Value name → max |x|.</param>
    /// <param name="sampleCount">Samples behind the ranges (informational).</param>
    public static CalibrationTable FromMaxAbs(Graph? graph, IReadOnlyDictionary<string, float> maxAbs, int sampleCount = 0) =>
        new(graph?.Name ?? "model", graph is null ? null : ComputeModelHash(graph), CalibrationMethod.Max, 100, sampleCount,
            maxAbs.ToDictionary(p => p.Key, p => new ValueRange(-p.Value, p.Value, p.Value, p.Value, Int8Scheme.ActivationScale(p.Value)), StringComparer.Ordinal));

    /// <summary>Model name, for messages.</summary>
    public string ModelName { get; }

    /// <summary>"sha256:…" of the model (<see cref="ComputeModelHash"/>), or null when the table does not pin one.</summary>
    public string? ModelHash { get; }

    /// <summary>How ranges were chosen.</summary>
    public CalibrationMethod Method { get; }

    /// <summary>The percentile of |x| used (100 for <see cref="CalibrationMethod.Max"/>).</summary>
    public double Percentile { get; }

    /// <summary>Number of calibration samples (images) observed.</summary>
    public int SampleCount { get; }

    /// <summary>Every calibrated value by name.</summary>
    public IReadOnlyDictionary<string, ValueRange> Values => _values;

    /// <summary>Value name → activation scale (float32), the form the CUDA backend takes.</summary>
    public IReadOnlyDictionary<string, float> Scales => _values.ToDictionary(p => p.Key, p => p.Value.Scale, StringComparer.Ordinal);

    /// <summary>The scale of <paramref name="value"/>, if calibrated.</summary>
    public bool TryGetScale(string value, out float scale)
    {
        if (_values.TryGetValue(value, out var r)) { scale = r.Scale; return true; }
        scale = 0;
        return false;
    }

    /// <summary>The scale of <paramref name="value"/>.</summary>
    /// <exception cref="CalibrationException">The table has no entry for it (names the value and the table's model).</exception>
    public float Scale(string value) => TryGetScale(value, out var s) ? s
        : throw new CalibrationException(null, $"the calibration table (model '{ModelName}', {_values.Count} values) has no scale for value '{value}'; calibrate this model (Calibrator.Calibrate or `vgg calibrate`)", new[] { value });

    /// <summary>
    /// Checks that the table was made for <paramref name="graph"/> (the graph as loaded, before optimization):
    /// the model hash must agree when the table pins one.
    /// </summary>
    /// <exception cref="CalibrationException">The hash differs (both hashes and model names in the message, and what to do).</exception>
    public void CheckModel(Graph graph)
    {
        if (ModelHash is null) return;
        var h = ComputeModelHash(graph);
        if (!string.Equals(h, ModelHash, StringComparison.Ordinal))
            throw new CalibrationException(null,
                $"the calibration table was made for model '{ModelName}' ({ModelHash}), but this model '{graph.Name}' is {h}: its weights or structure differ. " +
                "Calibrate this model (Calibrator.Calibrate or `vgg calibrate`), or, if the difference is intended, use table.WithoutModelCheck()");
    }

    /// <summary>The same scales without the model pin (for a model whose weights differ on purpose, e.g. re-exported; at your own risk).</summary>
    public CalibrationTable WithoutModelCheck() => new(ModelName, null, Method, Percentile, SampleCount, _values);

    /// <summary>
    /// A SHA-256 over the model graph as loaded: graph name excluded; inputs and outputs (names); every node's
    /// name, op type, input and output names; every initializer's name, dtype, shape and bytes (in name order).
    /// About 0.4 s for VGG-16's 528 MB of weights.
    /// </summary>
    /// <returns>"sha256:" followed by 64 lower-case hex digits.</returns>
    public static string ComputeModelHash(Graph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Str(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            Span<byte> len = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(len, b.Length);
            h.AppendData(len);
            h.AppendData(b);
        }
        Str("inputs");
        foreach (var i in graph.Inputs) Str(i.Name);
        Str("outputs");
        foreach (var o in graph.Outputs) Str(o.Name);
        Str("nodes");
        foreach (var n in graph.Nodes)
        {
            Str(n.Name);
            Str(n.Op.OpType);
            Str(string.Join("\u0001", n.Inputs));
            Str(string.Join("\u0001", n.Outputs));
        }
        Str("initializers");
        foreach (var (name, t) in graph.Initializers.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Str(name);
            Str(Tensor.FormatShape(t.DType, t.Shape));
            h.AppendData(t.Bytes);
        }
        return "sha256:" + Convert.ToHexStringLower(h.GetHashAndReset());
    }

    // ------------------------------------------------------------------ JSON

    /// <summary>Writes the table as JSON (UTF-8, indented; format in Engine/Quantization/PRECISION.md).</summary>
    /// <exception cref="CalibrationException">The file cannot be written (names it).</exception>
    public void Save(string path)
    {
        try
        {
            File.WriteAllText(path, ToJson());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CalibrationException(path, $"cannot write the calibration table: {e.Message}", inner: e);
        }
    }

    /// <summary>The JSON text of the table.</summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", FormatName);
            w.WriteNumber("version", FormatVersion);
            w.WriteStartObject("model");
            w.WriteString("name", ModelName);
            if (ModelHash is null) w.WriteNull("hash"); else w.WriteString("hash", ModelHash);
            w.WriteEndObject();
            w.WriteString("method", Method == CalibrationMethod.Max ? "max" : "percentile");
            w.WriteNumber("percentile", Percentile);
            w.WriteNumber("samples", SampleCount);
            w.WriteString("scheme", "symmetric int8, zero point 0, scale = range / 127 (Engine/Cuda/QUANTIZATION.md)");
            w.WriteStartObject("values");
            foreach (var (name, r) in _values.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                w.WriteStartObject(name);
                w.WriteNumber("scale", r.Scale);
                w.WriteNumber("range", r.Range);
                w.WriteNumber("maxAbs", r.MaxAbs);
                w.WriteNumber("min", r.Min);
                w.WriteNumber("max", r.Max);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Reads a table saved by <see cref="Save"/>.</summary>
    /// <exception cref="CalibrationException">The file is missing or unreadable, is not JSON, is not a calibration
    /// table (format field), has a newer version, or holds a bad entry (names the file and the field or value).</exception>
    public static CalibrationTable Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CalibrationException(path, $"cannot read the calibration table: {e.Message}", inner: e);
        }
        return FromJson(text, path);
    }

    /// <summary>Parses the JSON text of a table.</summary>
    /// <param name="json">The text.</param>
    /// <param name="sourceName">File name for messages, or null.</param>
    /// <exception cref="CalibrationException">As <see cref="Load"/>.</exception>
    public static CalibrationTable FromJson(string json, string? sourceName = null)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CalibrationException(sourceName, $"not valid JSON ({e.Message}); expected a calibration table written by Calibrator / `vgg calibrate`", inner: e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            CalibrationException Bad(string what) => new(sourceName, what);
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var fmt) || fmt.ValueKind != JsonValueKind.String || fmt.GetString() != FormatName)
                throw Bad($"not a calibration table: the \"format\" field must be \"{FormatName}\"");
            if (!root.TryGetProperty("version", out var ver) || ver.ValueKind != JsonValueKind.Number || !ver.TryGetInt32(out int version) || version < 1)
                throw Bad("the \"version\" field is missing or not a positive integer");
            if (version > FormatVersion)
                throw Bad($"format version {version} is newer than this engine reads ({FormatVersion}); update the engine or recalibrate");
            string modelName = "model";
            string? hash = null;
            if (root.TryGetProperty("model", out var model) && model.ValueKind == JsonValueKind.Object)
            {
                if (model.TryGetProperty("name", out var mn) && mn.ValueKind == JsonValueKind.String) modelName = mn.GetString()!;
                if (model.TryGetProperty("hash", out var mh) && mh.ValueKind == JsonValueKind.String) hash = mh.GetString();
            }
            var method = CalibrationMethod.Max;
            if (root.TryGetProperty("method", out var me))
                method = me.ValueKind == JsonValueKind.String ? me.GetString() switch
                {
                    "max" => CalibrationMethod.Max,
                    "percentile" => CalibrationMethod.Percentile,
                    var s => throw Bad($"unknown method \"{s}\" (max, percentile)"),
                } : throw Bad("the \"method\" field must be a string");
            double percentile = root.TryGetProperty("percentile", out var pe) && pe.ValueKind == JsonValueKind.Number ? pe.GetDouble() : 100.0;
            int samples = root.TryGetProperty("samples", out var sa) && sa.ValueKind == JsonValueKind.Number && sa.TryGetInt32(out int n) ? n : 0;
            if (!root.TryGetProperty("values", out var values) || values.ValueKind != JsonValueKind.Object)
                throw Bad("the \"values\" object (value name → scale) is missing");
            var map = new Dictionary<string, ValueRange>(StringComparer.Ordinal);
            foreach (var p in values.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Object) throw Bad($"value '{p.Name}': expected an object with \"scale\"");
                float F(string field, float fallback)
                {
                    if (!p.Value.TryGetProperty(field, out var e)) return fallback;
                    if (e.ValueKind != JsonValueKind.Number || !e.TryGetSingle(out float f) || !float.IsFinite(f))
                        throw Bad($"value '{p.Name}': \"{field}\" must be a finite number, found {e.GetRawText()}");
                    return f;
                }
                if (!p.Value.TryGetProperty("scale", out _)) throw Bad($"value '{p.Name}': \"scale\" is missing");
                float scale = F("scale", 0);
                if (!(scale > 0)) throw Bad($"value '{p.Name}': scale {scale.ToString(CultureInfo.InvariantCulture)} must be positive");
                float range = F("range", scale * 127);
                float maxAbs = F("maxAbs", range);
                map[p.Name] = new ValueRange(F("min", -maxAbs), F("max", maxAbs), maxAbs, range, scale);
            }
            return new CalibrationTable(modelName, hash, method, percentile, samples, map);
        }
    }

    public override string ToString() => $"calibration of '{ModelName}': {_values.Count} values, {Method.ToString().ToLowerInvariant()}{(Method == CalibrationMethod.Percentile ? $" {Percentile}" : "")}, {SampleCount} samples";
}
