using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Units;

namespace Snapstone;

/// <summary>
/// Freezes and the index of unfinished break-glass actions. Singleton, key <see cref="Key"/>. A freeze is recorded
/// here by its break-glass action (<see cref="IBreakGlassGrain"/>); rollouts ask <see cref="FreezeOf"/> on every tick.
/// </summary>
[Alias("snapstone.IControlGrain")]
public interface IControlGrain : IGrainWithStringKey
{
    public const string Key = "control";

    /// <summary>The freeze that stops <paramref name="unit"/> now, if any.</summary>
    [Alias("FreezeOf"), Orleans.Concurrency.AlwaysInterleave]
    Task<Freeze?> FreezeOf(string unit);

    [Alias("Freezes"), Orleans.Concurrency.AlwaysInterleave]
    Task<IReadOnlyList<Freeze>> Freezes();
}

public enum BreakGlassKind { Freeze, Lift, Rollback, Deploy }

/// <summary>
/// One break-glass action, keyed by action id (<c>bg-</c> and 16 hex digits): a freeze, a lift, an instant rollback
/// (of a rollout in flight, or of the newest completed version) or an emergency deploy. The grain owns the whole
/// sequence: each step is recorded as it is done, a reminder and the start-up sweep finish it after a crash, and the
/// incident it opens is written in the background, never waited on. A second call on the same id answers the action.
/// </summary>
[Alias("snapstone.IBreakGlassGrain")]
public interface IBreakGlassGrain : IGrainWithStringKey
{
    /// <summary>Freezes one unit (null: all): matching rollouts pause at once and new ones are refused until it is lifted or <paramref name="ttlSeconds"/> pass.</summary>
    [Alias("Freeze")]
    Task<BreakGlassView> Freeze(string? unit, string reason, int? ttlSeconds, string actor);

    /// <summary>Lifts the freeze of <paramref name="unit"/> (null: the global one); 404 when there is none.</summary>
    [Alias("Lift")]
    Task<BreakGlassView> Lift(string? unit, string actor);

    /// <summary>
    /// Every consumer of the unit back at once, no waves: from a rollout in flight to the LKG, or, with none in flight,
    /// from the newest completed version to the one before it (or to <paramref name="toVersion"/>). The version taken
    /// back is quarantined, the target becomes the LKG, and every consumer's confirmation is counted.
    /// </summary>
    [Alias("Rollback")]
    Task<BreakGlassView> Rollback(string unit, string reason, long? toVersion, string actor);

    /// <summary>Deploys past the plan, approvals, freezes and quarantine: a minimal canary, then everyone, still watched and rolled back on regression.</summary>
    [Alias("Deploy")]
    Task<BreakGlassView> Deploy(string unit, long version, string reason, string actor);

    [Alias("Get"), Orleans.Concurrency.AlwaysInterleave]
    Task<BreakGlassView?> Get();
}

/// <summary>One step of a break-glass action, as it was done.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.BreakGlassStep")]
public sealed record BreakGlassStep([property: Id(0)] DateTimeOffset At, [property: Id(1)] string Step, [property: Id(2)] string Message);

/// <summary>A break-glass action and how far it got.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.BreakGlassView")]
public sealed record BreakGlassView
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public required BreakGlassKind Kind { get; init; }
    /// <summary>The unit acted on; null for a global freeze or lift.</summary>
    [Id(2)] public string? Unit { get; init; }
    [Id(3)] public required string By { get; init; }
    [Id(4)] public string Reason { get; init; } = "";
    [Id(5)] public DateTimeOffset StartedAt { get; init; }
    /// <summary>When every step was done; null while it is under way.</summary>
    [Id(6)] public DateTimeOffset? CompletedAt { get; init; }
    /// <summary>Rollback: the package every consumer returns to (null: no package of the unit).</summary>
    [Id(7)] public DesiredPackage? Target { get; init; }
    /// <summary>Rollback: the version taken back (and quarantined).</summary>
    [Id(8)] public DesiredPackage? TakenBack { get; init; }
    [Id(9)] public IReadOnlyList<long> Quarantined { get; init; } = [];
    /// <summary>Rollback: the rollout in flight it stopped, if any.</summary>
    [Id(10)] public string? StoppedRollout { get; init; }
    /// <summary>Rollback: consumers told to return, and how many confirmed the target.</summary>
    [Id(11)] public int Targeted { get; init; }
    [Id(12)] public int Confirmed { get; init; }
    [Id(13)] public IReadOnlyList<string> Unconfirmed { get; init; } = [];
    /// <summary>Deploy: the version deployed and its rollout.</summary>
    [Id(14)] public long? Version { get; init; }
    [Id(15)] public string? Rollout { get; init; }
    /// <summary>Freeze or lift: the freeze.</summary>
    [Id(16)] public Freeze? Freeze { get; init; }
    [Id(17)] public string? Incident { get; init; }
    [Id(18)] public IReadOnlyList<BreakGlassStep> Steps { get; init; } = [];
    /// <summary>Why the action ended without doing all it set out to (a deploy whose rollout was rolled back, say).</summary>
    [Id(19)] public string? Outcome { get; init; }
}

/// <summary>One incident. Keyed by incident id.</summary>
[Alias("snapstone.IIncidentGrain")]
public interface IIncidentGrain : IGrainWithStringKey
{
    /// <summary>A person posts an update: checked, recorded with its audit entry. 404 for an incident never opened, 409 for a resolved one.</summary>
    [Alias("Post")]
    Task<Incident> Post(IncidentStatus status, string? message, string actor);

    [Alias("Get"), Orleans.Concurrency.AlwaysInterleave]
    Task<Incident?> Get();
}

/// <summary>The list of incidents, newest first, for the status page: every open one and the newest others. Key <see cref="Key"/>.</summary>
[Alias("snapstone.IIncidentIndexGrain")]
public interface IIncidentIndexGrain : IGrainWithStringKey
{
    public const string Key = "incidents";

    [Alias("List")]
    Task<IReadOnlyList<Incident>> List();
}

/// <summary>A receiver of Snapstone's events.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Webhook")]
public sealed record Webhook
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public required string Url { get; init; }
    /// <summary>Event types, e.g. <c>incident.opened</c>; <c>*</c> for all.</summary>
    [Id(2)] public required IReadOnlyList<string> Events { get; init; }
    [Id(3)] public required string Secret { get; init; }
    [Id(4)] public string UpdatedBy { get; init; } = "";

    public bool Wants(string type) => Events.Contains("*") || Events.Contains(type);
}

/// <summary>The configured webhooks, and the fan-out of events to them. Singleton, key <see cref="Key"/>.</summary>
[Alias("snapstone.IWebhookRegistryGrain")]
public interface IWebhookRegistryGrain : IGrainWithStringKey
{
    public const string Key = "webhooks";

    [Alias("Define")]
    Task<Webhook> Define(Webhook webhook);

    [Alias("Remove")]
    Task<bool> Remove(string name, string actor);

    [Alias("List"), Orleans.Concurrency.AlwaysInterleave]
    Task<IReadOnlyList<Webhook>> List();
}

