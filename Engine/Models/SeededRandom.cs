using System.Runtime.InteropServices;
using System.Text;

namespace Vgg.Engine.Models;

/// <summary>
/// A counter-based random generator: value i of a stream is SplitMix64's output function applied to
/// key + (i + 1)·0x9E3779B97F4A7C15 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
/// OOPSLA 2014; the finaliser is Stafford's Mix13). Any element can be computed on its own, so large tensors
/// are filled in parallel chunks and the result does not depend on the chunking or the thread count.
/// </summary>
/// <remarks>
/// Normal variates use Box–Muller on the pair of uniforms (u1, u2) at counters 2j and 2j + 1: element 2j gets
/// r·cos(2πu2), element 2j + 1 gets r·sin(2πu2), r = sqrt(−2·ln u1), u1 in (0, 1], u2 in [0, 1), both with 53-bit
/// resolution. The logarithm and the sine and cosine are computed here (<see cref="DetMath"/>) from IEEE 754
/// additions, multiplications, divisions and square roots only, which every machine rounds identically (.NET does
/// not contract a·b + c into an FMA), so the values are bit-identical on every machine and operating system.
/// This is not torch's generator: seeded weights do not equal torch.manual_seed's.
/// </remarks>
public readonly struct SeededRandom
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private const int ChunkElements = 1 << 18;

    /// <summary>A stream with the given 64-bit key.</summary>
    public SeededRandom(ulong key) => Key = key;

    /// <summary>The stream key.</summary>
    public ulong Key { get; }

    /// <summary>
    /// The stream for one named tensor: key = Mix(seed + Mix(FNV-1a-64(UTF-8 name))). Each tensor's values
    /// depend only on the seed and its own name, not on which other tensors exist or their order.
    /// </summary>
    public static SeededRandom ForTensor(int seed, string name)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(name))
        {
            h ^= b;
            h *= 0x100000001B3UL;
        }
        return new SeededRandom(Mix((ulong)(uint)seed + Mix(h)));
    }

    /// <summary>SplitMix64's output function (Stafford Mix13).</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The 64-bit value at <paramref name="counter"/>.</summary>
    public ulong Next(ulong counter) => Mix(Key + (counter + 1) * Gamma);

    /// <summary>A uniform double in [0, 1) with 53-bit resolution.</summary>
    public double Uniform(ulong counter) => (Next(counter) >> 11) * (1.0 / (1UL << 53));

    /// <summary>Standard normal variate number <paramref name="index"/> of the stream (Box–Muller, see remarks).</summary>
    public double Normal(ulong index)
    {
        ulong pair = index >> 1;
        double u1 = ((Next(2 * pair) >> 11) + 1) * (1.0 / (1UL << 53));
        double u2 = (Next(2 * pair + 1) >> 11) * (1.0 / (1UL << 53));
        double r = Math.Sqrt(-2.0 * DetMath.Log(u1));
        DetMath.SinCos2Pi(u2, out double s, out double c);
        return (index & 1) == 0 ? r * c : r * s;
    }

    /// <summary>Fills a float32 tensor with mean + std·N(0, 1) (each value rounded to nearest float32), in parallel chunks.</summary>
    /// <exception cref="ArgumentException">The tensor is not float32.</exception>
    public void FillNormal(Tensor tensor, double mean, double std)
    {
        var rng = this;
        ForChunks(tensor, (span, start) =>
        {
            int i = 0;
            // whole pairs share one logarithm and one sine/cosine
            if ((start & 1) == 1) { span[0] = (float)(mean + std * rng.Normal((ulong)start)); i = 1; }
            for (; i + 1 < span.Length; i += 2)
            {
                ulong pair = ((ulong)start + (ulong)i) >> 1;
                double u1 = ((rng.Next(2 * pair) >> 11) + 1) * (1.0 / (1UL << 53));
                double u2 = (rng.Next(2 * pair + 1) >> 11) * (1.0 / (1UL << 53));
                double r = Math.Sqrt(-2.0 * DetMath.Log(u1));
                DetMath.SinCos2Pi(u2, out double s, out double c);
                span[i] = (float)(mean + std * (r * c));
                span[i + 1] = (float)(mean + std * (r * s));
            }
            if (i < span.Length) span[i] = (float)(mean + std * rng.Normal((ulong)start + (ulong)i));
        });
    }

    /// <summary>Fills a float32 tensor with lo + (hi − lo)·U[0, 1) (rounded to nearest float32).</summary>
    /// <exception cref="ArgumentException">The tensor is not float32.</exception>
    public void FillUniform(Tensor tensor, double lo, double hi)
    {
        var rng = this;
        ForChunks(tensor, (span, start) =>
        {
            for (int i = 0; i < span.Length; i++)
                span[i] = (float)(lo + (hi - lo) * rng.Uniform((ulong)start + (ulong)i));
        });
    }

    private delegate void ChunkAction(Span<float> span, long start);

    private static void ForChunks(Tensor tensor, ChunkAction action)
    {
        if (tensor.DType != DType.Float32)
            throw new ArgumentException($"seeded fill needs a float32 tensor, got {tensor}");
        byte[] buffer = tensor.Buffer;
        long n = tensor.ElementCount;
        int chunks = (int)((n + ChunkElements - 1) / ChunkElements);
        void Run(int k)
        {
            long start = (long)k * ChunkElements;
            int len = (int)Math.Min(ChunkElements, n - start);
            action(MemoryMarshal.Cast<byte, float>(buffer.AsSpan()).Slice((int)start, len), start);
        }
        if (chunks <= 1) { if (n > 0) Run(0); }
        else Parallel.For(0, chunks, Run);
    }
}

/// <summary>
/// Logarithm and sine/cosine from IEEE 754 basic operations only (+, −, ×, ÷, sqrt, exact bit manipulation),
/// so results are identical on every machine, unlike the platform's libm. Accuracy about 1e-16 relative
/// (series truncated below 1e-17), which is ample for random variates.
/// </summary>
public static class DetMath
{
    private const double Ln2 = 0.6931471805599453094172321;
    private const double HalfPi = 1.5707963267948966192313217;

    /// <summary>Natural logarithm of a positive, finite <paramref name="x"/>; x = m·2^e, m in [√½, √2], ln m = 2·atanh((m − 1)/(m + 1)).</summary>
    /// <exception cref="ArgumentOutOfRangeException">x ≤ 0, NaN or infinite.</exception>
    public static double Log(double x)
    {
        if (!(x > 0) || double.IsInfinity(x))
            throw new ArgumentOutOfRangeException(nameof(x), x, "Log needs a positive finite value");
        long bits = BitConverter.DoubleToInt64Bits(x);
        int e = (int)((bits >> 52) & 0x7FF);
        if (e == 0)
        {   // subnormal: scale by 2^54 exactly
            x *= 18014398509481984.0;
            bits = BitConverter.DoubleToInt64Bits(x);
            e = (int)((bits >> 52) & 0x7FF) - 54;
        }
        e -= 1023;
        double m = BitConverter.Int64BitsToDouble((bits & 0x000FFFFFFFFFFFFFL) | 0x3FF0000000000000L); // [1, 2)
        if (m > 1.4142135623730951) { m *= 0.5; e++; }
        double f = (m - 1.0) / (m + 1.0);
        double f2 = f * f;
        // atanh(f)/f = Σ f^(2k)/(2k+1), |f| ≤ 0.1716, f² ≤ 0.0295: 13 terms reach 1e-20
        double s = 1.0 / 25.0;
        s = s * f2 + 1.0 / 23.0;
        s = s * f2 + 1.0 / 21.0;
        s = s * f2 + 1.0 / 19.0;
        s = s * f2 + 1.0 / 17.0;
        s = s * f2 + 1.0 / 15.0;
        s = s * f2 + 1.0 / 13.0;
        s = s * f2 + 1.0 / 11.0;
        s = s * f2 + 1.0 / 9.0;
        s = s * f2 + 1.0 / 7.0;
        s = s * f2 + 1.0 / 5.0;
        s = s * f2 + 1.0 / 3.0;
        s = s * f2 + 1.0;
        return e * Ln2 + 2.0 * f * s;
    }

    /// <summary>sin(2πu) and cos(2πu) for u in [0, 1): quadrant from 4u (exact), then Taylor series on [0, π/4].</summary>
    public static void SinCos2Pi(double u, out double sin, out double cos)
    {
        double q = u * 4.0;              // exact scaling by a power of two
        int n = (int)Math.Floor(q);
        double t = q - n;                // in [0, 1), exact
        double s, c;
        if (t <= 0.5) SinCosSmall(t * HalfPi, out s, out c);
        else SinCosSmall((1.0 - t) * HalfPi, out c, out s); // sin(π/2 − a) = cos a
        switch (n & 3)
        {
            case 0: sin = s; cos = c; break;
            case 1: sin = c; cos = -s; break;
            case 2: sin = -s; cos = -c; break;
            default: sin = -c; cos = s; break;
        }
    }

    private static void SinCosSmall(double a, out double sin, out double cos)
    {
        // |a| ≤ π/4: terms up to a^19/19! and a^20/20! are below 1e-20
        double a2 = a * a;
        double s = -1.0 / 121645100408832000.0;       // −1/19!
        s = s * a2 + 1.0 / 355687428096000.0;         // 1/17!
        s = s * a2 - 1.0 / 1307674368000.0;           // −1/15!
        s = s * a2 + 1.0 / 6227020800.0;             // 1/13!
        s = s * a2 - 1.0 / 39916800.0;                // −1/11!
        s = s * a2 + 1.0 / 362880.0;                  // 1/9!
        s = s * a2 - 1.0 / 5040.0;                    // −1/7!
        s = s * a2 + 1.0 / 120.0;                     // 1/5!
        s = s * a2 - 1.0 / 6.0;                       // −1/3!
        sin = a + a * a2 * s;
        double c = 1.0 / 2432902008176640000.0;       // 1/20!
        c = c * a2 - 1.0 / 6402373705728000.0;        // −1/18!
        c = c * a2 + 1.0 / 20922789888000.0;          // 1/16!
        c = c * a2 - 1.0 / 87178291200.0;             // −1/14!
        c = c * a2 + 1.0 / 479001600.0;               // 1/12!
        c = c * a2 - 1.0 / 3628800.0;                 // −1/10!
        c = c * a2 + 1.0 / 40320.0;                   // 1/8!
        c = c * a2 - 1.0 / 720.0;                     // −1/6!
        c = c * a2 + 1.0 / 24.0;                      // 1/4!
        c = c * a2 - 0.5;
        cos = 1.0 + a2 * c;
    }
}
