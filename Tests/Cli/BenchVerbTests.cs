using System.Text.Json;
using Vgg.Cli;
using Vgg.Engine.Tests.Common;
using static Vgg.Engine.Tests.Cli.CliRunner;

namespace Vgg.Engine.Tests.Cli;

/// <summary><c>vgg bench</c> is wired to the perf harness: its usage, its usage errors, and one tiny run that writes the JSON report. Nothing here asserts a time.</summary>
public class BenchVerbTests
{
    [Test]
    public void HelpPrintsTheHarnessUsage()
    {
        var r = Run("bench", "--help");
        Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
        Assert.That(r.Out, Does.StartWith("usage: vgg bench").And.Contain("--goal R"));
    }

    [Test]
    public void AnUnknownOptionIsAUsageError()
    {
        var r = Run("bench", "--spec", "x.json", "--bogus");
        Assert.That(r.Code, Is.EqualTo(ExitCodes.UsageError), r.ToString());
        Assert.That(r.Err, Does.Contain("unknown option '--bogus'"));
    }

    [Test]
    public void ATinyRunBesideOnnxRuntimeWritesTheJsonReport()
    {
        var json = Path.Combine(Path.GetTempPath(), $"vgg-bench-{Guid.NewGuid():N}.json");
        try
        {
            var r = Run("bench", "--spec", Path.Combine(TestData.RepoRoot, "models", "tinyvgg.json"), "--batch", "1,2",
                "--warmup", "1", "--reps", "3", "--layers", "0", "--no-ceiling", "--no-memory", "--threads", "1", "--json", json);
            Assert.That(r.Code, Is.EqualTo(ExitCodes.Ok), r.ToString());
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var text = doc.RootElement.GetRawText();
            Assert.That(text, Does.Contain("vgg-bench/1"));
            Assert.That(text, Does.Contain("\"vgg\"").And.Contain("\"ort\""));
        }
        finally
        {
            File.Delete(json);
        }
    }
}
