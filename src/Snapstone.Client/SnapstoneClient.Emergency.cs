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

    // ---- break-glass: depends on nothing outside Snapstone and its storage ----

    /// <summary>Freezes one unit (or all, when <paramref name="unit"/> is null): matching rollouts pause at once, new ones are refused.</summary>
    public async Task<Freeze> FreezeAsync(string? unit, string? reason, int? ttlSeconds, string actor)
    {
        if (unit is not null) SnapstoneException.ThrowIfBadName("unit", unit);
        ThrowIfBad(BreakGlassRules.CheckReason(reason) ?? BreakGlassRules.CheckTtl(ttlSeconds));
        var now = time.GetUtcNow();
        var freeze = await grains.GetGrain<IControlGrain>(IControlGrain.Key).Freeze(new Freeze
        {
            Unit = unit, Reason = reason!, By = actor, At = now, Until = ttlSeconds is { } ttl ? now.AddSeconds(ttl) : null,
        });
        await OpenBreakGlassIncident($"Freeze of {(unit is null ? "all units" : $"unit '{unit}'")}", unit, "freeze", actor,
            (IncidentStatus.Detected, $"break-glass freeze by {actor}: {reason}"),
            (IncidentStatus.Halted, freeze.Describe()));
        await AuditAsync(actor, "breakglass.freeze", unit is null ? "units/*" : $"unit/{unit}", reason);
        return freeze;
    }

    /// <summary>Lifts a freeze; the rollouts it paused resume. 404 when there is no such freeze.</summary>
    public async Task<Freeze> LiftFreezeAsync(string? unit, string actor)
    {
        if (unit is not null) SnapstoneException.ThrowIfBadName("unit", unit);
        var lifted = await grains.GetGrain<IControlGrain>(IControlGrain.Key).Lift(unit, actor)
            ?? throw SnapstoneException.NotFound(unit is null ? "there is no global freeze" : $"unit '{unit}' has no freeze of its own");
        await AuditAsync(actor, "breakglass.unfreeze", unit is null ? "units/*" : $"unit/{unit}", lifted.Reason);
        return lifted;
    }

    public Task<IReadOnlyList<Freeze>> FreezesAsync() => grains.GetGrain<IControlGrain>(IControlGrain.Key).Freezes();

    /// <summary>
    /// Every consumer of the unit back to its LKG at once, no waves; the version being rolled out is quarantined
    /// and its rollout aborted. Confirmations are tracked by the returned action.
    /// </summary>
    public async Task<BreakGlassView> InstantRollbackAsync(string unit, string? reason, string actor)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        ThrowIfBad(BreakGlassRules.CheckReason(reason));
        await GetUnitAsync(unit);
        var action = "bg-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var order = await grains.GetGrain<IUnitGrain>(unit).BeginInstantRollback(action, actor, reason!);
        var incident = await OpenBreakGlassIncident($"Instant rollback of '{unit}' to v{order.Lkg.Version}", unit, action, actor,
            (IncidentStatus.Detected, $"break-glass rollback by {actor}: {reason}"),
            (IncidentStatus.Halted, order.Quarantined.Count > 0 ? $"v{string.Join(", v", order.Quarantined)} quarantined" : "no rollout in flight"));
        var view = await grains.GetGrain<IBreakGlassGrain>(action).Start(order with { Incident = incident });
        if ((await grains.GetGrain<IUnitGrain>(unit).Get())?.ActiveRollout is { } active)
        {
            try
            {
                await grains.GetGrain<IRolloutGrain>(active).Abort(actor, $"break-glass rollback: {reason}");
            }
            catch (SnapstoneException)
            {
                // Already ending on its own: the break-glass fan-out has sent everyone back regardless.
            }
        }
        await AuditAsync(actor, "breakglass.rollback", $"unit/{unit}", reason);
        return view;
    }

    public async Task<BreakGlassView> GetBreakGlassAsync(string id) =>
        await grains.GetGrain<IBreakGlassGrain>(id).Get() ?? throw SnapstoneException.NotFound($"break-glass action '{id}' does not exist");

    /// <summary>
    /// Deploys past the unit's plan, approvals, freezes and quarantine: a minimal canary, then everyone, still
    /// watched and rolled back on regression. A version that failed validation is still refused.
    /// </summary>
    public async Task<RolloutView> EmergencyDeployAsync(string unit, long version, string? reason, string actor)
    {
        SnapstoneException.ThrowIfBadName("unit", unit);
        ThrowIfBad(BreakGlassRules.CheckReason(reason));
        await GetUnitAsync(unit);
        var id = RolloutId(actor, null);
        var ticket = await grains.GetGrain<IUnitGrain>(unit).ReserveRollout(id, version, breakGlass: true);
        var spec = ticket.Spec(id, unit, version, (BuiltInPlans.Emergency, BuiltInPlans.EmergencyName), reason!, actor,
            [$"break-glass emergency deploy by {actor}: plan, approvals, freezes and quarantine bypassed"]) with { BreakGlass = true };
        await OpenBreakGlassIncident($"Emergency deploy of '{unit}' v{version}", unit, id, actor,
            (IncidentStatus.Detected, $"break-glass emergency deploy by {actor}: {reason}"),
            (IncidentStatus.Monitoring, $"rollout {id}: canary, then everyone"));
        var started = await grains.GetGrain<IRolloutGrain>(id).Start(spec, ticket.Targets);
        await AuditAsync(actor, "breakglass.deploy", $"rollout/{id}", $"{unit} v{version}: {reason}");
        return started;
    }

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
        var updated = await grains.GetGrain<IIncidentGrain>(id).Update(status, message!, actor);
        await AuditAsync(actor, "incident.update", $"incident/{id}", $"{status}: {message}");
        return updated;
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
        var webhook = await grains.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key)
            .Define(new Webhook { Name = name, Url = url!, Events = events!, Secret = secret!, UpdatedBy = actor });
        await AuditAsync(actor, "webhook.define", $"webhook/{name}", url);
        return webhook;
    }

    public Task<IReadOnlyList<Webhook>> ListWebhooksAsync() => grains.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).List();

    public async Task DeleteWebhookAsync(string name, string actor)
    {
        SnapstoneException.ThrowIfBadName("webhook", name);
        if (!await grains.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).Remove(name))
        {
            throw SnapstoneException.NotFound($"webhook '{name}' does not exist");
        }
        await AuditAsync(actor, "webhook.delete", $"webhook/{name}", "");
    }

    private async Task<string> OpenBreakGlassIncident(string title, string? unit, string source, string actor, params (IncidentStatus Status, string Message)[] updates)
    {
        var id = "inc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var now = time.GetUtcNow();
        var incident = IncidentRules.Open(id, title, IncidentSeverity.Sev3, unit is null ? [] : [unit], source, updates[0].Status, updates[0].Message, actor, now);
        foreach (var (status, message) in updates.Skip(1))
        {
            incident = incident.With(status, message, actor, now);
        }
        await grains.GetGrain<IIncidentGrain>(id).Open(incident);
        return id;
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
