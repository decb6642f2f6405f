using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Snapstone.Client;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Server.Http;

/// <summary>The rollout half of the gateway: start, read, list, act on, and watch rollouts.</summary>
public static class RolloutEndpoints
{
    public static void MapRollouts(RouteGroupBuilder v1)
    {
        var rollouts = v1.MapGroup("/rollouts").WithTags("Rollouts");

        rollouts.MapPost("/", async (HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<RolloutBody>(http.Request, JsonBody.Strict);
            var key = http.Request.Headers["Idempotency-Key"].ToString();
            var (rollout, created) = await client.StartRolloutAsync(new RolloutRequest
            {
                Unit = body.Unit,
                Version = body.Version,
                Plan = body.Plan,
                Reason = body.Reason ?? "",
                IdempotencyKey = key.Length > 0 ? key : null,
            }, http.Actor());
            if (!created)
            {
                http.Response.Headers["Idempotent-Replayed"] = "true";
            }
            return TypedResults.Created($"/v1/rollouts/{rollout.Spec.Id}", RolloutResponse.From(rollout));
        }).RequireAuthorization(Scopes.Deploy).Accepts<RolloutBody>("application/json").Produces<RolloutResponse>(StatusCodes.Status201Created);

        rollouts.MapGet("/", async (string? unit, string? state, int? limit, SnapstoneClient client) =>
        {
            RolloutState? wanted = state is null ? null : ParseState(state);
            var list = await client.ListRolloutsAsync(unit, wanted, limit ?? 100);
            return TypedResults.Ok(new { rollouts = list.Select(RolloutSummaryResponse.From) });
        }).RequireAuthorization(Scopes.Read);

        rollouts.MapGet("/{id}", async (string id, SnapstoneClient client) =>
            TypedResults.Ok(RolloutResponse.From(await client.GetRolloutAsync(id))))
            .RequireAuthorization(Scopes.Read).Produces<RolloutResponse>();

        MapAction(rollouts, "approve", Scopes.Approve, (c, id, actor, reason) => c.ApproveRolloutAsync(id, actor, reason));
        MapAction(rollouts, "pause", Scopes.Deploy, (c, id, actor, reason) => c.PauseRolloutAsync(id, actor, reason));
        MapAction(rollouts, "resume", Scopes.Deploy, (c, id, actor, reason) => c.ResumeRolloutAsync(id, actor, reason));
        MapAction(rollouts, "abort", Scopes.Deploy, (c, id, actor, reason) => c.AbortRolloutAsync(id, actor, reason));

        rollouts.MapGet("/{id}/events", async (string id, SnapstoneClient client, CancellationToken ct) =>
        {
            await client.GetRolloutAsync(id);
            return TypedResults.ServerSentEvents(Timeline(client, id, ct));
        }).RequireAuthorization(Scopes.Read);
    }

    private static void MapAction(RouteGroupBuilder rollouts, string action, string scope, Func<SnapstoneClient, string, string, string?, Task<RolloutView>> run) =>
        rollouts.MapPost($"/{{id}}/{action}", async (string id, HttpContext http, SnapstoneClient client) =>
        {
            var body = http.Request.ContentLength is null or 0 && !http.Request.Headers.TransferEncoding.Any()
                ? new ReasonBody(null)
                : await JsonBody.ReadAsync<ReasonBody>(http.Request, JsonBody.Strict);
            return TypedResults.Ok(RolloutResponse.From(await run(client, id, http.Actor(), body.Reason)));
        }).RequireAuthorization(scope).Accepts<ReasonBody>("application/json").Produces<RolloutResponse>();

    /// <summary>The timeline as it grows: every entry so far, then each new one as it happens, until the rollout ends.</summary>
    private static async IAsyncEnumerable<SseItem<TimelineEntry>> Timeline(SnapstoneClient client, string id, [EnumeratorCancellation] CancellationToken ct)
    {
        var seen = 0;
        while (!ct.IsCancellationRequested)
        {
            var view = await client.WatchRolloutAsync(id, seen, TimeSpan.FromSeconds(20));
            var timeline = view.Status.Timeline;
            for (var i = Math.Min(seen, timeline.Count); i < timeline.Count; i++)
            {
                yield return new SseItem<TimelineEntry>(timeline[i], timeline[i].Type);
            }
            seen = Math.Max(seen, timeline.Count);
            if (view.Status.IsTerminal)
            {
                yield break;
            }
        }
    }

    private static RolloutState ParseState(string state) =>
        Enum.GetValues<RolloutState>().FirstOrDefault(s => RolloutCommands.Describe(s) == state) is var parsed && RolloutCommands.Describe(parsed) == state
            ? parsed
            : throw SnapstoneException.Invalid($"state must be one of {string.Join(", ", Enum.GetValues<RolloutState>().Select(RolloutCommands.Describe))}");
}
