using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using static Snapstone.Domain.Rollouts.RolloutDecision;
using static Snapstone.Domain.Tests.Rollouts.RolloutPolicyTests;

namespace Snapstone.Domain.Tests.Rollouts;

public class RolloutCommandsTests
{
    private static readonly Plan CanaryNeedsApproval = ThreeWaves with
    {
        Waves = [ThreeWaves.Waves[0] with { RequiresApproval = true }, .. ThreeWaves.Waves.Skip(1)],
    };

    private static WaveObservation Obs(int wave, int targeted, int applied, Snapstone.Domain.Health.Verdict? verdict = null) =>
        new() { Wave = wave, Targeted = targeted, Applied = applied, Verdict = verdict };

    /// <summary>A rollout in each state the commands care about.</summary>
    private static readonly Dictionary<string, Func<Run>> States = new()
    {
        ["pending"] = () => new Run(),
        ["awaiting-approval"] = () => new Run(CanaryNeedsApproval).Expect<AwaitApproval>(),
        ["running"] = () => new Run().Open(0).At(30),
        ["paused"] = () => new Run().Open(0).At(30).Command(s => RolloutCommands.Pause(s, "bob", "checking", T0.AddSeconds(30))),
        ["rolling-back"] = () => new Run().Open(0).At(30).Expect<RolloutDecision.Rollback>(Obs(0, 10, 10, new(Snapstone.Domain.Health.VerdictResult.Unhealthy, ["bad"]))),
        ["rolled-back"] = () => new Run().Open(0).At(30).Expect<RolloutDecision.Rollback>(Obs(0, 10, 10, new(Snapstone.Domain.Health.VerdictResult.Unhealthy, ["bad"])))
            .Do(s => s.RollbackAssigned(0, 0, T0.AddSeconds(30))).Expect<FinishRollback>(),
        ["completed"] = () => new Run().Pass(0).Pass(1).Pass(2),
    };

    public enum Command { Pause, Resume, Abort, Approve }

    private static CommandResult Apply(Command command, Run run, string actor, string? reason) => command switch
    {
        Command.Pause => RolloutCommands.Pause(run.Status, actor, reason, run.Now),
        Command.Resume => RolloutCommands.Resume(run.Status, actor, reason, run.Now),
        Command.Abort => RolloutCommands.Abort(run.Status, actor, reason, run.Now),
        _ => RolloutCommands.Approve(run.Spec, run.Status, actor, reason, run.Now),
    };

    [Theory]
    [InlineData(Command.Pause, "pending", "alice", "hold", null, RolloutState.Paused)]
    [InlineData(Command.Pause, "awaiting-approval", "alice", "hold", null, RolloutState.Paused)]
    [InlineData(Command.Pause, "running", "alice", "hold", null, RolloutState.Paused)]
    [InlineData(Command.Pause, "paused", "alice", "hold", "Conflict: the rollout is already paused", RolloutState.Paused)]
    [InlineData(Command.Pause, "rolling-back", "alice", "hold", "Conflict: the rollout is rolling back; a rollback cannot be paused", RolloutState.RollingBack)]
    [InlineData(Command.Pause, "completed", "alice", "hold", "Conflict: the rollout is completed; there is nothing to pause", RolloutState.Completed)]
    [InlineData(Command.Pause, "running", "alice", "  ", "Invalid: reason is required", RolloutState.Running)]
    [InlineData(Command.Pause, "running", "alice", null, "Invalid: reason is required", RolloutState.Running)]
    [InlineData(Command.Pause, "running", "", "hold", "Invalid: actor is required", RolloutState.Running)]
    [InlineData(Command.Resume, "paused", "alice", null, null, RolloutState.Running)]
    [InlineData(Command.Resume, "running", "alice", null, "Conflict: only a paused rollout can be resumed; this one is running", RolloutState.Running)]
    [InlineData(Command.Resume, "rolled-back", "alice", null, "Conflict: only a paused rollout can be resumed; this one is rolled-back", RolloutState.RolledBack)]
    [InlineData(Command.Abort, "pending", "alice", "wrong file", null, RolloutState.Aborted)]
    [InlineData(Command.Abort, "awaiting-approval", "alice", "wrong file", null, RolloutState.Aborted)]
    [InlineData(Command.Abort, "running", "alice", "wrong file", null, RolloutState.RollingBack)]
    [InlineData(Command.Abort, "paused", "alice", "wrong file", null, RolloutState.RollingBack)]
    [InlineData(Command.Abort, "rolling-back", "alice", "wrong file", "Conflict: the rollout is already rolling back", RolloutState.RollingBack)]
    [InlineData(Command.Abort, "rolled-back", "alice", "wrong file", "Conflict: the rollout is rolled-back; there is nothing to abort", RolloutState.RolledBack)]
    [InlineData(Command.Abort, "running", "alice", "", "Invalid: reason is required", RolloutState.Running)]
    [InlineData(Command.Approve, "awaiting-approval", "alice", null, null, RolloutState.Running)]
    [InlineData(Command.Approve, "awaiting-approval", "ci", null, "Forbidden: ci created this rollout and may not approve it; someone else must", RolloutState.AwaitingApproval)]
    [InlineData(Command.Approve, "awaiting-approval", "CI", "it is fine", "Forbidden: CI created this rollout and may not approve it; someone else must", RolloutState.AwaitingApproval)]
    [InlineData(Command.Approve, "running", "alice", null, "Conflict: the rollout is running, not awaiting approval", RolloutState.Running)]
    [InlineData(Command.Approve, "pending", "alice", null, "Conflict: the rollout is pending, not awaiting approval", RolloutState.Pending)]
    public void Commands_are_guarded_by_state_and_actor(Command command, string state, string actor, string? reason, string? refusal, RolloutState after)
    {
        var run = States[state]();
        var before = run.Status;

        var result = Apply(command, run, actor, reason);

        Assert.Equal(refusal, result.Refusal is { } r ? $"{r.Kind}: {r.Message}" : null);
        Assert.Equal(refusal is null, result.Accepted);
        Assert.Equal(after, result.Status.State);
        if (refusal is null)
        {
            Assert.Equal(before.Timeline.Count + 1, result.Status.Timeline.Count);
        }
        else
        {
            Assert.Same(before, result.Status);
        }
    }

    [Fact]
    public void A_reason_longer_than_2000_characters_is_refused()
    {
        var result = RolloutCommands.Pause(new Run().Status, "alice", new string('x', 2001), T0);
        Assert.Equal(new Refusal(ProblemKind.Invalid, "reason must be at most 2000 bytes of UTF-8 (got 2001)"), result.Refusal);
    }

    [Fact]
    public void Approval_records_who_and_the_wave_opens_on_the_next_tick()
    {
        var run = States["awaiting-approval"]().At(45)
            .Command(s => RolloutCommands.Approve(new Run(CanaryNeedsApproval).Spec, s, "alice", "reviewed", T0.AddSeconds(45)));

        Assert.Equal("alice", run.Status.Waves[0].ApprovedBy);
        Assert.Equal(T0.AddSeconds(45), run.Status.Waves[0].ApprovedAt);
        Assert.Equal(new TimelineEntry(T0.AddSeconds(45), "approved", "wave 'canary' approved by alice: reviewed"), run.Status.Timeline[^1]);
        Assert.Equal("Assign(0)", Describe(run.Tick()));
    }

    [Fact]
    public void A_pause_names_who_and_why_and_a_resume_clears_it()
    {
        var run = States["paused"]();
        Assert.Equal(new PauseReason.Manual("bob", "checking"), run.Status.Pause);
        Assert.Equal("checking", run.Status.PausedReason);
        Assert.Equal("paused by bob: checking", run.Status.Timeline[^1].Message);

        run.At(40).Command(s => RolloutCommands.Resume(s, "alice", "done", T0.AddSeconds(40)));
        Assert.Equal((null, null), (run.Status.Pause, run.Status.PausedReason));
        Assert.Equal(T0.AddSeconds(40), run.Status.ResumedAt);
        Assert.Equal("resumed by alice: done", run.Status.Timeline[^1].Message);
    }

    [Fact]
    public void Resuming_a_rollout_paused_while_awaiting_approval_asks_for_approval_again()
    {
        var run = States["awaiting-approval"]()
            .Command(s => RolloutCommands.Pause(s, "bob", "freeze", T0))
            .Command(s => RolloutCommands.Resume(s, "bob", null, T0));
        Assert.Equal("AwaitApproval(0)", Describe(run.Tick()));
    }

    [Fact]
    public void An_abort_of_touched_nodes_rolls_them_back_and_ends_aborted()
    {
        var run = States["running"]().Command(s => RolloutCommands.Abort(s, "alice", "wrong file", T0.AddSeconds(30)));

        Assert.Equal(new RollbackStatus
        {
            Reason = "aborted by alice: wrong file", By = "alice", ThroughWave = 0, Aborted = true, StartedAt = T0.AddSeconds(30),
        }, run.Status.Rollback);
        Assert.Equal(WaveState.Failed, run.Status.Waves[0].State);
        Assert.Equal("rolling back: aborted by alice: wrong file", run.Status.Timeline[^1].Message);
        Assert.Equal("Rollback(through 0): aborted by alice: wrong file", Describe(run.Tick()));
    }

    [Theory]
    [InlineData(RolloutState.Pending, "pending")]
    [InlineData(RolloutState.AwaitingApproval, "awaiting-approval")]
    [InlineData(RolloutState.RollingBack, "rolling-back")]
    [InlineData(RolloutState.RolledBack, "rolled-back")]
    [InlineData(RolloutState.Aborted, "aborted")]
    public void States_are_described_in_the_api_spelling(RolloutState state, string expected)
    {
        Assert.Equal(expected, RolloutCommands.Describe(state));
    }
}
