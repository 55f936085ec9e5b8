using System.CommandLine;
using Vgg.Engine.Backends;
using Vgg.Engine.Planning;
using Vgg.Engine.Runtime;

namespace Vgg.Cli;

/// <summary>The session options the model verbs share: <c>--backend</c> and <c>--threads</c>.</summary>
internal sealed class RuntimeSelection
{
    public Option<string> Backend { get; } = new("--backend")
    {
        Description = "auto: CUDA when a driver and device are found, else the CPU (says so with --verbose); cpu; cuda (an error where there is none).",
        DefaultValueFactory = _ => "auto",
        HelpName = "auto|cpu|cuda",
    };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "CPU threads per run (0: every core).",
        DefaultValueFactory = _ => 0,
        HelpName = "N",
    };

    public RuntimeSelection()
    {
        Backend.AcceptOnlyFromAmong("auto", "cpu", "cuda");
        Threads.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--threads must be 0 (every core) or positive"); });
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Backend);
        command.Options.Add(Threads);
    }

    /// <summary>Session options from the parsed values.</summary>
    public SessionOptions Get(ParseResult p, CliContext ctx, MemoryPlannerKind planner = MemoryPlannerKind.Greedy) => new()
    {
        Backend = p.GetValue(Backend) switch { "cpu" => BackendChoice.Cpu, "cuda" => BackendChoice.Cuda, _ => BackendChoice.Auto },
        Threads = p.GetValue(Threads),
        MemoryPlanner = planner,
        Logger = ctx.Logger("Vgg.Engine.Runtime"),
    };
}
