using Snapstone.Domain.Health;

namespace Snapstone.Domain.Tests.Health;

/// <summary>Samples with slot-by-slot series, as node grains make them, for tests of what happens when.</summary>
public static class Timed
{
    /// <summary>The default window's slot: 60 s / 64 = 0.9375 s.</summary>
    public const long SlotTicks = 60 * TimeSpan.TicksPerSecond / HealthWindow.Slots;

    /// <summary>Slot numbers from here on: a minute boundary, so slot 0 starts at 10:00:00.</summary>
    public static readonly long Origin = new DateTimeOffset(2026, 1, 1, 10, 0, 0, TimeSpan.Zero).UtcTicks / SlotTicks;

    /// <summary>One slot of a node's traffic.</summary>
    public readonly record struct Slot(long Requests, long Errors, double P99 = 40);

    /// <summary>A node whose series starts at slot <paramref name="first"/> (counted from <see cref="Origin"/>).</summary>
    public static NodeSample Node(string id, int first, IEnumerable<Slot> slots, IReadOnlyDictionary<string, string>? labels = null,
        double? baseline = null, double? baselineP99 = null)
    {
        var list = slots.ToList();
        var series = new SlotSeries
        {
            SlotTicks = SlotTicks,
            FirstSlot = Origin + first,
            Requests = [.. list.Select(s => s.Requests)],
            Errors = [.. list.Select(s => s.Errors)],
            P99 = [.. list.Select(s => s.P99)],
        };
        var requests = list.Sum(s => s.Requests);
        return new NodeSample
        {
            NodeId = id,
            Requests = requests,
            Errors = list.Sum(s => s.Errors),
            P99LatencyMs = list.Count == 0 ? 0 : list.Max(s => s.P99),
            Reported = true,
            Labels = labels ?? new Dictionary<string, string>(),
            BaselineErrorRate = baseline,
            BaselineP99LatencyMs = baselineP99,
            Series = series,
        };
    }

    /// <summary><paramref name="count"/> slots of the same traffic.</summary>
    public static IEnumerable<Slot> Repeat(int count, long requests, long errors, double p99 = 40) =>
        Enumerable.Repeat(new Slot(requests, errors, p99), count);

    /// <summary><paramref name="count"/> nodes named <c>{prefix}-{i}</c>, each with the same slots.</summary>
    public static List<NodeSample> Many(string prefix, int count, int first, IEnumerable<Slot> slots, IReadOnlyDictionary<string, string>? labels = null) =>
        [.. Enumerable.Range(0, count).Select(i => Node($"{prefix}-{i}", first, slots, labels))];

    /// <summary>When slot <paramref name="slot"/> (from <see cref="Origin"/>) starts.</summary>
    public static DateTimeOffset At(int slot) => SlotSeries.At(Origin + slot, SlotTicks);
}
