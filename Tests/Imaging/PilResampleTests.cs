using Vgg.Engine.Loader.Imaging;

namespace Vgg.Engine.Tests.Imaging;

/// <summary>
/// Properties of the resampler that hold for Pillow's algorithm; its exact agreement with Pillow is checked in
/// PilParityTests (resize/* cases on seeded noise at 40 target sizes, and the real images).
/// </summary>
[TestFixture]
public class PilResampleTests
{
    /// <summary>Weights of every output sum to 1.0 in 22-bit fixed point, within the rounding of each tap.</summary>
    [TestCase(720, 256)]
    [TestCase(128, 256)]
    [TestCase(41, 13)]
    [TestCase(7, 300)]
    [TestCase(100000, 3)]
    [TestCase(1, 1)]
    public void WeightsAreNormalized(int inSize, int outSize)
    {
        var c = PilResample.Precompute(inSize, outSize);
        for (int i = 0; i < outSize; i++)
        {
            long sum = 0;
            for (int t = 0; t < c.Count[i]; t++) sum += c.Weights[c.Offset[i] + t];
            Assert.That(Math.Abs(sum - (1 << 22)), Is.LessThanOrEqualTo(c.Count[i]), $"output {i}: Σ weights {sum} over {c.Count[i]} taps");
            Assert.That(c.Start[i], Is.GreaterThanOrEqualTo(0));
            Assert.That(c.Start[i] + c.Count[i], Is.LessThanOrEqualTo(inSize));
        }
    }

    /// <summary>A flat image stays flat at any size (seeded sizes and grey level).</summary>
    [Test]
    public void FlatImageStaysFlat()
    {
        const int seed = 77;
        var rng = new Random(seed);
        for (int trial = 0; trial < 30; trial++)
        {
            int w = rng.Next(1, 60), h = rng.Next(1, 60), ow = rng.Next(1, 90), oh = rng.Next(1, 90), ch = rng.Next(2) == 0 ? 1 : 3;
            byte v = (byte)rng.Next(256);
            var src = Enumerable.Repeat(v, w * h * ch).ToArray();
            var dst = new byte[ow * oh * ch];
            PilResample.Resize(src, w, h, ch, dst, ow, oh);
            int bad = Array.FindIndex(dst, b => b != v);
            Assert.That(bad, Is.EqualTo(-1), $"seed {seed} trial {trial}: {w}×{h}×{ch} → {ow}×{oh}, value {v}: output[{bad}] differs");
        }
    }

    /// <summary>Same size on both axes is a copy (Pillow skips both passes).</summary>
    [Test]
    public void SameSizeIsACopy()
    {
        var src = new byte[5 * 4 * 3];
        new Random(3).NextBytes(src);
        var dst = new byte[src.Length];
        PilResample.Resize(src, 5, 4, 3, dst, 5, 4);
        Assert.That(dst, Is.EqualTo(src));
    }
}
