using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Vgg.Perf.Harness.Micro;

/// <summary>
/// Implemented by a BenchmarkDotNet class whose benchmarks run one op: the work of one invocation, for
/// its parameter values (set on this instance before the call, as BenchmarkDotNet sets them), so the
/// summary gains GFLOP/s and GB/s columns. Count with <see cref="OpCostRegistry"/> rows where one fits.
/// </summary>
public interface IOpWork
{
    /// <summary>FLOPs and compulsory bytes of one benchmark invocation with the current parameter values.</summary>
    (long Flops, long Bytes) Work();
}

/// <summary>
/// Micro-benchmarks of single CPU ops with BenchmarkDotNet 0.15.8, run in-process (no child build, so
/// it works from <c>vgg bench --micro</c> and from a trimmed publish). Kernel owners add benchmark classes
/// (with [Benchmark] methods, implementing <see cref="IOpWork"/>) to any assembly and pass it in; the
/// harness supplies the job, the columns and the runner.
/// </summary>
public static class MicroBench
{
    /// <summary>
    /// The configuration: in-process emit toolchain, BenchmarkDotNet's default (or with <paramref name="quick"/>, short:
    /// 3 warm-ups, 5 iterations) job, median/percentile columns, and GFLOP/s and GB/s for <see cref="IOpWork"/> classes.
    /// </summary>
    public static IConfig Config(bool quick)
    {
        var job = (quick ? Job.ShortRun.WithWarmupCount(3).WithIterationCount(5) : Job.Default).WithToolchain(InProcessEmitToolchain.Instance);
        return DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddColumn(StatisticColumn.Median, StatisticColumn.P90, StatisticColumn.Min)
            .AddColumn(new OpRateColumn(gflops: true), new OpRateColumn(gflops: false))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator | ConfigOptions.JoinSummary);
    }

    /// <summary>
    /// Runs the benchmark classes of <paramref name="assemblies"/> (this assembly's suites when empty) chosen by
    /// BenchmarkDotNet's own arguments in <paramref name="args"/> (e.g. <c>--filter *Conv*</c>, <c>--list flat</c>).
    /// </summary>
    /// <returns>The summaries (empty when the filter matched nothing).</returns>
    public static IReadOnlyList<Summary> Run(string[] args, bool quick, params Assembly[] assemblies)
    {
        if (assemblies.Length == 0) assemblies = [typeof(MicroBench).Assembly];
        var switcher = BenchmarkSwitcher.FromAssemblies(assemblies);
        return switcher.Run(args, Config(quick)).ToList();
    }

    /// <summary>Sets <paramref name="parameters"/> on a new instance of its class and asks it for its work; null for classes that are not <see cref="IOpWork"/>.</summary>
    public static (long Flops, long Bytes)? WorkOf(Type type, IEnumerable<(string Name, object? Value)> parameters)
    {
        if (!typeof(IOpWork).IsAssignableFrom(type)) return null;
        var inst = (IOpWork)Activator.CreateInstance(type)!;
        foreach (var (name, value) in parameters)
        {
            var p = type.GetProperty(name, BindingFlags.Public | BindingFlags.Instance);
            if (p is not null && p.CanWrite) { p.SetValue(inst, value); continue; }
            type.GetField(name, BindingFlags.Public | BindingFlags.Instance)?.SetValue(inst, value);
        }
        return inst.Work();
    }

    /// <summary>A summary column: GFLOP/s or GB/s at the median time, for benchmark classes implementing <see cref="IOpWork"/>.</summary>
    private sealed class OpRateColumn(bool gflops) : IColumn
    {
        public string Id => gflops ? "VggGflops" : "VggGBps";
        public string ColumnName => gflops ? "GFLOP/s" : "GB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => gflops ? 0 : 1;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => gflops ? "FLOPs of one invocation (IOpWork) over the median time, 10^9/s" : "Compulsory bytes of one invocation (IOpWork) over the median time, 10^9 B/s";
        public bool IsAvailable(Summary summary) => summary.BenchmarksCases.Any(b => typeof(IOpWork).IsAssignableFrom(b.Descriptor.Type));
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var work = WorkOf(benchmarkCase.Descriptor.Type, benchmarkCase.Parameters.Items.Select(i => (i.Name, (object?)i.Value)));
            double? ns = summary[benchmarkCase]?.ResultStatistics?.Median;
            if (work is null || ns is not double t || t <= 0) return "-";
            double v = (gflops ? work.Value.Flops : work.Value.Bytes) / t; // per ns = 10^9 per s
            return v.ToString("F2", CultureInfo.InvariantCulture);
        }
    }
}
