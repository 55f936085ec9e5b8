using System.Globalization;
using Vgg.Engine.Cuda;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Diagnostics;
using Vgg.Engine.Cuda.Native;
using Vgg.Engine.Cuda.Runtime;

namespace Vgg.GpuCheck;

/// <summary>
/// vgg-gpu-check: the GPU checks and benchmark of the CUDA backend in one self-contained binary.
/// <code>
/// vgg-gpu-check info                       libraries, device, NVRTC
/// vgg-gpu-check kernels [--json] [--arch 80,86,89,90]
///                                          per kernel and architecture: registers, shared memory, spills, stack, compile time
/// vgg-gpu-check selftest [--filter TEXT] [--ops] [--networks]
///                                          every kernel variant and whole networks against the CPU references
/// vgg-gpu-check bench [--batches 1,8,64] [--precisions fp32,fp16,int8] [--iterations N] [--json FILE] [--no-cudnn] [--layers]
///                                          VGG-16 latency and throughput, eager and graph, beside cuDNN
/// </code>
/// Exit codes: 0 success, 1 a check failed, 2 usage error, 3 no CUDA device (or NVRTC) for a command that needs one.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            var rest = args[1..];
            return args[0] switch
            {
                "info" => Info(),
                "kernels" => Kernels(rest),
                "selftest" => SelfTest(rest),
                "bench" => Bench.Run(rest),
                _ => UsageError($"unknown command '{args[0]}'"),
            };
        }
        catch (ArgumentException e)
        {
            return UsageError(e.Message);
        }
    }

    private const string Usage = """
        usage: vgg-gpu-check <command> [options]
          info                                   libraries found, device, NVRTC version and target
          kernels [--json] [--arch 80,86,89,90]  ptxas report per kernel and architecture (no GPU needed)
          selftest [--filter TEXT] [--ops] [--networks]
                                                 kernels and whole networks against the CPU references (needs a GPU)
          bench [--batches 1,8,64] [--precisions fp32,fp16,int8] [--iterations N] [--json FILE] [--no-cudnn] [--layers]
                                                 VGG-16 benchmark, eager and CUDA graph, beside cuDNN (needs a GPU)
        exit codes: 0 ok, 1 a check failed, 2 usage, 3 no CUDA device or NVRTC
        """;

    internal static int UsageError(string message)
    {
        Console.Error.WriteLine("vgg-gpu-check: " + message);
        Console.Error.WriteLine(Usage);
        return 2;
    }

    internal static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0) return null;
        if (i + 1 >= args.Length) throw new ArgumentException($"{name} needs a value");
        return args[i + 1];
    }

    internal static int[] IntList(string? text, int[] fallback) =>
        text is null ? fallback : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException($"'{s}' is not a positive integer")).ToArray();

    private static int Info()
    {
        Console.WriteLine($"vgg-gpu-check on {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        foreach (var line in CudaLibraries.Describe()) Console.WriteLine("  " + line);
        if (NvrtcCompiler.IsAvailable(out var nv)) Console.WriteLine($"  {nv}; architectures {string.Join(",", NvrtcCompiler.SupportedArchitectures())}");
        if (!CudaContext.TryOpen(0, out var ctx, out var reason))
        {
            Console.WriteLine("  device: none (" + reason + ")");
            return 3;
        }
        using (ctx)
        {
            Console.WriteLine("  device: " + ctx!.Device);
            var (free, total) = ctx.MemoryInfo();
            Console.WriteLine($"  memory: {free >> 20} MiB free of {total >> 20} MiB; L2 {ctx.Device.L2CacheBytes >> 20} MiB; shared memory/block opt-in {ctx.Device.SharedMemoryPerBlockOptin} B");
            if (NvrtcCompiler.IsAvailable(out _))
                Console.WriteLine("  kernels compile to " + NvrtcCompiler.TargetFor(ctx.Device.ComputeCapability, NvrtcCompiler.SupportedArchitectures()));
        }
        return 0;
    }

    private static int Kernels(string[] args)
    {
        if (!NvrtcCompiler.IsAvailable(out var reason))
        {
            Console.Error.WriteLine("vgg-gpu-check: NVRTC not found: " + reason);
            return 3;
        }
        var archs = IntList(Option(args, "--arch"), KernelReport.CheckedArchitectures.ToArray());
        var rows = KernelReport.Build(archs, KernelCache.Default());
        Console.WriteLine(args.Contains("--json") ? KernelReport.ToJson(rows) : KernelReport.FormatTable(rows));
        var bad = rows.Where(r => !r.IsSpillFree || r.BlocksPerSmByRegisters < r.TargetBlocksPerSm).ToList();
        foreach (var r in bad) Console.Error.WriteLine($"WARNING {r.Kernel} {r.Arch}: spills {r.SpillStoreBytes}/{r.SpillLoadBytes} B, stack {r.StackFrameBytes} B, {r.BlocksPerSmByRegisters} blocks/SM by registers (target {r.TargetBlocksPerSm})");
        return bad.Count == 0 ? 0 : 1;
    }

    private static int SelfTest(string[] args)
    {
        var filter = Option(args, "--filter");
        bool ops = args.Contains("--ops") || !args.Contains("--networks");
        bool nets = args.Contains("--networks") || !args.Contains("--ops");
        if (!CudaContext.TryOpen(0, out var ctx, out var reason))
        {
            Console.Error.WriteLine("vgg-gpu-check selftest: no CUDA device: " + reason);
            return 3;
        }
        if (!NvrtcCompiler.IsAvailable(out var nv))
        {
            Console.Error.WriteLine("vgg-gpu-check selftest: NVRTC not found: " + nv);
            ctx!.Dispose();
            return 3;
        }
        Console.WriteLine($"selftest on {ctx!.Device}; {nv}");
        int passed = 0, failed = 0;
        var failures = new List<string>();
        var total = System.Diagnostics.Stopwatch.StartNew();
        if (ops)
        {
            using var check = new GpuCheckContext(ctx, KernelCache.Default());
            Console.WriteLine($"kernels compile to {check.Kernels.Target}");
            foreach (var c in GpuOpChecks.All().Where(c => filter is null || c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)))
            {
                var r = check.RunCheck(c);
                Report(r.Name, r.Passed, r.Detail, r.Milliseconds);
            }
        }
        if (nets)
        {
            var backends = new Dictionary<CudaBackendOptions, CudaBackend>();
            try
            {
                CudaBackend Make(CudaBackendOptions o)
                {
                    if (backends.TryGetValue(o, out var b)) return b;
                    if (!CudaBackend.TryCreate(out b, out var why, o)) throw new InvalidOperationException("CUDA backend: " + why);
                    return backends[o] = b!;
                }
                foreach (var c in GpuNetworkChecks.All().Where(c => filter is null || c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)))
                {
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    try
                    {
                        var detail = c.Body(Make);
                        Report(c.Name, true, detail, sw.Elapsed.TotalMilliseconds);
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        Report(c.Name, false, e is GpuCheckFailedException ? e.Message : e.GetType().Name + ": " + e.Message, sw.Elapsed.TotalMilliseconds);
                    }
                }
            }
            finally
            {
                foreach (var b in backends.Values) b.Dispose();
            }
        }
        ctx.Dispose();
        Console.WriteLine();
        foreach (var f in failures) Console.WriteLine("FAILED " + f);
        Console.WriteLine($"selftest: {passed} passed, {failed} failed ({total.Elapsed.TotalSeconds:F0} s)");
        return failed == 0 && passed > 0 ? 0 : 1;

        void Report(string name, bool ok, string detail, double ms)
        {
            if (ok) passed++;
            else
            {
                failed++;
                failures.Add($"{name}: {detail}");
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(ok ? "PASS" : "FAIL")} {name} ({ms:F0} ms): {detail}"));
        }
    }
}
