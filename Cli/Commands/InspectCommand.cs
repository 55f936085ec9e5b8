using System.CommandLine;
using System.Globalization;
using System.Text;
using Vgg.Engine;
using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Models;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg inspect FILE</c>: what a weights file holds without building a model: the container format, the wrapper key
/// the state dict was found under and the entries ignored beside it, every tensor (key, dtype, shape, elements, bytes),
/// totals per dtype, and the torchvision architecture recognised from the keys and shapes
/// (<see cref="VggRecognition.Describe"/>) or why none was.
/// </summary>
internal static class InspectCommand
{
    public static Command Create(CliApp.App app)
    {
        var file = new Argument<string>("FILE") { Description = "PyTorch checkpoint (.pth/.pt), .safetensors or .onnx file." };
        InputFiles.RejectOptionLikeValues(file);
        var cmd = new Command("inspect", "List the tensors of a weights file and the architecture recognised from them.");
        cmd.Arguments.Add(file);
        app.SetAction(cmd, (ctx, p) =>
        {
            var path = InputFiles.RequireFile(p.GetValue(file)!, "weights file");
            long bytes = new FileInfo(path).Length;
            if (OnnxModels.IsOnnx(path))
            {
                ctx.Out.Write(ctx.Step($"reading {Path.GetFileName(path)} ({ModelSelection.FormatBytes(bytes)})", () => OnnxModels.Describe(path, bytes)));
                return ExitCodes.Ok;
            }
            var sd = ctx.Step($"reading {Path.GetFileName(path)} ({ModelSelection.FormatBytes(bytes)})", () => WeightsFile.Read(path, ctx.Logger("Vgg.Engine.Loader")));
            ctx.Out.Write(Describe(sd, path, bytes));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The text <c>vgg inspect</c> prints for a state dict read from <paramref name="path"/>.</summary>
    internal static string Describe(StateDict sd, string path, long fileBytes)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(ci, $"file:         {path} ({fileBytes:N0} bytes)\n");
        sb.Append(ci, $"format:       {sd.Format}\n");
        sb.Append("state dict:   ").Append(sd.WrapperKey is null ? "at the top level (a bare state_dict)" : $"under the checkpoint's '{sd.WrapperKey}' key").Append('\n');
        if (sd.IgnoredEntries.Count > 0)
            sb.Append(ci, $"ignored:      {sd.IgnoredEntries.Count} non-tensor entries: {string.Join(", ", sd.IgnoredEntries.Take(8))}{(sd.IgnoredEntries.Count > 8 ? ", ..." : "")}\n");
        sb.Append('\n');

        var rows = new List<string[]> { new[] { "key", "dtype", "shape", "elements", "bytes" } };
        foreach (var (key, t) in sd)
            rows.Add(new[] { key, t.DType.Name(), Tensor.FormatShape(t.Shape), t.ElementCount.ToString("N0", ci), t.ByteCount.ToString("N0", ci) });
        long elements = sd.Values.Sum(t => t.ElementCount), tensorBytes = sd.Values.Sum(t => t.ByteCount);
        rows.Add(new[] { $"total: {sd.Count} tensors", "", "", elements.ToString("N0", ci), tensorBytes.ToString("N0", ci) });
        Table.Append(sb, rows);
        var byType = sd.Values.GroupBy(t => t.DType).OrderBy(g => g.Key)
            .Select(g => $"{g.Key.Name()}: {g.Count()} tensors, {g.Sum(t => t.ElementCount).ToString("N0", ci)} elements");
        sb.Append("by dtype:     ").Append(string.Join("; ", byType)).Append('\n');
        var nonFinite = sd.Where(kv => kv.Value.DType.IsFloatingPoint()).Select(kv => (kv.Key, Count: CountNonFinite(kv.Value))).Where(x => x.Count > 0).ToList();
        sb.Append("non-finite:   ").Append(nonFinite.Count == 0
            ? "none (no NaN or infinite values)"
            : $"{nonFinite.Count} tensor(s) hold NaN or infinite values (every output of the model will too): " +
              string.Join(", ", nonFinite.Take(8).Select(x => $"{x.Key} ({x.Count.ToString("N0", ci)})")) + (nonFinite.Count > 8 ? ", ..." : "")).Append('\n');
        sb.Append('\n');

        try
        {
            var rec = VggRecognizer.Recognize(sd);
            sb.Append("architecture: ").Append(rec.Describe()).Append('\n');
            sb.Append(ci, $"              input {rec.InputChannels} channels; classify with: vgg classify --weights {Quote(path)} IMAGE...\n");
        }
        catch (ModelMismatchException e)
        {
            sb.Append("architecture: not recognised as a torchvision VGG: ").Append(e.Message).Append('\n');
            // (a torchvision layout with a key missing is a damaged checkpoint, not a custom net)
            if (!e.Message.Contains("--spec", StringComparison.Ordinal) && !e.Message.Contains("missing key", StringComparison.Ordinal))
                sb.Append("              describe the net with a JSON model spec and pass it with --spec (see models/README.md)\n");
        }
        return sb.ToString();
    }

    private static string Quote(string s) => s.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"') ? "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'" : s;

    /// <summary>NaN and ±infinity values in a floating-point tensor.</summary>
    private static long CountNonFinite(Tensor t)
    {
        if (t.DType == DType.Float32) return Vgg.Engine.NonFinite.Count(t.AsSpan<float>());
        long n = 0;
        if (t.DType == DType.Float64)
        {
            foreach (double v in t.AsSpan<double>()) if (!double.IsFinite(v)) n++;
            return n;
        }
        return Vgg.Engine.NonFinite.Count(t.ToFloatArray()); // float16, bfloat16: exact in float32
    }
}
