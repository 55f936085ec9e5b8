using BenchmarkDotNet.Attributes;
using Vgg.Engine;
using Vgg.Engine.Cpu.Reference;
using Vgg.Engine.IR;

namespace Vgg.Perf.Harness.Micro;

/// <summary>
/// Single ops of the reference executor at small VGG-like shapes: the "before" line that optimized
/// kernels are measured against, and a working example of an <see cref="IOpWork"/> suite. Work is counted
/// with <see cref="OpCostRegistry.Default"/>. Inputs are seeded uniform [−1, 1).
/// </summary>
public class ReferenceOpBenchmarks : IOpWork
{
    /// <summary>Which op: "conv3x3" (C→C, H×W, pad 1), "maxpool2x2", "linear" (C·H·W → 256).</summary>
    [Params("conv3x3", "maxpool2x2", "linear")]
    public string Op { get; set; } = "conv3x3";

    /// <summary>Channels C.</summary>
    [Params(32)]
    public int Channels { get; set; } = 32;

    /// <summary>Height and width.</summary>
    [Params(28)]
    public int Size { get; set; } = 28;

    private Node _node = null!;
    private Tensor?[] _args = [];
    private BenchLayer? _layer;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        Tensor Rand(params int[] s)
        {
            var v = new float[Tensor.Product(s)];
            for (int i = 0; i < v.Length; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
            return Tensor.From(v, s);
        }
        int c = Channels, h = Size;
        var x = Rand(1, c, h, h);
        switch (Op)
        {
            case "conv3x3":
                _node = new Node("conv", ConvOp.Conv2d(3, 1, 1), ["x", "w", "b"], ["y"]);
                _args = [x, Rand(c, c, 3, 3), Rand(c)];
                break;
            case "maxpool2x2":
                _node = new Node("pool", MaxPoolOp.MaxPool2d(2), ["x"], ["y"]);
                _args = [x];
                break;
            case "linear":
                x = Rand(1, c * h * h);
                _node = new Node("fc", GemmOp.Linear(), ["x", "w", "b"], ["y"]);
                _args = [x, Rand(256, c * h * h), Rand(256)];
                break;
            default:
                throw new ArgumentException($"unknown op '{Op}'");
        }
        var outs = ReferenceOps.Evaluate(_node, _args);
        _layer = new BenchLayer(0, _node.Name, _node.Op.OpType, _node.Op,
            _args.Select((a, i) => a is null ? null : new TensorArg(a.ShapeArray(), a.DType, i > 0)).ToArray(),
            outs.Select(o => new TensorArg(o.ShapeArray(), o.DType)).ToArray());
    }

    [Benchmark]
    public Tensor Evaluate() => ReferenceOps.Evaluate(_node, _args)[0];

    /// <inheritdoc/>
    public (long Flops, long Bytes) Work()
    {
        if (_layer is null) Setup();
        var c = OpCostRegistry.Default.Cost(_layer!);
        return (c.Flops, c.Bytes);
    }
}
