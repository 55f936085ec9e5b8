namespace Vgg.Engine.Quantization;

/// <summary>
/// Numeric precision of a session's plan (<c>SessionOptions.Precision</c>, <c>PlannerOptions.Precision</c>).
/// See Engine/Quantization/PRECISION.md for what each one means on each backend.
/// </summary>
public enum Precision
{
    /// <summary>IEEE float32 weights, activations and accumulation (the reference).</summary>
    Fp32,

    /// <summary>
    /// FP16 weights. On the CPU: every conv and linear weight is rounded to IEEE binary16 (round to
    /// nearest even); linear weights are stored as FP16 and widened to float32 in the kernel (half the
    /// bytes the batch-1 classifier GEMV streams), conv weights keep their FP16-rounded values in the
    /// float32 panels of the conv kernels; activations, biases and accumulation stay float32. On CUDA:
    /// FP16 tensor cores with FP32 accumulation.
    /// </summary>
    Fp16,

    /// <summary>
    /// INT8 convolutions and linear layers with calibrated per-tensor activation scales and per-output-channel
    /// weight scales, int32 accumulation, exactly the scheme of Engine/Cuda/QUANTIZATION.md. Needs a
    /// <see cref="CalibrationTable"/>.
    /// </summary>
    Int8,
}

/// <summary>How a calibration turns observed activations into a range.</summary>
public enum CalibrationMethod
{
    /// <summary>range = max |x| over every element of every calibration input (QUANTIZATION.md's rule); scale = range / 127.</summary>
    Max,

    /// <summary>
    /// range = the <see cref="CalibrationOptions.Percentile"/>-th percentile of |x| over every element of every
    /// calibration input (from a 2048-bin histogram, rounded up to the bin's upper edge, never above max |x|);
    /// scale = range / 127. Values beyond the range saturate to ±127. Trades clipping of rare outliers for a
    /// finer step on the bulk of the distribution.
    /// </summary>
    Percentile,
}
