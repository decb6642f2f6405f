using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using static Snapstone.Domain.Tests.Health.Timed;

namespace Snapstone.Domain.Tests.Health;

/// <summary>A disturbance that hits cohort and control alike waits; it does not roll a good change back.</summary>
public class AmbientTests
{
    private static readonly Gates Gates = new(); // ceiling 1%, ratio 2

    /// <summary>10 cohort and 20 control nodes, 1,000 requests a slot, at 0.1% for <paramref name="clean"/> slots, then the given slots.</summary>
    private static Verdict Judge(int clean, IEnumerable<Slot> cohortAfter, IEnumerable<Slot> controlAfter, Gates? gates = null) =>
        HealthPolicy.Judge(
            Many("c", 10, 0, [.. Repeat(clean, 1000, 1), .. cohortAfter]),
            Many("k", 20, 0, [.. Repeat(clean, 1000, 1), .. controlAfter]),
            gates ?? Gates, 10);

    private static void AssertResult(VerdictResult expected, Verdict verdict) =>
        Assert.True(expected == verdict.Result, $"expected {expected}, got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");

    public static TheoryData<string, int, List<Slot>, List<Slot>, VerdictResult, string> Cases => new()
    {
        { "an upstream blip on every node, still going: the wave waits", 20, [.. Repeat(10, 1000, 200)], [.. Repeat(10, 1000, 200)],
            VerdictResult.Inconclusive,
            "ambient disturbance: cohort error rate 20.00% and control 20.00% both over the ceiling 1.00% in 10 time slot(s) (10:00:18.7–10:00:28.1 UTC), " +
            "the cohort no worse than 2× the control (p = 1): waiting for it to clear" },
        { "the blip is over: judged on the other slots, healthy", 20, [.. Repeat(10, 1000, 200), .. Repeat(10, 1000, 1)], [.. Repeat(10, 1000, 200), .. Repeat(10, 1000, 1)],
            VerdictResult.Healthy,
            "ambient disturbance: cohort error rate 20.00% and control 20.00% both over the ceiling 1.00% in 10 time slot(s) (10:00:18.7–10:00:28.1 UTC), " +
            "the cohort no worse than 2× the control (p = 1): those slots are left out of the ceiling check" },
        { "the blip on top of a real regression: the cohort is worse than twice the control during it, and over the ceiling outside it", 20,
            [.. Repeat(10, 1000, 500), .. Repeat(10, 1000, 16)], [.. Repeat(10, 1000, 200), .. Repeat(10, 1000, 1)],
            VerdictResult.Unhealthy, "cohort error rate 50.00% > ceiling 1.00% while the control was over it too (20.00%) in 10 time slot(s) (10:00:18.7–10:00:28.1 UTC), " +
            "and the cohort is significantly worse than 2× the control (p = 0, needs < 0.001)" },
        { "the control alone disturbed: the cohort is held to the ceiling as usual", 20, [.. Repeat(10, 1000, 1)], [.. Repeat(10, 1000, 200)],
            VerdictResult.Healthy, "cohort error rate 0.10% (300/300000) within ceiling 1.00%" },
        { "over the ceiling with a clean control: the change's", 20, [.. Repeat(10, 1000, 30)], [.. Repeat(10, 1000, 1)],
            VerdictResult.Unhealthy, "cohort error rate 1.07% (3200/300000) > ceiling 1.00%" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void An_absolute_gate_breached_by_cohort_and_control_alike_waits_unless_the_cohort_is_worse(string because, int clean,
        List<Slot> cohortAfter, List<Slot> controlAfter, VerdictResult result, string reason)
    {
        _ = because;
        var verdict = Judge(clean, cohortAfter, controlAfter);
        AssertResult(result, verdict);
        Assert.Contains(reason, verdict.Reasons);
    }

    [Fact]
    public void A_disturbance_over_the_whole_bake_leaves_too_little_clean_traffic_to_pass()
    {
        var verdict = Judge(0, [.. Repeat(10, 1000, 200), .. Repeat(1, 10, 0)], [.. Repeat(10, 1000, 200), .. Repeat(1, 1000, 1)]);

        AssertResult(VerdictResult.Inconclusive, verdict);
        Assert.EndsWith("waiting for enough traffic after it", verdict.Findings.OfType<Finding.Ambient>().Select(FindingText.Render).Single(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_slots_after_a_disturbance_stand_for_the_cohort_only_once_enough_of_its_nodes_have_reported_in_them()
    {
        // The killswitch under an upstream blip that began with its rollout: 4 fl1 canaries fail 28% more on top of the
        // blip's 20%, 6 fl2 canaries do not; 42% against the control's 20% is within 2×. The blip clears at slot 10, and
        // the fl2 canaries report first: their clean slot alone (0.1%) would pass the ceiling.
        var fl1 = new Dictionary<string, string> { ["proxy"] = "fl1" };
        var fl2 = new Dictionary<string, string> { ["proxy"] = "fl2" };
        List<NodeSample> Cohort(bool fl1Reported) =>
        [
            .. Many("fl1", 4, 0, [.. Repeat(10, 1000, 424), .. (fl1Reported ? Repeat(1, 1000, 280) : [])], fl1),
            .. Many("fl2", 6, 0, [.. Repeat(10, 1000, 200), .. Repeat(1, 1000, 1)], fl2),
        ];
        var control = Many("k", 20, 0, [.. Repeat(10, 1000, 200), .. Repeat(1, 1000, 1)]);

        var early = HealthPolicy.Judge(Cohort(fl1Reported: false), control, Gates, 10);
        AssertResult(VerdictResult.Inconclusive, early);
        var ambient = early.Findings.OfType<Finding.Ambient>().Single();
        Assert.Equal((CheckOutcome.Unsure, false, 6, 9), (ambient.Outcome, ambient.Ongoing, ambient.Heard, ambient.Needed));
        Assert.EndsWith("waiting for reports after it from 3 more node(s) (6 of the 9 needed so far)", FindingText.Render(ambient), StringComparison.Ordinal);

        AssertResult(VerdictResult.Unhealthy, HealthPolicy.Judge(Cohort(fl1Reported: true), control, Gates, 10));
    }

    [Fact]
    public void A_cohort_worse_than_a_disturbed_control_but_within_the_ratio_waits_for_the_disturbance_to_clear()
    {
        // 35% against the control's 20% during the disturbance: worse, but within the 2× the plan tolerates against the
        // control (a few canaries are never the control's population exactly). The slots after it decide.
        var verdict = Judge(20, [.. Repeat(10, 1000, 350)], [.. Repeat(10, 1000, 200)]);

        AssertResult(VerdictResult.Inconclusive, verdict);
        var ambient = verdict.Findings.OfType<Finding.Ambient>().Single();
        Assert.Equal((CheckOutcome.Unsure, 0.35, 0.2, 2.0), (ambient.Outcome, ambient.Cohort, ambient.Control, ambient.Ratio));
    }

    [Fact]
    public void A_cohort_significantly_worse_than_the_ratio_times_a_disturbed_control_fails_at_once()
    {
        // 60% against the control's 20%: beyond 2× the control, with a tenth of a million requests to say so.
        var verdict = Judge(20, [.. Repeat(10, 1000, 600)], [.. Repeat(10, 1000, 200)]);

        AssertResult(VerdictResult.Unhealthy, verdict);
        var ambient = verdict.Findings.OfType<Finding.Ambient>().Single();
        Assert.Equal((CheckOutcome.Fail, 0.6, 0.2), (ambient.Outcome, ambient.Cohort, ambient.Control));
        Assert.NotNull(ambient.DecidedAt);
    }

    public static TheoryData<string, double, double, VerdictResult> LatencyCeilingCases => new()
    {
        { "the cohort alone over 200 ms", 300, 40, VerdictResult.Unhealthy },
        { "everyone over 200 ms at once: waits", 300, 300, VerdictResult.Inconclusive },
        { "within 200 ms", 150, 140, VerdictResult.Healthy },
    };

    [Theory]
    [MemberData(nameof(LatencyCeilingCases))]
    public void A_p99_ceiling_minds_the_control_the_same_way(string because, double cohortP99, double controlP99, VerdictResult result)
    {
        var gates = Gates with { MaxP99LatencyMs = 200, MaxP99LatencyRatio = 10 };
        var verdict = Judge(0, [.. Repeat(20, 1000, 1, cohortP99)], [.. Repeat(20, 1000, 1, controlP99)], gates);
        Assert.True(result == verdict.Result, $"{because}: got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
    }

    [Fact]
    public void Without_a_control_the_ceiling_stands_and_the_verdict_says_it_compared_before_and_after()
    {
        // The last wave: every node on the package, the blip cannot be told from the change, so the ceiling decides.
        var cohort = Enumerable.Range(0, 10).Select(i => Node($"c-{i}", 0, [.. Repeat(20, 1000, 1), .. Repeat(10, 1000, 200)], baseline: 0.001, baselineP99: 40)).ToList();

        var verdict = HealthPolicy.Judge(cohort, [], Gates, 10);

        AssertResult(VerdictResult.Unhealthy, verdict);
        Assert.Contains("no control traffic at the same time (≥ 200 requests): compared with the cohort's own baselines from before the change", verdict.Reasons);
    }

    public static TheoryData<string, List<Slot>, VerdictResult, CheckOutcome?> OverBaselineCases => new()
    {
        { "a blip that began before the wave, still going: the wave waits", [.. Repeat(5, 1000, 80), .. Repeat(5, 1000, 50)], VerdictResult.Inconclusive, CheckOutcome.Unsure },
        { "the blip fades and enough clean traffic follows: judged on the slots after it, healthy",
            [.. Repeat(3, 1000, 80), .. Repeat(3, 1000, 30), .. Repeat(10, 1000, 1)], VerdictResult.Healthy, CheckOutcome.Pass },
        { "the blip fades but too little traffic follows it yet: the wave waits", [.. Repeat(5, 1000, 80), .. Repeat(1, 10, 0)], VerdictResult.Inconclusive, CheckOutcome.Unsure },
        { "a regression on top: significantly worse than twice the baseline", [.. Repeat(10, 1000, 200)], VerdictResult.Unhealthy, CheckOutcome.Fail },
    };

    [Theory]
    [MemberData(nameof(OverBaselineCases))]
    public void Without_a_control_a_ceiling_the_baselines_were_over_already_waits_unless_the_cohort_is_worse_than_them(string because, List<Slot> slots,
        VerdictResult result, CheckOutcome? ambient)
    {
        // The last wave, assigned while an upstream incident was in every node's window: baselines at 4.4%, over the 1% ceiling.
        var cohort = Enumerable.Range(0, 10).Select(i => Node($"c-{i}", 0, slots, baseline: 0.044, baselineP99: 40)).ToList();

        var verdict = HealthPolicy.Judge(cohort, [], Gates, 10);

        Assert.True(result == verdict.Result, $"{because}: got {verdict.Result}: {string.Join(" | ", verdict.Reasons)}");
        var found = verdict.Findings.OfType<Finding.Ambient>().Single();
        Assert.Equal((ambient, true, 0.044), (found.Outcome, found.AgainstBaseline, Math.Round(found.Control, 6)));
        Assert.Contains(ambient == CheckOutcome.Fail ? "which its own baseline (4.40%) was over too before the change" : "as its own baseline 4.40% was before the change (no control at the same time)",
            FindingText.Render(found), StringComparison.Ordinal);
    }

    public static TheoryData<string, int, long, long> SinceCases => new()
    {
        { "the wave started in slot 2 exactly: slots 2 onward", 2, 2, 200 },
        { "the wave started after slot 0 began: slot 0 holds earlier traffic and is left out", 1, 1, 300 },
        { "the wave started before the series: everything", -3, 0, 400 },
        { "the wave started after the series: nothing", 9, 4, 0 },
    };

    [Theory]
    [MemberData(nameof(SinceCases))]
    public void A_wave_without_a_control_keeps_only_its_own_slots(string because, int startSlot, long firstKept, long requests)
    {
        _ = because;
        var sample = Node("n-1", 0, [new Slot(100, 20), new Slot(100, 20), new Slot(100, 0), new Slot(100, 0)]);
        // A start just after the slot's beginning keeps the next one on; exactly at it keeps it.
        var start = startSlot == 1 ? At(0).AddTicks(1) : At(startSlot);

        var kept = CohortVerdict.Since(sample, start);

        Assert.Equal(requests, kept.Requests);
        Assert.Equal(Math.Min(Origin + firstKept, Origin + 4), kept.Series!.FirstSlot);
        Assert.Equal(requests == 0 ? 0 : sample.Series!.Errors.Skip((int)firstKept).Sum(), kept.Errors);
    }

    [Fact]
    public void The_last_wave_is_judged_on_its_own_time_not_on_the_disturbance_the_earlier_waves_rode_out()
    {
        // The canaries took the change before an upstream blip (slots 0–3 at 20%) and baked through it against a control;
        // the last wave started at slot 5, after it. Its cohort: the canaries and the rest, no control left.
        var canaries = Enumerable.Range(0, 9).Select(i => Node($"c-{i}", 0, [.. Repeat(4, 1000, 200), .. Repeat(8, 1000, 1)], baseline: 0.001)).ToList();
        var rest = Enumerable.Range(0, 71).Select(i => Node($"r-{i}", 5, [.. Repeat(7, 1000, 1)], baseline: 0.001)).ToList();
        var evidence = new WaveEvidence { Unit = "flags", Wave = 2, Targeted = 80, Cohort = [.. canaries, .. rest] };

        var before = HealthPolicy.Judge(evidence, Gates);
        var since = HealthPolicy.Judge(evidence with { WaveStarted = At(5) }, Gates);

        AssertResult(VerdictResult.Unhealthy, before);
        AssertResult(VerdictResult.Healthy, since);
    }

    [Fact]
    public void A_canary_is_not_compared_with_the_control_over_the_slot_it_applied_in()
    {
        // A disturbance (20%) starts as the canaries apply, 0.6 of the way into slot 10: their first slot on the package
        // holds only disturbed reports, 25% errors, while the control's slot 10 is mostly from before it (3%). From slot
        // 11 on both sides are disturbed alike.
        var applied = At(10).AddTicks(SlotTicks * 6 / 10);
        WaveEvidence Look(int slots, bool knowsApply) => new()
        {
            Unit = "flags",
            Wave = 0,
            Targeted = 9,
            Cohort = [.. Enumerable.Range(0, 9).Select(i => Node($"c-{i}", 10, [new Slot(15, 4), .. Repeat(slots - 1, 40, 8)]) with
            {
                Applies = knowsApply ? [new UnitApply("flags", 2, applied)] : [],
            })],
            Control = Many("k", 71, 10, [new Slot(40, 1), .. Repeat(slots - 1, 40, 8)]),
        };

        var mixed = HealthPolicy.Judge(Look(1, knowsApply: false), Gates);
        var first = HealthPolicy.Judge(Look(1, knowsApply: true), Gates);
        var later = HealthPolicy.Judge(Look(4, knowsApply: true), Gates);

        AssertResult(VerdictResult.Unhealthy, mixed);
        Assert.NotEqual(VerdictResult.Unhealthy, first.Result);
        AssertResult(VerdictResult.Inconclusive, later);
        Assert.Equal(At(11), later.Findings.OfType<Finding.Ambient>().Single().From);
    }

    public static TheoryData<string, List<Slot>, List<Slot>, BreachStanding> BreachCases => new()
    {
        { "28% while its PoP and the control are at 0.1%", [.. Repeat(5, 200, 56)], [.. Repeat(5, 1000, 1)], BreachStanding.Confirmed },
        { "20% while its PoP is at 19%: the trouble is around it", [.. Repeat(5, 200, 40)], [.. Repeat(5, 1000, 190)], BreachStanding.Ambient },
    };

    [Theory]
    [MemberData(nameof(BreachCases))]
    public void A_node_breach_is_weighed_against_its_pop_and_the_control_before_it_acts_alone(string because, List<Slot> node, List<Slot> peers, BreachStanding standing)
    {
        var sample = Node("n-1", 0, node);
        var signal = HealthPolicy.Breach(sample, Gates)!;
        Assert.Equal(SignalKind.Breach, signal.Kind);
        var control = Many("k", 20, 0, Repeat(5, 1000, 1));

        var check = HealthPolicy.Weigh(signal, sample, Many("p", 10, 0, peers), control, Gates);

        Assert.True(standing == check.Standing, $"{because}: {FindingText.Render(check.Finding)}");
        Assert.Equal(standing == BreachStanding.Confirmed, check.Acts);
    }

    [Fact]
    public void A_breach_in_a_slot_the_control_has_not_reported_in_yet_is_left_to_the_verdict_and_acts_alone_only_without_a_control()
    {
        // The canary's first report on the package opens slot 5, 20% errors under an upstream disturbance; the control's
        // reports so far reach slot 4.
        var sample = Node("n-1", 5, [new Slot(124, 24)]);
        var signal = HealthPolicy.Breach(sample, Gates)!;
        var control = Many("k", 20, 0, Repeat(5, 1000, 200));

        var early = HealthPolicy.Weigh(signal, sample, [], control, Gates);
        Assert.Equal((BreachStanding.Unconfirmed, false), (early.Standing, early.Acts));
        Assert.Equal("node n-1 error rate 19.35% (24/124): the control has not reported at the node's moments yet, so it cannot be weighed now: left to the verdict",
            FindingText.Render(early.Finding));

        var alone = HealthPolicy.Weigh(signal, sample, [], [], Gates);
        Assert.Equal((BreachStanding.Confirmed, true), (alone.Standing, alone.Acts));
    }

    [Theory]
    [InlineData("ams", BreachStanding.Ambient)]
    [InlineData("sin", BreachStanding.Confirmed)]
    public void A_rollout_weighs_a_breach_against_the_control_nodes_of_the_breaching_nodes_pop(string pop, BreachStanding standing)
    {
        // The node's PoP, ams, has an upstream of its own failing 20% of requests (three control nodes there); the control
        // as a whole is under the ceiling (0.68%).
        var sample = Node("n-1", 0, Repeat(5, 200, 40)) with { Pop = pop };
        var signal = HealthPolicy.Breach(sample, Gates)!;
        var control = Many("k", 20, 0, Repeat(5, 1000, 1)).Select(k => k with { Pop = "fra" })
            .Concat(Many("a", 3, 0, Repeat(5, 200, 40)).Select(a => a with { Pop = "ams" }))
            .ToList();

        var weighed = HealthPolicy.WeighBreaches([signal], [sample], control, Gates).Single();

        Assert.True(standing == weighed.Check.Standing, FindingText.Render(weighed.Check.Finding));
    }

    [Fact]
    public void A_breach_with_nothing_to_weigh_it_against_acts_and_says_so()
    {
        var sample = Node("n-1", 0, Repeat(5, 200, 56));
        var check = HealthPolicy.Weigh(HealthPolicy.Breach(sample, Gates)!, sample, [], [], Gates);

        Assert.True(check.Acts);
        Assert.Equal("node n-1 error rate 28.00% (280/1000): no same-time PoP or control traffic to weigh it against, so its own limit decides", FindingText.Render(check.Finding));
    }

    [Theory]
    [InlineData(SignalKind.Crash)]
    [InlineData(SignalKind.Rejected)]
    public void Crashes_and_rejections_act_at_once_whatever_the_pop_does(SignalKind kind)
    {
        var sample = Node("n-1", 0, Repeat(5, 200, 0));
        var everyoneFailing = Many("p", 10, 0, Repeat(5, 1000, 500));

        var check = HealthPolicy.Weigh(new NodeSignal("n-1", kind, "because"), sample, everyoneFailing, everyoneFailing, Gates);

        Assert.True(check.Acts);
    }
}
