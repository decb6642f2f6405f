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

        rollouts.MapGet("/{id}/events", async (string id, HttpContext http, SnapstoneClient client, EventStreams streams, CancellationToken ct) =>
        {
            await client.GetRolloutAsync(id);
            var after = http.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } last
                ? int.TryParse(last, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n + 1
                    : throw SnapstoneException.Invalid("Last-Event-ID must be the id of an event this stream sent (a timeline entry number)")
                : 0;
            var lease = streams.Open(http.Actor());
            http.Response.RegisterForDispose(lease);
            return TypedResults.ServerSentEvents(Timeline(client, id, after, streams.Heartbeat, ct));
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

    /// <summary>
    /// The timeline as it grows: every entry so far (from <paramref name="from"/>, the entry number after a
    /// reconnecting client's <c>Last-Event-ID</c>; those older than the status's tail from the journal), then each new one as it happens, a <c>heartbeat</c> event whenever
    /// nothing happened for <paramref name="heartbeat"/>, and an <c>end</c> event with the final state once the rollout
    /// ends. Each entry's event id is its entry number, which keeps counting past the entries the timeline dropped.
    /// </summary>
    private static async IAsyncEnumerable<SseItem<object>> Timeline(
        SnapstoneClient client, string id, int from, TimeSpan heartbeat, [EnumeratorCancellation] CancellationToken ct)
    {
        var seen = from;
        while (!ct.IsCancellationRequested)
        {
            // A client that hangs up ends the stream at once (and frees its place in the token's limit), not at the next heartbeat.
            var status = (await client.WatchRolloutAsync(id, seen, heartbeat).WaitAsync(ct)).Status;
            var sent = false;
            // Entries older than the status's tail are read from the rollout's journal, a page at a time.
            while (seen < status.TimelineDropped)
            {
                var page = await client.ReadTimelineAsync(id, seen > 0 ? seen - 1 : null, IRolloutRecordsGrain.MaxTimelinePage).WaitAsync(ct);
                foreach (var numbered in page.Entries.Where(e => e.Number >= seen))
                {
                    yield return Item(numbered.Number, numbered.Entry);
                    sent = true;
                }
                seen = page.NextAfter is { } next ? next + 1 : page.Total;
            }
            for (var n = Math.Max(seen, status.TimelineDropped); n < status.TimelineTotal; n++)
            {
                yield return Item(n, status.Timeline[n - status.TimelineDropped]);
                sent = true;
            }
            if (status.IsTerminal)
            {
                yield return new SseItem<object>(new StreamEnd(RolloutCommands.Describe(status.State), status.FinishedAt), "end");
                yield break;
            }
            if (!sent)
            {
                yield return new SseItem<object>(new Heartbeat(DateTimeOffset.UtcNow), "heartbeat");
            }
            seen = Math.Max(seen, status.TimelineTotal);
        }
    }

    private static SseItem<object> Item(int number, TimelineEntry entry) =>
        new(entry, entry.Type) { EventId = number.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    private sealed record Heartbeat(DateTimeOffset At);

    private sealed record StreamEnd(string State, DateTimeOffset? FinishedAt);

    private static RolloutState ParseState(string state) =>
        Enum.GetValues<RolloutState>().FirstOrDefault(s => RolloutCommands.Describe(s) == state) is var parsed && RolloutCommands.Describe(parsed) == state
            ? parsed
            : throw SnapstoneException.Invalid($"state must be one of {string.Join(", ", Enum.GetValues<RolloutState>().Select(RolloutCommands.Describe))}");
}
