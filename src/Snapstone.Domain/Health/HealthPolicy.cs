using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Health;

/// <summary>
/// Judges a wave's cohort (nodes on the new package) against the control group (nodes still on the previous
/// one) and the wave's gates. Missing or thin data is never Healthy; a regression must be clear to be
/// Unhealthy, so noise neither promotes nor halts. Every reason is a <see cref="Finding"/> (a code and its numbers).
/// </summary>
/// <remarks>
/// In order (each concern in its own type: <see cref="CohortVerdict"/> puts them together):
/// <list type="number">
/// <item>No nodes targeted → Healthy: an empty wave adds no risk.</item>
/// <item>Crashes above <see cref="Gates.MaxCrashes"/> or rejections above <see cref="Gates.MaxRejected"/> → Unhealthy at once.</item>
/// <item>A node whose regression began after it applied another unit's change is that change's, left out of both sides
/// (<see cref="Attribution"/>); no node weighs more than <see cref="GateThresholds.MaxNodeWeight"/> × its side's median (<see cref="NodeWeights"/>).</item>
/// <item>Traffic is summed over nodes that reported on the package (a busy node weighs more than an idle
/// one; a node that served nothing counts for nothing, never as healthy). Nodes that were already above the
/// ceiling before the change and are no worse than their own baseline are set aside on both sides (<see cref="OutlierRules"/>).</item>
/// <item>Error rate against the ceiling and against <see cref="Gates.MaxErrorRateRatio"/> × the control rate,
/// floored (see <see cref="GateThresholds.ErrorRateFloor"/>); p99 against <see cref="Gates.MaxP99LatencyRatio"/> × the
/// control's p99, both over the moments cohort and control reported in (<see cref="Reference"/>). With no control traffic
/// (the last wave) the cohort's own baselines stand in for it. A check fails only when its always-valid evidence passes
/// <c>1 / </c><see cref="GateThresholds.Significance"/> at some slot (<see cref="Sequential"/>), so judging at every tick
/// does not raise false alarms; a point figure above the limit that could still be noise is "unsure" (<see cref="CohortChecks"/>).</item>
/// <item>A single failing node among at least <see cref="GateThresholds.MinOutlierPeers"/> others, already flaky before the
/// change, whose removal clears every check, is set aside as an outlier.</item>
/// <item>Each label value with enough traffic is judged on its own against the same label value in the
/// control, so a change that breaks only <c>proxy=fl1</c> is caught even when the fleet rate dilutes it. A label
/// value breaks on every node that has it: when the slice passes without its single worst node, the failure is that
/// node's (a flaky host with too thin a baseline to know it by), noted, and left to the whole cohort's checks (<see cref="SegmentChecks"/>).</item>
/// <item>Any failure → Unhealthy (even with missing data: missing data can hide a regression, not excuse
/// one). Else too few reporting nodes, too little traffic or an unsure check → Inconclusive. Else Healthy.</item>
/// </list>
/// </remarks>
public static class HealthPolicy
{
    /// <summary>
    /// The verdict on a wave's cohort; <paramref name="targeted"/> is how many nodes should run the package. With
    /// <paramref name="unit"/> (the unit the rollout changes), nodes whose regression began after another unit's change
    /// are left out of both sides as that change's (<see cref="Attribution"/>).
    /// </summary>
    /// <remarks>
    /// <paramref name="metrics"/> are the readings of the wave's <see cref="Gates.Metrics"/> (see <see cref="MetricSplit"/>); a
    /// gate without one is unsure, so a wave with metric gates is never Healthy without their readings.
    /// </remarks>
    public static Verdict Judge(IReadOnlyList<NodeSample> cohort, IReadOnlyList<NodeSample> control, Gates gates, int targeted, string? unit = null,
        IReadOnlyList<MetricReading>? metrics = null) =>
        CohortVerdict.Judge(cohort, control, gates, targeted, unit, metrics).Verdict;

    /// <summary>
    /// One look at a wave: the verdict on <paramref name="evidence"/>, with its metric gates, and the pooled figures to put
    /// in the next look's <see cref="WaveEvidence.History"/>, so a bake longer than the node windows is judged as one
    /// sequence (see <see cref="WaveEvidence"/> for the loop).
    /// </summary>
    public static Judgement Look(WaveEvidence evidence, Gates gates) => CohortVerdict.Judge(evidence, gates);

    /// <summary>The verdict on <paramref name="evidence"/> (<see cref="Look"/> without the carry).</summary>
    public static Verdict Judge(WaveEvidence evidence, Gates gates) => Look(evidence, gates).Verdict;

    /// <summary>
    /// The verdict recorded evidence would have had under <paramref name="gates"/>: the same verdict for the same gates
    /// (the judge is a function of its evidence), and for others the verdict they would have given, with
    /// <see cref="Finding.ErrorRate.DecidedAt"/> saying when a check would have failed. The evidence's
    /// <see cref="WaveEvidence.History"/> keeps the set-asides made when it was recorded; everything in the window is judged
    /// afresh.
    /// </summary>
    public static Verdict Rejudge(WaveEvidence evidence, Gates gates) => Judge(evidence, gates);

    /// <summary>
    /// One metric gate's check of a reading (its query's result split into cohort and control), with the same comparison as
    /// pushed metrics: the cohort's mean against an absolute limit and against ratio × the control's, in the metric's
    /// direction. No reading, a failed query or too few nodes with a value is Unsure, never a pass. The verdict includes
    /// these for every gate in <see cref="Gates.Metrics"/> when judged from a <see cref="WaveEvidence"/>.
    /// </summary>
    /// <remarks>With <paramref name="controlExists"/> false (a wave whose cohort is every consumer) the ratio is skipped, saying so.</remarks>
    public static IReadOnlyList<Finding.Metric> JudgeMetric(MetricGate gate, MetricReading? reading, bool controlExists = true) =>
        [.. MetricChecks.Evaluate(gate, reading, controlExists).Select(c => (Finding.Metric)c.Finding)];

    /// <summary>
    /// One node's own state for the wave's healthy/unhealthy counts. Unhealthy: it crashed, rejected the
    /// package, or its error rate is significantly above the ceiling or <c>ratio × max(controlRate, 0.1%)</c>
    /// (unless it is no worse than its own flaky baseline). Unknown: it has not reported on the package,
    /// served nothing, or too little to tell. Healthy otherwise.
    /// </summary>
    public static NodeHealth Assess(NodeSample sample, Gates gates, double? controlRate = null) =>
        NodeBreach.Assess(sample, gates, controlRate);

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
    public static NodeSignal? Breach(NodeSample sample, Gates gates) => NodeBreach.Breach(sample, gates);

    /// <summary>
    /// Whether a node's signal may roll the rollout back on its own. Crashes and rejections always do. A breach (a node's
    /// error rate far over its own limit) is first weighed against what the node's PoP and the rollout's control did at
    /// the same moments: an upstream incident that hits a PoP, or every node, is not this change's doing. It acts only
    /// when the node is significantly worse than <see cref="Gates.MaxErrorRateRatio"/> × each of them, or when there is
    /// nothing to weigh it against (then its own limit decides, and the finding says so); otherwise it is left to the
    /// verdict, which compares the whole cohort with the control.
    /// </summary>
    /// <param name="signal">What the node grain raised (<see cref="Breach"/>).</param>
    /// <param name="node">The node's sample, with its series, over the stretch the signal was raised on.</param>
    /// <param name="popPeers">Samples of the node's PoP's other consumers of the unit that do not run the package.</param>
    /// <param name="control">The rollout's control samples.</param>
    /// <example>
    /// Ceiling 1%, ratio 2. Node at 28% (280/1000) while its PoP peers run at 0.1% and the control at 0.1% → confirmed:
    /// the rollout rolls back. The same node at 20% while its PoP peers are at 19% (their upstream is failing) → ambient:
    /// the verdict decides, and waits while the disturbance lasts.
    /// </example>
    public static BreachCheck Weigh(NodeSignal signal, NodeSample node, IReadOnlyList<NodeSample> popPeers, IReadOnlyList<NodeSample> control, Gates gates) =>
        NodeBreach.Weigh(signal, node, popPeers, control, gates);

    /// <summary>
    /// Each breach among <paramref name="signals"/> weighed (<see cref="Weigh"/>) on the node's sample in
    /// <paramref name="cohort"/> against <paramref name="control"/>, at one look. A breach whose node has no sample in the
    /// look is left out: nothing weighs it, so it stands as the node raised it. Crashes and rejections are never weighed.
    /// The PoP side of <see cref="Weigh"/> is the control nodes of the node's PoP (<see cref="NodeSample.Pop"/>): its
    /// neighbours not on the package, so a PoP whose own upstream fails holds the breach even while the rest of the
    /// control is clean.
    /// </summary>
    public static IReadOnlyList<WeighedBreach> WeighBreaches(IReadOnlyList<NodeSignal> signals, IReadOnlyList<NodeSample> cohort, IReadOnlyList<NodeSample> control, Gates gates)
    {
        List<WeighedBreach>? weighed = null;
        foreach (var signal in signals)
        {
            if (signal.Kind != SignalKind.Breach || cohort.FirstOrDefault(s => s.NodeId == signal.NodeId) is not { } node)
            {
                continue;
            }
            IReadOnlyList<NodeSample> peers = node.Pop is { } pop ? [.. control.Where(s => s.Pop == pop && s.NodeId != node.NodeId)] : [];
            (weighed ??= []).Add(new WeighedBreach(signal.NodeId, Weigh(signal, node, peers, control, gates)));
        }
        return weighed ?? [];
    }

    /// <summary>
    /// How many of <paramref name="targeted"/> nodes must report: <c>ceil(targeted × fraction)</c>.
    /// Worked example: 12 nodes at 0.9 → 10.8 → 11; 10 nodes at 0.9 → 9.
    /// </summary>
    public static int RequiredReporting(int targeted, double fraction) =>
        targeted <= 0 ? 0 : (int)Math.Min(targeted, Math.Ceiling(targeted * fraction - 1e-9));
}
