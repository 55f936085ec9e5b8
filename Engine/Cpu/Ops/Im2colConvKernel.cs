namespace Vgg.Engine.Cpu.Ops;

/// <summary>
/// Convolution as a GEMM per image and group: Y_g[Mg, OH·OW] = W_g[Mg, Cg·KH·KW] · col_g[Cg·KH·KW, OH·OW]
/// (+ bias, ReLU). The weights are packed once into A panels; the im2col matrix is never materialized:
/// each task gathers the input straight into packed B panels for its block of output pixels and depth
/// (kc × nChunk floats of per-thread workspace). Any kernel size, stride, padding, dilation and group.
/// </summary>
internal sealed class Im2colConvKernel : IConvKernel
{
    /// <summary>Largest depth block (kc): an A panel of MR·kc floats stays in L1, a B block of kc·nChunk in L2.</summary>
    public const int MaxKc = 384;

    /// <summary>Largest block of output pixels per task (a multiple of NR).</summary>
    public const int MaxNChunk = 256;

    public string Name => $"im2col+sgemm {Sgemm.KernelName}";

    public bool Supports(ConvGeometry g) => true;

    public IPreparedConv Prepare(ConvGeometry g, Tensor weights, Tensor? bias, int threads, WeightCache cache)
    {
        int mr = Sgemm.MR;
        var packed = cache.GetOrAdd(weights, $"conv-A-mr{mr}-g{g.Group}", () => PackWeights(g, weights));
        float[]? b = bias?.ToFloatArray();
        return new Prepared(g, packed, b, threads);
    }

    private static unsafe PackedPanels[] PackWeights(ConvGeometry g, Tensor weights)
    {
        int mr = Sgemm.MR;
        var result = new PackedPanels[g.Group];
        var w = weights.AsSpan<float>();
        fixed (float* wp = w)
        {
            for (int grp = 0; grp < g.Group; grp++)
            {
                int panels = (g.Mg + mr - 1) / mr;
                var p = new PackedPanels(panels, g.K, mr);
                float* wg = wp + (long)grp * g.Mg * g.K;
                for (int i = 0; i < panels; i++)
                    Sgemm.PackA(wg, g.K, false, g.Mg, i * mr, 0, g.K, 1f, p.Panel(i, 0));
                result[grp] = p;
            }
        }
        return result;
    }

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    private sealed unsafe class Prepared : IPreparedConv
    {
        private readonly ConvGeometry _g;
        private readonly PackedPanels[] _a;
        private readonly float[]? _bias;
        private readonly int _nChunk, _mBlock, _nChunks, _mBlocks, _kc;

        public Prepared(ConvGeometry g, PackedPanels[] a, float[]? bias, int threads)
        {
            _g = g;
            _a = a;
            _bias = bias;
            _kc = Sgemm.BlockK(g.K, MaxKc);
            int mr = Sgemm.MR;
            int p = g.Pixels;
            _nChunk = Math.Min(RoundUp(p, Sgemm.NR), MaxNChunk);
            _mBlock = RoundUp(g.Mg, mr);
            int target = 3 * threads;
            long Tasks() => (long)g.Batch * g.Group * ((g.Mg + _mBlock - 1) / _mBlock) * ((p + _nChunk - 1) / _nChunk);
            while (Tasks() < target && _nChunk > 4 * Sgemm.NR) _nChunk = RoundUp(_nChunk / 2, Sgemm.NR);
            while (Tasks() < target && _mBlock > 4 * mr) _mBlock = RoundUp(_mBlock / 2, mr);
            _nChunks = (p + _nChunk - 1) / _nChunk;
            _mBlocks = (g.Mg + _mBlock - 1) / _mBlock;
        }

        public int TasksPerImage => _g.Group * _mBlocks * _nChunks;

        // packed B block (kc × nChunk) + the per-column input row/column origins (2 × nChunk ints)
        public long WorkspaceFloatsPerSlot => (long)_kc * _nChunk + 2L * _nChunk;

        public void Execute(int task, float* x, float* y, float* ws)
        {
            var g = _g;
            int nb = task % _nChunks;
            int rest = task / _nChunks;
            int mb = rest % _mBlocks;
            int grp = rest / _mBlocks;
            int p = g.Pixels;
            int m0 = mb * _mBlock, m1 = Math.Min(g.Mg, m0 + _mBlock);
            int j0 = nb * _nChunk, j1 = Math.Min(p, j0 + _nChunk);
            int cols = j1 - j0;
            float* bpack = ws;
            int* ihb = (int*)(ws + (long)_kc * _nChunk);
            int* iwb = ihb + _nChunk;
            for (int j = j0; j < j1; j++)
            {
                int oh = j / g.OW, ow = j - oh * g.OW;
                ihb[j - j0] = oh * g.StrideH - g.PadTop;
                iwb[j - j0] = ow * g.StrideW - g.PadLeft;
            }
            float* yg = y + (long)grp * g.Mg * p;
            for (int m = m0; m < m1; m++)
            {
                float bv = _bias is null ? 0f : _bias[grp * g.Mg + m];
                new Span<float>(yg + (long)m * p + j0, cols).Fill(bv);
            }
            float* xg = x + (long)grp * g.Cg * g.H * g.W;
            int mr = Sgemm.MR;
            int panels = (cols + Sgemm.NR - 1) / Sgemm.NR;
            for (int k0 = 0; k0 < g.K; k0 += _kc)
            {
                int kc = Math.Min(_kc, g.K - k0);
                PackIm2col(xg, k0, kc, cols, ihb, iwb, bpack);
                bool last = k0 + kc >= g.K;
                for (int ap = m0 / mr; ap * mr < m1; ap++)
                {
                    float* a = _a[grp].Panel(ap, k0);
                    int rows = Math.Min(mr, m1 - ap * mr);
                    float* crow = yg + (long)ap * mr * p + j0;
                    for (int q = 0; q < panels; q++)
                        Sgemm.Kernel(kc, a, bpack + (long)q * kc * Sgemm.NR, crow + q * Sgemm.NR, p, rows, Math.Min(Sgemm.NR, cols - q * Sgemm.NR), g.Relu && last);
                }
            }
        }

        /// <summary>Gathers rows [k0, k0+kc) of the im2col matrix, columns j0 + [0, cols), into packed B panels.</summary>
        private void PackIm2col(float* x, int k0, int kc, int cols, int* ihb, int* iwb, float* dst)
        {
            var g = _g;
            int khw = g.KH * g.KW;
            int H = g.H, W = g.W;
            int panels = (cols + Sgemm.NR - 1) / Sgemm.NR;
            for (int kk = 0; kk < kc; kk++)
            {
                int k = k0 + kk;
                int c = k / khw, r = k - c * khw;
                int kh = r / g.KW, kw = r - kh * g.KW;
                int dh = kh * g.DilationH, dw = kw * g.DilationW;
                float* plane = x + (long)c * H * W;
                for (int q = 0; q < panels; q++)
                {
                    float* d = dst + ((long)q * kc + kk) * Sgemm.NR;
                    int jb = q * Sgemm.NR;
                    int n = Math.Min(Sgemm.NR, cols - jb);
                    int cc = 0;
                    for (; cc < n; cc++)
                    {
                        int ih = ihb[jb + cc] + dh, iw = iwb[jb + cc] + dw;
                        d[cc] = (uint)ih < (uint)H && (uint)iw < (uint)W ? plane[(long)ih * W + iw] : 0f;
                    }
                    for (; cc < Sgemm.NR; cc++) d[cc] = 0f;
                }
            }
        }
    }
}
