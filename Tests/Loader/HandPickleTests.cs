using System.Buffers.Binary;
using System.Text;
using Vgg.Engine.Loader.Checkpoints;

namespace Vgg.Engine.Tests.Loader;

/// <summary>
/// Pickles written opcode by opcode for what torch 1.13 cannot write: the rebuild functions of torch 2.x
/// (signatures from torch/_utils.py and torch/_tensor.py of 2.x: _rebuild_tensor_v3(storage, offset,
/// size, stride, requires_grad, backward_hooks, dtype, metadata=None), _rebuild_parameter_with_state(data,
/// requires_grad, backward_hooks, state), _rebuild_from_type_v2(func, new_type, args, state)) and a
/// storage typed torch.UntypedStorage, whose numel counts bytes.
/// </summary>
public class HandPickleTests
{
    /// <summary>Minimal protocol-2 pickle writer for the tests.</summary>
    private sealed class P
    {
        private readonly List<byte> _b = new() { 0x80, 2 };
        public P Op(char c) { _b.Add((byte)c); return this; }
        public P Op(byte b) { _b.Add(b); return this; }
        public P Global(string module, string name) { _b.Add((byte)'c'); _b.AddRange(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); return this; }
        public P Str(string s)
        {
            var u = Encoding.UTF8.GetBytes(s);
            _b.Add((byte)'X');
            var n = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(n, u.Length);
            _b.AddRange(n);
            _b.AddRange(u);
            return this;
        }
        public P Int(int v)
        {
            _b.Add((byte)'J');
            var n = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(n, v);
            _b.AddRange(n);
            return this;
        }
        public P Mark() => Op('(');
        public P Tuple() => Op('t');
        public P Reduce() => Op('R');
        public P EmptyOrderedDictCall() => Global("collections", "OrderedDict").Op(')').Reduce();
        /// <summary>BINPERSID of ('storage', module.name, key, 'cpu', numel).</summary>
        public P Storage(string module, string name, string key, int numel) =>
            Mark().Str("storage").Global(module, name).Str(key).Str("cpu").Int(numel).Tuple().Op('Q');
        public byte[] Stop() { _b.Add((byte)'.'); return _b.ToArray(); }
    }

    [Test]
    public void TorchTwoRebuildFunctions()
    {
        var p = new P().Op('}').Mark();
        // 'half_v3': _rebuild_parameter_with_state(_rebuild_tensor_v3(UntypedStorage '0' of 8 bytes, offset 1,
        //            (3,), (1,), False, OrderedDict(), torch.float16), True, OrderedDict(), {})
        p.Str("half_v3").Global("torch._utils", "_rebuild_parameter_with_state").Mark()
            .Global("torch._utils", "_rebuild_tensor_v3").Mark()
            .Storage("torch", "UntypedStorage", "0", 8).Int(1).Int(3).Op(0x85).Int(1).Op(0x85).Op(0x89).EmptyOrderedDictCall().Global("torch", "float16")
            .Tuple().Reduce()
            .Op(0x88).EmptyOrderedDictCall().Op('}').Tuple().Reduce();
        // 'from_type': _rebuild_from_type_v2(_rebuild_tensor_v2, torch._tensor.Tensor,
        //              (FloatStorage '1' of 4, 0, (2, 2), (1, 2), False, OrderedDict()), {})  -- transposed
        p.Str("from_type").Global("torch._tensor", "_rebuild_from_type_v2").Mark()
            .Global("torch._utils", "_rebuild_tensor_v2").Global("torch._tensor", "Tensor")
            .Mark().Storage("torch", "FloatStorage", "1", 4).Int(0).Int(2).Int(2).Op(0x86).Int(1).Int(2).Op(0x86).Op(0x89).EmptyOrderedDictCall().Tuple()
            .Op('}').Tuple().Reduce();
        // 'device': torch.device('cpu') is metadata, ignored.
        p.Str("device").Global("torch", "device").Str("cpu").Op(0x85).Reduce();
        var pkl = p.Op('u').Stop();

        var halves = new byte[8];
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteHalfLittleEndian(halves.AsSpan(2 * i), (Half)(0.5f * (i + 1))); // 0.5, 1, 1.5, 2
        var floats = new byte[16];
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteSingleLittleEndian(floats.AsSpan(4 * i), i + 1); // storage 1 2 3 4
        using var dir = new LoaderAssert.TempDir();
        var path = dir.File("torch2.pt", LoaderAssert.TorchZip("torch2", pkl, ("torch2/data/0", halves), ("torch2/data/1", floats), ("torch2/byteorder", "little"u8.ToArray())));

        var sd = WeightsFile.Read(path);
        Assert.That(sd.Keys.ToArray(), Is.EqualTo(new[] { "half_v3", "from_type" }));
        LoaderAssert.Tensor(sd, "half_v3", DType.Float16, new[] { 3 }, new[] { 1.0, 1.5, 2.0 }, 0);
        LoaderAssert.Tensor(sd, "from_type", DType.Float32, new[] { 2, 2 }, new[] { 1.0, 3, 2, 4 }, 0);
        Assert.That(sd.IgnoredEntries, Does.Contain("device (str)"));
    }

    [Test]
    public void QuantizedTensorIsNamedNotRefusedAsUnsafe()
    {
        // {'q': torch._utils._rebuild_qtensor(...)}: torch's own function, but a tensor kind we do not load.
        var pkl = new P().Op('}').Str("q").Global("torch._utils", "_rebuild_qtensor").Mark()
            .Storage("torch", "QInt8Storage", "0", 4).Int(0).Int(4).Op(0x85).Int(1).Op(0x85)
            .Mark().Global("torch", "per_tensor_affine").Int(1).Int(0).Tuple()
            .Op(0x89).EmptyOrderedDictCall().Tuple().Reduce().Op('s').Stop();
        using var dir = new LoaderAssert.TempDir();
        var path = dir.File("q.pt", LoaderAssert.TorchZip("archive", pkl, ("archive/data/0", new byte[4])));
        var e = Assert.Throws<ModelFormatException>(() => WeightsFile.Read(path))!;
        Assert.That(e, Is.Not.InstanceOf<UnsafePickleException>());
        Assert.That(e.Key, Is.EqualTo("q"));
        Assert.That(e.Message, Does.Contain("quantized tensor"));
    }

    [Test]
    public void BigEndianByteorderRecordIsHonoured()
    {
        // {'w': FloatStorage '0' of 2 elements} with the record byteorder = big and big-endian data.
        var pkl = new P().Op('}').Str("w").Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Storage("torch", "FloatStorage", "0", 2).Int(0).Int(2).Op(0x85).Int(1).Op(0x85).Op(0x89).EmptyOrderedDictCall().Tuple().Reduce()
            .Op('s').Stop();
        var data = new byte[8];
        BinaryPrimitives.WriteSingleBigEndian(data, 1.25f);
        BinaryPrimitives.WriteSingleBigEndian(data.AsSpan(4), -3.5f);
        using var dir = new LoaderAssert.TempDir();
        var path = dir.File("be.pt", LoaderAssert.TorchZip("archive", pkl, ("archive/data/0", data), ("archive/byteorder", "big"u8.ToArray())));
        LoaderAssert.Tensor(WeightsFile.Read(path), "w", DType.Float32, new[] { 2 }, new[] { 1.25, -3.5 }, 0);
    }
}
