using System.Text;
using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Loader;

/// <summary>
/// Unpickling never executes Python: any global outside the allow-list is refused by name. The hostile
/// fixtures would run <c>touch /tmp/vgg_loader_pwned_marker</c>; the marker must never appear.
/// </summary>
[NonParallelizable]
public class UnsafePickleTests
{
    private const string Marker = "/tmp/vgg_loader_pwned_marker";

    [SetUp]
    public void RemoveMarker()
    {
        if (File.Exists(Marker)) File.Delete(Marker);
    }

    [TestCase("evil_os_system.pt", "os.system")]
    [TestCase("evil_builtins_eval.pt", "builtins.eval")]
    [TestCase("evil_posix_system_stack_global.pt", "posix.system")]
    [TestCase("evil_hidden_in_metadata.pt", "os.system")]
    [TestCase("whole_module_zip.pt", "__main__.TinyNet")]
    [TestCase("whole_module_legacy.pt", "__main__.TinyNet")]
    public void RefusesTheGlobalByName(string file, string global)
    {
        var path = TestData.Fixture("loader/" + file);
        var e = Assert.Throws<UnsafePickleException>(() => WeightsFile.Read(path))!;
        Assert.That(e.GlobalName, Is.EqualTo(global));
        Assert.That(e.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain(path).And.Contain($"'{global}'").And.Contain("not executed"));
        Assert.That(File.Exists(Marker), Is.False, "the pickle's command ran");
    }

    [TestCase("subprocess", "Popen")]
    [TestCase("builtins", "getattr")]
    [TestCase("builtins", "__import__")]
    [TestCase("torch", "load")]
    [TestCase("torch.storage", "_load_from_bytes")]
    [TestCase("numpy.core.multiarray", "_reconstruct")]
    [TestCase("torch", "EvilStorage")]
    public void RefusesOtherGlobalsInAZip(string module, string name)
    {
        // {'x': module.name('a')} as data.pkl of a torch-style zip.
        var pkl = new List<byte> { 0x80, 2, (byte)'}', (byte)'X', 1, 0, 0, 0, (byte)'x', (byte)'c' };
        pkl.AddRange(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
        pkl.AddRange(new byte[] { (byte)'X', 1, 0, 0, 0, (byte)'a', 0x85, (byte)'R', (byte)'s', (byte)'.' });
        using var dir = new LoaderAssert.TempDir();
        var path = dir.File("g.pt", LoaderAssert.TorchZip("archive", pkl.ToArray()));
        var e = Assert.Throws<UnsafePickleException>(() => WeightsFile.Read(path))!;
        Assert.That(e.GlobalName, Is.EqualTo($"{module}.{name}"));
    }

    [Test]
    public void AllowedGlobalThatIsNotCallableIsRefused()
    {
        // torch.FloatStorage('x'): the class is allowed as a storage type, calling it is not.
        var pkl = new List<byte> { 0x80, 2, (byte)'}', (byte)'X', 1, 0, 0, 0, (byte)'x', (byte)'c' };
        pkl.AddRange(Encoding.ASCII.GetBytes("torch\nFloatStorage\n"));
        pkl.AddRange(new byte[] { (byte)'X', 1, 0, 0, 0, (byte)'a', 0x85, (byte)'R', (byte)'s', (byte)'.' });
        using var dir = new LoaderAssert.TempDir();
        var path = dir.File("c.pt", LoaderAssert.TorchZip("archive", pkl.ToArray()));
        var e = Assert.Throws<ModelFormatException>(() => WeightsFile.Read(path))!;
        Assert.That(e.Message, Does.Contain("torch.FloatStorage").And.Contain("not callable"));
    }
}
