using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;

namespace Snapstone.Domain.Alarms;

/// <summary>What one alert does to one rollout: its new status, the action taken and why, and the deliveries it has handled.</summary>
public sealed record AlarmDecision(RolloutStatus Status, AlarmAction Action, string Reason, IReadOnlyList<string> Handled)
{
    /// <summary>The status is a new one: store it (with its audit entry) before answering.</summary>
    public bool Changed { get; init; }
}

/// <summary>
/// The effect of an alert on one rollout it names. Firing: a unit's alert rolls its rollout back (or pauses it, when
/// the unit says <c>"onAlarm": "pause"</c>); an alert naming PoPs or regions rolls back the rollouts whose cohort
/// touches them; a global alert pauses. Resolved: one timeline entry, nothing else changes. The same delivery twice
/// (Alertmanager repeats) is handled once: <see cref="Alert.Key"/> is remembered, the newest <see cref="MaxHandled"/>.
/// </summary>
/// <remarks>
/// Worked cases (rollout running wave 1 of 3, unit onAlarm rollback):
/// <code>
/// firing,   unit         → rolled-back ("rolling back: alarm 'EdgeErrors' firing (...)")
/// firing,   PoP ams01    → rolled-back when the cohort through wave 1 has a node in ams01, else none
/// firing,   global       → paused (a pause a person resumes; the alert resolving does not)
/// resolved, any          → none, one "alarm-resolved" timeline entry (even on a finished rollout)
/// firing,   same key     → none ("already handled"), no new entry
/// </code>
/// A rollout with no node touched yet has nothing to send back: an alert that would roll it back pauses it instead.
/// A rollout rolling back or finished is left as it is; a paused one is rolled back when asked, and an alarm's pause
/// replaces a freeze's (so the rollout stays paused when the freeze ends), never a person's.
/// </remarks>
public static class AlarmRules
{
    /// <summary>Deliveries a rollout remembers; far more than the alerts that can concern one rollout while it runs.</summary>
    public const int MaxHandled = 64;

    /// <param name="touches">Whether the rollout's cohort has a node in the alert's PoPs or regions (true when it names none).</param>
    /// <param name="handled">The keys of the deliveries this rollout already handled, oldest first.</param>
    public static AlarmDecision Decide(RolloutStatus status, Alert alert, OnAlarm onAlarm, bool touches, IReadOnlyList<string> handled, string actor, DateTimeOffset now)
    {
        if (handled.Contains(alert.Key))
        {
            return new(status, AlarmAction.None, $"already handled this {(alert.Status == AlertStatus.Firing ? "firing" : "resolution")} (a repeated delivery)", handled);
        }
        var alarm = alert.Describe();
        if (alert.Status == AlertStatus.Resolved)
        {
            var noted = status.Recorded(now, TimelineTypes.AlarmResolved, $"{alarm}; nothing changed");
            return new(noted, AlarmAction.None, "resolved: recorded on the timeline; nothing changed", Remember(handled, alert.Key)) { Changed = true };
        }
        if (alert.Target.ByPlace && !alert.Target.Global && !touches)
        {
            return new(status, AlarmAction.None, $"its cohort has no node in {alert.Target.Describe()}", handled);
        }
        if (status.IsTerminal)
        {
            return new(status, AlarmAction.None, $"the rollout is {RolloutCommands.Describe(status.State)}", handled);
        }
        if (status.State == RolloutState.RollingBack)
        {
            return new(status, AlarmAction.None, "the rollout is already rolling back", handled);
        }
        var wanted = alert.Target.Global ? OnAlarm.Pause : alert.Target.Unit is not null ? onAlarm : OnAlarm.Rollback;
        var reason = $"{alarm} (posted by {actor})";
        if (wanted == OnAlarm.Rollback && status.TouchedThrough >= 0)
        {
            var back = status.RollbackStarted(reason, actor, aborted: false, verdict: null, now);
            return new(back, AlarmAction.RolledBack, "rolling back every touched node to the previous package", Remember(handled, alert.Key)) { Changed = true };
        }
        var because = wanted == OnAlarm.Rollback ? "no node has the package yet, so there is nothing to send back: paused"
            : alert.Target.Global ? "a global alarm pauses every active rollout"
            : "the unit's onAlarm is pause";
        if (status is { State: RolloutState.Paused, Pause: not PauseReason.Frozen })
        {
            return new(status, AlarmAction.None, $"the rollout is already paused ({status.PausedReason})", handled);
        }
        var paused = status.Paused(new AlarmPause(actor, alarm), now);
        return new(paused, AlarmAction.Paused, because, Remember(handled, alert.Key)) { Changed = true };
    }

    private static IReadOnlyList<string> Remember(IReadOnlyList<string> handled, string key) =>
        [.. handled.Skip(Math.Max(0, handled.Count + 1 - MaxHandled)), key];

    /// <summary>The API's spelling of an action: <c>rolled-back</c>, <c>paused</c>, <c>none</c>.</summary>
    public static string Wire(AlarmAction action) => action switch
    {
        AlarmAction.RolledBack => "rolled-back",
        AlarmAction.Paused => "paused",
        _ => "none",
    };
}
