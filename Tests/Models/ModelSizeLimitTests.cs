using Vgg.Engine.Models;

namespace Vgg.Engine.Tests.Models;

/// <summary>
/// Layer sizes in a spec (or a class count) that would overflow shape arithmetic or need a parameter larger than one
/// tensor buffer are <see cref="ModelFormatException"/>s naming the layer or parameter key and the size, raised while
/// the spec is checked, before any weight is allocated. Specs from /tmp/fresh-bad (FRESH_REPORT B3), in memory.
/// </summary>
public class ModelSizeLimitTests
{
    private static ModelFormatException SpecFails(string json)
    {
        var e = Assert.Throws<ModelFormatException>(() => ModelSpec.Parse(json, "big.json"))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.FilePath, Is.EqualTo("big.json"));
        return e;
    }

    [Test]
    public void AConvWithTwoBillionOutputChannelsNamesItsWeight()
    {
        // spec_huge.json: OverflowException in FlattenLayer.OutputShape before
        var e = SpecFails("""{"input":{"channels":1,"height":28,"width":28},"layers":[{"type":"conv","in":1,"out":2000000000,"kernel":3},{"type":"flatten"},{"type":"linear","in":5408,"out":10}]}""");
        Assert.That(e.Key, Is.EqualTo("conv_1.weight"));
        Assert.That(e.Message, Does.Contain("float32[2000000000, 1, 3, 3]").And.Contain("72,000,000,000 bytes").And.Contain("conv layer 'conv_1'"));
    }

    [Test]
    public void ALinearWeightLargerThanOneBufferNamesItsKeyAndSize()
    {
        // spec_big2.json: ArgumentException from WeightInit.Create before
        var e = SpecFails("""{"input":{"channels":1,"height":28,"width":28},"layers":[{"type":"conv","in":1,"out":100000,"kernel":3},{"type":"flatten"},{"type":"linear","in":67600000,"out":10}]}""");
        Assert.That(e.Key, Is.EqualTo("linear_1.weight"));
        Assert.That(e.Message, Does.Contain("float32[10, 67600000]").And.Contain("2,704,000,000 bytes").And.Contain("2.5 GiB").And.Contain("2,147,483,591"));
    }

    [Test]
    public void AnActivationOfMoreThanTwoToThe31ElementsNamesTheLayer()
    {
        // the weight [60000, 1, 3, 3] is small; its output [60000, 200, 200] per image is 2.4e9 elements
        var e = SpecFails("""{"input":{"channels":1,"height":202,"width":202},"layers":[{"name":"wide","type":"conv","in":1,"out":60000,"kernel":3},{"type":"flatten"}]}""");
        Assert.That(e.Key, Is.EqualTo("wide"));
        Assert.That(e.Message, Does.Contain("[60000, 200, 200]").And.Contain("2,400,000,000 elements per image"));
    }

    [Test]
    public void FlattenOfMoreThanTwoToThe31FeaturesIsAFormatError()
    {
        var e = Assert.Throws<ModelFormatException>(() => new FlattenLayer("flat").OutputShape(new[] { 65536, 65536, 2 }, "x.json"))!;
        Assert.That(e.Key, Is.EqualTo("flat"));
        Assert.That(e.Message, Does.Contain("8,589,934,592 features"));
        Assert.That(new FlattenLayer("flat").OutputShape(new[] { 512, 7, 7 }, null), Is.EqualTo(new[] { 25088 }));
    }

    [Test]
    public void HugePaddingDoesNotWrapAround()
    {
        // 28 + 2·1.5e9 wrapped to a negative int before ("smaller than the kernel"); the true output is 3e9 + 26 rows
        var e = SpecFails("""{"input":{"channels":1,"height":28,"width":28},"layers":[{"name":"c","type":"conv","in":1,"out":1,"kernel":3,"padding":1500000000}]}""");
        Assert.That(e.Key, Is.EqualTo("c"));
        Assert.That(e.Message, Does.Contain("output height 3000000026").And.Contain("2^31 − 1"));
        // PyTorch's pool padding rule (≤ kernel / 2) held with 2·padding wrapped negative before
        e = SpecFails("""{"input":{"channels":1,"height":28,"width":28},"layers":[{"name":"p","type":"maxpool","kernel":2000000000,"padding":1500000000}]}""");
        Assert.That(e.Key, Is.EqualTo("p"));
        Assert.That(e.Message, Does.Contain("at most half the kernel"));
    }

    [Test]
    public void AClassCountTooLargeForTheHeadNamesTheHeadWeight()
    {
        var net = ModelTestUtil.TinyVggStyle(bn: false, hidden: 1024);
        var e = Assert.Throws<ModelFormatException>(() => net.WithNumClasses(1_000_000))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.Key, Is.EqualTo("classifier.6.weight"));
        Assert.That(e.Message, Does.Contain("float32[1000000, 1024]").And.Contain("4,096,000,000 bytes"));
        // a head that fits is built as before
        Assert.That(net.WithNumClasses(1000).OutputShape, Is.EqualTo(new[] { 1000 }));
    }
}
