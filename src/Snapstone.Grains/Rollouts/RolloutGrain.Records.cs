using Snapstone.Domain.Health;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Grains.Rollouts;

/// <summary>
/// The rollout's records outside its state row: the whole timeline (<see cref="RolloutJournal"/>), the evidence of its
/// verdicts (<see cref="EvidenceRecorder"/>), and that evidence judged again. Reads only; each interleaves.
/// </summary>
public sealed partial class RolloutGrain : IRolloutRecordsGrain
{
    private static readonly TimeSpan FlushOnDeactivate = TimeSpan.FromSeconds(5);

    public async Task<TimelinePage?> ReadTimeline(int after, int limit)
    {
        if (state.State.Spec is null || _published is not { } published)
        {
            return null;
        }
        return await _journal.ReadAsync(published, after, Math.Clamp(limit, 1, IRolloutRecordsGrain.MaxTimelinePage));
    }

    public async Task<IReadOnlyList<RecordedLook>?> Evidence(int? wave) =>
        state.State.Spec is null ? null : await _evidence.LooksAsync(Id, wave);

    /// <summary>
    /// Each wave's newest recorded look judged with <paramref name="plan"/>'s wave of the same index (or the rollout's own
    /// waves with <paramref name="gates"/>) by <see cref="Replay.Rejudge"/>, beside the verdict the rollout recorded on the wave.
    /// </summary>
    public async Task<RolloutJudgement?> Judge(Plan? plan, Gates? gates)
    {
        if (state.State.Spec is not { } spec || _published is not { } published)
        {
            return null;
        }
        plan ??= spec.Plan with { Waves = [.. spec.Plan.Waves.Select(w => w with { Gates = gates ?? w.Gates })] };
        var newest = (await _evidence.LooksAsync(Id, null)).GroupBy(l => l.Wave).ToDictionary(g => g.Key, g => g.MaxBy(l => l.At)!);
        var evidence = Enumerable.Range(0, plan.Waves.Count).Select(k => newest.GetValueOrDefault(k)?.Evidence).ToList();
        var replayed = Replay.Rejudge(plan, evidence);
        return new RolloutJudgement(Id, [.. replayed.Select(r => new WaveRejudgement(r,
            r.Wave < published.Waves.Count ? published.Waves[r.Wave].Verdict : null,
            newest.GetValueOrDefault(r.Wave)?.At))]);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await Task.WhenAll(_journal.FlushAsync(FlushOnDeactivate), _evidence.FlushAsync(FlushOnDeactivate));
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <summary>The look just judged, recorded behind the rollout with the verdict it gave.</summary>
    private void RecordEvidence(Domain.Health.WaveEvidence evidence, Verdict verdict) =>
        _evidence.RecordEvidence(Id, evidence, verdict, time.GetUtcNow());

    /// <summary>Every status change: its timeline entry for the journal, and the look the rollout acted on.</summary>
    private void Recorded(RolloutStatus? previous, RolloutStatus next)
    {
        _journal.Track(next);
        _evidence.Acted(previous, next);
    }
}
