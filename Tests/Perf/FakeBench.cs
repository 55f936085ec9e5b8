using Vgg.Perf.Harness;

namespace Vgg.Engine.Tests.Perf;

/// <summary>A clock in milliseconds that only fake targets move: runs take exactly the time the test says.</summary>
internal sealed class FakeClock
{
    public double Now;
    public double Read() => Now;
}

/// <summary>
/// A bench target whose runs advance a <see cref="FakeClock"/> by <c>baseMs · (1 + drift · calls so far on the clock)</c>,
/// logging each call, so ordering, stopping rules and ratios can be checked exactly with no real timing.
/// </summary>
internal sealed class FakeTarget(string name, FakeClock clock, double baseMs, List<string> log, Func<int>? globalCalls = null,
    double drift = 0, float outputScale = 1f, BenchMode[]? modes = null, PlannedMemory? planned = null, long allocateBytes = 0) : IBenchTarget
{
    private float[] _out = [];
    private int _batch;
    private unsafe byte* _mem;

    public string Name => name;
    public string Backend => "fake";
    public string Precision => "fp32";
    public string Description => $"fake target {name}: {baseMs} ms per run";
    public IReadOnlyList<BenchMode> Modes => modes ?? [BenchMode.Eager];
    public PlannedMemory? PlannedMemory => planned;
    public ReadOnlySpan<float> Output => _out;
    public List<(int Batch, BenchMode Mode)> Prepared { get; } = new();
    public int Runs { get; private set; }

    public int[] InputShape(int batch) => [batch, 3, 4, 4];

    public unsafe void Prepare(int batch, BenchMode mode, ReadOnlySpan<float> input)
    {
        Prepared.Add((batch, mode));
        _batch = batch;
        // output: 10 values per image derived from the input, scaled (so two fakes can disagree by a known amount)
        _out = new float[batch * 10];
        for (int i = 0; i < _out.Length; i++) _out[i] = input[i % input.Length] * outputScale;
        if (allocateBytes > 0 && _mem == null)
        {
            _mem = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)allocateBytes);
            for (long i = 0; i < allocateBytes; i += 4096) _mem[i] = 1; // touch every page: resident
        }
    }

    public void Run()
    {
        int n = globalCalls?.Invoke() ?? Runs;
        clock.Now += baseMs * _batch * (1 + drift * n);
        log.Add(name);
        Runs++;
    }

    public LayerTimings? ProfileLayers(int runs)
    {
        var conv = new BenchLayer(0, "conv", "Conv", Vgg.Engine.IR.ConvOp.Conv2d(3, 1, 1),
            [new TensorArg([_batch, 3, 4, 4], DType.Float32), new TensorArg([8, 3, 3, 3], DType.Float32, true)],
            [new TensorArg([_batch, 8, 4, 4], DType.Float32)]);
        var relu = new BenchLayer(1, "relu", "Relu", new Vgg.Engine.IR.UnaryOp(Vgg.Engine.IR.UnaryKind.Relu),
            [new TensorArg([_batch, 8, 4, 4], DType.Float32)], [new TensorArg([_batch, 8, 4, 4], DType.Float32)]);
        var c = new StepTimeCollector();
        for (int r = 0; r < runs; r++)
        {
            c.OnStep(0, "conv", "direct", 0.75 * baseMs);
            c.OnStep(1, "relu", "", 0.25 * baseMs);
        }
        return c.ToTimings([conv, relu], runs, "fake");
    }

    public unsafe void Dispose()
    {
        if (_mem != null) System.Runtime.InteropServices.NativeMemory.Free(_mem);
        _mem = null;
    }
}
