using System.Security.Cryptography;
using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Client;

/// <summary>The state of the service for people outside the team: open and recent incidents, rollouts in flight.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.StatusView")]
public sealed record StatusView(
    [property: Id(0)] IReadOnlyList<Incident> Incidents,
    [property: Id(1)] IReadOnlyList<RolloutView> ActiveRollouts,
    [property: Id(2)] IReadOnlyList<Freeze> Freezes);

public sealed partial class SnapstoneClient
{
    public static readonly IReadOnlyList<string> WebhookEventTypes = ["incident.opened", "incident.updated", "incident.resolved", "*"];

    // ---- break-glass: depends on nothing outside Snapstone and its storage; each action is one call on its own grain ----

    /// <summary>Freezes one unit (or all, when <paramref name="unit"/> is null): matching rollouts pause at once, new ones are refused.</summary>
    public Task<BreakGlassView> FreezeAsync(string? unit, string? reason, int? ttlSeconds, string actor)
    {
        if (unit is not null) SnapstoneException.ThrowIfBadName("unit", unit);
        ThrowIfBad(BreakGlassRules.CheckReason(reason) ?? BreakGlassRules.CheckTtl(ttlSeconds));
        return Action().Freeze(unit, reason!, ttlSeconds, actor);
    }

    /// <summary>Lifts a freeze; the rollouts it paused move again. 404 when there is no such freeze.</summary>
    public Task<BreakGlassView> LiftFreezeAsync(string? unit, string actor)
    {
        if (unit is not null) SnapstoneException.ThrowIfBadName("unit", unit);
        return Action().Lift(unit, actor);
    }

    public Task<IReadOnlyList<Freeze>> FreezesAsync() => grains.GetGrain<IControlGrain>(IControlGrain.Key).Freezes();

    /// <summary>
    /// Every consumer of the unit back at once, no waves: from a rollout in flight to the LKG, or, with none in flight,
    /// from the newest completed version to the one before it (or <paramref name="toVersion"/>). The version taken back
    /// is quarantined and the target becomes the LKG; confirmations are tracked by the returned action.
    /// </summary>
    public Task<BreakGlassView> InstantRollbackAsync(string unit, string? reason, string actor, long? toVersion = null)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        ThrowIfBad(BreakGlassRules.CheckReason(reason) ?? (toVersion is < 1 ? $"toVersion must be 1 or more (got {toVersion})" : null));
        return Action().Rollback(unit, reason!, toVersion, actor);
    }

    public async Task<BreakGlassView> GetBreakGlassAsync(string id)
    {
        if (!(id.Length == 19 && id.StartsWith("bg-", StringComparison.Ordinal) && id[3..].All(char.IsAsciiHexDigitLower)))
        {
            throw SnapstoneException.Invalid($"break-glass action id '{(id.Length > 40 ? id[..40] : id)}' is not an action id (bg- and 16 hex digits)");
        }
        return await grains.GetGrain<IBreakGlassGrain>(id).Get() ?? throw SnapstoneException.NotFound($"break-glass action '{id}' does not exist");
    }

    /// <summary>
    /// Deploys past the unit's plan, approvals, freezes and quarantine: a minimal canary, then everyone, still
    /// watched and rolled back on regression. A version that failed validation is still refused.
    /// </summary>
    public async Task<(BreakGlassView Action, RolloutView Rollout)> EmergencyDeployAsync(string unit, long version, string? reason, string actor)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        ThrowIfBad(BreakGlassRules.CheckReason(reason) ?? (version < 1 ? $"version must be 1 or more (got {version})" : null));
        var action = await Action().Deploy(unit, version, reason!, actor);
        return (action, await GetRolloutAsync(action.Rollout!));
    }

    /// <summary>A new break-glass action: its grain owns what follows.</summary>
    private IBreakGlassGrain Action() => grains.GetGrain<IBreakGlassGrain>("bg-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));

    // ---- incidents and status ----

    public Task<IReadOnlyList<Incident>> ListIncidentsAsync() => grains.GetGrain<IIncidentIndexGrain>(IIncidentIndexGrain.Key).List();

    public async Task<Incident> GetIncidentAsync(string id)
    {
        CheckIncidentId(id);
        return await grains.GetGrain<IIncidentGrain>(id).Get() ?? throw SnapstoneException.NotFound($"incident '{id}' does not exist");
    }

    public async Task<Incident> UpdateIncidentAsync(string id, IncidentStatus status, string? message, string actor)
    {
        CheckIncidentId(id);
        ThrowIfBad(IncidentRules.CheckMessage(message));
        return await grains.GetGrain<IIncidentGrain>(id).Post(status, message, actor);
    }

    /// <summary>Open incidents and those resolved in the last day, rollouts in flight, and active freezes.</summary>
    public async Task<StatusView> GetStatusAsync()
    {
        var since = time.GetUtcNow().AddDays(-1);
        var incidents = (await ListIncidentsAsync()).Where(i => i.IsOpen || i.ResolvedAt > since).ToList();
        var catalog = await grains.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
        var units = await Task.WhenAll(catalog.Units.Keys.Select(u => grains.GetGrain<IUnitGrain>(u).Get()));
        var rollouts = await Task.WhenAll(units.Select(u => u?.ActiveRollout).OfType<string>().Select(r => grains.GetGrain<IRolloutGrain>(r).Get()));
        return new StatusView(incidents, [.. rollouts.OfType<RolloutView>().Where(r => !r.Status.IsTerminal)], await FreezesAsync());
    }

    // ---- webhooks ----

    public async Task<Webhook> DefineWebhookAsync(string name, string? url, IReadOnlyList<string>? events, string? secret, string actor)
    {
        SnapstoneException.ThrowIfBadName("webhook", name);
        var errors = new List<string>();
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            errors.Add("url must be an absolute http or https URL");
        if (events is not { Count: > 0 })
            errors.Add($"events must list at least one of {string.Join(", ", WebhookEventTypes)}");
        else if (events.FirstOrDefault(e => !WebhookEventTypes.Contains(e)) is { } unknown)
            errors.Add($"events has unknown type '{unknown}' (known: {string.Join(", ", WebhookEventTypes)})");
        if (secret is not { Length: >= 16 and <= 256 })
            errors.Add("secret must be 16 to 256 characters");
        if (errors.Count > 0)
        {
            throw SnapstoneException.Invalid(errors);
        }
        return await grains.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key)
            .Define(new Webhook { Name = name, Url = url!, Events = events!, Secret = secret!, UpdatedBy = actor });
    }

    public Task<IReadOnlyList<Webhook>> ListWebhooksAsync() => grains.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).List();

    public async Task<Webhook> GetWebhookAsync(string name)
    {
        SnapstoneException.ThrowIfBadName("webhook", name);
        return (await ListWebhooksAsync()).FirstOrDefault(w => w.Name == name) ?? throw SnapstoneException.NotFound($"webhook '{name}' does not exist");
    }

    /// <summary>The circuit breaker of a webhook (<see cref="ReceiverCircuits.Webhook"/>) or notification (<see cref="ReceiverCircuits.Notification"/>).</summary>
    public Task<Snapstone.Domain.Webhooks.Circuit> ReceiverCircuitAsync(string registry, string name) =>
        grains.GetGrain<IReceiverCircuitGrain>(ReceiverCircuits.Key(registry, name)).Get();

    public async Task DeleteWebhookAsync(string name, string actor)
    {
        SnapstoneException.ThrowIfBadName("webhook", name);
        if (!await grains.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).Remove(name, actor))
        {
            throw SnapstoneException.NotFound($"webhook '{name}' does not exist");
        }
    }

    private static void CheckIncidentId(string id)
    {
        if (!(id.Length == 20 && id.StartsWith("inc-", StringComparison.Ordinal) && id[4..].All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f')))
        {
            throw SnapstoneException.Invalid($"incident id '{(id.Length > 40 ? id[..40] : id)}' is not an incident id (inc- and 16 hex digits)");
        }
    }

    private static void ThrowIfBad(string? problem)
    {
        if (problem is not null) throw SnapstoneException.Invalid(problem);
    }
}
