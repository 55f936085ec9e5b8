using System.Globalization;
using System.Text.Json;
using Vgg.Engine;

namespace Vgg.Cli;

/// <summary>
/// Reads class labels for <c>vgg classify --labels</c>. Accepted forms, detected from the content:
/// <list type="bullet">
/// <item>a JSON object index → label, where the label is a string or, as in the ImageNet
/// <c>index_to_name.json</c> of TorchServe, an array <c>[wnid, name]</c> whose last string is used
/// (<c>{"0": ["n01440764", "tench"], ...}</c>); the indices must be exactly 0…N−1;</item>
/// <item>a JSON array of strings (or of such arrays);</item>
/// <item>a plain UTF-8 text file with one label per line (empty lines skipped, as in a model spec's labels file).</item>
/// </list>
/// </summary>
internal static class LabelFile
{
    /// <summary>The labels by class index.</summary>
    /// <exception cref="ModelFormatException">Invalid JSON, a label that is not a string or [.., name] array, missing or
    /// duplicate indices, or no labels; names the file and the entry.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static IReadOnlyList<string> Read(string path)
    {
        InputFiles.RequireFile(path, "labels file");
        var text = File.ReadAllText(path);
        var trimmed = text.AsSpan().TrimStart("\uFEFF \t\r\n");
        IReadOnlyList<string> labels = trimmed.Length > 0 && trimmed[0] is '{' or '[' ? ParseJson(text, path) : ParseLines(text);
        if (labels.Count == 0) throw new ModelFormatException(path, null, "the labels file holds no labels");
        return labels;
    }

    private static string[] ParseLines(string text) =>
        text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToArray();

    private static IReadOnlyList<string> ParseJson(string text, string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, null, $"not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Array)
                return root.EnumerateArray().Select((e, i) => Label(e, path, i.ToString(CultureInfo.InvariantCulture))).ToArray();

            var byIndex = new SortedDictionary<int, string>();
            foreach (var prop in root.EnumerateObject())
            {
                if (!int.TryParse(prop.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                    throw new ModelFormatException(path, prop.Name, "expected a class index (\"0\", \"1\", ...) as the key, as in {\"0\": [\"n01440764\", \"tench\"]}");
                if (!byIndex.TryAdd(index, Label(prop.Value, path, prop.Name)))
                    throw new ModelFormatException(path, prop.Name, "the class index appears twice");
            }
            int expect = 0;
            foreach (var k in byIndex.Keys)
            {
                if (k != expect) throw new ModelFormatException(path, expect.ToString(CultureInfo.InvariantCulture), $"class index {expect} is missing (indices must run 0…{byIndex.Count - 1} without gaps)");
                expect++;
            }
            return byIndex.Values.ToArray();
        }
    }

    private static string Label(JsonElement e, string path, string key)
    {
        if (e.ValueKind == JsonValueKind.String) return e.GetString()!;
        if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() > 0 && e[e.GetArrayLength() - 1].ValueKind == JsonValueKind.String)
            return e[e.GetArrayLength() - 1].GetString()!;
        throw new ModelFormatException(path, key, $"expected a label string or an array such as [\"n02123045\", \"tabby\"], got {e.GetRawText()}");
    }
}
