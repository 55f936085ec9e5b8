using System.Globalization;
using System.Text.Json;

namespace Vgg.Engine.Models;

/// <summary>
/// A JSON model spec: a VGG-style sequential network with PyTorch key naming, its input, the preprocessing it
/// expects and its class labels. The schema is documented in models/README.md; <c>models/tinyvgg.json</c> and
/// <c>models/mnist-cnn.json</c> are examples.
/// </summary>
/// <remarks>
/// Layers are either flat named modules (<c>{"name": "conv1", "type": "conv", ...}</c>; a layer without a name
/// is a functional call such as F.relu and gets a generated name like "relu_1") or named blocks
/// (<c>{"block": "conv_block_1", "layers": [...]}</c>, an nn.Sequential), whose entries are named by their index,
/// parameter-free ones included, exactly as PyTorch numbers Sequential children. Blocks nest.
/// Unknown fields are errors, so a misspelt field is not silently ignored.
/// </remarks>
public sealed class ModelSpec
{
    private ModelSpec(string name, Network network, Preprocessing preprocessing, IReadOnlyList<string>? labels, string? sourcePath)
    {
        DescribesImages = preprocessing.Channels == network.InputChannels;
        Name = name;
        Network = network;
        Preprocessing = preprocessing;
        Labels = labels;
        SourcePath = sourcePath;
    }

    /// <summary>The model name ("tinyvgg").</summary>
    public string Name { get; }

    /// <summary>The network, checked (channels, feature counts, sizes).</summary>
    public Network Network { get; }

    /// <summary>
    /// The input pipeline. A spec whose input has other than 1 or 3 channels and no "preprocessing" object has none
    /// (<see cref="DescribesImages"/> is false): its model runs on tensors, and this holds the RGB default, unused.
    /// </summary>
    public Preprocessing Preprocessing { get; }

    /// <summary>Whether <see cref="Preprocessing"/> turns an image into this network's input (false for a 2- or 4-channel input, which no image pipeline produces).</summary>
    public bool DescribesImages { get; }

    /// <summary>Class labels by index, or null.</summary>
    public IReadOnlyList<string>? Labels { get; }

    /// <summary>The spec file, or null when parsed from a string.</summary>
    public string? SourcePath { get; }

    /// <summary>What the output holds: log_softmax last → log-probabilities, softmax last → probabilities, else logits.</summary>
    public OutputKind OutputKind => Network.Layers[^1] switch
    {
        SoftmaxLayer { Log: true } => OutputKind.LogProbabilities,
        SoftmaxLayer => OutputKind.Probabilities,
        _ => OutputKind.Logits,
    };

    /// <summary>Reads and checks a spec file.</summary>
    /// <exception cref="ModelFormatException">Unreadable file, invalid JSON, an unknown layer type or field, a missing or
    /// ill-typed field, or layers whose shapes do not fit; names the file and the layer or field.</exception>
    public static ModelSpec Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(path, null, $"cannot read the model spec: {e.Message}", e);
        }
        return Parse(text, path);
    }

    /// <summary>Parses and checks a spec; <paramref name="sourcePath"/> is used in messages and to resolve a labels file.</summary>
    /// <exception cref="ModelFormatException">As <see cref="Load"/>.</exception>
    public static ModelSpec Parse(string json, string? sourcePath = null)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(sourcePath, null, $"not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message}", e);
        }
        using (doc)
        {
            var p = new Parser(sourcePath);
            return p.Spec(doc.RootElement);
        }
    }

    private sealed class Parser
    {
        private readonly string? _path;
        private readonly Dictionary<string, int> _autoNames = new(StringComparer.Ordinal);
        private readonly HashSet<string> _explicitNames = new(StringComparer.Ordinal);

        public Parser(string? path) => _path = path;

        private ModelFormatException Error(string where, string problem) => new(_path, where, problem);

        public ModelSpec Spec(JsonElement root)
        {
            if (root.ValueKind != JsonValueKind.Object) throw Error("(root)", "expected a JSON object");
            Only(root, "(root)", "name", "description", "comment", "input", "preprocessing", "labels", "layers");
            string name = Str(root, "(root)", "name") ?? Path.GetFileNameWithoutExtension(_path ?? "model");
            var input = Req(root, "(root)", "input");
            if (input.ValueKind != JsonValueKind.Object) throw Error("input", "expected an object {\"channels\", \"height\", \"width\"}");
            Only(input, "input", "channels", "height", "width", "comment");
            int channels = Int(input, "input", "channels") ?? throw Missing("input", "channels");
            int height = Int(input, "input", "height") ?? throw Missing("input", "height");
            int width = Int(input, "input", "width") ?? throw Missing("input", "width");
            Positive("input", "channels", channels);
            Positive("input", "height", height);
            Positive("input", "width", width);

            var layersEl = Req(root, "(root)", "layers");
            if (layersEl.ValueKind != JsonValueKind.Array) throw Error("layers", "expected an array of layers and blocks");
            // Explicit top-level names first, so generated names avoid them.
            CollectNames(layersEl, "");
            var layers = new List<Layer>();
            int k = 0;
            foreach (var e in layersEl.EnumerateArray())
                Entry(e, parent: null, index: k++, $"layers[{k - 1}]", layers);
            var network = new Network(name, channels, height, width, layers, _path);

            var pre = Preprocess(root, channels, height, width);
            IReadOnlyList<string>? labels = Labels(root);
            int classes = network.OutputShape.Length == 1 ? network.OutputShape[0] : 0;
            if (labels is not null && labels.Count != classes)
                throw Error("labels", $"{labels.Count} labels for a model with {classes} outputs");
            return new ModelSpec(name, network, pre, labels, _path);
        }

        private void CollectNames(JsonElement arr, string prefix)
        {
            foreach (var e in arr.EnumerateArray())
                if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String)
                    _explicitNames.Add(prefix + n.GetString());
                else if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("block", out var b) && b.ValueKind == JsonValueKind.String)
                    _explicitNames.Add(prefix + b.GetString());
        }

        // parent null: top level (flat named modules); else the block path (Sequential children named by index).
        private void Entry(JsonElement e, string? parent, int index, string where, List<Layer> output)
        {
            if (e.ValueKind != JsonValueKind.Object) throw Error(where, "expected a layer object {\"type\": ...} or a block {\"block\": ..., \"layers\": [...]}");
            bool isBlock = e.TryGetProperty("layers", out var inner);
            string? explicitName = Str(e, where, isBlock ? "block" : "name") ?? (isBlock ? Str(e, where, "name") : null);
            if (explicitName is not null && (explicitName.Length == 0 || explicitName.Contains('.') || explicitName.Any(char.IsWhiteSpace)))
                throw Error(where, $"name '{explicitName}' must be non-empty, without dots or spaces (one module name; nesting comes from blocks)");
            string name;
            if (explicitName is not null) name = parent is null ? explicitName : parent + "." + explicitName;
            else if (parent is not null) name = parent + "." + index.ToString(CultureInfo.InvariantCulture);
            else if (isBlock) throw Error(where, "a top-level block needs a name (\"block\": \"features\")");
            else name = AutoName(e, where);

            if (isBlock)
            {
                Only(e, name, "block", "name", "layers", "comment");
                if (inner.ValueKind != JsonValueKind.Array) throw Error(name, "\"layers\" must be an array");
                int k = 0;
                foreach (var c in inner.EnumerateArray())
                    Entry(c, name, k++, $"{name}[{k - 1}]", output);
                return;
            }
            output.Add(Layer(e, name));
        }

        private string AutoName(JsonElement e, string where)
        {
            string type = Str(e, where, "type") ?? throw Missing(where, "type");
            string baseName = type.Replace('.', '_');
            string n;
            do
            {
                int c = _autoNames.GetValueOrDefault(baseName) + 1;
                _autoNames[baseName] = c;
                n = baseName + "_" + c.ToString(CultureInfo.InvariantCulture);
            } while (_explicitNames.Contains(n));
            return n;
        }

        private Layer Layer(JsonElement e, string name)
        {
            string type = Str(e, name, "type") ?? throw Missing(name, "type");
            switch (type)
            {
                case "conv":
                    {
                        Only(e, name, "type", "name", "comment", "in", "out", "kernel", "stride", "padding", "bias");
                        int inC = PosInt(e, name, "in"), outC = PosInt(e, name, "out");
                        var (kh, kw) = Pair(e, name, "kernel", null) ?? throw Missing(name, "kernel");
                        var (sh, sw) = Pair(e, name, "stride", 1)!.Value;
                        var (ph, pw) = Pair(e, name, "padding", 0)!.Value;
                        if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || ph < 0 || pw < 0)
                            throw Error(name, "conv: kernel and stride must be positive, padding non-negative");
                        return new Conv2dLayer(name, inC, outC, kh, kw, sh, sw, ph, pw, Bool(e, name, "bias") ?? true);
                    }
                case "batchnorm1d":
                case "batchnorm2d":
                    {
                        Only(e, name, "type", "name", "comment", "features", "eps", "momentum");
                        double eps = Num(e, name, "eps") ?? 1e-5;
                        if (!(eps > 0)) throw Error(name, $"{type}: eps must be positive, got {eps}");
                        return new BatchNormLayer(name, PosInt(e, name, "features"), (float)eps, type == "batchnorm1d" ? 1 : 2);
                    }
                case "relu":
                    Only(e, name, "type", "name", "comment", "inplace");
                    return new ReluLayer(name);
                case "dropout":
                    {
                        Only(e, name, "type", "name", "comment", "p", "inplace");
                        double pr = Num(e, name, "p") ?? 0.5;
                        if (pr < 0 || pr > 1) throw Error(name, $"dropout: p must be in [0, 1], got {pr}");
                        return new DropoutLayer(name, (float)pr);
                    }
                case "maxpool":
                case "avgpool":
                    {
                        if (type == "maxpool") Only(e, name, "type", "name", "comment", "kernel", "stride", "padding", "ceil_mode");
                        else Only(e, name, "type", "name", "comment", "kernel", "stride", "padding", "ceil_mode", "count_include_pad");
                        int k = Square(e, name, "kernel", null) ?? throw Missing(name, "kernel");
                        int s = Square(e, name, "stride", k)!.Value;
                        int p = Square(e, name, "padding", 0)!.Value;
                        if (k <= 0 || s <= 0 || p < 0) throw Error(name, $"{type}: kernel and stride must be positive, padding non-negative");
                        bool ceil = Bool(e, name, "ceil_mode") ?? false;
                        return type == "maxpool" ? new MaxPool2dLayer(name, k, s, p, ceil)
                            : new AvgPool2dLayer(name, k, s, p, ceil, Bool(e, name, "count_include_pad") ?? true);
                    }
                case "adaptive_avgpool":
                    {
                        Only(e, name, "type", "name", "comment", "output");
                        var (oh, ow) = Pair(e, name, "output", null) ?? throw Missing(name, "output");
                        if (oh <= 0 || ow <= 0) throw Error(name, "adaptive_avgpool: output must be positive");
                        return new AdaptiveAvgPool2dLayer(name, oh, ow);
                    }
                case "global_avgpool":
                    Only(e, name, "type", "name", "comment");
                    return new GlobalAvgPoolLayer(name);
                case "flatten":
                    {
                        Only(e, name, "type", "name", "comment", "start_dim");
                        int sd = Int(e, name, "start_dim") ?? 1;
                        if (sd != 1) throw Error(name, $"flatten: only start_dim 1 (torch.flatten(x, 1), nn.Flatten()) is supported, got {sd}");
                        return new FlattenLayer(name);
                    }
                case "linear":
                    Only(e, name, "type", "name", "comment", "in", "out", "bias");
                    return new LinearLayer(name, PosInt(e, name, "in"), PosInt(e, name, "out"), Bool(e, name, "bias") ?? true);
                case "softmax":
                case "log_softmax":
                    Only(e, name, "type", "name", "comment", "dim");
                    return new SoftmaxLayer(name, Int(e, name, "dim") ?? throw Missing(name, "dim"), type == "log_softmax");
                default:
                    throw Error(name, $"unknown layer type '{type}'; expected one of conv, batchnorm1d, batchnorm2d, relu, maxpool, avgpool, adaptive_avgpool, global_avgpool, flatten, linear, dropout, softmax, log_softmax");
            }
        }

        private Preprocessing Preprocess(JsonElement root, int channels, int height, int width)
        {
            var color = channels == 1 ? ColorMode.Grayscale : ColorMode.Rgb;
            if (!root.TryGetProperty("preprocessing", out var p) || p.ValueKind == JsonValueKind.Null)
                return new Preprocessing { Color = color, Resize = ResizeMode.Exact, ResizeHeight = height, ResizeWidth = width, CropHeight = 0, CropWidth = 0, Mean = null, Std = null };
            const string W = "preprocessing";
            if (p.ValueKind != JsonValueKind.Object) throw Error(W, "expected an object");
            Only(p, W, "color", "resize", "crop", "mean", "std", "exif_orientation", "comment");
            if (Str(p, W, "color") is { } c)
                color = c switch
                {
                    "rgb" => ColorMode.Rgb,
                    "grayscale" => ColorMode.Grayscale,
                    _ => throw Error(W, $"color '{c}': expected \"rgb\" or \"grayscale\""),
                };
            int produced = color == ColorMode.Rgb ? 3 : 1;
            if (produced != channels)
                throw Error(W, $"color {(color == ColorMode.Rgb ? "rgb" : "grayscale")} gives {produced} channels, the input has {channels}");
            var pre = new Preprocessing { Color = color, Resize = ResizeMode.None, CropHeight = 0, CropWidth = 0, Mean = null, Std = null, ApplyExifOrientation = Bool(p, W, "exif_orientation") ?? false };
            if (p.TryGetProperty("resize", out var r) && r.ValueKind != JsonValueKind.Null)
            {
                if (r.ValueKind == JsonValueKind.Number)
                    pre = pre with { Resize = ResizeMode.ShorterSide, ResizeHeight = PosInt(p, W, "resize"), ResizeWidth = PosInt(p, W, "resize") };
                else
                {
                    var (h, w) = Pair(p, W, "resize", null)!.Value;
                    Positive(W, "resize", Math.Min(h, w));
                    pre = pre with { Resize = ResizeMode.Exact, ResizeHeight = h, ResizeWidth = w };
                }
            }
            if (p.TryGetProperty("crop", out var cr) && cr.ValueKind != JsonValueKind.Null)
            {
                var (h, w) = Pair(p, W, "crop", null)!.Value;
                Positive(W, "crop", Math.Min(h, w));
                pre = pre with { CropHeight = h, CropWidth = w };
            }
            var mean = Floats(p, W, "mean");
            var std = Floats(p, W, "std");
            if ((mean is null) != (std is null)) throw Error(W, "give both mean and std, or neither");
            if (mean is not null && (mean.Length != channels || std!.Length != channels))
                throw Error(W, $"mean and std need {channels} values (one per channel), got {mean.Length} and {std!.Length}");
            if (std is not null && std.Any(s => !(s > 0))) throw Error(W, "std values must be positive");
            pre = pre with { Mean = mean, Std = std };
            // The pipeline must produce the input size.
            (int H, int W) size = pre.CropHeight > 0 ? (pre.CropHeight, pre.CropWidth)
                : pre.Resize == ResizeMode.Exact ? (pre.ResizeHeight, pre.ResizeWidth) : (-1, -1);
            if (size != (height, width))
                throw Error(W, size.H < 0
                    ? $"without an exact resize ([h, w]) or a crop the image size varies; the input is {height}×{width}"
                    : $"produces {size.H}×{size.W} images, the input is {height}×{width}");
            return pre;
        }

        private IReadOnlyList<string>? Labels(JsonElement root)
        {
            if (!root.TryGetProperty("labels", out var l) || l.ValueKind == JsonValueKind.Null) return null;
            if (l.ValueKind == JsonValueKind.String)
            {
                string rel = l.GetString()!;
                string full = Path.IsPathRooted(rel) || _path is null ? rel : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(_path))!, rel);
                try { return File.ReadAllLines(full).Where(x => x.Length > 0).ToArray(); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw Error("labels", $"cannot read the labels file '{full}': {e.Message}");
                }
            }
            if (l.ValueKind != JsonValueKind.Array || l.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
                throw Error("labels", "expected an array of strings or the path of a text file with one label per line");
            return l.EnumerateArray().Select(x => x.GetString()!).ToArray();
        }

        // ---- field helpers ----
        private void Only(JsonElement e, string where, params string[] allowed)
        {
            foreach (var prop in e.EnumerateObject())
                if (!allowed.Contains(prop.Name))
                    throw Error(where, $"unknown field '{prop.Name}'; expected {string.Join(", ", allowed.Where(a => a != "comment"))}");
        }

        private ModelFormatException Missing(string where, string field) => Error(where, $"missing field '{field}'");

        private JsonElement Req(JsonElement e, string where, string field) =>
            e.TryGetProperty(field, out var v) ? v : throw Missing(where, field);

        private string? Str(JsonElement e, string where, string field)
        {
            if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error(where, $"'{field}' must be a string");
        }

        private int? Int(JsonElement e, string where, string field)
        {
            if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw Error(where, $"'{field}' must be an integer, got {v.GetRawText()}");
        }

        private int PosInt(JsonElement e, string where, string field)
        {
            int v = Int(e, where, field) ?? throw Missing(where, field);
            Positive(where, field, v);
            return v;
        }

        private void Positive(string where, string field, int v)
        {
            if (v <= 0) throw Error(where, $"'{field}' must be positive, got {v}");
        }

        private double? Num(JsonElement e, string where, string field)
        {
            if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Error(where, $"'{field}' must be a number, got {v.GetRawText()}");
        }

        private bool? Bool(JsonElement e, string where, string field)
        {
            if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(where, $"'{field}' must be true or false, got {v.GetRawText()}"),
            };
        }

        private float[]? Floats(JsonElement e, string where, string field)
        {
            if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number))
                throw Error(where, $"'{field}' must be an array of numbers");
            return v.EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
        }

        // An int (both axes) or [h, w].
        private (int, int)? Pair(JsonElement e, string where, string field, int? dflt)
        {
            if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
                return dflt is { } d ? (d, d) : null;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)) return (i, i);
            if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 2 && v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out _)))
                return (v[0].GetInt32(), v[1].GetInt32());
            throw Error(where, $"'{field}' must be an integer or a pair [h, w] of integers, got {v.GetRawText()}");
        }

        private int? Square(JsonElement e, string where, string field, int? dflt)
        {
            var p = Pair(e, where, field, dflt);
            if (p is { } q && q.Item1 != q.Item2)
                throw Error(where, $"'{field}' must be the same on both axes for pooling, got [{q.Item1}, {q.Item2}]");
            return p?.Item1;
        }
    }
}
