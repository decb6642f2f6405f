using Snapstone.Client;
using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Incidents;

namespace Snapstone.Server.Http;

public sealed record FreezeBody(string? Unit, string? Reason, int? TtlSeconds);

public sealed record BreakGlassRollbackBody(string Unit, string? Reason, long? ToVersion);

public sealed record BreakGlassDeployBody(string Unit, long Version, string? Reason);

public sealed record IncidentUpdateBody(IncidentStatus Status, string? Message);

public sealed record WebhookBody(string? Url, IReadOnlyList<string>? Events, string? Secret);

/// <summary>Break-glass, incidents, status, webhooks and the audit log.</summary>
public static class EmergencyEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        var breakglass = v1.MapGroup("/breakglass").WithTags("Break-glass").RequireAuthorization(Scopes.BreakGlass);
        breakglass.MapPost("/freeze", async (HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<FreezeBody>(http.Request, JsonBody.Strict);
            var action = await client.FreezeAsync(body.Unit, body.Reason, body.TtlSeconds, http.Actor());
            // Recorded in the time the action waits for: 200 with the freeze; still under way: 202 with the action to follow.
            return action.Freeze is null
                ? Results.Accepted($"/v1/breakglass/actions/{action.Id}", BreakGlassResponse.From(action))
                : Results.Ok(FreezeResponse.From(action));
        }).Accepts<FreezeBody>("application/json").Produces<FreezeResponse>().Produces<BreakGlassResponse>(StatusCodes.Status202Accepted);
        breakglass.MapDelete("/freeze", async (string? unit, HttpContext http, SnapstoneClient client) =>
        {
            var action = await client.LiftFreezeAsync(unit, http.Actor());
            return TypedResults.Ok(new { lifted = action.Freeze, action = action.Id });
        }).Produces<Freeze>();
        breakglass.MapGet("/freeze", async (SnapstoneClient client) => TypedResults.Ok(new { freezes = await client.FreezesAsync() }));
        breakglass.MapPost("/rollback", async (HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<BreakGlassRollbackBody>(http.Request, JsonBody.Strict);
            var action = await client.InstantRollbackAsync(body.Unit, body.Reason, http.Actor(), body.ToVersion);
            return TypedResults.Accepted($"/v1/breakglass/actions/{action.Id}", BreakGlassResponse.From(action));
        }).Accepts<BreakGlassRollbackBody>("application/json").Produces<BreakGlassResponse>(StatusCodes.Status202Accepted);
        breakglass.MapGet("/actions/{id}", async (string id, SnapstoneClient client) =>
            TypedResults.Ok(BreakGlassResponse.From(await client.GetBreakGlassAsync(id))));
        breakglass.MapPost("/deploy", async (HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<BreakGlassDeployBody>(http.Request, JsonBody.Strict);
            var (action, rollout) = await client.EmergencyDeployAsync(body.Unit, body.Version, body.Reason, http.Actor());
            http.Response.Headers["X-Snapstone-Action"] = action.Id;
            return TypedResults.Created($"/v1/rollouts/{rollout.Spec.Id}", RolloutResponse.From(rollout) with { Action = action.Id });
        }).Accepts<BreakGlassDeployBody>("application/json").Produces<RolloutResponse>(StatusCodes.Status201Created);

        var incidents = v1.MapGroup("/incidents").WithTags("Incidents");
        incidents.MapGet("/", async (SnapstoneClient client) => TypedResults.Ok(new { incidents = await client.ListIncidentsAsync() }))
            .RequireAuthorization(Scopes.Read);
        incidents.MapGet("/{id}", async (string id, SnapstoneClient client) => TypedResults.Ok(await client.GetIncidentAsync(id)))
            .RequireAuthorization(Scopes.Read).Produces<Incident>();
        incidents.MapPost("/{id}/updates", async (string id, HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<IncidentUpdateBody>(http.Request, JsonBody.Strict);
            return TypedResults.Ok(await client.UpdateIncidentAsync(id, body.Status, body.Message, http.Actor()));
        }).RequireAuthorization(Scopes.BreakGlass).Accepts<IncidentUpdateBody>("application/json").Produces<Incident>();

        var webhooks = v1.MapGroup("/webhooks").WithTags("Webhooks").RequireAuthorization(Scopes.Admin);
        webhooks.MapPut("/{name}", async (string name, HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<WebhookBody>(http.Request, JsonBody.Strict);
            var webhook = await client.DefineWebhookAsync(name, body.Url, body.Events, body.Secret, http.Actor());
            return TypedResults.Ok(WebhookResponse.From(webhook, await client.ReceiverCircuitAsync(ReceiverCircuits.Webhook, name)));
        }).Accepts<WebhookBody>("application/json").Produces<WebhookResponse>();
        webhooks.MapGet("/", async (SnapstoneClient client) =>
        {
            var list = await client.ListWebhooksAsync();
            var circuits = await Task.WhenAll(list.Select(w => client.ReceiverCircuitAsync(ReceiverCircuits.Webhook, w.Name)));
            return TypedResults.Ok(new { webhooks = list.Zip(circuits, WebhookResponse.From) });
        });
        webhooks.MapGet("/{name}", async (string name, SnapstoneClient client) =>
            TypedResults.Ok(WebhookResponse.From(await client.GetWebhookAsync(name), await client.ReceiverCircuitAsync(ReceiverCircuits.Webhook, name))))
            .Produces<WebhookResponse>();
        webhooks.MapDelete("/{name}", async (string name, HttpContext http, SnapstoneClient client) =>
        {
            await client.DeleteWebhookAsync(name, http.Actor());
            return TypedResults.NoContent();
        });

        v1.MapGet("/audit", async (string? since, long? after, int? limit, SnapstoneClient client) =>
        {
            DateTimeOffset? from = null;
            var afterSeq = after ?? 0;
            if (since is not null)
            {
                if (long.TryParse(since, out var seq)) afterSeq = Math.Max(afterSeq, seq);
                else if (DateTimeOffset.TryParse(since, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at)) from = at;
                else throw SnapstoneException.Invalid("since must be an RFC 3339 time or a sequence number");
            }
            return TypedResults.Ok(new { entries = await client.ReadAuditAsync(afterSeq, from, limit ?? 200) });
        }).RequireAuthorization(Scopes.Read).WithTags("Audit");
        v1.MapGet("/audit/verify", async (SnapstoneClient client) =>
        {
            var result = await client.VerifyAuditAsync();
            return TypedResults.Ok(new { valid = result.Valid, entries = result.Entries, keyed = result.Keyed, firstBroken = result.FirstBroken });
        }).RequireAuthorization(Scopes.Read).WithTags("Audit");

        v1.MapGet("/status", async (StatusCache status) => TypedResults.Ok(await status.GetAsync()))
            .AllowAnonymous().WithTags("Status");
    }
}

/// <summary>A break-glass action as <c>GET /v1/breakglass/actions/{id}</c> shows it; <c>targetVersion</c> null means "no package".</summary>
public sealed record BreakGlassResponse(string Id, string Kind, string? Unit, long? TargetVersion, long? TakenBackVersion, IReadOnlyList<long> Quarantined,
    string? StoppedRollout, int Targeted, int Confirmed, IReadOnlyList<string> Unconfirmed, long? Version, string? Rollout, Freeze? Freeze,
    DateTimeOffset StartedAt, DateTimeOffset? CompletedAt, string? Outcome, string? Incident, string By, string Reason, IReadOnlyList<BreakGlassStep> Steps)
{
    public static BreakGlassResponse From(BreakGlassView v) => new(v.Id, System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(v.Kind.ToString()), v.Unit,
        v.Target?.Version, v.TakenBack?.Version, v.Quarantined, v.StoppedRollout, v.Targeted, v.Confirmed, v.Unconfirmed, v.Version, v.Rollout, v.Freeze,
        v.StartedAt, v.CompletedAt, v.Outcome, v.Incident, v.By, v.Reason, v.Steps);
}

/// <summary>A freeze as <c>POST /v1/breakglass/freeze</c> answers it: the freeze and the action that recorded it.</summary>
public sealed record FreezeResponse(string? Unit, string Reason, string By, DateTimeOffset At, DateTimeOffset? Until, string Action)
{
    public static FreezeResponse From(BreakGlassView action) =>
        new(action.Freeze!.Unit, action.Freeze.Reason, action.Freeze.By, action.Freeze.At, action.Freeze.Until, action.Id);
}

/// <summary>
/// A webhook as answered, with its receiver's circuit breaker: <c>circuit</c> <c>closed</c>, <c>open</c> (nothing
/// is sent until <c>circuitOpenUntil</c>) or <c>half-open</c> (one probe is out), and the last failed attempt's error.
/// </summary>
public sealed record WebhookResponse(string Name, string Url, IReadOnlyList<string> Events, string UpdatedBy,
    string Circuit, int ConsecutiveFailures, DateTimeOffset? CircuitOpenUntil, string? LastError, DateTimeOffset? LastErrorAt)
{
    /// <summary>Never echoes the secret.</summary>
    public static WebhookResponse From(Webhook w, Domain.Webhooks.Circuit c) =>
        new(w.Name, w.Url, w.Events, w.UpdatedBy, c.WireState, c.ConsecutiveFailures, c.OpenUntil, c.LastError, c.LastErrorAt);
}

public sealed record StatusRollout(string Id, string Unit, long Version, string State, int CurrentWave, int Waves, string WaveName, int Targeted, int Applied);

/// <summary>
/// An incident as people outside the team see it: what, how bad, where it stands, and when each status began. No
/// messages (they carry verdict reasons and operators' notes) and no token names.
/// </summary>
public sealed record StatusIncident(string Id, string Title, IncidentSeverity Severity, IncidentStatus Status, DateTimeOffset OpenedAt,
    DateTimeOffset? ResolvedAt, IReadOnlyList<string> Units, IReadOnlyList<StatusIncidentUpdate> Updates)
{
    public static StatusIncident From(Incident i) => new(i.Id, i.Title, i.Severity, i.Status, i.OpenedAt, i.ResolvedAt, i.Units,
        [.. i.Updates.Select(u => new StatusIncidentUpdate(u.At, u.Status))]);
}

public sealed record StatusIncidentUpdate(DateTimeOffset At, IncidentStatus Status);

/// <summary>A freeze as the status page shows it: what is frozen and until when, not who froze it or why.</summary>
public sealed record StatusFreeze(string? Unit, DateTimeOffset At, DateTimeOffset? Until);

/// <summary>The public status (<c>GET /v1/status</c>, anonymous): a redacted view of incidents, active rollouts and freezes.</summary>
public sealed record StatusResponse(string Status, IReadOnlyList<StatusIncident> Incidents, IReadOnlyList<StatusRollout> Rollouts,
    IReadOnlyList<StatusFreeze> Freezes, DateTimeOffset GeneratedAt)
{
    public static StatusResponse From(StatusView view, DateTimeOffset now)
    {
        var open = view.Incidents.Where(i => i.IsOpen).ToList();
        var status = open.Count == 0 ? "operational" : open.Min(i => i.Severity) <= IncidentSeverity.Sev2 ? "major-incident" : "degraded";
        var rollouts = view.ActiveRollouts.Select(r =>
        {
            var wave = r.Status.Waves.ElementAtOrDefault(r.Status.CurrentWave);
            return new StatusRollout(r.Spec.Id, r.Spec.Unit, r.Spec.Version, Domain.Rollouts.RolloutCommands.Describe(r.Status.State),
                r.Status.CurrentWave, r.Status.Waves.Count, wave?.Name ?? "", wave?.Targeted ?? 0, wave?.Applied ?? 0);
        }).ToList();
        return new StatusResponse(status, [.. view.Incidents.Select(StatusIncident.From)], rollouts,
            [.. view.Freezes.Select(f => new StatusFreeze(f.Unit, f.At, f.Until))], now);
    }
}

/// <summary>
/// The public status, read from the cluster at most once per <see cref="GatewayOptions.StatusCacheSeconds"/> on this
/// gateway however many anonymous callers ask: concurrent callers share one read, and a failed read is not cached.
/// </summary>
public sealed class StatusCache(SnapstoneClient client, TimeProvider time, Microsoft.Extensions.Options.IOptions<Hosting.ServerOptions> options)
{
    private readonly TimeSpan _fresh = TimeSpan.FromSeconds(options.Value.Gateway.StatusCacheSeconds);
    private readonly Lock _lock = new();
    private (Task<StatusResponse> Read, DateTimeOffset At)? _last;

    public Task<StatusResponse> GetAsync()
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (_last is { } last && now - last.At < _fresh && !last.Read.IsFaulted && !last.Read.IsCanceled)
            {
                return last.Read;
            }
            var read = ReadAsync(now);
            _last = (read, now);
            return read;
        }
    }

    private async Task<StatusResponse> ReadAsync(DateTimeOffset now) => StatusResponse.From(await client.GetStatusAsync(), now);
}
