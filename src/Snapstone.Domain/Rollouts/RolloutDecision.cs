namespace Snapstone.Domain.Rollouts;

/// <summary>
/// The one step <see cref="RolloutPolicy.Decide"/> chose. The grain writes <see cref="Status"/> first (when
/// <see cref="Changed"/>), then performs the step's side effect. Every step is safe to repeat: after a crash
/// the persisted status yields the same step again.
/// </summary>
public abstract record RolloutDecision
{
    /// <summary>The status to persist before acting.</summary>
    public required RolloutStatus Status { get; init; }

    /// <summary>Whether <see cref="Status"/> differs from the status Decide was given.</summary>
    public bool Changed { get; init; }

    /// <summary>The wave needs a person's approval; nothing moves until <see cref="RolloutCommands.Approve"/>. Notify approvers.</summary>
    public sealed record AwaitApproval(int Wave) : RolloutDecision;

    /// <summary>
    /// Tell every node whose <see cref="WaveSelector.FirstWave"/> is <see cref="Wave"/> to run the package (idempotent),
    /// then record <see cref="RolloutStatus.WaveAssigned"/> with the cohort size and persist. Until that is
    /// recorded, Decide returns this again.
    /// </summary>
    public sealed record Assign(int Wave) : RolloutDecision;

    /// <summary>
    /// Gather a <see cref="WaveObservation"/> of <see cref="Wave"/> (counts, and the verdict from
    /// <see cref="Health.HealthPolicy.Judge"/>), or of the rollback when <see cref="Wave"/> is
    /// <see cref="WaveObservation.Rollback"/>, and call Decide again with it. With a matching observation,
    /// Decide never returns Observe.
    /// </summary>
    public sealed record Observe(int Wave) : RolloutDecision;

    /// <summary>Nothing to do before <see cref="Until"/>; null: until a command or a node signal arrives (or never, once terminal).</summary>
    public sealed record Wait(DateTimeOffset? Until) : RolloutDecision;

    /// <summary>Wave <see cref="Passed"/> passed; <see cref="Next"/> is current. Tick again: the next Decide opens it.</summary>
    public sealed record Advance(int Passed, int Next) : RolloutDecision;

    /// <summary>The last wave passed: the package is the unit's new last known good.</summary>
    public sealed record Complete : RolloutDecision;

    /// <summary>Stopped until a person resumes it (or, for a freeze, until the freeze ends); tell people why.</summary>
    public sealed record Pause(PauseReason Reason) : RolloutDecision;

    /// <summary>The freeze that paused the rollout ended: it moves again. Tick again: the next Decide takes its next step.</summary>
    public sealed record Resume : RolloutDecision;

    /// <summary>
    /// Tell every node whose FirstWave is at most <see cref="ThroughWave"/> to return to the previous package
    /// (idempotent), then record <see cref="RolloutStatus.RollbackAssigned"/> and persist; quarantine the package
    /// and open an incident. Until that is recorded, Decide returns this again.
    /// </summary>
    public sealed record Rollback(string Reason, int ThroughWave) : RolloutDecision;

    /// <summary>Every touched node confirmed the previous package: the rollout is <see cref="Outcome"/> (rolled-back or aborted).</summary>
    public sealed record FinishRollback(RolloutState Outcome) : RolloutDecision;
}
