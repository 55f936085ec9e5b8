using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Vgg.Engine;
using Vgg.Engine.Loader.Imaging;
using Vgg.Engine.Models;
using Vgg.Engine.Runtime;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg classify</c>: top-k classes of images. Images are decoded and preprocessed as the model expects
/// (<see cref="Model.Preprocessing"/>: torchvision's Resize/CenterCrop/ToTensor/Normalize), run through one
/// <see cref="Session"/> in batches of <c>--batch-size</c>, and each output row becomes probabilities
/// (<see cref="Classification.Probabilities"/>: softmax of logits, exp of log_softmax, a softmax output as is).
/// </summary>
/// <remarks>
/// Text output: per image the file name, then one line per class: rank, probability, index, label.
/// <c>--json</c>: one JSON object per image and line, <c>{"file": ..., "top": [{"index": 282, "label": "tiger_cat", "prob": 0.447}, ...]}</c>
/// (label null when the model has no labels); an image that cannot be decoded gives <c>{"file": ..., "error": ...}</c>,
/// the others are still classified and the exit code is 1.
/// </remarks>
internal static class ClassifyCommand
{
    public static Command Create(CliApp.App app)
    {
        var model = new ModelSelection(layer: false);
        var runtime = new RuntimeSelection();
        var images = new Argument<string[]>("IMAGE")
        {
            Description = "JPEG or PNG files; a directory means its .jpg/.jpeg/.png files; * and ? are expanded where the shell does not.",
            Arity = ArgumentArity.OneOrMore,
        };
        var labels = new Option<string?>("--labels", "-l")
        {
            Description = "Class labels: JSON (index → name, or index → [wnid, name] as TorchServe's index_to_name.json, or an array) or text, one per line. Default: the spec's labels.",
            HelpName = "FILE",
        };
        var top = new Option<int>("--top", "-k") { Description = "Classes shown per image.", DefaultValueFactory = _ => 5, HelpName = "K" };
        var json = new Option<bool>("--json") { Description = "One JSON object per image and line: {\"file\", \"top\": [{\"index\", \"label\", \"prob\"}]}." };
        var batch = new Option<int>("--batch-size", "-b") { Description = "Images per session run.", DefaultValueFactory = _ => 8, HelpName = "N" };
        var exif = new Option<bool>("--exif") { Description = "Apply the EXIF orientation before preprocessing (torchvision's PIL path does not; off by default to match it)." };
        InputFiles.RejectOptionLikeValues(images);
        top.Check(v => v < 1 ? "--top must be at least 1" : null);
        batch.Check(v => v < 1 ? "--batch-size must be at least 1" : null);

        var cmd = new Command("classify", "Top-k classes and probabilities of each image.");
        model.AddTo(cmd);
        cmd.Options.Add(labels);
        cmd.Options.Add(top);
        cmd.Options.Add(json);
        runtime.AddTo(cmd);
        cmd.Options.Add(batch);
        cmd.Options.Add(exif);
        cmd.Arguments.Add(images);

        app.SetAction(cmd, (ctx, p) =>
        {
            var request = model.Get(p);
            // Every named file is checked before the (possibly long) model load.
            ModelSelection.CheckFiles(request);
            var files = InputFiles.ExpandImages(p.GetValue(images) ?? Array.Empty<string>());
            string? labelsPath = p.GetValue(labels);
            var labelList = labelsPath is null ? null : LabelFile.Read(labelsPath);

            runtime.GetCalibration(p); // a missing or malformed table stops the verb before the model load
            var m = ModelSelection.Load(ctx, request);
            ModelSelection.RequireImagePipeline(m, "classify");
            if (m.NumClasses <= 0 || m.OutputKind == OutputKind.Features)
                throw new VggEngineException($"the model '{m.Architecture}' outputs {m.Graph.Outputs[0]}, not class scores; classify needs a classifier head (use 'vgg run' for raw outputs)");
            if (labelList is not null && labelList.Count != m.NumClasses)
                throw new ModelMismatchException(labelsPath, "labels", $"{m.NumClasses} labels (the model's class count)", $"{labelList.Count}");
            var names = labelList ?? m.Labels;
            if (names is null)
                ctx.Note($"the model has no class labels: classes are shown by index; give --labels FILE (for ImageNet models, TorchServe's index_to_name.json: see Cli/README.md)");
            if (m.Seed is { } seed)
                ctx.Note($"seeded random weights (--seed {seed}): this runs the whole pipeline, but the predictions mean nothing; give --weights FILE for a trained model");

            using var session = ctx.Step("preparing the session", () => new Session(m, runtime.Get(p, ctx)));
            // A graph whose batch dimension is fixed (an ONNX file exported with batch 1) takes batches of exactly that size.
            int batchSize = session.Inputs[0].Shape is { Length: > 0 } inShape && inShape[0] > 0 ? inShape[0] : p.GetValue(batch);
            var options = new Options(m.Preprocessing with { ApplyExifOrientation = p.GetValue(exif) }, p.GetValue(top), names, p.GetValue(json), batchSize);
            return Classify(ctx, session, m, files, options);
        });
        return cmd;
    }

    private sealed record Options(Preprocessing Preprocessing, int Top, IReadOnlyList<string>? Labels, bool Json, int BatchSize);

    private static int Classify(CliContext ctx, Session session, Model m, IReadOnlyList<string> files, Options o)
    {
        int failures = 0, invalid = 0;
        var pre = new ImagePreprocessor();
        ctx.WithProgress("classifying", files.Count, advance =>
        {
            for (int start = 0; start < files.Count; start += o.BatchSize)
            {
                ctx.Cancellation.ThrowIfCancellationRequested();
                var batch = files.Skip(start).Take(o.BatchSize).ToArray();
                var inputs = new Tensor?[batch.Length];
                var errors = new string?[batch.Length];
                Parallel.For(0, batch.Length, new ParallelOptions { CancellationToken = ctx.Cancellation }, i =>
                {
                    try { inputs[i] = pre.Load(batch[i], o.Preprocessing); }
                    catch (ImageDecodeException e) { errors[i] = e.Message; }
                });
                var results = new Prediction[]?[batch.Length];
                var nonFinite = new long[batch.Length];
                foreach (var group in Groups(inputs))
                    RunGroup(session, m, inputs, group, o, results, nonFinite);
                for (int i = 0; i < batch.Length; i++)
                {
                    if (errors[i] is { } err)
                    {
                        failures++;
                        if (o.Json) ctx.Out.WriteLine(JsonError(batch[i], err));
                        lock (ctx.Err) ctx.Err.WriteLine("vgg: error: " + err);
                    }
                    else
                    {
                        ctx.Out.Write(o.Json ? JsonLine(batch[i], results[i]!) + "\n" : Text(batch[i], results[i]!));
                        if (nonFinite[i] > 0)
                        {
                            // PyTorch prints NaN too; here it is an error, never a ranking that looks like an answer.
                            failures++;
                            invalid++;
                            lock (ctx.Err) ctx.Err.WriteLine($"vgg: error: {batch[i]}: the model's output holds {nonFinite[i]} NaN or infinite value(s): the weights or the input contain non-finite numbers, so this ranking means nothing");
                        }
                    }
                }
                advance(batch.Length);
            }
        });
        if (failures > 0)
        {
            if (failures > invalid) ctx.Note($"{failures - invalid} of {files.Count} images could not be read");
            if (invalid > 0) ctx.Note($"{invalid} of {files.Count} images gave non-finite outputs ('vgg inspect' counts the NaN and infinite values in the weights)");
            return ExitCodes.ModelOrInputError;
        }
        return ExitCodes.Ok;
    }

    /// <summary>Indices of decoded images grouped by tensor shape (one session run each; equal unless the model's
    /// preprocessing keeps the aspect ratio without a crop).</summary>
    private static IEnumerable<int[]> Groups(Tensor?[] inputs) =>
        Enumerable.Range(0, inputs.Length).Where(i => inputs[i] is not null)
            .GroupBy(i => Tensor.FormatShape(inputs[i]!.Shape))
            .Select(g => g.ToArray());

    private static void RunGroup(Session session, Model m, Tensor?[] inputs, int[] group, Options o, Prediction[]?[] results, long[] nonFinite)
    {
        var one = inputs[group[0]]!.Shape; // [1, C, H, W]
        int[] shape = { group.Length, one[1], one[2], one[3] };
        long per = Tensor.Product(one);
        var data = new float[group.Length * per];
        for (int g = 0; g < group.Length; g++)
            inputs[group[g]]!.AsSpan<float>().CopyTo(data.AsSpan((int)(g * per), (int)per));
        var output = new float[Tensor.Product(session.OutputShape(shape))];
        session.Run(data, shape, output);
        int classes = output.Length / group.Length;
        for (int g = 0; g < group.Length; g++)
        {
            var row = output.AsSpan(g * classes, classes);
            nonFinite[group[g]] = NonFinite.Count(row);
            var probs = Classification.Probabilities(row, m.OutputKind);
            results[group[g]] = Classification.TopK(probs, o.Top, o.Labels);
        }
    }

    private static string Text(string file, Prediction[] top)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder(file).Append('\n');
        int width = top.Length == 0 ? 1 : top.Max(t => t.Index).ToString(ci).Length;
        for (int r = 0; r < top.Length; r++)
        {
            var t = top[r];
            sb.Append(ci, $"  {r + 1,2}. {t.Probability,8:0.000000}  {t.Index.ToString(ci).PadLeft(width)}");
            if (t.Label is not null) sb.Append("  ").Append(t.Label);
            sb.Append('\n');
        }
        return sb.ToString();
    }

    // Labels are written as they are (é, not \u00e9); every output is still valid JSON.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string JsonLine(string file, Prediction[] top)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, JsonOptions))
        {
            w.WriteStartObject();
            w.WriteString("file", file);
            w.WriteStartArray("top");
            foreach (var t in top)
            {
                w.WriteStartObject();
                w.WriteNumber("index", t.Index);
                if (t.Label is null) w.WriteNull("label");
                else w.WriteString("label", t.Label);
                if (double.IsFinite(t.Probability)) w.WriteNumber("prob", t.Probability);
                else w.WriteNull("prob"); // a NaN/Inf output: JSON has no such number
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static string JsonError(string file, string error)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, JsonOptions))
        {
            w.WriteStartObject();
            w.WriteString("file", file);
            w.WriteString("error", error);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}
