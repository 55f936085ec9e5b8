namespace Vgg.Engine.Cpu;

/// <summary>A parallel loop body: runs task <c>index</c> on the thread holding <c>slot</c> (0 ≤ slot &lt; <see cref="WorkerPool.Threads"/>), so per-thread scratch can be indexed by slot.</summary>
internal interface IParallelBody
{
    void Execute(int index, int slot);
}

/// <summary>
/// A fixed set of worker threads that run parallel loops without allocating: the caller joins the work,
/// tasks are claimed with an interlocked counter, and several callers may run loops at the same time
/// (each loop is a <see cref="Job"/> object owned and reused by one caller). Within one loop every
/// participating thread has a distinct slot below <see cref="Threads"/>.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    /// <summary>A parallel loop; one per caller, reused for each loop that caller runs.</summary>
    internal sealed class Job
    {
        internal IParallelBody? Body;
        internal int Count;
        internal int Next;
        internal int Done;
        internal int Slots;
        internal int Inside;
        internal volatile bool Open;
        internal Exception? Error;
        internal readonly ManualResetEventSlim Finished = new(false, 64);
    }

    private const int MaxConcurrentJobs = 256;
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly object _lock = new();
    private readonly Job?[] _active = new Job?[MaxConcurrentJobs];
    private volatile bool _stopping;

    /// <param name="threads">Total threads running a loop, the caller included (≥ 1).</param>
    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "at least one thread");
        Threads = threads;
        _threads = new Thread[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"vgg-cpu-{i + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>Threads per loop, the caller included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Runs <paramref name="body"/> for indices 0..count−1 on the pool and the calling thread and returns
    /// when all are done; rethrows the first exception a task threw.
    /// </summary>
    public void Run(Job job, IParallelBody body, int count)
    {
        if (count <= 0) return;
        if (count == 1 || _threads.Length == 0)
        {
            for (int i = 0; i < count; i++) body.Execute(i, 0);
            return;
        }
        job.Body = body;
        job.Count = count;
        job.Next = 0;
        job.Done = 0;
        job.Slots = 0;
        job.Error = null;
        job.Finished.Reset();
        int index = -1;
        lock (_lock)
        {
            for (int i = 0; i < _active.Length && index < 0; i++)
                if (_active[i] is null) { _active[i] = job; index = i; }
        }
        job.Open = true;
        if (index >= 0)
        {
            int wake = Math.Min(count - 1, _threads.Length);
            _wake.Release(wake);
        }
        Work(job);
        job.Finished.Wait();
        job.Open = false;
        if (index >= 0) lock (_lock) _active[index] = null;
        // Wait for every thread that entered this job to leave it, so that reusing the job object for
        // the next loop cannot hand a stale slot to a late thread.
        var spin = new SpinWait();
        while (Volatile.Read(ref job.Inside) != 0) spin.SpinOnce();
        job.Body = null;
        if (job.Error is { } e) throw e is VggEngineException ? e : new InvalidOperationException("a parallel CPU task failed: " + e.Message, e);
    }

    private static void Work(Job job)
    {
        Interlocked.Increment(ref job.Inside);
        try
        {
            if (!job.Open || Volatile.Read(ref job.Next) >= job.Count) return;
            int slot = Interlocked.Increment(ref job.Slots) - 1;
            while (true)
            {
                int i = Interlocked.Increment(ref job.Next) - 1;
                if (i >= job.Count) return;
                try
                {
                    if (Volatile.Read(ref job.Error) is null) job.Body!.Execute(i, slot);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref job.Error, e, null);
                }
                if (Interlocked.Increment(ref job.Done) == job.Count) job.Finished.Set();
            }
        }
        finally
        {
            Interlocked.Decrement(ref job.Inside);
        }
    }

    private void WorkerLoop()
    {
        while (true)
        {
            _wake.Wait();
            if (_stopping) return;
            for (int i = 0; i < _active.Length; i++)
            {
                var job = Volatile.Read(ref _active[i]);
                if (job is not null) Work(job);
            }
        }
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        if (_threads.Length > 0) _wake.Release(_threads.Length);
        foreach (var t in _threads) t.Join();
        _wake.Dispose();
    }
}
