using Vgg.Engine.Cuda.Launch;
using Vgg.Engine.Cuda.Quantization;
using Vgg.Engine.Cuda.Reference;

namespace Vgg.Engine.Cuda.Network;

/// <summary>
/// CPU references for whole networks, layer by layer on NHWC data: <see cref="RunFloat"/> accumulates
/// every convolution and linear output in float64 and stores activations as float32 (what the FP32
/// path does, up to summation order); <see cref="RunInt8"/> computes exactly what the INT8 path
/// computes (same storage decisions, same weight conversion, <see cref="Int8Reference"/>'s integer
/// arithmetic), so the GPU result must match it bit for bit. Parallel over output rows.
/// </summary>
public static class NetworkReference
{
    private sealed class Act
    {
        public required int N, C, H, W, Cs;   // 4-D NHWC (Cs stored channels), or rows when H == 0
        public float[]? F;
        public sbyte[]? Q;
        public float Scale = 1f;
        public bool Rows => H == 0;
    }

    /// <summary>The float reference. Returns each output as float32 in PyTorch layout (NCHW or [N, F]).</summary>
    /// <param name="def">Network.</param>
    /// <param name="input">NCHW float32 [batch][C][H][W].</param>
    /// <param name="batch">N.</param>
    /// <param name="height">H.</param>
    /// <param name="width">W.</param>
    /// <param name="maxAbs">When given, receives max |x| of every tensor (the input and each layer's output): calibration on the CPU.</param>
    public static Dictionary<string, float[]> RunFloat(NetworkDefinition def, float[] input, int batch, int height, int width, Dictionary<string, float>? maxAbs = null)
    {
        def.InferShapes(batch, height, width);
        var acts = new Dictionary<string, Act>(StringComparer.Ordinal)
        {
            [def.InputName] = new Act { N = batch, C = def.InputChannels, H = height, W = width, Cs = def.InputChannels, F = NchwToNhwc(input, batch, def.InputChannels, height, width) },
        };
        foreach (var l in def.Layers)
        {
            var x = acts[l.Input];
            acts[l.Name] = l switch
            {
                ConvSpec c => ConvFloat(c, x),
                MaxPoolSpec p => MaxPoolFloat(p, x),
                AdaptiveAvgPoolSpec a => AvgFloat(a, x),
                FlattenSpec => FlattenF(x),
                LinearSpec f => LinearFloat(f, x),
                ReluSpec => new Act { N = x.N, C = x.C, H = x.H, W = x.W, Cs = x.Cs, F = x.F!.Select(v => MathF.Max(v, 0)).ToArray() },
                SoftmaxSpec s => new Act { N = x.N, C = x.C, H = 0, W = 0, Cs = x.C, F = FloatReference.Softmax(x.F!, x.N, x.C, 1, s.Log).Select(v => (float)v).ToArray() },
                _ => throw new UnsupportedOperatorException(l.Name, l.GetType().Name, "", 0, "no reference"),
            };
        }
        if (maxAbs is not null)
            foreach (var (name, a) in acts) maxAbs[name] = a.F!.Aggregate(0f, (m, v) => MathF.Max(m, MathF.Abs(v)));
        return def.Outputs.ToDictionary(o => o, o => ToPyTorch(acts[o], a => a.F!), StringComparer.Ordinal);
    }

    /// <summary>
    /// The INT8 reference: the GPU INT8 path's exact result for the same definition, input and
    /// activation scales. Returns each output as float32 in PyTorch layout.
    /// </summary>
    public static Dictionary<string, float[]> RunInt8(NetworkDefinition def, float[] input, int batch, int height, int width, IReadOnlyDictionary<string, float> scales)
    {
        def.InferShapes(batch, height, width);
        var types = TensorTypes.Plan(def, CudaPrecision.Int8, scales);
        var inInfo = types.Get(def.InputName);
        int c0 = def.InputChannels, cs0 = inInfo.StoredChannels;
        var q0 = new sbyte[(long)batch * height * width * cs0];
        for (int n = 0; n < batch; n++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    for (int c = 0; c < c0; c++)
                        q0[((n * height + y) * width + x) * cs0 + c] = Int8Scheme.QuantizeActivation(input[((n * c0 + c) * height + y) * width + x], inInfo.Scale);
        var acts = new Dictionary<string, Act>(StringComparer.Ordinal)
        {
            [def.InputName] = new Act { N = batch, C = c0, H = height, W = width, Cs = cs0, Q = q0, Scale = inInfo.Scale },
        };
        foreach (var l in def.Layers)
        {
            var x = acts[l.Input];
            var info = types.Get(l.Name);
            acts[l.Name] = l switch
            {
                ConvSpec c => ConvInt8(c, x, info.Scale),
                MaxPoolSpec p => MaxPoolInt8(p, x),
                AdaptiveAvgPoolSpec a when a.OutH == x.H && a.OutW == x.W => x,
                AdaptiveAvgPoolSpec a => new Act { N = x.N, C = x.C, H = a.OutH, W = a.OutW, Cs = x.Cs, Scale = x.Scale, Q = Int8Reference.AdaptiveAvgPool(x.Q!, x.N, x.H, x.W, x.Cs, a.OutH, a.OutW) },
                FlattenSpec => FlattenQ(x),
                LinearSpec f => LinearInt8(f, x, info.Type == DeviceStoreType.F32 ? null : info.Scale),
                ReluSpec => x.Q is not null
                    ? new Act { N = x.N, C = x.C, H = x.H, W = x.W, Cs = x.Cs, Scale = x.Scale, Q = x.Q.Select(v => (sbyte)Math.Max((int)v, 0)).ToArray() }
                    : new Act { N = x.N, C = x.C, H = x.H, W = x.W, Cs = x.Cs, F = x.F!.Select(v => MathF.Max(v, 0)).ToArray() },
                SoftmaxSpec s => new Act { N = x.N, C = x.C, H = 0, W = 0, Cs = x.C, F = FloatReference.Softmax(AsFloat(x), x.N, x.C, 1, s.Log).Select(v => (float)v).ToArray() },
                _ => throw new UnsupportedOperatorException(l.Name, l.GetType().Name, "", 0, "no reference"),
            };
        }
        return def.Outputs.ToDictionary(o => o, o => ToPyTorch(acts[o], AsFloat), StringComparer.Ordinal);
    }

    private static float[] AsFloat(Act a) => a.F ?? a.Q!.Select(v => (float)v * a.Scale).ToArray();

    private static float[] NchwToNhwc(float[] x, int n, int c, int h, int w)
    {
        var y = new float[x.Length];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                        y[((b * h + i) * w + j) * c + ch] = x[((b * c + ch) * h + i) * w + j];
        return y;
    }

    private static float[] ToPyTorch(Act a, Func<Act, float[]> values)
    {
        var v = values(a);
        if (a.Rows) return v;
        var y = new float[(long)a.N * a.C * a.H * a.W];
        for (int b = 0; b < a.N; b++)
            for (int ch = 0; ch < a.C; ch++)
                for (int i = 0; i < a.H; i++)
                    for (int j = 0; j < a.W; j++)
                        y[((b * a.C + ch) * a.H + i) * a.W + j] = v[((b * a.H + i) * a.W + j) * a.Cs + ch];
        return y;
    }

    private static ConvGeometry Geometry(ConvSpec c, Act x) =>
        new(x.N, x.H, x.W, c.Groups == 1 ? x.Cs : x.C, c.OutChannels, c.KernelH, c.KernelW, c.StrideH, c.StrideW, c.PadTop, c.PadLeft, c.PadBottom, c.PadRight, c.DilationH, c.DilationW, c.Groups);

    private static Act ConvFloat(ConvSpec c, Act x)
    {
        var g = Geometry(c, x);
        var w = WeightConversion.ConvToKrsc(c, x.C, g.C);
        var b = c.Bias ?? new float[c.OutChannels];
        int oh = g.OutH, ow = g.OutW, k = g.K;
        var y = new float[(long)x.N * oh * ow * k];
        var xf = x.F!;
        Parallel.For(0, x.N * oh, row =>
        {
            int n = row / oh, i = row % oh;
            for (int j = 0; j < ow; j++)
                for (int o = 0; o < k; o++)
                {
                    double v = FloatReference.ConvAt(xf, w, b, g, n, i, j, o);
                    y[((n * oh + i) * ow + j) * k + o] = (float)(c.Relu ? Math.Max(v, 0) : v);
                }
        });
        var a = new Act { N = x.N, C = k, H = oh, W = ow, Cs = k, F = y };
        return c.FusedPool ? MaxPoolFloat(new MaxPoolSpec(c.Name, c.Name, 2, 2, 2, 2, 0, 0, 0, 0), a) : a;
    }

    private static Act ConvInt8(ConvSpec c, Act x, float outScale)
    {
        var g = Geometry(c, x);
        var w = WeightConversion.ConvToKrsc(c, x.C, g.C);
        var (codes, bias, mult) = WeightConversion.Int8(w, c.Bias ?? new float[c.OutChannels], c.OutChannels, x.Scale, outScale);
        int oh = g.OutH, ow = g.OutW, k = g.K;
        var y = new sbyte[(long)x.N * oh * ow * k];
        var xq = x.Q!;
        Parallel.For(0, x.N * oh, row =>
        {
            int n = row / oh, i = row % oh;
            for (int j = 0; j < ow; j++)
                for (int o = 0; o < k; o++)
                    y[((n * oh + i) * ow + j) * k + o] = Int8Scheme.Requantize(Int8Reference.ConvAccumulatorAt(xq, codes, bias, g, n, i, j, o), mult[o], c.Relu);
        });
        var a = new Act { N = x.N, C = k, H = oh, W = ow, Cs = k, Q = y, Scale = outScale };
        return c.FusedPool ? MaxPoolInt8(new MaxPoolSpec(c.Name, c.Name, 2, 2, 2, 2, 0, 0, 0, 0), a) : a;
    }

    private static Act MaxPoolFloat(MaxPoolSpec p, Act x)
    {
        int oh = Diagnostics.GpuOpChecks.PooledLength(x.H, p.KernelH, p.StrideH, p.PadTop, p.PadBottom, p.DilationH, p.CeilMode);
        int ow = Diagnostics.GpuOpChecks.PooledLength(x.W, p.KernelW, p.StrideW, p.PadLeft, p.PadRight, p.DilationW, p.CeilMode);
        var y = new float[(long)x.N * oh * ow * x.Cs];
        var xf = x.F!;
        Parallel.For(0, x.N * oh, row =>
        {
            int n = row / oh, i = row % oh;
            for (int j = 0; j < ow; j++)
                for (int ch = 0; ch < x.Cs; ch++)
                    y[((n * oh + i) * ow + j) * x.Cs + ch] = FloatReference.MaxPoolAt(xf, x.H, x.W, x.Cs, n, i, j, ch, p.KernelH, p.KernelW, p.StrideH, p.StrideW, p.PadTop, p.PadLeft, p.DilationH, p.DilationW);
        });
        return new Act { N = x.N, C = x.C, H = oh, W = ow, Cs = x.Cs, F = y };
    }

    private static Act MaxPoolInt8(MaxPoolSpec p, Act x)
    {
        int oh = Diagnostics.GpuOpChecks.PooledLength(x.H, p.KernelH, p.StrideH, p.PadTop, p.PadBottom, p.DilationH, p.CeilMode);
        int ow = Diagnostics.GpuOpChecks.PooledLength(x.W, p.KernelW, p.StrideW, p.PadLeft, p.PadRight, p.DilationW, p.CeilMode);
        return new Act
        {
            N = x.N, C = x.C, H = oh, W = ow, Cs = x.Cs, Scale = x.Scale,
            Q = Int8Reference.MaxPool(x.Q!, x.N, x.H, x.W, x.Cs, oh, ow, p.KernelH, p.KernelW, p.StrideH, p.StrideW, p.PadTop, p.PadLeft, p.DilationH, p.DilationW),
        };
    }

    private static Act AvgFloat(AdaptiveAvgPoolSpec a, Act x)
    {
        var y = new float[(long)x.N * a.OutH * a.OutW * x.Cs];
        var xf = x.F!;
        for (int n = 0; n < x.N; n++)
            for (int i = 0; i < a.OutH; i++)
                for (int j = 0; j < a.OutW; j++)
                    for (int ch = 0; ch < x.Cs; ch++)
                        y[((n * a.OutH + i) * a.OutW + j) * x.Cs + ch] = (float)FloatReference.AdaptiveAvgAt(xf, x.H, x.W, x.Cs, a.OutH, a.OutW, n, i, j, ch);
        return new Act { N = x.N, C = x.C, H = a.OutH, W = a.OutW, Cs = x.Cs, F = y };
    }

    private static Act FlattenF(Act x) => x.Rows ? x : new Act { N = x.N, C = x.C * x.H * x.W, H = 0, W = 0, Cs = 0, F = ToPyTorch(x, a => a.F!) };

    private static Act FlattenQ(Act x)
    {
        if (x.Rows) return x;
        var y = new sbyte[(long)x.N * x.C * x.H * x.W];
        for (int b = 0; b < x.N; b++)
            for (int ch = 0; ch < x.C; ch++)
                for (int i = 0; i < x.H; i++)
                    for (int j = 0; j < x.W; j++)
                        y[((b * x.C + ch) * x.H + i) * x.W + j] = x.Q![((b * x.H + i) * x.W + j) * x.Cs + ch];
        return new Act { N = x.N, C = x.C * x.H * x.W, H = 0, W = 0, Cs = 0, Q = y, Scale = x.Scale };
    }

    private static Act LinearFloat(LinearSpec f, Act x)
    {
        int k = x.C, n = f.OutFeatures;
        var b = f.Bias ?? new float[n];
        var y = new float[(long)x.N * n];
        var xf = x.F!;
        Parallel.For(0, x.N * n, i =>
        {
            double v = FloatReference.GemmAt(xf, f.Weight, b, k, i / n, i % n);
            y[i] = (float)(f.Relu ? Math.Max(v, 0) : v);
        });
        return new Act { N = x.N, C = n, H = 0, W = 0, Cs = n, F = y };
    }

    private static Act LinearInt8(LinearSpec f, Act x, float? outScale)
    {
        int k = x.C, n = f.OutFeatures;
        var (codes, bias, epi) = WeightConversion.Int8(f.Weight, f.Bias ?? new float[n], n, x.Scale, outScale);
        var xq = x.Q!;
        if (outScale is { } so)
        {
            var y = new sbyte[(long)x.N * n];
            Parallel.For(0, x.N * n, i => y[i] = Int8Scheme.Requantize(Int8Reference.GemmAccumulatorAt(xq, codes, bias, k, i / n, i % n), epi[i % n], f.Relu));
            return new Act { N = x.N, C = n, H = 0, W = 0, Cs = n, Q = y, Scale = so };
        }
        var yf = new float[(long)x.N * n];
        Parallel.For(0, x.N * n, i => yf[i] = Int8Scheme.Dequantize(Int8Reference.GemmAccumulatorAt(xq, codes, bias, k, i / n, i % n), epi[i % n], f.Relu));
        return new Act { N = x.N, C = n, H = 0, W = 0, Cs = n, F = yf };
    }
}
