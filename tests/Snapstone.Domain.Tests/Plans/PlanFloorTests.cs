using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Tests.Plans;

public sealed class PlanFloorTests
{
    private static Plan Strict(Func<WaveSpec, int, WaveSpec>? change = null) =>
        new([.. BuiltInPlans.HighRisk.Waves.Select((w, i) => change is null ? w : change(w, i))]);

    public static TheoryData<string, Plan, bool> Plans => new()
    {
        { "high-risk itself", BuiltInPlans.HighRisk, true },
        { "standard", BuiltInPlans.Standard, false },
        { "no approval before the first wave", Strict((w, i) => i == 0 ? w with { RequiresApproval = false } : w), false },
        { "no approval before the whole fleet", Strict((w, i) => w.Select.Percent == 100 ? w with { RequiresApproval = false } : w), false },
        { "a shorter bake", Strict((w, i) => i == 3 ? w with { BakeSeconds = 10 } : w), false },
        { "a looser error ceiling", Strict((w, i) => i == 2 ? w with { Gates = w.Gates with { MaxErrorRate = 0.05 } } : w), false },
        { "a lower reporting fraction", Strict((w, i) => w with { Gates = w.Gates with { MinReportingFraction = 0.5 } }), false },
        { "longer bakes and tighter gates", Strict((w, _) => w with { BakeSeconds = w.BakeSeconds * 2, Gates = w.Gates with { MaxErrorRate = 0.001 } }), true },
        { "a report-only wave", Strict((w, i) => i == 1 ? w with { Mode = GateMode.ReportOnly } : w), false },
        { "a wave that pauses instead of rolling back", Strict((w, i) => i == 1 ? w with { OnFailure = FailureAction.Pause } : w), false },
        { "a final bake on top", Strict() with { FinalBakeSeconds = 600 }, true },
        { "a laxer significance", Strict((w, i) => i == 0 ? w with { Gates = w.Gates with { Thresholds = new GateThresholds { Significance = 1e-9 } } } : w), false },
        { "a stricter significance", Strict((w, _) => w with { Gates = w.Gates with { Thresholds = new GateThresholds { Significance = 0.01 } } }), true },
        { "more traffic before a pass", Strict((w, _) => w with { Gates = w.Gates with { Thresholds = new GateThresholds { MinCohortRequests = 1000 } } }), true },
        { "fewer outlier peers", Strict((w, _) => w with { Gates = w.Gates with { Thresholds = new GateThresholds { MinOutlierPeers = 2 } } }), false },
        { "a metric query on top", Strict((w, _) => w with { Gates = w.Gates with { Metrics = [new MetricGate { Name = "m", Query = "up", Max = 1 }] } }), true },
    };

    [Fact]
    public void A_floor_with_a_metric_query_needs_the_same_query_enforced()
    {
        var metric = new MetricGate { Name = "edge-errors", Query = "sum by (node) (rate(e[1m]))", Max = 0.01 };
        var floor = new Plan([.. BuiltInPlans.HighRisk.Waves.Select(w => w with { Gates = w.Gates with { Metrics = [metric] } })]);

        Assert.True(PlanFloor.IsAtLeastAsStrict(floor, floor));
        Assert.False(PlanFloor.IsAtLeastAsStrict(BuiltInPlans.HighRisk, floor));
        var reportOnly = new Plan([.. floor.Waves.Select(w => w with { Gates = w.Gates with { Metrics = [metric with { Mode = GateMode.ReportOnly }] } })]);
        Assert.False(PlanFloor.IsAtLeastAsStrict(reportOnly, floor));
    }

    [Theory]
    [MemberData(nameof(Plans))]
    public void A_plan_is_at_least_as_strict_as_high_risk_only_when_nothing_is_looser(string _, Plan plan, bool strict) =>
        Assert.Equal(strict, PlanFloor.IsAtLeastAsStrict(plan, BuiltInPlans.HighRisk));

    [Fact]
    public void A_high_risk_change_on_a_lax_plan_is_raised_to_the_floor_with_a_note_naming_both()
    {
        var (plan, name, note) = PlanFloor.Apply(BuiltInPlans.Standard, "standard", highRisk: true, ["declared risk tier high (+50)"]);
        Assert.Same(BuiltInPlans.HighRisk, plan);
        Assert.Equal("high-risk", name);
        Assert.Equal("plan raised from 'standard' to 'high-risk': the change is high-risk (declared risk tier high (+50)) and 'standard' is less strict", note);
    }

    [Fact]
    public void A_standard_change_keeps_its_plan()
    {
        var (plan, name, note) = PlanFloor.Apply(BuiltInPlans.Standard, "standard", highRisk: false, []);
        Assert.Same(BuiltInPlans.Standard, plan);
        Assert.Equal("standard", name);
        Assert.Null(note);
    }
}
