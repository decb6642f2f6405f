using Snapstone.Domain.Health;
using Snapstone.Domain.Rollouts;
using Snapstone.Grains.Emergency;

namespace Snapstone.Grains.Telemetry;

/// <summary>
/// A rollout's metrics, read from the difference between two persisted statuses: the rollout grain calls
/// <see cref="Saved"/> once per write, so every transition is counted once, after it is durable, and a
/// reactivated grain counts nothing twice (it compares with what it read back).
/// </summary>
/// <remarks>
/// What one write can mean, e.g. a tick that finds the canary unhealthy writes a status in which the rollout is
/// rolling back, the canary failed and carries a new Unhealthy verdict: that is one <c>rolled_back</c> (reason
/// <c>unhealthy</c>), one <c>wave.duration</c> (outcome <c>failed</c>) and one <c>verdicts</c> (result
/// <c>unhealthy</c>). The next write, once the nodes were told, adds their number to <c>rollback.nodes</c>; the
/// write that finds them all back records <c>time_to_safe</c>.
/// </remarks>
public static class RolloutMetrics
{
    public static void Saved(RolloutSpec spec, RolloutStatus? previous, RolloutStatus next)
    {
        if (ReferenceEquals(previous, next))
        {
            return;
        }
        try
        {
            Record(spec, previous, next);
        }
        catch (Exception)
        {
            // A metric is never worth a rollout: whatever fails here, the grain goes on with its side effects.
        }
    }

    private static void Record(RolloutSpec spec, RolloutStatus? previous, RolloutStatus next)
    {
        var unit = new KeyValuePair<string, object?>("unit", spec.Unit);
        if (previous is null)
        {
            SnapstoneMetrics.RolloutsStarted.Add(1, unit);
        }
        if (previous?.State != next.State)
        {
            StateChanged(spec, previous, next, unit);
        }
        Waves(previous, next, unit);
        if (previous?.Rollback?.AssignedAt is null && next.Rollback is { AssignedAt: not null } told)
        {
            SnapstoneMetrics.RollbackNodes.Add(told.Targeted, unit);
        }
    }

    private static void StateChanged(RolloutSpec spec, RolloutStatus? previous, RolloutStatus next, KeyValuePair<string, object?> unit)
    {
        switch (next.State)
        {
            case RolloutState.Completed:
                SnapstoneMetrics.RolloutsCompleted.Add(1, unit);
                break;
            case RolloutState.Paused:
                SnapstoneMetrics.RolloutsPaused.Add(1, unit, new("reason", PauseReason(next)));
                break;
            case RolloutState.RollingBack when next.Rollback is { Aborted: true }:
                SnapstoneMetrics.RolloutsAborted.Add(1, unit);
                break;
            case RolloutState.RollingBack:
                SnapstoneMetrics.RolloutsRolledBack.Add(1, unit, new("reason", RollbackReason(spec, next)));
                break;
            case RolloutState.Aborted when previous?.State != RolloutState.RollingBack:
                // Aborted before any node was touched: nothing was sent back.
                SnapstoneMetrics.RolloutsAborted.Add(1, unit);
                break;
        }
        if (previous?.State == RolloutState.RollingBack && next.Rollback is { CompletedAt: { } completed } rollback)
        {
            var unconfirmed = rollback.Targeted - rollback.Confirmed;
            if (unconfirmed > 0)
            {
                SnapstoneMetrics.RollbackUnconfirmed.Add(unconfirmed, unit);
            }
            else if (!rollback.Aborted)
            {
                // Safe only once every touched node confirmed; a person's abort had no bad evidence to time from.
                SnapstoneMetrics.TimeToSafe.Record(Math.Max(0, (completed - FirstBadEvidence(next, rollback)).TotalSeconds), unit);
            }
        }
    }

    /// <summary>Waves that ended in this write (their duration) and verdicts first recorded in it.</summary>
    private static void Waves(RolloutStatus? previous, RolloutStatus next, KeyValuePair<string, object?> unit)
    {
        for (var i = 0; i < next.Waves.Count; i++)
        {
            var before = previous is not null && i < previous.Waves.Count ? previous.Waves[i] : null;
            var wave = next.Waves[i];
            if (wave.State is WaveState.Passed or WaveState.Failed && before?.State != wave.State && wave.StartedAt is { } started)
            {
                SnapstoneMetrics.WaveDuration.Record(Math.Max(0, (next.UpdatedAt - started).TotalSeconds), unit,
                    new("outcome", wave.State == WaveState.Passed ? "passed" : "failed"));
            }
            // Statuses are immutable and carried over by reference: a verdict object not in the previous status is a new one.
            if (wave.Verdict is { } verdict && !ReferenceEquals(verdict, before?.Verdict))
            {
                SnapstoneMetrics.Verdicts.Add(1, unit, new("result", ResultOf(verdict.Result)));
            }
        }
    }

    /// <summary>
    /// The earliest node signal recorded since the failed wave started (a crash, a rejection, a breach pushed by a
    /// node grain at once), else the rollback's start, which is when the deciding verdict was read.
    /// </summary>
    internal static DateTimeOffset FirstBadEvidence(RolloutStatus status, RollbackStatus rollback)
    {
        var through = Math.Clamp(rollback.ThroughWave, 0, Math.Max(0, status.Waves.Count - 1));
        var since = status.Waves.Count > 0 ? status.Waves[through].StartedAt ?? DateTimeOffset.MinValue : DateTimeOffset.MinValue;
        var first = rollback.StartedAt;
        foreach (var entry in status.Timeline)
        {
            if (entry.Type == TimelineTypes.NodeSignal && entry.At >= since && entry.At < first)
            {
                first = entry.At;
            }
        }
        return first;
    }

    /// <summary>
    /// Why a rollout rolled back by itself, as a bounded kind, in the order the policy weighs its dangers: a node's
    /// breach, crashes past the gate, rejections past the gate, an Unhealthy verdict.
    /// </summary>
    internal static string RollbackReason(RolloutSpec spec, RolloutStatus status)
    {
        if (status.Rollback is { } rollback && rollback.By != RolloutStatus.Self)
        {
            // Not the rollout's own decision and not an abort (counted apart): an external alarm's.
            return rollback.Aborted ? "manual" : "alarm";
        }
        var k = Math.Clamp(status.CurrentWave, 0, Math.Max(0, status.Waves.Count - 1));
        var gates = k < spec.Plan.Waves.Count ? spec.Plan.Waves[k].Gates : new Domain.Plans.Gates();
        var wave = k < status.Waves.Count ? status.Waves[k] : null;
        if (status.Signals.Any(s => s.Kind == SignalKind.Breach))
        {
            return "breach";
        }
        if (status.Signals.Count(s => s.Kind == SignalKind.Crash) > gates.MaxCrashes)
        {
            return "crash";
        }
        if (Math.Max(status.Signals.Count(s => s.Kind == SignalKind.Rejected), wave?.Rejected ?? 0) > gates.MaxRejected)
        {
            return "rejected";
        }
        return wave?.Verdict is { Result: VerdictResult.Unhealthy } ? "unhealthy" : "other";
    }

    /// <summary>Why a rollout paused, as a bounded kind: a person, a freeze, or the policy (inconclusive, a stuck apply).</summary>
    internal static string PauseReason(RolloutStatus status) => status.Pause switch
    {
        Domain.Rollouts.PauseReason.Frozen => "freeze",
        Domain.Rollouts.PauseReason.ApplyDeadline => "apply-deadline",
        Domain.Rollouts.PauseReason.Inconclusive => "inconclusive",
        Domain.Rollouts.PauseReason.Manual => "manual",
        Domain.Alarms.AlarmPause => "alarm",
        _ => "other",
    };

    private static string ResultOf(VerdictResult result) => result switch
    {
        VerdictResult.Healthy => "healthy",
        VerdictResult.Unhealthy => "unhealthy",
        _ => "inconclusive",
    };
}
