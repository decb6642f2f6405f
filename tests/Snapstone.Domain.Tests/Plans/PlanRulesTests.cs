using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Tests.Plans;

public class PlanRulesTests
{
    private const string Rule = "^[a-z0-9][a-z0-9._-]{0,99}$";
    private const string Hint = " (lower-case letters, digits, '.', '_', '-'; at most 100 characters)";

    private static readonly WaveSpec Canary = new() { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 60 };
    private static readonly WaveSpec All = new() { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 300 };

    /// <summary>A two-wave plan whose first wave is <paramref name="first"/>.</summary>
    private static Plan With(WaveSpec first) => new([first, All]);

    private static Plan WithGates(Gates gates) => With(Canary with { Gates = gates });

    public static TheoryData<string, Plan, string?> Cases => new()
    {
        { "canary then all", With(Canary), null },
        { "bake 0 and a week are bounds", new Plan([Canary with { BakeSeconds = 0 }, All with { BakeSeconds = 7 * 24 * 3600 }]), null },
        { "pops and region", new Plan([Canary with { Select = new WaveSelect { Pops = ["ams01", "lhr01"] } }, Canary with { Name = "eu", Select = new WaveSelect { Region = "eu-west" } }, All]), null },
        { "equal percentages are allowed", new Plan([Canary with { Select = new WaveSelect { Percent = 10 } }, Canary with { Name = "again", Select = new WaveSelect { Percent = 10 } }, All]), null },
        { "no waves", new Plan([]), "waves must hold at least one wave" },
        { "21 waves", new Plan([.. Enumerable.Range(0, 20).Select(i => Canary with { Name = $"w{i}" }), All]), "waves may hold at most 20 waves (got 21)" },
        { "a missing wave", new Plan([null!, All]), "waves[0] must be an object" },
        { "bad wave name", With(Canary with { Name = "Canary" }), "waves[0].name 'Canary' must match " + Rule + Hint },
        { "duplicate wave name", new Plan([Canary, Canary, All]), "waves[1].name 'canary' is used by an earlier wave" },
        { "negative bake", With(Canary with { BakeSeconds = -1 }), "waves[0].bakeSeconds must be between 0 and 604800 (got -1)" },
        { "bake over a week", With(Canary with { BakeSeconds = 604_801 }), "waves[0].bakeSeconds must be between 0 and 604800 (got 604801)" },
        { "no select", With(Canary with { Select = null! }), "waves[0].select is required (one of tier, pops, region, percent)" },
        { "empty select", With(Canary with { Select = new WaveSelect() }), "waves[0].select must set exactly one of tier, pops, region, percent (got 0)" },
        { "two selectors", With(Canary with { Select = new WaveSelect { Tier = "canary", Region = "eu-west" } }), "waves[0].select must set exactly one of tier, pops, region, percent (got 2)" },
        { "bad tier", With(Canary with { Select = new WaveSelect { Tier = "Canary" } }), "waves[0].select.tier 'Canary' must match " + Rule + Hint },
        { "bad region", With(Canary with { Select = new WaveSelect { Region = "EU West" } }), "waves[0].select.region 'EU West' must match " + Rule + Hint },
        { "no pops", With(Canary with { Select = new WaveSelect { Pops = [] } }), "waves[0].select.pops must list 1 to 1000 PoPs (got 0)" },
        { "1001 pops", With(Canary with { Select = new WaveSelect { Pops = Enumerable.Range(0, 1001).Select(i => $"p{i}").ToArray() } }), "waves[0].select.pops must list 1 to 1000 PoPs (got 1001)" },
        { "bad pop", With(Canary with { Select = new WaveSelect { Pops = ["ams01", "AMS02"] } }), "waves[0].select.pops entry 'AMS02' must match " + Rule + Hint },
        { "percent 0", With(Canary with { Select = new WaveSelect { Percent = 0 } }), "waves[0].select.percent must be greater than 0 and at most 100 (got 0)" },
        { "percent 101", With(Canary with { Select = new WaveSelect { Percent = 101 } }), "waves[0].select.percent must be greater than 0 and at most 100 (got 101)" },
        { "percent NaN", With(Canary with { Select = new WaveSelect { Percent = double.NaN } }), "waves[0].select.percent must be greater than 0 and at most 100 (got NaN)" },
        { "percent going down", new Plan([Canary with { Select = new WaveSelect { Percent = 10 } }, Canary with { Name = "five", Select = new WaveSelect { Percent = 5 } }, All]),
            "waves[1].select.percent must not be below an earlier wave's (5 < 10); percentages are cumulative" },
        { "last wave short of 100%", new Plan([Canary, All with { Select = new WaveSelect { Percent = 50 } }]),
            "waves[1] (the last wave) must select percent 100 so a completed rollout reaches every consumer" },
        { "last wave by tier", new Plan([All with { Name = "first" }, Canary]),
            "waves[1] (the last wave) must select percent 100 so a completed rollout reaches every consumer" },
        { "no gates", With(Canary with { Gates = null! }), "waves[0].gates must be an object" },
        { "maxErrorRate above 1", WithGates(new Gates() with { MaxErrorRate = 1.5 }), "waves[0].gates.maxErrorRate must be between 0 and 1 (got 1.5)" },
        { "maxErrorRate negative", WithGates(new Gates() with { MaxErrorRate = -0.1 }), "waves[0].gates.maxErrorRate must be between 0 and 1 (got -0.1)" },
        { "maxErrorRateRatio below 1", WithGates(new Gates() with { MaxErrorRateRatio = 0.5 }), "waves[0].gates.maxErrorRateRatio must be between 1 and 1000 (got 0.5)" },
        { "maxP99LatencyRatio NaN", WithGates(new Gates() with { MaxP99LatencyRatio = double.NaN }), "waves[0].gates.maxP99LatencyRatio must be between 1 and 1000 (got NaN)" },
        { "maxP99LatencyRatio too big", WithGates(new Gates() with { MaxP99LatencyRatio = 1001 }), "waves[0].gates.maxP99LatencyRatio must be between 1 and 1000 (got 1001)" },
        { "minReportingFraction above 1", WithGates(new Gates() with { MinReportingFraction = 1.1 }), "waves[0].gates.minReportingFraction must be between 0 and 1 (got 1.1)" },
        { "negative maxCrashes", WithGates(new Gates() with { MaxCrashes = -1 }), "waves[0].gates.maxCrashes must be 0 or more (got -1)" },
        { "negative maxRejected", WithGates(new Gates() with { MaxRejected = -2 }), "waves[0].gates.maxRejected must be 0 or more (got -2)" },
        { "report-only wave that pauses", With(Canary with { Mode = GateMode.ReportOnly, OnFailure = FailureAction.Pause }), null },
        { "unknown mode", With(Canary with { Mode = (GateMode)7 }), "waves[0].mode must be enforce or report-only (got 7)" },
        { "unknown onFailure", With(Canary with { OnFailure = (FailureAction)3 }), "waves[0].onFailure must be rollback or pause (got 3)" },
        { "final bake of a week", new Plan([Canary, All]) { FinalBakeSeconds = 604_800 }, null },
        { "negative final bake", new Plan([Canary, All]) { FinalBakeSeconds = -1 }, "finalBakeSeconds must be between 0 and 604800 (got -1)" },
        { "final bake over a week", new Plan([Canary, All]) { FinalBakeSeconds = 604_801 }, "finalBakeSeconds must be between 0 and 604800 (got 604801)" },
        { "overlapping bakes avoided: refused, not stored and ignored", new Plan([Canary, All]) { AvoidOverlappingBakes = true },
            "avoidOverlappingBakes is not supported: a wave opens whatever other units bake on its nodes, and overlapping changes are told apart by attribution (docs/rollouts.md); leave it out or set it false" },
        { "no thresholds", WithGates(new Gates() with { Thresholds = null! }), "waves[0].gates.thresholds must be an object" },
        { "no cohort traffic needed", WithGates(new Gates() with { Thresholds = new GateThresholds { MinCohortRequests = 0 } }),
            "waves[0].gates.thresholds.minCohortRequests must be between 1 and 1000000000000 (got 0)" },
        { "significance 0 never fails", WithGates(new Gates() with { Thresholds = new GateThresholds { Significance = 0 } }),
            "waves[0].gates.thresholds.significance must be greater than 0 and at most 0.5 (got 0)" },
        { "significance NaN", WithGates(new Gates() with { Thresholds = new GateThresholds { Significance = double.NaN } }),
            "waves[0].gates.thresholds.significance must be greater than 0 and at most 0.5 (got NaN)" },
        { "breach factor below 1", WithGates(new Gates() with { Thresholds = new GateThresholds { BreachFactor = 0.5 } }),
            "waves[0].gates.thresholds.breachFactor must be between 1 and 1000 (got 0.5)" },
        { "error floor above 1", WithGates(new Gates() with { Thresholds = new GateThresholds { ErrorRateFloor = 2 } }),
            "waves[0].gates.thresholds.errorRateFloor must be between 0 and 1 (got 2)" },
        { "node weight below 1", WithGates(new Gates() with { Thresholds = new GateThresholds { MaxNodeWeight = 0.5 } }),
            "waves[0].gates.thresholds.maxNodeWeight must be between 1 and 1000000 (got 0.5)" },
        { "latency noise 0", WithGates(new Gates() with { Thresholds = new GateThresholds { LatencyNoise = 0 } }),
            "waves[0].gates.thresholds.latencyNoise must be greater than 0 and at most 10 (got 0)" },
        { "a p99 ceiling", WithGates(new Gates() with { MaxP99LatencyMs = 250 }), null },
        { "a p99 ceiling of 0", WithGates(new Gates() with { MaxP99LatencyMs = 0 }),
            "waves[0].gates.maxP99LatencyMs must be greater than 0 and at most 600000 (got 0)" },
        { "a metric gate", WithGates(new Gates() with { Metrics = [Metric] }), null },
        { "no metrics list", WithGates(new Gates() with { Metrics = null! }), "waves[0].gates.metrics must be a list" },
        { "nine metric gates", WithGates(new Gates() with { Metrics = [.. Enumerable.Range(0, 9).Select(i => Metric with { Name = $"m{i}" })] }),
            "waves[0].gates.metrics may hold at most 8 queries (got 9)" },
        { "a missing metric gate", WithGates(new Gates() with { Metrics = [null!] }), "waves[0].gates.metrics[0] must be an object" },
        { "bad metric name", WithGates(new Gates() with { Metrics = [Metric with { Name = "Edge Errors" }] }),
            "waves[0].gates.metrics[0].name 'Edge Errors' must match " + Rule + Hint },
        { "duplicate metric name", WithGates(new Gates() with { Metrics = [Metric, Metric with { Query = "up" }] }),
            "waves[0].gates.metrics[1].name 'edge-error-rate' is used by an earlier query of this wave" },
        { "empty query", WithGates(new Gates() with { Metrics = [Metric with { Query = " " }] }),
            "waves[0].gates.metrics[0].query is required (PromQL returning one value per node)" },
        { "query too long", WithGates(new Gates() with { Metrics = [Metric with { Query = new string('x', 2001) }] }),
            "waves[0].gates.metrics[0].query may be at most 2000 characters (got 2001)" },
        { "unknown direction", WithGates(new Gates() with { Metrics = [Metric with { Direction = (MetricDirection)5 }] }),
            "waves[0].gates.metrics[0].direction must be higher-is-worse or lower-is-worse (got 5)" },
        { "neither max nor maxRatio", WithGates(new Gates() with { Metrics = [Metric with { Max = null, MaxRatio = null }] }),
            "waves[0].gates.metrics[0] must set max, maxRatio or both: a query with neither judges nothing" },
        { "max infinite", WithGates(new Gates() with { Metrics = [Metric with { Max = double.PositiveInfinity }] }),
            "waves[0].gates.metrics[0].max must be a finite number (got Infinity)" },
        { "maxRatio below 1", WithGates(new Gates() with { Metrics = [Metric with { MaxRatio = 0.9 }] }),
            "waves[0].gates.metrics[0].maxRatio must be between 1 and 1000 (got 0.9)" },
        { "minNodes 0", WithGates(new Gates() with { Metrics = [Metric with { MinNodes = 0 }] }),
            "waves[0].gates.metrics[0].minNodes must be between 1 and 100000 (got 0)" },
        { "unknown metric mode", WithGates(new Gates() with { Metrics = [Metric with { Mode = (GateMode)2 }] }),
            "waves[0].gates.metrics[0].mode must be enforce or report-only (got 2)" },
    };

    private static readonly MetricGate Metric = new()
    {
        Name = "edge-error-rate",
        Query = "sum by (node) (rate(edge_errors_total[15s])) / sum by (node) (rate(edge_requests_total[15s]))",
        Direction = MetricDirection.HigherIsWorse,
        Max = 0.01,
        MaxRatio = 2.0,
        MinNodes = 3,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_rule_names_the_wave_the_field_and_the_limit(string because, Plan plan, string? expected)
    {
        var errors = PlanRules.Check(plan);
        Assert.True((expected is null ? [] : new[] { expected }).SequenceEqual(errors), $"{because}: got [{string.Join(" | ", errors)}]");
    }

    [Fact]
    public void The_built_in_plans_are_valid()
    {
        Assert.Empty(PlanRules.Check(BuiltInPlans.Standard));
        Assert.Empty(PlanRules.Check(BuiltInPlans.HighRisk));
        Assert.Same(BuiltInPlans.Standard, BuiltInPlans.Find("standard"));
        Assert.Same(BuiltInPlans.HighRisk, BuiltInPlans.Find("high-risk"));
        Assert.Null(BuiltInPlans.Find("custom"));
    }
}
