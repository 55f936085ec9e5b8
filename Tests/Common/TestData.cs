namespace Vgg.Engine.Tests.Common;

/// <summary>
/// Locates the repository and the shared test data (../shared/testdata beside the checkout, or
/// VGG_TESTDATA). Tests that need the data call <see cref="Require"/>, which ignores the test with the
/// reason when the folder is absent.
/// </summary>
public static class TestData
{
    private static readonly Lazy<string> RepoRootLazy = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Vgg.Engine.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Vgg.Engine.sln not found above " + AppContext.BaseDirectory);
    });

    /// <summary>The repository root (the folder holding Vgg.Engine.sln).</summary>
    public static string RepoRoot => RepoRootLazy.Value;

    /// <summary>The shared test data folder, or null when it is absent.</summary>
    public static string? SharedRoot
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("VGG_TESTDATA");
            if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? Path.GetFullPath(env) : null;
            var p = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "testdata"));
            return Directory.Exists(p) ? p : null;
        }
    }

    /// <summary>Path of <paramref name="relative"/> inside the shared test data; ignores the test when absent.</summary>
    public static string Require(string relative)
    {
        var root = SharedRoot;
        if (root is null)
            Assert.Ignore("ignored: shared test data not found (expected ../shared/testdata beside the checkout, or set VGG_TESTDATA)");
        var p = Path.Combine(root!, relative);
        if (!File.Exists(p) && !Directory.Exists(p))
            Assert.Ignore($"ignored: {relative} is not in the shared test data at {root}");
        return p;
    }

    /// <summary>Path of a fixture committed under Tests/Fixtures.</summary>
    public static string Fixture(string relative) => Path.Combine(RepoRoot, "Tests", "Fixtures", relative);
}
