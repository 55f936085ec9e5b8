namespace Vgg.Cli;

/// <summary>Checks of the files named on the command line, done before any slow work starts.</summary>
internal static class InputFiles
{
    /// <summary>Image extensions taken from a directory argument.</summary>
    public static readonly string[] ImageExtensions = { ".jpg", ".jpeg", ".png" };

    /// <summary>
    /// System.CommandLine takes an unknown "--option" for a value of a positional argument; this validator names it as
    /// an unknown option instead (a usage error) unless such a file exists.
    /// </summary>
    public static void RejectOptionLikeValues<T>(System.CommandLine.Argument<T> argument) =>
        argument.Validators.Add(r =>
        {
            var values = r.Tokens.Select(t => t.Value);
            foreach (var v in values)
                if (v.Length > 1 && v[0] == '-' && !File.Exists(v) && !Directory.Exists(v))
                    r.AddError($"unknown option '{v}'");
        });

    /// <summary>
    /// Refuses an output path that names one of the command's input files (after resolving relative paths and
    /// symbolic links): writing it would destroy the input, e.g. <c>vgg export --onnx model.pth --weights model.pth</c>.
    /// </summary>
    /// <param name="output">The output path as given.</param>
    /// <param name="option">The output's option, for the message ("--onnx").</param>
    /// <param name="inputs">The inputs (null entries are skipped) with the option that named each.</param>
    /// <exception cref="CliUsageException">The output is one of the inputs.</exception>
    public static void RequireDistinctOutput(string output, string option, params (string? Path, string Option)[] inputs)
    {
        string o = Canonical(output);
        foreach (var (path, inputOption) in inputs)
            if (path is not null && Canonical(path) == o)
                throw new CliUsageException($"{option} '{output}' is the same file as {inputOption} '{path}': writing it would destroy the input; choose another output path");
    }

    private static string Canonical(string path)
    {
        var full = Path.GetFullPath(path);
        try
        {
            // the final target of a symbolic link, so that a link to the input counts as the input
            if (File.Exists(full) && new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true) is { } target) return Path.GetFullPath(target.FullName);
        }
        catch (IOException) { }
        return full;
    }

    /// <summary>Returns <paramref name="path"/> when it is an existing file.</summary>
    /// <exception cref="FileNotFoundException">It does not exist (the message names it and says what it was for), or is a directory.</exception>
    public static string RequireFile(string path, string what)
    {
        if (File.Exists(path)) return path;
        if (Directory.Exists(path)) throw new FileNotFoundException($"{what} '{path}' is a directory, not a file", path);
        throw new FileNotFoundException($"{what} not found: '{path}' (working directory {Environment.CurrentDirectory})", path);
    }

    /// <summary>
    /// The image files named by <paramref name="arguments"/>, in order: a file as given; a directory gives its .jpg, .jpeg
    /// and .png files (not recursive, sorted by name); an argument with * or ? in its file name is expanded here (for
    /// shells that do not expand wildcards, such as cmd.exe), sorted by name.
    /// </summary>
    /// <exception cref="FileNotFoundException">A file that does not exist, or a pattern or directory that names no image.</exception>
    public static IReadOnlyList<string> ExpandImages(IEnumerable<string> arguments)
    {
        var result = new List<string>();
        foreach (var a in arguments)
        {
            if (File.Exists(a)) { result.Add(a); continue; }
            if (Directory.Exists(a))
            {
                var files = Directory.EnumerateFiles(a)
                    .Where(f => ImageExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal).ToList();
                if (files.Count == 0) throw new FileNotFoundException($"the directory '{a}' holds no .jpg, .jpeg or .png image", a);
                result.AddRange(files);
                continue;
            }
            var name = Path.GetFileName(a);
            if (name.IndexOfAny(new[] { '*', '?' }) >= 0)
            {
                var dir = Path.GetDirectoryName(a);
                var searchDir = string.IsNullOrEmpty(dir) ? "." : dir;
                var files = Directory.Exists(searchDir)
                    ? Directory.EnumerateFiles(searchDir, name).Select(f => string.IsNullOrEmpty(dir) ? Path.GetFileName(f) : f).Order(StringComparer.Ordinal).ToList()
                    : new List<string>();
                if (files.Count == 0) throw new FileNotFoundException($"no file matches '{a}'", a);
                result.AddRange(files);
                continue;
            }
            RequireFile(a, "image");
        }
        return result;
    }
}
