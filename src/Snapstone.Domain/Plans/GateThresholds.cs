namespace Snapstone.Domain.Plans;

/// <summary>
/// The numbers behind a wave's checks: how much evidence a verdict needs and how sure a failure must be. The
/// defaults are the judge's own; a plan sets them only to be stricter or laxer on purpose (a high-risk change's
/// plan may not be laxer than <c>high-risk</c>'s, see <see cref="PlanFloor"/>).
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.GateThresholds")]
public sealed record GateThresholds
{
    public static readonly GateThresholds Default = new();

    /// <summary>Fewer cohort requests than this give no verdict but Inconclusive.</summary>
    [Id(0)] public long MinCohortRequests { get; init; } = 200;

    /// <summary>Control (or baseline) traffic needed before a ratio against it means anything.</summary>
    [Id(1)] public long MinControlRequests { get; init; } = 200;

    /// <summary>A label value needs this much cohort traffic to be judged on its own.</summary>
    [Id(2)] public long MinSegmentRequests { get; init; } = 200;

    /// <summary>
    /// The smallest reference error rate a ratio is taken against: the control rate is raised to at least
    /// <c>max(1 / control requests, ErrorRateFloor)</c>. Worked example: control 0/4000 → reference 0.1%, so with
    /// ratio 2 the cohort may reach 0.2% instead of being "infinitely worse" with its first error.
    /// </summary>
    [Id(3)] public double ErrorRateFloor { get; init; } = 0.001;

    /// <summary>
    /// The false-alarm level of each check, however often the wave is judged within a bake: a check over its gate fails
    /// only when its sequential evidence against "within the gate" passes <c>256 / Significance</c> slot by slot, or
    /// <c>1 / Significance</c> for one look at totals (see <c>Sequential</c>). Worked example, one look: 4 errors in 300
    /// requests against a 1% ceiling (3 expected) is evidence of 0.47, p = 1: unsure, not a failure; 60 in 3,000
    /// (30 expected) is evidence of about 17,000: a failure.
    /// </summary>
    [Id(4)] public double Significance { get; init; } = 0.001;

    /// <summary>Latencies below this are raised to it before a ratio, so 0.2 ms → 0.4 ms is not a 2× regression.</summary>
    [Id(5)] public double LatencyFloorMs { get; init; } = 1.0;

    /// <summary>
    /// How much a cohort's pooled p99 moves against the control's from one time slot to the next with nothing changed,
    /// as a standard deviation of the natural log of their ratio (0.15: about ±15%; a pooled p99 averages many nodes, so
    /// it jitters far less than one node's). The latency test needs a slot-by-slot excess well beyond it: where 1.5× is
    /// allowed, a cohort 3× slower fails in 2 slots, one 2.25× slower in 4, one 1.75× slower in about 30.
    /// </summary>
    [Id(6)] public double LatencyNoise { get; init; } = 0.15;

    /// <summary>A node is only an outlier among at least this many other reporting nodes.</summary>
    [Id(7)] public int MinOutlierPeers { get; init; } = 5;

    /// <summary>A label key with more distinct values than this on the cohort (e.g. a host name) is not a segment.</summary>
    [Id(8)] public int MaxSegmentValues { get; init; } = 32;

    /// <summary>A node needs this many requests before its error rate alone can signal a breach.</summary>
    [Id(9)] public long MinBreachRequests { get; init; } = 100;

    /// <summary>A breach is an error rate more than this multiple of the node's limit ...</summary>
    [Id(10)] public double BreachFactor { get; init; } = 3.0;

    /// <summary>... and that excess is this unlikely to be chance.</summary>
    [Id(11)] public double BreachSignificance { get; init; } = 1e-6;

    /// <summary>
    /// No node weighs more than this multiple of its side's median node in pooled figures. Worked example: ten nodes
    /// serving 1,000 requests and one claiming 9×10¹⁵: median 1,000, so the claim counts as 3,000 requests (its errors
    /// scaled alike) and cannot dilute the other ten's error rate into a pass.
    /// </summary>
    [Id(12)] public double MaxNodeWeight { get; init; } = 3.0;

    /// <summary>
    /// Whether these thresholds are nowhere laxer than <paramref name="floor"/>'s. Stricter means: a failure needs no
    /// more evidence (higher <see cref="Significance"/>, <see cref="BreachSignificance"/>; lower
    /// <see cref="BreachFactor"/>, <see cref="MinBreachRequests"/>, <see cref="LatencyNoise"/>, floors), a pass needs
    /// no less (higher <see cref="MinCohortRequests"/>), fewer nodes are set aside (higher <see cref="MinOutlierPeers"/>),
    /// more is judged (lower <see cref="MinControlRequests"/>, <see cref="MinSegmentRequests"/>; higher
    /// <see cref="MaxSegmentValues"/>) and no node weighs more (lower <see cref="MaxNodeWeight"/>).
    /// </summary>
    public bool AtLeastAsStrictAs(GateThresholds floor) =>
        MinCohortRequests >= floor.MinCohortRequests &&
        MinControlRequests <= floor.MinControlRequests &&
        MinSegmentRequests <= floor.MinSegmentRequests &&
        ErrorRateFloor <= floor.ErrorRateFloor &&
        Significance >= floor.Significance &&
        LatencyFloorMs <= floor.LatencyFloorMs &&
        LatencyNoise <= floor.LatencyNoise &&
        MinOutlierPeers >= floor.MinOutlierPeers &&
        MaxSegmentValues >= floor.MaxSegmentValues &&
        MinBreachRequests <= floor.MinBreachRequests &&
        BreachFactor <= floor.BreachFactor &&
        BreachSignificance >= floor.BreachSignificance &&
        MaxNodeWeight <= floor.MaxNodeWeight;
}
