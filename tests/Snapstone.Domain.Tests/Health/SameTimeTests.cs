using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using static Snapstone.Domain.Tests.Health.Timed;

namespace Snapstone.Domain.Tests.Health;

/// <summary>Cohort and control are compared over the same moments, never a cohort window against a longer or earlier control one.</summary>
public class SameTimeTests
{
    private static readonly Gates Gates = new();

    private static Finding.ErrorRate RatioCheck(Verdict verdict) =>
        verdict.Findings.OfType<Finding.ErrorRate>().Single(f => f.Subject == "cohort" && f.Ratio is not null);

    [Fact]
    public void A_control_that_reported_for_longer_is_held_to_the_cohorts_moments_only()
    {
        // The issue's shape: an upstream blip raises errors to 20% on every node for the last 10 slots, while the cohort
        // has only reported in those 10. Against the control's whole minute (3.4%) the cohort would look 6× worse.
        List<NodeSample> control = Many("k", 20, 0, [.. Repeat(50, 1000, 1), .. Repeat(10, 1000, 200)]);
        List<NodeSample> cohort = Many("c", 10, 50, Repeat(10, 1000, 200));

        var verdict = HealthPolicy.Judge(cohort, control, Gates, 10);

        var ratio = RatioCheck(verdict);
        Assert.Equal(CheckOutcome.Pass, ratio.Outcome);
        Assert.Equal((0.2, 40_000.0, 200_000.0), (ratio.Reference!.Rate, ratio.Reference.Errors!.Value, ratio.Reference.Requests!.Value));
        Assert.Contains("cohort error rate 20.00% (20000/100000) within 2× control 20.00% (40000/200000) = 40.00%", verdict.Reasons);
        Assert.Contains("compared with the control over the 10 time slot(s) both reported in (10:00:46.8–10:00:56.2 UTC): 1000000 control requests at other times left out",
            verdict.Reasons);
    }

    [Fact]
    public void The_same_traffic_without_times_is_the_diluted_comparison_the_alignment_avoids()
    {
        // The same numbers as totals only (what samples without a series say): the control's minute dilutes the blip.
        var control = Enumerable.Range(0, 20).Select(i => new NodeSample { NodeId = $"k-{i}", Requests = 60_000, Errors = 2_050, P99LatencyMs = 40, Reported = true }).ToList();
        var cohort = Enumerable.Range(0, 10).Select(i => new NodeSample { NodeId = $"c-{i}", Requests = 10_000, Errors = 2_000, P99LatencyMs = 40, Reported = true }).ToList();

        var verdict = HealthPolicy.Judge(cohort, control, Gates, 10);

        Assert.Equal(CheckOutcome.Fail, RatioCheck(verdict).Outcome);
    }

    [Fact]
    public void Each_moment_of_the_control_weighs_as_much_as_the_cohort_served_then()
    {
        // The worked example of Reference.Of: cohort 1,000 requests in slots 7 and 8; control 10,000 in each, at 0.1% then
        // 5%, and 40,000 at 0.1% in slots 1–4 before the cohort existed → held to (1,000 × 0.1% + 1,000 × 5%) / 2,000 = 2.55%.
        List<NodeSample> control =
        [
            Node("k-early", 1, Repeat(4, 10_000, 10)),
            Node("k-now", 7, [new Slot(10_000, 10), new Slot(10_000, 500)]),
        ];
        List<NodeSample> cohort = [Node("c-0", 7, [new Slot(1000, 2), new Slot(1000, 50)])];

        var reference = RatioCheck(HealthPolicy.Judge(cohort, control, Gates, 1)).Reference!;

        Assert.Equal(0.0255, reference.Rate, 12);
        Assert.Equal((510.0, 20_000.0), (reference.Errors!.Value, reference.Requests!.Value));
    }

    [Fact]
    public void A_control_that_reported_only_earlier_is_no_control_at_all()
    {
        // The control's samples end where the cohort's begin: nothing to compare at the same time, so the cohort is
        // held to its own baselines (none here) and the ceiling, and the verdict says so.
        List<NodeSample> control = Many("k", 20, 0, Repeat(10, 1000, 1));
        List<NodeSample> cohort = Many("c", 10, 10, Repeat(10, 100, 0));

        var verdict = HealthPolicy.Judge(cohort, control, Gates, 10);

        Assert.Equal(VerdictResult.Healthy, verdict.Result);
        Assert.DoesNotContain(verdict.Findings, f => f is Finding.ErrorRate { Ratio: not null });
        Assert.Contains("no control traffic (≥ 200 requests) and no baselines: judged against the ceiling only", verdict.Reasons);
    }

    [Fact]
    public void Latency_is_compared_at_the_same_moments_too()
    {
        // The control was slow (120 ms) before the cohort started and is at 40 ms since; the cohort is at 70 ms: 1.75×, not 0.9×.
        List<NodeSample> control = Many("k", 20, 0, [.. Repeat(30, 1000, 1, p99: 120), .. Repeat(30, 1000, 1, p99: 40)]);
        List<NodeSample> cohort = Many("c", 10, 30, Repeat(30, 1000, 1, p99: 70));

        var latency = HealthPolicy.Judge(cohort, control, Gates, 10).Findings.OfType<Finding.Latency>().Single();

        Assert.Equal((40.0, 1.75), (latency.ReferenceP99, latency.Observed));
    }

    [Theory]
    [InlineData("series a few slots apart: summed in arrays over their span", 3)]
    [InlineData("series more than 65,536 slots apart (about 17 hours): summed in a map", 70_000)]
    public void Series_are_summed_slot_by_slot_however_far_apart_they_are(string because, int gap)
    {
        // Two nodes share slot 1; a third starts `gap` slots later; an untimed sample lands in its own slot, and a series
        // on another grid is not counted. Negative and over-large counts are clamped as any report's are.
        var otherGrid = Node("other-grid", 0, Repeat(2, 1000, 1000)) with { Series = Node("x", 0, Repeat(2, 1000, 1000)).Series! with { SlotTicks = SlotTicks * 2 } };
        List<NodeSample> nodes =
        [
            Node("a", 0, [new Slot(100, 1, 40), new Slot(200, 2, 60)]),
            Node("b", 1, [new Slot(300, 3, 80), new Slot(-5, 0), new Slot(10, 50, 10)]),
            Node("late", gap, [new Slot(400, 4, 20)]),
            new NodeSample { NodeId = "untimed", Requests = 50, Errors = 5, P99LatencyMs = 30, Reported = true },
            otherGrid,
        ];

        var traffic = Traffic.Of(nodes);

        Assert.Equal(SlotTicks, traffic.SlotTicks);
        var expected = new SortedDictionary<long, Bucket>
        {
            [Traffic.Untimed] = new(50, 5, 30 * 50),
            [Origin] = new(100, 1, 40 * 100),
            [Origin + 1] = new(500, 5, 60 * 200 + 80 * 300),
            [Origin + 3] = new(10, 10, 10 * 10),
        };
        expected[Origin + gap] = expected.GetValueOrDefault(Origin + gap).Add(new Bucket(400, 4, 20 * 400));
        Assert.True(expected.SequenceEqual(traffic.Buckets), $"{because}: got {string.Join(", ", traffic.Buckets)}");
    }
}
