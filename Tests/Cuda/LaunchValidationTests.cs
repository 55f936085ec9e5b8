using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Vgg.Engine.Cuda.Compile;
using Vgg.Engine.Cuda.Diagnostics;
using Vgg.Engine.Cuda.Launch;

namespace Vgg.Engine.Tests.Cuda;

/// <summary>
/// Runs every GPU check against a recording device (no GPU): each launch the launchers produce is
/// checked against the kernel's PTX signature (argument count and kinds), the catalog (block size,
/// dynamic shared memory), the hardware's grid limits, and the buffers it may touch (every pointer
/// argument lies inside memory the check allocated). Every check makes a single Run call, which the
/// recording device records and then stops (nothing is computed).
/// </summary>
public class LaunchValidationTests
{
    private sealed class RecordingDevice : IGpuCheckDevice
    {
        private ulong _next = 0x7000_0000_0000;
        public readonly List<(ulong Start, long Bytes)> Buffers = new();
        public readonly List<KernelLaunch> Launches = new();

        public int Multiprocessors => 132;

        private ulong Alloc(long bytes)
        {
            var p = _next;
            Buffers.Add((p, Math.Max(bytes, 1)));
            _next += (ulong)((Math.Max(bytes, 1) + 4095) / 4096 * 4096 + 4096);
            return p;
        }

        public ulong Upload<T>(T[] data) where T : unmanaged => Alloc(data.LongLength * Marshal.SizeOf<T>());
        public ulong Output(long bytes, byte poison = 0xFF) => Alloc(bytes);
        public void Run(IEnumerable<KernelLaunch> launches)
        {
            Launches.AddRange(launches);
            // Stop the check here: its comparison would only fail on the zero outputs (and its CPU reference costs time).
            throw new InvalidOperationException("recorded");
        }
        public T[] Download<T>(ulong pointer, long count) where T : unmanaged => new T[count];
    }

    private static readonly Lazy<Dictionary<string, string[]>> Signatures = new(() =>
    {
        var sig = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var entry = new Regex(@"\.visible \.entry (\w+)\(([^)]*)\)", RegexOptions.Singleline);
        var param = new Regex(@"\.param \.(\w+)");
        foreach (var src in KernelCatalog.Sources)
        {
            var ptx = NvrtcCompiler.Compile(src, new CompileTarget(80, false), CudaTestSupport.RunCache).PtxText;
            foreach (Match m in entry.Matches(ptx))
                sig[m.Groups[1].Value] = param.Matches(m.Groups[2].Value).Select(p => p.Groups[1].Value).ToArray();
        }
        return sig;
    });

    [Test]
    public void EveryLaunchOfEveryCheckMatchesItsKernel()
    {
        CudaTestSupport.RequireNvrtc();
        var problems = new List<string>();
        int launches = 0;
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var check in GpuOpChecks.All())
        {
            var dev = new RecordingDevice();
            GpuChecks.Run(check, dev);
            if (dev.Launches.Count == 0) problems.Add($"{check.Name}: made no launch");
            foreach (var l in dev.Launches)
            {
                launches++;
                used.Add(l.Kernel);
                var where = $"{check.Name}: {l.Kernel}";
                var info = KernelCatalog.Get(l.Kernel);
                if (info.Source != l.Source) problems.Add($"{where}: source {l.Source}, catalog says {info.Source}");
                if (l.Block != new Dim3((uint)info.Threads)) problems.Add($"{where}: block {l.Block}, catalog {info.Threads}");
                if (l.DynamicSharedBytes != info.DynamicSharedBytes) problems.Add($"{where}: {l.DynamicSharedBytes} B dynamic shared, catalog {info.DynamicSharedBytes}");
                if (l.Grid.X == 0 || l.Grid.X > int.MaxValue || l.Grid.Y is 0 or > 65535 || l.Grid.Z is 0 or > 65535) problems.Add($"{where}: grid {l.Grid} out of range");
                var sig = Signatures.Value[l.Kernel];
                if (sig.Length != l.Args.Length)
                {
                    problems.Add($"{where}: {l.Args.Length} arguments, the PTX entry has {sig.Length}");
                    continue;
                }
                for (int i = 0; i < sig.Length; i++)
                {
                    var a = l.Args[i];
                    bool ok = a.Kind switch
                    {
                        KernelArgKind.Pointer or KernelArgKind.Int64 => sig[i] is "u64" or "s64",
                        KernelArgKind.Int32 => sig[i] is "u32" or "s32",
                        KernelArgKind.Float32 => sig[i] == "f32",
                        _ => false,
                    };
                    if (!ok) problems.Add($"{where}: argument {i} is {a.Kind}, the PTX parameter is .{sig[i]}");
                    if (a.Kind == KernelArgKind.Pointer && a.Bits != 0 && !dev.Buffers.Any(b => a.Bits >= b.Start && a.Bits < b.Start + (ulong)b.Bytes))
                        problems.Add($"{where}: pointer argument {i} (0x{a.Bits:x}) is outside every buffer of the check");
                }
            }
        }
        Assert.That(problems, Is.Empty, $"{launches} launches checked");
        var unused = KernelCatalog.All.Select(k => k.Name).Except(used).ToList();
        Assert.That(unused, Is.Empty, "kernels no check launches");
    }

    [Test]
    public void TileChoiceFollowsTheLayerSize()
    {
        // conv1_2 at 224x224, batch 1: K = 64 -> 64x64 tiles, 784 blocks, no split
        var c12 = new Conv3x3Launcher(CudaPrecision.Float16, 1, 224, 224, 64, 64, true, true).Plan(132);
        Assert.That(c12.Kernel.Name, Is.EqualTo("vgg_conv3x3_bias_relu_pool2_f16_64x64"));
        Assert.That(c12.Splits, Is.EqualTo(1));
        // conv3_2 at 56x56, batch 8: 128x128 tiles fill the device
        var c32 = new Conv3x3Launcher(CudaPrecision.Float16, 8, 56, 56, 256, 256, true, false).Plan(132);
        Assert.That(c32.Kernel.Name, Is.EqualTo("vgg_conv3x3_bias_relu_f16_128x128"));
        // conv5_1 at 14x14, batch 1: 196 pixels x 512 channels -> 64x64 tiles, split-K
        var c51 = new Conv3x3Launcher(CudaPrecision.Int8, 1, 14, 14, 512, 512, true, false).Plan(132);
        Assert.That(c51.Kernel.Name, Is.EqualTo("vgg_conv3x3_bias_relu_i8_64x64"));
        Assert.That(c51.Splits, Is.GreaterThan(1));
        Assert.That(c51.WorkspaceBytes, Is.EqualTo((long)c51.Splits * 196 * 512 * 4));
        int ktiles = 9 * 512 / 64;
        Assert.That((c51.Splits - 1) * c51.KTilesPerSplit, Is.LessThan(ktiles), "no empty split");
        Assert.That(c51.Splits * c51.KTilesPerSplit, Is.GreaterThanOrEqualTo(ktiles));
    }

    [Test]
    public void LinearPathsAndGemvChunks()
    {
        var fc6 = new LinearLauncher(CudaPrecision.Float16, 13, 4096, 25088, true);
        Assert.That(fc6.Choose(), Is.EqualTo(LinearLauncher.Path.Gemv));
        var l = fc6.Launches(132, 0x1000_0000, 0x2000_0000, 0x3000_0000, 0, 0x4000_0000, 0);
        Assert.That(l.Select(x => x.Kernel), Is.EqualTo(new[] { "vgg_gemv_bias_relu_f16_nb8", "vgg_gemv_bias_relu_f16_nb8" }));
        Assert.That(l[1].Args[1].Bits, Is.EqualTo(0x1000_0000UL + 8UL * 25088 * 2), "second chunk's x starts 8 rows on");
        Assert.That(l[1].Args[4].Bits, Is.EqualTo(0x4000_0000UL + 8UL * 4096 * 2), "second chunk's y starts 8 rows on");
        Assert.That((int)(uint)l[1].Args[5].Bits, Is.EqualTo(5), "5 rows left");
        Assert.That(new LinearLauncher(CudaPrecision.Int8, 64, 4096, 25088, true).Choose(), Is.EqualTo(LinearLauncher.Path.Gemm));
        Assert.That(new LinearLauncher(CudaPrecision.Int8, 64, 10, 100, true).Choose(), Is.EqualTo(LinearLauncher.Path.Naive));
        var g = new LinearLauncher(CudaPrecision.Float16, 64, 4096, 25088, true).PlanGemm(132);
        Assert.That(g.Kernel.Name, Is.EqualTo("vgg_gemm_bias_relu_f16_64x64"));
        Assert.That(g.Splits, Is.GreaterThan(1));
    }
}
