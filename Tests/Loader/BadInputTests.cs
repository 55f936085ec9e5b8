using System.IO.Compression;
using System.Text;
using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Loader;

/// <summary>
/// Bad inputs give a <see cref="ModelFormatException"/> that names the file (and the key where one is
/// involved) and says what was expected; nothing else escapes, nothing is half-loaded.
/// </summary>
public class BadInputTests
{
    private static ModelFormatException ReadFails(string path)
    {
        var e = Assert.Throws(Is.InstanceOf<ModelFormatException>(), () => WeightsFile.Read(path)) as ModelFormatException;
        Assert.That(e, Is.Not.Null);
        Assert.That(e!.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.StartWith(path));
        return e;
    }

    [TestCase("dtypes_zip.pt")]
    [TestCase("wrap_model.pt")]
    public void TruncatedZipSaysTruncated(string fixture)
    {
        var bytes = File.ReadAllBytes(TestData.Fixture("loader/" + fixture));
        using var dir = new LoaderAssert.TempDir();
        foreach (double frac in new[] { 0.1, 0.5, 0.9 })
        {
            var path = dir.File($"cut{frac}.pt", bytes[..(int)(bytes.Length * frac)]);
            var e = ReadFails(path);
            Assert.That(e.Message, Does.Contain("truncated"), $"cut at {frac}: {e.Message}");
        }
        ReadFails(dir.File("cut-1.pt", bytes[..^1]));
    }

    [Test]
    public void TruncatedRealCheckpointSaysTruncated()
    {
        var bytes = File.ReadAllBytes(TestData.Require("checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth"));
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("tinyvgg.pth", bytes[..(bytes.Length * 2 / 3)]));
        Assert.That(e.Message, Does.Contain("truncated"));
    }

    [Test]
    public void HtmlPageSavedAsPth()
    {
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("vgg16.pth", Encoding.UTF8.GetBytes("\n<!DOCTYPE html>\n<html lang=\"en\"><head><title>Sign in</title></head><body>...</body></html>\n")));
        Assert.That(e.Message, Does.Contain("HTML page"));
        var e2 = ReadFails(dir.File("b.pth", Encoding.UTF8.GetBytes("<html><body>404</body></html>")));
        Assert.That(e2.Message, Does.Contain("HTML page"));
    }

    [Test]
    public void GitLfsPointer()
    {
        using var dir = new LoaderAssert.TempDir();
        var text = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 553433881\n";
        var e = ReadFails(dir.File("vgg16.pth", Encoding.ASCII.GetBytes(text)));
        Assert.That(e.Message, Does.Contain("this is a Git LFS pointer").And.Contain("git lfs pull").And.Contain("553433881"));
    }

    [Test]
    public void EmptyFile()
    {
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("empty.pth", Array.Empty<byte>()));
        Assert.That(e.Message, Does.Contain("empty"));
    }

    [Test]
    public void RandomBytes()
    {
        var rng = new Random(12345);
        var bytes = new byte[4096];
        rng.NextBytes(bytes);
        bytes[0] = 0x17; // seeded data; pin the first byte so it is none of the magic numbers
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("random.pt", bytes));
        Assert.That(e.Message, Does.Contain("unrecognised content"));
    }

    [Test]
    public void ShortStorageNamesTheKey()
    {
        var e = ReadFails(TestData.Fixture("loader/short_storage.pt"));
        Assert.That(e.Key, Is.EqualTo("w"));
        Assert.That(e.Message, Does.Contain("too short").And.Contain("size [4, 4]").And.Contain("36 bytes"));
    }

    [Test]
    public void HugeNumelIsRefusedWithoutAllocating()
    {
        var path = TestData.Fixture("loader/huge_numel.pt");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = ReadFails(path);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(e.Message, Does.Contain("holds 36 bytes").And.Contain("1099511627776 elements"));
        Assert.That(allocated, Is.LessThan(16L << 20), "bytes allocated while refusing a 4 TiB storage claim");
    }

    [Test]
    public void UnsupportedStorageDtypeNamesKeyAndType()
    {
        var e = ReadFails(TestData.Fixture("loader/complex_storage.pt"));
        Assert.That(e.Key, Is.EqualTo("c"));
        Assert.That(e.Message, Does.Contain("torch.ComplexFloatStorage is not supported").And.Contain("Float, Half, BFloat16"));
    }

    [TestCase("lying_safetensors.safetensors", "w", "run past")]
    [TestCase("overlap_safetensors.safetensors", "b", "overlap")]
    public void SafetensorsHeaderThatLies(string file, string key, string text)
    {
        var e = ReadFails(TestData.Fixture("loader/" + file));
        Assert.That(e.Key, Is.EqualTo(key));
        Assert.That(e.Message, Does.Contain(text));
    }

    [Test]
    public void TruncatedSafetensors()
    {
        var bytes = File.ReadAllBytes(TestData.Require("checkpoints/pt-format/multi_layer.safetensors"));
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("cut.safetensors", bytes[..^100]));
        Assert.That(e.Message, Does.Contain("truncated"));
    }

    [TestCase("dtypes_legacy.pt")]
    [TestCase("tar_format.pt")]
    [TestCase("legacy_storage_view.pt")]
    public void TruncatedLegacyAndTar(string fixture)
    {
        var bytes = File.ReadAllBytes(TestData.Fixture("loader/" + fixture));
        using var dir = new LoaderAssert.TempDir();
        // A tar ends in zero padding that holds nothing: cut inside the part that has data.
        int dataEnd = Array.FindLastIndex(bytes, b => b != 0);
        var cuts = new[] { dataEnd / 8, dataEnd / 4, dataEnd / 2, dataEnd };
        foreach (int cut in cuts)
            ReadFails(dir.File($"cut{cut}.pt", bytes[..cut]));
    }

    [Test]
    public void ZipEntryOutsideTheArchive()
    {
        var good = File.ReadAllBytes(TestData.Fixture("loader/transposed_zip.pt"));
        using var ms = new MemoryStream();
        ms.Write(good);
        using (var z = new ZipArchive(ms, ZipArchiveMode.Update, leaveOpen: true))
        {
            using var s = z.CreateEntry("../../etc/evil").Open();
            s.Write("x"u8);
        }
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("escape.pt", ms.ToArray()));
        Assert.That(e.Message, Does.Contain("outside the archive"));
        Assert.That(e.Key, Is.EqualTo("../../etc/evil"));
    }

    [Test]
    public void TorchScriptArchiveIsNamed()
    {
        using var dir = new LoaderAssert.TempDir();
        var path = dir.File("scripted.pt", LoaderAssert.TorchZip("model", new byte[] { 0x80, 2, (byte)'}', (byte)'.' }, ("model/constants.pkl", new byte[] { 0x80, 2, (byte)')', (byte)'.' })));
        var e = ReadFails(path);
        Assert.That(e.Message, Does.Contain("TorchScript"));
    }

    [Test]
    public void MissingStorageEntryNamesIt()
    {
        // The pickle of transposed_zip.pt with its data/0 entry left out.
        using var src = ZipFile.OpenRead(TestData.Fixture("loader/transposed_zip.pt"));
        var pklEntry = src.Entries.Single(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
        using var ms = new MemoryStream();
        using (var s = pklEntry.Open()) s.CopyTo(ms);
        using var dir = new LoaderAssert.TempDir();
        var path = dir.File("nodata.pt", LoaderAssert.TorchZip("archive", ms.ToArray()));
        var e = ReadFails(path);
        Assert.That(e.Key, Is.EqualTo("archive/data/0"));
        Assert.That(e.Message, Does.Contain("no entry"));
    }

    [Test]
    public void NoTensorsAtAll()
    {
        using var dir = new LoaderAssert.TempDir();
        // {'epoch': 3}
        var path = dir.File("meta.pt", LoaderAssert.TorchZip("archive", [0x80, 2, (byte)'}', (byte)'X', 5, 0, 0, 0, .. "epoch"u8, (byte)'K', 3, (byte)'s', (byte)'.']));
        var e = ReadFails(path);
        Assert.That(e.Message, Does.Contain("no tensors found").And.Contain("epoch (int)"));
    }

    [Test]
    public void DeeplyNestedDictsFailCleanly()
    {
        // {'a': {'a': ... 200000 levels ... {}}}: no recursion on the pickle, a nesting limit when flattening.
        const int depth = 200_000;
        var pkl = new List<byte> { 0x80, 2 };
        for (int i = 0; i < depth; i++) pkl.AddRange(new byte[] { (byte)'}', (byte)'X', 1, 0, 0, 0, (byte)'a' });
        pkl.Add((byte)'}');
        for (int i = 0; i < depth; i++) pkl.Add((byte)'s');
        pkl.Add((byte)'.');
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("deep.pt", LoaderAssert.TorchZip("archive", pkl.ToArray())));
        Assert.That(e.Message, Does.Contain("no tensors found").Or.Contain("nested"));
    }

    [TestCase(new byte[] { 0x80, 2, (byte)'s', (byte)'.' }, "stack underflow")]
    [TestCase(new byte[] { 0x80, 2, (byte)'}', 0xFF, (byte)'.' }, "unknown opcode")]
    [TestCase(new byte[] { 0x80, 2, (byte)'}', (byte)'X', 0xFF, 0xFF, 0, 0 }, "ends early")]
    [TestCase(new byte[] { 0x80, 2, (byte)'h', 9, (byte)'.' }, "memo key 9")]
    [TestCase(new byte[] { 0x80, 9, (byte)'}', (byte)'.' }, "protocol 9")]
    [TestCase(new byte[] { 0x80, 2, (byte)'}', (byte)'}', (byte)'R', (byte)'.' }, "REDUCE arguments")]
    public void MalformedPickleSaysWhere(byte[] pkl, string text)
    {
        using var dir = new LoaderAssert.TempDir();
        var e = ReadFails(dir.File("bad.pt", LoaderAssert.TorchZip("archive", pkl)));
        Assert.That(e.Key, Is.EqualTo("archive/data.pkl"));
        Assert.That(e.Message, Does.Contain("malformed pickle at byte").And.Contain(text));
    }

    /// <summary>
    /// Seeded mutations (byte flips, truncations) of every fixture: reading either succeeds or throws a
    /// ModelFormatException; no other exception type, no hang, no crash.
    /// </summary>
    [Test]
    public void MutatedFilesOnlyEverGiveModelFormatException()
    {
        const int seed = 424242;
        var rng = new Random(seed);
        var fixtures = Directory.GetFiles(TestData.Fixture("loader"))
            .Where(f => f.EndsWith(".pt", StringComparison.Ordinal) || f.EndsWith(".safetensors", StringComparison.Ordinal))
            .OrderBy(f => f, StringComparer.Ordinal).ToArray();
        using var dir = new LoaderAssert.TempDir();
        int ok = 0, refused = 0;
        foreach (var f in fixtures)
        {
            var orig = File.ReadAllBytes(f);
            for (int trial = 0; trial < 40; trial++)
            {
                var b = (byte[])orig.Clone();
                int flips = 1 + rng.Next(4);
                for (int k = 0; k < flips; k++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                if (rng.Next(4) == 0) b = b[..rng.Next(1, b.Length)];
                var path = dir.File("m.pt", b);
                try
                {
                    WeightsFile.Read(path);
                    ok++;
                }
                catch (ModelFormatException e)
                {
                    Assert.That(e.Message, Does.StartWith(path), $"seed {seed}, {Path.GetFileName(f)} trial {trial}");
                    refused++;
                }
                catch (Exception e)
                {
                    Assert.Fail($"seed {seed}, {Path.GetFileName(f)} trial {trial}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                }
            }
        }
        TestContext.Out.WriteLine($"seed {seed}: {ok} mutated files still loaded, {refused} refused with ModelFormatException");
        Assert.That(refused, Is.GreaterThan(0));
    }
}
