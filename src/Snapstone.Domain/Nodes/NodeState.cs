using Snapstone.Domain.Drift;
using Snapstone.Domain.Plans;

namespace Snapstone.Domain.Nodes;

/// <summary>The package a rollout (or rollback) told this node to run for one unit.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Assignment")]
public sealed record Assignment(
    [property: Id(0)] DesiredPackage Package,
    [property: Id(1)] string? Rollout,
    [property: Id(2)] DateTimeOffset At,
    /// <summary>The gates this node's own health is checked against while the rollout is live; null after a rollback.</summary>
    [property: Id(3)] Gates? Gates = null,
    /// <summary>The package the rollout replaces, where the node goes back at once if it crashes on this one.</summary>
    [property: Id(4)] DesiredPackage? Previous = null);

[GenerateSerializer, Immutable, Alias("snapstone.AppliedRecord")]
public sealed record AppliedRecord([property: Id(0)] AppliedPackage Package, [property: Id(1)] DateTimeOffset Since);

/// <summary>What a node grain stores (one table row per node).</summary>
[GenerateSerializer, Alias("snapstone.NodeState")]
public sealed class NodeState
{
    [Id(0)] public NodeIdentity? Identity { get; set; }
    [Id(1)] public DateTimeOffset FirstSeenAt { get; set; }
    /// <summary>What the node last reported running, per unit. Written behind: the node says it again in its next report.</summary>
    [Id(2)] public Dictionary<string, AppliedRecord> Applied { get; set; } = [];
    // Id 3 held the node's assignments; they live in memory now, recovered from the PoP's order ledger.
    [Id(4)] public NodeDriftState Drift { get; set; } = new();
    /// <summary>
    /// Unit → the rollout and package whose wave the node joined after it was assigned (it enrolled, was re-enrolled
    /// or came back into its PoP since). The node runs that package like the rest of the wave, but gives no evidence
    /// about it (no crashes, rejections or traffic): anyone with an agent token could enrol such a node.
    /// </summary>
    /// <remarks>Null until the node joins a wave late, as almost none do: an empty dictionary per node is memory for nothing.</remarks>
    [Id(5)] public Dictionary<string, LateOrder>? JoinedLate { get; set; }
    /// <summary>Audit intents of operator enrolments, stored with the identity they set; null while there are none.</summary>
    [Id(6)] public List<Audit.AuditIntent>? Outbox { get; set; }
}

/// <summary>A wave order a node took when it joined its PoP, after the wave went out.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.LateOrder")]
public sealed record LateOrder([property: Id(0)] string Rollout, [property: Id(1)] DesiredPackage Package);

/// <summary>A node's drift bookkeeping, persisted with the rest of its state.</summary>
[GenerateSerializer, Alias("snapstone.NodeDriftState")]
public sealed class NodeDriftState
{
    /// <summary>Unit → since when applied has differed from desired, and the attempts since the grace ended.</summary>
    [Id(0)] public Dictionary<string, DriftMark> Marks { get; set; } = [];
    /// <summary>Written with the node's other writes, not on every report: good enough to tell a silent node after a restart.</summary>
    [Id(1)] public DateTimeOffset? LastReportAt { get; set; }
    [Id(2)] public double IntervalSeconds { get; set; } = 1;
    /// <summary>Assignments that arrived while the node was excluded for their unit: taken once it converges, dropped by a rollback.</summary>
    [Id(3)] public Dictionary<string, Assignment> Deferred { get; set; } = [];
}
