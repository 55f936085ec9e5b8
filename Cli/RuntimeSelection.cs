using System.CommandLine;
using System.CommandLine.Parsing;
using Vgg.Engine.Backends;
using Vgg.Engine.Planning;
using Vgg.Engine.Quantization;
using Vgg.Engine.Runtime;

namespace Vgg.Cli;

/// <summary>
/// The session options the model verbs share: <c>--backend</c> and <c>--threads</c>, and (where the verb runs a model)
/// <c>--precision</c> and <c>--calibration</c> (Engine/Quantization/PRECISION.md).
/// </summary>
internal sealed class RuntimeSelection
{
    private readonly bool _precision;
    private CalibrationTable? _table;
    private string? _tablePath;

    public Option<string> Backend { get; } = new("--backend")
    {
        Description = "auto: CUDA when a driver and device are found, else the CPU (says so with --verbose); cpu; cuda (an error where there is none).",
        DefaultValueFactory = _ => "auto",
        HelpName = "auto|cpu|cuda",
    };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "CPU threads per run (0: every core).",
        DefaultValueFactory = _ => 0,
        HelpName = "N",
    };

    public Option<string> Precision { get; } = new("--precision")
    {
        Description = "fp32; fp16 (FP16 weights; on the CPU float32 arithmetic with FP16-rounded weights, linear weights stored as halves); " +
                      "int8 (calibrated INT8 convs and linear layers, per-channel weight scales; needs --calibration).",
        DefaultValueFactory = _ => "fp32",
        HelpName = "fp32|fp16|int8",
    };

    public Option<string?> Calibration { get; } = new("--calibration")
    {
        Description = "Calibration table for --precision int8 (JSON, made for this model by 'vgg calibrate').",
        HelpName = "TABLE.json",
    };

    /// <param name="precision">Offer <c>--precision</c> and <c>--calibration</c>.</param>
    public RuntimeSelection(bool precision = true)
    {
        _precision = precision;
        Backend.AcceptOnlyFromAmong("auto", "cpu", "cuda");
        Threads.Check(v => v < 0 ? "--threads must be 0 (every core) or positive" : null);
        Precision.AcceptOnlyFromAmong("fp32", "fp16", "int8");
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Backend);
        command.Options.Add(Threads);
        if (!_precision) return;
        command.Options.Add(Precision);
        command.Options.Add(Calibration);
        command.Check(Validate);
    }

    private void Validate(CommandResult r)
    {
        // the raw token: an invalid value is reported by AcceptOnlyFromAmong, and GetValue would throw on it
        string precision = r.GetResult(Precision)?.Tokens.FirstOrDefault()?.Value ?? "fp32";
        if (precision is not ("fp32" or "fp16" or "int8")) return; // AcceptOnlyFromAmong names the valid values
        bool table = r.GetValue(Calibration) is not null;
        if (precision == "int8" && !table)
            r.AddError("--precision int8 needs --calibration TABLE.json: per-tensor activation scales measured on representative images (make one with 'vgg calibrate')");
        if (precision != "int8" && table)
            r.AddError($"--calibration applies to --precision int8 (the precision here is {precision})");
    }

    /// <summary>The asked precision.</summary>
    public Precision GetPrecision(ParseResult p) => !_precision ? Engine.Quantization.Precision.Fp32 : p.GetValue(Precision) switch
    {
        "fp16" => Engine.Quantization.Precision.Fp16,
        "int8" => Engine.Quantization.Precision.Int8,
        _ => Engine.Quantization.Precision.Fp32,
    };

    /// <summary>
    /// Loads the calibration table named by <c>--calibration</c> (once), or null. Verbs call it before the model load so
    /// that a missing or malformed table stops them early.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist (exit 1).</exception>
    /// <exception cref="Engine.CalibrationException">It is not a calibration table (names the file and the field; exit 1).</exception>
    public CalibrationTable? GetCalibration(ParseResult p)
    {
        if (!_precision || p.GetValue(Calibration) is not { } path) return null;
        if (_table is not null && _tablePath == path) return _table;
        InputFiles.RequireFile(path, "calibration table");
        _table = CalibrationTable.Load(path);
        _tablePath = path;
        return _table;
    }

    /// <summary>Session options from the parsed values.</summary>
    public SessionOptions Get(ParseResult p, CliContext ctx, MemoryPlannerKind planner = MemoryPlannerKind.Greedy) => new()
    {
        Backend = p.GetValue(Backend) switch { "cpu" => BackendChoice.Cpu, "cuda" => BackendChoice.Cuda, _ => BackendChoice.Auto },
        Threads = p.GetValue(Threads),
        MemoryPlanner = planner,
        Logger = ctx.Logger("Vgg.Engine.Runtime"),
        Precision = GetPrecision(p),
        Calibration = GetCalibration(p),
    };
}
