using System.Collections;

namespace Vgg.Engine.Models;

/// <summary>
/// Named tensors read from a weights file (PyTorch state_dict, safetensors), in file order, with where
/// they came from. Keys are as stored (a DataParallel "module." segment is still there; the binder
/// removes it where that makes the keys match the model). Tensors keep their stored dtype.
/// </summary>
public sealed class StateDict : IReadOnlyDictionary<string, Tensor>
{
    private readonly List<string> _order = new();
    private readonly Dictionary<string, Tensor> _tensors = new(StringComparer.Ordinal);

    public StateDict(string? sourcePath, string format)
    {
        SourcePath = sourcePath;
        Format = format;
    }

    /// <summary>The file the tensors came from, or null when built in memory.</summary>
    public string? SourcePath { get; }

    /// <summary>Container format: "pytorch-zip", "pytorch-legacy", "pytorch-tar", "safetensors", "memory".</summary>
    public string Format { get; }

    /// <summary>The wrapper key the state dict was found under ("state_dict", "model", "net", "model_state_dict"), or null for a bare state dict.</summary>
    public string? WrapperKey { get; set; }

    /// <summary>Non-tensor entries that were ignored (epoch, loss, optimizer state, _metadata), for the log.</summary>
    public List<string> IgnoredEntries { get; } = new();

    /// <summary>Adds a tensor; keys must be unique.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="tensor"/> is null.</exception>
    /// <exception cref="ModelFormatException">The key is already present.</exception>
    public void Add(string key, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(tensor);
        if (_tensors.ContainsKey(key))
            throw new ModelFormatException(SourcePath, key, "the key appears twice");
        _tensors[key] = tensor;
        _order.Add(key);
    }

    public Tensor this[string key] => _tensors.TryGetValue(key, out var t) ? t : throw new KeyNotFoundException($"'{key}' is not in {SourcePath ?? "the state dict"}");
    public IEnumerable<string> Keys => _order;
    public IEnumerable<Tensor> Values => _order.Select(k => _tensors[k]);
    public int Count => _order.Count;
    public bool ContainsKey(string key) => _tensors.ContainsKey(key);
    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Tensor value) => _tensors.TryGetValue(key, out value);
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => _order.Select(k => new KeyValuePair<string, Tensor>(k, _tensors[k])).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
