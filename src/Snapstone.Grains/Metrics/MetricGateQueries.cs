using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;

namespace Snapstone.Grains.Metrics;

/// <summary>What the rollout and plan grains ask of the metrics store: a wave's readings, and a plan's queries checked.</summary>
public static class MetricGateQueries
{
    /// <summary>
    /// Every gate's query at once, each split into <paramref name="cohort"/> and <paramref name="control"/> (<see cref="MetricSplit"/>).
    /// Takes at most the configured timeout; a query that fails reads as its error (unsure), never as a pass.
    /// </summary>
    public static async Task<IReadOnlyList<MetricReading>> ReadAsync(this PrometheusClient prometheus, IReadOnlyList<MetricGate> gates,
        IReadOnlySet<string> cohort, IReadOnlySet<string> control, CancellationToken cancellationToken = default)
    {
        if (gates.Count == 0)
        {
            return [];
        }
        var answers = await Task.WhenAll(gates.Select(g => prometheus.QueryAsync(g.Query, cancellationToken)));
        return [.. gates.Zip(answers, (gate, answer) => MetricSplit.Read(gate.Name, answer, cohort, control, prometheus.NodeLabel))];
    }

    /// <summary>
    /// Runs every metric query of <paramref name="plan"/> once and throws the refusal <see cref="MetricQueryCheck"/> gives:
    /// 400 naming each query the store refuses (or when no store is configured), 503 when the store cannot answer.
    /// </summary>
    public static async Task CheckAsync(this PrometheusClient prometheus, Plan plan, CancellationToken cancellationToken = default)
    {
        var queries = MetricQueryCheck.Queries(plan);
        if (queries.Count == 0)
        {
            return;
        }
        if (!prometheus.Configured)
        {
            var refusal = MetricQueryCheck.Unconfigured(queries, PrometheusOptions.Section + ":Url")!;
            throw new SnapstoneException(refusal.Kind, refusal.Message);
        }
        var answers = await Task.WhenAll(queries.Select(q => prometheus.QueryAsync(q.Gate.Query, cancellationToken)));
        var (kind, errors) = MetricQueryCheck.Judge(queries, answers, prometheus.NodeLabel);
        if (errors.Count > 0)
        {
            throw new SnapstoneException(kind, string.Join("; ", errors), errors);
        }
    }
}
