using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Tests.Health;

public class HealthPolicyTests
{
    private static readonly Gates Gates = new Gates(); // ceiling 1%, ratio 2, p99 ratio 1.5, 0 crashes, 0 rejected, 90% reporting

    private static NodeSample S(string id, long requests, long errors, double p99 = 40, bool reported = true, int crashes = 0,
        bool rejected = false, double? baseline = null, double? baselineP99 = null, string? proxy = null) => new()
    {
        NodeId = id,
        Requests = requests,
        Errors = errors,
        P99LatencyMs = p99,
        Reported = reported,
        Crashes = crashes,
        Rejected = rejected,
        BaselineErrorRate = baseline,
        BaselineP99LatencyMs = baselineP99,
        Labels = proxy is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["proxy"] = proxy },
    };

    private static List<NodeSample> Many(string prefix, int count, long requests, long errors, double p99 = 40,
        double? baseline = null, double? baselineP99 = null, string? proxy = null) =>
        Enumerable.Range(0, count).Select(i => S($"{prefix}-{i}", requests, errors, p99, baseline: baseline, baselineP99: baselineP99, proxy: proxy)).ToList();

    /// <summary>20 control nodes × 1000 requests, 1 error each: 0.10% (20/20000), p99 40 ms.</summary>
    private static readonly List<NodeSample> Control = Many("k", 20, 1000, 1);

    private static Verdict Judge(List<NodeSample> cohort, List<NodeSample>? control = null, Gates? gates = null, int? targeted = null) =>
        HealthPolicy.Judge(cohort, control ?? Control, gates ?? Gates, targeted ?? cohort.Count);

    private static void AssertVerdict(Verdict verdict, VerdictResult result, string firstReason)
    {
        Assert.True(result == verdict.Result, $"expected {result}, got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
        Assert.Equal(firstReason, verdict.Reasons[0]);
    }

    [Fact]
    public void Healthy_cohort_like_its_control_is_healthy_with_the_evidence()
    {
        var verdict = Judge(Many("c", 10, 1000, 1));

        Assert.Equal(new[]
        {
            "10/10 nodes reported on the package (100%)",
            "cohort error rate 0.10% (10/10000) within ceiling 1.00%",
            "cohort error rate 0.10% (10/10000) within 2× control 0.10% (20/20000) = 0.20%",
            "cohort p99 40.0 ms within 1.5× control p99 40.0 ms (ratio 1.00)",
        }, verdict.Reasons);
        Assert.Equal(VerdictResult.Healthy, verdict.Result);
        Assert.Equal(10, verdict.HealthyNodes);
        Assert.Equal(0, verdict.UnhealthyNodes);
    }

    [Fact]
    public void An_empty_wave_is_healthy_because_it_adds_no_risk()
    {
        var verdict = HealthPolicy.Judge([], Control, Gates, targeted: 0);
        Assert.Equal(VerdictResult.Healthy, verdict.Result);
        Assert.Equal(["no nodes selected: an empty wave adds no risk"], verdict.Reasons);
        Assert.Equal((0, 0), (verdict.HealthyNodes, verdict.UnhealthyNodes));
    }

    public static TheoryData<string, List<NodeSample>, Gates, VerdictResult, string> HardLimitCases => new()
    {
        { "one crash with max 0", [.. Many("c", 9, 1000, 1), S("c-x", 1000, 1, crashes: 1)], Gates,
            VerdictResult.Unhealthy, "1 crash(es) on 1 node(s) > max 0 (c-x)" },
        { "crash on a node that never reported applied still counts", [.. Many("c", 9, 1000, 1), S("c-x", 0, 0, reported: false, crashes: 3)], Gates,
            VerdictResult.Unhealthy, "3 crash(es) on 1 node(s) > max 0 (c-x)" },
        { "two crashes with max 2 is within the gate", [.. Many("c", 8, 1000, 1), S("c-x", 1000, 1, crashes: 1), S("c-y", 1000, 1, crashes: 1)], Gates with { MaxCrashes = 2 },
            VerdictResult.Healthy, "10/10 nodes reported on the package (100%)" },
        { "one rejection with max 0", [.. Many("c", 9, 1000, 1), S("c-r", 0, 0, rejected: true)], Gates,
            VerdictResult.Unhealthy, "1 node(s) rejected the package > max 0 (c-r)" },
        { "one rejection with max 1 is within the gate; its traffic is not judged", [.. Many("c", 9, 1000, 1), S("c-r", 1000, 900, rejected: true)], Gates with { MaxRejected = 1 },
            VerdictResult.Healthy, "10/10 nodes reported on the package (100%)" },
        { "crash beats missing data", [S("c-x", 0, 0, reported: false, crashes: 1), .. Enumerable.Range(0, 9).Select(i => S($"s-{i}", 0, 0, reported: false))], Gates,
            VerdictResult.Unhealthy, "1 crash(es) on 1 node(s) > max 0 (c-x)" },
    };

    [Theory]
    [MemberData(nameof(HardLimitCases))]
    public void Crashes_and_rejections_over_the_gate_are_unhealthy_at_once(string because, List<NodeSample> cohort, Gates gates, VerdictResult result, string firstReason)
    {
        _ = because;
        AssertVerdict(Judge(cohort, gates: gates), result, firstReason);
    }

    public static TheoryData<string, List<NodeSample>, int, VerdictResult, string> MissingDataCases => new()
    {
        { "7 of 10 reported, clean traffic", [.. Many("c", 7, 1000, 1), .. Enumerable.Range(0, 3).Select(i => S($"s-{i}", 0, 0, reported: false))], 10,
            VerdictResult.Inconclusive, "7/10 nodes reported on the package (70%) < required 90% (9 nodes)" },
        { "9 of 10 reported meets 90%", [.. Many("c", 9, 1000, 1), S("s-0", 0, 0, reported: false)], 10,
            VerdictResult.Healthy, "9/10 nodes reported on the package (90%)" },
        { "12 targeted need 11 (ceil 10.8)", Many("c", 10, 1000, 1), 12,
            VerdictResult.Inconclusive, "10/12 nodes reported on the package (83%) < required 90% (11 nodes)" },
        { "7 of 10 reported but those 7 clearly regress", [.. Many("c", 7, 1000, 300), .. Enumerable.Range(0, 3).Select(i => S($"s-{i}", 0, 0, reported: false))], 10,
            VerdictResult.Unhealthy, "cohort error rate 30.00% (2100/7000) > ceiling 1.00%" },
        { "too little traffic, no errors", Many("c", 10, 15, 0), 10,
            VerdictResult.Inconclusive, "cohort served 150 requests < 200 needed for a verdict" },
        { "every node reported but served nothing", Many("c", 10, 0, 0), 10,
            VerdictResult.Inconclusive, "cohort served 0 requests < 200 needed for a verdict" },
        { "traffic of a node that has not reported on the package is not judged", [.. Many("c", 9, 1000, 1), S("old", 100_000, 50_000, reported: false)], 10,
            VerdictResult.Healthy, "9/10 nodes reported on the package (90%)" },
    };

    [Theory]
    [MemberData(nameof(MissingDataCases))]
    public void Missing_or_thin_data_is_never_healthy_but_cannot_hide_a_regression(string because, List<NodeSample> cohort, int targeted, VerdictResult result, string firstReason)
    {
        _ = because;
        AssertVerdict(Judge(cohort, targeted: targeted), result, firstReason);
    }

    public static TheoryData<string, List<NodeSample>, GateThresholds, VerdictResult, string> ThresholdCases => new()
    {
        { "150 requests are too few by default", Many("c", 10, 15, 0), GateThresholds.Default,
            VerdictResult.Inconclusive, "cohort served 150 requests < 200 needed for a verdict" },
        { "a plan that needs only 100 gets a verdict", Many("c", 10, 15, 0), new GateThresholds { MinCohortRequests = 100 },
            VerdictResult.Healthy, "10/10 nodes reported on the package (100%)" },
        { "a lone flaky node among 4 is not an outlier by default", [.. Many("c", 4, 1000, 1), S("c-out", 1000, 401, baseline: 0.06)], GateThresholds.Default,
            VerdictResult.Unhealthy, "cohort error rate 8.10% (405/5000) > ceiling 1.00%" },
        { "a plan that allows 4 peers sets it aside", [.. Many("c", 4, 1000, 1), S("c-out", 1000, 401, baseline: 0.06)], new GateThresholds { MinOutlierPeers = 4 },
            VerdictResult.Healthy, "5/5 nodes reported on the package (100%)" },
    };

    [Theory]
    [MemberData(nameof(ThresholdCases))]
    public void A_plan_sets_the_judges_thresholds_and_the_defaults_are_the_judges_own(string because, List<NodeSample> cohort, GateThresholds thresholds, VerdictResult result, string firstReason)
    {
        _ = because;
        AssertVerdict(Judge(cohort, gates: Gates with { Thresholds = thresholds }), result, firstReason);
    }

    [Fact]
    public void Sparse_nodes_do_not_count_as_healthy_and_traffic_is_aggregated()
    {
        // (b) nine idle nodes and one busy one: the verdict rests on the busy node's traffic, and only it is healthy.
        List<NodeSample> cohort = [S("busy", 1000, 1), .. Enumerable.Range(0, 9).Select(i => S($"idle-{i}", 0, 0))];
        var verdict = Judge(cohort);
        AssertVerdict(verdict, VerdictResult.Healthy, "10/10 nodes reported on the package (100%)");
        Assert.Equal(1, verdict.HealthyNodes);
        Assert.Equal(0, verdict.UnhealthyNodes);
    }

    /// <summary>16 control nodes × 250 requests, no errors: 0/4000 → floored to max(1/4000, 0.1%) = 0.1%.</summary>
    private static readonly List<NodeSample> ZeroErrorControl = Many("k", 16, 250, 0);

    public static TheoryData<string, List<NodeSample>, VerdictResult, string> ZeroErrorControlCases => new()
    {
        { "no errors on either side", Many("c", 10, 500, 0),
            VerdictResult.Healthy, "10/10 nodes reported on the package (100%)" },
        { "0.1% against a zero-error control is within 2× the floor", Many("c", 10, 1000, 1) /* 10/10000 */,
            VerdictResult.Healthy, "10/10 nodes reported on the package (100%)" },
        { "a handful of errors on little traffic is chance, not a regression", [S("c-0", 100, 2), S("c-1", 100, 1), S("c-2", 100, 1)],
            VerdictResult.Inconclusive, "cohort error rate 1.33% (4/300) > ceiling 1.00%, but that could be chance on 300 requests (p = 1, needs < 0.001)" },
        { "a clear regression over the ceiling", Many("c", 10, 300, 6) /* 60/3000 */,
            VerdictResult.Unhealthy, "cohort error rate 2.00% (60/3000) > ceiling 1.00%" },
        { "a clear regression under the ceiling is still caught by the ratio", Many("c", 10, 1000, 5) /* 50/10000 */,
            VerdictResult.Unhealthy, "cohort error rate 0.50% (50/10000) > 2× control 0.00% (0/4000), floored to 0.10% = 0.20%" },
    };

    [Theory]
    [MemberData(nameof(ZeroErrorControlCases))]
    public void A_zero_error_control_neither_passes_nor_fails_by_accident(string because, List<NodeSample> cohort, VerdictResult result, string firstReason)
    {
        // (a)
        _ = because;
        AssertVerdict(Judge(cohort, ZeroErrorControl), result, firstReason);
    }

    [Fact]
    public void A_zero_error_control_states_the_floor_it_used()
    {
        var verdict = Judge(Many("c", 10, 500, 0), ZeroErrorControl);
        Assert.Contains("cohort error rate 0.00% (0/5000) within 2× control 0.00% (0/4000), floored to 0.10% = 0.20%", verdict.Reasons);
    }

    [Theory]
    [InlineData("labelled: the fl1 segment is judged on its own", true, VerdictResult.Unhealthy, "segment proxy=fl1: cohort error rate 5.00% (50/1000) > 2× control proxy=fl1 0.10% (2/2000) = 0.20%")]
    [InlineData("unlabelled: the same traffic is diluted below every gate", false, VerdictResult.Healthy, "12/12 nodes reported on the package (100%)")]
    public void A_regression_in_one_segment_is_not_hidden_by_the_fleet_rate(string because, bool labelled, VerdictResult result, string firstReason)
    {
        // (c) fleet-wide 150/101000 = 0.15% is within 2× the control's 0.10%; proxy=fl1 alone is 5%.
        _ = because;
        string? Fl(string proxy) => labelled ? proxy : null;
        List<NodeSample> cohort = [.. Many("c2", 10, 10_000, 10, proxy: Fl("fl2")), .. Many("c1", 2, 500, 25, proxy: Fl("fl1"))];
        List<NodeSample> control = [.. Many("k2", 10, 10_000, 10, proxy: Fl("fl2")), .. Many("k1", 4, 500, 0, proxy: Fl("fl1"))];
        control[^1] = control[^1] with { Errors = 2 }; // control fl1: 2/2000 = 0.10%

        var verdict = Judge(cohort, control);

        AssertVerdict(verdict, result, firstReason);
        if (labelled)
        {
            Assert.DoesNotContain(verdict.Reasons, r => r.StartsWith("segment proxy=fl2", StringComparison.Ordinal));
        }
    }

    public static TheoryData<string, List<NodeSample>, VerdictResult, string> OneNodeInASegmentCases => new()
    {
        { "one flaky host with no known baseline among five fl1 nodes: one node, not the segment",
            [.. Many("c1", 4, 1_000, 5, proxy: "fl1"), S("c1-flaky", 1_000, 150, proxy: "fl1")], VerdictResult.Healthy,
            "segment proxy=fl1: cohort error rate 3.40% (170/5000) > 2× control proxy=fl1 0.50% (50/10000) = 1.00%, but only because of node c1-flaky " +
            "(error rate 15.00% (150/1000), p99 40.0 ms): the other 4 proxy=fl1 node(s) are within the gates, so this is one node, not the segment; " +
            "it is judged with the whole cohort and by its own breach check" },
        { "every fl1 node as bad: the segment broke",
            Many("c1", 5, 1_000, 34, proxy: "fl1"), VerdictResult.Unhealthy,
            "segment proxy=fl1: cohort error rate 3.40% (170/5000) > 2× control proxy=fl1 0.50% (50/10000) = 1.00%" },
        { "the flaky host and one idle fl1 node: too little traffic left to clear the segment",
            [S("c1-idle", 50, 0, proxy: "fl1"), S("c1-flaky", 1_000, 150, proxy: "fl1")], VerdictResult.Unhealthy,
            "segment proxy=fl1: cohort error rate 14.29% (150/1050) > 2× control proxy=fl1 0.50% (50/10000) = 1.00%" },
    };

    [Theory]
    [MemberData(nameof(OneNodeInASegmentCases))]
    public void A_segment_failure_that_rests_on_one_node_is_that_node_not_the_segment(string because, List<NodeSample> fl1, VerdictResult result, string reason)
    {
        // 80 fl2 nodes at 0.2% on both sides; control fl1 at 0.5%. The whole cohort stays within 2× the control in every row.
        _ = because;
        List<NodeSample> cohort = [.. Many("c2", 80, 1_000, 2, proxy: "fl2"), .. fl1];
        List<NodeSample> control = [.. Many("k2", 80, 1_000, 2, proxy: "fl2"), .. Many("k1", 10, 1_000, 5, proxy: "fl1")];

        var verdict = Judge(cohort, control);

        Assert.True(result == verdict.Result, $"expected {result}, got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
        Assert.Contains(reason, verdict.Reasons);
    }

    [Fact]
    public void A_segment_over_the_ceiling_that_its_own_control_is_over_too_is_not_a_regression()
    {
        // A noisy PoP of fl1 hosts: control fl1 runs at 1.6%, the cohort's fl1 nodes at 1.74%, both over the 1% ceiling;
        // the whole cohort (0.83%) is within it. The change did not do that, so the good change is not halted.
        List<NodeSample> cohort = [.. Many("c2", 20, 1_000, 6, proxy: "fl2"), .. Many("c1", 4, 1_000, 17, proxy: "fl1"), S("c1-x", 1_000, 19, proxy: "fl1")];
        List<NodeSample> control = [.. Many("k2", 20, 1_000, 6, proxy: "fl2"), .. Many("k1", 10, 1_000, 16, proxy: "fl1")];

        var verdict = Judge(cohort, control);

        Assert.True(verdict.Result == VerdictResult.Healthy, string.Join("\n", verdict.Reasons));
    }

    [Fact]
    public void A_segment_without_control_traffic_is_compared_with_its_own_baseline_not_the_whole_cohorts()
    {
        // The last wave: no control. fl1 proxies were always slower (p99 90 ms before, 95 ms now); fl2 at 40 ms throughout.
        // Against the whole cohort's baseline p99 (about 57 ms) fl1 would look 1.7× slower; against its own, 1.06×.
        List<NodeSample> cohort =
        [
            .. Many("c2", 20, 1_000, 1, p99: 40, baseline: 0.001, baselineP99: 40, proxy: "fl2"),
            .. Many("c1", 10, 1_000, 1, p99: 95, baseline: 0.001, baselineP99: 90, proxy: "fl1"),
        ];

        var verdict = Judge(cohort, []);

        Assert.True(verdict.Result == VerdictResult.Healthy, string.Join("\n", verdict.Reasons));
    }

    [Fact]
    public void A_segment_with_no_control_and_no_baselines_is_still_held_to_the_ceiling()
    {
        List<NodeSample> cohort = [.. Many("c2", 10, 10_000, 10, proxy: "fl2"), .. Many("c1", 2, 500, 25, proxy: "fl1")];

        var verdict = Judge(cohort, []);

        Assert.Contains("segment proxy=fl1: cohort error rate 5.00% (50/1000) > ceiling 1.00%", verdict.Reasons);
    }

    [Fact]
    public void A_label_with_a_value_per_node_is_not_a_segment()
    {
        // 40 distinct values > 32: no segment checks, so one bad host among 40 is judged with the fleet only.
        var cohort = Enumerable.Range(0, 40).Select(i => S($"c-{i}", 1000, i == 0 ? 25 : 1) with
        {
            Labels = new Dictionary<string, string> { ["host"] = $"h{i}" },
        }).ToList();
        var verdict = Judge(cohort);
        AssertVerdict(verdict, VerdictResult.Healthy, "40/40 nodes reported on the package (100%)");
    }

    public static TheoryData<string, NodeSample, int, VerdictResult, string> FlakyNodeCases => new()
    {
        { "high but matches its own baseline: set aside", S("c-flaky", 1000, 121, baseline: 0.115), 19,
            VerdictResult.Healthy, "set aside cohort node c-flaky: error rate 12.10% (121/1000) matches its own baseline 11.50% from before the change" },
        { "same node with no known baseline: judged, and it drags the cohort over", S("c-flaky", 1000, 121), 19,
            VerdictResult.Unhealthy, "cohort error rate 0.70% (140/20000) > 2× control 0.10% (20/20000) = 0.20%" },
        { "lone outlier, already flaky before, now worse: set aside", S("c-out", 1000, 401, baseline: 0.06), 19,
            VerdictResult.Healthy, "set aside outlier node c-out: error rate 40.10% (401/1000), p99 40.0 ms, already 6.00% before the change; the other 19 nodes are within the gates" },
        { "lone outlier that was healthy before: the change broke it", S("c-out", 1000, 401, baseline: 0.001), 19,
            VerdictResult.Unhealthy, "cohort error rate 2.10% (420/20000) > ceiling 1.00%" },
        { "outlier among too few peers is not an outlier", S("c-out", 1000, 401, baseline: 0.06), 4,
            VerdictResult.Unhealthy, "cohort error rate 8.10% (405/5000) > ceiling 1.00%" },
    };

    [Theory]
    [MemberData(nameof(FlakyNodeCases))]
    public void One_flaky_node_unrelated_to_the_change_does_not_fail_the_wave(string because, NodeSample odd, int peers, VerdictResult result, string reason)
    {
        // (d)
        List<NodeSample> cohort = [.. Many("c", peers, 1000, 1), odd];
        var verdict = Judge(cohort);
        Assert.True(result == verdict.Result, $"{because}: got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
        Assert.Contains(reason, verdict.Reasons);
    }

    [Fact]
    public void Most_of_the_cohort_flaky_before_is_not_set_aside()
    {
        // 6 of 10 nodes were at 5% before and still are: the gate is what is wrong, so they are judged.
        List<NodeSample> cohort = [.. Many("f", 6, 1000, 50, baseline: 0.05), .. Many("c", 4, 1000, 1)];
        var verdict = Judge(cohort);
        AssertVerdict(verdict, VerdictResult.Unhealthy, "cohort error rate 3.04% (304/10000) > ceiling 1.00%");
        Assert.Contains("6 of 10 cohort nodes were above the ceiling before the change too: too many to set aside, all are judged", verdict.Reasons);
    }

    [Theory]
    [InlineData("70 ms vs 40 ms, one look: over the gate, but one slot could be noise", 70.0, 40.0, VerdictResult.Inconclusive,
        "cohort p99 70.0 ms > 1.5× control p99 40.0 ms (ratio 1.75), but that could be noise over 1 time slot(s) (p = 1, needs < 0.001)")]
    [InlineData("58 ms vs 40 ms", 58.0, 40.0, VerdictResult.Healthy, "cohort p99 58.0 ms within 1.5× control p99 40.0 ms (ratio 1.45)")]
    [InlineData("sub-millisecond jitter is floored to 1 ms", 0.5, 0.2, VerdictResult.Healthy, "cohort p99 0.5 ms within 1.5× control p99 0.2 ms (ratio 0.50)")]
    public void A_latency_only_regression_is_unhealthy_with_zero_errors(string because, double cohortP99, double controlP99, VerdictResult result, string reason)
    {
        // (e) A sample without a series is one look at one moment: the latency test needs the excess to last (see below).
        var verdict = Judge(Many("c", 10, 1000, 0, p99: cohortP99), Many("k", 20, 1000, 0, p99: controlP99));
        Assert.True(result == verdict.Result, $"{because}: got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
        Assert.Contains(reason, verdict.Reasons);
    }

    [Theory]
    [InlineData("3× slower for 2 slots", 120.0, 2, VerdictResult.Unhealthy)]
    [InlineData("3× slower for 1 slot: not yet", 120.0, 1, VerdictResult.Inconclusive)]
    [InlineData("2.25× for 5 slots", 90.0, 5, VerdictResult.Unhealthy)]
    [InlineData("2.25× for 3 slots: not yet", 90.0, 3, VerdictResult.Inconclusive)]
    [InlineData("1.75× for 60 slots", 70.0, 60, VerdictResult.Unhealthy)]
    [InlineData("1.75× for 20 slots: over the gate, but not yet by enough to tell from noise", 70.0, 20, VerdictResult.Inconclusive)]
    [InlineData("1.45× for 60 slots is within the gate", 58.0, 60, VerdictResult.Healthy)]
    public void A_latency_regression_fails_once_it_has_lasted_long_enough_to_be_more_than_noise(string because, double cohortP99, int slots, VerdictResult result)
    {
        // Sequential.LatencyExcess: 120 ms against 40 ms where 1.5× is allowed adds 10.3 per slot to the evidence's log, 90 ms
        // about 3.6, 70 ms about 0.48; failing takes ln(256,000 × 6) ≈ 14.2.
        var cohort = Timed.Many("c", 10, 0, Timed.Repeat(slots, 1000, 0, cohortP99));
        var control = Timed.Many("k", 20, 0, Timed.Repeat(slots, 1000, 0, 40));

        var verdict = Judge(cohort, control);

        Assert.True(result == verdict.Result, $"{because}: got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
        var latency = verdict.Findings.OfType<Finding.Latency>().Single();
        Assert.Equal(slots, latency.Slots);
        Assert.Equal(result == VerdictResult.Unhealthy, latency.DecidedAt is not null);
    }

    [Fact]
    public void Latency_is_weighted_by_traffic()
    {
        // 9 busy nodes at 40 ms and 1 idle-ish node at 400 ms: (9×10000×40 + 100×400) / 90100 = 40.4 ms.
        List<NodeSample> cohort = [.. Many("c", 9, 10_000, 0, p99: 40), S("slow", 100, 0, p99: 400)];
        var verdict = Judge(cohort);
        Assert.Contains("cohort p99 40.4 ms within 1.5× control p99 40.0 ms (ratio 1.01)", verdict.Reasons);
    }

    public static TheoryData<string, List<NodeSample>, VerdictResult, string> LastWaveCases => new()
    {
        { "no control: compared with the cohort's own baselines", Many("c", 10, 1000, 1, p99: 41, baseline: 0.001, baselineP99: 40),
            VerdictResult.Healthy, "cohort error rate 0.10% (10/10000) within 2× the cohort's own baseline 0.10% = 0.20%" },
        { "no control: 10× its own baseline is a regression even under the ceiling", Many("c", 10, 1000, 10, baseline: 0.001, baselineP99: 40),
            VerdictResult.Unhealthy, "cohort error rate 1.00% (100/10000) > 2× the cohort's own baseline 0.10% = 0.20%" },
        { "no control: latency against the baselines, one look", Many("c", 10, 1000, 1, p99: 80, baseline: 0.001, baselineP99: 40),
            VerdictResult.Inconclusive, "cohort p99 80.0 ms > 1.5× baseline p99 40.0 ms (ratio 2.00), but that could be noise over 1 time slot(s) (p = 0.407, needs < 0.001)" },
        { "no control: latency against the baselines for 30 slots", [.. Enumerable.Range(0, 10).Select(i => Timed.Node($"c-{i}", 0, Timed.Repeat(30, 100, 0, 80), baseline: 0.001, baselineP99: 40))],
            VerdictResult.Unhealthy, "cohort p99 80.0 ms > 1.5× baseline p99 40.0 ms (ratio 2.00)" },
        { "no control and no baselines: the ceiling only, and it says so", Many("c", 10, 1000, 1),
            VerdictResult.Healthy, "no control traffic (≥ 200 requests) and no baselines: judged against the ceiling only" },
    };

    [Theory]
    [MemberData(nameof(LastWaveCases))]
    public void Without_a_control_the_baselines_stand_in(string because, List<NodeSample> cohort, VerdictResult result, string reason)
    {
        var verdict = Judge(cohort, control: []);
        Assert.True(result == verdict.Result, $"{because}: got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
        Assert.Contains(reason, verdict.Reasons);
    }

    [Fact]
    public void Reasons_carry_the_numbers()
    {
        var verdict = Judge(Many("c", 10, 1000, 31));
        AssertVerdict(verdict, VerdictResult.Unhealthy, "cohort error rate 3.10% (310/10000) > ceiling 1.00%");
        Assert.Equal(0, verdict.HealthyNodes);
        Assert.Equal(10, verdict.UnhealthyNodes);
    }

    [Fact]
    public void Same_samples_give_the_same_verdict()
    {
        List<NodeSample> cohort = [.. Many("c", 19, 1000, 1), S("c-out", 1000, 401, baseline: 0.06)];
        var first = Judge(cohort);
        var second = Judge(cohort.AsEnumerable().Reverse().Reverse().ToList());
        Assert.Equal(first.Result, second.Result);
        Assert.Equal(first.Reasons, second.Reasons);
    }

    public static TheoryData<string, NodeSample, double?, NodeHealth> AssessCases => new()
    {
        { "clean", S("n", 1000, 1), null, NodeHealth.Healthy },
        { "crashed", S("n", 1000, 0, crashes: 1), null, NodeHealth.Unhealthy },
        { "rejected", S("n", 0, 0, rejected: true), null, NodeHealth.Unhealthy },
        { "not reported on the package", S("n", 1000, 1, reported: false), null, NodeHealth.Unknown },
        { "served nothing", S("n", 0, 0), null, NodeHealth.Unknown },
        { "4% on 1000 requests", S("n", 1000, 40), null, NodeHealth.Unhealthy },
        { "2 errors in 50 could be chance", S("n", 50, 2), null, NodeHealth.Unknown },
        { "as flaky as before the change", S("n", 1000, 120, baseline: 0.115), null, NodeHealth.Healthy },
        { "1.5% vs control 0.1%: ratio fails where the ceiling is unsure", S("n", 1000, 15), 0.001, NodeHealth.Unhealthy },
        { "0.5% vs control 0.05% (floored 0.1%): could be chance", S("n", 1000, 5), 0.0005, NodeHealth.Unknown },
    };

    [Theory]
    [MemberData(nameof(AssessCases))]
    public void Assess_counts_a_node_healthy_only_on_evidence(string because, NodeSample sample, double? controlRate, NodeHealth expected)
    {
        Assert.True(expected == HealthPolicy.Assess(sample, Gates, controlRate), because);
        Assert.Equal(expected == NodeHealth.Healthy, HealthPolicy.IsNodeHealthy(sample, Gates, controlRate));
    }

    public static TheoryData<string, NodeSample, SignalKind?, string?> BreachCases => new()
    {
        { "crash", S("n-1", 1000, 0, crashes: 2), SignalKind.Crash, "node n-1 crashed 2 time(s) on the package" },
        { "rejected", S("n-1", 0, 0, rejected: true), SignalKind.Rejected, "node n-1 rejected the package" },
        { "28% against a 0.2% baseline", S("n-1", 1000, 280, baseline: 0.002), SignalKind.Breach,
            "node n-1 error rate 28.00% (280/1000) > 3× its limit 1.00% (ceiling 1.00%, own baseline 0.20%)" },
        { "20% with no baseline", S("n-1", 1000, 200), SignalKind.Breach,
            "node n-1 error rate 20.00% (200/1000) > 3× its limit 1.00% (ceiling 1.00%, own baseline unknown)" },
        { "4 in 100 could be chance", S("n-1", 100, 4), null, null },
        { "too few requests", S("n-1", 99, 50), null, null },
        { "not on the package yet", S("n-1", 1000, 280, reported: false), null, null },
        { "flaky before the change: left to the verdict", S("n-1", 1000, 400, baseline: 0.05), null, null },
        { "10% against a 0.9% baseline: limit 1.8%, more than 3× above", S("n-1", 1000, 100, baseline: 0.009), SignalKind.Breach,
            "node n-1 error rate 10.00% (100/1000) > 3× its limit 1.80% (ceiling 1.00%, own baseline 0.90%)" },
        { "5% against a 0.9% baseline: under 3× its 1.8% limit", S("n-1", 1000, 50, baseline: 0.009), null, null },
        { "clean", S("n-1", 1000, 1), null, null },
    };

    [Theory]
    [MemberData(nameof(BreachCases))]
    public void Breach_signals_only_what_cannot_wait(string because, NodeSample sample, SignalKind? kind, string? reason)
    {
        var signal = HealthPolicy.Breach(sample, Gates);
        Assert.True(kind == signal?.Kind, $"{because}: got {signal?.Kind}");
        Assert.Equal(reason, signal?.Reason);
    }

    [Theory]
    [InlineData(SignalKind.Crash, true)]
    [InlineData(SignalKind.Rejected, false)]
    [InlineData(SignalKind.Breach, false)]
    public void Only_a_crash_sends_the_node_back_before_the_rollout_decides(SignalKind kind, bool sendsBack) =>
        Assert.Equal(sendsBack, HealthPolicy.SendsNodeBack(new NodeSignal("n-1", kind, "because")));

    [Theory]
    [InlineData(0, 0.9, 0)]
    [InlineData(10, 0.9, 9)]
    [InlineData(12, 0.9, 11)]
    [InlineData(3, 0.95, 3)]
    [InlineData(100, 0.95, 95)]
    [InlineData(7, 0, 0)]
    [InlineData(7, 1, 7)]
    public void Required_reporting_is_the_ceiling_of_the_fraction(int targeted, double fraction, int expected)
    {
        Assert.Equal(expected, HealthPolicy.RequiredReporting(targeted, fraction));
    }
}
