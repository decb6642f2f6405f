namespace Snapstone.Domain.Health;

/// <summary>
/// One node's traffic slot by slot: what lets the judge compare cohort and control over the same moments. Slots are
/// the health window's (<c>span / 64</c>, 0.9375 s by default) and are numbered from the epoch
/// (<c>UtcTicks / SlotTicks</c>), so every node's slot <c>k</c> is the same stretch of time. A slot with no report
/// holds zeros. Compact by construction: at most <see cref="HealthWindow.Slots"/> slots, three numbers each.
/// </summary>
/// <example>
/// SlotTicks 9,375,000 (0.9375 s), FirstSlot 1,889,000,000, Requests [120, 0, 80], Errors [1, 0, 0], P99 [41, 0, 39]:
/// 120 requests in the slot starting at <c>FirstSlot × 0.9375 s</c> after the epoch, none in the next, 80 in the third.
/// </example>
[GenerateSerializer, Immutable, Alias("snapstone.SlotSeries")]
public sealed record SlotSeries
{
    [Id(0)] public required long SlotTicks { get; init; }
    [Id(1)] public required long FirstSlot { get; init; }
    [Id(2)] public long[] Requests { get; init; } = [];
    [Id(3)] public long[] Errors { get; init; } = [];
    /// <summary>The worst p99 reported in each slot; 0 where nothing was served.</summary>
    [Id(4)] public double[] P99 { get; init; } = [];

    public int Count => Requests.Length;

    /// <summary>When slot <paramref name="index"/> of this series starts.</summary>
    public DateTimeOffset StartOf(int index) => At(FirstSlot + index, SlotTicks);

    /// <summary>When the slot numbered <paramref name="slot"/> (from the epoch) starts.</summary>
    public static DateTimeOffset At(long slot, long slotTicks) => new(Math.Clamp(slot * slotTicks, 0, DateTimeOffset.MaxValue.UtcTicks), TimeSpan.Zero);

    public bool Equals(SlotSeries? other) =>
        other is not null && SlotTicks == other.SlotTicks && FirstSlot == other.FirstSlot &&
        Requests.AsSpan().SequenceEqual(other.Requests) && Errors.AsSpan().SequenceEqual(other.Errors) && P99.AsSpan().SequenceEqual(other.P99);

    public override int GetHashCode() => HashCode.Combine(SlotTicks, FirstSlot, Count);
}
