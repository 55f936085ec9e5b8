using Vgg.Engine.Loader.Imaging;
using Vgg.Engine.Models;

namespace Vgg.Engine.Tests.Imaging;

/// <summary>Resize and CenterCrop arithmetic against values printed by torchvision 0.14 (see each case).</summary>
[TestFixture]
public class TorchvisionGeometryTests
{
    /// <summary>Expected = torchvision.transforms.functional._compute_resized_output_size((h, w), [size]).</summary>
    [TestCase(150, 200, 256, 256, 341)]
    [TestCase(480, 640, 256, 256, 341)]
    [TestCase(546, 500, 256, 279, 256)]
    [TestCase(720, 720, 256, 256, 256)]
    [TestCase(168, 224, 256, 256, 341)]
    [TestCase(1, 60000, 256, 256, 15360000)]
    [TestCase(3, 7, 5, 5, 11)]
    [TestCase(7, 3, 5, 11, 5)]
    [TestCase(999, 1000, 224, 224, 224)]
    [TestCase(1000, 999, 224, 224, 224)]
    [TestCase(29, 41, 17, 17, 24)]
    [TestCase(100, 33, 256, 775, 256)]
    [TestCase(5, 6, 1, 1, 1)]
    public void ShorterSideResize(int h, int w, int size, int eh, int ew)
    {
        var p = new Preprocessing { Resize = ResizeMode.ShorterSide, ResizeHeight = size };
        Assert.That(TorchvisionGeometry.ResizedSize(h, w, p), Is.EqualTo((eh, ew)));
    }

    [Test]
    public void ExactAndNoResize()
    {
        Assert.That(TorchvisionGeometry.ResizedSize(480, 640, Preprocessing.TinyVgg), Is.EqualTo((64, 64)));
        Assert.That(TorchvisionGeometry.ResizedSize(480, 640, new Preprocessing { Resize = ResizeMode.Exact, ResizeHeight = 30, ResizeWidth = 70 }), Is.EqualTo((30, 70)));
        Assert.That(TorchvisionGeometry.ResizedSize(480, 640, new Preprocessing { Resize = ResizeMode.None }), Is.EqualTo((480, 640)));
    }

    /// <summary>Origin of the crop in source coordinates (negative = zero padding), read off torchvision's CenterCrop output.</summary>
    [TestCase(256, 341, 224, 224, 16, 58)]  // round(58.5) = 58: half to even
    [TestCase(256, 343, 224, 224, 16, 60)]  // round(59.5) = 60
    [TestCase(150, 200, 161, 213, -5, -6)]  // padded: 5 above, 6 below; 6 left, 7 right
    [TestCase(29, 41, 34, 8, -2, 16)]
    [TestCase(29, 41, 20, 50, 4, -4)]
    [TestCase(10, 10, 3, 3, 4, 4)]          // round(3.5) = 4
    [TestCase(11, 11, 4, 4, 4, 4)]          // round(3.5) = 4
    [TestCase(11, 11, 5, 5, 3, 3)]
    public void CenterCropOrigin(int h, int w, int ch, int cw, int top, int left) =>
        Assert.That(TorchvisionGeometry.CenterCropOrigin(h, w, ch, cw), Is.EqualTo((top, left)));
}
