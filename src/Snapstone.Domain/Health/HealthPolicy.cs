using System.Globalization;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

/// <summary>
/// Judges a wave's cohort (nodes on the new package) against the control group (nodes still on the previous
/// one) and the wave's gates. Missing or thin data is never Healthy; a regression must be clear to be
/// Unhealthy, so noise neither promotes nor halts.
/// </summary>
/// <remarks>
/// In order:
/// <list type="number">
/// <item>No nodes targeted → Healthy: an empty wave adds no risk.</item>
/// <item>Crashes above <see cref="Gates.MaxCrashes"/> or rejections above <see cref="Gates.MaxRejected"/> → Unhealthy at once.</item>
/// <item>Traffic is summed over nodes that reported on the package (a busy node weighs more than an idle
/// one; a node that served nothing counts for nothing, never as healthy). Nodes that were already above the
/// ceiling before the change and are no worse than their own baseline are set aside on both sides.</item>
/// <item>Error rate against the ceiling and against <see cref="Gates.MaxErrorRateRatio"/> × the control rate,
/// floored (see <see cref="GateThresholds.ErrorRateFloor"/>); p99 against <see cref="Gates.MaxP99LatencyRatio"/> × the
/// control's p99. With no control traffic (the last wave) the cohort's own baselines stand in for it.
/// An error check fails only when the excess is significant (<see cref="GateThresholds.Significance"/>); a point rate above
/// the limit that could still be noise is "unsure".</item>
/// <item>A single failing node among at least <see cref="GateThresholds.MinOutlierPeers"/> others, already flaky before the
/// change, whose removal clears every check, is set aside as an outlier.</item>
/// <item>Each label value with enough traffic is judged on its own against the same label value in the
/// control, so a change that breaks only <c>proxy=fl1</c> is caught even when the fleet rate dilutes it. A label
/// value breaks on every node that has it: when the slice passes without its single worst node, the failure is that
/// node's (a flaky host with too thin a baseline to know it by), noted, and left to the whole cohort's checks.</item>
/// <item>Any failure → Unhealthy (even with missing data: missing data can hide a regression, not excuse
/// one). Else too few reporting nodes, too little traffic or an unsure check → Inconclusive. Else Healthy.</item>
/// </list>
/// </remarks>
public static class HealthPolicy
{
    private const int MaxNamedNodes = 5;

    /// <summary>The verdict on a wave's cohort; <paramref name="targeted"/> is how many nodes should run the package.</summary>
    public static Verdict Judge(IReadOnlyList<NodeSample> cohort, IReadOnlyList<NodeSample> control, Gates gates, int targeted)
    {
        if (targeted <= 0)
        {
            return new Verdict(VerdictResult.Healthy, ["no nodes selected: an empty wave adds no risk"]);
        }

        var crashed = cohort.Where(s => s.Crashes > 0).ToList();
        var crashes = crashed.Sum(s => (long)s.Crashes);
        var rejected = cohort.Where(s => s.Rejected).ToList();
        var hard = new List<string>();
        if (crashes > gates.MaxCrashes)
        {
            hard.Add($"{crashes} crash(es) on {crashed.Count} node(s) > max {gates.MaxCrashes} ({NodeList(crashed)})");
        }
        if (rejected.Count > gates.MaxRejected)
        {
            hard.Add($"{rejected.Count} node(s) rejected the package > max {gates.MaxRejected} ({NodeList(rejected)})");
        }

        var t = gates.Thresholds;
        var notes = new List<string>();
        var judged = SetAsideUnchangedFlaky(cohort.Where(IsLive).ToList(), gates, "cohort", notes);
        var controlJudged = SetAsideUnchangedFlaky(control.Where(IsLive).ToList(), gates, "control", notes);
        var controlTraffic = Traffic.Of(controlJudged);
        var reference = Reference.Of(controlTraffic, judged, "control", t);
        var checks = Evaluate("cohort", Traffic.Of(judged), reference, gates);

        if (hard.Count == 0 && checks.Any(c => c.Outcome == Outcome.Fail) &&
            TrySetAsideOutlier(judged, controlTraffic, reference, checks, gates) is { } outlier)
        {
            notes.Add(outlier.Note);
            judged = outlier.Rest;
            reference = outlier.Reference;
            checks = outlier.Checks;
        }

        var (healthy, unhealthy) = CountNodes(cohort, gates, reference?.Rate);
        if (hard.Count > 0)
        {
            return new Verdict(VerdictResult.Unhealthy, hard, healthy, unhealthy);
        }

        var failures = checks.Where(c => c.Outcome == Outcome.Fail).Select(c => c.Message)
            .Concat(SegmentFailures(judged, controlJudged, reference, gates, notes))
            .ToList();
        var passes = checks.Where(c => c.Outcome == Outcome.Pass).Select(c => c.Message);
        var unsure = checks.Where(c => c.Outcome == Outcome.Unsure).Select(c => c.Message);
        if (failures.Count > 0)
        {
            return new Verdict(VerdictResult.Unhealthy, [.. failures, .. unsure, .. passes, .. notes], healthy, unhealthy);
        }

        var reporting = Math.Min(cohort.Count(s => s.Reported), targeted);
        var required = RequiredReporting(targeted, gates.MinReportingFraction);
        var reportingLine = $"{reporting}/{targeted} nodes reported on the package ({Percent((double)reporting / targeted, 0)})";
        var traffic = Traffic.Of(judged);
        var missing = new List<string>();
        if (reporting < required)
        {
            missing.Add($"{reportingLine} < required {Percent(gates.MinReportingFraction, 0)} ({required} nodes)");
        }
        if (traffic.Requests < t.MinCohortRequests)
        {
            missing.Add($"cohort served {traffic.Requests} requests < {t.MinCohortRequests} needed for a verdict");
        }
        if (reference is null && traffic.Requests >= t.MinCohortRequests)
        {
            notes.Add($"no control traffic (≥ {t.MinControlRequests} requests) and no baselines: judged against the ceiling only");
        }
        if (missing.Count > 0 || unsure.Any())
        {
            return new Verdict(VerdictResult.Inconclusive, [.. missing, .. unsure, .. passes, .. notes], healthy, unhealthy);
        }
        return new Verdict(VerdictResult.Healthy, [reportingLine, .. passes, .. notes], healthy, unhealthy);
    }

    /// <summary>
    /// One node's own state for the wave's healthy/unhealthy counts. Unhealthy: it crashed, rejected the
    /// package, or its error rate is significantly above the ceiling or <c>ratio × max(controlRate, 0.1%)</c>
    /// (unless it is no worse than its own flaky baseline). Unknown: it has not reported on the package,
    /// served nothing, or too little to tell. Healthy otherwise.
    /// </summary>
    public static NodeHealth Assess(NodeSample sample, Gates gates, double? controlRate = null)
    {
        if (sample.Crashes > 0 || sample.Rejected)
        {
            return NodeHealth.Unhealthy;
        }
        if (!sample.Reported || sample.Requests <= 0)
        {
            return NodeHealth.Unknown;
        }
        if (IsUnchangedFlaky(sample, gates))
        {
            return NodeHealth.Healthy;
        }
        var (errors, requests) = Counts(sample);
        var outcome = ErrorOutcome(errors, requests, gates.MaxErrorRate, gates);
        if (controlRate is { } rate)
        {
            outcome = Worst(outcome, ErrorOutcome(errors, requests, gates.MaxErrorRateRatio * Math.Max(rate, gates.Thresholds.ErrorRateFloor), gates));
        }
        return outcome switch
        {
            Outcome.Fail => NodeHealth.Unhealthy,
            Outcome.Unsure => NodeHealth.Unknown,
            _ => NodeHealth.Healthy,
        };
    }

    /// <summary>Whether <see cref="Assess"/> counts the node healthy.</summary>
    public static bool IsNodeHealthy(NodeSample sample, Gates gates, double? controlRate = null) =>
        Assess(sample, gates, controlRate) == NodeHealth.Healthy;

    /// <summary>
    /// Whether the node that raised <paramref name="signal"/> goes back to the previous package at once, before the
    /// rollout decides: only a crash, which leaves the node serving nothing. A rejection already kept the old
    /// package, and an error breach is the node's own health, which the rollout weighs against the control group.
    /// </summary>
    public static bool SendsNodeBack(NodeSignal signal) => signal.Kind == SignalKind.Crash;

    /// <summary>
    /// What a node grain checks on every report to decide whether to tell the rollout at once: a crash, a
    /// rejection, or an error rate more than <see cref="GateThresholds.BreachFactor"/> × its limit on at least
    /// <see cref="GateThresholds.MinBreachRequests"/> requests, where the limit is <c>max(ceiling, ratio × own baseline)</c>.
    /// Null when there is nothing to signal.
    /// </summary>
    /// <example>
    /// Ceiling 1%, ratio 2, baseline 0.2%: limit = max(1%, 0.4%) = 1%; 280 errors in 1000 requests (28%) is
    /// above 3% and far from chance → breach. 4 in 100 (4%) is above 3% but could be chance → nothing yet.
    /// A node that was already above the ceiling before the change never breaches on errors: whether the
    /// change made it worse is for the verdict to weigh against its peers.
    /// </example>
    public static NodeSignal? Breach(NodeSample sample, Gates gates)
    {
        if (sample.Crashes > 0)
        {
            return new NodeSignal(sample.NodeId, SignalKind.Crash, $"node {sample.NodeId} crashed {sample.Crashes} time(s) on the package");
        }
        if (sample.Rejected)
        {
            return new NodeSignal(sample.NodeId, SignalKind.Rejected, $"node {sample.NodeId} rejected the package");
        }
        var (errors, requests) = Counts(sample);
        var t = gates.Thresholds;
        if (!sample.Reported || requests < t.MinBreachRequests || sample.BaselineErrorRate > gates.MaxErrorRate)
        {
            return null;
        }
        var limit = Math.Max(gates.MaxErrorRate, gates.MaxErrorRateRatio * (sample.BaselineErrorRate ?? 0));
        var rate = (double)errors / requests;
        if (rate <= t.BreachFactor * limit || Poisson.UpperTail(errors, limit * requests) >= t.BreachSignificance)
        {
            return null;
        }
        var baseline = sample.BaselineErrorRate is { } b ? Percent(b) : "unknown";
        return new NodeSignal(sample.NodeId, SignalKind.Breach,
            $"node {sample.NodeId} error rate {Percent(rate)} ({errors}/{requests}) > {Number(t.BreachFactor)}× its limit {Percent(limit)} (ceiling {Percent(gates.MaxErrorRate)}, own baseline {baseline})");
    }

    /// <summary>
    /// How many of <paramref name="targeted"/> nodes must report: <c>ceil(targeted × fraction)</c>.
    /// Worked example: 12 nodes at 0.9 → 10.8 → 11; 10 nodes at 0.9 → 9.
    /// </summary>
    public static int RequiredReporting(int targeted, double fraction) =>
        targeted <= 0 ? 0 : (int)Math.Min(targeted, Math.Ceiling(targeted * fraction - 1e-9));

    private static bool IsLive(NodeSample s) => s.Reported && !s.Rejected;

    /// <summary>Already above the ceiling before the change, and not significantly worse than that baseline now (latency included).</summary>
    private static bool IsUnchangedFlaky(NodeSample s, Gates gates)
    {
        if (s.BaselineErrorRate is not { } baseline || baseline <= gates.MaxErrorRate || s.Requests <= 0)
        {
            return false;
        }
        var (errors, requests) = Counts(s);
        if (ErrorOutcome(errors, requests, gates.MaxErrorRateRatio * baseline, gates) == Outcome.Fail)
        {
            return false;
        }
        return s.BaselineP99LatencyMs is not { } p99 || Latency(s) <= gates.MaxP99LatencyRatio * Math.Max(p99, gates.Thresholds.LatencyFloorMs);
    }

    private static List<NodeSample> SetAsideUnchangedFlaky(List<NodeSample> nodes, Gates gates, string side, List<string> notes)
    {
        var flaky = nodes.Where(s => IsUnchangedFlaky(s, gates)).ToList();
        if (flaky.Count == 0)
        {
            return nodes;
        }
        if (flaky.Count * 2 > nodes.Count)
        {
            notes.Add($"{flaky.Count} of {nodes.Count} {side} nodes were above the ceiling before the change too: too many to set aside, all are judged");
            return nodes;
        }
        foreach (var s in flaky.Take(MaxNamedNodes))
        {
            notes.Add($"set aside {side} node {s.NodeId}: error rate {RateText(s.Errors, s.Requests)} matches its own baseline {Percent(s.BaselineErrorRate!.Value)} from before the change");
        }
        if (flaky.Count > MaxNamedNodes)
        {
            notes.Add($"set aside {flaky.Count - MaxNamedNodes} more {side} node(s) that were as flaky before the change");
        }
        var set = flaky.ToHashSet(ReferenceEqualityComparer.Instance);
        return nodes.Where(s => !set.Contains(s)).ToList();
    }

    private sealed record Outlier(string Note, List<NodeSample> Rest, Reference? Reference, List<Check> Checks);

    private static Outlier? TrySetAsideOutlier(List<NodeSample> judged, Traffic controlTraffic, Reference? reference, List<Check> checks, Gates gates)
    {
        var errorsFailed = checks.Any(c => c.Outcome == Outcome.Fail && c.Kind == CheckKind.Errors);
        var latencyFailed = checks.Any(c => c.Outcome == Outcome.Fail && c.Kind == CheckKind.Latency);
        var failing = judged.Where(s => s.Requests > 0 &&
            ((errorsFailed && NodeFailsErrors(s, reference, gates)) || (latencyFailed && NodeFailsLatency(s, reference, gates)))).Take(2).ToList();
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
        var restReference = Reference.Of(controlTraffic, rest, "control", gates.Thresholds);
        var restChecks = Evaluate("cohort", Traffic.Of(rest), restReference, gates);
        if (restChecks.Any(c => c.Outcome == Outcome.Fail))
        {
            return null;
        }
        var before = node.BaselineErrorRate is { } b ? $"already {Percent(b)} before the change" : $"p99 already {Ms(node.BaselineP99LatencyMs!.Value)} before the change";
        var note = $"set aside outlier node {node.NodeId}: error rate {RateText(node.Errors, node.Requests)}, p99 {Ms(Latency(node))}, {before}; the other {rest.Count} nodes are within the gates";
        return new Outlier(note, rest, restReference, restChecks);
    }

    private static bool NodeFailsErrors(NodeSample s, Reference? reference, Gates gates)
    {
        var (errors, requests) = Counts(s);
        return ErrorOutcome(errors, requests, gates.MaxErrorRate, gates) == Outcome.Fail ||
            (reference is not null && ErrorOutcome(errors, requests, gates.MaxErrorRateRatio * reference.Floored, gates) == Outcome.Fail);
    }

    private static bool NodeFailsLatency(NodeSample s, Reference? reference, Gates gates) =>
        reference?.P99 is { } p99 && Latency(s) > gates.MaxP99LatencyRatio * Math.Max(p99, gates.Thresholds.LatencyFloorMs);

    private static List<string> SegmentFailures(List<NodeSample> judged, List<NodeSample> control, Reference? fleetReference, Gates gates, List<string> notes)
    {
        var failures = new List<string>();
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
                    notes.Add($"{failed[0]}, but only because of node {node.NodeId} (error rate {RateText(node.Errors, node.Requests)}, p99 {Ms(Latency(node))}): " +
                              $"the other {nodes.Count - 1} {segment.Name} node(s) are within the gates, so this is one node, not the segment; it is judged with the whole cohort and by its own breach check");
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
        public List<string> Failures(IReadOnlyList<NodeSample> nodes)
        {
            var traffic = Traffic.Of(nodes);
            if (traffic.Requests < Gates.Thresholds.MinSegmentRequests)
            {
                return [];
            }
            var reference = ControlTraffic.Requests >= Gates.Thresholds.MinControlRequests
                ? Reference.Of(ControlTraffic, nodes, $"control {Name}", Gates.Thresholds)
                : Reference.Of(Traffic.Of([]), nodes, $"segment {Name} baseline", Gates.Thresholds) ?? FleetReference;
            return [.. Evaluate($"segment {Name}: cohort", traffic, reference, Gates, ceiling: reference is null)
                .Where(c => c.Outcome == Outcome.Fail).Select(c => c.Message)];
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

    private static (int Healthy, int Unhealthy) CountNodes(IReadOnlyList<NodeSample> cohort, Gates gates, double? controlRate)
    {
        int healthy = 0, unhealthy = 0;
        foreach (var sample in cohort)
        {
            switch (Assess(sample, gates, controlRate))
            {
                case NodeHealth.Healthy: healthy++; break;
                case NodeHealth.Unhealthy: unhealthy++; break;
            }
        }
        return (healthy, unhealthy);
    }

    private enum Outcome { Pass, Unsure, Fail }

    private enum CheckKind { Errors, Latency }

    private sealed record Check(CheckKind Kind, Outcome Outcome, string Message);

    private static Outcome Worst(Outcome a, Outcome b) => (Outcome)Math.Max((int)a, (int)b);

    /// <summary>The error and latency checks of <paramref name="traffic"/>; <paramref name="ceiling"/> false leaves out the absolute ceiling.</summary>
    private static List<Check> Evaluate(string who, Traffic traffic, Reference? reference, Gates gates, bool ceiling = true)
    {
        var checks = new List<Check>();
        if (traffic.Requests <= 0)
        {
            return checks;
        }
        if (ceiling)
        {
            checks.Add(ErrorCheck(who, traffic, gates.MaxErrorRate, $"ceiling {Percent(gates.MaxErrorRate)}", gates));
        }
        if (reference is null)
        {
            return checks;
        }
        var ratio = Number(gates.MaxErrorRateRatio);
        var floored = reference.Floored > reference.Rate ? $", floored to {Percent(reference.Floored)}" : "";
        checks.Add(ErrorCheck(who, traffic, gates.MaxErrorRateRatio * reference.Floored,
            $"{ratio}× {reference.Describe}{floored} = {Percent(gates.MaxErrorRateRatio * reference.Floored)}", gates));
        if (reference.P99 is { } referenceP99 && traffic.P99 is { } p99 && traffic.Requests >= gates.Thresholds.MinCohortRequests)
        {
            var against = Math.Max(referenceP99, gates.Thresholds.LatencyFloorMs);
            var latencyRatio = p99 / against;
            var failed = latencyRatio > gates.MaxP99LatencyRatio;
            checks.Add(new Check(CheckKind.Latency, failed ? Outcome.Fail : Outcome.Pass,
                $"{who} p99 {Ms(p99)} {(failed ? ">" : "within")} {Number(gates.MaxP99LatencyRatio)}× {reference.Name} p99 {Ms(referenceP99)} (ratio {latencyRatio.ToString("0.00", CultureInfo.InvariantCulture)})"));
        }
        return checks;
    }

    private static Check ErrorCheck(string who, Traffic traffic, double limit, string limitText, Gates gates)
    {
        var observed = $"{who} error rate {RateText(traffic.Errors, traffic.Requests)}";
        return ErrorOutcome(traffic.Errors, traffic.Requests, limit, gates, out var p) switch
        {
            Outcome.Pass => new Check(CheckKind.Errors, Outcome.Pass, $"{observed} within {limitText}"),
            Outcome.Fail => new Check(CheckKind.Errors, Outcome.Fail, $"{observed} > {limitText}"),
            _ => new Check(CheckKind.Errors, Outcome.Unsure,
                $"{observed} > {limitText}, but that could be chance on {traffic.Requests} requests (p = {p.ToString("0.###", CultureInfo.InvariantCulture)}, needs < {Number(gates.Thresholds.Significance)})"),
        };
    }

    private static Outcome ErrorOutcome(long errors, long requests, double limit, Gates gates) => ErrorOutcome(errors, requests, limit, gates, out _);

    /// <summary>
    /// Pass when the point rate is within the limit; Fail when above it and P(≥ errors | limit) &lt; <see cref="GateThresholds.Significance"/>;
    /// Unsure in between.
    /// </summary>
    private static Outcome ErrorOutcome(long errors, long requests, double limit, Gates gates, out double p)
    {
        p = 1;
        if (requests <= 0)
        {
            return Outcome.Unsure;
        }
        if ((double)errors / requests <= limit)
        {
            return Outcome.Pass;
        }
        p = Poisson.UpperTail(errors, limit * requests);
        return p < gates.Thresholds.Significance ? Outcome.Fail : Outcome.Unsure;
    }

    /// <summary>A sample's counts made sound: requests ≥ 0, 0 ≤ errors ≤ requests.</summary>
    private static (long Errors, long Requests) Counts(NodeSample s)
    {
        var requests = Math.Max(0, s.Requests);
        return (Math.Clamp(s.Errors, 0, requests), requests);
    }

    private static double Latency(NodeSample s) => double.IsFinite(s.P99LatencyMs) && s.P99LatencyMs > 0 ? s.P99LatencyMs : 0;

    /// <summary>Traffic summed over nodes; p99 is the request-weighted mean of the nodes' p99s.</summary>
    private readonly record struct Traffic(long Requests, long Errors, double? P99)
    {
        public static Traffic Of(IEnumerable<NodeSample> nodes)
        {
            long requests = 0, errors = 0;
            double weighted = 0;
            foreach (var s in nodes)
            {
                var (e, r) = Counts(s);
                requests += r;
                errors += e;
                weighted += Latency(s) * r;
            }
            return new Traffic(requests, errors, requests > 0 ? weighted / requests : null);
        }
    }

    /// <summary>What the cohort is compared with: the control's rate and p99, or else the cohort's own baselines.</summary>
    private sealed record Reference(string Name, double Rate, double Floored, double? P99, string Describe)
    {
        public static Reference? Of(Traffic control, IReadOnlyList<NodeSample> cohort, string name, GateThresholds t)
        {
            if (control.Requests >= t.MinControlRequests)
            {
                var rate = (double)control.Errors / control.Requests;
                return new Reference(name, rate, Math.Max(rate, Math.Max(1.0 / control.Requests, t.ErrorRateFloor)), control.P99,
                    $"{name} {RateText(control.Errors, control.Requests)}");
            }
            long cohortRequests = 0, withBaseline = 0, withBaselineP99 = 0;
            double baselineErrors = 0, baselineP99 = 0;
            foreach (var s in cohort)
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
            return new Reference("baseline", baselineRate, Math.Max(baselineRate, t.ErrorRateFloor),
                withBaselineP99 > 0 ? baselineP99 / withBaselineP99 : null,
                $"the cohort's own baseline {Percent(baselineRate)}");
        }
    }

    private static string NodeList(IReadOnlyList<NodeSample> nodes) =>
        string.Join(", ", nodes.Take(MaxNamedNodes).Select(s => s.NodeId)) + (nodes.Count > MaxNamedNodes ? $" and {nodes.Count - MaxNamedNodes} more" : "");

    /// <summary><c>3.10% (310/10000)</c></summary>
    internal static string RateText(long errors, long requests) =>
        $"{Percent(requests > 0 ? (double)errors / requests : 0)} ({errors}/{requests})";

    internal static string Percent(double share, int decimals = 2) =>
        (share * 100).ToString(decimals == 0 ? "0" : "0." + new string('0', decimals), CultureInfo.InvariantCulture) + "%";

    private static string Number(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);

    private static string Ms(double value) => value.ToString("0.0", CultureInfo.InvariantCulture) + " ms";
}
