using System.CommandLine;
using System.Globalization;
using Vgg.Engine;
using Vgg.Engine.IR;
using Vgg.Engine.Loader.Onnx;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg export --onnx OUT.onnx [MODEL]</c>: writes the loaded model as an ONNX graph (<see cref="OnnxExporter"/>,
/// opset 17 by default) for ONNX Runtime and other tools: weights as initializers, a dynamic batch dimension "N";
/// fused epilogues written back as separate Conv/Relu/MaxPool and Gemm/Relu nodes. torchvision VGG's
/// AdaptiveAvgPool2d((7, 7)) has no size-generic ONNX form, so such a model is exported for its input size
/// (224×224, or --input-size). The file is written whole or not at all.
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
        opset.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < OnnxExporter.MinOpset || v > OnnxExporter.MaxOpset) r.AddError($"--opset must be between {OnnxExporter.MinOpset} and {OnnxExporter.MaxOpset}, got {v}");
        });
        var cmd = new Command("export", "Write the model as an ONNX graph (for ONNX Runtime and other tools).");
        model.AddTo(cmd);
        cmd.Options.Add(onnx);
        cmd.Options.Add(opset);
        app.SetAction(cmd, (ctx, p) =>
        {
            var request = model.Get(p);
            ModelSelection.CheckFiles(request);
            string outPath = p.GetValue(onnx)!;
            var outDir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
            if (!Directory.Exists(outDir)) throw new DirectoryNotFoundException($"the output's directory does not exist: '{outDir}'");
            var m = ModelSelection.Load(ctx, request);
            ctx.Cancellation.ThrowIfCancellationRequested();
            var options = new OnnxExportOptions { Opset = p.GetValue(opset) };
            var bytes = ctx.Step($"exporting {m.Architecture} to ONNX (opset {options.Opset})", () => OnnxExporter.ExportToBytes(m, options));
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
