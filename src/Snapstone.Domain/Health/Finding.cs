using System.Text.Json.Serialization;

namespace Snapstone.Domain.Health;

/// <summary>How a check came out: within its limit, over it beyond doubt, or over it but possibly by chance.</summary>
public enum CheckOutcome
{
    Pass,
    /// <summary>Above the limit, but the evidence does not yet rule out chance: the verdict waits.</summary>
    Unsure,
    Fail,
}

/// <summary>Which side of the comparison a node is on.</summary>
public enum Side
{
    Cohort,
    Control,
}

/// <summary>What a node's breach signal comes to once weighed against its PoP and the control at the same time.</summary>
public enum BreachStanding
{
    /// <summary>The node is significantly worse than both (or there was nothing to weigh it against): it acts on its own.</summary>
    Confirmed,
    /// <summary>Its PoP or the control was as bad at the same moments: a disturbance around it, left to the verdict.</summary>
    Ambient,
    /// <summary>Worse than its surroundings, but not beyond chance yet: left to the verdict.</summary>
    Unconfirmed,
}

/// <summary>Which absolute gate a finding is about.</summary>
public enum Ceiling
{
    /// <summary><see cref="Plans.Gates.MaxErrorRate"/>.</summary>
    ErrorRate,
    /// <summary><see cref="Plans.Gates.MaxP99LatencyMs"/>.</summary>
    P99Latency,
}

/// <summary>Which limit of a metric gate a finding is about.</summary>
public enum MetricLimit
{
    /// <summary><see cref="Plans.MetricGate.Max"/>: a ceiling, or a floor for a lower-is-worse metric.</summary>
    Max,
    /// <summary><see cref="Plans.MetricGate.MaxRatio"/> against the control.</summary>
    Ratio,
}

/// <summary>What a ratio was taken against.</summary>
public enum ReferenceKind
{
    /// <summary>Nodes still on the previous package, at the same time.</summary>
    Control,
    /// <summary>The cohort's own figures from before the change: used only where there is no control.</summary>
    Baseline,
}

/// <summary>
/// The figures a ratio was taken against: a control's traffic (<see cref="Errors"/>/<see cref="Requests"/>), or a
/// baseline rate; <see cref="Floored"/> is the rate the ratio actually multiplied (see <see cref="Plans.GateThresholds.ErrorRateFloor"/>).
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.ReferenceFigures")]
public sealed record ReferenceFigures(
    [property: Id(0)] ReferenceKind Kind,
    /// <summary>How the reference is named in text: <c>control</c>, <c>control proxy=fl1</c>, <c>baseline</c>.</summary>
    [property: Id(1)] string Name,
    [property: Id(2)] double Rate,
    [property: Id(3)] double Floored,
    [property: Id(4)] double? Errors = null,
    [property: Id(5)] double? Requests = null);

/// <summary>
/// One piece of a verdict's evidence: a code (the record's type, <c>code</c> in JSON) and its numbers. Text is made
/// from them at the edge (<see cref="FindingText"/>), so readers can also act on the numbers themselves.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "code")]
[JsonDerivedType(typeof(EmptyWave), "empty-wave")]
[JsonDerivedType(typeof(Crashed), "crashed")]
[JsonDerivedType(typeof(Rejected), "rejected")]
[JsonDerivedType(typeof(Reporting), "reporting")]
[JsonDerivedType(typeof(TooLittleTraffic), "too-little-traffic")]
[JsonDerivedType(typeof(CeilingOnly), "ceiling-only")]
[JsonDerivedType(typeof(BaselineOnly), "baseline-only")]
[JsonDerivedType(typeof(ErrorRate), "error-rate")]
[JsonDerivedType(typeof(Latency), "latency")]
[JsonDerivedType(typeof(LatencyCeiling), "latency-ceiling")]
[JsonDerivedType(typeof(Ambient), "ambient")]
[JsonDerivedType(typeof(Metric), "metric")]
[JsonDerivedType(typeof(MetricsOnly), "metrics-only")]
[JsonDerivedType(typeof(FlakySetAside), "flaky-set-aside")]
[JsonDerivedType(typeof(FlakyMore), "flaky-more")]
[JsonDerivedType(typeof(FlakyTooMany), "flaky-too-many")]
[JsonDerivedType(typeof(Outlier), "outlier")]
[JsonDerivedType(typeof(WeightCapped), "weight-capped")]
[JsonDerivedType(typeof(AttributedElsewhere), "attributed-elsewhere")]
[JsonDerivedType(typeof(AttributedMore), "attributed-more")]
[JsonDerivedType(typeof(OneNodeSegment), "one-node-segment")]
[JsonDerivedType(typeof(NodeCrashed), "node-crashed")]
[JsonDerivedType(typeof(NodeRejected), "node-rejected")]
[JsonDerivedType(typeof(NodeBreach), "node-breach")]
[JsonDerivedType(typeof(BreachWeighed), "breach-weighed")]
[JsonDerivedType(typeof(Aligned), "aligned")]
[JsonDerivedType(typeof(Note), "note")]
[GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding")]
public abstract record Finding
{
    /// <summary>The wave selected no node.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.EmptyWave")]
    public sealed record EmptyWave : Finding;

    /// <summary>Crashes over <see cref="Max"/>; <see cref="Named"/> are the first few nodes.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.Crashed")]
    public sealed record Crashed(
        [property: Id(0)] long Count,
        [property: Id(1)] int Nodes,
        [property: Id(2)] int Max,
        [property: Id(3)] IReadOnlyList<string> Named) : Finding;

    /// <summary>Nodes that refused the package, over <see cref="Max"/>.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.Rejected")]
    public sealed record Rejected(
        [property: Id(0)] int Nodes,
        [property: Id(1)] int Max,
        [property: Id(2)] IReadOnlyList<string> Named) : Finding;

    /// <summary>How many of the targeted nodes reported on the package, against the <see cref="Required"/> count.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.Reporting")]
    public sealed record Reporting(
        [property: Id(0)] int Reported,
        [property: Id(1)] int Targeted,
        [property: Id(2)] double Fraction,
        [property: Id(3)] int Required) : Finding
    {
        public bool Enough => Reported >= Required;
    }

    /// <summary>The cohort served fewer requests than a verdict needs.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.TooLittleTraffic")]
    public sealed record TooLittleTraffic([property: Id(0)] double Requests, [property: Id(1)] long Min) : Finding;

    /// <summary>Neither a control nor baselines to compare with: only the absolute ceiling judged the cohort.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.CeilingOnly")]
    public sealed record CeilingOnly([property: Id(0)] long MinControlRequests) : Finding;

    /// <summary>
    /// No control traffic at the same time: the cohort was compared with its own nodes' figures from before the change,
    /// a before/after comparison that an upstream incident during the bake can fool, used only for want of a control.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.BaselineOnly")]
    public sealed record BaselineOnly([property: Id(0)] long MinControlRequests) : Finding;

    /// <summary>
    /// An error-rate check of <see cref="Subject"/> (<c>cohort</c>, <c>segment proxy=fl1: cohort</c>) against
    /// <see cref="Limit"/>: the ceiling when <see cref="Ratio"/> is null, else <c>Ratio × Reference.Floored</c>.
    /// <see cref="P"/> is the always-valid p-value of the excess (1 when within the limit), <see cref="DecidedAt"/>
    /// the end of the time slot where the evidence first passed <c>1 / Significance</c>.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.ErrorRate")]
    public sealed record ErrorRate(
        [property: Id(0)] CheckOutcome Outcome,
        [property: Id(1)] string Subject,
        [property: Id(2)] double Errors,
        [property: Id(3)] double Requests,
        [property: Id(4)] double Limit,
        [property: Id(5)] double? Ratio,
        [property: Id(6)] ReferenceFigures? Reference,
        [property: Id(7)] double P,
        [property: Id(8)] double Significance,
        [property: Id(9)] DateTimeOffset? DecidedAt = null) : Finding;

    /// <summary>
    /// A p99 latency check of <see cref="Subject"/>: <see cref="Observed"/> = p99 / reference p99 against
    /// <see cref="Ratio"/>, over <see cref="Slots"/> time slots; <see cref="P"/> and <see cref="DecidedAt"/> as for
    /// <see cref="ErrorRate"/>.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.Latency")]
    public sealed record Latency(
        [property: Id(0)] CheckOutcome Outcome,
        [property: Id(1)] string Subject,
        [property: Id(2)] double P99,
        [property: Id(3)] double Ratio,
        [property: Id(4)] string ReferenceName,
        [property: Id(5)] double ReferenceP99,
        [property: Id(6)] double Observed,
        [property: Id(7)] double P = 1,
        [property: Id(8)] double Significance = 0,
        [property: Id(9)] int Slots = 0,
        [property: Id(10)] DateTimeOffset? DecidedAt = null) : Finding;

    /// <summary>The p99 of <see cref="Subject"/> against <see cref="Plans.Gates.MaxP99LatencyMs"/>, slot by slot.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.LatencyCeiling")]
    public sealed record LatencyCeiling(
        [property: Id(0)] CheckOutcome Outcome,
        [property: Id(1)] string Subject,
        [property: Id(2)] double P99,
        [property: Id(3)] double Max,
        [property: Id(4)] double P,
        [property: Id(5)] double Significance,
        [property: Id(6)] int Slots,
        [property: Id(7)] DateTimeOffset? DecidedAt = null) : Finding;

    /// <summary>
    /// An ambient disturbance: in <see cref="Slots"/> time slots (<see cref="From"/> to <see cref="To"/>) the control
    /// was over <see cref="Ceiling"/>'s limit <see cref="Max"/> as well as the cohort (<see cref="Cohort"/>,
    /// <see cref="Control"/>: their error rates or p99s then). <see cref="P"/> says whether the cohort was worse than the
    /// control meanwhile. Fail: it was, beyond chance, so the breach is the change's. Otherwise the breach is not held
    /// against the change: Unsure (the wave waits) while the disturbance goes on (<see cref="Ongoing"/>) or too little
    /// traffic came after it, or it came from too few of the cohort's nodes (<see cref="Heard"/> of the <see cref="Needed"/>
    /// that must have reported since: the nodes that report first are not the cohort); Pass once it is over, the ceiling
    /// judged on the other slots. <see cref="AgainstBaseline"/>:
    /// there was no control at the same time, and <see cref="Control"/> is the cohort's own baseline from before the
    /// change, itself over the ceiling (the trouble began before the wave).
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.Ambient")]
    public sealed record Ambient(
        [property: Id(0)] CheckOutcome Outcome,
        [property: Id(1)] string Subject,
        [property: Id(2)] Ceiling Ceiling,
        [property: Id(3)] double Max,
        [property: Id(4)] double Cohort,
        [property: Id(5)] double Control,
        [property: Id(6)] int Slots,
        [property: Id(7)] DateTimeOffset? From,
        [property: Id(8)] DateTimeOffset? To,
        [property: Id(9)] bool Ongoing,
        [property: Id(10)] double P,
        [property: Id(11)] double Significance,
        [property: Id(12)] DateTimeOffset? DecidedAt = null,
        [property: Id(13)] double Ratio = 1,
        [property: Id(14)] bool AgainstBaseline = false,
        [property: Id(15)] int Heard = 0,
        [property: Id(16)] int Needed = 0) : Finding;

    /// <summary>
    /// A metric gate's check: the query <see cref="Query"/> of gate <see cref="Gate"/>, the cohort's and control's means
    /// (over <see cref="CohortNodes"/> and <see cref="ControlNodes"/> nodes with a value) against <see cref="Limit"/>
    /// (<see cref="Value"/>: the max, or the ratio, with <see cref="Observed"/> the ratio found). <see cref="Problem"/> says
    /// why there is no verdict (no reading, a failed query, too few nodes) or why a breach waits. A <see cref="ReportOnly"/>
    /// gate's finding is recorded and never changes the verdict.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.Metric")]
    public sealed record Metric(
        [property: Id(0)] CheckOutcome Outcome,
        [property: Id(1)] string Gate,
        [property: Id(2)] string Query,
        [property: Id(3)] Plans.MetricDirection Direction,
        [property: Id(4)] MetricLimit? Limit,
        [property: Id(5)] double? Value,
        [property: Id(6)] double? Cohort,
        [property: Id(7)] double? Control,
        [property: Id(8)] int CohortNodes,
        [property: Id(9)] int ControlNodes,
        [property: Id(10)] bool ReportOnly,
        [property: Id(11)] string? Problem) : Finding
    {
        [Id(12)] public double? Observed { get; init; }
    }

    /// <summary>The cohort pushed no traffic in its reports: the wave was judged on its metric queries alone.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.MetricsOnly")]
    public sealed record MetricsOnly : Finding;

    /// <summary>A node already over the ceiling before the change and no worse now, left out on its side.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.FlakySetAside")]
    public sealed record FlakySetAside(
        [property: Id(0)] Side Side,
        [property: Id(1)] string Node,
        [property: Id(2)] double Errors,
        [property: Id(3)] double Requests,
        [property: Id(4)] double Baseline) : Finding;

    /// <summary>More such nodes than a verdict names.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.FlakyMore")]
    public sealed record FlakyMore([property: Id(0)] Side Side, [property: Id(1)] int Count) : Finding;

    /// <summary>Most of a side was over the ceiling before the change: the gate is what is wrong, so nobody is set aside.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.FlakyTooMany")]
    public sealed record FlakyTooMany([property: Id(0)] Side Side, [property: Id(1)] int Count, [property: Id(2)] int Total) : Finding;

    /// <summary>One failing node, flaky before the change, without which the cohort passes: left out.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.Outlier")]
    public sealed record Outlier(
        [property: Id(0)] string Node,
        [property: Id(1)] double Errors,
        [property: Id(2)] double Requests,
        [property: Id(3)] double P99,
        [property: Id(4)] double? BaselineErrorRate,
        [property: Id(5)] double? BaselineP99,
        [property: Id(6)] int Others) : Finding;

    /// <summary>
    /// <see cref="Nodes"/> nodes of a side served more than <see cref="Multiple"/> × the side's median node
    /// (<see cref="Median"/> requests) and counted as <see cref="Cap"/> requests each, errors scaled alike.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.WeightCapped")]
    public sealed record WeightCapped(
        [property: Id(0)] Side Side,
        [property: Id(1)] int Nodes,
        [property: Id(2)] double Median,
        [property: Id(3)] double Cap,
        [property: Id(4)] double Multiple,
        [property: Id(5)] IReadOnlyList<string> Named) : Finding;

    /// <summary>
    /// A node left out of this rollout's evidence: its errors began at <see cref="Onset"/>, after it applied
    /// <see cref="Unit"/> v<see cref="Version"/> at <see cref="AppliedAt"/>, so they are that change's.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.AttributedElsewhere")]
    public sealed record AttributedElsewhere(
        [property: Id(0)] Side Side,
        [property: Id(1)] string Node,
        [property: Id(2)] string Unit,
        [property: Id(3)] long Version,
        [property: Id(4)] DateTimeOffset AppliedAt,
        [property: Id(5)] DateTimeOffset Onset,
        [property: Id(6)] double Errors,
        [property: Id(7)] double Requests) : Finding;

    /// <summary>More nodes left out for another change's regression than a verdict names.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.AttributedMore")]
    public sealed record AttributedMore([property: Id(0)] Side Side, [property: Id(1)] int Count) : Finding;

    /// <summary>A segment's <see cref="Failure"/> that rests on one node: noted, left to the whole cohort's checks.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.OneNodeSegment")]
    public sealed record OneNodeSegment(
        [property: Id(0)] Finding Failure,
        [property: Id(1)] string Segment,
        [property: Id(2)] string Node,
        [property: Id(3)] double Errors,
        [property: Id(4)] double Requests,
        [property: Id(5)] double P99,
        [property: Id(6)] int Others) : Finding;

    /// <summary>A node crashed on the package.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.NodeCrashed")]
    public sealed record NodeCrashed([property: Id(0)] string Node, [property: Id(1)] int Crashes) : Finding;

    /// <summary>A node refused the package.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.NodeRejected")]
    public sealed record NodeRejected([property: Id(0)] string Node) : Finding;

    /// <summary>
    /// A node's error rate far over its own limit (<c>max(ceiling, ratio × own baseline)</c>): more than
    /// <see cref="Factor"/> times it, beyond chance.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.NodeBreach")]
    public sealed record NodeBreach(
        [property: Id(0)] string Node,
        [property: Id(1)] double Errors,
        [property: Id(2)] double Requests,
        [property: Id(3)] double Factor,
        [property: Id(4)] double Limit,
        [property: Id(5)] double Ceiling,
        [property: Id(6)] double? Baseline) : Finding;

    /// <summary>
    /// Cohort and control were compared over the <see cref="Slots"/> time slots both reported in, from
    /// <see cref="From"/> to <see cref="To"/>; the control's traffic at other moments (<see cref="ControlLeftOut"/>
    /// requests) and the cohort's (<see cref="CohortLeftOut"/>) took no part in the ratio.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.Aligned")]
    public sealed record Aligned(
        [property: Id(0)] int Slots,
        [property: Id(1)] DateTimeOffset From,
        [property: Id(2)] DateTimeOffset To,
        [property: Id(3)] double ControlLeftOut,
        [property: Id(4)] double CohortLeftOut) : Finding;

    /// <summary>
    /// A node's breach weighed against what its PoP (<see cref="Pop"/>: the PoP's nodes not on the package) and the
    /// rollout's control (<see cref="Control"/>) did at the same moments: their error rates then, null where there was
    /// too little traffic to tell. <see cref="P"/> is how likely the node's excess over them is by chance.
    /// </summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.BreachWeighed")]
    public sealed record BreachWeighed(
        [property: Id(0)] string Node,
        [property: Id(1)] BreachStanding Standing,
        [property: Id(2)] double Errors,
        [property: Id(3)] double Requests,
        [property: Id(4)] double? Pop,
        [property: Id(5)] double? Control,
        [property: Id(6)] double P,
        [property: Id(7)] double Significance) : Finding;

    /// <summary>Free text, for reasons made before findings had codes.</summary>
    [GenerateSerializer, Immutable, Alias("snapstone.VerdictFinding.Note")]
    public sealed record Note([property: Id(0)] string Text) : Finding;
}
