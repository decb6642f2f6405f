using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Tests.Plans;

/// <summary>A plan's metric queries checked against the store's answers when the plan is defined.</summary>
public class MetricQueryCheckTests
{
    private static readonly MetricGate Gate = new() { Name = "edge-error-rate", Query = "sum by (node) (rate(edge_errors_total[15s]))", Max = 0.01 };

    private static readonly Plan TwoWaves = new(
    [
        new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" } },
        new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, Gates = new Gates { Metrics = [Gate, Gate with { Name = "second" }] } },
    ]);

    private static MetricAnswer Series(params string?[] nodes) => new() { Series = [.. nodes.Select(n => new MetricSeries(n, 0.001))] };

    [Fact]
    public void Every_metric_gate_is_named_by_its_field() =>
        Assert.Equal(["waves[1].gates.metrics[0]", "waves[1].gates.metrics[1]"], MetricQueryCheck.Queries(TwoWaves).Select(q => q.Field));

    [Fact]
    public void Metric_gates_without_a_store_are_refused_naming_the_setting()
    {
        var refusal = MetricQueryCheck.Unconfigured(MetricQueryCheck.Queries(TwoWaves), "Snapstone:Metrics:Prometheus:Url");
        Assert.Equal(ProblemKind.Invalid, refusal!.Kind);
        Assert.Equal("waves[1].gates.metrics[0]: metric gates need a Prometheus to query and none is configured (set Snapstone:Metrics:Prometheus:Url); 2 metric gate(s) in this plan",
            refusal.Message);
        Assert.Null(MetricQueryCheck.Unconfigured([], "Snapstone:Metrics:Prometheus:Url"));
    }

    public static TheoryData<string, MetricAnswer, MetricAnswer, ProblemKind, string[]> Cases => new()
    {
        { "both answer one value per node", Series("a", "b"), Series(), ProblemKind.Invalid, [] },
        { "the store refuses one", Series("a"), MetricAnswer.Failed("Prometheus refused the query: bad_data: 1:8: parse error: unexpected <by>", refused: true), ProblemKind.Invalid,
            ["waves[1].gates.metrics[1].query ('second'): Prometheus refused the query: bad_data: 1:8: parse error: unexpected <by>"] },
        { "one is not grouped by node", Series(null, null), Series("a"), ProblemKind.Invalid,
            ["waves[1].gates.metrics[0].query ('edge-error-rate'): the query's 2 series carry no 'node' label: group it by node, e.g. sum by (node) (…)"] },
        { "a refusal wins over a store that did not answer the other", MetricAnswer.Failed("down"), MetricAnswer.Failed("bad_data: x", refused: true), ProblemKind.Invalid,
            ["waves[1].gates.metrics[1].query ('second'): bad_data: x"] },
        { "the store cannot answer: unavailable, nothing stored", MetricAnswer.Failed("Prometheus at http://p:9090 could not be reached: Connection refused"), Series("a"), ProblemKind.Unavailable,
            ["waves[1].gates.metrics[0].query ('edge-error-rate'): Prometheus at http://p:9090 could not be reached: Connection refused; the plan's queries cannot be checked now, and the plan is not stored: try again"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Answers_that_cannot_serve_a_gate_refuse_the_plan_naming_the_field(string because, MetricAnswer first, MetricAnswer second, ProblemKind kind, string[] errors)
    {
        var (got, problems) = MetricQueryCheck.Judge(MetricQueryCheck.Queries(TwoWaves), [first, second], "node");
        Assert.True(errors.SequenceEqual(problems), $"{because}: got [{string.Join(" | ", problems)}]");
        if (errors.Length > 0)
        {
            Assert.Equal(kind, got);
        }
    }
}
