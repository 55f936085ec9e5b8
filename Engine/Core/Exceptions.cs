namespace Vgg.Engine;

/// <summary>
/// Base of every error the engine reports on purpose. Each subclass names what it was looking at
/// (file, tensor key, graph node, input) and what was expected; catching this type catches them all.
/// </summary>
public class VggEngineException : Exception
{
    public VggEngineException(string message) : base(message) { }
    public VggEngineException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>
/// A model file (PyTorch checkpoint, safetensors, ONNX, model spec) that cannot be read: truncated or
/// corrupt container, wrong format (an HTML page or a Git LFS pointer saved as .pth), an empty file,
/// an unsupported dtype. <see cref="FilePath"/> and, where one is involved, <see cref="Key"/> say where.
/// </summary>
public class ModelFormatException : VggEngineException
{
    public ModelFormatException(string? filePath, string? key, string problem, Exception? inner = null)
        : base(Compose(filePath, key, problem), inner)
    {
        FilePath = filePath;
        Key = key;
        Problem = problem;
    }

    /// <summary>The file being read, when there is one.</summary>
    public string? FilePath { get; }

    /// <summary>The tensor key, archive entry or field being read, when there is one.</summary>
    public string? Key { get; }

    /// <summary>What was wrong and what was expected, without the file and key.</summary>
    public string Problem { get; }

    private static string Compose(string? file, string? key, string problem)
    {
        var where = (file, key) switch
        {
            (not null, not null) => $"{file}: '{key}': ",
            (not null, null) => $"{file}: ",
            (null, not null) => $"'{key}': ",
            _ => "",
        };
        return where + problem;
    }
}

/// <summary>
/// A pickle in a checkpoint names a Python global outside the allow-list (a pickled module class,
/// <c>os.system</c>, ...). Unpickling never executes Python code; it stops here instead.
/// </summary>
public sealed class UnsafePickleException : ModelFormatException
{
    public UnsafePickleException(string? filePath, string globalName)
        : base(filePath, null, $"the pickle refers to the Python global '{globalName}', which is not on the allow-list of tensor, parameter and container types; it was not executed. Save a state_dict (model.state_dict()) instead of a whole pickled module.")
    {
        GlobalName = globalName;
    }

    /// <summary>"module.name" of the refused global.</summary>
    public string GlobalName { get; }
}

/// <summary>
/// Weights that do not fit the model: a missing or unexpected key, a shape or dtype that differs from
/// the parameter's. Names the key, the expected and the actual value.
/// </summary>
public sealed class ModelMismatchException : VggEngineException
{
    public ModelMismatchException(string? filePath, string key, string expected, string actual, string? hint = null)
        : base($"{(filePath is null ? "" : filePath + ": ")}'{key}': expected {expected}, found {actual}{(hint is null ? "" : ". " + hint)}")
    {
        FilePath = filePath;
        Key = key;
        Expected = expected;
        Actual = actual;
    }

    public string? FilePath { get; }
    public string Key { get; }
    public string Expected { get; }
    public string Actual { get; }
}

/// <summary>
/// A graph node whose operator, attribute or data type the engine does not support. Raised at load
/// or plan time, never replaced by a wrong result.
/// </summary>
public sealed class UnsupportedOperatorException : VggEngineException
{
    public UnsupportedOperatorException(string nodeName, string opType, string domain, int opset, string detail)
        : base($"node '{nodeName}' ({(string.IsNullOrEmpty(domain) ? "ai.onnx" : domain)}::{opType}, opset {opset}): {detail}")
    {
        NodeName = nodeName;
        OpType = opType;
        Domain = domain;
        Opset = opset;
        Detail = detail;
    }

    public string NodeName { get; }
    public string OpType { get; }
    /// <summary>Operator domain; "" is the default ONNX domain (ai.onnx).</summary>
    public string Domain { get; }
    public int Opset { get; }
    public string Detail { get; }
}

/// <summary>
/// A graph that is malformed or whose shapes do not agree (an undefined value, a conv whose channels do
/// not match its weight, a reshape of the wrong element count). Names the node and the values.
/// </summary>
public sealed class GraphException : VggEngineException
{
    public GraphException(string? nodeName, string message)
        : base(nodeName is null ? message : $"node '{nodeName}': {message}")
    {
        NodeName = nodeName;
    }

    public string? NodeName { get; }
}

/// <summary>An input given to a session that does not fit the model (name, dtype, rank, channels, size).</summary>
public sealed class InvalidInputException : VggEngineException
{
    public InvalidInputException(string inputName, string message) : base($"input '{inputName}': {message}")
    {
        InputName = inputName;
    }

    public string InputName { get; }
}

/// <summary>An image that cannot be decoded or is larger than the configured pixel limit.</summary>
public sealed class ImageDecodeException : VggEngineException
{
    public ImageDecodeException(string? filePath, string message, Exception? inner = null)
        : base($"{filePath ?? "image"}: {message}", inner)
    {
        FilePath = filePath;
    }

    public string? FilePath { get; }
}

/// <summary>
/// A calibration table that cannot be used: missing (INT8 asked for without one), unreadable, not in
/// the table format, made for another model, or lacking the activation scale of a value an INT8 op
/// reads or writes. <see cref="FilePath"/> and <see cref="MissingValues"/> say where and what.
/// </summary>
public sealed class CalibrationException : VggEngineException
{
    public CalibrationException(string? filePath, string message, IReadOnlyList<string>? missingValues = null, Exception? inner = null)
        : base((filePath is null ? "" : filePath + ": ") + message, inner)
    {
        FilePath = filePath;
        MissingValues = missingValues ?? Array.Empty<string>();
    }

    /// <summary>The table file, when one was read or written.</summary>
    public string? FilePath { get; }

    /// <summary>Graph values whose scale the table lacks (empty for other problems).</summary>
    public IReadOnlyList<string> MissingValues { get; }
}
