using Snapstone.Domain.Alarms;
using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Health;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using static Snapstone.Domain.Rollouts.RolloutDecision;
using static Snapstone.Domain.Tests.Rollouts.RolloutPolicyTests;

namespace Snapstone.Domain.Tests.Alarms;

public class AlarmRulesTests
{
    private static readonly Freeze AFreeze = new() { Unit = null, Reason = "holiday", By = "oncall", At = T0 };

    /// <summary>A rollout in each state an alarm cares about.</summary>
    private static readonly Dictionary<string, Func<Run>> States = new()
    {
        ["pending"] = () => new Run(),
        ["running"] = () => new Run().Open(0).At(30),
        ["paused-by-person"] = () => new Run().Open(0).At(30).Command(s => RolloutCommands.Pause(s, "bob", "checking", T0.AddSeconds(30))),
        ["paused-by-freeze"] = () => new Run().Open(0).At(30).With(RolloutConditions.Of([AFreeze])).Expect<RolloutDecision.Pause>(),
        ["paused-untouched"] = () => new Run().Command(s => RolloutCommands.Pause(s, "bob", "checking", T0)),
        ["rolling-back"] = () => new Run().Open(0).At(30).Expect<RolloutDecision.Rollback>(
            new WaveObservation { Wave = 0, Targeted = 10, Applied = 10, Verdict = new(VerdictResult.Unhealthy, ["bad"]) }),
        ["completed"] = () => new Run().Pass(0).Pass(1).Pass(2),
    };

    public enum Kind { Unit, Pop, Global, UnitInPop }

    private static Alert Firing(Kind kind, AlertStatus status = AlertStatus.Firing, string fingerprint = "3fa1c2d4e5f60718") => new()
    {
        Fingerprint = fingerprint,
        Status = status,
        Name = "EdgeErrors",
        Labels = new Dictionary<string, string> { ["alertname"] = "EdgeErrors", ["snapstone_unit"] = "bot-features" },
        Summary = "errors above 5%",
        StartsAt = T0.AddSeconds(20),
        Target = kind switch
        {
            Kind.Unit => new AlarmTarget { Unit = "bot-features" },
            Kind.Pop => new AlarmTarget { Pops = ["ams01"] },
            Kind.UnitInPop => new AlarmTarget { Unit = "bot-features", Pops = ["ams01"] },
            _ => new AlarmTarget { Global = true },
        },
    };

    [Theory]
    // A unit's alarm: its onAlarm, rollback by default.
    [InlineData("running", Kind.Unit, OnAlarm.Rollback, true, AlarmAction.RolledBack, RolloutState.RollingBack)]
    [InlineData("running", Kind.Unit, OnAlarm.Pause, true, AlarmAction.Paused, RolloutState.Paused)]
    [InlineData("paused-by-person", Kind.Unit, OnAlarm.Rollback, true, AlarmAction.RolledBack, RolloutState.RollingBack)]
    [InlineData("paused-by-person", Kind.Unit, OnAlarm.Pause, true, AlarmAction.None, RolloutState.Paused)]
    [InlineData("paused-by-freeze", Kind.Unit, OnAlarm.Pause, true, AlarmAction.Paused, RolloutState.Paused)]
    // Nothing touched: nothing to send back, so it pauses.
    [InlineData("pending", Kind.Unit, OnAlarm.Rollback, true, AlarmAction.Paused, RolloutState.Paused)]
    [InlineData("paused-untouched", Kind.Unit, OnAlarm.Rollback, true, AlarmAction.None, RolloutState.Paused)]
    // A place's alarm rolls back only where the cohort touches it, whatever the unit says.
    [InlineData("running", Kind.Pop, OnAlarm.Pause, true, AlarmAction.RolledBack, RolloutState.RollingBack)]
    [InlineData("running", Kind.Pop, OnAlarm.Rollback, false, AlarmAction.None, RolloutState.Running)]
    [InlineData("running", Kind.UnitInPop, OnAlarm.Pause, true, AlarmAction.Paused, RolloutState.Paused)]
    [InlineData("running", Kind.UnitInPop, OnAlarm.Rollback, false, AlarmAction.None, RolloutState.Running)]
    // Global pauses, never rolls back.
    [InlineData("running", Kind.Global, OnAlarm.Rollback, false, AlarmAction.Paused, RolloutState.Paused)]
    [InlineData("pending", Kind.Global, OnAlarm.Rollback, false, AlarmAction.Paused, RolloutState.Paused)]
    [InlineData("paused-by-person", Kind.Global, OnAlarm.Rollback, false, AlarmAction.None, RolloutState.Paused)]
    // Rolling back or over: left as it is.
    [InlineData("rolling-back", Kind.Unit, OnAlarm.Rollback, true, AlarmAction.None, RolloutState.RollingBack)]
    [InlineData("rolling-back", Kind.Global, OnAlarm.Rollback, true, AlarmAction.None, RolloutState.RollingBack)]
    [InlineData("completed", Kind.Unit, OnAlarm.Rollback, true, AlarmAction.None, RolloutState.Completed)]
    public void A_firing_alert_acts_by_what_it_names_and_the_rollouts_state(string state, Kind kind, OnAlarm onAlarm, bool touches, AlarmAction action, RolloutState after)
    {
        var run = States[state]();
        var before = run.Status;
        var decision = AlarmRules.Decide(before, Firing(kind), onAlarm, touches, [], "alertmanager", run.Now);

        Assert.Equal(action, decision.Action);
        Assert.Equal(after, decision.Status.State);
        Assert.Equal(action != AlarmAction.None, decision.Changed);
        if (action == AlarmAction.None)
        {
            Assert.Same(before, decision.Status);
            Assert.Empty(decision.Handled);
        }
        else
        {
            Assert.Equal(before.Timeline.Count + 1, decision.Status.Timeline.Count);
            Assert.Contains("alarm 'EdgeErrors' firing (alertname=EdgeErrors, snapstone_unit=bot-features): errors above 5%", decision.Status.Timeline[^1].Message);
            Assert.Equal([Firing(kind).Key], decision.Handled);
        }
    }

    [Fact]
    public void A_rollback_is_the_one_a_failing_wave_starts_sent_back_through_the_touched_waves_and_by_the_token()
    {
        var run = States["running"]();
        var decision = AlarmRules.Decide(run.Status, Firing(Kind.Unit), OnAlarm.Rollback, true, [], "alertmanager", run.Now);
        var rollback = decision.Status.Rollback!;
        Assert.Equal(0, rollback.ThroughWave);
        Assert.False(rollback.Aborted);
        Assert.Equal("alertmanager", rollback.By);
        Assert.Equal(WaveState.Failed, decision.Status.Waves[0].State);
        Assert.Equal(TimelineTypes.RollbackStarted, decision.Status.Timeline[^1].Type);
        Assert.Equal("rolling back: alarm 'EdgeErrors' firing (alertname=EdgeErrors, snapstone_unit=bot-features): errors above 5% (posted by alertmanager)",
            decision.Status.Timeline[^1].Message);
        // And Decide carries it on as any rollback: tell the touched nodes.
        var next = run.Do(_ => decision.Status).Decide();
        Assert.IsType<RolloutDecision.Rollback>(next);
    }

    [Fact]
    public void An_alarm_pause_outlasts_the_freeze_it_replaced_and_a_person_resumes_it()
    {
        var run = States["paused-by-freeze"]();
        var decision = AlarmRules.Decide(run.Status, Firing(Kind.Global), OnAlarm.Rollback, false, [], "alertmanager", run.Now);
        var pause = Assert.IsType<AlarmPause>(decision.Status.Pause);
        Assert.Equal("alertmanager", pause.By);
        run.Do(_ => decision.Status).With(RolloutConditions.None).At(60);
        Assert.IsType<Wait>(run.Decide());
        run.Command(s => RolloutCommands.Resume(s, "alice", "alert understood", run.Now));
        Assert.Equal(RolloutState.Running, run.Status.State);
    }

    [Theory]
    [InlineData("running")]
    [InlineData("rolling-back")]
    [InlineData("completed")]
    public void A_resolved_alert_is_one_timeline_entry_in_any_state_and_changes_nothing_else(string state)
    {
        var run = States[state]();
        var before = run.Status;
        var decision = AlarmRules.Decide(before, Firing(Kind.Unit, AlertStatus.Resolved), OnAlarm.Rollback, true, [], "alertmanager", run.Now);
        Assert.Equal(AlarmAction.None, decision.Action);
        Assert.True(decision.Changed);
        Assert.Equal(before with { Timeline = decision.Status.Timeline, UpdatedAt = decision.Status.UpdatedAt }, decision.Status);
        Assert.Equal(TimelineTypes.AlarmResolved, decision.Status.Timeline[^1].Type);
        Assert.StartsWith("alarm 'EdgeErrors' resolved (alertname=EdgeErrors", decision.Status.Timeline[^1].Message);
    }

    [Theory]
    [InlineData(AlertStatus.Firing)]
    [InlineData(AlertStatus.Resolved)]
    public void The_same_delivery_twice_is_handled_once(AlertStatus status)
    {
        var run = States["running"]();
        var alert = Firing(Kind.Unit, status);
        var first = AlarmRules.Decide(run.Status, alert, OnAlarm.Pause, true, [], "alertmanager", run.Now);
        // Even after a person resumed it, the repeat does not pause it again.
        var resumed = status == AlertStatus.Firing ? RolloutCommands.Resume(first.Status, "alice", null, run.Now).Status : first.Status;
        var second = AlarmRules.Decide(resumed, alert, OnAlarm.Pause, true, first.Handled, "alertmanager", run.Now);
        Assert.Equal(AlarmAction.None, second.Action);
        Assert.False(second.Changed);
        Assert.Same(resumed, second.Status);
        Assert.Same(first.Handled, second.Handled);
        Assert.StartsWith("already handled", second.Reason);
        // A new firing of the same label set (a later startsAt) is a new alert.
        var again = AlarmRules.Decide(resumed, alert with { StartsAt = alert.StartsAt.AddHours(1) }, OnAlarm.Pause, true, first.Handled, "alertmanager", run.Now);
        Assert.True(again.Changed);
    }

    [Fact]
    public void The_handled_deliveries_stay_bounded()
    {
        var run = States["running"]();
        IReadOnlyList<string> handled = [];
        var status = run.Status;
        for (var i = 0; i < AlarmRules.MaxHandled * 2; i++)
        {
            var decision = AlarmRules.Decide(status, Firing(Kind.Unit, AlertStatus.Resolved, fingerprint: $"f{i}"), OnAlarm.Rollback, true, handled, "alertmanager", run.Now);
            (status, handled) = (decision.Status, decision.Handled);
        }
        Assert.Equal(AlarmRules.MaxHandled, handled.Count);
        Assert.Equal($"f{AlarmRules.MaxHandled * 2 - 1}", handled[^1].Split('@')[0]);
    }
}
