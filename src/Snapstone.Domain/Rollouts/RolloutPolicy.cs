using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Rollouts;

/// <summary>
/// The rollout's brain, level-triggered: every tick re-derives the next step from the persisted status alone,
/// so a restarted silo continues exactly where the last write left off, never skipping or repeating a wave.
/// </summary>
/// <remarks>
/// A tick in the grain:
/// <code>
/// var conditions = RolloutConditions.Of(await FreezesOf(spec.Unit));
/// var d = RolloutPolicy.Decide(spec, status, conditions, null, now, settings);
/// if (d is RolloutDecision.Observe o) d = RolloutPolicy.Decide(spec, status, conditions, await ObserveAsync(o.Wave), now, settings);
/// if (d.Changed) await PersistAsync(d.Status);
/// then act on d (assign, roll back, notify, schedule the next tick at Wait.Until) ...
/// </code>
/// Phases of the current wave:
/// <list type="bullet">
/// <item>pending → <see cref="RolloutDecision.AwaitApproval"/> when the wave requires approval and has none, else <see cref="RolloutDecision.Assign"/>;</item>
/// <item>applying → until <c>ceil(targeted × minReportingFraction)</c> nodes run the package, then baking; past
/// <see cref="RolloutSettings.ApplyDeadline"/> → <see cref="RolloutDecision.Pause"/> naming the unconverged nodes;</item>
/// <item>baking → <see cref="RolloutDecision.Wait"/> until the bake ends, then the verdict: Healthy → <see cref="RolloutDecision.Advance"/>
/// (or <see cref="RolloutDecision.Complete"/> after the last wave); Unhealthy → <see cref="RolloutDecision.Rollback"/>;
/// Inconclusive → wait up to <see cref="RolloutSettings.GraceFor"/>, then pause. Inconclusive never advances.</item>
/// </list>
/// At any point once a node was touched, even paused, frozen or awaiting approval: hard node signals beyond the gates,
/// rejections beyond the gate or an Unhealthy verdict → Rollback at once, without waiting for the bake.
/// <para>
/// Conditions are inputs, re-derived every tick, never remembered as a pause someone must undo: a freeze that
/// applies to the unit pauses the rollout (<see cref="PauseReason.Frozen"/>), and once no freeze applies a rollout
/// paused by one moves again by itself (<see cref="RolloutDecision.Resume"/>). A person's pause
/// (<see cref="PauseReason.Manual"/>) is never lifted by a freeze ending. A freeze never holds a rollback, and an
/// emergency deploy (<see cref="RolloutSpec.BreakGlass"/>) does not heed freezes. With the conditions unknown
/// (<see cref="RolloutConditions.Known"/> false) no forward step is taken.
/// </para>
/// </remarks>
public static class RolloutPolicy
{
    /// <param name="lookedAt">When the grain last looked at the current wave (null: not yet); a baking wave is looked at
    /// again every <see cref="RolloutSettings.LookInterval"/> before its bake ends.</param>
    public static RolloutDecision Decide(RolloutSpec spec, RolloutStatus status, RolloutConditions conditions, WaveObservation? observation,
        DateTimeOffset now, RolloutSettings settings, DateTimeOffset? lookedAt = null)
    {
        var weighed = status.IsTerminal || status.State == RolloutState.RollingBack || observation is not { Breaches.Count: > 0 } look || look.Wave != status.CurrentWave
            ? status
            : status.BreachesSetAside(look.Breaches, now);
        var decision = DecideNow(spec, weighed, conditions, observation, now, settings, lookedAt);
        if (decision is RolloutDecision.Wait { Until: var until } wait && lookedAt is { } looked && observation is null &&
            HasBreaches(weighed) && !weighed.IsTerminal)
        {
            // A breach that came in just after a look is weighed at the next one, a second after it at the latest.
            decision = wait with { Until = Earlier(until ?? looked + BreachLookSpacing, looked + BreachLookSpacing) };
        }
        return ReferenceEquals(weighed, status) || decision.Changed ? decision : decision with { Changed = true };
    }

    private static RolloutDecision DecideNow(RolloutSpec spec, RolloutStatus status, RolloutConditions conditions, WaveObservation? observation,
        DateTimeOffset now, RolloutSettings settings, DateTimeOffset? lookedAt)
    {
        if (status.IsTerminal)
        {
            return Same(status, new RolloutDecision.Wait(null) { Status = status });
        }
        if (status.State == RolloutState.RollingBack)
        {
            return DecideRollback(status, observation?.Wave == WaveObservation.Rollback ? observation : null, now, settings);
        }

        var plan = spec.Plan;
        if (status.Waves.Count != plan.Waves.Count || status.CurrentWave < 0 || status.CurrentWave >= plan.Waves.Count)
        {
            return status.State == RolloutState.Paused
                ? new RolloutDecision.Wait(null) { Status = status }
                : Pause(status, new PauseReason.Inconsistent(status.Waves.Count, status.CurrentWave, plan.Waves.Count), now);
        }

        var k = status.CurrentWave;
        var waveSpec = plan.Waves[k];
        var wave = status.Waves[k];
        var seen = observation?.Wave == k ? observation : null;

        // A node's breach is weighed against the control at the same moments before it may act on its own: look now.
        if (seen is null && status.TouchedThrough >= 0 && HasBreaches(status) &&
            (lookedAt is not { } looked || now - looked >= BreachLookSpacing))
        {
            return new RolloutDecision.Observe(k) { Status = status };
        }

        if (status.TouchedThrough >= 0 && Danger(status, waveSpec, seen) is { } danger &&
            Enforced(status, k, waveSpec, danger.Reason, danger.Verdict, now) is { } enforced)
        {
            return enforced;
        }
        if (!spec.BreakGlass && Conditioned(spec, status, conditions, now, settings) is { } held)
        {
            return held;
        }
        if (status.State is RolloutState.Paused or RolloutState.AwaitingApproval)
        {
            return new RolloutDecision.Wait(null) { Status = status };
        }

        switch (wave.State)
        {
            case WaveState.Pending:
                if (waveSpec.RequiresApproval && wave.ApprovedBy is null)
                {
                    var waiting = status.AwaitingApproval(k, spec, now);
                    return new RolloutDecision.AwaitApproval(k) { Status = waiting, Changed = true };
                }
                return new RolloutDecision.Assign(k) { Status = status.WaveStarted(k, now), Changed = true };

            case WaveState.Applying:
                return DecideApplying(status, k, waveSpec, wave, seen, now, settings);

            case WaveState.Baking:
                return DecideBaking(status, k, plan, waveSpec, wave, seen, now, settings, lookedAt);

            case WaveState.Passed:
                // Only reachable from a hand-edited status: passing a wave moves CurrentWave in the same write.
                return k == plan.Waves.Count - 1
                    ? new RolloutDecision.Complete { Status = status.Completed(k, wave.Verdict ?? PassedWithout(), now), Changed = true }
                    : new RolloutDecision.Advance(k, k + 1) { Status = status.WavePassed(k, wave.Verdict ?? PassedWithout(), now), Changed = true };

            default:
                return Rollback(status, $"wave '{wave.Name}' failed", wave.Verdict, now);
        }
    }

    private static RolloutDecision DecideApplying(RolloutStatus status, int k, WaveSpec spec, WaveStatus wave, WaveObservation? seen,
        DateTimeOffset now, RolloutSettings settings)
    {
        if (wave.AssignedAt is null)
        {
            return new RolloutDecision.Assign(k) { Status = status };
        }
        if (seen is null)
        {
            return new RolloutDecision.Observe(k) { Status = status };
        }
        var counted = status.WithCounts(k, seen, now);
        var targeted = Math.Max(0, seen.Targeted);
        var required = HealthPolicy.RequiredReporting(targeted, spec.Gates.MinReportingFraction);
        if (targeted == 0)
        {
            var empty = new Verdict(VerdictResult.Healthy, ["no nodes selected: an empty wave adds no risk"]);
            return Pass(counted, k, status.Waves.Count, empty, now);
        }
        if (seen.Applied >= required)
        {
            var baking = counted.BakeStarted(k, now.AddSeconds(Math.Max(0, spec.BakeSeconds)), now);
            return new RolloutDecision.Wait(baking.Waves[k].BakeUntil) { Status = baking, Changed = true };
        }
        var from = Later(wave.StartedAt ?? now, status.ResumedAt);
        var deadline = from + settings.ApplyDeadline;
        if (now >= deadline)
        {
            return Pause(counted, new PauseReason.ApplyDeadline(wave.Name, targeted, Math.Clamp(seen.Applied, 0, targeted), Math.Max(0, seen.Rejected),
                required, now - from, [.. (seen.Unconverged ?? []).Where(n => !string.IsNullOrEmpty(n)).Distinct(StringComparer.Ordinal).Take(WaveObservation.MaxNamed)]), now);
        }
        return Same(status, new RolloutDecision.Wait(Earlier(now + settings.PollInterval, deadline)) { Status = counted });
    }

    private static RolloutDecision DecideBaking(RolloutStatus status, int k, Plan plan, WaveSpec spec, WaveStatus wave, WaveObservation? seen,
        DateTimeOffset now, RolloutSettings settings, DateTimeOffset? lookedAt)
    {
        var counted = seen is null ? status : status.WithCounts(k, seen, now);
        var bakeUntil = wave.BakeUntil ?? now;
        if (now < bakeUntil)
        {
            // A look before the bake ends: an Unhealthy one acted on above (Danger); anything else waits the bake out.
            if (seen is null && settings.LookInterval > TimeSpan.Zero && (lookedAt is not { } last || now - last >= settings.LookInterval))
            {
                return new RolloutDecision.Observe(k) { Status = status };
            }
            var next = settings.LookInterval > TimeSpan.Zero ? Earlier(bakeUntil, (lookedAt ?? now) + settings.LookInterval) : bakeUntil;
            return Same(status, new RolloutDecision.Wait(next) { Status = counted });
        }
        if (seen?.Verdict is not { } verdict)
        {
            return new RolloutDecision.Observe(k) { Status = status };
        }
        switch (Enforcement.Act(spec, verdict.Result, bakeOver: true))
        {
            case VerdictAction.Advance when k == plan.Waves.Count - 1 && plan.FinalBakeSeconds > 0 && status.FinalBakeUntil is null:
                var until = now.AddSeconds(plan.FinalBakeSeconds);
                return new RolloutDecision.Wait(Earlier(until, now + settings.PollInterval)) { Status = counted.FinalBakeStarted(k, verdict, until, now), Changed = true };
            case VerdictAction.Advance:
                return Pass(counted, k, plan.Waves.Count, verdict, now);
            case VerdictAction.Rollback or VerdictAction.Pause:
                return Enforced(counted, k, spec, Unhealthy(wave, verdict), verdict, now) ?? new RolloutDecision.Wait(null) { Status = counted };
        }
        var grace = settings.GraceFor(spec);
        if (status.InconclusiveSince is not { } since)
        {
            var noted = counted.InconclusiveNoted(k, verdict, grace, now);
            return new RolloutDecision.Wait(Earlier(now + settings.PollInterval, now + grace)) { Status = noted, Changed = true };
        }
        if (now >= since + grace)
        {
            return Pause(counted with { Waves = WithVerdict(counted.Waves, k, verdict) },
                new PauseReason.Inconclusive(wave.Name, now - since, grace, RolloutStatus.Summary(verdict)), now);
        }
        return Same(status, new RolloutDecision.Wait(Earlier(now + settings.PollInterval, since + grace)) { Status = counted });
    }

    private static RolloutDecision DecideRollback(RolloutStatus status, WaveObservation? seen, DateTimeOffset now, RolloutSettings settings)
    {
        var rollback = status.Rollback!;
        if (rollback.AssignedAt is null)
        {
            return new RolloutDecision.Rollback(rollback.Reason, rollback.ThroughWave) { Status = status };
        }
        if (rollback.Targeted == 0 && seen is null)
        {
            return Finish(status, 0, 0, now);
        }
        if (seen is null)
        {
            return new RolloutDecision.Observe(WaveObservation.Rollback) { Status = status };
        }
        var targeted = Math.Max(0, seen.Targeted);
        if (seen.Applied >= targeted)
        {
            return Finish(status, targeted, seen.Applied, now);
        }
        var deadline = rollback.AssignedAt.Value + settings.RollbackDeadline;
        if (now >= deadline)
        {
            var missing = targeted - Math.Max(0, seen.Applied);
            var unconfirmed = $"{missing} of {targeted} node(s) did not confirm the previous package within {RolloutStatus.Duration(now - rollback.AssignedAt.Value)}" +
                              Naming(seen.Unconverged, missing, "not confirmed") + "; they stay told to run it, and /v1/drift lists them until they do";
            var done = status.RollbackFinished(targeted, seen.Applied, now, unconfirmed);
            return new RolloutDecision.FinishRollback(done.State) { Status = done, Changed = true };
        }
        return Same(status, new RolloutDecision.Wait(Earlier(now + settings.PollInterval, deadline)) { Status = status.RollbackProgress(targeted, seen.Applied, now) });
    }

    /// <summary>How soon after a look a breach signal makes the rollout look again to weigh it: at most once a second.</summary>
    public static readonly TimeSpan BreachLookSpacing = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether a breach rolls back on its own: only once a look weighed it confirmed (the node significantly worse than
    /// the control at the same moments, or nothing to weigh it against), or when the look had no sample of its node.
    /// Ambient (the control as bad: an upstream disturbance) and unconfirmed breaches are left to the verdict; without
    /// a look yet it waits for one (at most <see cref="BreachLookSpacing"/>).
    /// </summary>
    private static bool Stands(NodeSignal breach, WaveObservation? seen) =>
        seen is not null && (WeighingOf(breach, seen) is not { } weighed || weighed.Check.Acts);

    private static string Weighed(NodeSignal breach, WaveObservation? seen) =>
        WeighingOf(breach, seen) is { } weighed ? $"{breach.Reason}; weighed: {FindingText.Render(weighed.Check.Finding)}" : breach.Reason;

    /// <summary>How <paramref name="seen"/> weighed <paramref name="breach"/>; null without a look, or when the look had no sample of its node.</summary>
    private static WeighedBreach? WeighingOf(NodeSignal breach, WaveObservation? seen) =>
        seen?.Breaches.FirstOrDefault(b => b.Node == breach.NodeId);

    private static bool HasBreaches(RolloutStatus status) => status.Signals.Any(s => s.Kind == SignalKind.Breach);

    /// <summary>Why the rollout must roll back now, if it must: node signals, rejections or an Unhealthy verdict.</summary>
    private static (string Reason, Verdict? Verdict)? Danger(RolloutStatus status, WaveSpec spec, WaveObservation? seen)
    {
        var gates = spec.Gates;
        var breaches = status.Signals.Where(s => s.Kind == SignalKind.Breach && Stands(s, seen)).ToList();
        if (breaches.Count > 0)
        {
            return (More(Weighed(breaches[0], seen), breaches.Count - 1, "breached"), null);
        }
        var crashed = status.Signals.Where(s => s.Kind == SignalKind.Crash).ToList();
        if (crashed.Count > gates.MaxCrashes)
        {
            return ($"{crashed.Count} node(s) crashed > max {gates.MaxCrashes}: {More(crashed[0].Reason, crashed.Count - 1, "crashed")}", null);
        }
        var rejected = Math.Max(status.Signals.Count(s => s.Kind == SignalKind.Rejected), seen?.Rejected ?? 0);
        if (rejected > gates.MaxRejected)
        {
            return ($"{rejected} node(s) rejected the package > max {gates.MaxRejected}", null);
        }
        if (seen?.Verdict is { Result: VerdictResult.Unhealthy } verdict)
        {
            return (Unhealthy(status.Waves[status.CurrentWave], verdict), verdict);
        }
        return null;
    }

    /// <summary>
    /// What a failure of wave <paramref name="k"/> makes the rollout do, by its mode and <c>onFailure</c>
    /// (<see cref="Enforcement"/>): roll back; pause with the failure (once: a paused rollout stays as it is); or, on a
    /// report-only wave, record once what would have failed it and go on. Null: nothing to do now, decide on.
    /// </summary>
    private static RolloutDecision? Enforced(RolloutStatus status, int k, WaveSpec spec, string reason, Verdict? verdict, DateTimeOffset now)
    {
        switch (Enforcement.Act(spec, VerdictResult.Unhealthy, bakeOver: false))
        {
            case VerdictAction.Rollback:
                return Rollback(status, reason, verdict, now);
            case VerdictAction.Pause:
                return status.State == RolloutState.Paused
                    ? null
                    : Pause(verdict is null ? status : status with { Waves = WithVerdict(status.Waves, k, verdict) }, new PauseReason.Failed(status.Waves[k].Name, reason), now);
            default:
                return status.Waves[k].WouldHaveFailed is null
                    ? new RolloutDecision.Wait(now) { Status = status.WouldHaveFailed(k, reason, verdict, now), Changed = true }
                    : null;
        }
    }

    private static RolloutDecision Pass(RolloutStatus status, int k, int waves, Verdict verdict, DateTimeOffset now) =>
        k == waves - 1
            ? new RolloutDecision.Complete { Status = status.Completed(k, verdict, now), Changed = true }
            : new RolloutDecision.Advance(k, k + 1) { Status = status.WavePassed(k, verdict, now), Changed = true };

    private static RolloutDecision Rollback(RolloutStatus status, string reason, Verdict? verdict, DateTimeOffset now)
    {
        var next = status.RollbackStarted(reason, RolloutStatus.Self, aborted: false, verdict, now);
        return new RolloutDecision.Rollback(reason, next.Rollback!.ThroughWave) { Status = next, Changed = true };
    }

    private static RolloutDecision Pause(RolloutStatus status, PauseReason reason, DateTimeOffset now) =>
        new RolloutDecision.Pause(reason) { Status = status.Paused(reason, now), Changed = true };

    /// <summary>
    /// The decision the conditions force, if they force one: wait when they are unknown, pause for a freeze that
    /// applies (a rollout already paused stays as it is until the freeze ends, or for ever when a person paused it),
    /// resume a rollout paused by a freeze that no longer applies.
    /// </summary>
    private static RolloutDecision? Conditioned(RolloutSpec spec, RolloutStatus status, RolloutConditions conditions, DateTimeOffset now, RolloutSettings settings)
    {
        if (!conditions.Known)
        {
            return new RolloutDecision.Wait(now + settings.PollInterval) { Status = status };
        }
        var freeze = conditions.FreezeOf(spec.Unit, now);
        if (freeze is not null)
        {
            return status.State == RolloutState.Paused
                ? new RolloutDecision.Wait(freeze.Until) { Status = status }
                : Pause(status, new PauseReason.Frozen(freeze), now);
        }
        if (status is { State: RolloutState.Paused, Pause: PauseReason.Frozen frozen })
        {
            return new RolloutDecision.Resume { Status = status.Thawed(frozen.Freeze, now), Changed = true };
        }
        return null;
    }

    private static RolloutDecision Finish(RolloutStatus status, int targeted, int confirmed, DateTimeOffset now)
    {
        var done = status.RollbackFinished(targeted, confirmed, now);
        return new RolloutDecision.FinishRollback(done.State) { Status = done, Changed = true };
    }

    /// <summary>Marks whether the decision's status is a new one.</summary>
    private static RolloutDecision Same(RolloutStatus before, RolloutDecision decision) =>
        decision with { Changed = !ReferenceEquals(before, decision.Status) };

    private static IReadOnlyList<WaveStatus> WithVerdict(IReadOnlyList<WaveStatus> waves, int k, Verdict verdict)
    {
        var copy = waves.ToArray();
        copy[k] = copy[k] with { Verdict = verdict };
        return copy;
    }

    private static string Unhealthy(WaveStatus wave, Verdict verdict) => $"wave '{wave.Name}' unhealthy: {RolloutStatus.Summary(verdict)}";

    private static string More(string first, int more, string what) => more > 0 ? $"{first} (and {more} more node(s) {what})" : first;

    private static Verdict PassedWithout() => new(VerdictResult.Healthy, ["passed"]);

    private static DateTimeOffset Later(DateTimeOffset a, DateTimeOffset? b) => b is { } v && v > a ? v : a;

    private static DateTimeOffset Earlier(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    /// <summary><c>; not converged: n-1, n-2 and 3 more</c> for 5 missing nodes of which 2 are named; empty when none is named.</summary>
    internal static string Naming(IReadOnlyList<string>? named, int missing, string what = "not converged")
    {
        var shown = (named ?? []).Where(n => !string.IsNullOrEmpty(n)).Distinct(StringComparer.Ordinal).Take(WaveObservation.MaxNamed).ToList();
        if (shown.Count == 0)
        {
            return "";
        }
        var more = missing - shown.Count;
        return $"; {what}: {string.Join(", ", shown)}" + (more > 0 ? $" and {more} more" : "");
    }
}
