namespace Vgg.Cli;

/// <summary>The <c>vgg</c> executable: <see cref="CliApp"/> on the process's console.</summary>
public static class Program
{
    public static int Main(string[] args) =>
        CliApp.Run(args, Console.Out, Console.Error, CliHost.ProcessConsole());
}
