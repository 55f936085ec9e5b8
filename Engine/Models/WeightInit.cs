namespace Vgg.Engine.Models;

/// <summary>
/// Seeded weights with torchvision VGG's initialisation scheme (torchvision/models/vgg.py, <c>VGG.__init__</c>):
/// Conv2d weight kaiming_normal_(mode="fan_out", nonlinearity="relu"), i.e. N(0, 2 / (out·kh·kw)), conv bias 0;
/// BatchNorm weight 1, bias 0, running mean 0, running variance 1 (PyTorch's buffer defaults); Linear weight
/// N(0, 0.01²), bias 0. Random values come from <see cref="SeededRandom.ForTensor"/>(seed, state-dict key), so
/// they are deterministic on every machine, independent per tensor, but not equal to torch's.
/// </summary>
public static class WeightInit
{
    /// <summary>
    /// With <paramref name="randomBatchNormStatistics"/>, BatchNorm tensors are drawn instead of constant, so
    /// that folding batch norm into the conv is actually exercised: weight U[0.5, 1.5), bias N(0, 0.1²),
    /// running_mean N(0, 0.1²), running_var U[0.5, 1.5).
    /// </summary>
    /// <returns>A float32 tensor of <paramref name="parameter"/>'s shape.</returns>
    public static Tensor Create(ParameterSpec parameter, int seed, bool randomBatchNormStatistics = false)
    {
        var t = new Tensor(DType.Float32, parameter.Shape);
        var rng = SeededRandom.ForTensor(seed, parameter.Key);
        switch (parameter.Role)
        {
            case ParameterRole.ConvWeight:
                {
                    long fanOut = parameter.Shape[0];
                    for (int i = 2; i < parameter.Shape.Length; i++) fanOut *= parameter.Shape[i];
                    // torch.nn.init.kaiming_normal_: std = gain / sqrt(fan), gain = sqrt(2) for ReLU
                    rng.FillNormal(t, 0.0, Math.Sqrt(2.0) / Math.Sqrt(fanOut));
                    break;
                }
            case ParameterRole.LinearWeight:
                rng.FillNormal(t, 0.0, 0.01);
                break;
            case ParameterRole.BatchNormWeight:
                if (randomBatchNormStatistics) rng.FillUniform(t, 0.5, 1.5);
                else t.AsSpan<float>().Fill(1f);
                break;
            case ParameterRole.BatchNormRunningVar:
                if (randomBatchNormStatistics) rng.FillUniform(t, 0.5, 1.5);
                else t.AsSpan<float>().Fill(1f);
                break;
            case ParameterRole.BatchNormBias:
            case ParameterRole.BatchNormRunningMean:
                if (randomBatchNormStatistics) rng.FillNormal(t, 0.0, 0.1);
                break;
            case ParameterRole.ConvBias:
            case ParameterRole.LinearBias:
                break; // zero
        }
        return t;
    }

    /// <summary>Seeded tensors for every parameter, by key (see <see cref="Create(ParameterSpec, int, bool)"/>).</summary>
    public static Dictionary<string, Tensor> Create(IEnumerable<ParameterSpec> parameters, int seed, bool randomBatchNormStatistics = false)
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var p in parameters) d[p.Key] = Create(p, seed, randomBatchNormStatistics);
        return d;
    }
}
