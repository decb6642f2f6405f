using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Tests.Health;

/// <summary>A metric query's answer split into cohort and control by node id, and what a query that is not one value per node gives.</summary>
public class MetricSplitTests
{
    private static readonly HashSet<string> Cohort = ["a", "b", "c"];
    private static readonly HashSet<string> Control = ["k1", "k2"];

    private static MetricAnswer Answer(params (string? Node, double Value)[] series) =>
        new() { Series = [.. series.Select(s => new MetricSeries(s.Node, s.Value))], At = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero) };

    /// <summary>Cohort and control as <c>node=value</c>, in node order; or the error.</summary>
    private static string Render(MetricReading r) =>
        r.Error ?? $"cohort [{string.Join(", ", r.Cohort.Select(v => $"{v.Node}={v.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}"))}] control [{string.Join(", ", r.Control.Select(v => $"{v.Node}={v.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}"))}]";

    public static TheoryData<string, MetricAnswer, string> Cases => new()
    {
        { "split by id; nodes on neither side left out", Answer(("c", 0.03), ("a", 0.02), ("k1", 0.001), ("z", 0.5)), "cohort [a=0.02, c=0.03] control [k1=0.001]" },
        { "NaN and infinities kept as they came (the judge counts them as no value)", Answer(("a", double.NaN), ("b", double.PositiveInfinity), ("k2", double.NegativeInfinity)),
            "cohort [a=NaN, b=Infinity] control [k2=-Infinity]" },
        { "no series: no data, not a wrong query", Answer(), "cohort [] control []" },
        { "only nodes nobody asked about", Answer(("z", 0.5), ("y", 0.1)), "cohort [] control []" },
        { "an unlabelled series beside labelled ones (an `or vector(0)`) is left out", Answer((null, 0), ("a", 0.02)), "cohort [a=0.02] control []" },
        { "no series carries the node label: the query was not grouped by node", Answer((null, 0.02)),
            "the query's 1 series carry no 'node' label: group it by node, e.g. sum by (node) (…)" },
        { "two series for one node: not one value per node", Answer(("a", 0.02), ("a", 0.03), ("b", 0.01)),
            "the query gives 2 series for node 'a', one value per node is needed: aggregate by (node) alone, e.g. sum by (node) (…)" },
        { "repeats on several nodes name the worst first", Answer(("b", 1), ("b", 2), ("b", 3), ("a", 1), ("a", 2), ("zz", 1), ("zz", 1)),
            "the query gives 3 series for node 'b' (and 2 more node(s)), one value per node is needed: aggregate by (node) alone, e.g. sum by (node) (…)" },
        { "a node outside the rollout repeated still refuses the query: it is wrong for every node", Answer(("a", 0.02), ("z", 1), ("z", 2)),
            "the query gives 2 series for node 'z', one value per node is needed: aggregate by (node) alone, e.g. sum by (node) (…)" },
        { "the store's error is the reading's", MetricAnswer.Failed("Prometheus at http://127.0.0.1:9090 could not be reached: Connection refused"),
            "Prometheus at http://127.0.0.1:9090 could not be reached: Connection refused" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_query_answer_is_split_into_cohort_and_control_by_node(string because, MetricAnswer answer, string expected)
    {
        var reading = MetricSplit.Read("edge-error-rate", answer, Cohort, Control, "node");
        Assert.True(expected == Render(reading), $"{because}: got {Render(reading)}");
        Assert.Equal("edge-error-rate", reading.Gate);
        Assert.Equal(answer.At, reading.At);
    }

    [Fact]
    public void The_node_label_is_the_configured_one()
    {
        var reading = MetricSplit.Read("g", Answer((null, 1)), Cohort, Control, "instance_id");
        Assert.Equal("the query's 1 series carry no 'instance_id' label: group it by node, e.g. sum by (instance_id) (…)", reading.Error);
    }

    private static readonly MetricGate ErrorRate = new()
    {
        Name = "edge-error-rate", Query = "sum by (node) (rate(edge_errors_total[15s])) / sum by (node) (rate(edge_requests_total[15s]))",
        Direction = MetricDirection.HigherIsWorse, Max = 0.05, MaxRatio = 2, MinNodes = 3,
    };

    public static TheoryData<string, MetricAnswer, VerdictResult> Verdicts => new()
    {
        { "every cohort node bad", Answer(("a", 0.3), ("b", 0.3), ("c", 0.3), ("k1", 0.001), ("k2", 0.001)), VerdictResult.Unhealthy },
        { "every cohort node like the control", Answer(("a", 0.001), ("b", 0.001), ("c", 0.001), ("k1", 0.001), ("k2", 0.001)), VerdictResult.Healthy },
        { "one cohort node served nothing (NaN): too few with a value", Answer(("a", 0.001), ("b", double.NaN), ("c", 0.001), ("k1", 0.001)), VerdictResult.Inconclusive },
        { "a query that repeats nodes never passes", Answer(("a", 0.001), ("a", 0.001), ("b", 0.001), ("c", 0.001), ("k1", 0.001)), VerdictResult.Inconclusive },
        { "the store is down", MetricAnswer.Failed("timed out"), VerdictResult.Inconclusive },
        { "no data", Answer(), VerdictResult.Inconclusive },
    };

    /// <summary>The split reading through the whole judge, with no pushed traffic (a fleet judged from Prometheus alone).</summary>
    [Theory]
    [MemberData(nameof(Verdicts))]
    public void Split_readings_decide_a_wave_with_no_pushed_traffic(string because, MetricAnswer answer, VerdictResult result)
    {
        var cohort = Cohort.Select(n => new NodeSample { NodeId = n, Reported = true }).ToList();
        var control = Control.Select(n => new NodeSample { NodeId = n, Reported = true }).ToList();
        var reading = MetricSplit.Read(ErrorRate.Name, answer, Cohort, Control, "node");
        var verdict = HealthPolicy.Judge(cohort, control, new Gates { Metrics = [ErrorRate] }, cohort.Count, metrics: [reading]);
        Assert.True(result == verdict.Result, $"{because}: got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
        Assert.Contains(verdict.Reasons, r => r.StartsWith($"metric edge-error-rate ({ErrorRate.Query})", StringComparison.Ordinal));
    }
}

/// <summary>A ratio against the control on a wave with no control nodes (the last, 100% wave; a unit's first package).</summary>
public class MetricRatioWithoutControlTests
{
    private const string Query = "sum by (node) (rate(edge_errors_total[15s])) / sum by (node) (rate(edge_requests_total[15s]))";

    private static readonly MetricGate RatioOnly = new() { Name = "edge-error-rate", Query = Query, MaxRatio = 2, MinNodes = 2 };

    private static MetricReading Reading(double[] cohort, double[] control) => new()
    {
        Gate = RatioOnly.Name,
        Cohort = [.. cohort.Select((v, i) => new NodeValue($"c-{i}", v))],
        Control = [.. control.Select((v, i) => new NodeValue($"k-{i}", v))],
    };

    public static TheoryData<string, MetricGate, MetricReading, bool, string[]> Cases => new()
    {
        { "no control nodes at all: the ratio is skipped, saying so", RatioOnly, Reading([0.001, 0.002], []), false,
            [$"metric edge-error-rate ({Query}): cohort 0.0015 on 2 node(s); the 2× ratio: no node is left outside the cohort to compare with, so the ratio is not taken"] },
        { "no control nodes, with a max: the max still judges", RatioOnly with { Max = 0.01 }, Reading([0.3, 0.3], []), false,
            [
                $"metric edge-error-rate ({Query}): cohort 0.3 on 2 node(s) > max 0.01 (no control value)",
                $"metric edge-error-rate ({Query}): cohort 0.3 on 2 node(s); the 2× ratio: no node is left outside the cohort to compare with, so the ratio is not taken",
            ] },
        { "control nodes exist but gave no value: missing data, unsure", RatioOnly, Reading([0.001, 0.002], []), true,
            [$"metric edge-error-rate ({Query}): no control node has a value to take the ratio against: inconclusive"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_ratio_is_taken_only_where_a_control_exists(string because, MetricGate gate, MetricReading reading, bool controlExists, string[] lines)
    {
        var findings = HealthPolicy.JudgeMetric(gate, reading, controlExists);
        Assert.True(lines.SequenceEqual(findings.Select(FindingText.Render)), $"{because}: got [{string.Join(" | ", findings.Select(FindingText.Render))}]");
    }

    [Theory]
    [InlineData(false, VerdictResult.Healthy)]
    [InlineData(true, VerdictResult.Inconclusive)]
    public void The_last_wave_passes_a_ratio_only_gate_only_when_no_control_exists(bool withControlNodes, VerdictResult result)
    {
        var cohort = new[] { new NodeSample { NodeId = "c-0", Reported = true }, new NodeSample { NodeId = "c-1", Reported = true } };
        NodeSample[] control = withControlNodes ? [new NodeSample { NodeId = "k-0", Reported = true }] : [];
        var verdict = HealthPolicy.Judge(cohort, control, new Gates { Metrics = [RatioOnly] }, 2, metrics: [Reading([0.001, 0.001], [])]);
        Assert.True(result == verdict.Result, string.Join(" | ", verdict.Reasons));
    }
}
