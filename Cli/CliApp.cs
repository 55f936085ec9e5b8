using System.CommandLine;
using System.CommandLine.Invocation;
using System.Runtime.InteropServices;
using Vgg.Cli.Commands;
using Vgg.Engine;

namespace Vgg.Cli;

/// <summary>A usage error found after parsing (options that do not go together with this model); exit code 2.</summary>
internal sealed class CliUsageException : Exception
{
    public CliUsageException(string message) : base(message) { }
}

/// <summary>
/// The <c>vgg</c> command line, callable in-process: <see cref="Run(string[], TextWriter, TextWriter, CliHost?, CancellationToken)"/>
/// parses <c>args</c>, runs the verb and returns the exit code (<see cref="ExitCodes"/>). Results go to the output
/// writer only (so <c>--json</c> output stays machine-readable); notes, progress, logs and errors go to the error writer.
/// </summary>
/// <remarks>
/// Verbs: classify, run, inspect, plan, export, calibrate, onnx-test, kernels, selftest, bench. Errors: a <see cref="VggEngineException"/> or a missing file prints its
/// message without a stack trace (exit 1); a parse error prints System.CommandLine's message (exit 2); anything
/// else is reported as an internal error with its type and message and a request to report it (exit 3), with the
/// stack trace under <c>--verbose</c>. Ctrl+C cancels (exit 130).
/// </remarks>
public static class CliApp
{
    /// <summary>How long a cancelled command may take to stop before the process returns anyway.</summary>
    public static TimeSpan CancellationGrace { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Parses and runs a <c>vgg</c> command line.</summary>
    /// <param name="args">The arguments after the program name.</param>
    /// <param name="output">Where results go (stdout).</param>
    /// <param name="error">Where notes, progress, logs and errors go (stderr).</param>
    /// <param name="host">The surrounding process (terminals, Ctrl+C handling); null: non-interactive, nothing process-wide.</param>
    /// <param name="cancellation">Cancels the running verb (exit code 130).</param>
    /// <returns>The exit code (<see cref="ExitCodes"/>).</returns>
    public static int Run(string[] args, TextWriter output, TextWriter error, CliHost? host = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        // `vgg bench` has its own option parser and usage text (Perf/Harness/BenchCommand); the root's recursive
        // --help would otherwise describe the pass-through wrapper instead.
        if (args is ["bench", .. var benchArgs] && benchArgs.Any(a => a is "--help" or "-h" or "-?"))
        {
            output.WriteLine(Vgg.Perf.Harness.BenchCommand.Usage);
            return ExitCodes.Ok;
        }
        var app = new App(output, error, host ?? new CliHost(), cancellation);
        var root = app.BuildRoot();
        var parse = root.Parse(args);
        var config = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null, // our own handling in App.Execute
        };
        if (parse.Action is ParseErrorAction parseError)
        {
            parseError.ShowHelp = false;
            // The errors, with typo corrections, all on stderr: stdout carries results only.
            parse.Invoke(new InvocationConfiguration { Output = error, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
            var verb = parse.CommandResult.Command == root ? "" : parse.CommandResult.Command.Name + " ";
            // System.CommandLine names the command, not the argument, that is missing
            var missing = parse.CommandResult.Command.Arguments
                .Where(a => a.Arity.MinimumNumberOfValues > 0 && parse.GetResult(a) is not { Tokens.Count: > 0 })
                .Select(a => a.Arity.MaximumNumberOfValues > 1 ? a.Name + "..." : a.Name).ToList();
            if (missing.Count > 0 && parse.Errors.Any(e => e.Message.StartsWith("Required argument missing", StringComparison.Ordinal)))
                error.WriteLine($"missing: {string.Join(" ", missing)} (vgg {verb}[options] {string.Join(" ", missing)})");
            error.WriteLine($"Run 'vgg {verb}--help' for usage.");
            return ExitCodes.UsageError;
        }
        return parse.Invoke(config);
    }

    /// <summary>One call's writers and host, and the verbs' shared plumbing.</summary>
    internal sealed class App
    {
        private readonly TextWriter _out;
        private readonly TextWriter _err;
        private readonly CliHost _host;
        private readonly CancellationToken _cancellation;

        public App(TextWriter output, TextWriter error, CliHost host, CancellationToken cancellation)
        {
            _out = output;
            _err = error;
            _host = host;
            _cancellation = cancellation;
        }

        public Option<bool> Verbose { get; } = new("--verbose", "-v")
        {
            Description = "Log what the loader, binder and session do (format, wrapper key, head reset, backend, timings) to stderr; stack traces of internal errors.",
            Recursive = true,
        };

        public RootCommand BuildRoot()
        {
            var root = new RootCommand(
                "vgg: run VGG-family CNNs (torchvision VGG-11/13/16/19 with or without BN, VGG-style nets from a JSON spec) from PyTorch checkpoints, in-process, on the CPU or CUDA.\n" +
                "Example, no download needed: vgg classify --arch vgg16 --seed 1 samples/*.jpg");
            root.Options.Add(Verbose);
            root.Subcommands.Add(ClassifyCommand.Create(this));
            root.Subcommands.Add(RunCommand.Create(this));
            root.Subcommands.Add(InspectCommand.Create(this));
            root.Subcommands.Add(PlanCommand.Create(this));
            root.Subcommands.Add(ExportCommand.Create(this));
            root.Subcommands.Add(CalibrateCommand.Create(this));
            root.Subcommands.Add(OnnxTestCommand.Create(this));
            root.Subcommands.Add(KernelsCommand.Create(this));
            root.Subcommands.Add(SelftestCommand.Create(this));
            root.Subcommands.Add(BenchVerb.Create(this));
            return root;
        }

        /// <summary>Makes <paramref name="body"/> the verb's action: context, cancellation and the exit-code mapping.</summary>
        public void SetAction(Command command, Func<CliContext, ParseResult, int> body) =>
            command.SetAction(p => Execute(p, body));

        private int Execute(ParseResult p, Func<CliContext, ParseResult, int> body)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_cancellation);
            using var signals = _host.HandleProcessTermination ? new TerminationSignals(cts) : null;
            var ctx = new CliContext(_out, _err, _host, p.GetValue(Verbose), cts.Token);
            var task = Task.Run(() => Guard(ctx, () => body(ctx, p)));
            if (signals is null)
            {
                int code = task.GetAwaiter().GetResult();
                ctx.Dispose();
                return code;
            }
            while (!task.Wait(TimeSpan.FromMilliseconds(100)))
            {
                if (!cts.IsCancellationRequested) continue;
                if (task.Wait(CancellationGrace)) break;
                // The running step (e.g. reading a checkpoint) cannot stop in the middle; the process ends here.
                lock (_err) _err.WriteLine("vgg: cancelled");
                return ExitCodes.Cancelled;
            }
            ctx.Dispose();
            return task.Result;
        }

        private int Guard(CliContext ctx, Func<int> body)
        {
            try
            {
                return body();
            }
            catch (OperationCanceledException) when (ctx.Cancellation.IsCancellationRequested)
            {
                return Fail(ExitCodes.Cancelled, "cancelled");
            }
            catch (CliUsageException e)
            {
                return Fail(ExitCodes.UsageError, "error: " + e.Message);
            }
            catch (VggEngineException e)
            {
                if (ctx.Verbose && e.InnerException is { } inner) lock (_err) _err.WriteLine($"vgg: caused by {inner.GetType().FullName}: {inner.Message}");
                return Fail(ExitCodes.ModelOrInputError, "error: " + e.Message);
            }
            catch (FileNotFoundException e)
            {
                return Fail(ExitCodes.ModelOrInputError, "error: " + (e.Message.Contains(e.FileName ?? "\0", StringComparison.Ordinal) ? e.Message : $"file not found: '{e.FileName}'"));
            }
            catch (Exception e) when (e is DirectoryNotFoundException or UnauthorizedAccessException or IOException)
            {
                return Fail(ExitCodes.ModelOrInputError, "error: " + e.Message);
            }
            catch (OutOfMemoryException e)
            {
                return Fail(ExitCodes.ModelOrInputError, $"error: out of memory ({e.Message}); try a smaller --batch-size or a smaller model");
            }
            catch (Exception e)
            {
                lock (_err)
                {
                    _err.WriteLine($"vgg: internal error: {e.GetType().FullName}: {e.Message}");
                    _err.WriteLine(ctx.Verbose ? e.ToString() : "vgg: this is a bug; please report it with the command line (run again with --verbose for the stack trace)");
                }
                return ExitCodes.InternalError;
            }
        }

        private int Fail(int code, string message)
        {
            lock (_err) _err.WriteLine("vgg: " + message);
            return code;
        }
    }

    /// <summary>Ctrl+C (SIGINT) and SIGTERM cancel the command once; a second Ctrl+C ends the process as usual.</summary>
    private sealed class TerminationSignals : IDisposable
    {
        private readonly CancellationTokenSource _cts;
        private readonly PosixSignalRegistration? _sigterm;

        public TerminationSignals(CancellationTokenSource cts)
        {
            _cts = cts;
            Console.CancelKeyPress += OnCancelKeyPress;
            try { _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; Cancel(); }); }
            catch (PlatformNotSupportedException) { _sigterm = null; }
        }

        private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
        {
            if (_cts.IsCancellationRequested) return; // second Ctrl+C: default handling ends the process
            e.Cancel = true;
            Cancel();
        }

        private void Cancel()
        {
            try { _cts.Cancel(); }
            catch (ObjectDisposedException) { }
        }

        public void Dispose()
        {
            Console.CancelKeyPress -= OnCancelKeyPress;
            _sigterm?.Dispose();
        }
    }
}
