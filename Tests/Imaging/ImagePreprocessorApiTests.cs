using Vgg.Engine.Loader.Imaging;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Imaging;

/// <summary>The public surface: batches, streams and bytes, presets, grayscale handling, thread safety.</summary>
[TestFixture]
public class ImagePreprocessorApiTests
{
    private static readonly ImagePreprocessor Pre = ImagePreprocessor.Default;

    [Test]
    public void BatchStacksImagesInOrder()
    {
        var paths = new[] { "images/hopper.png", "images/kitten.jpg", "images/transparent.png", "images/pil_sample_cmyk.jpg" }
            .Select(TestData.Require).ToArray();
        var batch = Pre.LoadBatch(paths, Preprocessing.ImageNet);
        Assert.That(batch.Shape, Is.EqualTo(new[] { 4, 3, 224, 224 }));
        var all = batch.AsSpan<float>();
        int per = 3 * 224 * 224;
        for (int i = 0; i < paths.Length; i++)
        {
            var single = Pre.Load(paths[i], Preprocessing.ImageNet).AsSpan<float>();
            Assert.That(all.Slice(i * per, per).SequenceEqual(single), Is.True, $"batch index {i} ({paths[i]}) equals Load of that file");
        }
    }

    [Test]
    public void BatchOfDifferentSizesNamesTheOddImage()
    {
        var a = TestData.Require("images/hopper.png");        // 128×128 → 256×256
        var b = TestData.Require("images/transparent.png");   // 200×150 → 341×256
        var p = Preprocessing.ImageNet with { CropHeight = 0, CropWidth = 0 };
        var e = Assert.Throws<InvalidInputException>(() => Pre.LoadBatch(new[] { a, b }, p))!;
        Assert.That(e.InputName, Is.EqualTo(b));
        Assert.That(e.Message, Does.Contain("3×256×341").And.Contain("3×256×256").And.Contain(a));
        Assert.Throws<ArgumentException>(() => Pre.LoadBatch(Array.Empty<string>(), Preprocessing.ImageNet));
    }

    [Test]
    public void StreamAndBytesGiveTheSameTensorAsThePath()
    {
        var path = TestData.Require("images/Dog1.jpg");
        var expected = Pre.Load(path, Preprocessing.ImageNet).AsSpan<float>().ToArray();
        var bytes = File.ReadAllBytes(path);
        Assert.That(Pre.Load(bytes, Preprocessing.ImageNet).AsSpan<float>().SequenceEqual(expected), Is.True, "bytes");
        Assert.That(Pre.Load(new TestImages.ForwardOnlyStream(bytes), Preprocessing.ImageNet).AsSpan<float>().SequenceEqual(expected), Is.True, "forward-only stream");
        using var fs = File.OpenRead(path);
        Assert.That(Pre.Load(fs, Preprocessing.ImageNet).AsSpan<float>().SequenceEqual(expected), Is.True, "file stream");
        // A slice of a larger buffer (an offset into a request body).
        var padded = new byte[bytes.Length + 10];
        bytes.CopyTo(padded, 7);
        Assert.That(Pre.Load(padded.AsMemory(7, bytes.Length), Preprocessing.ImageNet).AsSpan<float>().SequenceEqual(expected), Is.True, "memory slice");
    }

    [Test]
    public void PresetsMatchTheModelSpecs()
    {
        Assert.That(Pre.Load(TestData.Require("images/mnist/3.png"), Preprocessing.Mnist).Shape, Is.EqualTo(new[] { 1, 1, 28, 28 }));
        Assert.That(Pre.Load(TestData.Require("images/kitten.jpg"), Preprocessing.TinyVgg).Shape, Is.EqualTo(new[] { 1, 3, 64, 64 }));
        Assert.That(Pre.Load(TestData.Require("images/Cat.jpg"), Preprocessing.ImageNet).Shape, Is.EqualTo(new[] { 1, 3, 224, 224 }));
        // The presets are the pipelines the PIL references were made with.
        AssertSamePipeline(Preprocessing.Mnist, PilReference.Get("mnist/3.png").Pipeline);
        AssertSamePipeline(Preprocessing.TinyVgg, PilReference.Get("tinyvgg/kitten.jpg").Pipeline);
        AssertSamePipeline(Preprocessing.ImageNet, PilReference.Get("imagenet/kitten.jpg").Pipeline);
    }

    private static void AssertSamePipeline(Preprocessing a, Preprocessing b)
    {
        Assert.That((a.Color, a.Resize, a.ResizeHeight, a.CropHeight, a.CropWidth, a.ApplyExifOrientation),
            Is.EqualTo((b.Color, b.Resize, b.ResizeHeight, b.CropHeight, b.CropWidth, b.ApplyExifOrientation)));
        if (a.Resize == ResizeMode.Exact) Assert.That(a.ResizeWidth, Is.EqualTo(b.ResizeWidth));
        Assert.That(a.Mean, Is.EqualTo(b.Mean));
        Assert.That(a.Std, Is.EqualTo(b.Std));
    }

    /// <summary>A grayscale JPEG asked for as RGB has three equal channels, each the L decode.</summary>
    [Test]
    public void GrayscaleJpegToRgbReplicatesTheChannel()
    {
        var path = TestData.Require("images/hopper_gray.jpg");
        var rgb = Pre.Decode(path, ColorMode.Rgb);
        var l = Pre.Decode(path, ColorMode.Grayscale);
        Assert.That((rgb.Channels, l.Channels, rgb.Width, rgb.Height), Is.EqualTo((3, 1, 128, 128)));
        for (int y = 0; y < 128; y++)
            for (int x = 0; x < 128; x++)
                for (int c = 0; c < 3; c++)
                    if (rgb[y, x, c] != l[y, x, 0]) Assert.Fail($"({y},{x},{c}): RGB {rgb[y, x, c]} vs L {l[y, x, 0]}");
        var t = Pre.Load(path, Preprocessing.ImageNet);
        Assert.That(t.Shape, Is.EqualTo(new[] { 1, 3, 224, 224 }));
    }

    /// <summary>
    /// The CMYK sample (Adobe APP14, inverted CMYK) is red text on black. Pillow 9.4's convert("RGB") gives channel
    /// sums R 302320, G 54440, B 73861 over the 100 × 100 pixels (printed by Pillow); reading the CMYK values
    /// uninverted, or converting without K, would not come close.
    /// </summary>
    [Test]
    public void CmykJpegDecodesToRgbLikePil()
    {
        var px = Pre.Decode(TestData.Require("images/pil_sample_cmyk.jpg"), ColorMode.Rgb);
        Assert.That((px.Width, px.Height, px.Channels), Is.EqualTo((100, 100, 3)));
        long r = 0, g = 0, b = 0;
        for (int i = 0; i < px.Data.Length; i += 3) { r += px.Data[i]; g += px.Data[i + 1]; b += px.Data[i + 2]; }
        TestContext.Out.WriteLine($"channel sums R {r} G {g} B {b}");
        Assert.That(r, Is.EqualTo(302320).Within(0.002 * 302320 + 100), "R sum vs Pillow");
        Assert.That(g, Is.EqualTo(54440).Within(0.002 * 54440 + 100), "G sum vs Pillow");
        Assert.That(b, Is.EqualTo(73861).Within(0.002 * 73861 + 100), "B sum vs Pillow");
    }

    [Test]
    public void ProgressiveJpegDecodes()
    {
        var px = Pre.Decode(TestData.Require("images/app13-multiple.jpg"), ColorMode.Rgb);
        Assert.That((px.Width, px.Height, px.Channels), Is.EqualTo((256, 160, 3)));
    }

    /// <summary>Many threads on one instance give the same tensors as one thread.</summary>
    [Test]
    public void ConcurrentLoadsAgreeWithSequentialOnes()
    {
        var paths = new[] { "images/hopper.png", "images/kitten.jpg", "images/transparent.png", "images/hopper_gray.jpg", "images/mnist/5.png" }
            .Select(TestData.Require).ToArray();
        var expected = paths.Select(p => Pre.Load(p, Preprocessing.ImageNet).AsSpan<float>().ToArray()).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 40, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            int k = i % paths.Length;
            var t = Pre.Load(paths[k], Preprocessing.ImageNet).AsSpan<float>();
            if (!t.SequenceEqual(expected[k])) failures.Add($"iteration {i}: {paths[k]}");
        });
        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void PixelsToStringAndIndexing()
    {
        var px = new ImagePixels(2, 1, 3, new byte[] { 1, 2, 3, 4, 5, 6 });
        Assert.That(px.ToString(), Is.EqualTo("RGB 2×1"));
        Assert.That(px[0, 1, 2], Is.EqualTo(6));
        Assert.Throws<ArgumentException>(() => _ = new ImagePixels(2, 1, 3, new byte[5]));
        Assert.Throws<ArgumentException>(() => _ = new ImagePixels(2, 1, 2, new byte[4]));
    }
}
