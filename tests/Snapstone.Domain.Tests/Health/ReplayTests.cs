using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using static Snapstone.Domain.Tests.Health.Timed;

namespace Snapstone.Domain.Tests.Health;

/// <summary>A recorded rollout judged again under other gates or another plan, wave by wave.</summary>
public class ReplayTests
{
    private static WaveSpec Wave(string name, double percent) => new() { Name = name, Select = new WaveSelect { Percent = percent }, BakeSeconds = 30 };

    private static readonly Plan Recorded = new([Wave("canary", 1), Wave("ten", 10), Wave("all", 100)]);

    /// <summary>
    /// The recorded evidence of a completed rollout: canary clean, the ten-percent wave at 0.6% against its control's 0.4%
    /// (within ratio 2), the last wave clean against its own baselines.
    /// </summary>
    private static readonly IReadOnlyList<WaveEvidence> Evidence =
    [
        new() { Unit = "bot-features", Wave = 0, Targeted = 5, Cohort = Many("c", 5, 0, Repeat(30, 1000, 4)), Control = Many("k", 20, 0, Repeat(30, 1000, 4)) },
        new() { Unit = "bot-features", Wave = 1, Targeted = 10, Cohort = Many("c", 10, 0, Repeat(30, 1000, 6)), Control = Many("k", 20, 0, Repeat(30, 1000, 4)) },
        new()
        {
            Unit = "bot-features", Wave = 2, Targeted = 30,
            Cohort = [.. Enumerable.Range(0, 30).Select(i => Node($"c-{i}", 0, Repeat(30, 1000, 5), baseline: 0.005, baselineP99: 40))],
        },
    ];

    private static Plan WithGates(Plan plan, Func<Gates, Gates> change) => plan with { Waves = [.. plan.Waves.Select(w => w with { Gates = change(w.Gates) })] };

    [Fact]
    public void The_same_gates_give_the_same_verdicts_and_the_rollout_completes_again()
    {
        var first = Replay.Rejudge(Recorded, Evidence);
        var second = Replay.Rejudge(Recorded, Evidence);

        Assert.Equal([VerdictAction.Advance, VerdictAction.Advance, VerdictAction.Advance], first.Select(r => r.Action));
        Assert.Equal(first.Select(r => r.Verdict!.Reasons.ToArray()), second.Select(r => r.Verdict!.Reasons.ToArray()));
        Assert.All(first, r => Assert.Equal(VerdictResult.Healthy, r.Verdict!.Result));
    }

    [Fact]
    public void Stricter_gates_halt_in_the_second_wave_and_say_when_and_the_last_is_not_reached()
    {
        var replay = Replay.Rejudge(WithGates(Recorded, g => g with { MaxErrorRateRatio = 1.2 }), Evidence);

        Assert.Equal([VerdictAction.Advance, VerdictAction.Rollback, null], replay.Select(r => r.Action));
        Assert.Equal(VerdictResult.Unhealthy, replay[1].Verdict!.Result);
        Assert.InRange(replay[1].HaltAt!.Value, At(1), At(30));
        Assert.Null(replay[2].Verdict);
    }

    [Fact]
    public void A_report_only_wave_that_would_have_failed_is_recorded_failing_and_the_rollout_goes_on()
    {
        var plan = WithGates(Recorded, g => g with { MaxErrorRateRatio = 1.2 });
        plan = plan with { Waves = [plan.Waves[0], plan.Waves[1] with { Mode = GateMode.ReportOnly }, plan.Waves[2]] };

        var replay = Replay.Rejudge(plan, Evidence);

        Assert.Equal(VerdictResult.Unhealthy, replay[1].Verdict!.Result);
        Assert.Equal([VerdictAction.Advance, VerdictAction.Advance, VerdictAction.Advance], replay.Select(r => r.Action));
    }

    [Fact]
    public void An_on_failure_pause_wave_pauses_with_the_verdict_instead_of_rolling_back()
    {
        var plan = WithGates(Recorded, g => g with { MaxErrorRateRatio = 1.2 });
        plan = plan with { Waves = [plan.Waves[0], plan.Waves[1] with { OnFailure = FailureAction.Pause }, plan.Waves[2]] };

        var replay = Replay.Rejudge(plan, Evidence);

        Assert.Equal([VerdictAction.Advance, VerdictAction.Pause, null], replay.Select(r => r.Action));
    }

    [Fact]
    public void A_wave_without_recorded_evidence_ends_the_replay()
    {
        var replay = Replay.Rejudge(Recorded, [Evidence[0]]);
        Assert.Equal([VerdictAction.Advance, null, null], replay.Select(r => r.Action));
    }

    public static TheoryData<GateMode, FailureAction, VerdictResult, bool, VerdictAction> Actions => new()
    {
        { GateMode.Enforce, FailureAction.Rollback, VerdictResult.Unhealthy, false, VerdictAction.Rollback },
        { GateMode.Enforce, FailureAction.Pause, VerdictResult.Unhealthy, false, VerdictAction.Pause },
        { GateMode.Enforce, FailureAction.Rollback, VerdictResult.Healthy, false, VerdictAction.Wait },
        { GateMode.Enforce, FailureAction.Rollback, VerdictResult.Healthy, true, VerdictAction.Advance },
        { GateMode.Enforce, FailureAction.Rollback, VerdictResult.Inconclusive, true, VerdictAction.Wait },
        { GateMode.ReportOnly, FailureAction.Rollback, VerdictResult.Unhealthy, false, VerdictAction.Wait },
        { GateMode.ReportOnly, FailureAction.Rollback, VerdictResult.Unhealthy, true, VerdictAction.Advance },
        { GateMode.ReportOnly, FailureAction.Pause, VerdictResult.Inconclusive, true, VerdictAction.Advance },
    };

    [Theory]
    [MemberData(nameof(Actions))]
    public void A_verdict_is_acted_on_by_the_waves_mode_and_on_failure(GateMode mode, FailureAction onFailure, VerdictResult result, bool bakeOver, VerdictAction action) =>
        Assert.Equal(action, Enforcement.Act(Wave("w", 1) with { Mode = mode, OnFailure = onFailure }, result, bakeOver));
}
