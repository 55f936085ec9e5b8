namespace Vgg.Engine.Cpu.Ops;

/// <summary>
/// Y[M, N] (+)= Alpha·op(A)·op(B), ReLU optional, split into tiles of Y that run as independent tasks.
/// A constant B (a Linear/Gemm weight) is packed once over the full depth into NR-column panels, so a
/// batch-1 classifier streams its weights once per run; A (activations) is packed per task.
/// </summary>
internal sealed class PackedGemmKernel : IGemmKernel
{
    public const int MaxKc = 512;
    public const int MaxNBlock = 256;
    public const int MaxMBlock = 96;

    public string Name => $"packed sgemm {Sgemm.KernelName}";

    public IPreparedGemm Prepare(int m, int n, int k, bool transA, bool transB, float alpha, bool relu, Tensor? constantB, int threads, WeightCache cache)
    {
        PackedPanels? pb = constantB is null ? null : cache.GetOrAdd(constantB, $"gemm-B-{(transB ? "t" : "n")}-k{k}-n{n}", () => PackB(constantB, n, k, transB));
        return new Prepared(m, n, k, transA, transB, alpha, relu, pb, threads);
    }

    private static unsafe PackedPanels PackB(Tensor b, int n, int k, bool transB)
    {
        int panels = (n + Sgemm.NR - 1) / Sgemm.NR;
        var p = new PackedPanels(panels, k, Sgemm.NR);
        fixed (float* bp = b.AsSpan<float>())
            for (int q = 0; q < panels; q++)
                Sgemm.PackB(bp, transB ? k : n, transB, n, q * Sgemm.NR, 0, k, p.Panel(q, 0));
        return p;
    }

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    private sealed unsafe class Prepared : IPreparedGemm
    {
        private readonly int _m, _n, _k, _kc, _mBlock, _nBlock, _mBlocks, _nBlocks;
        private readonly bool _transA, _transB, _relu;
        private readonly float _alpha;
        private readonly PackedPanels? _b;

        public Prepared(int m, int n, int k, bool transA, bool transB, float alpha, bool relu, PackedPanels? b, int threads)
        {
            (_m, _n, _k, _transA, _transB, _alpha, _relu, _b) = (m, n, k, transA, transB, alpha, relu, b);
            int mr = Sgemm.MR;
            _kc = Sgemm.BlockK(Math.Max(k, 1), MaxKc);
            _mBlock = Math.Min(RoundUp(Math.Max(m, 1), mr), RoundUp(MaxMBlock, mr));
            _nBlock = Math.Min(RoundUp(Math.Max(n, 1), Sgemm.NR), MaxNBlock);
            int target = 3 * threads;
            long Tasks() => (long)((m + _mBlock - 1) / _mBlock) * ((n + _nBlock - 1) / _nBlock);
            while (Tasks() < target && _nBlock > Sgemm.NR) _nBlock = RoundUp(_nBlock / 2, Sgemm.NR);
            while (Tasks() < target && _mBlock > mr) _mBlock = RoundUp(_mBlock / 2, mr);
            _mBlocks = Math.Max(1, (m + _mBlock - 1) / _mBlock);
            _nBlocks = Math.Max(1, (n + _nBlock - 1) / _nBlock);
        }

        public int Tasks => _m == 0 || _n == 0 ? 0 : _mBlocks * _nBlocks;

        public long WorkspaceFloatsPerSlot => (long)_mBlock * _kc + (_b is null ? (long)_nBlock * _kc : 0);

        public void Execute(int task, float* a, float* b, float* y, float* ws)
        {
            int mr = Sgemm.MR, nr = Sgemm.NR;
            int mb = task / _nBlocks, nb = task % _nBlocks;
            int m0 = mb * _mBlock, m1 = Math.Min(_m, m0 + _mBlock);
            int n0 = nb * _nBlock, n1 = Math.Min(_n, n0 + _nBlock);
            int aPanels = (m1 - m0 + mr - 1) / mr;
            int bPanels = (n1 - n0 + nr - 1) / nr;
            float* apack = ws;
            float* bpack = ws + (long)_mBlock * _kc;
            long lda = _transA ? _m : _k;
            long ldb = _transB ? _k : _n;
            if (_k == 0)
            {
                if (_relu)
                    for (int i = m0; i < m1; i++)
                        for (int j = n0; j < n1; j++) y[(long)i * _n + j] = Math.Max(0f, y[(long)i * _n + j]);
                return;
            }
            for (int k0 = 0; k0 < _k; k0 += _kc)
            {
                int kc = Math.Min(_kc, _k - k0);
                bool last = k0 + kc >= _k;
                for (int ap = 0; ap < aPanels; ap++)
                    Sgemm.PackA(a, lda, _transA, _m, m0 + ap * mr, k0, kc, _alpha, apack + (long)ap * kc * mr);
                if (_b is null)
                    for (int q = 0; q < bPanels; q++)
                        Sgemm.PackB(b, ldb, _transB, _n, n0 + q * nr, k0, kc, bpack + (long)q * kc * nr);
                for (int q = 0; q < bPanels; q++)
                {
                    float* bp = _b is null ? bpack + (long)q * kc * nr : _b.Panel(n0 / nr + q, k0);
                    int cols = Math.Min(nr, n1 - n0 - q * nr);
                    for (int ap = 0; ap < aPanels; ap++)
                    {
                        int rows = Math.Min(mr, m1 - m0 - ap * mr);
                        Sgemm.Kernel(kc, apack + (long)ap * kc * mr, bp, y + (long)(m0 + ap * mr) * _n + n0 + q * nr, _n, rows, cols, _relu && last);
                    }
                }
            }
        }
    }
}
