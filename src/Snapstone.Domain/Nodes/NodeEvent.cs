using Snapstone.Domain.Drift;
using Snapstone.Domain.Health;

namespace Snapstone.Domain.Nodes;

/// <summary>
/// Something a <see cref="Node"/> decided that its grain must act on or tell: a signal to push to a rollout, a
/// transition to log and count. The node decides; the grain sends, logs and counts (<see cref="NodeChanges"/>).
/// </summary>
public abstract record NodeEvent
{
    /// <summary>The node crashed on, rejected or breached a live rollout's package: tell the rollout at once (once per kind and activation).</summary>
    public sealed record Signalled(string Rollout, NodeSignal Signal) : NodeEvent;

    /// <summary>
    /// The node joined after the rollout's wave was assigned: its crash, rejection or breach sends nothing to the
    /// rollout (once per kind and activation), though a crash still sends the node itself back.
    /// </summary>
    public sealed record Withheld(string Rollout, NodeSignal Signal) : NodeEvent;

    /// <summary>The node crashed on a rollout's package and goes back to <paramref name="To"/> at once, ahead of the rollout's decision for everyone else.</summary>
    public sealed record SentBack(string Unit, string Rollout, DesiredPackage To, NodeSignal Signal) : NodeEvent;

    /// <summary>A rollback reached the node: it runs <paramref name="To"/> again (null: no assignment, it follows the LKG).</summary>
    public sealed record Returned(string Unit, string Rollout, DesiredPackage? To) : NodeEvent;

    /// <summary>A wave assignment arrived while the node is excluded for its unit: it waits until the node converges.</summary>
    public sealed record Deferred(string Unit, Assignment Assignment) : NodeEvent;

    /// <summary>The node converged and takes the assignment it deferred.</summary>
    public sealed record TookDeferred(string Unit, Assignment Assignment) : NodeEvent;

    /// <summary>The node drifted past its remediation attempts for the unit and is excluded for it.</summary>
    public sealed record Excluded(string Unit, DriftMark Mark) : NodeEvent;

    /// <summary>An excluded node converged (<paramref name="Mark"/> null) or was told to run another package.</summary>
    public sealed record Readmitted(string Unit, DriftMark? Mark) : NodeEvent;
}

/// <summary>
/// What a <see cref="Node"/> changed since its grain last asked (<see cref="Node.Drain"/>): whether the stored state
/// must be written behind, whether what the node runs changed (written with the next write), whether its
/// assignments changed (a long-poll wakes), and its events in order. Nothing allocated when nothing happened.
/// </summary>
public readonly record struct NodeChanges(bool WriteBehind, bool AppliedChanged, bool AssignmentsChanged, IReadOnlyList<NodeEvent>? Events)
{
    public IReadOnlyList<NodeEvent> All => Events ?? [];
}
