using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

/// <summary>The wave's verdict put together from the hard limits, the cohort's checks, its outliers and its segments.</summary>
internal static class CohortVerdict
{
    public static Judgement Judge(WaveEvidence evidence, Gates gates) =>
        Judge(evidence.Cohort, evidence.Control, gates, evidence.Targeted, evidence.Unit, evidence.Metrics, evidence.History, evidence.WaveStarted);

    /// <summary>
    /// A cohort node's sample from the first slot it spent wholly on the package (<see cref="Since"/> its apply of
    /// <paramref name="unit"/>), and from <paramref name="waveStarted"/> when given (a wave without a control): the slot it applied in mixes the
    /// package with the one before, and holds a part of that slot the control's figure covers and the node's does not.
    /// </summary>
    /// <example>
    /// An upstream disturbance starts at 10:00:00.6, as a canary applies the change; its first slot, 10:00:00–10:00:00.94,
    /// holds only its reports from 10:00:00.6 on (all disturbed: 25% errors), while the control's same slot holds reports
    /// from 10:00:00 (3%). Compared, the canary looks 8× worse than the control at the same time, and a good change is
    /// rolled back for the disturbance; from its next slot both sides are disturbed alike.
    /// </example>
    internal static NodeSample OnItsOwn(NodeSample sample, string? unit, DateTimeOffset? waveStarted)
    {
        DateTimeOffset? applied = null;
        foreach (var apply in sample.Applies)
        {
            if (apply.Unit == unit && (applied is null || apply.At > applied))
            {
                applied = apply.At;
            }
        }
        var from = applied is { } a && waveStarted is { } w ? (a > w ? a : w) : applied ?? waveStarted;
        return from is { } start ? Since(sample, start) : sample;
    }

    /// <summary>
    /// <paramref name="sample"/> with only the slots that start at or after <paramref name="start"/>: what a wave without
    /// a control judges (<see cref="WaveEvidence.WaveStarted"/>). A sample without a series stays as it is.
    /// </summary>
    /// <example>
    /// Slots of 1 s from 10:00:00, requests [100, 100, 100, 100], errors [20, 20, 0, 0] (an upstream blip while an earlier
    /// wave baked), the last wave started at 10:00:01.5: kept are the slots from 10:00:02, requests [100, 100], errors [0, 0].
    /// </example>
    internal static NodeSample Since(NodeSample sample, DateTimeOffset start)
    {
        if (sample.Series is not { Count: > 0, SlotTicks: > 0 } series)
        {
            return sample;
        }
        var first = (start.UtcTicks + series.SlotTicks - 1) / series.SlotTicks;
        var skip = (int)Math.Clamp(first - series.FirstSlot, 0, series.Count);
        if (skip == 0)
        {
            return sample;
        }
        long[] requests = series.Requests[skip..], errors = series.Errors.Length > skip ? series.Errors[skip..] : [];
        double[] p99 = series.P99.Length > skip ? series.P99[skip..] : [];
        return sample with
        {
            Requests = requests.Sum(),
            Errors = errors.Sum(),
            P99LatencyMs = p99.Length == 0 ? 0 : p99.Max(),
            Series = series with { FirstSlot = series.FirstSlot + skip, Requests = requests, Errors = errors, P99 = p99 },
        };
    }

    public static Judgement Judge(IReadOnlyList<NodeSample> cohort, IReadOnlyList<NodeSample> control, Gates gates, int targeted, string? unit,
        IReadOnlyList<MetricReading>? metrics = null, PooledHistory? history = null, DateTimeOffset? waveStarted = null)
    {
        if (targeted <= 0)
        {
            return new Judgement(new Verdict(VerdictResult.Healthy, [new Finding.EmptyWave()]), history);
        }

        var hard = HardLimits(cohort, gates);
        var t = gates.Thresholds;
        var notes = new List<Finding>();
        var live = cohort.Where(IsLive).ToList();
        var liveControl = control.Where(IsLive).ToList();
        if (unit is not null)
        {
            var limit = NodeLimit(liveControl, gates);
            live = LeaveOutOthers(live, Side.Cohort, unit, limit, t, notes);
            liveControl = LeaveOutOthers(liveControl, Side.Control, unit, limit, t, notes);
        }
        // Attribution above reads each node's series from the slot it applied in (a regression may have begun there,
        // before this unit's apply); what is judged is each node's time on the package alone, and without a control,
        // only the time since the wave started.
        var since = control.Any(s => IsLive(s) && s.Requests > 0) ? null : waveStarted;
        live = [.. live.Select(s => OnItsOwn(s, unit, since))];
        var judged = NodeWeights.Cap(OutlierRules.SetAsideUnchangedFlaky(live, gates, Side.Cohort, notes), Side.Cohort, t, notes);
        var controlJudged = NodeWeights.Cap(OutlierRules.SetAsideUnchangedFlaky(liveControl, gates, Side.Control, notes), Side.Control, t, notes);
        var (ours, theirs) = (Traffic.Of(judged), Traffic.Of(controlJudged));
        // The bake's earlier slots, pooled as earlier looks counted them, before the first slot these samples cover.
        var before = new[] { ours.FirstSlot, theirs.FirstSlot }.Min() ?? long.MaxValue;
        Traffic Extend(Traffic window, Side side) => window.After(history?.TrafficOf(side), before);
        var controlTraffic = Extend(theirs, Side.Control);
        var cohortTraffic = Extend(ours, Side.Cohort);
        var reference = Reference.Of(controlTraffic, cohortTraffic, judged, "control", t);
        var checks = CohortChecks.Evaluate("cohort", cohortTraffic, reference, gates, judged);

        if (hard.Count == 0 && checks.Any(c => c.Outcome == CheckOutcome.Fail) &&
            OutlierRules.TrySetAside(judged, controlTraffic, reference, checks, gates, rest => Extend(rest, Side.Cohort)) is { } outlier)
        {
            notes.Add(outlier.Note);
            judged = outlier.Rest;
            cohortTraffic = Extend(Traffic.Of(judged), Side.Cohort);
            reference = outlier.Reference;
            checks = outlier.Checks;
        }
        var carry = PooledHistory.Of(cohortTraffic, controlTraffic) ?? history;
        if (Aligned(cohortTraffic, controlTraffic, reference) is { } aligned)
        {
            notes.Add(aligned);
        }
        if (reference is { Figures.Kind: ReferenceKind.Baseline })
        {
            notes.Add(new Finding.BaselineOnly(t.MinControlRequests));
        }

        var (healthy, unhealthy) = CountNodes(cohort, gates, reference?.Rate);
        if (hard.Count > 0)
        {
            return new Judgement(new Verdict(VerdictResult.Unhealthy, hard, healthy, unhealthy), carry);
        }

        var enforced = checks.Concat(MetricGates(gates, metrics, control.Count > 0, notes)).ToList();
        var failures = enforced.Where(c => c.Outcome == CheckOutcome.Fail).Select(c => c.Finding)
            .Concat(SegmentChecks.Failures(judged, controlJudged, reference, gates, notes))
            .ToList();
        var passes = enforced.Where(c => c.Outcome == CheckOutcome.Pass).Select(c => c.Finding);
        var unsure = enforced.Where(c => c.Outcome == CheckOutcome.Unsure).Select(c => c.Finding).ToList();
        if (failures.Count > 0)
        {
            return new Judgement(new Verdict(VerdictResult.Unhealthy, [.. failures, .. unsure, .. passes, .. notes], healthy, unhealthy), carry);
        }

        var reporting = new Finding.Reporting(Math.Min(cohort.Count(s => s.Reported), targeted), targeted, gates.MinReportingFraction,
            HealthPolicy.RequiredReporting(targeted, gates.MinReportingFraction));
        var traffic = cohortTraffic;
        var missing = new List<Finding>();
        if (!reporting.Enough)
        {
            missing.Add(reporting);
        }
        if (traffic.Requests <= 0 && gates.Metrics.Any(m => m.Mode == GateMode.Enforce))
        {
            notes.Add(new Finding.MetricsOnly());
        }
        else if (traffic.Requests < t.MinCohortRequests)
        {
            missing.Add(new Finding.TooLittleTraffic(traffic.Requests, t.MinCohortRequests));
        }
        if (reference is null && traffic.Requests >= t.MinCohortRequests)
        {
            notes.Add(new Finding.CeilingOnly(t.MinControlRequests));
        }

        if (missing.Count > 0 || unsure.Count > 0)
        {
            return new Judgement(new Verdict(VerdictResult.Inconclusive, [.. missing, .. unsure, .. passes, .. notes], healthy, unhealthy), carry);
        }
        return new Judgement(new Verdict(VerdictResult.Healthy, [reporting, .. passes, .. notes], healthy, unhealthy), carry);
    }

    /// <summary>
    /// The checks of every enforced metric gate against its reading (a gate with no reading is unsure); a report-only
    /// gate's findings go to <paramref name="notes"/>, where they are shown and change nothing.
    /// </summary>
    private static List<Check> MetricGates(Gates gates, IReadOnlyList<MetricReading>? readings, bool controlExists, List<Finding> notes)
    {
        var checks = new List<Check>();
        foreach (var gate in gates.Metrics)
        {
            var reading = readings?.FirstOrDefault(r => r.Gate == gate.Name);
            foreach (var check in MetricChecks.Evaluate(gate, reading, controlExists))
            {
                if (gate.Mode == GateMode.ReportOnly)
                {
                    notes.Add(check.Finding);
                }
                else
                {
                    checks.Add(check);
                }
            }
        }
        return checks;
    }

    /// <summary>Crashes over <see cref="Gates.MaxCrashes"/> and rejections over <see cref="Gates.MaxRejected"/>: unhealthy whatever else holds.</summary>
    private static List<Finding> HardLimits(IReadOnlyList<NodeSample> cohort, Gates gates)
    {
        var crashed = cohort.Where(s => s.Crashes > 0).ToList();
        var crashes = crashed.Sum(s => (long)s.Crashes);
        var rejected = cohort.Where(s => s.Rejected).ToList();
        var hard = new List<Finding>();
        if (crashes > gates.MaxCrashes)
        {
            hard.Add(new Finding.Crashed(crashes, crashed.Count, gates.MaxCrashes, Named(crashed)));
        }
        if (rejected.Count > gates.MaxRejected)
        {
            hard.Add(new Finding.Rejected(rejected.Count, gates.MaxRejected, Named(rejected)));
        }
        return hard;
    }

    private static bool IsLive(NodeSample s) => s.Reported && !s.Rejected;

    /// <summary>The error rate a node is regressing above: the ceiling, or ratio × the (floored) control rate when that is lower.</summary>
    private static double NodeLimit(List<NodeSample> control, Gates gates)
    {
        var traffic = Traffic.Of(control);
        if (traffic.Requests < gates.Thresholds.MinControlRequests)
        {
            return gates.MaxErrorRate;
        }
        var floored = Math.Max(traffic.Total.Rate, Math.Max(1.0 / traffic.Requests, gates.Thresholds.ErrorRateFloor));
        return Math.Min(gates.MaxErrorRate, gates.MaxErrorRateRatio * floored);
    }

    /// <summary><paramref name="nodes"/> without those whose regression began after another unit's change (<see cref="Attribution"/>), each noted.</summary>
    private static List<NodeSample> LeaveOutOthers(List<NodeSample> nodes, Side side, string unit, double limit, GateThresholds t, List<Finding> notes)
    {
        var kept = new List<NodeSample>(nodes.Count);
        var left = 0;
        foreach (var node in nodes)
        {
            if (Attribution.Elsewhere(node, unit, limit, t) is not { } other)
            {
                kept.Add(node);
                continue;
            }
            if (++left <= FindingText.MaxNamedNodes)
            {
                var (errors, requests) = Statistics.Counts(node);
                notes.Add(new Finding.AttributedElsewhere(side, node.NodeId, other.Unit, other.Version, other.At, Attribution.Began(node, limit, t) ?? other.At, errors, requests));
            }
        }
        if (left > FindingText.MaxNamedNodes)
        {
            notes.Add(new Finding.AttributedMore(side, left - FindingText.MaxNamedNodes));
        }
        return kept;
    }

    /// <summary>Says which moments the comparison with the control covered, when lining the two up left control traffic out.</summary>
    private static Finding.Aligned? Aligned(Traffic cohort, Traffic control, Reference? reference)
    {
        if (reference is not { Figures: { Kind: ReferenceKind.Control, Requests: { } compared } } || cohort.SlotTicks is not { } slotTicks)
        {
            return null;
        }
        var leftOut = control.Requests - compared;
        var slots = reference.Cohort.Buckets.Keys.Where(k => k != Traffic.Untimed).ToList();
        if (leftOut <= 0 || slots.Count == 0)
        {
            return null;
        }
        return new Finding.Aligned(slots.Count, SlotSeries.At(slots[0], slotTicks), SlotSeries.At(slots[^1] + 1, slotTicks), leftOut,
            cohort.Requests - reference.Cohort.Requests);
    }

    private static IReadOnlyList<string> Named(IEnumerable<NodeSample> nodes) => [.. nodes.Take(FindingText.MaxNamedNodes).Select(s => s.NodeId)];

    private static (int Healthy, int Unhealthy) CountNodes(IReadOnlyList<NodeSample> cohort, Gates gates, double? controlRate)
    {
        int healthy = 0, unhealthy = 0;
        foreach (var sample in cohort)
        {
            switch (NodeBreach.Assess(sample, gates, controlRate))
            {
                case NodeHealth.Healthy: healthy++; break;
                case NodeHealth.Unhealthy: unhealthy++; break;
            }
        }
        return (healthy, unhealthy);
    }
}
