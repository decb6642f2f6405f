using System.Globalization;

namespace Snapstone.Domain.Health;

/// <summary>
/// One series of a metric query's answer: the value of its node label (null when the series has none) and its value,
/// NaN and ±Inf included as the metrics store gave them.
/// </summary>
public readonly record struct MetricSeries(string? Node, double Value);

/// <summary>What a metric query answered: its series, or why there are none (<see cref="Error"/>).</summary>
public sealed record MetricAnswer
{
    public IReadOnlyList<MetricSeries> Series { get; init; } = [];
    /// <summary>Why there is no answer: the store refused the query, timed out, or could not be reached.</summary>
    public string? Error { get; init; }
    /// <summary>
    /// With <see cref="Error"/>: the store answered and refused the query itself (it does not parse, cannot be evaluated, or
    /// is not an instant vector), so the query is at fault; false when the store could not answer (down, slow, unreachable).
    /// </summary>
    public bool Refused { get; init; }
    /// <summary>When the store evaluated the query.</summary>
    public DateTimeOffset? At { get; init; }

    public static MetricAnswer Failed(string error, bool refused = false) => new() { Error = error, Refused = refused };
}

/// <summary>
/// Splits a metric query's answer into the wave's cohort and its control by node id: the query is written once, for every
/// node (<c>sum by (node) (…)</c>), and Snapstone picks out the nodes it knows. Series of nodes on neither side (other
/// units' consumers, cohort nodes not yet running the package) are left out. A query that does not give one value per
/// node is refused, not guessed at: its reading carries an error, which the judge reads as unsure (the wave waits, then
/// pauses), never as a pass.
/// </summary>
/// <example>
/// Node label <c>node</c>, cohort {a, b}, control {c}:
/// <list type="bullet">
/// <item><c>{node=a} 0.02, {node=b} NaN, {node=c} 0.001, {node=z} 0.5</c> → cohort [a 0.02, b NaN], control [c 0.001]; z is left
/// out, and b's NaN (0/0: it served nothing in the range) is kept as no value, which the judge does not count.</item>
/// <item><c>{node=a, pop=ams01} 0.02, {node=a, pop=fra01} 0.03</c> → error: two series for node a (group the query by node).</item>
/// <item><c>{} 0.02</c> (a <c>sum</c> without <c>by (node)</c>) → error: no series carries the node label.</item>
/// <item>no series at all → an empty reading: no data, unsure.</item>
/// </list>
/// </example>
public static class MetricSplit
{
    /// <summary>The reading of <paramref name="gate"/> from <paramref name="answer"/>, its series split by node id.</summary>
    public static MetricReading Read(string gate, MetricAnswer answer, IReadOnlySet<string> cohort, IReadOnlySet<string> control, string nodeLabel)
    {
        if (answer.Error is { } failed)
        {
            return new MetricReading { Gate = gate, Error = failed, At = answer.At };
        }
        if (Problem(answer.Series, nodeLabel) is { } problem)
        {
            return new MetricReading { Gate = gate, Error = problem, At = answer.At };
        }
        var ours = new List<NodeValue>();
        var theirs = new List<NodeValue>();
        foreach (var series in answer.Series)
        {
            if (series.Node is not { } node)
            {
                continue;
            }
            if (cohort.Contains(node))
            {
                ours.Add(new NodeValue(node, series.Value));
            }
            else if (control.Contains(node))
            {
                theirs.Add(new NodeValue(node, series.Value));
            }
        }
        return new MetricReading
        {
            Gate = gate,
            Cohort = [.. ours.OrderBy(v => v.Node, StringComparer.Ordinal)],
            Control = [.. theirs.OrderBy(v => v.Node, StringComparer.Ordinal)],
            At = answer.At,
        };
    }

    /// <summary>
    /// Why <paramref name="series"/> is not one value per node, if it is not: series without the node label while none has
    /// it, or two series for one node. Null when it is (an empty answer is: it is no data, not a wrong query).
    /// </summary>
    public static string? Problem(IReadOnlyList<MetricSeries> series, string nodeLabel)
    {
        if (series.Count == 0)
        {
            return null;
        }
        var labelled = series.Count(s => s.Node is not null);
        if (labelled == 0)
        {
            return $"the query's {Count(series.Count, "series")} carry no '{nodeLabel}' label: group it by node, e.g. sum by ({nodeLabel}) (…)";
        }
        var repeated = series.Where(s => s.Node is not null).GroupBy(s => s.Node!, StringComparer.Ordinal).Where(g => g.Count() > 1)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        if (repeated.Count > 0)
        {
            var first = repeated[0];
            var more = repeated.Count > 1 ? $" (and {repeated.Count - 1} more node(s))" : "";
            return $"the query gives {first.Count().ToString(CultureInfo.InvariantCulture)} series for {nodeLabel} '{first.Key}'{more}, one value per node is needed: " +
                   $"aggregate by ({nodeLabel}) alone, e.g. sum by ({nodeLabel}) (…)";
        }
        return null;
    }

    private static string Count(int n, string what) => $"{n.ToString(CultureInfo.InvariantCulture)} {what}";
}
