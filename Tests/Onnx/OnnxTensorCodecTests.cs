using Google.Protobuf;
using Vgg.Engine.Loader.Onnx;
using Vgg.Engine.Loader.Onnx.Proto;

namespace Vgg.Engine.Tests.Onnx;

/// <summary>
/// TensorProto decoding for every storage form onnx.proto allows for the engine's dtypes, and encoding as
/// raw_data. Expected bytes are written out by hand from the spec's packing rules.
/// </summary>
[TestFixture]
public class OnnxTensorCodecTests
{
    private static TensorProto Proto(int type, params long[] dims)
    {
        var t = new TensorProto { Name = "t", DataType = type };
        t.Dims.AddRange(dims);
        return t;
    }

    private static Tensor Decode(TensorProto p) => OnnxTensors.FromProto(p, null, "test.onnx");

    [Test]
    public void Int32Data_CarriesNarrowTypesAndHalfFloatBitPatterns()
    {
        // float16 1.0 = 0x3C00, -2.0 = 0xC000; bfloat16 1.0 = 0x3F80, -2.0 = 0xC000 (bit patterns in int32_data).
        var f16 = Proto(10, 2); f16.Int32Data.AddRange(new[] { 0x3C00, 0xC000 });
        Assert.That(Decode(f16).ToFloatArray(), Is.EqualTo(new[] { 1f, -2f }));
        var bf16 = Proto(16, 2); bf16.Int32Data.AddRange(new[] { 0x3F80, 0xC000 });
        Assert.That(Decode(bf16).ToFloatArray(), Is.EqualTo(new[] { 1f, -2f }));
        var i8 = Proto(3, 3); i8.Int32Data.AddRange(new[] { -128, 0, 127 });
        Assert.That(Decode(i8).AsSpan<sbyte>().ToArray(), Is.EqualTo(new sbyte[] { -128, 0, 127 }));
        var u8 = Proto(2, 2); u8.Int32Data.AddRange(new[] { 0, 255 });
        Assert.That(Decode(u8).AsSpan<byte>().ToArray(), Is.EqualTo(new byte[] { 0, 255 }));
        var i16 = Proto(5, 2); i16.Int32Data.AddRange(new[] { -32768, 32767 });
        Assert.That(Decode(i16).AsSpan<short>().ToArray(), Is.EqualTo(new short[] { -32768, 32767 }));
        var u16 = Proto(4, 1); u16.Int32Data.Add(65535);
        Assert.That(Decode(u16).AsSpan<ushort>().ToArray(), Is.EqualTo(new ushort[] { 65535 }));
        var b = Proto(9, 3); b.Int32Data.AddRange(new[] { 1, 0, 1 });
        Assert.That(Decode(b).Bytes.ToArray(), Is.EqualTo(new byte[] { 1, 0, 1 }));
        var i32 = Proto(6, 2); i32.Int32Data.AddRange(new[] { int.MinValue, 7 });
        Assert.That(Decode(i32).AsSpan<int>().ToArray(), Is.EqualTo(new[] { int.MinValue, 7 }));
    }

    [Test]
    public void TypedFields_FloatInt64DoubleUint64()
    {
        var f = Proto(1, 2, 1); f.FloatData.AddRange(new[] { 1.5f, -0.25f });
        Assert.That(Decode(f).ToFloatArray(), Is.EqualTo(new[] { 1.5f, -0.25f }));
        var l = Proto(7, 2); l.Int64Data.AddRange(new[] { long.MinValue, 3L });
        Assert.That(Decode(l).ToInt64Array(), Is.EqualTo(new[] { long.MinValue, 3L }));
        var d = Proto(11, 1); d.DoubleData.Add(Math.PI);
        Assert.That(Decode(d).AsSpan<double>()[0], Is.EqualTo(Math.PI));
        var u32 = Proto(12, 1); u32.Uint64Data.Add(uint.MaxValue);
        Assert.That(Decode(u32).AsSpan<uint>()[0], Is.EqualTo(uint.MaxValue));
        var u64 = Proto(13, 1); u64.Uint64Data.Add(ulong.MaxValue);
        Assert.That(Decode(u64).AsSpan<ulong>()[0], Is.EqualTo(ulong.MaxValue));
        var scalar = Proto(1); scalar.FloatData.Add(42f);
        var s = Decode(scalar);
        Assert.That((s.Rank, s.ToFloatArray()[0]), Is.EqualTo((0, 42f)), "no dims: a 0-d scalar");
    }

    [Test]
    public void RawData_LittleEndianFixedWidth_BoolNormalized()
    {
        var f = Proto(1, 2); f.RawData = ByteString.CopyFrom(new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0 });
        Assert.That(Decode(f).ToFloatArray(), Is.EqualTo(new[] { 1f, -2f }));
        var b = Proto(9, 3); b.RawData = ByteString.CopyFrom(new byte[] { 0, 1, 7 });
        Assert.That(Decode(b).Bytes.ToArray(), Is.EqualTo(new byte[] { 0, 1, 1 }));
        var empty = Proto(1, 0, 3);
        Assert.That(Decode(empty).ElementCount, Is.EqualTo(0), "an empty tensor needs no data");
    }

    [Test]
    public void EncodeThenDecode_IsBitExactForEveryDType()
    {
        var rng = new Random(5);
        foreach (var dt in Enum.GetValues<DType>())
        {
            var t = new Tensor(dt, new[] { 3, 2 });
            rng.NextBytes(t.Bytes);
            if (dt == DType.Bool) for (int i = 0; i < t.Bytes.Length; i++) t.Bytes[i] &= 1;
            var p = OnnxTensors.ToProto(t, "w");
            Assert.That(p.HasRawData, Is.True);
            var back = Decode(p);
            Assert.That(back.ToString(), Is.EqualTo(t.ToString()), dt.Name());
            Assert.That(back.Bytes.SequenceEqual(t.Bytes), Is.True, dt.Name());
        }
    }

    [Test]
    public void Mismatches_NameTheTensor()
    {
        var few = Proto(1, 3); few.FloatData.AddRange(new[] { 1f, 2f });
        var e = Assert.Throws<ModelFormatException>(() => Decode(few))!;
        Assert.That((e.Key, e.Message.Contains("float_data holds 2 elements", StringComparison.Ordinal)), Is.EqualTo(("t", true)));
        var none = Proto(7, 2);
        Assert.That(Assert.Throws<ModelFormatException>(() => Decode(none))!.Message, Does.Contain("no data"));
        var neg = Proto(1, -1);
        Assert.That(Assert.Throws<ModelFormatException>(() => Decode(neg))!.Message, Does.Contain("dimension 0 is -1"));
        var seg = Proto(1, 1); seg.Segment = new TensorProto.Types.Segment { Begin = 0, End = 1 }; seg.FloatData.Add(1);
        Assert.That(Assert.Throws<ModelFormatException>(() => Decode(seg))!.Message, Does.Contain("segment"));
        var huge = Proto(1, 1L << 20, 1L << 20); // 4 TiB of float32
        Assert.That(Assert.Throws<ModelFormatException>(() => Decode(huge))!.Message, Does.Contain("more than one tensor buffer can hold"));
    }

    [TestCase(14), TestCase(8), TestCase(17), TestCase(22), TestCase(0)]
    public void TypesWithoutAnEngineDType_AreRefusedByName(int type)
    {
        var p = Proto(type, 1);
        var e = Assert.Throws<UnsupportedDataTypeException>(() => Decode(p))!;
        Assert.That(e.Message, Does.Contain(OnnxTensors.TypeName(type)));
    }
}
