using Snapstone.Domain.Plans;
using static Snapstone.Domain.Health.Statistics;

namespace Snapstone.Domain.Health;

/// <summary>
/// Nodes whose trouble is their own, not the change's: nodes as flaky as before the change (set aside on either side),
/// and one already-flaky node whose removal clears every check.
/// </summary>
internal static class OutlierRules
{
    /// <summary>Already above the ceiling before the change, and not significantly worse than that baseline now (latency included).</summary>
    public static bool IsUnchangedFlaky(NodeSample s, Gates gates)
    {
        if (s.BaselineErrorRate is not { } baseline || baseline <= gates.MaxErrorRate || s.Requests <= 0)
        {
            return false;
        }
        var (errors, requests) = Counts(s);
        if (ErrorOutcome(errors, requests, gates.MaxErrorRateRatio * baseline, gates.Thresholds) == CheckOutcome.Fail)
        {
            return false;
        }
        return s.BaselineP99LatencyMs is not { } p99 || Latency(s) <= gates.MaxP99LatencyRatio * Math.Max(p99, gates.Thresholds.LatencyFloorMs);
    }

    /// <summary>
    /// <paramref name="nodes"/> without those as flaky as before the change, each named in <paramref name="notes"/>;
    /// all of them when they are most of the side (then the gate is what is wrong, and it says so).
    /// </summary>
    public static List<NodeSample> SetAsideUnchangedFlaky(List<NodeSample> nodes, Gates gates, Side side, List<Finding> notes)
    {
        var flaky = nodes.Where(s => IsUnchangedFlaky(s, gates)).ToList();
        if (flaky.Count == 0)
        {
            return nodes;
        }
        if (flaky.Count * 2 > nodes.Count)
        {
            notes.Add(new Finding.FlakyTooMany(side, flaky.Count, nodes.Count));
            return nodes;
        }
        foreach (var s in flaky.Take(FindingText.MaxNamedNodes))
        {
            var (errors, requests) = Counts(s);
            notes.Add(new Finding.FlakySetAside(side, s.NodeId, errors, requests, s.BaselineErrorRate!.Value));
        }
        if (flaky.Count > FindingText.MaxNamedNodes)
        {
            notes.Add(new Finding.FlakyMore(side, flaky.Count - FindingText.MaxNamedNodes));
        }
        var set = flaky.ToHashSet(ReferenceEqualityComparer.Instance);
        return nodes.Where(s => !set.Contains(s)).ToList();
    }

    public sealed record Outlier(Finding Note, List<NodeSample> Rest, Reference? Reference, List<Check> Checks);

    /// <summary>
    /// The single failing node among at least <see cref="GateThresholds.MinOutlierPeers"/> others, flaky before the
    /// change, without which every check passes; null when there is no such node.
    /// </summary>
    public static Outlier? TrySetAside(List<NodeSample> judged, Traffic controlTraffic, Reference? reference, List<Check> checks, Gates gates,
        Func<Traffic, Traffic> extend)
    {
        var errorsFailed = checks.Any(c => c.Outcome == CheckOutcome.Fail && c.Kind == CheckKind.Errors);
        var latencyFailed = checks.Any(c => c.Outcome == CheckOutcome.Fail && c.Kind == CheckKind.Latency);
        var failing = judged.Where(s => s.Requests > 0 &&
            ((errorsFailed && FailsErrors(s, reference, gates)) || (latencyFailed && FailsLatency(s, reference, gates)))).Take(2).ToList();
        if (failing.Count != 1 || judged.Count - 1 < gates.Thresholds.MinOutlierPeers)
        {
            return null;
        }
        var node = failing[0];
        var wasFlaky = node.BaselineErrorRate > gates.MaxErrorRate ||
            (node.BaselineP99LatencyMs is { } p99 && reference?.P99 is { } referenceP99 &&
             p99 > gates.MaxP99LatencyRatio * Math.Max(referenceP99, gates.Thresholds.LatencyFloorMs));
        if (!wasFlaky)
        {
            return null;
        }
        var rest = judged.Where(s => !ReferenceEquals(s, node)).ToList();
        var restTraffic = extend(Traffic.Of(rest));
        var restReference = Reference.Of(controlTraffic, restTraffic, rest, "control", gates.Thresholds);
        var restChecks = CohortChecks.Evaluate("cohort", restTraffic, restReference, gates, rest);
        if (restChecks.Any(c => c.Outcome == CheckOutcome.Fail))
        {
            return null;
        }
        var (errors, requests) = Counts(node);
        var note = new Finding.Outlier(node.NodeId, errors, requests, Latency(node), node.BaselineErrorRate, node.BaselineP99LatencyMs, rest.Count);
        return new Outlier(note, rest, restReference, restChecks);
    }

    private static bool FailsErrors(NodeSample s, Reference? reference, Gates gates)
    {
        var (errors, requests) = Counts(s);
        return ErrorOutcome(errors, requests, gates.MaxErrorRate, gates.Thresholds) == CheckOutcome.Fail ||
            (reference is not null && ErrorOutcome(errors, requests, gates.MaxErrorRateRatio * reference.Floored, gates.Thresholds) == CheckOutcome.Fail);
    }

    private static bool FailsLatency(NodeSample s, Reference? reference, Gates gates) =>
        reference?.P99 is { } p99 && Latency(s) > gates.MaxP99LatencyRatio * Math.Max(p99, gates.Thresholds.LatencyFloorMs);
}
