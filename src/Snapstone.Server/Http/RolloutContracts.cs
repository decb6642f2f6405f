using Snapstone.Domain.Health;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Server.Http;

public sealed record RolloutBody
{
    public required string Unit { get; init; }
    public required long Version { get; init; }
    public string? Plan { get; init; }
    public string? Reason { get; init; }
}

public sealed record ReasonBody(string? Reason);

public sealed record VerdictResponse(VerdictResult Result, IReadOnlyList<string> Reasons);

public sealed record WaveResponse(
    string Name, WaveState State, int Targeted, int Applied, int Rejected, int Healthy, int Unhealthy,
    DateTimeOffset? StartedAt, DateTimeOffset? BakeUntil, VerdictResponse? Verdict,
    int BakeSeconds, bool RequiresApproval, string? ApprovedBy);

public sealed record RollbackResponse(string? Reason, int Targeted, int Confirmed, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt, bool Aborted);

public sealed record RolloutResponse(
    string Id, string Unit, long Version, long? PreviousVersion, string State, int CurrentWave, string Plan,
    string Reason, string CreatedBy, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt, IReadOnlyList<string> Notes,
    string? PausedReason, IReadOnlyList<WaveResponse> Waves, RollbackResponse Rollback, IReadOnlyList<TimelineEntry> Timeline)
{
    /// <summary>The break-glass action that started it (an emergency deploy), when there is one.</summary>
    public string? Action { get; init; }

    /// <summary>Entries ever appended to the timeline; <c>timeline</c> holds only the newest of them.</summary>
    public int TimelineTotal { get; init; }

    /// <summary>The number of <c>timeline</c>'s first entry (entries are numbered from 0, as the event stream's ids are).</summary>
    public int TimelineFirst { get; init; }

    /// <summary>Where the whole timeline is read page by page, from its first entry.</summary>
    public string TimelineHistory { get; init; } = "";

    public static RolloutResponse From(RolloutView view)
    {
        var (spec, status) = (view.Spec, view.Status);
        var waves = status.Waves.Select((w, i) => new WaveResponse(
            w.Name, w.State, w.Targeted, w.Applied, w.Rejected, w.Healthy, w.Unhealthy, w.StartedAt, w.BakeUntil,
            w.Verdict is { } v ? new VerdictResponse(v.Result, v.Reasons) : null,
            spec.Plan.Waves[i].BakeSeconds, spec.Plan.Waves[i].RequiresApproval, w.ApprovedBy)).ToList();
        var rollback = status.Rollback is { } r
            ? new RollbackResponse(r.Reason, r.Targeted, r.Confirmed, r.StartedAt, r.CompletedAt, r.Aborted)
            : new RollbackResponse(null, 0, 0, null, null, false);
        return new RolloutResponse(spec.Id, spec.Unit, spec.Version, spec.PreviousVersion, RolloutCommands.Describe(status.State),
            status.CurrentWave, spec.PlanName, spec.Reason, spec.CreatedBy, spec.CreatedAt, status.FinishedAt, spec.Notes,
            status.PausedReason, waves, rollback, status.Timeline)
        {
            TimelineTotal = status.TimelineTotal,
            TimelineFirst = status.TimelineDropped,
            TimelineHistory = $"/v1/rollouts/{spec.Id}/timeline",
        };
    }
}

public sealed record RolloutSummaryResponse(string Id, string Unit, long Version, string State, string Plan, string CreatedBy, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt)
{
    public static RolloutSummaryResponse From(RolloutSummary s) =>
        new(s.Id, s.Unit, s.Version, RolloutCommands.Describe(s.State), s.Plan, s.CreatedBy, s.CreatedAt, s.FinishedAt);
}
