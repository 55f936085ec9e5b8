using System.Runtime.ExceptionServices;

namespace Vgg.Engine.Cpu.Kernels;

/// <summary>
/// Where the kernels in this folder run their parallel loops: <see cref="For"/> runs
/// <c>fn(ctx, item, thread)</c> for every item in [0, count) and returns when all are done, with
/// thread in [0, <see cref="Threads"/>) and no two concurrent items sharing a thread index (kernels
/// index per-thread workspace by it). <see cref="KernelThreadPool"/> for standalone use and benchmarks;
/// the CPU backend adapts its own worker pool (<see cref="BackendRunner"/>).
/// </summary>
internal unsafe interface IKernelRunner
{
    int Threads { get; }

    void For(int count, delegate*<void*, int, int, void> fn, void* ctx);
}

/// <summary>
/// A persistent pool of worker threads for the CPU kernels: <see cref="For"/> runs
/// <c>fn(ctx, item, thread)</c> for every item in [0, count) on all threads (the caller is thread 0)
/// and returns when all are done. Items are handed out dynamically (an atomic counter), which keeps
/// both cores busy on a machine shared with other work. No allocation per call: the job is a static
/// function pointer and a pointer to the caller's context (valid because the caller blocks).
/// </summary>
/// <remarks>
/// One job runs at a time. A second caller that finds the pool busy runs its job inline on its own
/// thread (as thread 0), so concurrent sessions each still make progress without oversubscription.
/// Kernels index their per-thread workspace by the thread argument, which is below <see cref="Threads"/>.
/// </remarks>
internal sealed unsafe class KernelThreadPool : IKernelRunner, IDisposable
{
    private static readonly Lazy<KernelThreadPool> s_shared = new(() => new KernelThreadPool(Environment.ProcessorCount));

    /// <summary>The process-wide pool, one thread per logical processor.</summary>
    public static KernelThreadPool Shared => s_shared.Value;

    private readonly object _runLock = new();
    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _wake;
    private volatile bool _disposed;

    // The current job. _state packs (generation << 32 | next unclaimed item): a helper claims an item
    // with a CAS that also checks the generation, so a helper that wakes late (the machine is shared)
    // can never run an item of a job other than the one whose parameters it read. The caller waits for
    // _done == _count, not for the helpers to check in, so a helper that is not scheduled in time costs
    // nothing: the caller takes its items.
    private delegate*<void*, int, int, void> _fn;
    private void* _ctx;
    private int _count;
    private int _done;
    private long _state;
    private int _generation;
    private ExceptionDispatchInfo? _error;

    public KernelThreadPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads));
        Threads = threads;
        _workers = new Thread[threads - 1];
        _wake = new SemaphoreSlim[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int index = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"vgg-cpu-kernel-{index}" };
            _workers[i].Start();
        }
    }

    /// <summary>Number of threads a job may run on, the caller included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Runs <paramref name="fn"/>(<paramref name="ctx"/>, item, thread) for item = 0..count−1; thread is in
    /// [0, Threads). Blocks until every item is done; rethrows the first exception an item threw.
    /// </summary>
    public void For(int count, delegate*<void*, int, int, void> fn, void* ctx)
    {
        if (count <= 0) return;
        if (count == 1 || Threads == 1 || !Monitor.TryEnter(_runLock))
        {
            for (int i = 0; i < count; i++) fn(ctx, i, 0);
            return;
        }
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _fn = fn;
            _ctx = ctx;
            _count = count;
            _error = null;
            Volatile.Write(ref _done, 0);
            int gen = ++_generation;
            Volatile.Write(ref _state, (long)gen << 32);
            int helpers = Math.Min(_workers.Length, count - 1);
            for (int i = 0; i < helpers; i++) _wake[i].Release();
            Work(0);
            var spin = new SpinWait();
            while (Volatile.Read(ref _done) != count) spin.SpinOnce(sleep1Threshold: -1);
            _error?.Throw();
        }
        finally
        {
            Monitor.Exit(_runLock);
        }
    }

    private void Work(int thread)
    {
        long s = Volatile.Read(ref _state);
        int gen = (int)(s >> 32);
        var fn = _fn;
        var ctx = _ctx;
        int count = _count;
        while (true)
        {
            s = Volatile.Read(ref _state);
            int i = (int)(s & 0xFFFFFFFF);
            if ((int)(s >> 32) != gen || i >= count) return;
            if (Interlocked.CompareExchange(ref _state, s + 1, s) != s) continue;
            try
            {
                fn(ctx, i, thread);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
            }
            finally
            {
                Interlocked.Increment(ref _done);
            }
        }
    }

    private void WorkerLoop(int index)
    {
        var wake = _wake[index - 1];
        while (true)
        {
            wake.Wait();
            if (_disposed) return;
            Work(index);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var w in _wake) w.Release();
    }
}
