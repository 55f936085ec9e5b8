using System.Collections.Concurrent;
using Vgg.Engine.Simulator.Exec;
using Vgg.Engine.Simulator.Ptx;

namespace Vgg.Engine.Simulator;

/// <summary>
/// A PTX module (the text NVRTC's nvrtcGetPTX returns) parsed for simulation. Kernels are decoded on
/// first use by <see cref="GetKernel"/>; module-scope .global/.const variables get fixed simulated
/// addresses and are instantiated per <see cref="SimDevice"/> on first launch.
/// </summary>
public sealed class PtxModule
{
    private static int _nextId;
    private readonly ConcurrentDictionary<string, PtxKernel> _kernels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _globalAddresses = new(StringComparer.Ordinal);
    private readonly List<(ulong Address, byte[] Data)> _segments = [];

    internal readonly PtxParser Parser;

    private PtxModule(PtxParser parser, string name)
    {
        Parser = parser;
        Name = name;
        int id = Interlocked.Increment(ref _nextId);
        ulong next = AddressMap.ModuleSegmentBase + (ulong)id * AddressMap.WindowSize;
        foreach (var v in parser.Globals)
        {
            if (v.Space is not ("global" or "const")) continue;
            if (v.IsExtern) continue;
            next = (next + 255) & ~255UL;
            var data = new byte[v.SizeBytes];
            v.Init?.CopyTo(data, 0);
            _globalAddresses[v.Name] = next;
            _segments.Add((next, data));
            next += (ulong)Math.Max(1, v.SizeBytes) + 256;
        }
    }

    /// <summary>Parses <paramref name="ptx"/>.</summary>
    /// <param name="ptx">PTX text (ISA 6.0 to 8.x as NVRTC emits it, 64-bit addressing).</param>
    /// <param name="name">Name used in error messages (e.g. the .cu file name).</param>
    /// <exception cref="PtxParseException">The text does not parse; names the line and what was expected.</exception>
    public static PtxModule Parse(string ptx, string name = "module.ptx")
    {
        ArgumentNullException.ThrowIfNull(ptx);
        return new PtxModule(PtxParser.Parse(ptx, name), name);
    }

    public string Name { get; }

    /// <summary>The .version directive, e.g. "7.8".</summary>
    public string Version => Parser.Version;

    /// <summary>The .target directive, e.g. "sm_80".</summary>
    public string Target => Parser.Target;

    /// <summary>Names of the .entry functions (kernels) in the module, in order.</summary>
    public IReadOnlyList<string> KernelNames => Parser.Functions.Where(f => f.IsEntry && f.HasBody).Select(f => f.Name).ToList();

    internal IReadOnlyDictionary<string, ulong> GlobalAddresses => _globalAddresses;

    internal IEnumerable<(ulong, byte[])> GlobalSegments() => _segments;

    /// <summary>The kernel named <paramref name="name"/>, decoded for execution (cached).</summary>
    /// <exception cref="KeyNotFoundException">No .entry of that name.</exception>
    /// <exception cref="PtxUnsupportedInstructionException">The kernel uses an instruction or form the simulator does not implement ("unsupported instruction X at line N of kernel K").</exception>
    public PtxKernel GetKernel(string name)
    {
        if (_kernels.TryGetValue(name, out var k)) return k;
        var fn = Parser.Functions.FirstOrDefault(f => f.IsEntry && f.HasBody && f.Name == name)
                 ?? throw new KeyNotFoundException($"{Name}: no kernel (.entry) named '{name}'; the module has {string.Join(", ", KernelNames)}");
        var code = Decoder.Decode(this, fn);
        return _kernels.GetOrAdd(name, _ => new PtxKernel(this, code));
    }
}

/// <summary>A decoded kernel: launch it on a <see cref="SimDevice"/>.</summary>
public sealed class PtxKernel
{
    internal PtxKernel(PtxModule module, KernelCode code)
    {
        Module = module;
        Code = code;
    }

    public PtxModule Module { get; }
    internal KernelCode Code { get; }

    public string Name => Code.Name;

    /// <summary>Parameters in order: name and size in bytes.</summary>
    public IReadOnlyList<(string Name, int SizeBytes)> Parameters => Code.Params.Select(p => (p.Name, p.Size)).ToList();

    /// <summary>Static shared memory per block, bytes.</summary>
    public int StaticSharedBytes => Code.StaticSharedBytes;

    /// <summary>Local memory (stack, spilled arrays) per thread, bytes.</summary>
    public int LocalBytesPerThread => Code.LocalBytes;

    /// <summary>Registers the PTX declares (virtual registers before ptxas allocation).</summary>
    public int DeclaredRegisters => Code.DeclaredRegisters;

    /// <summary>Instructions after decoding.</summary>
    public int InstructionCount => Code.Code.Length;
}
