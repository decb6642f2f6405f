using System.Globalization;
using Snapstone.Client;
using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Server.Http;

/// <summary>
/// A rollout's records outside its state row: its whole timeline page by page, the evidence its verdicts were made
/// from, and that evidence judged again under other gates. Each handler only translates.
/// </summary>
public static class RolloutRecordEndpoints
{
    public static void MapRolloutRecords(RouteGroupBuilder v1)
    {
        var rollouts = v1.MapGroup("/rollouts").WithTags("Rollouts");

        rollouts.MapGet("/{id}/timeline", async (string id, int? after, int? limit, SnapstoneClient client) =>
        {
            var page = await client.ReadTimelineAsync(id, after, limit);
            var size = limit ?? SnapstoneClient.DefaultTimelinePage;
            return TypedResults.Ok(new TimelinePageResponse(
                [.. page.Entries.Select(e => new TimelineEntryResponse(e.Number, e.Entry.At, e.Entry.Type, e.Entry.Message))],
                page.Total,
                page.NextAfter is { } next ? TimelineLink(id, next, size) : null));
        }).RequireAuthorization(Scopes.Read).Produces<TimelinePageResponse>();

        rollouts.MapGet("/{id}/evidence", async (string id, int? wave, SnapstoneClient client) =>
        {
            var rollout = await client.GetRolloutAsync(id);
            var looks = await client.RolloutEvidenceAsync(id, wave);
            return TypedResults.Ok(new EvidenceResponse(id, [.. looks.Select(l => LookResponse.From(l, rollout.Spec.Plan))]));
        }).RequireAuthorization(Scopes.Read).Produces<EvidenceResponse>();

        rollouts.MapPost("/{id}/judge", async (string id, HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<JudgeBody>(http.Request, JsonBody.Strict);
            return TypedResults.Ok(JudgementResponse.From(await client.JudgeRolloutAsync(id, body.Plan, body.Gates)));
        }).RequireAuthorization(Scopes.Read).Accepts<JudgeBody>("application/json").Produces<JudgementResponse>();
    }

    /// <summary>The <c>GET …/timeline</c> page after entry <paramref name="after"/>: what a rollout's <c>timelineNext</c> and a page's <c>next</c> point at.</summary>
    public static string TimelineLink(string id, int after, int limit = SnapstoneClient.DefaultTimelinePage) =>
        string.Create(CultureInfo.InvariantCulture, $"/v1/rollouts/{id}/timeline?after={after}&limit={limit}");
}

/// <summary><c>{ "plan": {…} }</c> (a whole plan) or <c>{ "gates": {…} }</c> (for every wave of the rollout's own plan).</summary>
public sealed record JudgeBody
{
    public Plan? Plan { get; init; }
    public Gates? Gates { get; init; }
}

public sealed record TimelineEntryResponse(int N, DateTimeOffset At, string Type, string Message);

/// <summary>One page of the whole timeline; <c>next</c> is the next page's path, null on the last.</summary>
public sealed record TimelinePageResponse(IReadOnlyList<TimelineEntryResponse> Entries, int Total, string? Next);

/// <summary>A wave verdict as <c>GET /v1/rollouts/{id}</c> shows it, with when its first failing check failed.</summary>
public sealed record JudgedVerdictResponse(VerdictResult Result, IReadOnlyList<string> Reasons, DateTimeOffset? DecidedAt)
{
    public static JudgedVerdictResponse? From(Verdict? verdict) =>
        verdict is null ? null : new(verdict.Result, verdict.Reasons, Replay.HaltAt(verdict));
}

public sealed record WaveJudgementResponse(
    int Wave, string Name, JudgedVerdictResponse? Verdict, VerdictAction? Action, DateTimeOffset? HaltAt,
    JudgedVerdictResponse? Recorded, DateTimeOffset? EvidenceAt);

/// <summary>
/// Per wave: the verdict the gates would have given (null where the replay did not get there or the wave has no recorded
/// evidence), what the rollout would have done with it, and the verdict it recorded.
/// </summary>
public sealed record JudgementResponse(string Rollout, IReadOnlyList<WaveJudgementResponse> Waves)
{
    public static JudgementResponse From(RolloutJudgement judgement) => new(judgement.Rollout,
    [
        .. judgement.Waves.Select(w => new WaveJudgementResponse(w.Replayed.Wave, w.Replayed.Name, JudgedVerdictResponse.From(w.Replayed.Verdict),
            w.Replayed.Action, w.Replayed.HaltAt, JudgedVerdictResponse.From(w.Recorded), w.EvidenceAt)),
    ]);
}

/// <summary>One side's totals over a look's window: nodes counted, and their pooled traffic.</summary>
public sealed record EvidenceSideResponse(int Nodes, int Reporting, long Requests, long Errors, double ErrorRate, double P99LatencyMs);

/// <summary>
/// One slot of a look's window, cohort beside control: pooled requests and errors of the nodes that reported, and their
/// p99s averaged by requests (a p99 cannot be pooled exactly; this is what a chart of the two sides can show).
/// </summary>
public sealed record EvidenceSlotResponse(DateTimeOffset At, long CohortRequests, long CohortErrors, double CohortP99LatencyMs,
    long ControlRequests, long ControlErrors, double ControlP99LatencyMs);

public sealed record EvidenceNodeResponse(string Node, Side Side, long Requests, long Errors, double P99LatencyMs, int Crashes, bool Rejected, bool Reported);

public sealed record LookResponse(
    int Wave, string? Name, DateTimeOffset At, LookKind Kind, JudgedVerdictResponse Verdict, int Targeted,
    EvidenceSideResponse Cohort, EvidenceSideResponse Control, IReadOnlyList<EvidenceSlotResponse> Slots, IReadOnlyList<EvidenceNodeResponse> Nodes,
    IReadOnlyList<MetricReading> Metrics)
{
    public static LookResponse From(RecordedLook look, Plan plan)
    {
        var evidence = look.Evidence;
        // The nodes whose traffic counts: cohort nodes that run the package, control nodes on the previous one.
        var cohort = evidence.Cohort.Where(s => s.Reported && !s.Rejected).ToList();
        var control = evidence.Control.Where(s => s.Reported).ToList();
        var slots = new SortedDictionary<long, long[]>();
        var p99 = new SortedDictionary<long, double[]>();
        void Add(IEnumerable<NodeSample> side, int at)
        {
            foreach (var series in side.Select(s => s.Series).OfType<SlotSeries>())
            {
                for (var i = 0; i < series.Count; i++)
                {
                    var slot = series.FirstSlot + i;
                    var sums = slots.TryGetValue(slot, out var found) ? found : slots[slot] = new long[4];
                    var weighted = p99.TryGetValue(slot, out var w) ? w : p99[slot] = new double[2];
                    sums[at] += series.Requests[i];
                    sums[at + 1] += series.Errors[i];
                    weighted[at / 2] += series.P99[i] * series.Requests[i];
                }
            }
        }
        Add(cohort, 0);
        Add(control, 2);
        var ticks = evidence.Cohort.Concat(evidence.Control).Select(s => s.Series?.SlotTicks).FirstOrDefault(t => t is not null) ?? 0;
        return new LookResponse(look.Wave, look.Wave < plan.Waves.Count ? plan.Waves[look.Wave].Name : null, look.At, look.Kind,
            JudgedVerdictResponse.From(look.Verdict)!, evidence.Targeted, Totals(evidence.Cohort, cohort), Totals(evidence.Control, control),
            [.. slots.Select(s => new EvidenceSlotResponse(SlotSeries.At(s.Key, ticks), s.Value[0], s.Value[1], Mean(p99[s.Key][0], s.Value[0]),
                s.Value[2], s.Value[3], Mean(p99[s.Key][1], s.Value[2])))],
            [.. evidence.Cohort.Select(s => Node(s, Side.Cohort)).Concat(evidence.Control.Select(s => Node(s, Side.Control)))],
            evidence.Metrics);
    }

    private static EvidenceSideResponse Totals(IReadOnlyList<NodeSample> all, IReadOnlyList<NodeSample> counted)
    {
        var requests = counted.Sum(s => s.Requests);
        var errors = counted.Sum(s => s.Errors);
        return new EvidenceSideResponse(all.Count, counted.Count, requests, errors, requests > 0 ? (double)errors / requests : 0,
            Mean(counted.Sum(s => s.P99LatencyMs * s.Requests), requests));
    }

    private static double Mean(double weighted, long requests) => requests > 0 ? weighted / requests : 0;

    private static EvidenceNodeResponse Node(NodeSample s, Side side) => new(s.NodeId, side, s.Requests, s.Errors, s.P99LatencyMs, s.Crashes, s.Rejected, s.Reported);
}

public sealed record EvidenceResponse(string Rollout, IReadOnlyList<LookResponse> Looks);
