namespace Vgg.Cli;

/// <summary>
/// What the process around a <see cref="CliApp.Run(string[], TextWriter, TextWriter, CliHost?, CancellationToken)"/>
/// call is: whether stdout and stderr are terminals (spinners and progress bars are drawn on stderr only when it is
/// one), and whether to install the process-wide Ctrl+C handler and console logger. The default, for in-process
/// callers such as tests, is a non-interactive host with captured writers and no process-wide handlers.
/// </summary>
public sealed record CliHost
{
    /// <summary>stderr is a terminal: long steps show a spinner, many images a progress bar (never on stdout).</summary>
    public bool ErrorIsTerminal { get; init; }

    /// <summary>stdout is a terminal. Per-image progress bars are drawn only when it is not, because the streamed results
    /// already show progress there and a live display on the same terminal would be torn by them.</summary>
    public bool OutputIsTerminal { get; init; }

    /// <summary><c>--verbose</c> logs through Microsoft.Extensions.Logging.Console to the process's stderr; when false,
    /// log lines are written to the error writer given to <see cref="CliApp.Run(string[], TextWriter, TextWriter, CliHost?, CancellationToken)"/>.</summary>
    public bool LogToProcessConsole { get; init; }

    /// <summary>Ctrl+C, SIGINT and SIGTERM cancel the running command (System.CommandLine's process termination handling).</summary>
    public bool HandleProcessTermination { get; init; }

    /// <summary>The process's own console: terminal detection from <see cref="Console.IsOutputRedirected"/> and
    /// <see cref="Console.IsErrorRedirected"/>, console logging and Ctrl+C handling on.</summary>
    public static CliHost ProcessConsole() => new()
    {
        ErrorIsTerminal = !Console.IsErrorRedirected,
        OutputIsTerminal = !Console.IsOutputRedirected,
        LogToProcessConsole = true,
        HandleProcessTermination = true,
    };
}
