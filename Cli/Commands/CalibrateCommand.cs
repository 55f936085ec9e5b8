using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Vgg.Engine.Loader.Quantization;
using Vgg.Engine.Quantization;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg calibrate [MODEL] --output TABLE.json IMAGE...</c>: runs the float32 model on the CPU over calibration images
/// (the model's preprocessing) and writes the per-tensor activation scales INT8 needs (<see cref="Calibrator"/>,
/// Engine/Quantization/PRECISION.md): <c>--method max</c> (max |x| / 127, Engine/Cuda/QUANTIZATION.md) or
/// <c>--method percentile --percentile 99.99</c>. The table is pinned to the model (a hash of its graph and weights);
/// use it with <c>--precision int8 --calibration TABLE.json</c>. The file is written whole or not at all.
/// </summary>
internal static class CalibrateCommand
{
    public static Command Create(CliApp.App app)
    {
        var model = new ModelSelection(layer: false);
        var output = new Option<string>("--output", "-o") { Description = "The calibration table to write (JSON).", HelpName = "TABLE.json", Required = true };
        var method = new Option<string>("--method")
        {
            Description = "max: range = max |x| over all images (QUANTIZATION.md); percentile: range = the --percentile of |x| (clips rare outliers).",
            DefaultValueFactory = _ => "max",
            HelpName = "max|percentile",
        };
        method.AcceptOnlyFromAmong("max", "percentile");
        var percentile = new Option<double>("--percentile") { Description = "The percentile of |x| for --method percentile.", DefaultValueFactory = _ => 99.99, HelpName = "P" };
        percentile.Check(v => v > 0 && v <= 100 ? null : $"--percentile must be in (0, 100], got {v.ToString(CultureInfo.InvariantCulture)}");
        var limit = new Option<int?>("--limit") { Description = "Use at most N images (in file-name order).", HelpName = "N" };
        limit.Check(v => v is < 1 ? "--limit must be at least 1" : null);
        var batch = new Option<int>("--batch-size", "-b")
        {
            Description = "Images per calibration run (memory: every activation of a batch is kept, about 110 MB per 224×224 image for VGG-16).",
            DefaultValueFactory = _ => 1,
            HelpName = "N",
        };
        batch.Check(v => v < 1 ? "--batch-size must be at least 1" : null);
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: every core).", DefaultValueFactory = _ => 0, HelpName = "N" };
        threads.Check(v => v < 0 ? "--threads must be 0 (every core) or positive" : null);
        var images = new Argument<string[]>("IMAGE")
        {
            Description = "Representative JPEG or PNG images (a few hundred is typical); a directory means its .jpg/.jpeg/.png files.",
            Arity = ArgumentArity.OneOrMore,
        };
        InputFiles.RejectOptionLikeValues(images);

        var cmd = new Command("calibrate", "Measure activation ranges on images and write the calibration table INT8 needs.");
        model.AddTo(cmd);
        cmd.Options.Add(output);
        cmd.Options.Add(method);
        cmd.Options.Add(percentile);
        cmd.Options.Add(limit);
        cmd.Options.Add(batch);
        cmd.Options.Add(threads);
        cmd.Check(r =>
        {
            // --percentile without --method percentile would be silently ignored (the table would use max)
            _ = r.GetValue(percentile); // a value that does not parse: the parser's own error, not this one
            if (r.GetResult(percentile) is { Implicit: false } && r.GetResult(method)?.Tokens.FirstOrDefault()?.Value != "percentile")
                r.AddError("--percentile applies to --method percentile (add --method percentile, or drop --percentile for the max method)");
        });
        cmd.Arguments.Add(images);
        app.SetAction(cmd, (ctx, p) =>
        {
            var request = model.Get(p);
            ModelSelection.CheckFiles(request);
            var files = InputFiles.ExpandImages(p.GetValue(images) ?? Array.Empty<string>());
            if (p.GetValue(limit) is { } n && n < files.Count) files = files.Take(n).ToList();
            string outPath = p.GetValue(output)!;
            InputFiles.RequireDistinctOutput(outPath, "--output", new[] { (request.Weights, "--weights"), (request.Spec, "--spec") }
                .Concat(files.Select(f => ((string?)f, "IMAGE"))).ToArray());
            var outDir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
            if (!Directory.Exists(outDir)) throw new DirectoryNotFoundException($"the output's directory does not exist: '{outDir}'");
            var m = ModelSelection.Load(ctx, request);
            ModelSelection.RequireImagePipeline(m, "calibrate");
            if (m.Seed is { } seed)
                ctx.Note($"seeded random weights (--seed {seed}): the table fits only these seeded weights");
            if (files.Count < 100)
                ctx.Note($"calibrating on {files.Count} image(s); a few hundred representative images is typical, fewer give ranges that may clip unseen inputs");
            var options = new CalibrationOptions
            {
                Method = p.GetValue(method) == "percentile" ? CalibrationMethod.Percentile : CalibrationMethod.Max,
                Percentile = p.GetValue(percentile),
                Threads = p.GetValue(threads),
                Logger = ctx.Logger("Vgg.Engine.Quantization"),
            };
            var sw = Stopwatch.StartNew();
            CalibrationTable? table = null;
            ctx.WithProgress("calibrating", files.Count, advance =>
            {
                var progress = new Deltas(advance);
                table = Calibrator.Calibrate(m, Cancellable(CalibrationImages.Batches(files, m.Preprocessing, p.GetValue(batch)), ctx.Cancellation), options with { Progress = progress });
            });
            WriteAtomically(outPath, table!.ToJson());
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outPath}: {table} in {sw.Elapsed.TotalSeconds:F1} s; model {table.ModelHash}"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static IEnumerable<T> Cancellable<T>(IEnumerable<T> items, CancellationToken token)
    {
        foreach (var i in items)
        {
            token.ThrowIfCancellationRequested();
            yield return i;
        }
    }

    /// <summary>Turns the calibrator's running sample count into progress-bar increments (synchronously).</summary>
    private sealed class Deltas : IProgress<int>
    {
        private readonly Action<int> _advance;
        private int _last;
        public Deltas(Action<int> advance) => _advance = advance;
        public void Report(int value)
        {
            _advance(value - _last);
            _last = value;
        }
    }

    private static void WriteAtomically(string path, string text)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            File.WriteAllText(tmp, text);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
