namespace Vgg.Engine.Planning;

/// <summary>
/// One buffer to place in the arena: its size in bytes and the first and last step (inclusive) during
/// which it must hold its contents. Two buffers conflict when their step intervals intersect.
/// </summary>
public readonly record struct BufferLifetime(long Bytes, int FirstUse, int LastUse)
{
    /// <summary>True when both buffers are alive at some common step.</summary>
    public bool OverlapsInTime(BufferLifetime other) => FirstUse <= other.LastUse && other.FirstUse <= LastUse;
}

/// <summary>Placement result: one byte offset per buffer (in request order) and the arena size in bytes.</summary>
public sealed record MemoryLayout(long[] Offsets, long ArenaBytes);

/// <summary>Which memory planner a session uses.</summary>
public enum MemoryPlannerKind
{
    /// <summary>Greedy largest-first placement with reuse (<see cref="GreedyMemoryPlanner"/>).</summary>
    Greedy,
    /// <summary>Every buffer at its own offset, no reuse (<see cref="LinearMemoryPlanner"/>); for debugging.</summary>
    Linear,
}

/// <summary>
/// A memory planner: a pure function of the buffers' (size, first use, last use), in the style of
/// TensorFlow Lite Micro's <c>memory_planner/</c>. Offsets are multiples of <see cref="Alignment"/>.
/// </summary>
public interface IMemoryPlanner
{
    /// <summary>Name for plan printouts ("greedy", "linear").</summary>
    string Name { get; }

    /// <summary>Offset alignment in bytes.</summary>
    int Alignment { get; }

    /// <summary>Places every buffer; buffers alive at a common step never overlap in memory.</summary>
    /// <exception cref="ArgumentException">A negative size or an interval with LastUse &lt; FirstUse.</exception>
    MemoryLayout Plan(IReadOnlyList<BufferLifetime> buffers);
}

/// <summary>Helpers shared by the planners and their tests.</summary>
public static class MemoryPlanning
{
    /// <summary>Default alignment of arena offsets: 64 bytes (a cache line, an AVX-512 vector).</summary>
    public const int DefaultAlignment = 64;

    /// <summary><paramref name="bytes"/> rounded up to a multiple of <paramref name="alignment"/>.</summary>
    public static long Align(long bytes, int alignment) => (bytes + alignment - 1) / alignment * alignment;

    /// <summary>The planner of a kind, with the default alignment.</summary>
    public static IMemoryPlanner Create(MemoryPlannerKind kind) => kind switch
    {
        MemoryPlannerKind.Linear => new LinearMemoryPlanner(),
        _ => new GreedyMemoryPlanner(),
    };

    /// <summary>
    /// The lower bound on any arena: the largest total (aligned) size of the buffers alive at one step.
    /// </summary>
    public static long LowerBound(IReadOnlyList<BufferLifetime> buffers, int alignment = DefaultAlignment)
    {
        if (buffers.Count == 0) return 0;
        int last = buffers.Max(b => b.LastUse);
        int first = buffers.Min(b => b.FirstUse);
        var delta = new long[last - first + 2];
        foreach (var b in buffers)
        {
            long s = Align(b.Bytes, alignment);
            delta[b.FirstUse - first] += s;
            delta[b.LastUse - first + 1] -= s;
        }
        long alive = 0, best = 0;
        foreach (var d in delta)
        {
            alive += d;
            best = Math.Max(best, alive);
        }
        return best;
    }

    /// <summary>
    /// Checks a layout: every offset aligned, every buffer inside the arena, and no two buffers that are
    /// alive at a common step overlapping in memory. Returns null when valid, else a description.
    /// </summary>
    public static string? FindConflict(IReadOnlyList<BufferLifetime> buffers, MemoryLayout layout, int alignment = DefaultAlignment)
    {
        for (int i = 0; i < buffers.Count; i++)
        {
            long oi = layout.Offsets[i];
            if (oi % alignment != 0) return $"buffer {i} at offset {oi} is not {alignment}-byte aligned";
            if (oi < 0 || oi + buffers[i].Bytes > layout.ArenaBytes) return $"buffer {i} [{oi}, {oi + buffers[i].Bytes}) lies outside the arena of {layout.ArenaBytes} bytes";
            for (int j = i + 1; j < buffers.Count; j++)
            {
                if (!buffers[i].OverlapsInTime(buffers[j]) || buffers[i].Bytes == 0 || buffers[j].Bytes == 0) continue;
                long oj = layout.Offsets[j];
                if (oi < oj + buffers[j].Bytes && oj < oi + buffers[i].Bytes)
                    return $"buffers {i} [{oi}, {oi + buffers[i].Bytes}) steps {buffers[i].FirstUse}..{buffers[i].LastUse} and {j} [{oj}, {oj + buffers[j].Bytes}) steps {buffers[j].FirstUse}..{buffers[j].LastUse} overlap";
            }
        }
        return null;
    }

    internal static void Validate(IReadOnlyList<BufferLifetime> buffers)
    {
        for (int i = 0; i < buffers.Count; i++)
        {
            if (buffers[i].Bytes < 0) throw new ArgumentException($"buffer {i} has a negative size {buffers[i].Bytes}");
            if (buffers[i].LastUse < buffers[i].FirstUse) throw new ArgumentException($"buffer {i} has last use {buffers[i].LastUse} before first use {buffers[i].FirstUse}");
        }
    }
}

/// <summary>
/// Greedy by size, largest first (TensorFlow Lite Micro's <c>GreedyMemoryPlanner</c>): buffers are
/// placed in order of decreasing size (ties: earlier first use, then request order); each goes at the
/// lowest aligned offset where it fits in a gap between the already placed buffers whose lifetimes
/// intersect its own.
/// </summary>
public sealed class GreedyMemoryPlanner : IMemoryPlanner
{
    public GreedyMemoryPlanner(int alignment = MemoryPlanning.DefaultAlignment)
    {
        if (alignment <= 0) throw new ArgumentOutOfRangeException(nameof(alignment));
        Alignment = alignment;
    }

    public string Name => "greedy (largest first)";
    public int Alignment { get; }

    public MemoryLayout Plan(IReadOnlyList<BufferLifetime> buffers)
    {
        MemoryPlanning.Validate(buffers);
        var order = Enumerable.Range(0, buffers.Count)
            .OrderByDescending(i => buffers[i].Bytes).ThenBy(i => buffers[i].FirstUse).ThenBy(i => i).ToArray();
        var offsets = new long[buffers.Count];
        var placed = new List<int>();
        long arena = 0;
        foreach (int i in order)
        {
            var b = buffers[i];
            long size = MemoryPlanning.Align(b.Bytes, Alignment);
            var conflicts = placed.Where(j => buffers[j].OverlapsInTime(b) && buffers[j].Bytes > 0)
                .OrderBy(j => offsets[j]).ToList();
            long candidate = 0;
            foreach (int j in conflicts)
            {
                if (offsets[j] >= candidate + size) break; // the gap before j holds it
                candidate = Math.Max(candidate, MemoryPlanning.Align(offsets[j] + buffers[j].Bytes, Alignment));
            }
            offsets[i] = candidate;
            placed.Add(i);
            arena = Math.Max(arena, candidate + size);
        }
        return new MemoryLayout(offsets, arena);
    }
}

/// <summary>No reuse: buffers are laid out one after another in request order. For debugging a suspected planner bug.</summary>
public sealed class LinearMemoryPlanner : IMemoryPlanner
{
    public LinearMemoryPlanner(int alignment = MemoryPlanning.DefaultAlignment)
    {
        if (alignment <= 0) throw new ArgumentOutOfRangeException(nameof(alignment));
        Alignment = alignment;
    }

    public string Name => "linear (no reuse)";
    public int Alignment { get; }

    public MemoryLayout Plan(IReadOnlyList<BufferLifetime> buffers)
    {
        MemoryPlanning.Validate(buffers);
        var offsets = new long[buffers.Count];
        long next = 0;
        for (int i = 0; i < buffers.Count; i++)
        {
            offsets[i] = next;
            next += MemoryPlanning.Align(buffers[i].Bytes, Alignment);
        }
        return new MemoryLayout(offsets, next);
    }
}
