using System.CommandLine;
using System.Text.RegularExpressions;
using Vgg.Engine.Loader.Onnx;

namespace Vgg.Cli.Commands;

/// <summary>
/// <c>vgg onnx-test CASE_DIR...</c>: runs ONNX backend test-case folders (<c>model.onnx</c> with
/// <c>test_data_set_*/input_*.pb</c> and <c>output_*.pb</c>; a folder of such folders runs each) through an engine
/// session (<see cref="OnnxTestRunner.ForSession"/>) with the ONNX runner's tolerances (rtol 1e-3, atol 1e-7).
/// One line per case, PASS / FAIL / UNSUPPORTED with the reason, then the summary line
/// "onnx-test: P passed, F failed, U unsupported (N cases)". Exit code 1 when a case fails; unsupported cases are
/// reported, not failures (the engine refuses them by name instead of computing something wrong).
/// </summary>
internal static class OnnxTestCommand
{
    public static Command Create(CliApp.App app)
    {
        var runtime = new RuntimeSelection(precision: false);
        var dirs = new Argument<string[]>("CASE_DIR") { Description = "Test-case folders, or folders of them.", Arity = ArgumentArity.OneOrMore };
        InputFiles.RejectOptionLikeValues(dirs);
        var cmd = new Command("onnx-test", "Run ONNX backend test-case folders and print pass / fail / unsupported per case.");
        cmd.Arguments.Add(dirs);
        runtime.AddTo(cmd);
        app.SetAction(cmd, (ctx, p) =>
        {
            var paths = p.GetValue(dirs)!;
            var cases = new List<string>();
            int badFolders = 0;
            foreach (var d in paths)
            {
                // A wrong folder is reported and the others still run (exit code 1 at the end).
                string? problem = !Directory.Exists(d) ? $"test-case folder not found: '{d}'"
                    : OnnxTestRunner.FindCases(d) is { Count: > 0 } found ? null : $"'{d}' holds no model.onnx, and no folder in it does";
                if (problem is null) { cases.AddRange(OnnxTestRunner.FindCases(d)); continue; }
                badFolders++;
                lock (ctx.Err) ctx.Err.WriteLine("vgg: error: " + problem);
            }
            if (cases.Count == 0) throw new DirectoryNotFoundException("no test case to run: " + (paths.Length == 1 ? "the folder holds none" : "none of the folders holds one"));
            var runner = OnnxTestRunner.ForSession(runtime.Get(p, ctx));
            var results = new List<OnnxCaseResult>();
            var supported = new List<string>();
            ctx.WithProgress("onnx-test", cases.Count, advance =>
            {
                foreach (var c in cases)
                {
                    ctx.Cancellation.ThrowIfCancellationRequested();
                    var r = runner.RunCase(c);
                    results.Add(r);
                    ctx.Out.WriteLine(WithoutSupportedList(r.Line, supported));
                    advance(1);
                }
            });
            var report = new OnnxTestReport(results);
            foreach (var list in supported) ctx.Out.WriteLine("supported: " + list);
            ctx.Out.WriteLine(report.SummaryLine + (badFolders > 0 ? $"; {badFolders} folder(s) without test cases" : ""));
            return report.Failed == 0 && badFolders == 0 ? ExitCodes.Ok : ExitCodes.ModelOrInputError;
        });
        return cmd;
    }

    private static readonly Regex SupportedList = new(@" \(supported: ([^()]*)\)", RegexOptions.CultureInvariant);

    /// <summary>An unsupported case's reason names every supported operator or type; the list is printed once, after the cases.</summary>
    private static string WithoutSupportedList(string line, List<string> lists)
    {
        var m = SupportedList.Match(line);
        if (!m.Success) return line;
        if (!lists.Contains(m.Groups[1].Value)) lists.Add(m.Groups[1].Value);
        return line.Remove(m.Index, m.Length) + " (supported: listed below)";
    }
}
