namespace Snapstone.Domain.Plans;

/// <summary>Which way a metric gets worse.</summary>
public enum MetricDirection
{
    /// <summary>An error rate, a latency: more is worse, <see cref="MetricGate.Max"/> is a ceiling.</summary>
    HigherIsWorse,
    /// <summary>A success rate, a cache hit ratio: less is worse, <see cref="MetricGate.Max"/> is a floor.</summary>
    LowerIsWorse,
}

/// <summary>
/// A query against the configured Prometheus-compatible API, returning one value per node (grouped by the node
/// label). Snapstone splits the result into cohort and control and judges it like pushed metrics: an absolute
/// limit and a ratio against the control, in the metric's direction.
/// </summary>
/// <example>
/// <c>{ "name": "edge-error-rate", "query": "sum by (node) (rate(edge_errors_total[15s])) / sum by (node) (rate(edge_requests_total[15s]))",
/// "direction": "higher-is-worse", "max": 0.01, "maxRatio": 2.0, "minNodes": 3 }</c>: the cohort's mean must stay at
/// or under 1% and at most 2× the control's mean, judged once at least 3 cohort nodes have a value.
/// </example>
[GenerateSerializer, Immutable, Alias("snapstone.MetricGate")]
public sealed record MetricGate
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public required string Query { get; init; }
    [Id(2)] public MetricDirection Direction { get; init; }
    /// <summary>Optional absolute limit on the cohort's value: a ceiling for higher-is-worse, a floor for lower-is-worse.</summary>
    [Id(3)] public double? Max { get; init; }
    /// <summary>Optional: how many times worse than the control's value the cohort's may be.</summary>
    [Id(4)] public double? MaxRatio { get; init; }
    /// <summary>The fewest cohort nodes with a value for a verdict; fewer is inconclusive.</summary>
    [Id(5)] public int MinNodes { get; init; } = 3;
    /// <summary><c>report-only</c>: this gate's result is recorded with the verdict and never changes it.</summary>
    [Id(6)] public GateMode Mode { get; init; }
}
