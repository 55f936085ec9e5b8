namespace Vgg.Engine.Cuda.Compile;

/// <summary>
/// One kernel entry point and how it is launched: block size, dynamic shared memory and the
/// occupancy it was written for. The launchers take these numbers from here; the CI checks assert
/// that ptxas's register count allows <see cref="TargetBlocksPerSm"/>.
/// </summary>
/// <param name="Source">The .cu file ("conv3x3_f16.cu").</param>
/// <param name="Name">The extern "C" name ("vgg_conv3x3_bias_relu_f16_128x128").</param>
/// <param name="Threads">Threads per block.</param>
/// <param name="DynamicSharedBytes">Dynamic shared memory per block, bytes (0 when the kernel uses only static shared memory).</param>
/// <param name="TargetBlocksPerSm">Blocks per SM the register budget must allow (the __launch_bounds__ minimum).</param>
/// <param name="Purpose">One line: what it computes and when the planner picks it.</param>
public sealed record KernelInfo(string Source, string Name, int Threads, int DynamicSharedBytes, int TargetBlocksPerSm, string Purpose);

/// <summary>Every kernel in Kernels/*.cu, with its launch configuration.</summary>
public static class KernelCatalog
{
    /// <summary>Dynamic shared memory of a tcgemm.cuh tile: STAGES·(BM+BN)·80 bytes (VGG_TC_SMEM_BYTES).</summary>
    public static int TensorCoreSharedBytes(int bm, int bn, int stages = 3) => stages * (bm + bn) * 80;

    private static readonly KernelInfo[] Entries = Build().ToArray();
    private static readonly Dictionary<string, KernelInfo> ByName = Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);

    /// <summary>All entries, grouped by source file.</summary>
    public static IReadOnlyList<KernelInfo> All => Entries;

    /// <summary>The source files that define kernels.</summary>
    public static IReadOnlyList<string> Sources => Entries.Select(e => e.Source).Distinct().ToList();

    /// <summary>The entry <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such kernel.</exception>
    public static KernelInfo Get(string name) =>
        ByName.TryGetValue(name, out var k) ? k : throw new KeyNotFoundException($"no kernel '{name}' in the catalog");

    private static IEnumerable<KernelInfo> Build()
    {
        int big = TensorCoreSharedBytes(128, 128), small = TensorCoreSharedBytes(64, 64);
        foreach (var (src, p, what) in new[] { ("conv3x3_f16.cu", "f16", "FP16 tensor-core"), ("conv3x3_i8.cu", "i8", "INT8 tensor-core") })
        {
            yield return new(src, $"vgg_conv3x3_bias_relu_{p}_128x128", 256, big, 2, $"3x3/1/1 conv, {what} implicit GEMM, 128x128 tiles: large layers");
            yield return new(src, $"vgg_conv3x3_bias_relu_{p}_64x64", 128, small, 4, $"3x3/1/1 conv, {what} implicit GEMM, 64x64 tiles: small layers, split-K");
            yield return new(src, $"vgg_conv3x3_bias_relu_pool2_{p}_128x128", 256, big, 2, $"3x3/1/1 conv + fused 2x2/2 max-pool, {what}, 128x128 tiles");
            yield return new(src, $"vgg_conv3x3_bias_relu_pool2_{p}_64x64", 128, small, 4, $"3x3/1/1 conv + fused 2x2/2 max-pool, {what}, 64x64 tiles");
        }
        yield return new("conv3x3_f32.cu", "vgg_conv3x3_bias_relu_f32_128x128", 256, 0, 2, "3x3/1/1 conv, FP32 implicit GEMM, 128x128 tiles: large layers");
        yield return new("conv3x3_f32.cu", "vgg_conv3x3_bias_relu_f32_64x64", 256, 0, 2, "3x3/1/1 conv, FP32 implicit GEMM, 64x64 tiles: small layers, split-K");
        yield return new("conv3x3_f32.cu", "vgg_conv3x3_bias_relu_pool2_f32_128x128", 256, 0, 2, "3x3/1/1 conv + fused 2x2/2 max-pool, FP32, 128x128 tiles");
        yield return new("conv3x3_f32.cu", "vgg_conv3x3_bias_relu_pool2_f32_64x64", 256, 0, 2, "3x3/1/1 conv + fused 2x2/2 max-pool, FP32, 64x64 tiles");

        yield return new("gemm.cu", "vgg_gemm_bias_relu_f32_128x128", 256, 0, 2, "linear layer, FP32 GEMM, M > 64");
        yield return new("gemm.cu", "vgg_gemm_bias_relu_f32_64x64", 256, 0, 2, "linear layer, FP32 GEMM, M <= 64, split-K");
        yield return new("gemm.cu", "vgg_gemm_bias_relu_f16_128x128", 256, big, 2, "linear layer, FP16 tensor-core GEMM, M > 64");
        yield return new("gemm.cu", "vgg_gemm_bias_relu_f16_64x64", 128, small, 4, "linear layer, FP16 tensor-core GEMM, M <= 64, split-K");
        yield return new("gemm.cu", "vgg_gemm_bias_relu_i8_128x128", 256, big, 2, "linear layer, INT8 tensor-core GEMM, M > 64");
        yield return new("gemm.cu", "vgg_gemm_bias_relu_i8_64x64", 128, small, 4, "linear layer, INT8 tensor-core GEMM, M <= 64, split-K");

        foreach (var p in new[] { "f32", "f16", "i8" })
            yield return new("splitk.cu", $"vgg_splitk_epilogue_{p}", 256, 0, 4, $"split-K reduction + epilogue ({p} path)");

        foreach (var p in new[] { "f32", "f16", "i8" })
            foreach (var nb in new[] { 1, 2, 4, 8 })
                yield return new("gemv.cu", $"vgg_gemv_bias_relu_{p}_nb{nb}", 256, 0, 4, $"linear layer at batch <= {nb}, {p} weights streamed at memory bandwidth");

        foreach (var p in new[] { "f32", "f16", "i8" })
        {
            yield return new("pool.cu", $"vgg_maxpool_nhwc_{p}", 256, 0, 4, $"max-pool, any kernel/stride/padding/dilation/ceil_mode, NHWC {p}");
            yield return new("pool.cu", $"vgg_adaptive_avgpool_nhwc_{p}", 256, 0, 4, $"adaptive / global average pool, NHWC {p}");
        }
        yield return new("softmax.cu", "vgg_softmax_f32", 256, 0, 4, "softmax over one axis");
        yield return new("softmax.cu", "vgg_log_softmax_f32", 256, 0, 4, "log-softmax over one axis");

        foreach (var p in new[] { "f32", "f16", "i8" })
        {
            yield return new("convert.cu", $"vgg_nchw_f32_to_nhwc_{p}", 256, 0, 4, $"network input: NCHW f32 -> NHWC {p} with channel padding");
            yield return new("convert.cu", $"vgg_nhwc_{p}_to_nchw_f32", 256, 0, 4, $"NHWC {p} -> NCHW f32 (outputs)");
            yield return new("convert.cu", $"vgg_relu_{p}", 256, 0, 4, $"unfused ReLU, {p}");
        }
        foreach (var b in new[] { "b1", "b2", "b4" })
            yield return new("convert.cu", $"vgg_nhwc_to_nchw_{b}", 256, 0, 4, "NHWC -> NCHW permutation before Flatten");
        yield return new("convert.cu", "vgg_convert_f32_to_f16", 256, 0, 4, "f32 -> f16, round to nearest even");
        yield return new("convert.cu", "vgg_convert_f16_to_f32", 256, 0, 4, "f16 -> f32");
        yield return new("convert.cu", "vgg_quantize_f32_i8", 256, 0, 4, "quantize, per-tensor scale");
        yield return new("convert.cu", "vgg_dequantize_i8_f32", 256, 0, 4, "dequantize, per-tensor scale");
        yield return new("convert.cu", "vgg_quantize_rows_f32_i8", 256, 0, 4, "quantize weights, per-output-channel scales");
        yield return new("convert.cu", "vgg_dequantize_rows_i8_f32", 256, 0, 4, "dequantize weights, per-output-channel scales");

        foreach (var p in new[] { "f32", "f16", "i8" })
        {
            yield return new("conv_general.cu", $"vgg_conv_general_{p}", 256, 0, 4, $"any conv (kernel, stride, padding, dilation, groups), direct, {p}: the slow path");
            yield return new("conv_general.cu", $"vgg_gemm_naive_{p}", 256, 0, 4, $"linear layer of any shape, {p}: the slow path");
        }
    }
}

/// <summary>
/// Per-architecture limits used to turn a resource report into an occupancy (CUDA C++ Programming
/// Guide, "Compute Capabilities" table; 1 KiB of shared memory per block is reserved by the system
/// on 8.x and 9.0).
/// </summary>
/// <param name="Arch">10·major + minor.</param>
/// <param name="SharedPerSm">Shared memory per SM usable by blocks, bytes.</param>
/// <param name="SharedPerBlockOptin">Largest dynamic shared memory one block can opt in to, bytes.</param>
/// <param name="MaxThreadsPerSm">Resident threads per SM.</param>
/// <param name="MaxBlocksPerSm">Resident blocks per SM.</param>
public sealed record ArchLimits(int Arch, int SharedPerSm, int SharedPerBlockOptin, int MaxThreadsPerSm, int MaxBlocksPerSm)
{
    /// <summary>32-bit registers per SM (65,536 on every 8.x and 9.0 part).</summary>
    public int RegistersPerSm => 65536;

    /// <summary>The limits of sm_80, sm_86, sm_87, sm_89 or sm_90.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Another architecture.</exception>
    public static ArchLimits For(int arch) => arch switch
    {
        80 => new(80, 167936, 166912, 2048, 32),
        86 => new(86, 102400, 101376, 1536, 16),
        87 => new(87, 167936, 166912, 1536, 16),
        89 => new(89, 102400, 101376, 1536, 24),
        90 => new(90, 233472, 232448, 2048, 32),
        _ => throw new ArgumentOutOfRangeException(nameof(arch), arch, "known architectures: 80, 86, 87, 89, 90"),
    };

    /// <summary>Blocks per SM that the register file allows (registers allocated per warp in units of 256).</summary>
    public int BlocksByRegisters(int registersPerThread, int threads)
    {
        int perWarp = (registersPerThread * 32 + 255) / 256 * 256;
        int warps = (threads + 31) / 32;
        return registersPerThread == 0 ? MaxBlocksPerSm : RegistersPerSm / (perWarp * warps);
    }

    /// <summary>Resident blocks per SM given registers, shared memory and threads.</summary>
    public int BlocksPerSm(int registersPerThread, int threads, int sharedBytesPerBlock)
    {
        int byRegs = BlocksByRegisters(registersPerThread, threads);
        int bySmem = sharedBytesPerBlock == 0 ? MaxBlocksPerSm : SharedPerSm / (sharedBytesPerBlock + 1024);
        int byThreads = MaxThreadsPerSm / threads;
        return Math.Min(Math.Min(byRegs, bySmem), Math.Min(byThreads, MaxBlocksPerSm));
    }
}
