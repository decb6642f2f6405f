using Snapstone.Domain.Health;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Domain.Plans;

/// <summary>One metric gate of a plan with the field that names it in the plan's JSON.</summary>
public sealed record PlannedQuery(string Field, MetricGate Gate);

/// <summary>
/// A plan's metric queries checked against the metrics store when the plan is defined, so that a query the store cannot
/// run is refused then, naming it, rather than discovered as a paused rollout. Each query is run once: a refusal (it does
/// not parse or cannot be evaluated), an answer that is not an instant vector, and series that are not one per node are
/// the plan's fault (400); a store that cannot answer at all means the plan cannot be checked now (503), and nothing is
/// stored. An empty answer is accepted: the series may not exist before the first rollout.
/// </summary>
/// <example>
/// <c>waves[0].gates.metrics[1].query: Prometheus refused the query: bad_data: 1:8: parse error: unexpected &lt;by&gt;</c>
/// </example>
public static class MetricQueryCheck
{
    /// <summary>Every metric gate of <paramref name="plan"/>, wave by wave, with its field.</summary>
    public static IReadOnlyList<PlannedQuery> Queries(Plan plan) =>
        [.. (plan.Waves ?? []).SelectMany((wave, i) => (wave?.Gates?.Metrics ?? []).Select((gate, j) => new PlannedQuery($"waves[{i}].gates.metrics[{j}]", gate)))];

    /// <summary>The refusal when metric gates are planned and no store is configured (<paramref name="setting"/> names the key to set).</summary>
    public static Refusal? Unconfigured(IReadOnlyList<PlannedQuery> queries, string setting) =>
        queries.Count == 0 ? null : new Refusal(ProblemKind.Invalid,
            $"{queries[0].Field}: metric gates need a Prometheus to query and none is configured (set {setting}); " +
            $"{queries.Count} metric gate(s) in this plan");

    /// <summary>The problems with <paramref name="answers"/> (one per query, in order); empty when every query may be planned.</summary>
    public static (ProblemKind Kind, IReadOnlyList<string> Errors) Judge(IReadOnlyList<PlannedQuery> queries, IReadOnlyList<MetricAnswer> answers, string nodeLabel)
    {
        var refused = new List<string>();
        var unanswered = new List<string>();
        for (var i = 0; i < queries.Count; i++)
        {
            var field = $"{queries[i].Field}.query";
            var answer = i < answers.Count ? answers[i] : MetricAnswer.Failed("no answer");
            if (answer.Error is { } error)
            {
                (answer.Refused ? refused : unanswered).Add($"{field} ('{queries[i].Gate.Name}'): {error}");
            }
            else if (MetricSplit.Problem(answer.Series, nodeLabel) is { } problem)
            {
                refused.Add($"{field} ('{queries[i].Gate.Name}'): {problem}");
            }
        }
        if (refused.Count > 0)
        {
            return (ProblemKind.Invalid, refused);
        }
        return unanswered.Count > 0
            ? (ProblemKind.Unavailable, [.. unanswered.Select(u => $"{u}; the plan's queries cannot be checked now, and the plan is not stored: try again")])
            : (ProblemKind.Invalid, []);
    }
}
