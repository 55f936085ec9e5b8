using Vgg.Engine.Planning;

namespace Vgg.Engine.Tests.Planning;

public class MemoryPlannerTests
{
    // A: 100 B steps 0..1, B: 200 B 1..2, C: 100 B 2..3, D: 50 B 0..3; aligned sizes 128, 256, 128, 64.
    private static readonly BufferLifetime[] Small =
    {
        new(100, 0, 1), new(200, 1, 2), new(100, 2, 3), new(50, 0, 3),
    };

    [Test]
    public void GreedyHandWorkedOffsets()
    {
        // Order by size: B (256) at 0; A conflicts with B → 256; C conflicts with B only (A ends at 1) → 256;
        // D conflicts with all: gaps [0,256) B, [256,384) A and C → 384. Arena 448.
        var layout = new GreedyMemoryPlanner().Plan(Small);
        Assert.That(layout.Offsets, Is.EqualTo(new long[] { 256, 0, 256, 384 }));
        Assert.That(layout.ArenaBytes, Is.EqualTo(448));
        // Step 1: A + B + D = 128 + 256 + 64 = 448; step 2: B + C + D = 448.
        Assert.That(MemoryPlanning.LowerBound(Small), Is.EqualTo(448));
    }

    [Test]
    public void LinearHandWorkedOffsets()
    {
        var layout = new LinearMemoryPlanner().Plan(Small);
        Assert.That(layout.Offsets, Is.EqualTo(new long[] { 0, 128, 384, 512 }));
        Assert.That(layout.ArenaBytes, Is.EqualTo(576));
    }

    [Test]
    public void GreedyFillsAGapBetweenBuffers()
    {
        // X 256 B 0..4 and Y 256 B 0..4 stacked; Z 128 B 1..1 lives only while W 512 B 2..3 does not.
        var b = new BufferLifetime[] { new(512, 2, 3), new(256, 0, 4), new(256, 0, 4), new(128, 1, 1) };
        var layout = new GreedyMemoryPlanner().Plan(b);
        Assert.That(layout.Offsets, Is.EqualTo(new long[] { 0, 512, 768, 0 }));
        Assert.That(layout.ArenaBytes, Is.EqualTo(1024));
        Assert.That(MemoryPlanning.FindConflict(b, layout), Is.Null);
    }

    [Test]
    public void RandomizedNoOverlapAndLowerBound([Values(1, 2, 3, 4, 5, 6, 7, 8)] int seed)
    {
        var rng = new Random(seed);
        for (int trial = 0; trial < 50; trial++)
        {
            int steps = rng.Next(1, 30);
            var buffers = Enumerable.Range(0, rng.Next(1, 40)).Select(_ =>
            {
                int a = rng.Next(steps), z = rng.Next(steps);
                return new BufferLifetime(rng.Next(0, 5000), Math.Min(a, z), Math.Max(a, z));
            }).ToArray();
            foreach (IMemoryPlanner planner in new IMemoryPlanner[] { new GreedyMemoryPlanner(), new LinearMemoryPlanner() })
            {
                var layout = planner.Plan(buffers);
                var conflict = MemoryPlanning.FindConflict(buffers, layout);
                Assert.That(conflict, Is.Null, $"seed {seed} trial {trial} {planner.Name}: {conflict}");
                Assert.That(layout.ArenaBytes, Is.GreaterThanOrEqualTo(MemoryPlanning.LowerBound(buffers)), $"seed {seed} trial {trial} {planner.Name}");
            }
        }
    }

    [Test]
    public void ConflictCheckerDetectsAnOverlap()
    {
        var b = new BufferLifetime[] { new(128, 0, 1), new(128, 1, 2) };
        Assert.That(MemoryPlanning.FindConflict(b, new MemoryLayout(new long[] { 0, 64 }, 192)), Does.Contain("overlap"));
        Assert.That(MemoryPlanning.FindConflict(b, new MemoryLayout(new long[] { 0, 160 }, 320)), Does.Contain("aligned"));
        Assert.That(() => new GreedyMemoryPlanner().Plan(new[] { new BufferLifetime(1, 3, 2) }), Throws.ArgumentException);
    }
}
