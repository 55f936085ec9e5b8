using System.CommandLine;
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
            foreach (var d in paths)
            {
                if (!Directory.Exists(d)) throw new DirectoryNotFoundException($"test-case folder not found: '{d}'");
                var found = OnnxTestRunner.FindCases(d);
                if (found.Count == 0) throw new DirectoryNotFoundException($"'{d}' holds no model.onnx, and no folder in it does");
                cases.AddRange(found);
            }
            var runner = OnnxTestRunner.ForSession(runtime.Get(p, ctx));
            var results = new List<OnnxCaseResult>();
            ctx.WithProgress("onnx-test", cases.Count, advance =>
            {
                foreach (var c in cases)
                {
                    ctx.Cancellation.ThrowIfCancellationRequested();
                    var r = runner.RunCase(c);
                    results.Add(r);
                    ctx.Out.WriteLine(r.Line);
                    advance(1);
                }
            });
            var report = new OnnxTestReport(results);
            ctx.Out.WriteLine(report.SummaryLine);
            return report.Failed == 0 ? ExitCodes.Ok : ExitCodes.ModelOrInputError;
        });
        return cmd;
    }
}
