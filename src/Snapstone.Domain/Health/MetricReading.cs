namespace Snapstone.Domain.Health;

/// <summary>One node's value in a metric query's result.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeValue")]
public sealed record NodeValue([property: Id(0)] string Node, [property: Id(1)] double Value);

/// <summary>
/// One metric gate's query result, already split by the node label into the wave's cohort and its control (the
/// caller knows which nodes are which; the query never lists them). <see cref="Error"/> says why there is no result:
/// the query was refused, timed out, or the metrics store could not be reached — never a reason to pass.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.MetricReading")]
public sealed record MetricReading
{
    /// <summary>The <see cref="Plans.MetricGate.Name"/> this reading answers.</summary>
    [Id(0)] public required string Gate { get; init; }
    [Id(1)] public IReadOnlyList<NodeValue> Cohort { get; init; } = [];
    [Id(2)] public IReadOnlyList<NodeValue> Control { get; init; } = [];
    [Id(3)] public string? Error { get; init; }
    /// <summary>When the query was evaluated.</summary>
    [Id(4)] public DateTimeOffset? At { get; init; }
}
