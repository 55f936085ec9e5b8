using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Spectre.Console;

namespace Vgg.Cli;

/// <summary>
/// One invocation's surroundings: the stdout and stderr writers, the host, <c>--verbose</c>, the loggers and the
/// cancellation token. Results go to <see cref="Out"/> only; notes, progress, logs and errors to <see cref="Err"/>.
/// </summary>
internal sealed class CliContext : IDisposable
{
    private readonly IAnsiConsole? _live;
    private readonly ILoggerFactory _loggers;

    public CliContext(TextWriter output, TextWriter error, CliHost host, bool verbose, CancellationToken cancellation)
    {
        Out = output;
        Err = error;
        Host = host;
        Verbose = verbose;
        Cancellation = cancellation;
        if (!verbose) _loggers = NullLoggerFactory.Instance;
        else if (host.LogToProcessConsole)
            _loggers = LoggerFactory.Create(b => b
                .SetMinimumLevel(LogLevel.Debug)
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace) // stdout carries results only
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; o.ColorBehavior = host.ErrorIsTerminal ? LoggerColorBehavior.Default : LoggerColorBehavior.Disabled; }));
        else
            _loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new WriterLoggerProvider(error)));

        // Live displays (spinner, progress bar) only on a terminal, and not with --verbose, whose log lines would tear them.
        if (host.ErrorIsTerminal && !verbose)
            _live = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(error),
                Interactive = InteractionSupport.Yes,
                Ansi = AnsiSupport.Detect,
                ColorSystem = ColorSystemSupport.Detect,
            });
    }

    public TextWriter Out { get; }
    public TextWriter Err { get; }
    public CliHost Host { get; }
    public bool Verbose { get; }
    public CancellationToken Cancellation { get; }

    /// <summary>A logger for <paramref name="category"/> (a no-op without --verbose).</summary>
    public ILogger Logger(string category) => _loggers.CreateLogger(category);

    /// <summary>A line on stderr, prefixed "vgg: ", shown in every mode (for what the user must know, e.g. seeded weights).</summary>
    public void Note(string message)
    {
        lock (Err) Err.WriteLine("vgg: " + message);
    }

    /// <summary>
    /// Runs a long step (reading a checkpoint, seeding weights, preparing a session) with a spinner on an interactive
    /// stderr, then a line saying how long it took; elsewhere silently (and logged with --verbose).
    /// </summary>
    public T Step<T>(string description, Func<T> work)
    {
        Cancellation.ThrowIfCancellationRequested();
        var sw = Stopwatch.StartNew();
        T result;
        if (_live is null) result = work();
        else
        {
            result = _live.Status().Spinner(Spinner.Known.Dots).Start(Markup.Escape(description) + " ...", _ => work());
            _live.MarkupLine(CultureInfo.InvariantCulture, "[grey]{0} ({1:F1} s)[/]", Markup.Escape(description), sw.Elapsed.TotalSeconds);
        }
        Logger("vgg").LogInformation("{Step}: {Ms:F0} ms", description, sw.Elapsed.TotalMilliseconds);
        return result;
    }

    /// <summary>
    /// Runs <paramref name="body"/> over <paramref name="total"/> items; it reports finished items through the callback.
    /// A progress bar on stderr when stderr is a terminal and stdout is not (results on a terminal show progress
    /// themselves and a live display beside them would be torn); otherwise no display.
    /// </summary>
    public void WithProgress(string description, int total, Action<Action<int>> body)
    {
        if (_live is null || Host.OutputIsTerminal || total <= 1)
        {
            body(_ => { });
            return;
        }
        _live.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(p =>
            {
                var task = p.AddTask(Markup.Escape(description), maxValue: total);
                body(n => task.Increment(n));
            });
    }

    public void Dispose() => _loggers.Dispose(); // flushes the console logger's queue

    /// <summary>Log lines ("info: Category: message") on a writer, for hosts without a process console (tests).</summary>
    private sealed class WriterLoggerProvider : ILoggerProvider
    {
        private readonly TextWriter _writer;
        public WriterLoggerProvider(TextWriter writer) => _writer = writer;
        public ILogger CreateLogger(string categoryName) => new WriterLogger(_writer, categoryName);
        public void Dispose() { }

        private sealed class WriterLogger : ILogger
        {
            private readonly TextWriter _writer;
            private readonly string _category;
            public WriterLogger(TextWriter writer, string category) { _writer = writer; _category = category; }
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                string level = logLevel switch
                {
                    LogLevel.Trace => "trce", LogLevel.Debug => "dbug", LogLevel.Information => "info",
                    LogLevel.Warning => "warn", LogLevel.Error => "fail", _ => "crit",
                };
                lock (_writer) _writer.WriteLine($"{level}: {_category}: {formatter(state, exception)}");
            }
        }
    }
}
