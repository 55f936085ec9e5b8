using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Vgg.Engine.Models;
using Vgg.Engine.Tests.Common;

namespace Vgg.Engine.Tests.Imaging;

/// <summary>
/// One reference from Tests/Fixtures/imaging/references.json, written by make_imaging_fixtures.py with Pillow 9.4
/// and torchvision 0.14: the uint8 image torchvision hands to ToTensor (all of it, or every k-th row and column)
/// with its SHA-256, and the final float32 tensor's SHA-256 and a few seeded samples.
/// </summary>
public sealed class PilReference
{
    public required string Name { get; init; }
    public required string Input { get; init; }
    public required Preprocessing Pipeline { get; init; }
    /// <summary>Lossless input: our output must equal PIL's bit for bit.</summary>
    public required bool Exact { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    public required int Channels { get; init; }
    public required string U8Sha256 { get; init; }
    public required string TensorSha256 { get; init; }
    /// <summary>(c, y, x, value) of the float tensor [C, H, W].</summary>
    public required (int C, int Y, int X, float V)[] TensorSamples { get; init; }
    /// <summary>HWC uint8: every value (stride 1) or rows and columns 0, k, 2k, ... (stride k).</summary>
    public required byte[] U8 { get; init; }
    public required int Stride { get; init; }

    public int SampleHeight => (Height + Stride - 1) / Stride;
    public int SampleWidth => (Width + Stride - 1) / Stride;

    public override string ToString() => Name;

    /// <summary>The input file: shared test data (ignores the test when absent) or a committed fixture.</summary>
    public string ResolveInput()
    {
        var parts = Input.Split(':', 2);
        return parts[0] == "shared" ? TestData.Require(parts[1]) : TestData.Fixture("imaging/" + parts[1]);
    }

    private static readonly Lazy<IReadOnlyList<PilReference>> AllLazy = new(Load);

    public static IReadOnlyList<PilReference> All => AllLazy.Value;

    public static PilReference Get(string name) => All.Single(r => r.Name == name);

    public static IEnumerable<TestCaseData> Cases(Func<PilReference, bool> filter) =>
        All.Where(filter).Select(r => new TestCaseData(r.Name).SetName(r.Name.Replace('/', '_').Replace('.', '_')));

    private static IReadOnlyList<PilReference> Load()
    {
        var path = TestData.Fixture("imaging/references.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var list = new List<PilReference>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            int[]? resize = IntArray(c.GetProperty("resize"));
            int[]? crop = IntArray(c.GetProperty("crop"));
            float[]? mean = FloatArray(c.GetProperty("mean"));
            float[]? std = FloatArray(c.GetProperty("std"));
            var p = new Preprocessing
            {
                Color = c.GetProperty("color").GetString() == "L" ? ColorMode.Grayscale : ColorMode.Rgb,
                Resize = resize is null ? ResizeMode.None : resize.Length == 1 ? ResizeMode.ShorterSide : ResizeMode.Exact,
                ResizeHeight = resize is null ? 256 : resize[0],
                ResizeWidth = resize is null ? 256 : resize.Length == 1 ? resize[0] : resize[1],
                CropHeight = crop?[0] ?? 0,
                CropWidth = crop?[1] ?? 0,
                Mean = mean,
                Std = std,
                ApplyExifOrientation = c.GetProperty("exif").GetBoolean(),
            };
            bool full = c.TryGetProperty("u8", out var u8Full);
            var u8 = Inflate((full ? u8Full : c.GetProperty("u8_sample")).GetString()!);
            list.Add(new PilReference
            {
                Name = c.GetProperty("name").GetString()!,
                Input = c.GetProperty("input").GetString()!,
                Pipeline = p,
                Exact = c.GetProperty("exact").GetBoolean(),
                Height = c.GetProperty("height").GetInt32(),
                Width = c.GetProperty("width").GetInt32(),
                Channels = c.GetProperty("channels").GetInt32(),
                U8Sha256 = c.GetProperty("u8_sha256").GetString()!,
                TensorSha256 = c.GetProperty("tensor_sha256").GetString()!,
                TensorSamples = c.GetProperty("tensor_samples").EnumerateArray()
                    .Select(s => (s[0].GetInt32(), s[1].GetInt32(), s[2].GetInt32(), s[3].GetSingle())).ToArray(),
                U8 = u8,
                Stride = full ? 1 : c.GetProperty("sample_stride").GetInt32(),
            });
        }
        return list;
    }

    private static int[]? IntArray(JsonElement e) =>
        e.ValueKind == JsonValueKind.Null ? null : e.EnumerateArray().Select(v => v.GetInt32()).ToArray();

    private static float[]? FloatArray(JsonElement e) =>
        e.ValueKind == JsonValueKind.Null ? null : e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static byte[] Inflate(string base64)
    {
        using var z = new ZLibStream(new MemoryStream(Convert.FromBase64String(base64)), CompressionMode.Decompress);
        using var m = new MemoryStream();
        z.CopyTo(m);
        return m.ToArray();
    }

    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
}

/// <summary>Elementwise comparison of uint8 images with a readable failure (shape, worst index, worst values, first pairs).</summary>
public readonly record struct U8Diff(double Mean, int Max, long Count, int WorstIndex, byte Ours, byte Theirs, string FirstPairs)
{
    /// <summary>Compares <paramref name="ours"/> (HWC, w × h × c) sampled at every <paramref name="stride"/>-th row and column with <paramref name="theirs"/>.</summary>
    public static U8Diff Compare(byte[] ours, int h, int w, int c, byte[] theirs, int stride)
    {
        int sh = (h + stride - 1) / stride, sw = (w + stride - 1) / stride;
        if (theirs.Length != sh * sw * c)
            throw new AssertionException($"reference holds {theirs.Length} values, expected {sh}×{sw}×{c}");
        long sum = 0;
        int max = -1, worst = 0;
        var pairs = new List<string>();
        for (int y = 0; y < sh; y++)
            for (int x = 0; x < sw; x++)
                for (int k = 0; k < c; k++)
                {
                    int i = ((y * stride) * w + x * stride) * c + k;
                    int j = (y * sw + x) * c + k;
                    int d = Math.Abs(ours[i] - theirs[j]);
                    sum += d;
                    if (d > max) { max = d; worst = i; }
                    if (d != 0 && pairs.Count < 5) pairs.Add($"(y={y * stride},x={x * stride},c={k}: {ours[i]} vs {theirs[j]})");
                }
        long n = (long)sh * sw * c;
        int wi = worst;
        int wj = (((wi / c) / w / stride) * sw + ((wi / c) % w) / stride) * c + wi % c;
        return new U8Diff((double)sum / n, max, n, worst, ours[wi], theirs[wj], string.Join(" ", pairs));
    }

    public string Describe(int h, int w, int c)
    {
        int px = WorstIndex / c;
        return $"shape H×W×C {h}×{w}×{c}, {Count} values compared: mean |Δ| {Mean:F4}, max |Δ| {Max} at (y={px / w}, x={px % w}, c={WorstIndex % c}) ours {Ours} PIL {Theirs}; first differing pairs: {(FirstPairs.Length == 0 ? "none" : FirstPairs)}";
    }
}
