using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;

namespace Snapstone.Grains;

// The messages of the cluster's own contracts (see Grains.cs here). Their aliases are the ones they had in
// Snapstone.Abstractions, so stored state (a PoP's ledger holds wave orders) reads back unchanged.

/// <summary>A wave's instructions as the rollout sends them to each PoP.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.WaveOrder")]
public sealed record WaveOrder
{
    [Id(0)] public required string Rollout { get; init; }
    [Id(1)] public required string Unit { get; init; }
    [Id(2)] public required DesiredPackage Package { get; init; }
    [Id(3)] public DesiredPackage? Previous { get; init; }
    [Id(4)] public required Plan Plan { get; init; }
    /// <summary>The wave to assign or observe; for a rollback, the last wave whose nodes were touched.</summary>
    [Id(5)] public required int Wave { get; init; }
    [Id(6)] public required UnitTargets Targets { get; init; }
    [Id(7)] public required string Salt { get; init; }
    /// <summary>When the rollout was created; a PoP whose ledger holds a later break-glass return for the unit ignores the order.</summary>
    [Id(8)] public DateTimeOffset Created { get; init; }

    /// <summary>Control nodes each PoP samples for this wave's verdict (<see cref="Domain.Health.ControlBudget"/>); 0 from an order stored before there was a budget.</summary>
    [Id(9)] public int ControlSamples { get; init; }

    public Gates Gates => Plan.Waves[Math.Clamp(Wave, 0, Plan.Waves.Count - 1)].Gates;
}

/// <summary>One PoP's answer to a wave's assignment: its consumers in the cohort through the wave, and how many of them were told just now (their first wave is this one).</summary>
[GenerateSerializer, Immutable, Alias("snapstone.WaveAssignment")]
public sealed record WaveAssignment([property: Id(0)] int Cohort, [property: Id(1)] int Told);

/// <summary>One PoP's evidence about a wave: the cohort's counts and samples, and the control group's samples.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.WaveEvidence")]
public sealed record WaveEvidence
{
    /// <summary>The PoP's consumers whose first wave is at most the wave observed.</summary>
    [Id(0)] public int Cohort { get; init; }
    /// <summary>Of those, nodes reporting the package.</summary>
    [Id(1)] public int Applied { get; init; }
    /// <summary>Of those, nodes that refused it.</summary>
    [Id(2)] public int Rejected { get; init; }
    [Id(3)] public IReadOnlyList<NodeSample> CohortSamples { get; init; } = [];
    /// <summary>Consumers still on the previous package (sampled): what the cohort is compared with.</summary>
    [Id(4)] public IReadOnlyList<NodeSample> ControlSamples { get; init; } = [];
    /// <summary>Some cohort nodes that do not run the package (at most <see cref="WaveObservation.MaxNamed"/>), by id.</summary>
    [Id(5)] public IReadOnlyList<string> Unconverged { get; init; } = [];
    /// <summary>
    /// The nodes (cohort and sampled control) the PoP called for this look; the rest gave their observation as they
    /// last reported (<see cref="PushedObservation"/>).
    /// </summary>
    [Id(6)] public int Called { get; init; }
}

/// <summary>One PoP's part of sending nodes back: how many it told to return, and how many of them were running the package taken back.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RollbackSent")]
public sealed record RollbackSent([property: Id(0)] int Returned, [property: Id(1)] int Ran);

/// <summary>One PoP's confirmations of a return: nodes sent back, how many report the package they were sent back to, and some that do not yet.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RollbackConfirmations")]
public sealed record RollbackConfirmations
{
    [Id(0)] public int Returned { get; init; }
    [Id(1)] public int Confirmed { get; init; }
    /// <summary>At most <see cref="WaveObservation.MaxNamed"/> of the nodes that have not confirmed, by id.</summary>
    [Id(2)] public IReadOnlyList<string> Unconfirmed { get; init; } = [];
}

/// <summary>
/// Break-glass: every consumer of <see cref="Unit"/> to run <see cref="To"/> at once (null: no package of it), no waves.
/// <see cref="From"/> is the version taken back, so the PoP can count the nodes that were running it.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.UnitReturn")]
public sealed record UnitReturn
{
    /// <summary>The break-glass action that orders it.</summary>
    [Id(0)] public required string Action { get; init; }
    [Id(1)] public required string Unit { get; init; }
    [Id(2)] public DesiredPackage? To { get; init; }
    [Id(3)] public DesiredPackage? From { get; init; }
    [Id(4)] public required UnitTargets Targets { get; init; }
    /// <summary>When break-glass ordered it: wave orders and rollbacks of rollouts created before this are ignored for the unit from then on.</summary>
    [Id(5)] public DateTimeOffset At { get; init; }
}

/// <summary>The package a rollout told a node to run, with the gates its own health is checked against.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeAssignment")]
public sealed record NodeAssignment(
    [property: Id(0)] string Rollout,
    [property: Id(1)] string Unit,
    [property: Id(2)] DesiredPackage Package,
    [property: Id(3)] Gates Gates,
    /// <summary>The package the rollout replaces: where a node that crashes on the new one goes back at once.</summary>
    [property: Id(4)] DesiredPackage? Previous = null);

/// <summary>
/// One unit's entry in a PoP's order ledger as it concerns one node: the assignment it holds
/// (<see cref="Assignment"/>), or the package a rollback sent it back to (<see cref="ReturnedTo"/>; both
/// null: the rollback dropped its assignment and it follows the LKG).
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeOrder")]
public sealed record NodeOrder(
    [property: Id(0)] string Rollout,
    [property: Id(1)] string Unit,
    [property: Id(2)] NodeAssignment? Assignment,
    [property: Id(3)] DesiredPackage? ReturnedTo);

/// <summary>A node's answer when a rollout looks at it.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NodeObservation")]
public sealed record NodeObservation(
    [property: Id(0)] NodeSample Sample,
    /// <summary>The node reports running exactly the package it was asked about.</summary>
    [property: Id(1)] bool On,
    [property: Id(2)] bool Rejected);

/// <summary>
/// A node's observation of one unit's package as of one of its reports, pushed to its PoP while the PoP watches that
/// package (<see cref="IPopFanOutGrain.Observed"/>), so a rollout's tick reads it from the PoP's memory.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.PushedObservation")]
public sealed record PushedObservation(
    [property: Id(0)] string Unit,
    [property: Id(1)] DesiredPackage Package,
    [property: Id(2)] NodeObservation Observation,
    /// <summary>When the node made it (its report's time): a PoP keeps the latest.</summary>
    [property: Id(3)] DateTimeOffset At);

/// <summary>What the unit grant a new rollout: the package, the one to return to, and who consumes the unit.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutTicket")]
public sealed record RolloutTicket(
    [property: Id(0)] DesiredPackage Package,
    [property: Id(1)] DesiredPackage? Previous,
    [property: Id(2)] UnitTargets Targets,
    [property: Id(3)] Snapstone.Domain.Risk.RiskAssessment Risk)
{
    /// <summary>The spec of the rollout this ticket was granted to: the ticket's package and the one to return to.</summary>
    public RolloutSpec Spec(string id, string unit, long version, (Plan Plan, string Name) plan, string reason, string actor, IReadOnlyList<string> notes) => new()
    {
        Id = id,
        Unit = unit,
        Version = version,
        Sha256 = Package.Sha256,
        PreviousVersion = Previous?.Version,
        PreviousSha256 = Previous?.Sha256,
        Plan = plan.Plan,
        PlanName = plan.Name,
        Reason = reason,
        CreatedBy = actor,
        Notes = notes,
    };
}

/// <summary>What the unit decided for a break-glass rollback: every consumer to <see cref="To"/>, the version taken back, the rollout to stop.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.BreakGlassReturn")]
public sealed record BreakGlassReturn
{
    [Id(0)] public required UnitReturn Return { get; init; }
    [Id(1)] public IReadOnlyList<long> Quarantined { get; init; } = [];
    [Id(2)] public string? StopRollout { get; init; }
}

/// <summary>One event to deliver.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.WebhookEvent")]
public sealed record WebhookEvent(
    [property: Id(0)] string Id,
    [property: Id(1)] string Type,
    [property: Id(2)] DateTimeOffset At,
    [property: Id(3)] string PayloadJson);

[GenerateSerializer, Immutable, Alias("snapstone.DeliveryStatus")]
public sealed record DeliveryStatus(
    [property: Id(0)] string Webhook,
    [property: Id(1)] string EventId,
    [property: Id(2)] int Attempts,
    [property: Id(3)] bool Delivered,
    [property: Id(4)] string? LastError,
    [property: Id(5)] DateTimeOffset? NextAttemptAt,
    [property: Id(6)] DeliveryOutcome Outcome = DeliveryOutcome.Pending);

/// <summary>Where a delivery stands. Only <see cref="Pending"/> is ever attempted again.</summary>
public enum DeliveryOutcome
{
    Pending,
    Delivered,
    /// <summary>Refused for good (4xx, a redirect, an inward destination), or every attempt used up.</summary>
    Failed,
    /// <summary>Its receiver was deleted before it was delivered: not sent.</summary>
    Dropped,
    /// <summary>Still undelivered a day after its event (a receiver whose circuit never closed).</summary>
    Expired,
}

/// <summary>Which registry holds a delivery's receiver.</summary>
public enum ReceiverRegistry
{
    Webhooks,
    Notifications,
}

/// <summary>
/// The receiver a delivery is for, by reference only: its url and secret are read from the registry at each
/// attempt, so a delivery row never holds a secret, a rotated receiver is sent to with its new url and secret, and a
/// deleted one (or one deleted and defined again: another <paramref name="Incarnation"/>) is not sent to at all.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.DeliveryReceiver")]
public sealed record DeliveryReceiver(
    [property: Id(0)] ReceiverRegistry Registry,
    [property: Id(1)] string Name,
    [property: Id(2)] string Incarnation)
{
    /// <summary>The key of the receiver's circuit breaker: <c>webhook/{name}</c> or <c>notification/{name}</c>.</summary>
    public string CircuitKey => ReceiverCircuits.Key(Registry == ReceiverRegistry.Webhooks ? ReceiverCircuits.Webhook : ReceiverCircuits.Notification, Name);
}

/// <summary>
/// A receiver's current url and sealed secret, as the registry answers a delivery about to send; for a PagerDuty
/// notification also its sealed routing key, which the delivery puts into the body only as it sends it.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.DeliveryTarget")]
public sealed record DeliveryTarget(
    [property: Id(0)] string Url,
    [property: Id(1)] string? SealedSecret,
    [property: Id(2)] string Incarnation,
    [property: Id(3)] string? SealedRoutingKey = null);

/// <summary>An alert as the alarm grain hands it to one rollout: with what the rollout's unit says an alarm does.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutAlarm")]
public sealed record RolloutAlarm(
    [property: Id(0)] Snapstone.Domain.Alarms.Alert Alert,
    [property: Id(1)] OnAlarm OnAlarm,
    /// <summary>The token that posted it: the actor of the audit entry.</summary>
    [property: Id(2)] string Actor);
