using Microsoft.Extensions.Logging;

namespace Vgg.Engine.Models;

/// <summary>How <see cref="StateDictBinder.Bind"/> matches a state dict to a model's parameters.</summary>
public sealed record BindOptions
{
    /// <summary>
    /// A prefix in front of the model's keys in the file, removed after any "module" segments (e.g. "backbone."
    /// for a checkpoint of a wrapper whose VGG sits under <c>self.backbone</c>). "" for none.
    /// </summary>
    public string KeyPrefix { get; init; } = "";

    /// <summary>
    /// Model keys of the classifier head (the last Linear, and a BatchNorm1d after it): the only keys that may be
    /// missing from the file or differ in shape when <see cref="AllowHeadMismatch"/> is set.
    /// </summary>
    public IReadOnlyCollection<string> HeadKeys { get; init; } = Array.Empty<string>();

    /// <summary>
    /// Load everything but a head that does not fit (a 1000-class checkpoint into a 10-class model, the seed
    /// guide's partial load) and initialise that head with <see cref="WeightInit"/> from <see cref="Seed"/>.
    /// Without it such a checkpoint is an error whose message names this option.
    /// </summary>
    public bool AllowHeadMismatch { get; init; }

    /// <summary>Seed for a re-initialised head.</summary>
    public int Seed { get; init; }

    /// <summary>
    /// Model keys that the file may hold but the model does not use (layers after a features-only output);
    /// matched like the others, then ignored.
    /// </summary>
    public IReadOnlyCollection<string> SkippedKeys { get; init; } = Array.Empty<string>();

    /// <summary>Where the binding is reported (information; a warning for a re-initialised head).</summary>
    public ILogger? Logger { get; init; }

    /// <summary>How the head option is spelled in messages.</summary>
    public string HeadOptionName { get; init; } = "AllowHeadMismatch (CLI: --reset-head)";
}

/// <summary>What a binding did: the weights, and every rename, conversion, skip and re-initialisation.</summary>
public sealed class BindingReport
{
    internal BindingReport(Dictionary<string, Tensor> weights) => Weights = weights;

    /// <summary>float32 tensors by model key, with the model's shapes.</summary>
    public IReadOnlyDictionary<string, Tensor> Weights { get; }

    /// <summary>Keys found under another name in the file ("module." segments or a prefix removed): (model key, file key).</summary>
    public List<(string ModelKey, string FileKey)> Renamed { get; } = new();

    /// <summary>Tensors converted to float32: (model key, stored dtype).</summary>
    public List<(string ModelKey, DType From)> Converted { get; } = new();

    /// <summary>File keys not bound on purpose: num_batches_tracked, layers after a features-only output.</summary>
    public List<string> Ignored { get; } = new();

    /// <summary>Head keys initialised from the seed instead of loaded, with why (shape in the file, or missing).</summary>
    public List<(string ModelKey, string Reason)> Reinitialised { get; } = new();

    /// <summary>True when the head was re-initialised (a partial load).</summary>
    public bool HeadReset => Reinitialised.Count > 0;

    /// <summary>The lines that were logged, in order.</summary>
    public List<string> Messages { get; } = new();

    public override string ToString() => string.Join(Environment.NewLine, Messages);
}

/// <summary>
/// Binds the tensors of a <see cref="StateDict"/> to a model's <see cref="ParameterSpec"/>s, like PyTorch's
/// <c>load_state_dict(strict=True)</c>: every model key must be found with its exact shape, and every file key
/// must be used. Tensors of any dtype become float32 (float16 and bfloat16 exactly, float64 rounded to nearest
/// even, integers and bools by value); float32 tensors are used as they are, without a copy.
/// <c>num_batches_tracked</c> entries are ignored (BatchNorm's momentum counter; inference does not read it).
/// </summary>
/// <remarks>
/// DataParallel and DistributedDataParallel save keys with a "module" segment (<c>module.features.0.weight</c>,
/// or <c>backbone.module.features.0.weight</c> when only a sub-module was wrapped). A file key that is not a
/// model key is retried with "module" segments removed, fewest first and leftmost first, and then with
/// <see cref="BindOptions.KeyPrefix"/> removed; the first candidate that is a model key wins. A file key that
/// already matches is never changed, so a genuine layer named "module" keeps its name.
/// </remarks>
public static class StateDictBinder
{
    /// <summary>Binds <paramref name="stateDict"/> to <paramref name="parameters"/>.</summary>
    /// <returns>The float32 weights by model key and what was done.</returns>
    /// <exception cref="ModelMismatchException">
    /// A model key with no tensor, a file key the model does not have, a shape that differs, or two file keys for one
    /// model key; names the key (as in the file), the expected and the found value. A head that does not fit without
    /// <see cref="BindOptions.AllowHeadMismatch"/> says to set it.
    /// </exception>
    public static BindingReport Bind(StateDict stateDict, IReadOnlyList<ParameterSpec> parameters, BindOptions? options = null)
    {
        options ??= new BindOptions();
        string? file = stateDict.SourcePath;
        var expected = new Dictionary<string, ParameterSpec>(StringComparer.Ordinal);
        foreach (var p in parameters) expected[p.Key] = p;
        var skipped = new HashSet<string>(options.SkippedKeys, StringComparer.Ordinal);
        var head = new HashSet<string>(options.HeadKeys, StringComparer.Ordinal);

        var found = new Dictionary<string, string>(StringComparer.Ordinal); // model key → file key
        var unexpected = new List<string>();
        var ignored = new List<string>();
        foreach (var fileKey in stateDict.Keys)
        {
            if (fileKey == "num_batches_tracked" || fileKey.EndsWith(".num_batches_tracked", StringComparison.Ordinal))
            {
                ignored.Add(fileKey);
                continue;
            }
            var modelKey = Resolve(fileKey, k => expected.ContainsKey(k) || skipped.Contains(k), options.KeyPrefix);
            if (modelKey is null) { unexpected.Add(fileKey); continue; }
            if (found.TryGetValue(modelKey, out var other))
                throw new ModelMismatchException(file, fileKey, $"one tensor for the model's '{modelKey}'", $"both '{other}' and '{fileKey}'");
            found[modelKey] = fileKey;
        }

        // Shapes of everything but the head first: they name a wrong architecture most directly.
        var headProblems = new List<(string Key, string Reason)>();
        foreach (var p in parameters)
        {
            if (!found.TryGetValue(p.Key, out var fk)) continue;
            var t = stateDict[fk];
            if (t.Shape.SequenceEqual(p.Shape)) continue;
            string exp = Tensor.FormatShape(p.Shape), act = Tensor.FormatShape(t.Shape);
            if (head.Contains(p.Key)) { headProblems.Add((p.Key, $"the file has {act}, the model {exp}")); continue; }
            throw new ModelMismatchException(file, fk, $"shape {exp} for {p.Role} of layer '{p.Layer}'", act);
        }
        var missing = parameters.Where(p => !found.ContainsKey(p.Key)).ToList();
        foreach (var p in missing.Where(p => head.Contains(p.Key)))
            headProblems.Add((p.Key, "not in the file"));
        var missingBody = missing.Where(p => !head.Contains(p.Key)).ToList();
        if (missingBody.Count > 0)
        {
            var p = missingBody[0];
            throw new ModelMismatchException(file, p.Key, $"a tensor {Tensor.FormatShape(p.Shape)} ({p.Role} of layer '{p.Layer}')", "no such key in the state dict",
                Hint(missingBody.Select(m => m.Key), "missing", unexpected, "unexpected"));
        }
        if (unexpected.Count > 0)
        {
            var t = stateDict[unexpected[0]];
            throw new ModelMismatchException(file, unexpected[0], "a key of the model (" + Sample(parameters.Select(p => p.Key)) + ")", $"an unexpected key ({t})",
                Hint(unexpected, "unexpected", Array.Empty<string>(), ""));
        }
        if (headProblems.Count > 0 && !options.AllowHeadMismatch)
        {
            var (key, reason) = headProblems[0];
            var p = expected[key];
            string actual = found.TryGetValue(key, out var fk) ? Tensor.FormatShape(stateDict[fk].Shape) : "no such key in the state dict";
            throw new ModelMismatchException(file, found.GetValueOrDefault(key, key), $"shape {Tensor.FormatShape(p.Shape)} for the classifier head '{p.Layer}'", actual,
                $"the checkpoint's head does not fit the model's ({reason}); to load everything but the head and initialise the head from a seed, set {options.HeadOptionName}");
        }

        var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var report = new BindingReport(weights);
        var reset = new HashSet<string>(headProblems.Select(h => h.Key), StringComparer.Ordinal);
        // A head is reset as a whole: a bias that happens to fit is re-initialised with its weight.
        if (reset.Count > 0)
            foreach (var k in head.Where(expected.ContainsKey)) reset.Add(k);
        foreach (var p in parameters)
        {
            if (reset.Contains(p.Key))
            {
                weights[p.Key] = WeightInit.Create(p, options.Seed);
                var why = headProblems.FirstOrDefault(h => h.Key == p.Key).Reason ?? "re-initialised with the rest of the head";
                report.Reinitialised.Add((p.Key, why));
                continue;
            }
            var fk = found[p.Key];
            var t = stateDict[fk];
            if (fk != p.Key) report.Renamed.Add((p.Key, fk));
            if (t.DType != DType.Float32)
            {
                report.Converted.Add((p.Key, t.DType));
                var f = new Tensor(DType.Float32, p.Shape);
                t.ReadAsFloat(f.AsSpan<float>());
                t = f;
            }
            weights[p.Key] = t;
        }
        foreach (var (mk, fk) in found)
            if (!expected.ContainsKey(mk)) ignored.Add(fk);
        report.Ignored.AddRange(ignored);

        string src = file ?? "the state dict";
        report.Messages.Add($"bound {weights.Count - report.Reinitialised.Count} of {parameters.Count} tensors from {src} ({stateDict.Format})");
        if (report.Renamed.Count > 0)
            report.Messages.Add($"matched {report.Renamed.Count} keys under another name (e.g. '{report.Renamed[0].FileKey}' → '{report.Renamed[0].ModelKey}': DataParallel 'module' segments or the prefix '{options.KeyPrefix}' removed)");
        foreach (var g in report.Converted.GroupBy(c => c.From))
            report.Messages.Add(g.Key.IsFloatingPoint()
                ? $"converted {g.Count()} tensors from {g.Key.Name()} to float32"
                : $"warning: converted {g.Count()} {g.Key.Name()} tensors to float32 ({string.Join(", ", g.Take(4).Select(c => $"'{c.ModelKey}'"))}{(g.Count() > 4 ? ", ..." : "")}): integer or boolean values where the model has float parameters usually mean the wrong file or key");
        foreach (var (key, t) in weights)
        {
            if (t.DType != DType.Float32) continue;
            long bad = NonFinite.Count(t.AsSpan<float>());
            if (bad > 0) report.Messages.Add($"warning: '{key}' holds {bad} NaN or infinite value(s): the model's outputs will not be finite");
        }
        int nbt = ignored.Count(k => k.EndsWith("num_batches_tracked", StringComparison.Ordinal));
        if (nbt > 0) report.Messages.Add($"ignored {nbt} num_batches_tracked entries");
        if (ignored.Count > nbt) report.Messages.Add($"ignored {ignored.Count - nbt} tensors of layers after the output layer");
        foreach (var (k, r) in report.Reinitialised)
            report.Messages.Add($"head reset: '{k}' initialised from seed {options.Seed} with torchvision's init ({r})");

        if (options.Logger is { } log)
            foreach (var m in report.Messages)
            {
                if (m.StartsWith("head reset", StringComparison.Ordinal) || m.StartsWith("warning: ", StringComparison.Ordinal)) log.LogWarning("{Message}", m);
                else log.LogInformation("{Message}", m);
            }
        return report;
    }

    /// <summary>
    /// The model key <paramref name="fileKey"/> stands for: itself when it is one; else with "module" segments
    /// removed (fewest first, leftmost first) and then <paramref name="prefix"/> removed; null when none matches.
    /// </summary>
    public static string? Resolve(string fileKey, Func<string, bool> isModelKey, string prefix = "")
    {
        if (isModelKey(fileKey)) return fileKey;
        if (prefix.Length > 0 && fileKey.StartsWith(prefix, StringComparison.Ordinal) && isModelKey(fileKey[prefix.Length..]))
            return fileKey[prefix.Length..];
        var segs = fileKey.Split('.');
        var positions = Enumerable.Range(0, segs.Length).Where(i => segs[i] == "module").ToArray();
        if (positions.Length == 0) return null;
        int maxSubsetBits = Math.Min(positions.Length, 8);
        for (int r = 1; r <= positions.Length; r++)
        {
            foreach (var subset in Combinations(positions, r, maxSubsetBits))
            {
                var drop = new HashSet<int>(subset);
                var cand = string.Join('.', segs.Where((_, i) => !drop.Contains(i)));
                if (isModelKey(cand)) return cand;
                if (prefix.Length > 0 && cand.StartsWith(prefix, StringComparison.Ordinal) && isModelKey(cand[prefix.Length..]))
                    return cand[prefix.Length..];
            }
        }
        return null;
    }

    // Subsets of size r in lexicographic order (leftmost first); with more than `limit` positions only the
    // empty and full subsets are meaningful in practice, so only those are tried.
    private static IEnumerable<int[]> Combinations(int[] items, int r, int limit)
    {
        if (items.Length > limit)
        {
            if (r == items.Length) yield return items;
            yield break;
        }
        var idx = Enumerable.Range(0, r).ToArray();
        while (true)
        {
            yield return idx.Select(i => items[i]).ToArray();
            int k = r - 1;
            while (k >= 0 && idx[k] == items.Length - r + k) k--;
            if (k < 0) yield break;
            idx[k]++;
            for (int j = k + 1; j < r; j++) idx[j] = idx[j - 1] + 1;
        }
    }

    private static string Sample(IEnumerable<string> keys)
    {
        var l = keys.Take(4).ToList();
        return "e.g. " + string.Join(", ", l) + (keys.Skip(4).Any() ? ", …" : "");
    }

    private static string Hint(IEnumerable<string> a, string aName, IReadOnlyList<string> b, string bName)
    {
        var al = a.ToList();
        var s = $"{al.Count} {aName} key(s): {string.Join(", ", al.Take(5))}{(al.Count > 5 ? ", …" : "")}";
        if (b.Count > 0) s += $"; {b.Count} {bName} key(s) in the file: {string.Join(", ", b.Take(5))}{(b.Count > 5 ? ", …" : "")}";
        return s;
    }
}
