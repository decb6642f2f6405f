using Snapstone.Domain.Plans;
using static Snapstone.Domain.Health.Statistics;

namespace Snapstone.Domain.Health;

/// <summary>Traffic in one time slot: requests, errors and the request-weighted sum of p99s (<c>Σ p99 × requests</c>).</summary>
internal readonly record struct Bucket(double Requests, double Errors, double Latency)
{
    public Bucket Add(double requests, double errors, double p99) => new(Requests + requests, Errors + errors, Latency + p99 * requests);

    public Bucket Add(Bucket other) => new(Requests + other.Requests, Errors + other.Errors, Latency + other.Latency);

    public double Rate => Requests > 0 ? Errors / Requests : 0;

    public double? P99 => Requests > 0 ? Latency / Requests : null;
}

/// <summary>
/// Traffic of a set of nodes summed slot by slot (<see cref="SlotSeries"/>), so two sets can be compared over the
/// same moments. A sample without a series lands in one <see cref="Untimed"/> slot, shared by every such sample:
/// samples that say nothing about time are compared as if they covered the same time.
/// </summary>
internal sealed class Traffic
{
    /// <summary>The slot of samples without a series.</summary>
    public const long Untimed = long.MinValue;

    public static readonly Traffic Empty = new(new SortedDictionary<long, Bucket>(), null);

    private Traffic(SortedDictionary<long, Bucket> buckets, long? slotTicks)
    {
        Buckets = buckets;
        SlotTicks = slotTicks;
        var total = default(Bucket);
        foreach (var bucket in buckets.Values)
        {
            total = total.Add(bucket);
        }
        Total = total;
    }

    /// <summary>Slot number → traffic, in time order (<see cref="Untimed"/> first).</summary>
    public SortedDictionary<long, Bucket> Buckets { get; }

    /// <summary>The slot length of the series summed; null when none had one.</summary>
    public long? SlotTicks { get; }

    public Bucket Total { get; }

    public double Requests => Total.Requests;
    public double Errors => Total.Errors;
    /// <summary>The request-weighted mean of the p99s; null when nothing was served.</summary>
    public double? P99 => Total.P99;

    internal static Traffic From(SortedDictionary<long, Bucket> buckets, long? slotTicks) => new(buckets, slotTicks);

    /// <summary>
    /// This traffic with <paramref name="history"/>'s buckets before <paramref name="before"/> (the first slot the current
    /// samples cover) added: what a look judges when the bake is longer than the node windows.
    /// </summary>
    public Traffic After(Traffic? history, long before)
    {
        if (history is null || history.Buckets.Count == 0 || (SlotTicks is { } ours && history.SlotTicks is { } theirs && ours != theirs))
        {
            return this;
        }
        var merged = new SortedDictionary<long, Bucket>(Buckets);
        foreach (var (slot, bucket) in history.Buckets)
        {
            if (slot < before && slot != Untimed)
            {
                merged[slot] = bucket;
            }
        }
        return new Traffic(merged, SlotTicks ?? history.SlotTicks);
    }

    /// <summary>The first timed slot, or null.</summary>
    public long? FirstSlot => Buckets.Keys.Where(k => k != Untimed).Select(k => (long?)k).FirstOrDefault();

    public static Traffic Of(IEnumerable<NodeSample> nodes)
    {
        // A wave of 10,000 nodes brings 640,000 slots on every look: they are summed into arrays over the slots the
        // series span (all on one grid), not a map, and only the slots with traffic become buckets.
        var list = nodes as IReadOnlyList<NodeSample> ?? [.. nodes];
        long? slotTicks = null;
        long lo = long.MaxValue, hi = long.MinValue;
        foreach (var s in list)
        {
            if (s.Series is { Count: > 0 } series && series.SlotTicks > 0)
            {
                slotTicks ??= series.SlotTicks;
                if (series.SlotTicks == slotTicks)
                {
                    lo = Math.Min(lo, series.FirstSlot);
                    hi = Math.Max(hi, series.FirstSlot + series.Count - 1);
                }
            }
        }
        var span = lo <= hi ? hi - lo + 1 : 0;
        if (span > MaxDenseSlots)
        {
            return OfSparse(list, slotTicks);
        }
        var requests = new double[span];
        var errors = new double[span];
        var latency = new double[span];
        double untimedRequests = 0, untimedErrors = 0, untimedLatency = 0;
        foreach (var s in list)
        {
            if (s.Series is { Count: > 0 } series && series.SlotTicks > 0)
            {
                if (series.SlotTicks != slotTicks)
                {
                    continue; // a window of another span cannot be lined up slot by slot: it is not counted
                }
                var offset = (int)(series.FirstSlot - lo);
                for (var i = 0; i < series.Count; i++)
                {
                    var r = Math.Max(0, series.Requests[i]);
                    if (r == 0)
                    {
                        continue;
                    }
                    requests[offset + i] += r;
                    errors[offset + i] += Math.Clamp(i < series.Errors.Length ? series.Errors[i] : 0, 0, r);
                    var p99 = i < series.P99.Length ? series.P99[i] : 0;
                    latency[offset + i] += double.IsFinite(p99) && p99 > 0 ? p99 * r : 0;
                }
                continue;
            }
            var (e, n) = Counts(s);
            if (n > 0)
            {
                untimedRequests += n;
                untimedErrors += e;
                untimedLatency += Latency(s) * n;
            }
        }
        var buckets = new SortedDictionary<long, Bucket>();
        if (untimedRequests > 0)
        {
            buckets[Untimed] = new Bucket(untimedRequests, untimedErrors, untimedLatency);
        }
        for (var i = 0; i < span; i++)
        {
            if (requests[i] > 0)
            {
                buckets[lo + i] = new Bucket(requests[i], errors[i], latency[i]);
            }
        }
        return new Traffic(buckets, slotTicks);
    }

    /// <summary>Past this many slots between the earliest and the latest, series are summed in a map instead.</summary>
    private const long MaxDenseSlots = 1 << 16;

    private static Traffic OfSparse(IReadOnlyList<NodeSample> nodes, long? slotTicks)
    {
        var buckets = new Dictionary<long, Bucket>();
        foreach (var s in nodes)
        {
            if (s.Series is { Count: > 0 } series && series.SlotTicks > 0)
            {
                if (series.SlotTicks != slotTicks)
                {
                    continue;
                }
                for (var i = 0; i < series.Count; i++)
                {
                    var requests = Math.Max(0, series.Requests[i]);
                    if (requests == 0)
                    {
                        continue;
                    }
                    var errors = Math.Clamp(i < series.Errors.Length ? series.Errors[i] : 0, 0, requests);
                    var p99 = i < series.P99.Length && double.IsFinite(series.P99[i]) && series.P99[i] > 0 ? series.P99[i] : 0;
                    Add(buckets, series.FirstSlot + i, requests, errors, p99);
                }
                continue;
            }
            var (e, r) = Counts(s);
            if (r > 0)
            {
                Add(buckets, Untimed, r, e, Latency(s));
            }
        }
        return new Traffic(new SortedDictionary<long, Bucket>(buckets), slotTicks);
    }

    /// <summary>This traffic in the slots where <paramref name="other"/> has traffic too.</summary>
    public Traffic Where(Traffic other)
    {
        var kept = new SortedDictionary<long, Bucket>();
        foreach (var (slot, bucket) in Buckets)
        {
            if (other.Buckets.TryGetValue(slot, out var theirs) && theirs.Requests > 0)
            {
                kept[slot] = bucket;
            }
        }
        return new Traffic(kept, SlotTicks);
    }

    /// <summary>This traffic in the slots <paramref name="keep"/> says yes to.</summary>
    public Traffic Where(Func<long, bool> keep)
    {
        var kept = new SortedDictionary<long, Bucket>();
        foreach (var (slot, bucket) in Buckets)
        {
            if (keep(slot))
            {
                kept[slot] = bucket;
            }
        }
        return new Traffic(kept, SlotTicks);
    }

    /// <summary>The number of timed slots (not <see cref="Untimed"/>).</summary>
    public int TimedSlots => Buckets.Keys.Count(k => k != Untimed);

    private static void Add(Dictionary<long, Bucket> buckets, long slot, double requests, double errors, double p99)
    {
        ref var bucket = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(buckets, slot, out _);
        bucket = bucket.Add(requests, errors, p99);
    }
}

/// <summary>
/// What the cohort is compared with: the control at the same moments, or else the cohort's own baselines.
/// <see cref="Cohort"/> is the cohort's traffic the comparison covers: against a control, only the slots both sides
/// reported in (<see cref="Control"/> is the control's traffic in those slots); against baselines, all of it.
/// <see cref="FloorRate"/> is the least rate a ratio is taken against, <see cref="Floored"/> = max(rate, floor).
/// </summary>
internal sealed record Reference(string Name, double Rate, double Floored, double? P99, ReferenceFigures Figures, Traffic Cohort,
    Traffic? Control, double FloorRate)
{
    /// <summary>The same reference figures held against other traffic (a segment judged against the whole cohort's reference).</summary>
    public Reference For(Traffic traffic) => this with { Cohort = traffic };

    /// <summary>
    /// The control's figures over the slots where both it and <paramref name="cohort"/> have traffic, each slot weighted
    /// by the cohort's traffic in it, so a control that reported for longer (or earlier) than the cohort is compared
    /// only over the same moments.
    /// </summary>
    /// <example>
    /// Cohort 1,000 requests in slot 7 and 1,000 in slot 8; control 10,000 in slot 7 at 0.1% and 10,000 in slot 8 at 5%
    /// (an upstream blip), and 40,000 in slots 1–4 at 0.1% before the cohort existed: the control rate the cohort is
    /// held to is (1,000 × 0.1% + 1,000 × 5%) / 2,000 = 2.55%, not (40 + 10 + 500) / 60,000 = 0.92%.
    /// </example>
    public static Reference? Of(Traffic control, Traffic cohort, IReadOnlyList<NodeSample> cohortNodes, string name, GateThresholds t)
    {
        var aligned = control.Where(cohort);
        if (aligned.Requests >= t.MinControlRequests)
        {
            var covered = cohort.Where(control);
            double weight = 0, rate = 0, latencyWeight = 0, latency = 0;
            foreach (var (slot, theirs) in aligned.Buckets)
            {
                var ours = covered.Buckets[slot];
                weight += ours.Requests;
                rate += ours.Requests * theirs.Rate;
                if (theirs.P99 is { } p99 && p99 > 0)
                {
                    latencyWeight += ours.Requests;
                    latency += ours.Requests * p99;
                }
            }
            var controlRate = weight > 0 ? rate / weight : aligned.Total.Rate;
            var floor = Math.Max(1.0 / aligned.Requests, t.ErrorRateFloor);
            var floored = Math.Max(controlRate, floor);
            return new Reference(name, controlRate, floored, latencyWeight > 0 ? latency / latencyWeight : null,
                new ReferenceFigures(ReferenceKind.Control, name, controlRate, floored, aligned.Errors, aligned.Requests), covered, aligned, floor);
        }
        long cohortRequests = 0, withBaseline = 0, withBaselineP99 = 0;
        double baselineErrors = 0, baselineP99 = 0;
        foreach (var s in cohortNodes)
        {
            var (_, requests) = Counts(s);
            cohortRequests += requests;
            if (s.BaselineErrorRate is { } b && double.IsFinite(b))
            {
                withBaseline += requests;
                baselineErrors += Math.Clamp(b, 0, 1) * requests;
            }
            if (s.BaselineP99LatencyMs is { } p && double.IsFinite(p))
            {
                withBaselineP99 += requests;
                baselineP99 += Math.Max(0, p) * requests;
            }
        }
        if (withBaseline < t.MinControlRequests || withBaseline * 2 < cohortRequests)
        {
            return null;
        }
        var baselineRate = baselineErrors / withBaseline;
        var baselineFloored = Math.Max(baselineRate, t.ErrorRateFloor);
        return new Reference("baseline", baselineRate, baselineFloored, withBaselineP99 > 0 ? baselineP99 / withBaselineP99 : null,
            new ReferenceFigures(ReferenceKind.Baseline, "baseline", baselineRate, baselineFloored), cohort, null, t.ErrorRateFloor);
    }
}
