using System.CommandLine;
using System.Globalization;
using Vgg.Engine;
using Vgg.Engine.IR;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Loader.Quantization;
using Vgg.Engine.Quantization;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg export --onnx OUT.onnx [MODEL]</c>: writes the loaded model as an ONNX graph (<see cref="OnnxExporter"/>,
/// opset 17 by default) for ONNX Runtime and other tools: weights as initializers, a dynamic batch dimension "N";
/// fused epilogues written back as separate Conv/Relu/MaxPool and Gemm/Relu nodes. torchvision VGG's
/// AdaptiveAvgPool2d((7, 7)) has no size-generic ONNX form, so such a model is exported for its input size
/// (224×224, or --input-size). With <c>--precision int8 --calibration TABLE.json</c> the model is written in INT8 as QDQ
/// (<see cref="QdqExport"/>: QuantizeLinear/DequantizeLinear around Conv and Gemm, per-channel int8 weights, per-tensor
/// activation scales) for ONNX Runtime's quantized kernels. The file is written whole or not at all.
/// </summary>
internal static class ExportCommand
{
    public static Command Create(CliApp.App app)
    {
        var model = new ModelSelection(layer: true);
        var onnx = new Option<string>("--onnx") { Description = "The ONNX file to write.", HelpName = "OUT.onnx", Required = true };
        var opset = new Option<int>("--opset")
        {
            Description = $"ONNX opset of the default domain ({OnnxExporter.MinOpset}–{OnnxExporter.MaxOpset}).",
            DefaultValueFactory = _ => OnnxExporter.DefaultOpset,
            HelpName = "N",
        };
        opset.Check(v => v < OnnxExporter.MinOpset || v > OnnxExporter.MaxOpset ? $"--opset must be between {OnnxExporter.MinOpset} and {OnnxExporter.MaxOpset}, got {v}" : null);
        var precision = new Option<string>("--precision")
        {
            Description = "fp32 (the float model) or int8 (QDQ: QuantizeLinear/DequantizeLinear around Conv and Gemm; needs --calibration).",
            DefaultValueFactory = _ => "fp32",
            HelpName = "fp32|int8",
        };
        precision.AcceptOnlyFromAmong("fp32", "int8");
        var calibration = new Option<string?>("--calibration") { Description = "Calibration table for --precision int8 (made by 'vgg calibrate').", HelpName = "TABLE.json" };
        var cmd = new Command("export", "Write the model as an ONNX graph (for ONNX Runtime and other tools).");
        model.AddTo(cmd);
        cmd.Options.Add(onnx);
        cmd.Options.Add(opset);
        cmd.Options.Add(precision);
        cmd.Options.Add(calibration);
        cmd.Check(r =>
        {
            bool int8 = r.GetResult(precision)?.Tokens.FirstOrDefault()?.Value == "int8", table = r.GetValue(calibration) is not null;
            if (int8 && !table) r.AddError("--precision int8 needs --calibration TABLE.json (make one with 'vgg calibrate')");
            if (!int8 && table) r.AddError("--calibration applies to --precision int8");
        });
        app.SetAction(cmd, (ctx, p) =>
        {
            var request = model.Get(p);
            ModelSelection.CheckFiles(request);
            string outPath = p.GetValue(onnx)!;
            InputFiles.RequireDistinctOutput(outPath, "--onnx", (request.Weights, "--weights"), (request.Spec, "--spec"), (p.GetValue(calibration), "--calibration"));
            var outDir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
            if (!Directory.Exists(outDir)) throw new DirectoryNotFoundException($"the output's directory does not exist: '{outDir}'");
            CalibrationTable? table = null;
            if (p.GetValue(calibration) is { } tablePath) table = CalibrationTable.Load(InputFiles.RequireFile(tablePath, "calibration table"));
            var m = ModelSelection.Load(ctx, request, imagePipeline: false);
            ctx.Cancellation.ThrowIfCancellationRequested();
            var options = new OnnxExportOptions { Opset = p.GetValue(opset) };
            var bytes = table is null
                ? ctx.Step($"exporting {m.Architecture} to ONNX (opset {options.Opset})", () => OnnxExporter.ExportToBytes(m, options))
                : ctx.Step($"exporting {m.Architecture} in INT8 to ONNX as QDQ (opset {options.Opset})", () => QdqExport.ExportToBytes(m, table, options));
            WriteAtomically(outPath, bytes);
            // What was written, read back the way any consumer will read it.
            var g = OnnxImporter.Load(outPath);
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outPath} ({ModelSelection.FormatBytes(bytes.Length)}, opset {options.Opset}): {string.Join(", ", g.Inputs.Where(i => !g.Initializers.ContainsKey(i.Name)).Select(Shape))} → {string.Join(", ", g.Outputs.Select(Shape))}"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static string Shape(ValueInfo v) => v.Shape is null ? $"{v.Name} {v.DType.Name()}"
        : $"{v.Name} {v.DType.Name()}[{string.Join(", ", v.Shape.Select(d => d < 0 ? "N" : d.ToString(CultureInfo.InvariantCulture)))}]";

    private static void WriteAtomically(string path, byte[] bytes)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            File.WriteAllBytes(tmp, bytes);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
