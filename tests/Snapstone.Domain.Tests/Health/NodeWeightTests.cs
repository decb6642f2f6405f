using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Tests.Health;

/// <summary>No single node can steer the judge: its weight is capped, and a real node's signal still stops the rollout.</summary>
public class NodeWeightTests
{
    private const long Lie = 9_000_000_000_000_000;

    private static NodeSample S(string id, long requests, long errors, int crashes = 0) =>
        new() { NodeId = id, Requests = requests, Errors = errors, P99LatencyMs = 40, Reported = true, Crashes = crashes };

    /// <summary>Ten real canaries with the bad package's +1.5% errors (16 in 1,000 against the fleet's 0.1%).</summary>
    private static List<NodeSample> BadCanaries => [.. Enumerable.Range(0, 10).Select(i => S($"c-{i}", 1000, 16))];

    private static List<NodeSample> Liars => [.. Enumerable.Range(0, 3).Select(i => S($"liar-{i}", Lie, 0))];

    private static readonly List<NodeSample> Control = [.. Enumerable.Range(0, 20).Select(i => S($"k-{i}", 1000, 1))];

    public static TheoryData<string, List<NodeSample>, GateThresholds, VerdictResult> Cases => new()
    {
        { "the bad canaries alone", BadCanaries, GateThresholds.Default, VerdictResult.Unhealthy },
        { "three liars claiming 9e15 clean requests cannot mask them", [.. BadCanaries, .. Liars], GateThresholds.Default, VerdictResult.Unhealthy },
        { "without the cap the liars would have masked them", [.. BadCanaries, .. Liars], new GateThresholds { MaxNodeWeight = 1_000_000 }, VerdictResult.Healthy },
        { "a crash on one real node still stops the rollout among liars", [.. BadCanaries.Take(9), S("c-crash", 1000, 0, crashes: 1), .. Liars], GateThresholds.Default, VerdictResult.Unhealthy },
        { "good canaries among liars stay healthy", [.. Enumerable.Range(0, 10).Select(i => S($"c-{i}", 1000, 1)), .. Liars], GateThresholds.Default, VerdictResult.Healthy },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Three_liars_cannot_mask_a_one_and_a_half_point_regression(string because, List<NodeSample> cohort, GateThresholds thresholds, VerdictResult result)
    {
        var verdict = HealthPolicy.Judge(cohort, Control, new Gates { Thresholds = thresholds }, cohort.Count);
        Assert.True(result == verdict.Result, $"{because}: got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
    }

    [Fact]
    public void The_verdict_names_the_capped_nodes_and_what_they_counted_as()
    {
        var verdict = HealthPolicy.Judge([.. BadCanaries, .. Liars], Control, new Gates(), 13);

        Assert.Contains("counted 3 cohort node(s) as 3000 requests each, 3× the cohort's median node (1000), so no node outweighs the rest: liar-0, liar-1, liar-2",
            verdict.Reasons);
        Assert.Contains("cohort error rate 0.84% (160/19000) > 2× control 0.10% (20/20000) = 0.20%", verdict.Reasons);
    }

    [Fact]
    public void Liars_reporting_over_time_are_capped_slot_by_slot_too()
    {
        var canaries = Timed.Many("c", 10, 0, Timed.Repeat(10, 100, 2));
        var liars = Timed.Many("liar", 3, 0, Timed.Repeat(10, Lie / 10, 0));
        var control = Timed.Many("k", 20, 0, Timed.Repeat(10, 100, 0));

        var verdict = HealthPolicy.Judge([.. canaries, .. liars], control, new Gates(), 13);

        Assert.Equal(VerdictResult.Unhealthy, verdict.Result);
        var ratio = verdict.Findings.OfType<Finding.ErrorRate>().Single(f => f.Ratio is not null);
        Assert.Equal((200.0, 10_000.0 + 3 * 3_000), (ratio.Errors, ratio.Requests));
    }

    [Fact]
    public void A_lone_busy_node_is_not_capped_against_nothing()
    {
        var verdict = HealthPolicy.Judge([S("busy", 1_000_000, 100), S("idle", 0, 0)], Control, new Gates(), 2);
        Assert.DoesNotContain(verdict.Findings, f => f is Finding.WeightCapped);
    }

    [Theory]
    [InlineData(1, 9_000_000_000_000_000, "metrics.requests must be at most 10000000 for intervalSeconds 1 (10000000 a second; got 9000000000000000)")]
    [InlineData(1, 10_000_000, null)]
    [InlineData(0.25, 2_500_001, "metrics.requests must be at most 2500000 for intervalSeconds 0.25 (10000000 a second; got 2500001)")]
    [InlineData(60, 600_000_000, null)]
    public void Report_validation_can_refuse_a_claim_beyond_the_per_second_ceiling(double interval, long requests, string? error) =>
        Assert.Equal(error, TrafficCeiling.Check(new NodeMetrics { Requests = requests }, interval));

    [Fact]
    public void The_ceiling_is_a_setting_per_second()
    {
        Assert.Equal(50_000, TrafficCeiling.MaxRequests(5, maxRequestsPerSecond: 10_000));
        Assert.Null(TrafficCeiling.Check(null, 1));
        Assert.Equal(0, TrafficCeiling.MaxRequests(double.NaN));
    }
}
