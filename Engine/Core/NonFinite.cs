using System.Numerics;
using System.Runtime.InteropServices;

namespace Vgg.Engine;

/// <summary>
/// NaN and ±infinity in float32 data: weights checked at load, an INT8 session's inputs, a model's outputs. Vectorized
/// (x − x is 0 exactly for finite x and NaN otherwise), so scanning a whole VGG-16 (138 M weights) costs a pass over
/// memory, not a scalar loop.
/// </summary>
public static class NonFinite
{
    /// <summary>How many elements of <paramref name="values"/> are NaN or ±∞.</summary>
    public static long Count(ReadOnlySpan<float> values)
    {
        long n = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var v = MemoryMarshal.Cast<float, Vector<float>>(values);
            var finite = Vector<int>.Zero; // −1 per finite element, per lane (a span holds < 2^31 vectors: no overflow)
            foreach (var x in v) finite += Vector.Equals(x - x, Vector<float>.Zero);
            i = v.Length * Vector<float>.Count;
            n = i + (long)Vector.Sum(finite);
        }
        for (; i < values.Length; i++) if (!float.IsFinite(values[i])) n++;
        return n;
    }

    /// <summary>The index of the first NaN or ±∞ in <paramref name="values"/>, or −1 when every element is finite.</summary>
    public static int IndexOfFirst(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var v = MemoryMarshal.Cast<float, Vector<float>>(values);
            int k = 0;
            while (k < v.Length && Vector.EqualsAll(v[k] - v[k], Vector<float>.Zero)) k++;
            i = k * Vector<float>.Count; // the first vector holding one, or the scalar tail
        }
        for (; i < values.Length; i++) if (!float.IsFinite(values[i])) return i;
        return -1;
    }
}
