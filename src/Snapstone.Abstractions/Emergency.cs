using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Units;

namespace Snapstone;

/// <summary>Freezes and break-glass state. Singleton, key <see cref="Key"/>.</summary>
[Alias("snapstone.IControlGrain")]
public interface IControlGrain : IGrainWithStringKey
{
    public const string Key = "control";

    /// <summary>Records a freeze and pauses every matching active rollout at once.</summary>
    [Alias("Freeze")]
    Task<Freeze> Freeze(Freeze freeze);

    /// <summary>Lifts the freeze of <paramref name="unit"/> (null: the global one) and resumes the rollouts it paused.</summary>
    [Alias("Lift")]
    Task<Freeze?> Lift(string? unit, string actor);

    /// <summary>The freeze that stops <paramref name="unit"/> now, if any.</summary>
    [Alias("FreezeOf"), Orleans.Concurrency.AlwaysInterleave]
    Task<Freeze?> FreezeOf(string unit);

    [Alias("Freezes"), Orleans.Concurrency.AlwaysInterleave]
    Task<IReadOnlyList<Freeze>> Freezes();
}

/// <summary>An instant, fleet-wide return of one unit to its LKG, tracked until every consumer confirms. Keyed by action id.</summary>
[Alias("snapstone.IBreakGlassGrain")]
public interface IBreakGlassGrain : IGrainWithStringKey
{
    [Alias("Start")]
    Task<BreakGlassView> Start(BreakGlassOrder order);

    [Alias("Get")]
    Task<BreakGlassView?> Get();
}

[GenerateSerializer, Immutable, Alias("snapstone.BreakGlassOrder")]
public sealed record BreakGlassOrder
{
    [Id(0)] public required string Unit { get; init; }
    [Id(1)] public required DesiredPackage Lkg { get; init; }
    [Id(2)] public required UnitTargets Targets { get; init; }
    [Id(3)] public required string By { get; init; }
    [Id(4)] public required string Reason { get; init; }
    /// <summary>Versions quarantined by this action.</summary>
    [Id(5)] public IReadOnlyList<long> Quarantined { get; init; } = [];
    [Id(6)] public string? Incident { get; init; }
}

[GenerateSerializer, Immutable, Alias("snapstone.BreakGlassView")]
public sealed record BreakGlassView
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public required BreakGlassOrder Order { get; init; }
    [Id(2)] public int Targeted { get; init; }
    [Id(3)] public int Confirmed { get; init; }
    [Id(4)] public DateTimeOffset StartedAt { get; init; }
    [Id(5)] public DateTimeOffset? CompletedAt { get; init; }
}

/// <summary>One incident. Keyed by incident id.</summary>
[Alias("snapstone.IIncidentGrain")]
public interface IIncidentGrain : IGrainWithStringKey
{
    /// <summary>Opens the incident (idempotent: an open one answers itself).</summary>
    [Alias("Open")]
    Task<Incident> Open(Incident incident);

    /// <summary>Adds a timeline update; refused (404) for an incident never opened.</summary>
    [Alias("Update")]
    Task<Incident> Update(IncidentStatus status, string message, string by);

    [Alias("Get"), Orleans.Concurrency.AlwaysInterleave]
    Task<Incident?> Get();
}

/// <summary>The list of incidents, newest first, for the status page. Singleton, key <see cref="Key"/>.</summary>
[Alias("snapstone.IIncidentIndexGrain")]
public interface IIncidentIndexGrain : IGrainWithStringKey
{
    public const string Key = "incidents";

    [Alias("Record")]
    Task Record(Incident incident);

    [Alias("List"), Orleans.Concurrency.AlwaysInterleave]
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

/// <summary>One event to deliver.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.WebhookEvent")]
public sealed record WebhookEvent(
    [property: Id(0)] string Id,
    [property: Id(1)] string Type,
    [property: Id(2)] DateTimeOffset At,
    [property: Id(3)] string PayloadJson);

/// <summary>The configured webhooks, and the fan-out of events to them. Singleton, key <see cref="Key"/>.</summary>
[Alias("snapstone.IWebhookRegistryGrain")]
public interface IWebhookRegistryGrain : IGrainWithStringKey
{
    public const string Key = "webhooks";

    [Alias("Define")]
    Task<Webhook> Define(Webhook webhook);

    [Alias("Remove")]
    Task<bool> Remove(string name);

    [Alias("List"), Orleans.Concurrency.AlwaysInterleave]
    Task<IReadOnlyList<Webhook>> List();

    /// <summary>Queues one delivery per interested webhook; returns at once (never waits on a receiver).</summary>
    [Alias("Publish"), Orleans.Concurrency.AlwaysInterleave]
    Task Publish(WebhookEvent e);
}

/// <summary>One delivery of one event to one webhook, retried with backoff until it succeeds. Keyed by delivery id.</summary>
[Alias("snapstone.IWebhookDeliveryGrain")]
public interface IWebhookDeliveryGrain : IGrainWithStringKey
{
    [Alias("Deliver")]
    Task Deliver(Webhook webhook, WebhookEvent e);

    [Alias("Status"), Orleans.Concurrency.AlwaysInterleave]
    Task<DeliveryStatus?> Status();
}

[GenerateSerializer, Immutable, Alias("snapstone.DeliveryStatus")]
public sealed record DeliveryStatus(
    [property: Id(0)] string Webhook,
    [property: Id(1)] string EventId,
    [property: Id(2)] int Attempts,
    [property: Id(3)] bool Delivered,
    [property: Id(4)] string? LastError,
    [property: Id(5)] DateTimeOffset? NextAttemptAt);
