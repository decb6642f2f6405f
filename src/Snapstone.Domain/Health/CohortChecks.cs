using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

internal enum CheckKind { Errors, Latency }

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
    /// <summary>The error and latency checks of <paramref name="traffic"/>; <paramref name="ceiling"/> false leaves out the absolute ceiling.</summary>
    public static List<Check> Evaluate(string who, Traffic traffic, Reference? reference, Gates gates, bool ceiling = true)
    {
        var checks = new List<Check>();
        if (traffic.Requests <= 0)
        {
            return checks;
        }
        if (ceiling)
        {
            checks.Add(Ceiling(who, traffic, gates));
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

    /// <summary>The cohort's error rate against the absolute ceiling.</summary>
    public static Check Ceiling(string who, Traffic traffic, Gates gates)
    {
        var t = gates.Thresholds;
        var limit = gates.MaxErrorRate;
        var evidence = Sequential.AgainstLimit(traffic.Buckets.Select(b => (b.Key, b.Value.Errors, limit * b.Value.Requests)), t.Significance);
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
            }), ratio, t.Significance);
            var floor = ratio * reference.FloorRate;
            var againstFloor = Sequential.AgainstLimit(covered.Buckets.Select(b => (b.Key, b.Value.Errors, floor * b.Value.Requests)), t.Significance);
            evidence = Both(againstControl, againstFloor);
        }
        else
        {
            evidence = Sequential.AgainstLimit(covered.Buckets.Select(b => (b.Key, b.Value.Errors, limit * b.Value.Requests)), t.Significance);
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
        var evidence = Sequential.LatencyExcess(excess, t.LatencyNoise, t.Significance);
        var outcome = evidence.Crossed ? CheckOutcome.Fail : observed <= allowed ? CheckOutcome.Pass : CheckOutcome.Unsure;
        return new Check(CheckKind.Latency, outcome,
            new Finding.Latency(outcome, who, p99, allowed, reference.Name, referenceP99, observed, evidence.P, t.Significance, excess.Count,
                DecidedAt(evidence, covered)));
    }

    private static bool Within(Traffic traffic, double limit) => traffic.Requests > 0 && traffic.Errors / traffic.Requests <= limit;

    /// <summary>Both tests passed their threshold (an intersection of two tests at level α is a test at level α).</summary>
    private static Evidence Both(Evidence a, Evidence b) =>
        new(Math.Min(a.MaxLog, b.MaxLog), a.CrossedAt is { } x && b.CrossedAt is { } y ? Math.Max(x, y) : null);

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
