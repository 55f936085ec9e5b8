using Vgg.Engine.Loader.Imaging;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Imaging;

/// <summary>
/// EXIF orientation: off by default (torchvision's PIL path ignores it), and when on it matches PIL's
/// ImageOps.exif_transpose. All eight orientations are also checked bit-exactly against PIL in
/// PilParityTests (exif/orient_N.png) and within JPEG tolerance (exif/orient_N.jpg).
/// </summary>
[TestFixture]
public class ExifOrientationTests
{
    private static readonly ImagePreprocessor Pre = ImagePreprocessor.Default;

    [Test]
    public void OffByDefault()
    {
        Assert.That(new Preprocessing().ApplyExifOrientation, Is.False);
        Assert.That(Preprocessing.ImageNet.ApplyExifOrientation, Is.False);
        Assert.That(Preprocessing.TinyVgg.ApplyExifOrientation, Is.False);
        Assert.That(Preprocessing.Mnist.ApplyExifOrientation, Is.False);
    }

    /// <summary>
    /// hopper_orientation_6.jpg stores the portrait rotated and says so in EXIF. Applied, it looks like hopper.jpg
    /// (a separate JPEG encoding of the same picture: PIL itself gives mean |Δ| 4.65 between the two); ignored,
    /// it does not (PIL: mean |Δ| 74.9).
    /// </summary>
    [Test]
    public void Orientation6LooksLikeHopperWhenApplied()
    {
        var rotated = TestData.Require("images/hopper_orientation_6.jpg");
        var upright = Pre.Decode(TestData.Require("images/hopper.jpg"), ColorMode.Rgb);
        var applied = Pre.Decode(rotated, ColorMode.Rgb, applyExifOrientation: true);
        var ignored = Pre.Decode(rotated, ColorMode.Rgb);
        double on = MeanAbsDiff(applied, upright), off = MeanAbsDiff(ignored, upright);
        TestContext.Out.WriteLine($"mean |Δ| to hopper.jpg: EXIF applied {on:F3}, ignored {off:F3}");
        Assert.That(on, Is.LessThan(6.0), "applied: looks like hopper.jpg");
        Assert.That(off, Is.GreaterThan(40.0), "ignored: the stored (rotated) pixels");
        // Ignoring it keeps the stored pixels: rotating those 90° clockwise by hand gives the applied image.
        for (int y = 0; y < 128; y++)
            for (int x = 0; x < 128; x++)
                for (int c = 0; c < 3; c++)
                    if (applied[y, x, c] != ignored[127 - x, y, c])
                        Assert.Fail($"applied[{y},{x},{c}] = {applied[y, x, c]} but stored[{127 - x},{y},{c}] = {ignored[127 - x, y, c]}");
    }

    [Test]
    public void OrientationAppliesBeforeResizeAndCrop()
    {
        var path = TestData.Fixture("imaging/orient_6.png"); // 12×8 stored, 8×12 shown
        var p = new Preprocessing { Resize = ResizeMode.None, CropHeight = 0, CropWidth = 0, Mean = null, Std = null };
        Assert.That(Pre.Load(path, p).Shape, Is.EqualTo(new[] { 1, 3, 8, 12 }));
        Assert.That(Pre.Load(path, p with { ApplyExifOrientation = true }).Shape, Is.EqualTo(new[] { 1, 3, 12, 8 }));
    }

    /// <summary>Hand-worked: a 3 × 2 image (x across, y down) under each orientation, as PIL's transposes define them.</summary>
    [TestCase(1, 3, 2, new byte[] { 1, 2, 3, 4, 5, 6 })]
    [TestCase(2, 3, 2, new byte[] { 3, 2, 1, 6, 5, 4 })] // FLIP_LEFT_RIGHT
    [TestCase(3, 3, 2, new byte[] { 6, 5, 4, 3, 2, 1 })] // ROTATE_180
    [TestCase(4, 3, 2, new byte[] { 4, 5, 6, 1, 2, 3 })] // FLIP_TOP_BOTTOM
    [TestCase(5, 2, 3, new byte[] { 1, 4, 2, 5, 3, 6 })] // TRANSPOSE
    [TestCase(6, 2, 3, new byte[] { 4, 1, 5, 2, 6, 3 })] // ROTATE_270 = 90° clockwise
    [TestCase(7, 2, 3, new byte[] { 6, 3, 5, 2, 4, 1 })] // TRANSVERSE
    [TestCase(8, 2, 3, new byte[] { 3, 6, 2, 5, 1, 4 })] // ROTATE_90 = 90° counter-clockwise
    public void TransformsOfASmallImage(int orientation, int outW, int outH, byte[] expected)
    {
        // 1 2 3
        // 4 5 6
        var src = new byte[] { 1, 2, 3, 4, 5, 6 };
        var dst = new byte[6];
        ExifOrientation.Apply(src, 3, 2, 1, orientation, dst);
        Assert.That(ExifOrientation.SwapsAxes(orientation) ? (2, 3) : (3, 2), Is.EqualTo((outW, outH)));
        Assert.That(dst, Is.EqualTo(expected), $"orientation {orientation}: {string.Join(",", dst)}");
    }

    private static double MeanAbsDiff(ImagePixels a, ImagePixels b)
    {
        Assert.That((a.Width, a.Height, a.Channels), Is.EqualTo((b.Width, b.Height, b.Channels)));
        long s = 0;
        for (int i = 0; i < a.Data.Length; i++) s += Math.Abs(a.Data[i] - b.Data[i]);
        return (double)s / a.Data.Length;
    }
}
