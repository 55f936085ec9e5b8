namespace Vgg.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("vgg: commands arrive with the main-job issue");
        return 2;
    }
}
