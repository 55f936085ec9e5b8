namespace Vgg.Engine.Cuda.Quantization;

/// <summary>
/// The engine's INT8 scheme, as the CUDA kernels (Kernels/common.cuh: vgg_quantize, vgg_requantize,
/// vgg_dequantize_acc) implement it and <see cref="Reference.Int8Reference"/> reproduces bit for bit.
/// See Engine/Cuda/QUANTIZATION.md for the whole description.
/// <list type="bullet">
/// <item>Symmetric: zero point 0 for activations and weights, so padding is the code 0.</item>
/// <item>Activations: one float32 scale per tensor, from calibration (max |x| over calibration inputs / 127);
/// codes in [-128, 127]: q = clamp(round_half_even(x / s), -128, 127), ONNX QuantizeLinear with zero point 0.</item>
/// <item>Weights: one float32 scale per output channel, s_w[k] = max |w[k, ...]| / 127; codes in [-127, 127].</item>
/// <item>Bias: int32 in accumulator units, b_q[k] = round_half_even(b[k] / (s_x · s_w[k])) computed in float64.</item>
/// <item>Accumulation: exact int32 (Σ x_q · w_q + b_q).</item>
/// <item>Requantization to the next tensor's scale s_y: m[k] = float32(s_x · s_w[k] / s_y) computed in float64;
/// y_q = clamp(round_half_even(float32(acc) ·f32 m[k]), -128, 127); ReLU as max(y_q, 0).</item>
/// <item>Dequantization (the logits, features-only outputs): d[k] = float32(s_x · s_w[k]);
/// y = float32(acc) ·f32 d[k]; ReLU as max(y, 0).</item>
/// </list>
/// The float32 products are single IEEE operations rounded to nearest even on both the GPU and the
/// CPU (no fused multiply-add can form), which is why the two agree exactly.
/// </summary>
public static class Int8Scheme
{
    /// <summary>Largest weight code (weights are symmetric in [-127, 127]).</summary>
    public const int WeightMax = 127;

    /// <summary>
    /// Activation code: clamp(round_half_even(x / scale), -128, 127) (ONNX QuantizeLinear, zero point 0).
    /// </summary>
    /// <param name="x">Real value.</param>
    /// <param name="scale">Per-tensor scale, positive and finite.</param>
    public static sbyte QuantizeActivation(float x, float scale) => (sbyte)ClampToInt(MathF.Round(x / scale, MidpointRounding.ToEven), -128f, 127f);

    /// <summary>The per-tensor activation scale for a calibrated range: maxAbs / 127 (1 when the range is empty or zero).</summary>
    public static float ActivationScale(float maxAbs) => maxAbs > 0 && float.IsFinite(maxAbs) ? maxAbs / 127f : 1f;

    /// <summary>
    /// Per-output-channel weight scales: s[k] = max |w[k, ...]| / 127 over each of the
    /// <paramref name="outChannels"/> equal rows of <paramref name="weights"/> (1 for an all-zero row).
    /// </summary>
    /// <exception cref="ArgumentException">The weight count is not a multiple of outChannels.</exception>
    public static float[] WeightScales(ReadOnlySpan<float> weights, int outChannels)
    {
        if (outChannels <= 0 || weights.Length % outChannels != 0)
            throw new ArgumentException($"{weights.Length} weights do not split into {outChannels} output channels");
        int per = weights.Length / outChannels;
        var s = new float[outChannels];
        for (int k = 0; k < outChannels; k++)
        {
            float m = 0;
            foreach (var v in weights.Slice(k * per, per)) m = MathF.Max(m, MathF.Abs(v));
            s[k] = m > 0 ? m / WeightMax : 1f;
        }
        return s;
    }

    /// <summary>Weight codes: clamp(round_half_even(w / s[k]), -127, 127), row k = output channel k.</summary>
    public static sbyte[] QuantizeWeights(ReadOnlySpan<float> weights, ReadOnlySpan<float> scales)
    {
        if (scales.Length == 0 || weights.Length % scales.Length != 0)
            throw new ArgumentException($"{weights.Length} weights do not split into {scales.Length} output channels");
        int per = weights.Length / scales.Length;
        var q = new sbyte[weights.Length];
        for (int i = 0; i < weights.Length; i++)
            q[i] = (sbyte)ClampToInt(MathF.Round(weights[i] / scales[i / per], MidpointRounding.ToEven), -WeightMax, WeightMax);
        return q;
    }

    /// <summary>Bias in accumulator units: round_half_even(b[k] / (s_x · s_w[k])) in float64, saturated to int32.</summary>
    public static int[] QuantizeBias(ReadOnlySpan<float> bias, float inputScale, ReadOnlySpan<float> weightScales)
    {
        if (bias.Length != weightScales.Length) throw new ArgumentException($"{bias.Length} biases for {weightScales.Length} output channels");
        var r = new int[bias.Length];
        for (int k = 0; k < bias.Length; k++)
        {
            double v = Math.Round(bias[k] / ((double)inputScale * weightScales[k]), MidpointRounding.ToEven);
            r[k] = (int)Math.Clamp(v, int.MinValue, int.MaxValue);
        }
        return r;
    }

    /// <summary>Requantization multipliers m[k] = float32(s_x · s_w[k] / s_y), computed in float64.</summary>
    public static float[] RequantizeMultipliers(float inputScale, ReadOnlySpan<float> weightScales, float outputScale)
    {
        var m = new float[weightScales.Length];
        for (int k = 0; k < m.Length; k++) m[k] = (float)((double)inputScale * weightScales[k] / outputScale);
        return m;
    }

    /// <summary>Dequantization factors d[k] = float32(s_x · s_w[k]), computed in float64.</summary>
    public static float[] DequantizeFactors(float inputScale, ReadOnlySpan<float> weightScales)
    {
        var d = new float[weightScales.Length];
        for (int k = 0; k < d.Length; k++) d[k] = (float)((double)inputScale * weightScales[k]);
        return d;
    }

    /// <summary>
    /// The requantizing epilogue (vgg_requantize): clamp(round_half_even(float32(acc) · m), -128, 127),
    /// then max(·, 0) with ReLU. <paramref name="acc"/> includes the bias.
    /// </summary>
    public static sbyte Requantize(int acc, float multiplier, bool relu)
    {
        float v = (float)acc * multiplier;
        int q = ClampToInt(MathF.Round(v, MidpointRounding.ToEven), -128f, 127f);
        return (sbyte)(relu ? Math.Max(q, 0) : q);
    }

    /// <summary>The dequantizing epilogue (vgg_dequantize_acc): float32(acc) · d, then max(·, 0) with ReLU.</summary>
    public static float Dequantize(int acc, float factor, bool relu)
    {
        float v = (float)acc * factor;
        return relu ? MathF.Max(v, 0f) : v;
    }

    /// <summary>
    /// Mean of int8 codes with the scale unchanged (the INT8 average pool): round_half_even(sum / count)
    /// computed in integers, saturated to [-128, 127].
    /// </summary>
    public static sbyte RoundedMean(int sum, int count)
    {
        int q = sum / count, r = sum - q * count;
        if (r < 0) { q -= 1; r += count; }
        if (2 * r > count || (2 * r == count && (q & 1) != 0)) q += 1;
        return (sbyte)Math.Clamp(q, -128, 127);
    }

    /// <summary>Clamps an integral float into [lo, hi] and converts it exactly (NaN, impossible here, gives lo).</summary>
    private static int ClampToInt(float integral, float lo, float hi) => (int)(float.IsNaN(integral) ? lo : Math.Clamp(integral, lo, hi));
}
