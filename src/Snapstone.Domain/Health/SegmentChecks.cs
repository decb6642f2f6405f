using Snapstone.Domain.Plans;
using static Snapstone.Domain.Health.Statistics;

namespace Snapstone.Domain.Health;

/// <summary>
/// Each label value with enough traffic judged on its own against the same label value in the control, so a change
/// that breaks only <c>proxy=fl1</c> is caught even when the fleet rate dilutes it.
/// </summary>
internal static class SegmentChecks
{
    /// <summary>
    /// The failures of every segment of <paramref name="judged"/>. A failure that rests on one node (the segment passes
    /// without it) is added to <paramref name="notes"/> instead: a label value breaks on every node that has it.
    /// </summary>
    public static List<Finding> Failures(List<NodeSample> judged, List<NodeSample> control, Reference? fleetReference, Gates gates, List<Finding> notes)
    {
        var failures = new List<Finding>();
        var keys = judged.SelectMany(s => s.Labels.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            var values = judged.Where(s => s.Labels.ContainsKey(key))
                .GroupBy(s => s.Labels[key], StringComparer.Ordinal)
                .ToList();
            if (values.Count > gates.Thresholds.MaxSegmentValues)
            {
                continue;
            }
            foreach (var group in values.OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var nodes = group.ToList();
                var controlSegment = control.Where(s => s.Labels.TryGetValue(key, out var v) && v == group.Key).ToList();
                if (nodes.Count == judged.Count && controlSegment.Count == control.Count)
                {
                    continue; // the same comparison as the whole cohort's
                }
                var segment = new Segment($"{key}={group.Key}", Traffic.Of(controlSegment), fleetReference, gates);
                var failed = segment.Failures(nodes);
                if (failed.Count == 0)
                {
                    continue;
                }
                if (segment.CarriedByOneNode(nodes) is { } node)
                {
                    var (errors, requests) = Counts(node);
                    notes.Add(new Finding.OneNodeSegment(failed[0], segment.Name, node.NodeId, errors, requests, Latency(node), nodes.Count - 1));
                    continue;
                }
                failures.AddRange(failed);
            }
        }
        return failures;
    }

    /// <summary>
    /// One label value's slice of the cohort, judged against the same value in the control. Without enough control
    /// traffic it is compared with its own nodes' baselines (the same slice before the change), not the whole cohort's:
    /// one proxy version may always be slower than another. Only a slice without baselines falls back to the fleet's
    /// reference. A slice of the fleet can sit near the ceiling with no change at all (a PoP of flaky hosts): where there
    /// is a control to compare with, the slice is judged against it, and the ceiling guards the whole cohort.
    /// </summary>
    private sealed record Segment(string Name, Traffic ControlTraffic, Reference? FleetReference, Gates Gates)
    {
        public List<Finding> Failures(IReadOnlyList<NodeSample> nodes)
        {
            var traffic = Traffic.Of(nodes);
            if (traffic.Requests < Gates.Thresholds.MinSegmentRequests)
            {
                return [];
            }
            var reference = Reference.Of(ControlTraffic, traffic, nodes, $"control {Name}", Gates.Thresholds) is { Figures.Kind: ReferenceKind.Control } own
                ? own
                : Reference.Of(Traffic.Empty, traffic, nodes, $"segment {Name} baseline", Gates.Thresholds) ?? FleetReference?.For(traffic);
            return [.. CohortChecks.Evaluate($"segment {Name}: cohort", traffic, reference, Gates, nodes, ceiling: reference is null)
                .Where(c => c.Outcome == CheckOutcome.Fail).Select(c => c.Finding)];
        }

        /// <summary>
        /// The node the segment's failure rests on, if there is one: a label value breaks on every node that has it, so
        /// when the slice without its worst node (by excess errors, or by latency) still has enough traffic to judge and
        /// passes, what failed is one node — a flaky host whose baseline was too thin to know it by — not the segment.
        /// </summary>
        public NodeSample? CarriedByOneNode(IReadOnlyList<NodeSample> nodes)
        {
            if (nodes.Count < 2)
            {
                return null;
            }
            var limit = Gates.MaxErrorRate;
            var byErrors = nodes.MaxBy(s => { var (e, r) = Counts(s); return e - limit * r; });
            var byLatency = nodes.Where(s => s.Requests > 0).MaxBy(Latency);
            foreach (var candidate in new[] { byErrors, byLatency }.OfType<NodeSample>().Distinct(ReferenceEqualityComparer.Instance).Cast<NodeSample>())
            {
                var rest = nodes.Where(s => !ReferenceEquals(s, candidate)).ToList();
                if (Traffic.Of(rest).Requests >= Gates.Thresholds.MinSegmentRequests && Failures(rest).Count == 0)
                {
                    return candidate;
                }
            }
            return null;
        }
    }
}
