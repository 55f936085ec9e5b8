using System.Runtime.ExceptionServices;

namespace Vgg.Engine.Cpu.Kernels;

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
internal sealed unsafe class KernelThreadPool : IDisposable
{
    private static readonly Lazy<KernelThreadPool> s_shared = new(() => new KernelThreadPool(Environment.ProcessorCount));

    /// <summary>The process-wide pool, one thread per logical processor.</summary>
    public static KernelThreadPool Shared => s_shared.Value;

    private readonly object _runLock = new();
    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _wake;
    private volatile bool _disposed;

    // The current job.
    private delegate*<void*, int, int, void> _fn;
    private void* _ctx;
    private int _count;
    private int _next;
    private int _pending;
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
            int helpers = Math.Min(_workers.Length, count - 1);
            Volatile.Write(ref _next, 0);
            Volatile.Write(ref _pending, helpers);
            for (int i = 0; i < helpers; i++) _wake[i].Release();
            Work(0);
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _fn = null;
            _ctx = null;
            _error?.Throw();
        }
        finally
        {
            Monitor.Exit(_runLock);
        }
    }

    private void Work(int thread)
    {
        try
        {
            int i;
            while ((i = Interlocked.Increment(ref _next) - 1) < _count) _fn(_ctx, i, thread);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
            Volatile.Write(ref _next, int.MaxValue / 2);
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
            Interlocked.Decrement(ref _pending);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var w in _wake) w.Release();
    }
}
