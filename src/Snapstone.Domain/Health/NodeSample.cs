namespace Snapstone.Domain.Health;

/// <summary>
/// One node's health over the judging window, as its node grain summarizes it for a verdict.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeSample")]
public sealed record NodeSample
{
    [Id(0)] public required string NodeId { get; init; }
    [Id(1)] public long Requests { get; init; }
    [Id(2)] public long Errors { get; init; }
    /// <summary>The worst p99 latency reported in the window (a p99 cannot be averaged; the worst bounds it).</summary>
    [Id(3)] public double P99LatencyMs { get; init; }
    [Id(4)] public int Crashes { get; init; }
    /// <summary>The node refused the package and kept its old one; its traffic says nothing about the package.</summary>
    [Id(5)] public bool Rejected { get; init; }
    /// <summary>
    /// The node has reported on the package it is supposed to run since the wave started (for a control
    /// node: on the previous package). Traffic of nodes that have not is not counted.
    /// </summary>
    [Id(6)] public bool Reported { get; init; }
    [Id(7)] public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    /// <summary>The node's own error rate before the change; null when unknown (no baseline, or too little traffic in it).</summary>
    [Id(8)] public double? BaselineErrorRate { get; init; }
    /// <summary>The node's own p99 latency before the change; null when unknown.</summary>
    [Id(9)] public double? BaselineP99LatencyMs { get; init; }

    /// <summary>
    /// The same traffic slot by slot, so the judge compares cohort and control over the same moments; null when the
    /// sample was made without one (then the judge can only compare totals, as if every sample covered the same time).
    /// </summary>
    [Id(10)] public SlotSeries? Series { get; init; }

    /// <summary>
    /// When the node applied each unit's package it runs (this one's and every other's), so a regression can be
    /// attributed to the change applied last before it began (<see cref="Attribution"/>); empty when unknown.
    /// </summary>
    [Id(11)] public IReadOnlyList<UnitApply> Applies { get; init; } = [];

    /// <summary>
    /// The units the node's agent named as crashing it within the window (<c>applied.{unit}.crashes</c>): its crashes, and
    /// the errors of the crash loop, are those units' changes' (<see cref="Attribution"/>); empty when none was named.
    /// </summary>
    [Id(12)] public IReadOnlyList<string> CrashedOn { get; init; } = [];

    /// <summary>
    /// The node's PoP, so a breach can be weighed against the control nodes of the same PoP at the same moments
    /// (<see cref="HealthPolicy.WeighBreaches"/>); null when unknown.
    /// </summary>
    [Id(13)] public string? Pop { get; init; }

    /// <summary>Errors over requests; 0 when the node served nothing (which never makes it healthy, see <see cref="HealthPolicy"/>).</summary>
    public double ErrorRate => Requests > 0 ? (double)Errors / Requests : 0;
}
