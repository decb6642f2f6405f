using Microsoft.Extensions.Logging;
using Snapstone.Domain.Health;
using Snapstone.Domain.Rollouts;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Rollouts;

/// <summary>
/// Records what each of a rollout's verdicts was made from (<see cref="EvidenceStore"/>), behind the rollout: nothing
/// the rollout does waits for it, and its reads see what is still in memory.
/// </summary>
/// <remarks>
/// What is kept, per wave: its newest look (replaced, written at most every <see cref="LatestEvery"/>), every look whose
/// result differed from the look before it, and every look whose verdict the rollout recorded on the wave (it passed,
/// failed, was noted inconclusive or paused the rollout), at most <see cref="MaxKeptPerWave"/> of those two: past it the
/// oldest changed-result look goes first, an acted-on one only when nothing else is left. So a rollout keeps at most
/// waves × (1 + <see cref="MaxKeptPerWave"/>) looks, for as long as the rollout itself is kept.
/// Grain-local, like <see cref="StateWriter"/>.
/// </remarks>
public sealed class EvidenceRecorder(EvidenceStore store, TimeProvider time, ILogger logger)
{
    public const int MaxKeptPerWave = 16;
    public static readonly TimeSpan LatestEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    private readonly Dictionary<int, RecordedLook> _latest = [];
    /// <summary>Waves whose newest look is not yet written.</summary>
    private readonly HashSet<int> _latestDirty = [];
    private readonly Dictionary<int, DateTimeOffset> _latestWritten = [];
    private readonly List<RecordedLook> _kept = [];
    private Task _loop = Task.CompletedTask;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// One look at a wave: <paramref name="evidence"/> as the judge was given it and the <paramref name="verdict"/> it
    /// gave. Returns at once; the look is stored in the background.
    /// </summary>
    public void RecordEvidence(string rollout, Domain.Health.WaveEvidence evidence, Verdict verdict, DateTimeOffset now)
    {
        var wave = evidence.Wave;
        var look = new RecordedLook { Rollout = rollout, Wave = wave, At = evidence.At ?? now, Kind = LookKind.Latest, Evidence = evidence, Verdict = verdict };
        var previous = _latest.GetValueOrDefault(wave);
        _latest[wave] = look;
        _latestDirty.Add(wave);
        if (previous is null || previous.Verdict.Result != verdict.Result)
        {
            Keep(look with { Kind = LookKind.Changed });
        }
        Kick();
    }

    /// <summary>The status changed: a wave whose recorded verdict is its newest look's keeps that look as acted on.</summary>
    public void Acted(RolloutStatus? previous, RolloutStatus next)
    {
        for (var k = 0; k < next.Waves.Count; k++)
        {
            if (next.Waves[k].Verdict is { } verdict && !ReferenceEquals(verdict, previous?.Waves.ElementAtOrDefault(k)?.Verdict) &&
                _latest.GetValueOrDefault(k) is { } look && ReferenceEquals(look.Verdict, verdict))
            {
                _kept.RemoveAll(l => l.Wave == k && l.At == look.At);
                Keep(look with { Kind = LookKind.Acted });
                Kick();
            }
        }
    }

    /// <summary>Waits up to <paramref name="wait"/> for what is recorded to be stored.</summary>
    public async Task FlushAsync(TimeSpan wait)
    {
        foreach (var wave in _latestDirty)
        {
            _latestWritten.Remove(wave);
        }
        Kick();
        try
        {
            await _loop.WaitAsync(wait);
        }
        catch (TimeoutException)
        {
            logger.LogWarning("Evidence of {Count} look(s) not stored at deactivation", _kept.Count + _latestDirty.Count);
        }
    }

    /// <summary>The looks recorded for <paramref name="wave"/> (or every wave), oldest first: stored ones, and those still in memory.</summary>
    public async Task<IReadOnlyList<RecordedLook>> LooksAsync(string rollout, int? wave)
    {
        var looks = new Dictionary<(int, LookKind, DateTimeOffset), RecordedLook>();
        var listed = await store.ListAsync(rollout, wave);
        var read = await Task.WhenAll(listed.Select(s => store.ReadAsync(s.Name)));
        foreach (var look in read.OfType<RecordedLook>())
        {
            looks[(look.Wave, look.Kind, look.At)] = look;
        }
        foreach (var look in _kept.Concat(_latest.Values).Where(l => wave is null || l.Wave == wave))
        {
            looks[(look.Wave, look.Kind, look.At)] = look;
        }
        // The newest look stands once: as itself when it was also kept, else as the wave's latest.
        var kept = looks.Values.Where(l => l.Kind != LookKind.Latest).Select(l => (l.Wave, l.At)).ToHashSet();
        var latest = looks.Values.Where(l => l.Kind == LookKind.Latest).GroupBy(l => l.Wave).Select(g => g.MaxBy(l => l.At)!);
        return [.. looks.Values.Where(l => l.Kind != LookKind.Latest).Concat(latest.Where(l => !kept.Contains((l.Wave, l.At))))
            .OrderBy(l => l.Wave).ThenBy(l => l.At)];
    }

    private void Keep(RecordedLook look)
    {
        _kept.Add(look);
        // A backlog while storage is down is bounded like what is stored.
        while (_kept.Count > 2 * MaxKeptPerWave)
        {
            var drop = _kept.FirstOrDefault(l => l.Kind == LookKind.Changed) ?? _kept[0];
            _kept.Remove(drop);
            logger.LogWarning("Rollout {Rollout}: evidence of wave {Wave} at {At} not stored: too many looks wait for storage", drop.Rollout, drop.Wave, drop.At);
        }
    }

    private void Kick()
    {
        if (_loop.IsCompleted)
        {
            _loop = Loop();
        }
        else
        {
            _wake.TrySetResult();
        }
    }

    private async Task Loop()
    {
        await Task.Yield();
        var delay = TimeSpan.FromMilliseconds(100);
        var failures = 0;
        while (true)
        {
            var kept = _kept.FirstOrDefault();
            var wave = kept is null ? DueLatest() : null;
            if (kept is null && wave is null)
            {
                if (_latestDirty.Count == 0)
                {
                    return;
                }
                _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await Task.WhenAny(Task.Delay(LatestEvery, time), _wake.Task);
                continue;
            }
            try
            {
                if (kept is not null)
                {
                    await store.WriteAsync(kept);
                    _kept.Remove(kept);
                    await Trim(kept.Rollout, kept.Wave);
                }
                else
                {
                    var look = _latest[wave!.Value];
                    await store.WriteAsync(look);
                    _latestWritten[look.Wave] = time.GetUtcNow();
                    if (ReferenceEquals(_latest[look.Wave], look))
                    {
                        _latestDirty.Remove(look.Wave);
                    }
                }
                delay = TimeSpan.FromMilliseconds(100);
                failures = 0;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                if (failures++ % 10 == 0)
                {
                    logger.LogWarning("Evidence not stored yet (attempt {Attempt}), retrying: {Error}", failures, e.Message);
                }
                await Task.Delay(delay);
                delay = delay * 2 > MaxRetryDelay ? MaxRetryDelay : delay * 2;
            }
        }
    }

    /// <summary>A wave whose newest look waits and was not written in the last <see cref="LatestEvery"/>.</summary>
    private int? DueLatest()
    {
        foreach (var wave in _latestDirty)
        {
            if (!_latestWritten.TryGetValue(wave, out var at) || time.GetUtcNow() - at >= LatestEvery)
            {
                return wave;
            }
        }
        return null;
    }

    /// <summary>Keeps at most <see cref="MaxKeptPerWave"/> kept looks of a wave: the oldest changed-result ones go first.</summary>
    private async Task Trim(string rollout, int wave)
    {
        var kept = (await store.ListAsync(rollout, wave)).Where(s => s.Kind != LookKind.Latest).ToList();
        var excess = kept.Count - MaxKeptPerWave;
        if (excess <= 0)
        {
            return;
        }
        var drop = kept.Where(s => s.Kind == LookKind.Changed).Concat(kept.Where(s => s.Kind == LookKind.Acted)).Take(excess);
        foreach (var stored in drop)
        {
            await store.DeleteAsync(stored.Name);
        }
    }
}
