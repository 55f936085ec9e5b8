using System.Text.Json;
using Vgg.Cli;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Cli;

/// <summary>What one in-process <c>vgg</c> call returned and printed.</summary>
internal sealed record CliResult(int Code, string Out, string Err)
{
    /// <summary>stdout lines, without empty ones.</summary>
    public string[] Lines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>stdout parsed as JSON lines (one object per line); fails the test when a line is not a JSON object.</summary>
    public List<JsonElement> JsonLines()
    {
        var list = new List<JsonElement>();
        foreach (var line in Lines)
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { Assert.Fail($"stdout line is not JSON ({e.Message}): {line}\n{this}"); throw; }
            Assert.That(doc.RootElement.ValueKind, Is.EqualTo(JsonValueKind.Object), line);
            list.Add(doc.RootElement.Clone());
        }
        return list;
    }

    public override string ToString() => $"exit code {Code}\n--- stdout ---\n{Out}--- stderr ---\n{Err}";
}

/// <summary>Runs the <c>vgg</c> command in-process through <see cref="CliApp.Run"/> with captured stdout and stderr.</summary>
internal static class CliRunner
{
    public static CliResult Run(params string[] args) => Run(CancellationToken.None, args);

    public static CliResult Run(CancellationToken cancellation, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        TestContext.Progress.WriteLine("vgg " + string.Join(" ", args));
        int code = CliApp.Run(args, output, error, host: null, cancellation);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>A file of the repository (models/tinyvgg.json, samples/shapes.jpg).</summary>
    public static string Repo(string relative) => Path.Combine(TestData.RepoRoot, relative);
}

/// <summary>A temporary directory for one test, removed afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "vgg-cli-test-" + Guid.NewGuid().ToString("N")[..12]);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
