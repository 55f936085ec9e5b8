using Vgg.Engine.Loader.Imaging;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Imaging;

/// <summary>Bad input: refused formats, empty, garbage, truncated and oversized images give an ImageDecodeException naming the source.</summary>
[TestFixture]
public class DecodeErrorTests
{
    private static readonly ImagePreprocessor Pre = ImagePreprocessor.Default;
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "vgg-imaging-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Write(string name, byte[] data)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllBytes(p, data);
        return p;
    }

    private static ImageDecodeException Refused(string path, params string[] mustContain)
    {
        var e = Assert.Throws<ImageDecodeException>(() => Pre.Load(path, Preprocessing.ImageNet))!;
        Assert.That(e.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.StartWith(path + ": "), "the message names the file first");
        foreach (var s in mustContain)
            Assert.That(e.Message, Does.Contain(s).IgnoreCase, $"message: {e.Message}");
        TestContext.Out.WriteLine(e.Message);
        return e;
    }

    /// <summary>Real GIF, BMP, WebP and TIFF files written by Pillow: only JPEG and PNG decoders are registered.</summary>
    [TestCase("refuse.gif", "GIF")]
    [TestCase("refuse.bmp", "BMP")]
    [TestCase("refuse.webp", "WebP")]
    [TestCase("refuse.tiff", "TIFF")]
    public void OtherFormatsAreRefusedByName(string file, string format)
    {
        var path = TestData.Fixture("imaging/" + file);
        Refused(path, "not a JPEG or PNG", format);
    }

    [Test]
    public void EmptyFileIsRefused() => Refused(Write("empty.jpg", Array.Empty<byte>()), "empty");

    [Test]
    public void GarbageIsRefused()
    {
        const int seed = 1234;
        TestContext.Out.WriteLine($"seed {seed}");
        var data = new byte[4096];
        new Random(seed).NextBytes(data);
        data[0] = 0x42; // not FF or 89, so no signature matches by chance
        Refused(Write("garbage.jpg", data), "not a JPEG or PNG", "unrecognized data");
    }

    [Test]
    public void HtmlSavedAsJpegIsRefused() =>
        Refused(Write("page.jpg", "<!DOCTYPE html><html><body>404</body></html>"u8.ToArray()), "HTML");

    [Test]
    public void MissingFileIsRefused() => Refused(Path.Combine(_dir, "nope.png"), "not found");

    /// <summary>ImageSharp 2.1 would decode these silently (missing data as grey); PIL raises "image file is truncated".</summary>
    [TestCase("images/hopper.jpg")]
    [TestCase("images/app13-multiple.jpg")] // progressive
    [TestCase("images/kitten.jpg")]
    public void TruncatedJpegIsRefused(string rel)
    {
        var full = File.ReadAllBytes(TestData.Require(rel));
        Assert.DoesNotThrow(() => Pre.Load(full, Preprocessing.ImageNet, rel), "the complete file decodes");
        foreach (int keep in new[] { full.Length - 2, full.Length - 1, full.Length - 500, full.Length / 2, 600, 20, 3 })
        {
            var cut = full.AsMemory(0, keep);
            var e = Assert.Throws<ImageDecodeException>(() => Pre.Load(cut, Preprocessing.ImageNet, $"{rel}[..{keep}]"), $"kept {keep} of {full.Length} bytes")!;
            Assert.That(e.Message, Does.Contain("truncated JPEG"), $"kept {keep}: {e.Message}");
            Assert.That(e.Message, Does.StartWith($"{rel}[..{keep}]: "));
        }
    }

    [TestCase("images/hopper.png")]
    [TestCase("images/transparent.png")]
    public void TruncatedPngIsRefused(string rel)
    {
        var full = File.ReadAllBytes(TestData.Require(rel));
        foreach (int keep in new[] { full.Length - 12, full.Length - 1, full.Length - 100, full.Length / 2, 40, 9 })
        {
            var e = Assert.Throws<ImageDecodeException>(() => Pre.Load(full.AsMemory(0, keep), Preprocessing.ImageNet, rel), $"kept {keep} of {full.Length} bytes")!;
            Assert.That(e.Message, Does.Contain("truncated PNG"), $"kept {keep}: {e.Message}");
        }
    }

    /// <summary>A flipped bit inside the image data: ImageSharp's chunk CRC check catches it; the error is ours, with the cause inside.</summary>
    [Test]
    public void CorruptPngDataIsRefused()
    {
        var data = File.ReadAllBytes(TestData.Require("images/hopper.png"));
        int idat = IndexOf(data, "IDAT"u8);
        data[idat + 100] ^= 0x10;
        var e = Assert.Throws<ImageDecodeException>(() => Pre.Load(data, Preprocessing.ImageNet, "hopper-corrupt.png"))!;
        Assert.That(e.Message, Does.StartWith("hopper-corrupt.png: PNG is corrupt").And.Contain("CRC"), e.Message);
        Assert.That(e.InnerException, Is.Not.Null);
    }

    /// <summary>JPEG processes ImageSharp 2.1 does not decode (PIL's libjpeg-turbo build refuses lossless too).</summary>
    [TestCase((byte)0xC3, "lossless")]
    [TestCase((byte)0xC9, "arithmetic")]
    public void UnsupportedJpegProcessIsRefused(byte sof, string what)
    {
        var d = File.ReadAllBytes(TestData.Require("images/hopper.jpg"));
        int pos = 2;
        while (!(d[pos] == 0xFF && d[pos + 1] == 0xC0)) pos += 2 + (d[pos + 2] << 8 | d[pos + 3]);
        d[pos + 1] = sof; // baseline SOF0 relabelled
        var e = Assert.Throws<ImageDecodeException>(() => Pre.Load(d, Preprocessing.ImageNet, "sof.jpg"))!;
        Assert.That(e.Message, Does.StartWith("sof.jpg: JPEG uses a feature the decoder does not support").And.Contain(what), e.Message);
    }

    private static int IndexOf(byte[] data, ReadOnlySpan<byte> what) => data.AsSpan().IndexOf(what);

    /// <summary>A few hundred bytes of PNG claiming 100,000 × 100,000 pixels: refused from the header, nothing allocated.</summary>
    [Test]
    public void PngDecompressionBombIsRefusedFromTheHeader()
    {
        var bomb = TestImages.BombPng(100_000, 100_000);
        Assert.That(bomb.Length, Is.LessThan(200));
        var e = Assert.Throws<ImageDecodeException>(() => Pre.Load(bomb, Preprocessing.ImageNet, "bomb.png"))!;
        Assert.That(e.Message, Is.EqualTo($"bomb.png: 100000×100000 = 10000000000 pixels exceeds the decode limit of {ImageDecodeOptions.DefaultMaxPixels} pixels (ImageDecodeOptions.MaxPixels); refused before decoding"));
    }

    [Test]
    public void JpegDecompressionBombIsRefusedFromTheHeader()
    {
        var jpeg = TestImages.JpegWithSize(File.ReadAllBytes(TestData.Require("images/hopper.jpg")), 60000, 60000);
        var e = Assert.Throws<ImageDecodeException>(() => Pre.Load(jpeg, Preprocessing.ImageNet, "bomb.jpg"))!;
        Assert.That(e.Message, Does.Contain("60000×60000 = 3600000000 pixels exceeds the decode limit"), e.Message);
    }

    /// <summary>The limit is configurable and inclusive: hopper.png has 128 × 128 = 16,384 pixels.</summary>
    [Test]
    public void PixelLimitIsConfigurableAndInclusive()
    {
        var path = TestData.Require("images/hopper.png");
        var atLimit = new ImagePreprocessor(new ImageDecodeOptions { MaxPixels = 128 * 128 });
        Assert.That(atLimit.Load(path, Preprocessing.TinyVgg).Shape, Is.EqualTo(new[] { 1, 3, 64, 64 }));
        var below = new ImagePreprocessor(new ImageDecodeOptions { MaxPixels = 128 * 128 - 1 });
        var e = Assert.Throws<ImageDecodeException>(() => below.Load(path, Preprocessing.TinyVgg))!;
        Assert.That(e.Message, Does.Contain("128×128 = 16384 pixels exceeds the decode limit of 16383"));
    }

    /// <summary>A 1 × 100 image is small, but Resize(256) would make it 256 × 25,600: the limit covers the resize too.</summary>
    [Test]
    public void ResizeThatWouldExceedTheLimitIsRefused()
    {
        var thin = TestImages.GrayPng(1, 100, seed: 5);
        var pre = new ImagePreprocessor(new ImageDecodeOptions { MaxPixels = 1_000_000 });
        var p = new Preprocessing { Resize = ResizeMode.ShorterSide, ResizeHeight = 256, CropHeight = 0, CropWidth = 0 };
        var e = Assert.Throws<ImageDecodeException>(() => pre.Load(thin, p, "thin.png"))!;
        Assert.That(e.Message, Does.Contain("resizing 1×100 to 256×25600 (Resize(256))"), e.Message);
        // A crop does not help: the resized image it is cut from still has 256 × 25,600 pixels.
        Assert.Throws<ImageDecodeException>(() => pre.Load(thin, p with { CropHeight = 224, CropWidth = 224 }, "thin.png"));
        // Under the default limit the same image is fine.
        Assert.That(Pre.Load(thin, p with { CropHeight = 224, CropWidth = 224 }, "thin.png").Shape, Is.EqualTo(new[] { 1, 3, 224, 224 }));
    }

    [Test]
    public void EncodedSizeLimitAppliesToFilesBytesAndStreams()
    {
        var path = TestData.Require("images/hopper.png"); // 30,605 bytes
        var pre = new ImagePreprocessor(new ImageDecodeOptions { MaxEncodedBytes = 30_000 });
        Assert.That(Assert.Throws<ImageDecodeException>(() => pre.Load(path, Preprocessing.ImageNet))!.Message, Does.Contain("30605 bytes exceeds the limit of 30000"));
        var data = File.ReadAllBytes(path);
        Assert.Throws<ImageDecodeException>(() => pre.Load(data, Preprocessing.ImageNet, "upload"));
        var e = Assert.Throws<ImageDecodeException>(() => pre.Load(new TestImages.ForwardOnlyStream(data), Preprocessing.ImageNet, "upload"))!;
        Assert.That(e.Message, Is.EqualTo("upload: the stream holds more than the limit of 30000 encoded bytes (ImageDecodeOptions.MaxEncodedBytes)"));
        var exact = new ImagePreprocessor(new ImageDecodeOptions { MaxEncodedBytes = data.Length });
        Assert.DoesNotThrow(() => exact.Load(new TestImages.ForwardOnlyStream(data), Preprocessing.ImageNet, "upload"));
    }

    [Test]
    public void StreamErrorsNameTheSource()
    {
        var e = Assert.Throws<ImageDecodeException>(() => Pre.Load(new TestImages.ForwardOnlyStream("GIF89a........"u8.ToArray()), Preprocessing.ImageNet, "request-17"))!;
        Assert.That(e.Message, Does.StartWith("request-17: not a JPEG or PNG image: found a GIF image"));
        Assert.That(e.FilePath, Is.EqualTo("request-17"));
    }

    [Test]
    public void InvalidSettingsAreArgumentErrors()
    {
        var path = TestData.Require("images/hopper.png");
        Assert.Throws<ArgumentException>(() => Pre.Load(path, Preprocessing.ImageNet with { Std = null }));
        Assert.Throws<ArgumentException>(() => Pre.Load(path, Preprocessing.ImageNet with { Mean = new[] { 0.5f, 0.5f } }));
        Assert.Throws<ArgumentException>(() => Pre.Load(path, Preprocessing.ImageNet with { Std = new[] { 1f, 0f, 1f } }));
        Assert.Throws<ArgumentException>(() => Pre.Load(path, Preprocessing.ImageNet with { CropHeight = 0 }));
        Assert.Throws<ArgumentException>(() => Pre.Load(path, Preprocessing.ImageNet with { ResizeHeight = 0 }));
        Assert.Throws<ArgumentException>(() => Pre.Load(path, Preprocessing.Mnist with { Mean = new[] { 0.1f, 0.1f, 0.1f } }));
    }
}
