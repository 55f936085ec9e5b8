using System.Globalization;
using Vgg.Engine.Simulator;

namespace Vgg.Engine.Tests.Simulator;

/// <summary>
/// Runs hand-written PTX bodies. The kernel <c>t(.param .u64 t_out, .param .u64 t_in)</c> declares
/// %p0–15 (.pred), %h0–31 (.b16), %r0–63 (.b32), %rd0–31 (.b64), %f0–63 (.f32), %fd0–15 (.f64); before
/// the body %rd0 = out, %rd1 = in (global addresses) and %r0 = %tid.x.
/// </summary>
internal static class PtxHarness
{
    public const string Decls = ".reg .pred %p<16>;\n.reg .b16 %h<32>;\n.reg .b32 %r<64>;\n.reg .b64 %rd<32>;\n.reg .f32 %f<64>;\n.reg .f64 %fd<16>;";

    public static string Kernel(string body, string extraDecls = "") => $$"""
        .visible .entry t(.param .u64 t_out, .param .u64 t_in)
        {
        {{Decls}}
        {{extraDecls}}
        ld.param.u64 %rd0, [t_out];
        ld.param.u64 %rd1, [t_in];
        mov.u32 %r0, %tid.x;
        {{body}}
        ret;
        }
        """;

    public static PtxKernel Compile(string body, string extraDecls = "", string moduleScope = "")
        => SimTestUtil.Snippet(moduleScope + "\n" + Kernel(body, extraDecls)).GetKernel("t");

    /// <summary>Runs the body and returns the output buffer (outBytes, initially 0xFF bytes) as 32-bit words.</summary>
    public static uint[] Run32(string body, int outWords, Dim3? block = null, Dim3? grid = null, byte[]? input = null, int dynShared = 0, string extraDecls = "", string moduleScope = "", SimDevice? dev = null)
    {
        var bytes = RunBytes(body, outWords * 4, block, grid, input, dynShared, extraDecls, moduleScope, dev, out _);
        var r = new uint[outWords];
        Buffer.BlockCopy(bytes, 0, r, 0, bytes.Length);
        return r;
    }

    public static ulong[] Run64(string body, int outWords, Dim3? block = null, byte[]? input = null, string extraDecls = "")
    {
        var bytes = RunBytes(body, outWords * 8, block, null, input, 0, extraDecls, "", null, out _);
        var r = new ulong[outWords];
        Buffer.BlockCopy(bytes, 0, r, 0, bytes.Length);
        return r;
    }

    public static byte[] RunBytes(string body, int outBytes, Dim3? block, Dim3? grid, byte[]? input, int dynShared, string extraDecls, string moduleScope, SimDevice? dev, out LaunchReport report)
    {
        var k = Compile(body, extraDecls, moduleScope);
        dev ??= SimTestUtil.Device();
        var outPtr = dev.Allocate(outBytes);
        var inPtr = dev.Upload(input ?? new byte[16]);
        report = dev.Launch(k, grid ?? new Dim3(1), block ?? new Dim3(1), dynShared, outPtr, inPtr);
        return dev.Download<byte>(outPtr, outBytes);
    }

    /// <summary>A 0f literal for <paramref name="x"/>.</summary>
    public static string F(float x) => "0f" + BitConverter.SingleToUInt32Bits(x).ToString("X8", CultureInfo.InvariantCulture);

    /// <summary>A 0d literal for <paramref name="x"/>.</summary>
    public static string Dd(double x) => "0d" + BitConverter.DoubleToUInt64Bits(x).ToString("X16", CultureInfo.InvariantCulture);

    public static float AsF(uint bits) => BitConverter.UInt32BitsToSingle(bits);
    public static uint Bits(float f) => BitConverter.SingleToUInt32Bits(f);
    public static ushort HBits(double v) => BitConverter.HalfToUInt16Bits((Half)v);
    public static double FromH(uint bits) => (double)BitConverter.UInt16BitsToHalf((ushort)bits);
}
