namespace Vgg.Cli;

/// <summary>
/// Exit codes of the <c>vgg</c> command, stable for scripts. Usage errors use 2 as System.CommandLine,
/// getopt and most Unix tools do; 130 is the shell's code for a command ended by SIGINT (128 + 2).
/// </summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>A model or input error the user can fix: a missing, unreadable or corrupt file, weights that do not fit the
    /// model, an image that cannot be decoded, a CUDA backend asked for where there is none (a <c>VggEngineException</c>).</summary>
    public const int ModelOrInputError = 1;

    /// <summary>A usage error: an unknown option or command, a missing or malformed argument, options that conflict.</summary>
    public const int UsageError = 2;

    /// <summary>An unexpected internal error (a bug): the message asks for a report.</summary>
    public const int InternalError = 3;

    /// <summary>Cancelled by Ctrl+C (SIGINT) or SIGTERM.</summary>
    public const int Cancelled = 130;
}
