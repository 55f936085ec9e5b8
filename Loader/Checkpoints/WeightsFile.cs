using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Vgg.Engine.Models;

namespace Vgg.Engine.Loader.Checkpoints;

/// <summary>
/// Reads a weights file (PyTorch checkpoint or safetensors) into a <see cref="StateDict"/>, without
/// executing any Python and without trusting sizes written in the file.
/// </summary>
public static class WeightsFile
{
    /// <summary>
    /// The keys under which training scripts commonly store the state dict in a checkpoint dict, in the
    /// order they are tried (<c>torch.save({"state_dict": model.state_dict(), "epoch": ...})</c>).
    /// </summary>
    public static IReadOnlyList<string> WrapperKeys { get; } = new[] { "state_dict", "model", "net", "model_state_dict" };

    /// <summary>Deepest nesting of dicts flattened into dotted keys.</summary>
    private const int MaxNesting = 32;

    /// <summary>
    /// Reads the tensors of a weights file. The format is detected from the content, not the extension:
    /// <list type="bullet">
    /// <item>PyTorch zip checkpoint (torch.save since 1.6; any archive folder name; "byteorder" honoured),</item>
    /// <item>PyTorch legacy stream (torch.save before 1.6 or with <c>_use_new_zipfile_serialization=False</c>),</item>
    /// <item>PyTorch tar checkpoint (torch.save before 0.4),</item>
    /// <item>safetensors.</item>
    /// </list>
    /// (A file that is none of these but has a '{' at byte 8 or a .safetensors name is reported by the safetensors
    /// reader, e.g. "safetensors header length N exceeds the file size".) Zip entries are checked against their CRC-32.
    /// The top-level object must be a dict: either the state dict itself (keys to tensors; nested dicts
    /// flatten to dotted keys, e.g. <c>{"layer1": {"weight": t}}</c> gives <c>layer1.weight</c>) or a
    /// checkpoint dict holding it under one of <see cref="WrapperKeys"/>
    /// (<see cref="StateDict.WrapperKey"/> records which; the other entries — epoch, loss, optimizer
    /// state — are listed in <see cref="StateDict.IgnoredEntries"/> and never read). Keys are kept as
    /// stored: a DataParallel <c>module.</c> prefix is NOT removed here (the model binder does that).
    /// </summary>
    /// <remarks>
    /// Tensors come out contiguous, row-major, little-endian, in their stored dtype (float32, float16,
    /// bfloat16, float64, int64, int32, int16, int8, uint8, bool; safetensors also uint16/32/64);
    /// strided views (a transposed tensor saved as-is), storage offsets and storages shared by several
    /// tensors are resolved as torch's <c>Tensor.set_(storage, offset, size, stride)</c> does.
    /// nn.Parameter values load as plain tensors. Unpickling is restricted to an allow-list of the
    /// globals torch writes (torch._utils._rebuild_tensor[_v2/_v3], _rebuild_parameter[_with_state],
    /// torch._tensor._rebuild_from_type_v2, collections.OrderedDict, torch.*Storage, torch dtypes,
    /// torch.device, torch.Size, _codecs.encode); nothing is ever executed. Either a complete StateDict
    /// is returned or an exception is thrown: nothing is half-loaded.
    /// </remarks>
    /// <param name="path">The file to read.</param>
    /// <param name="log">Receives one Information line (format, tensor count, wrapper key) and Debug details.</param>
    /// <returns>The named tensors in file order, with <see cref="StateDict.Format"/> "pytorch-zip",
    /// "pytorch-legacy", "pytorch-tar" or "safetensors".</returns>
    /// <exception cref="UnsafePickleException">The pickle names a global outside the allow-list (a pickled
    /// nn.Module class such as <c>__main__.Net</c>, <c>os.system</c>, <c>builtins.eval</c>, ...).</exception>
    /// <exception cref="ModelFormatException">The file is empty, truncated or corrupt, is an HTML page or a
    /// Git LFS pointer, has an unknown storage dtype, a storage too short for a tensor's size, stride and
    /// offset, a safetensors header that does not match the data, or holds no tensors; or the path is a directory. The message names
    /// the file, the key or archive entry, and what was expected.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file cannot be opened or read.</exception>
    public static StateDict Read(string path, ILogger? log = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            throw new ModelFormatException(path, null, "is a directory; expected a weights file (.pth/.pt, .safetensors)");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.RandomAccess);
        try
        {
            var sd = ReadCore(path, fs, log);
            if (log is not null && log.IsEnabled(LogLevel.Information))
            {
                log.LogInformation("{File}: {Format}, {Count} tensors{Wrapper}{Ignored}", path, sd.Format, sd.Count,
                    sd.WrapperKey is null ? "" : $", state dict taken from the checkpoint's '{sd.WrapperKey}' entry",
                    sd.IgnoredEntries.Count == 0 ? "" : $"; ignored: {string.Join(", ", sd.IgnoredEntries.Take(10))}{(sd.IgnoredEntries.Count > 10 ? $" and {sd.IgnoredEntries.Count - 10} more" : "")}");
            }
            return sd;
        }
        catch (ModelFormatException) { throw; }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or System.Text.Json.JsonException or OverflowException
                                   or ArgumentException or InvalidCastException or IndexOutOfRangeException or KeyNotFoundException or FormatException)
        {
            // Anything a corrupt file provokes that the readers did not already name.
            throw new ModelFormatException(path, null, $"corrupt or truncated file: {e.Message}", e);
        }
    }

    private static StateDict ReadCore(string path, FileStream fs, ILogger? log)
    {
        long length = fs.Length;
        if (length == 0)
            throw new ModelFormatException(path, null, "the file is empty (0 bytes); expected a PyTorch checkpoint (.pt/.pth) or a safetensors file");
        var head = new byte[(int)Math.Min(length, 1024)];
        fs.ReadExactly(head);
        fs.Position = 0;

        if (head.Length >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] is 3 or 5 && head[3] is 4 or 6)
        {
            using var ck = TorchZipCheckpoint.Open(path, fs);
            log?.LogDebug("{File}: zip archive '{Archive}', version {Version}, byteorder {Order}", path, ck.ArchiveName, ck.Version ?? "(none)", ck.BigEndian ? "big" : "little");
            return Build(ck, log);
        }
        if (TorchLegacyCheckpoint.LooksLikeLegacy(head))
        {
            using var ck = TorchLegacyCheckpoint.Open(path, fs);
            return Build(ck, log);
        }
        if (TorchTarCheckpoint.LooksLikeTar(head))
        {
            using var ck = TorchTarCheckpoint.Open(path, fs);
            return Build(ck, log);
        }
        if (SafetensorsReader.LooksLikeSafetensors(head, length))
            return SafetensorsReader.Read(path, fs, log);

        // Not plausible as safetensors, but meant as one (its JSON header opens at byte 8, or the file is named
        // *.safetensors and is not a web page or LFS pointer): the safetensors reader names what is wrong, e.g.
        // a header length larger than the file.
        var other = DescribeKnownOther(head, length);
        if (other is null && ((head.Length >= 9 && head[8] == (byte)'{') || path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)))
            return SafetensorsReader.Read(path, fs, log);

        throw new ModelFormatException(path, null, other ?? DescribeUnknown(head, length));
    }

    /// <summary>What content that is none of the formats is instead (Git LFS pointer, HTML page, bare pickle), or null.</summary>
    private static string? DescribeKnownOther(byte[] head, long length)
    {
        var text = Encoding.UTF8.GetString(head).TrimStart('\uFEFF', ' ', '\t', '\r', '\n');
        if (text.StartsWith("version https://git-lfs.github.com/spec/", StringComparison.Ordinal))
        {
            var size = text.Split('\n').FirstOrDefault(l => l.StartsWith("size ", StringComparison.Ordinal))?[5..].Trim();
            return $"this is a Git LFS pointer ({length} bytes{(size is null ? "" : $", standing for a {size}-byte file")}), not the weights: run 'git lfs pull' in the repository to fetch the real file";
        }
        if (text.StartsWith("<!doctype html", StringComparison.OrdinalIgnoreCase) || text.StartsWith("<html", StringComparison.OrdinalIgnoreCase) ||
            text.StartsWith("<head", StringComparison.OrdinalIgnoreCase) || (text.StartsWith("<?xml", StringComparison.Ordinal) && text.Contains("<html", StringComparison.OrdinalIgnoreCase)))
            return "this is an HTML page, not a checkpoint: the download saved a web page (a login, consent or error page, or a Google Drive/GitHub 'view' page) instead of the file. Download the raw file";
        if (head[0] == 0x80)
            return "a bare pickle without torch's header (no zip archive and no legacy magic number 0x1950a86a20f9469cfc6c); expected a file written by torch.save";
        return null;
    }

    /// <summary>A message for content that is none of the formats and nothing else recognisable.</summary>
    private static string DescribeUnknown(byte[] head, long length)
    {
        var hex = Convert.ToHexString(head.AsSpan(0, Math.Min(head.Length, 16))).ToLowerInvariant();
        return $"unrecognised content ({length} bytes, starting with 0x{hex}); expected a PyTorch zip checkpoint (starts with 'PK'), a legacy torch.save stream (pickled magic number 0x1950a86a20f9469cfc6c), a torch tar checkpoint, or safetensors (8-byte header length then '{{')";
    }

    /// <summary>Chooses the state dict in the unpickled object, flattens it and materialises its tensors.</summary>
    private static StateDict Build(TorchCheckpoint ck, ILogger? log)
    {
        var root = ck.Root switch
        {
            PyDict d => d,
            TorchTensorRef => throw new ModelFormatException(ck.Path, null, "the file holds a single tensor (torch.save(tensor)), not a dict of named tensors; expected a state_dict"),
            var other => throw new ModelFormatException(ck.Path, null, $"the file holds a {PickleMachine.Describe(other)} at the top level; expected a dict of named tensors (a state_dict) or a checkpoint dict holding one"),
        };

        var sd = new StateDict(ck.Path, ck.Format);
        PyDict chosen = root;
        if (!HasDirectTensors(root))
        {
            foreach (var w in WrapperKeys)
            {
                if (root.TryGet(w, out var v) && v is PyDict inner && ContainsTensors(inner, 0))
                {
                    chosen = inner;
                    sd.WrapperKey = w;
                    log?.LogInformation("{File}: using the state dict under the checkpoint key '{Key}'", ck.Path, w);
                    break;
                }
            }
        }

        if (sd.WrapperKey is not null)
        {
            foreach (var kv in root.Entries)
            {
                var k = KeyText(kv.Key);
                if (k != sd.WrapperKey) sd.IgnoredEntries.Add($"{k} ({PickleMachine.Describe(kv.Value)})");
            }
        }

        var found = new List<(string key, TorchTensorRef t)>();
        Flatten(ck.Path, chosen, "", 0, found, sd.IgnoredEntries);
        if (found.Count == 0)
        {
            var top = string.Join(", ", root.Entries.Take(10).Select(e => $"{KeyText(e.Key)} ({PickleMachine.Describe(e.Value)})"));
            throw new ModelFormatException(ck.Path, null, $"no tensors found; expected a state_dict or a dict holding one under {string.Join(", ", WrapperKeys.Select(k => $"'{k}'"))}. Top-level entries: {top}");
        }

        var m = new TensorMaterializer(ck);
        foreach (var (key, t) in found)
            sd.Add(key, m.Materialize(key, t));
        return sd;
    }

    private static bool HasDirectTensors(PyDict d) => d.Entries.Any(e => e.Value is TorchTensorRef or TorchUnsupported);

    private static bool ContainsTensors(PyDict d, int depth) =>
        depth < MaxNesting && d.Entries.Any(e => e.Value is TorchTensorRef or TorchUnsupported || (e.Value is PyDict inner && ContainsTensors(inner, depth + 1)));

    /// <summary>Depth-first in insertion order: tensors become "prefix.key"; other values are listed as ignored.</summary>
    private static void Flatten(string path, PyDict d, string prefix, int depth, List<(string, TorchTensorRef)> found, List<string> ignored)
    {
        if (depth > MaxNesting)
            throw new ModelFormatException(path, prefix.TrimEnd('.'), $"dicts nested more than {MaxNesting} levels deep");
        if (d.Attributes is not null)
            ignored.Add(prefix + "_metadata");
        foreach (var kv in d.Entries)
        {
            string key = prefix + KeyText(kv.Key);
            switch (kv.Value)
            {
                case TorchTensorRef t:
                    found.Add((key, t));
                    break;
                case TorchUnsupported u:
                    throw new ModelFormatException(path, key, $"this entry is {u.What}; expected a dense tensor");
                case PyDict inner:
                    Flatten(path, inner, key + ".", depth + 1, found, ignored);
                    break;
                default:
                    ignored.Add($"{key} ({PickleMachine.Describe(kv.Value)})");
                    break;
            }
        }
    }

    private static string KeyText(object? k) => k switch
    {
        string s => s,
        long l => l.ToString(CultureInfo.InvariantCulture),
        bool b => b ? "True" : "False",
        null => "None",
        _ => $"<{PickleMachine.Describe(k)} key>",
    };
}
