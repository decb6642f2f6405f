using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

/// <summary>When a node applied one unit's package (the first report that said it ran it).</summary>
[GenerateSerializer, Immutable, Alias("snapstone.UnitApply")]
public sealed record UnitApply([property: Id(0)] string Unit, [property: Id(1)] long Version, [property: Id(2)] DateTimeOffset At);

/// <summary>
/// Which change a node's regression belongs to when several changes touched it: the one it applied last before the
/// regression began. A rollout whose change it is not treats the node as noise outside its evidence, so a bad change
/// of one unit no longer rolls back a good change of another that shares its canaries; if the regression also shows in
/// that rollout's own cohort against its own control, the rest of its cohort says so without the node.
/// </summary>
/// <example>
/// A node applied <c>flags</c> v12 at 10:00:00 (a rollout in its second wave) and <c>bot-features</c> v8 at 10:02:00
/// (a canary). Its errors were at 0.1% until 10:02:01 and 17.6% since: the regression began at 10:02:01, after
/// bot-features v8, so it is bot-features' — the flags rollout leaves the node out, the bot-features rollout judges it.
/// Had its errors begun at 10:00:01, they would be the flags change's.
/// </example>
public static class Attribution
{
    /// <summary>
    /// When the node's regression against <paramref name="limit"/> (an error rate) began: the start of the slot after the
    /// last one where a CUSUM statistic for "twice the limit" was back at zero before its peak, or null when the node
    /// has no series or its errors never climbed over the limit.
    /// </summary>
    public static DateTimeOffset? Onset(NodeSample node, double limit)
    {
        if (node.Series is not { Count: > 0 } series || series.SlotTicks <= 0)
        {
            return null;
        }
        double cusum = 0, peak = 0;
        int start = 0, peakStart = -1;
        for (var i = 0; i < series.Count; i++)
        {
            var requests = Math.Max(0, series.Requests[i]);
            var errors = Math.Clamp(i < series.Errors.Length ? series.Errors[i] : 0, 0, requests);
            cusum = Math.Max(0, cusum + errors * Math.Log(2) - limit * requests);
            if (cusum == 0)
            {
                start = i + 1;
            }
            else if (cusum > peak)
            {
                peak = cusum;
                peakStart = start;
            }
        }
        return peakStart < 0 ? null : series.StartOf(peakStart);
    }

    /// <summary>
    /// The changes a regression that began at <paramref name="onset"/> is attributed to: the one applied last before the end
    /// of the onset's slot, with any applied in that same slot (they cannot be told apart). Empty when none was applied
    /// before it: the regression predates every change the node knows of.
    /// </summary>
    public static IReadOnlyList<UnitApply> Suspects(IReadOnlyList<UnitApply> applies, DateTimeOffset onset, long slotTicks)
    {
        var end = onset.AddTicks(Math.Max(1, slotTicks));
        var before = applies.Where(a => a.At < end).ToList();
        if (before.Count == 0)
        {
            return [];
        }
        var latest = before.Max(a => a.At);
        var slot = slotTicks > 0 ? latest.UtcTicks / slotTicks : latest.UtcTicks;
        return [.. before.Where(a => (slotTicks > 0 ? a.At.UtcTicks / slotTicks : a.At.UtcTicks) == slot).OrderBy(a => a.Unit, StringComparer.Ordinal)];
    }

    /// <summary>
    /// The change of another unit that <paramref name="node"/>'s regression (errors significantly over
    /// <paramref name="limit"/>) belongs to, when it is not <paramref name="unit"/>'s; null when the node is not
    /// regressing, the regression is <paramref name="unit"/>'s (or shared with it), or there is nothing to tell by.
    /// </summary>
    public static UnitApply? Elsewhere(NodeSample node, string unit, double limit, GateThresholds t)
    {
        // The agent saw another unit's package crash the node: what the crash loop served is that change's.
        if (node.CrashedOn.Count > 0 && !node.CrashedOn.Contains(unit) &&
            node.Applies.FirstOrDefault(a => node.CrashedOn.Contains(a.Unit)) is { } named)
        {
            return named;
        }
        if (node.Applies.Count == 0 || node.Series is null || !Regressing(node, limit, t) || Onset(node, limit) is not { } onset)
        {
            return null;
        }
        var suspects = Suspects(node.Applies, onset, node.Series.SlotTicks);
        return suspects.Count > 0 && suspects.All(a => a.Unit != unit) ? suspects[^1] : null;
    }

    /// <summary>
    /// The units a node's breach should be signalled to: those its regression is attributed to; every rollout that touched
    /// it (an empty list) when the node cannot tell.
    /// </summary>
    public static IReadOnlyList<string> Blame(NodeSample node, Gates gates)
    {
        var limit = Math.Max(gates.MaxErrorRate, gates.MaxErrorRateRatio * (node.BaselineErrorRate ?? 0));
        if (node.Applies.Count == 0 || node.Series is null || Onset(node, limit) is not { } onset)
        {
            return [];
        }
        return [.. Suspects(node.Applies, onset, node.Series.SlotTicks).Select(a => a.Unit)];
    }

    private static bool Regressing(NodeSample node, double limit, GateThresholds t)
    {
        var (errors, requests) = Statistics.Counts(node);
        return Statistics.ErrorOutcome(errors, requests, limit, t) == CheckOutcome.Fail;
    }
}
