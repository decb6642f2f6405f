using Snapstone.Domain.Plans;
using static Snapstone.Domain.Health.Statistics;

namespace Snapstone.Domain.Health;

internal enum CheckKind { Errors, Latency }

/// <summary>One check's outcome with the finding that says it.</summary>
internal sealed record Check(CheckKind Kind, CheckOutcome Outcome, Finding Finding);

/// <summary>The error and latency checks of some traffic (the whole cohort, or one segment of it) against a reference.</summary>
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
            checks.Add(ErrorCheck(who, traffic, gates.MaxErrorRate, null, null, gates));
        }
        if (reference is null)
        {
            return checks;
        }
        var covered = reference.Cohort;
        checks.Add(ErrorCheck(who, covered, gates.MaxErrorRateRatio * reference.Floored, gates.MaxErrorRateRatio, reference, gates));
        if (reference.P99 is { } referenceP99 && covered.P99 is { } p99 && covered.Requests >= gates.Thresholds.MinCohortRequests)
        {
            var against = Math.Max(referenceP99, gates.Thresholds.LatencyFloorMs);
            var latencyRatio = p99 / against;
            var outcome = latencyRatio > gates.MaxP99LatencyRatio ? CheckOutcome.Fail : CheckOutcome.Pass;
            checks.Add(new Check(CheckKind.Latency, outcome,
                new Finding.Latency(outcome, who, p99, gates.MaxP99LatencyRatio, reference.Name, referenceP99, latencyRatio)));
        }
        return checks;
    }

    private static Check ErrorCheck(string who, Traffic traffic, double limit, double? ratio, Reference? reference, Gates gates)
    {
        var outcome = ErrorOutcome(traffic.Errors, traffic.Requests, limit, gates.Thresholds, out var p);
        return new Check(CheckKind.Errors, outcome,
            new Finding.ErrorRate(outcome, who, traffic.Errors, traffic.Requests, limit, ratio, reference?.Figures, p, gates.Thresholds.Significance));
    }
}
