using Vgg.Engine.Loader.Imaging;
using Vgg.Engine.Models;
using Vgg.Engine.Quantization;

namespace Vgg.Engine.Loader.Quantization;

/// <summary>
/// Calibration from image files: finds the images of a folder, runs them through the model's preprocessing
/// (<see cref="ImagePreprocessor"/>, torchvision-equivalent) and feeds them to <see cref="Calibrator"/>. What
/// <c>vgg calibrate</c> uses.
/// </summary>
public static class CalibrationImages
{
    /// <summary>File extensions taken as images (case-insensitive).</summary>
    public static IReadOnlyList<string> Extensions { get; } = new[] { ".jpg", ".jpeg", ".png" };

    /// <summary>
    /// The image files under <paramref name="paths"/>: each path is a file (taken as it is) or a folder (its .jpg, .jpeg
    /// and .png files, recursively), in ordinal path order, at most <paramref name="limit"/> of them.
    /// </summary>
    /// <exception cref="CalibrationException">A path that does not exist, or no image at all (names the paths).</exception>
    public static IReadOnlyList<string> Find(IEnumerable<string> paths, int? limit = null)
    {
        var files = new List<string>();
        var given = paths.ToList();
        foreach (var p in given)
        {
            if (File.Exists(p)) files.Add(p);
            else if (Directory.Exists(p))
                files.AddRange(Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories)
                    .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                    .OrderBy(f => f, StringComparer.Ordinal));
            else throw new CalibrationException(p, "no such file or folder of calibration images");
        }
        if (files.Count == 0)
            throw new CalibrationException(null, $"no calibration images (.jpg, .jpeg, .png) in {string.Join(", ", given)}");
        return limit is { } n && n < files.Count ? files.Take(n).ToList() : files;
    }

    /// <summary>The images as preprocessed NCHW float32 batches of up to <paramref name="batchSize"/> (lazily, one batch in memory at a time).</summary>
    /// <exception cref="ImageDecodeException">An image that cannot be decoded (names the file).</exception>
    public static IEnumerable<Tensor> Batches(IReadOnlyList<string> files, Preprocessing preprocessing, int batchSize = 1, ImagePreprocessor? preprocessor = null)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "at least 1");
        preprocessor ??= ImagePreprocessor.Default;
        for (int i = 0; i < files.Count; i += batchSize)
            yield return preprocessor.LoadBatch(files.Skip(i).Take(batchSize).ToList(), preprocessing);
    }

    /// <summary>Calibrates <paramref name="model"/> on the images found under <paramref name="paths"/> with the model's preprocessing.</summary>
    /// <param name="model">The model as it will be run (its graph is what the table pins).</param>
    /// <param name="paths">Image files and/or folders.</param>
    /// <param name="options">Method, percentile, threads, progress.</param>
    /// <param name="batchSize">Images per calibration batch (memory: about 110 MB per 224×224 image for VGG-16).</param>
    /// <param name="limit">Use at most this many images.</param>
    /// <exception cref="CalibrationException">No images, or a non-finite activation.</exception>
    /// <exception cref="ImageDecodeException">An image that cannot be decoded.</exception>
    public static CalibrationTable Calibrate(Model model, IEnumerable<string> paths, CalibrationOptions? options = null, int batchSize = 1, int? limit = null)
    {
        var files = Find(paths, limit);
        return Calibrator.Calibrate(model, Batches(files, model.Preprocessing, batchSize), options);
    }
}
