using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using static Snapstone.Domain.Rollouts.RolloutDecision;
using static Snapstone.Domain.Tests.Rollouts.RolloutPolicyTests;

namespace Snapstone.Domain.Tests.Rollouts;

/// <summary>
/// What a failing wave makes the rollout do by its plan: <c>mode: report-only</c> records and goes on, <c>onFailure:
/// pause</c> pauses with the failure, and a plan's <c>finalBakeSeconds</c> keeps the whole fleet watched after the last
/// wave; and the looks a baking wave gets before its bake ends. Plan: canary (60 s) → ten (120 s) → all (300 s).
/// </summary>
public class EnforcementPolicyTests
{
    private static readonly Verdict Unhealthy = new(VerdictResult.Unhealthy, ["cohort error rate 3.10% (310/10000) > ceiling 1.00%"], 0, 10);
    private static readonly Verdict Inconclusive = new(VerdictResult.Inconclusive, ["cohort served 150 requests < 200 needed for a verdict"]);

    private static WaveObservation Seen(int wave, Verdict? verdict = null) =>
        new() { Wave = wave, Targeted = 10, Applied = 10, Verdict = verdict };

    private static Plan Canary(Func<WaveSpec, WaveSpec> change) =>
        ThreeWaves with { Waves = [change(ThreeWaves.Waves[0]), .. ThreeWaves.Waves.Skip(1)] };

    private static readonly Plan ReportOnly = Canary(w => w with { Mode = GateMode.ReportOnly });
    private static readonly Plan PauseOnFailure = Canary(w => w with { OnFailure = FailureAction.Pause });
    private static readonly Plan FinalBake = ThreeWaves with { FinalBakeSeconds = 600 };

    /// <summary>The canary converged at 10 s and baking until 70 s.</summary>
    private static Run Baking(Plan plan) => new Run(plan).Open(0).At(10).Expect<Wait>(Seen(0));

    private static readonly NodeSignal CrashSignal = new("n-3", SignalKind.Crash, "node n-3 crashed 1 time(s) on the package");

    private static readonly Dictionary<string, Func<(Run Run, WaveObservation? Seen, DateTimeOffset? LookedAt)>> Stages = new()
    {
        ["report-only, unhealthy mid-bake"] = () => (Baking(ReportOnly).At(40), Seen(0, Unhealthy), T0.AddSeconds(20)),
        ["report-only, crash signal"] = () => (Baking(ReportOnly).At(40).Do(s => s.WithSignal(CrashSignal, T0.AddSeconds(40))), null, T0.AddSeconds(35)),
        ["report-only, unhealthy at the end of the bake"] = () => (Baking(ReportOnly).At(70), Seen(0, Unhealthy), null),
        ["report-only, inconclusive at the end of the bake"] = () => (Baking(ReportOnly).At(70), Seen(0, Inconclusive), null),
        ["report-only, noted once, still unhealthy mid-bake"] = () =>
            (Baking(ReportOnly).At(40).Expect<Wait>(Seen(0, Unhealthy)).At(50), Seen(0, Unhealthy), T0.AddSeconds(40)),
        ["pause on failure, unhealthy mid-bake"] = () => (Baking(PauseOnFailure).At(40), Seen(0, Unhealthy), T0.AddSeconds(20)),
        ["pause on failure, crash signal"] = () => (Baking(PauseOnFailure).At(40).Do(s => s.WithSignal(CrashSignal, T0.AddSeconds(40))), null, T0.AddSeconds(35)),
        ["pause on failure, paused, still failing"] = () =>
            (Baking(PauseOnFailure).At(40).Expect<Pause>(Seen(0, Unhealthy)).At(50), Seen(0, Unhealthy), null),
        ["rollback on failure (the default), unhealthy mid-bake"] = () => (Baking(ThreeWaves).At(40), Seen(0, Unhealthy), T0.AddSeconds(20)),
        ["baking, looked at 5 s ago"] = () => (Baking(ThreeWaves).At(25), null, T0.AddSeconds(20)),
        ["baking, looked at 15 s ago"] = () => (Baking(ThreeWaves).At(35), null, T0.AddSeconds(20)),
        ["baking, looked at 5 s before the bake ends"] = () => (Baking(ThreeWaves).At(65), null, T0.AddSeconds(60)),
        ["final bake: the last wave's bake passed"] = () => (LastWaveBaked(FinalBake), Seen(2, HealthyVerdict), null),
        ["final bake: unhealthy during it"] = () => (LastWaveBaked(FinalBake).Expect<Wait>(Seen(2, HealthyVerdict)).At(1000), Seen(2, Unhealthy), T0.AddSeconds(990)),
        ["final bake: healthy at its end"] = () => (LastWaveBaked(FinalBake).Expect<Wait>(Seen(2, HealthyVerdict)).At(1420), Seen(2, HealthyVerdict), null),
        ["no final bake: the last wave's bake passed"] = () => (LastWaveBaked(ThreeWaves), Seen(2, HealthyVerdict), null),
    };

    /// <summary>Canary and ten passed, and the last wave converged at once and is at the end of its bake.</summary>
    private static Run LastWaveBaked(Plan plan)
    {
        var run = new Run(plan).Pass(0).Pass(1).Open(2).Expect<Wait>(Seen(2));
        return run.At((int)(run.Status.Waves[2].BakeUntil!.Value - T0).TotalSeconds);
    }

    [Theory]
    [InlineData("report-only, unhealthy mid-bake", "Wait(10:00:40)", RolloutState.Running, "wave 'canary' is report-only: wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%; recorded, not acted on")]
    [InlineData("report-only, crash signal", "Wait(10:00:40)", RolloutState.Running, "wave 'canary' is report-only: 1 node(s) crashed > max 0: node n-3 crashed 1 time(s) on the package; recorded, not acted on")]
    [InlineData("report-only, unhealthy at the end of the bake", "Wait(10:01:10)", RolloutState.Running, "wave 'canary' is report-only: wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%; recorded, not acted on")]
    [InlineData("report-only, inconclusive at the end of the bake", "Advance(0->1)", RolloutState.Running, "wave 'canary' passed: cohort served 150 requests < 200 needed for a verdict")]
    [InlineData("report-only, noted once, still unhealthy mid-bake", "Wait(10:00:55)", RolloutState.Running, null)]
    [InlineData("pause on failure, unhealthy mid-bake", "Pause: wave 'canary' failed and its plan pauses on failure: wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%", RolloutState.Paused, "paused: wave 'canary' failed and its plan pauses on failure: wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%")]
    [InlineData("pause on failure, crash signal", "Pause: wave 'canary' failed and its plan pauses on failure: 1 node(s) crashed > max 0: node n-3 crashed 1 time(s) on the package", RolloutState.Paused, "paused: wave 'canary' failed and its plan pauses on failure: 1 node(s) crashed > max 0: node n-3 crashed 1 time(s) on the package")]
    [InlineData("pause on failure, paused, still failing", "Wait(none)", RolloutState.Paused, null)]
    [InlineData("rollback on failure (the default), unhealthy mid-bake", "Rollback(through 0): wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%", RolloutState.RollingBack, "rolling back: wave 'canary' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%")]
    [InlineData("baking, looked at 5 s ago", "Wait(10:00:35)", RolloutState.Running, null)]
    [InlineData("baking, looked at 15 s ago", "Observe(0)", RolloutState.Running, null)]
    [InlineData("baking, looked at 5 s before the bake ends", "Wait(10:01:10)", RolloutState.Running, null)]
    [InlineData("final bake: the last wave's bake passed", "Wait(10:08:05)", RolloutState.Running, "wave 'all' passed its bake (10/10 nodes reported on the package (100%)); final bake until 2026-01-01T10:18:00Z: a regression still rolls every node back")]
    [InlineData("final bake: unhealthy during it", "Rollback(through 2): wave 'all' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%", RolloutState.RollingBack, "rolling back: wave 'all' unhealthy: cohort error rate 3.10% (310/10000) > ceiling 1.00%")]
    [InlineData("final bake: healthy at its end", "Complete", RolloutState.Completed, "wave 'all' passed (10/10 nodes reported on the package (100%)); rollout completed")]
    [InlineData("no final bake: the last wave's bake passed", "Complete", RolloutState.Completed, "wave 'all' passed (10/10 nodes reported on the package (100%)); rollout completed")]
    public void A_failing_wave_does_what_its_plan_says(string stage, string expected, RolloutState state, string? entry)
    {
        var (run, seen, lookedAt) = Stages[stage]();
        var before = run.Status;
        var decision = RolloutPolicy.Decide(run.Spec, run.Status, run.Conditions, seen, run.Now, RolloutSettings.Default, lookedAt);
        Assert.Equal(expected, Describe(decision));
        Assert.Equal(state, decision.Status.State);
        var added = decision.Status.TimelineTotal > before.TimelineTotal ? decision.Status.Timeline[^1].Message : null;
        Assert.Equal(entry, added);
    }

    [Fact]
    public void A_report_only_wave_that_would_have_failed_passes_at_the_end_of_its_bake_with_its_failing_verdict_kept()
    {
        var run = Baking(ReportOnly).At(40).Expect<Wait>(Seen(0, Unhealthy)).At(70).Expect<Advance>(Seen(0, Unhealthy));
        var canary = run.Status.Waves[0];
        Assert.Equal((WaveState.Passed, VerdictResult.Unhealthy), (canary.State, canary.Verdict!.Result));
        Assert.StartsWith("wave 'canary' unhealthy", canary.WouldHaveFailed);
        Assert.Equal(1, run.Status.Timeline.Count(e => e.Type == TimelineTypes.WaveWouldHaveFailed));
        Assert.Equal(RolloutState.Running, run.Status.State);
    }

    [Fact]
    public void A_wave_paused_on_failure_keeps_its_failing_verdict_and_sends_no_node_back()
    {
        var run = Baking(PauseOnFailure).At(40).Expect<Pause>(Seen(0, Unhealthy));
        Assert.Equal(VerdictResult.Unhealthy, run.Status.Waves[0].Verdict!.Result);
        Assert.Null(run.Status.Rollback);
        Assert.IsType<PauseReason.Failed>(run.Status.Pause);
    }
}
