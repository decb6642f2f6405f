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
    public static DateTimeOffset? Onset(NodeSample node, double limit) =>
        Episode(node, limit) is { } episode ? node.Series!.StartOf(episode.Start) : null;

    /// <summary>
    /// The slots of the node's regression against <paramref name="limit"/>: from <see cref="Onset"/> to the slot where
    /// the CUSUM statistic peaked (indexes into the node's series), or null as for <see cref="Onset"/>.
    /// </summary>
    private static (int Start, int Peak)? Episode(NodeSample node, double limit)
    {
        if (node.Series is not { Count: > 0 } series || series.SlotTicks <= 0)
        {
            return null;
        }
        double cusum = 0, peak = 0;
        int start = 0, peakStart = -1, peakAt = -1;
        for (var i = 0; i < series.Count; i++)
        {
            var (errors, requests) = At(series, i);
            cusum = Math.Max(0, cusum + errors * Math.Log(2) - limit * requests);
            if (cusum == 0)
            {
                start = i + 1;
            }
            else if (cusum > peak)
            {
                peak = cusum;
                peakStart = start;
                peakAt = i;
            }
        }
        return peakStart < 0 ? null : (peakStart, peakAt);
    }

    private static (long Errors, long Requests) At(SlotSeries series, int i)
    {
        var requests = Math.Max(0, series.Requests[i]);
        return (Math.Clamp(i < series.Errors.Length ? series.Errors[i] : 0, 0, requests), requests);
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
        if (node.Applies.Count == 0 || node.Series is not { } series || Episode(node, limit) is not { } episode || !Regressing(series, episode, limit, t))
        {
            return null;
        }
        var suspects = Suspects(node.Applies, series.StartOf(Began(node.Applies, series, episode, limit, t)), series.SlotTicks);
        return suspects.Count > 0 && suspects.All(a => a.Unit != unit) ? suspects[^1] : null;
    }

    /// <summary>
    /// When the node's regression began, as the changes it applied tell: its <see cref="Onset"/>, or the apply of a later
    /// change within the regression when what the node served from the onset up to that apply is not significantly over
    /// <paramref name="limit"/> on its own. Null as for <see cref="Onset"/>.
    /// </summary>
    /// <example>
    /// Limit 0.2%, 500 requests a slot. A node at 0.1% served 2 errors in slot 20 (chance: the statistic rose from zero
    /// there), applied the killswitch early in slot 21 and failed 28% of its requests from then on. The onset is slot 20,
    /// before the killswitch, and would blame the change applied before it; but slot 20 alone (2 of 500) is no regression,
    /// so the regression began with the killswitch's apply, in slot 21.
    /// </example>
    public static DateTimeOffset? Began(NodeSample node, double limit, GateThresholds t) =>
        node.Series is { } series && Episode(node, limit) is { } episode ? series.StartOf(Began(node.Applies, series, episode, limit, t)) : null;

    private static int Began(IReadOnlyList<UnitApply> applies, SlotSeries series, (int Start, int Peak) episode, double limit, GateThresholds t)
    {
        var start = episode.Start;
        foreach (var apply in applies.OrderBy(a => a.At))
        {
            var slot = (int)Math.Clamp(apply.At.UtcTicks / series.SlotTicks - series.FirstSlot, int.MinValue, int.MaxValue);
            if (slot <= start || slot > episode.Peak)
            {
                continue;
            }
            if (Regressing(series, (start, slot - 1), limit, t))
            {
                break;
            }
            start = slot;
        }
        return start;
    }

    /// <summary>
    /// The units a node's breach should be signalled to: those its regression is attributed to; every rollout that touched
    /// it (an empty list) when the node cannot tell.
    /// </summary>
    public static IReadOnlyList<string> Blame(NodeSample node, Gates gates)
    {
        var limit = Math.Max(gates.MaxErrorRate, gates.MaxErrorRateRatio * (node.BaselineErrorRate ?? 0));
        if (node.Applies.Count == 0 || node.Series is null || Began(node, limit, gates.Thresholds) is not { } onset)
        {
            return [];
        }
        return [.. Suspects(node.Applies, onset, node.Series.SlotTicks).Select(a => a.Unit)];
    }

    /// <summary>
    /// The node's errors from the regression's onset to its peak are significantly over <paramref name="limit"/>: judged
    /// over the episode, not the whole window, so a change rolled back within seconds of its apply is still found to
    /// own the errors it caused on a node whose window is mostly clean.
    /// </summary>
    private static bool Regressing(SlotSeries series, (int Start, int Peak) episode, double limit, GateThresholds t)
    {
        long errors = 0, requests = 0;
        for (var i = episode.Start; i <= episode.Peak; i++)
        {
            var (e, r) = At(series, i);
            errors += e;
            requests += r;
        }
        return Statistics.ErrorOutcome(errors, requests, limit, t) == CheckOutcome.Fail;
    }
}
