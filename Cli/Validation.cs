using System.CommandLine;
using System.CommandLine.Parsing;

namespace Vgg.Cli;

/// <summary>
/// Validators that run only on values that parsed. System.CommandLine reports a value it cannot convert
/// ("Cannot parse argument 'abc' for option '--top' as expected type 'System.Int32'") as a usage error, but it
/// still runs the validators, and reading the value there throws <see cref="InvalidOperationException"/> out of
/// the parser: a crash with a stack trace instead of the usage error. These wrappers leave that value to the
/// parser's own message.
/// </summary>
internal static class Validation
{
    /// <summary>Adds a check of the option's parsed value: <paramref name="check"/> returns an error message or null.</summary>
    public static void Check<T>(this Option<T> option, Func<T, string?> check) =>
        option.Validators.Add(r =>
        {
            T value;
            try { value = r.GetValueOrDefault<T>(); }
            catch (InvalidOperationException) { return; } // not convertible: the parser reports it
            if (check(value) is { } error) r.AddError(error);
        });

    /// <summary>
    /// Adds a cross-check of the command's options. It is skipped when an option's value does not convert (reading
    /// it throws; the parser reports that value), so the user sees the conversion error, not a crash.
    /// </summary>
    public static void Check(this Command command, Action<CommandResult> validate) =>
        command.Validators.Add(r =>
        {
            try { validate(r); }
            catch (InvalidOperationException) { } // a value that did not convert: reported by the parser
        });
}
