using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;

namespace Snapstone;

/// <summary>A timeline entry with its number: the rollout's <c>n</c>-th entry ever appended, from 0.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.NumberedEntry")]
public sealed record NumberedEntry([property: Id(0)] int Number, [property: Id(1)] TimelineEntry Entry);

/// <summary>
/// One page of a rollout's whole timeline, in order. <see cref="NextAfter"/> is the <c>after</c> of the next page, null
/// on the last one. An entry the journal lost (see the rollouts doc) is left out, its number skipped.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.TimelinePage")]
public sealed record TimelinePage(
    [property: Id(0)] IReadOnlyList<NumberedEntry> Entries,
    [property: Id(1)] int Total,
    [property: Id(2)] int? NextAfter);

/// <summary>Why a recorded look was kept (see the rollouts doc, "Evidence").</summary>
public enum LookKind
{
    /// <summary>The wave's newest look, replaced by the next one.</summary>
    Latest,
    /// <summary>A look whose result differed from the one before it.</summary>
    Changed,
    /// <summary>A look whose verdict the rollout recorded on the wave (passed, failed, inconclusive noted, paused).</summary>
    Acted,
}

/// <summary>One look at a wave as recorded: the evidence the judge was given and the verdict it gave.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RecordedLook")]
public sealed record RecordedLook
{
    [Id(0)] public required string Rollout { get; init; }
    [Id(1)] public required int Wave { get; init; }
    [Id(2)] public required DateTimeOffset At { get; init; }
    [Id(3)] public required LookKind Kind { get; init; }
    [Id(4)] public required WaveEvidence Evidence { get; init; }
    [Id(5)] public required Verdict Verdict { get; init; }
}

/// <summary>One wave re-judged: what the recorded evidence gives under the other gates, beside what was recorded.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.WaveRejudgement")]
public sealed record WaveRejudgement(
    [property: Id(0)] Rejudgement Replayed,
    /// <summary>The verdict the rollout recorded on the wave (null: it recorded none).</summary>
    [property: Id(1)] Verdict? Recorded,
    /// <summary>The look that was judged again (the wave's newest); null when the wave has no recorded evidence.</summary>
    [property: Id(2)] DateTimeOffset? EvidenceAt);

/// <summary>A rollout's recorded evidence judged again under another plan (or other gates), wave by wave.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.RolloutJudgement")]
public sealed record RolloutJudgement([property: Id(0)] string Rollout, [property: Id(1)] IReadOnlyList<WaveRejudgement> Waves);

/// <summary>
/// A rollout's records kept outside its state row: its whole timeline, the evidence its verdicts were made from, and
/// that evidence judged again. Implemented by the rollout grain (same key, same activation); every method reads only
/// and interleaves, so no read waits behind a tick.
/// </summary>
[Alias("snapstone.IRolloutRecordsGrain")]
public interface IRolloutRecordsGrain : IGrainWithStringKey
{
    public const int MaxTimelinePage = 500;

    /// <summary>Entries numbered after <paramref name="after"/> (−1: from the first), at most <paramref name="limit"/>. Null when there is no such rollout.</summary>
    [Alias("ReadTimeline"), Orleans.Concurrency.AlwaysInterleave]
    Task<TimelinePage?> ReadTimeline(int after, int limit);

    /// <summary>The recorded looks of <paramref name="wave"/> (or of every wave), oldest first. Null when there is no such rollout.</summary>
    [Alias("Evidence"), Orleans.Concurrency.AlwaysInterleave]
    Task<IReadOnlyList<RecordedLook>?> Evidence(int? wave);

    /// <summary>
    /// Each wave's newest recorded look judged under <paramref name="plan"/>'s wave of the same index, or, with
    /// <paramref name="gates"/> instead, under the rollout's own plan with every wave's gates replaced by them. Both are
    /// checked by the caller (<c>PlanRules</c>). Null when there is no such rollout.
    /// </summary>
    [Alias("Judge"), Orleans.Concurrency.AlwaysInterleave]
    Task<RolloutJudgement?> Judge(Plan? plan, Gates? gates);
}
