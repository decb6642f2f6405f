using Snapstone.Client;
using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Incidents;

namespace Snapstone.Server.Http;

public sealed record FreezeBody(string? Unit, string? Reason, int? TtlSeconds);

public sealed record BreakGlassRollbackBody(string Unit, string? Reason);

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
            return TypedResults.Ok(await client.FreezeAsync(body.Unit, body.Reason, body.TtlSeconds, http.Actor()));
        }).Accepts<FreezeBody>("application/json").Produces<Freeze>();
        breakglass.MapDelete("/freeze", async (string? unit, HttpContext http, SnapstoneClient client) =>
            TypedResults.Ok(new { lifted = await client.LiftFreezeAsync(unit, http.Actor()) })).Produces<Freeze>();
        breakglass.MapGet("/freeze", async (SnapstoneClient client) => TypedResults.Ok(new { freezes = await client.FreezesAsync() }));
        breakglass.MapPost("/rollback", async (HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<BreakGlassRollbackBody>(http.Request, JsonBody.Strict);
            var action = await client.InstantRollbackAsync(body.Unit, body.Reason, http.Actor());
            return TypedResults.Accepted($"/v1/breakglass/actions/{action.Id}", BreakGlassResponse.From(action));
        }).Accepts<BreakGlassRollbackBody>("application/json").Produces<BreakGlassResponse>(StatusCodes.Status202Accepted);
        breakglass.MapGet("/actions/{id}", async (string id, SnapstoneClient client) =>
            TypedResults.Ok(BreakGlassResponse.From(await client.GetBreakGlassAsync(id))));
        breakglass.MapPost("/deploy", async (HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<BreakGlassDeployBody>(http.Request, JsonBody.Strict);
            var rollout = await client.EmergencyDeployAsync(body.Unit, body.Version, body.Reason, http.Actor());
            return TypedResults.Created($"/v1/rollouts/{rollout.Spec.Id}", RolloutResponse.From(rollout));
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
            return TypedResults.Ok(WebhookResponse.From(await client.DefineWebhookAsync(name, body.Url, body.Events, body.Secret, http.Actor())));
        }).Accepts<WebhookBody>("application/json");
        webhooks.MapGet("/", async (SnapstoneClient client) => TypedResults.Ok(new { webhooks = (await client.ListWebhooksAsync()).Select(WebhookResponse.From) }));
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
            return TypedResults.Ok(new { valid = result.Valid, entries = result.Entries, firstBroken = result.FirstBroken });
        }).RequireAuthorization(Scopes.Read).WithTags("Audit");

        v1.MapGet("/status", async (StatusCache status) => TypedResults.Ok(await status.GetAsync()))
            .AllowAnonymous().WithTags("Status");
    }
}

public sealed record BreakGlassResponse(string Id, string Unit, long TargetVersion, IReadOnlyList<long> Quarantined, int Targeted, int Confirmed,
    DateTimeOffset StartedAt, DateTimeOffset? CompletedAt, string? Incident, string By, string Reason)
{
    public static BreakGlassResponse From(BreakGlassView v) => new(v.Id, v.Order.Unit, v.Order.Lkg.Version, v.Order.Quarantined, v.Targeted, v.Confirmed,
        v.StartedAt, v.CompletedAt, v.Order.Incident, v.Order.By, v.Order.Reason);
}

public sealed record WebhookResponse(string Name, string Url, IReadOnlyList<string> Events, string UpdatedBy)
{
    /// <summary>Never echoes the secret.</summary>
    public static WebhookResponse From(Webhook w) => new(w.Name, w.Url, w.Events, w.UpdatedBy);
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
