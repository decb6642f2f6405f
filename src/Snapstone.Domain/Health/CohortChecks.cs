using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

internal enum CheckKind { Errors, Latency, Metric }

/// <summary>One check's outcome with the finding that says it.</summary>
internal sealed record Check(CheckKind Kind, CheckOutcome Outcome, Finding Finding);

/// <summary>
/// The error and latency checks of some traffic (the whole cohort, or one segment of it) against the ceiling and a
/// reference. Each fails when the always-valid evidence against the gate passed <c>1 / Significance</c> at any slot
/// (<see cref="Sequential"/>: the verdict is the same whenever, and however often, it is asked for), passes when
/// it did not and the point figure is within the gate, and is unsure otherwise.
/// </summary>
internal static class CohortChecks
{
    /// <summary>
    /// The error and latency checks of <paramref name="traffic"/>, summed from <paramref name="nodes"/> (a ceiling judged
    /// after an ambient disturbance waits until enough of them have reported since it); <paramref name="ceiling"/>
    /// false leaves out the absolute ceiling.
    /// </summary>
    public static List<Check> Evaluate(string who, Traffic traffic, Reference? reference, Gates gates, IReadOnlyList<NodeSample> nodes, bool ceiling = true)
    {
        var checks = new List<Check>();
        if (traffic.Requests <= 0)
        {
            return checks;
        }
        if (ceiling)
        {
            checks.AddRange(reference is { Control: null, Figures.Kind: ReferenceKind.Baseline } baseline && baseline.Rate > gates.MaxErrorRate
                ? ErrorCeilingOverBaseline(who, traffic, baseline, gates, nodes)
                : ErrorCeiling(who, traffic, reference?.Control, gates, nodes));
            checks.AddRange(LatencyCeiling(who, traffic, reference?.Control, gates, nodes));
        }
        if (reference is null)
        {
            return checks;
        }
        checks.Add(Ratio(who, reference, gates));
        if (Latency(who, reference, gates) is { } latency)
        {
            checks.Add(latency);
        }
        return checks;
    }

    /// <summary>
    /// The error ceiling, minding what the control did at the same time: slots where the control was over the ceiling
    /// too are judged apart (<see cref="Finding.Ambient"/>): an upstream incident that raises errors on every node is
    /// not the change's fault unless the cohort is significantly worse than <see cref="Gates.MaxErrorRateRatio"/> × the
    /// control meanwhile — the same tolerance the ratio check grants, since a cohort of a few canaries is never exactly
    /// the control's population (a flaky host among them, another proxy mix) and an upstream incident magnifies that.
    /// </summary>
    /// <example>
    /// Ceiling 1%, ratio 2. Slots 0–49: cohort and control at 0.1%; slots 50–59: both at 20% (the upstream blip). The
    /// cohort is not significantly worse than 2 × 20% in slots 50–59, so they are left out of the ceiling check, which
    /// passes on slots 0–49, and the verdict waits while the blip goes on; once it clears, the slots after it are judged
    /// on the ceiling again, so a change that adds errors of its own is caught then. Had the cohort been at 60% against
    /// the control's 20% in those slots, the breach would be the change's: fail at once.
    /// The slots after it are the cohort's only once enough of its nodes have reported in them (<see cref="Coverage"/>):
    /// the first report after the blip may come from the two fl2 canaries at 0.4%, while the fl1 canaries that fail
    /// 28% of their requests on the change have not reported since.
    /// </example>
    private static IEnumerable<Check> ErrorCeiling(string who, Traffic traffic, Traffic? control, Gates gates, IReadOnlyList<NodeSample> nodes)
    {
        var limit = gates.MaxErrorRate;
        var disturbed = control is null ? [] : control.Buckets.Where(b => b.Value.Requests > 0 && b.Value.Rate > limit).Select(b => b.Key).ToHashSet();
        var during = traffic.Where(disturbed.Contains);
        if (disturbed.Count == 0 || during.Requests <= 0 || during.Total.Rate <= limit)
        {
            yield return Ceiling(who, traffic, gates);
            yield break;
        }
        var clean = traffic.Where(slot => !disturbed.Contains(slot));
        if (clean.Requests > 0)
        {
            yield return Ceiling(who, clean, gates);
        }
        var theirs = control!.Where(disturbed.Contains);
        var worse = Sequential.AgainstControl(during.Buckets.Select(b =>
        {
            var k = theirs.Buckets.GetValueOrDefault(b.Key);
            return (b.Key, b.Value.Errors, b.Value.Requests, k.Errors, k.Requests);
        }), gates.MaxErrorRateRatio, Level.For(during, gates.Thresholds.Significance));
        var last = disturbed.Max();
        yield return Ambient(who, Health.Ceiling.ErrorRate, limit, during, during.Total.Rate, theirs.Total.Rate, control, clean, worse, gates,
            Coverage(nodes, last, gates), gates.MaxErrorRateRatio);
    }

    /// <summary>
    /// The error ceiling where there is no control at the same time (the last wave) and the cohort's own baselines were
    /// over the ceiling already before the change: the nodes were failing before they took it (an upstream incident that
    /// began before this wave was assigned), so a breach of the ceiling is not the change's unless the cohort is
    /// significantly worse than <see cref="Gates.MaxErrorRateRatio"/> × its baseline. The slots up to the last one over
    /// the ceiling are judged so (<see cref="Finding.Ambient"/>, against the baseline); the wave waits while the latest
    /// slot is still over it, and once it is not, the ceiling is judged on the slots after it.
    /// </summary>
    /// <example>
    /// Ceiling 1%, ratio 2, baselines 4.4% (an upstream blip in the windows when the wave was assigned). Slots 0–3: the
    /// cohort at 8%, 5%, 3%, 1.5% (the blip fading); slots 4–9: 0.1%. While slot 3 is the latest, the blip is ongoing and
    /// the verdict is Inconclusive; 5.2% is not significantly worse than 2 × 4.4%, so nothing fails. From slot 4 on the
    /// ceiling is judged on slots 4 onward, and once they hold enough requests at 0.1% the wave passes. A cohort at 20%
    /// throughout is significantly worse than 8.8%: Unhealthy at once.
    /// </example>
    private static IEnumerable<Check> ErrorCeilingOverBaseline(string who, Traffic traffic, Reference baseline, Gates gates, IReadOnlyList<NodeSample> nodes)
    {
        var limit = gates.MaxErrorRate;
        var over = traffic.Buckets.Where(b => b.Key != Traffic.Untimed && b.Value.Requests > 0 && b.Value.Rate > limit).Select(b => (long?)b.Key).LastOrDefault();
        if (over is not { } last || traffic.Total.Rate <= limit)
        {
            yield return Ceiling(who, traffic, gates);
            yield break;
        }
        var during = traffic.Where(slot => slot <= last);
        var clean = traffic.Where(slot => slot > last);
        if (clean.Requests > 0)
        {
            yield return Ceiling(who, clean, gates);
        }
        var ratio = gates.MaxErrorRateRatio;
        var allowed = ratio * baseline.Rate;
        var worse = Sequential.AgainstLimit(during.Buckets.Select(b => (b.Key, b.Value.Errors, allowed * b.Value.Requests)),
            Level.For(during, gates.Thresholds.Significance));
        var ongoing = last == traffic.Buckets.Keys.Max();
        var (heard, needed) = Coverage(nodes, last, gates);
        var outcome = worse.Crossed ? CheckOutcome.Fail
            : ongoing || clean.Requests < gates.Thresholds.MinCohortRequests || heard < needed ? CheckOutcome.Unsure
            : CheckOutcome.Pass;
        var slots = during.Buckets.Keys.Where(k => k != Traffic.Untimed).ToList();
        var ticks = during.SlotTicks ?? 0;
        yield return new Check(CheckKind.Errors, outcome, new Finding.Ambient(outcome, who, Health.Ceiling.ErrorRate, limit, during.Total.Rate,
            baseline.Rate, during.Buckets.Count,
            slots.Count > 0 && ticks > 0 ? SlotSeries.At(slots[0], ticks) : null,
            slots.Count > 0 && ticks > 0 ? SlotSeries.At(slots[^1] + 1, ticks) : null,
            ongoing, worse.P, gates.Thresholds.Significance, DecidedAt(worse, during), ratio, AgainstBaseline: true, heard, needed));
    }

    /// <summary>The optional p99 ceiling (<see cref="Gates.MaxP99LatencyMs"/>), minding the control the same way as <see cref="ErrorCeiling"/>.</summary>
    private static IEnumerable<Check> LatencyCeiling(string who, Traffic traffic, Traffic? control, Gates gates, IReadOnlyList<NodeSample> nodes)
    {
        if (gates.MaxP99LatencyMs is not { } max || traffic.P99 is null)
        {
            yield break;
        }
        var disturbed = control is null ? [] : control.Buckets.Where(b => b.Value.P99 > max).Select(b => b.Key).ToHashSet();
        var during = traffic.Where(disturbed.Contains);
        if (disturbed.Count == 0 || during.P99 is not { } duringP99 || duringP99 <= max)
        {
            yield return LatencyCeilingCheck(who, traffic, max, gates);
            yield break;
        }
        var clean = traffic.Where(slot => !disturbed.Contains(slot));
        if (clean.Requests > 0)
        {
            yield return LatencyCeilingCheck(who, clean, max, gates);
        }
        var theirs = control!.Where(disturbed.Contains);
        var floor = gates.Thresholds.LatencyFloorMs;
        var worse = Sequential.LatencyExcess(during.Buckets
            .Select(b => (b.Key, Ours: b.Value.P99, Theirs: theirs.Buckets.GetValueOrDefault(b.Key).P99))
            .Where(b => b.Ours is > 0 && b.Theirs is > 0)
            .Select(b => (b.Key, Math.Log(Math.Max(b.Ours!.Value, floor) / Math.Max(b.Theirs!.Value, floor)))), gates.Thresholds.LatencyNoise,
            Level.For(during, gates.Thresholds.Significance));
        var last = disturbed.Max();
        yield return Ambient(who, Health.Ceiling.P99Latency, max, during, duringP99, theirs.P99 ?? 0, control, clean, worse, gates,
            Coverage(nodes, last, gates));
    }

    private static Check Ambient(string who, Ceiling ceiling, double max, Traffic during, double ours, double theirs, Traffic control, Traffic clean,
        Evidence worse, Gates gates, (int Heard, int Needed) coverage, double ratio = 1)
    {
        var slots = during.Buckets.Keys.Where(k => k != Traffic.Untimed).ToList();
        var ongoing = control.Buckets.Count > 0 && during.Buckets.ContainsKey(control.Buckets.Keys.Max());
        var outcome = worse.Crossed ? CheckOutcome.Fail
            : ongoing || clean.Requests < gates.Thresholds.MinCohortRequests || coverage.Heard < coverage.Needed ? CheckOutcome.Unsure
            : CheckOutcome.Pass;
        var ticks = during.SlotTicks ?? 0;
        var finding = new Finding.Ambient(outcome, who, ceiling, max, ours, theirs, during.Buckets.Count,
            slots.Count > 0 && ticks > 0 ? SlotSeries.At(slots[0], ticks) : null,
            slots.Count > 0 && ticks > 0 ? SlotSeries.At(slots[^1] + 1, ticks) : null,
            ongoing, worse.P, gates.Thresholds.Significance, DecidedAt(worse, during), ratio, Heard: coverage.Heard, Needed: coverage.Needed);
        return new Check(ceiling == Health.Ceiling.ErrorRate ? CheckKind.Errors : CheckKind.Latency, outcome, finding);
    }

    /// <summary>
    /// How many of the <paramref name="nodes"/> that served anything in their window served some of it after slot
    /// <paramref name="last"/> (the disturbance's last), and how many must have (<see cref="Gates.MinReportingFraction"/>
    /// of them) before those slots stand for the cohort. A node without a series cannot say when it served and counts
    /// as heard.
    /// </summary>
    private static (int Heard, int Needed) Coverage(IReadOnlyList<NodeSample> nodes, long last, Gates gates)
    {
        int serving = 0, heard = 0;
        foreach (var node in nodes)
        {
            if (node.Requests <= 0)
            {
                continue;
            }
            serving++;
            if (node.Series is not { Count: > 0 } series || series.SlotTicks <= 0)
            {
                heard++;
                continue;
            }
            for (var i = 0; i < series.Count; i++)
            {
                if (series.Requests[i] > 0 && series.FirstSlot + i > last)
                {
                    heard++;
                    break;
                }
            }
        }
        return (heard, HealthPolicy.RequiredReporting(serving, gates.MinReportingFraction));
    }

    private static Check LatencyCeilingCheck(string who, Traffic traffic, double max, Gates gates)
    {
        var t = gates.Thresholds;
        var excess = traffic.Buckets.Where(b => b.Value.P99 is > 0)
            .Select(b => (b.Key, Math.Log(Math.Max(b.Value.P99!.Value, t.LatencyFloorMs) / max))).ToList();
        var evidence = Sequential.LatencyExcess(excess, t.LatencyNoise, Level.For(traffic, t.Significance));
        var p99 = traffic.P99 ?? 0;
        var outcome = evidence.Crossed ? CheckOutcome.Fail : p99 <= max ? CheckOutcome.Pass : CheckOutcome.Unsure;
        return new Check(CheckKind.Latency, outcome,
            new Finding.LatencyCeiling(outcome, who, p99, max, evidence.P, t.Significance, excess.Count, DecidedAt(evidence, traffic)));
    }

    /// <summary>The cohort's error rate against the absolute ceiling.</summary>
    private static Check Ceiling(string who, Traffic traffic, Gates gates)
    {
        var t = gates.Thresholds;
        var limit = gates.MaxErrorRate;
        var evidence = Sequential.AgainstLimit(traffic.Buckets.Select(b => (b.Key, b.Value.Errors, limit * b.Value.Requests)), Level.For(traffic, t.Significance));
        return ErrorCheck(who, traffic, limit, null, null, evidence, gates);
    }

    /// <summary>
    /// The covered cohort's error rate against <c>ratio × reference</c>: against the control slot by slot (and against
    /// <c>ratio × floor</c>, so a control without errors does not make the first one conclusive), or against the baselines.
    /// </summary>
    private static Check Ratio(string who, Reference reference, Gates gates)
    {
        var t = gates.Thresholds;
        var covered = reference.Cohort;
        var ratio = gates.MaxErrorRateRatio;
        var limit = ratio * reference.Floored;
        Evidence evidence;
        if (reference.Control is { } control)
        {
            var againstControl = Sequential.AgainstControl(covered.Buckets.Select(b =>
            {
                var theirs = control.Buckets.GetValueOrDefault(b.Key);
                return (b.Key, b.Value.Errors, b.Value.Requests, theirs.Errors, theirs.Requests);
            }), ratio, Level.For(covered, t.Significance));
            var floor = ratio * reference.FloorRate;
            var againstFloor = Sequential.AgainstLimit(covered.Buckets.Select(b => (b.Key, b.Value.Errors, floor * b.Value.Requests)), Level.For(covered, t.Significance));
            evidence = Both(againstControl, againstFloor);
        }
        else
        {
            evidence = Sequential.AgainstLimit(covered.Buckets.Select(b => (b.Key, b.Value.Errors, limit * b.Value.Requests)), Level.For(covered, t.Significance));
        }
        return ErrorCheck(who, covered, limit, ratio, reference, evidence, gates);
    }

    /// <summary>The covered cohort's p99 against <c>ratio × reference p99</c>, slot by slot where both have one.</summary>
    private static Check? Latency(string who, Reference reference, Gates gates)
    {
        var t = gates.Thresholds;
        var covered = reference.Cohort;
        if (reference.P99 is not { } referenceP99 || covered.P99 is not { } p99 || covered.Requests < t.MinCohortRequests)
        {
            return null;
        }
        var floor = t.LatencyFloorMs;
        var observed = p99 / Math.Max(referenceP99, floor);
        var allowed = gates.MaxP99LatencyRatio;
        var excess = covered.Buckets
            .Select(b => (b.Key, Ours: b.Value.P99, Theirs: reference.Control is { } control ? control.Buckets.GetValueOrDefault(b.Key).P99 : referenceP99))
            .Where(b => b.Ours is > 0 && b.Theirs is > 0)
            .Select(b => (b.Key, Math.Log(Math.Max(b.Ours!.Value, floor) / Math.Max(b.Theirs!.Value, floor)) - Math.Log(allowed)))
            .ToList();
        var evidence = Sequential.LatencyExcess(excess, t.LatencyNoise, Level.For(covered, t.Significance));
        var outcome = evidence.Crossed ? CheckOutcome.Fail : observed <= allowed ? CheckOutcome.Pass : CheckOutcome.Unsure;
        return new Check(CheckKind.Latency, outcome,
            new Finding.Latency(outcome, who, p99, allowed, reference.Name, referenceP99, observed, evidence.P, t.Significance, excess.Count,
                DecidedAt(evidence, covered)));
    }

    private static bool Within(Traffic traffic, double limit) => traffic.Requests > 0 && traffic.Errors / traffic.Requests <= limit;

    /// <summary>Both tests passed their threshold (an intersection of two tests at level α is a test at level α).</summary>
    private static Evidence Both(Evidence a, Evidence b) =>
        new(Math.Min(a.MaxLog, b.MaxLog), a.CrossedAt is { } x && b.CrossedAt is { } y ? Math.Max(x, y) : null, a.Level);

    private static Check ErrorCheck(string who, Traffic traffic, double limit, double? ratio, Reference? reference, Evidence evidence, Gates gates)
    {
        var outcome = evidence.Crossed ? CheckOutcome.Fail : Within(traffic, limit) ? CheckOutcome.Pass : CheckOutcome.Unsure;
        return new Check(CheckKind.Errors, outcome,
            new Finding.ErrorRate(outcome, who, traffic.Errors, traffic.Requests, limit, ratio, reference?.Figures, evidence.P,
                gates.Thresholds.Significance, DecidedAt(evidence, traffic)));
    }

    /// <summary>The end of the slot where the evidence first passed its threshold; null for untimed traffic.</summary>
    private static DateTimeOffset? DecidedAt(Evidence evidence, Traffic traffic) =>
        evidence.CrossedAt is { } slot && slot != Traffic.Untimed && traffic.SlotTicks is { } ticks ? SlotSeries.At(slot + 1, ticks) : null;
}
