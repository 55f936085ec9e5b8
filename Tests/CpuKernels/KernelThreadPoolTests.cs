using Vgg.Engine.Cpu.Kernels;

namespace Vgg.Engine.Tests.CpuKernels;

[TestFixture]
public unsafe class KernelThreadPoolTests
{
    private struct Ctx
    {
        public int* Hits;
        public int* ThreadSeen;
        public int Threads;
    }

    private static void Mark(void* p, int item, int thread)
    {
        ref Ctx c = ref *(Ctx*)p;
        Interlocked.Increment(ref c.Hits[item]);
        if ((uint)thread >= (uint)c.Threads) Interlocked.Increment(ref c.ThreadSeen[0]); // out of range marker
    }

    [TestCase(1, 1)]
    [TestCase(2, 1000)]
    [TestCase(3, 7)]
    [TestCase(5, 3)]
    public void EveryItemRunsExactlyOnceWithAThreadIndexInRange(int threads, int items)
    {
        using var pool = new KernelThreadPool(threads);
        for (int rep = 0; rep < 20; rep++)
        {
            var hits = new int[items];
            var bad = new int[1];
            fixed (int* ph = hits, pb = bad)
            {
                var ctx = new Ctx { Hits = ph, ThreadSeen = pb, Threads = threads };
                pool.For(items, &Mark, &ctx);
            }
            Assert.That(hits, Is.All.EqualTo(1), $"rep {rep}");
            Assert.That(bad[0], Is.Zero, "thread index out of range");
        }
    }

    private static void Throw(void* p, int item, int thread)
    {
        if (item == 3) throw new InvalidOperationException("item 3 failed");
    }

    [Test]
    public void AnExceptionInAnItemReachesTheCallerAndThePoolStaysUsable()
    {
        using var pool = new KernelThreadPool(2);
        var ex = Assert.Throws<InvalidOperationException>(() => pool.For(10, &Throw, null));
        Assert.That(ex!.Message, Is.EqualTo("item 3 failed"));
        EveryItemRunsExactlyOnceWithAThreadIndexInRange(2, 50);
    }

    [Test]
    public void ConcurrentCallersAllComplete()
    {
        using var pool = new KernelThreadPool(2);
        var tasks = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (int rep = 0; rep < 50; rep++)
            {
                var hits = new int[64];
                var bad = new int[1];
                fixed (int* ph = hits, pb = bad)
                {
                    var ctx = new Ctx { Hits = ph, ThreadSeen = pb, Threads = 2 };
                    pool.For(64, &Mark, &ctx);
                }
                if (hits.Any(h => h != 1) || bad[0] != 0) return false;
            }
            return true;
        })).ToArray();
        Assert.That(Task.WaitAll(tasks, TimeSpan.FromSeconds(60)), Is.True, "deadlock");
        Assert.That(tasks.Select(t => t.Result), Is.All.True);
    }
}
