using System.CommandLine;
using Microsoft.Extensions.Logging;
using Vgg.Engine;
using Vgg.Engine.Runtime;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg run</c>: a raw tensor in, the model's output out, both numpy .npy (float32, C order; images NCHW), for
/// scripts and comparisons with other frameworks. <c>--layer</c> returns an intermediate activation (features-only).
/// </summary>
internal static class RunCommand
{
    public static Command Create(CliApp.App app)
    {
        var model = new ModelSelection(layer: true);
        var runtime = new RuntimeSelection();
        var input = new Option<string>("--input", "-i")
        {
            Description = "Input .npy, float32 NCHW (float64 and float16 are converted to float32, as torch's .float()).",
            HelpName = "IN.npy",
            Required = true,
        };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Output .npy (float32), written whole or not at all.",
            HelpName = "OUT.npy",
            Required = true,
        };
        var cmd = new Command("run", "Run the model on a .npy tensor and write its output as .npy.");
        model.AddTo(cmd);
        cmd.Options.Add(input);
        cmd.Options.Add(output);
        runtime.AddTo(cmd);

        app.SetAction(cmd, (ctx, p) =>
        {
            var request = model.Get(p);
            ModelSelection.CheckFiles(request);
            string inPath = InputFiles.RequireFile(p.GetValue(input)!, "input .npy");
            string outPath = p.GetValue(output)!;
            InputFiles.RequireDistinctOutput(outPath, "--output", (inPath, "--input"), (request.Weights, "--weights"), (request.Spec, "--spec"), (p.GetValue(runtime.Calibration), "--calibration"));
            var outDir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
            if (!Directory.Exists(outDir)) throw new DirectoryNotFoundException($"the output's directory does not exist: '{outDir}'");

            var x = ToFloat32(Npy.Read(inPath), inPath, ctx);
            runtime.GetCalibration(p); // a missing or malformed table stops the verb before the model load
            var m = ModelSelection.Load(ctx, request, imagePipeline: false);
            using var session = ctx.Step("preparing the session", () => new Session(m, runtime.Get(p, ctx)));
            ctx.Cancellation.ThrowIfCancellationRequested();
            var y = ctx.Step($"running {m.Architecture} on {x}", () => session.Run(x));
            WriteAtomically(outPath, y);
            long nonFinite = y.DType == DType.Float32 ? NonFinite.Count(y.AsSpan<float>()) : 0;
            if (nonFinite > 0)
                ctx.Note($"the output holds {nonFinite} NaN or infinite value(s) of {y.ElementCount}: the weights or the input contain non-finite numbers ('vgg inspect' counts them in the weights)");
            ctx.Logger("vgg").LogInformation("wrote {Output}: {Tensor}", outPath, y.ToString());
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Tensor ToFloat32(Tensor t, string path, CliContext ctx)
    {
        if (t.DType == DType.Float32) return t;
        if (!t.DType.IsFloatingPoint())
            throw new ModelFormatException(path, null, $"expected a float32 array, found {t}; convert it with x.astype(numpy.float32)");
        ctx.Logger("vgg").LogInformation("{Input}: {DType} converted to float32", path, t.DType.Name());
        return Tensor.FromSpan<float>(t.ToFloatArray(), t.ShapeArray());
    }

    /// <summary>Writes to a temporary file beside <paramref name="path"/> and renames it, so a failure leaves no partial file.</summary>
    private static void WriteAtomically(string path, Tensor t)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            Npy.Write(tmp, t);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
