using Microsoft.Extensions.Logging;
using Snapstone.Domain.Rollouts;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Rollouts;

/// <summary>
/// One rollout's whole timeline, kept in <see cref="TimelineStore"/> behind the rollout's own writes: the state row holds
/// only the newest <see cref="RolloutStatus.MaxTimeline"/> entries, so it stays small however many pauses, resumes and
/// reasons a client sends, and every entry stays readable, in order, page by page.
/// </summary>
/// <remarks>
/// <para>
/// Contract: an entry is written once a state write that holds it has succeeded (<see cref="Stored"/>), never before,
/// so the journal never holds an entry the stored status does not (a command whose write failed takes its entry back).
/// Nothing the rollout does waits for the journal: entries are written in the background, one table transaction per
/// write, retried with backoff until storage answers. Until then they are read from memory.
/// </para>
/// <para>
/// After a restart the stored tail is checked against the table once (row keys only) and what is missing is written
/// again. Entries are lost only if the journal's table refuses every write while the grain table takes
/// <see cref="RolloutStatus.MaxTimeline"/> transitions and the silo then dies; or past <see cref="MaxPending"/> entries
/// waiting in memory. Either is logged, and a page read leaves the lost numbers out.
/// </para>
/// Grain-local, like <see cref="StateWriter"/>: used only from the rollout grain's scheduler.
/// </remarks>
public sealed class RolloutJournal(TimelineStore store, Func<string> rollout, ILogger logger)
{
    /// <summary>Entries held in memory while the table refuses them; past it the oldest are dropped, and logged.</summary>
    public const int MaxPending = 5000;
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    private readonly SortedDictionary<int, TimelineEntry> _pending = [];
    /// <summary>Entries numbered below this have been seen.</summary>
    private int _known;
    /// <summary>Entries numbered below this are in a stored status and may be written.</summary>
    private int _eligible;
    /// <summary>The entries tracked at activation may already be in the table: check before writing them.</summary>
    private bool _check;
    private Task _loop = Task.CompletedTask;

    /// <summary>Entries waiting to be written.</summary>
    public int Pending => _pending.Count;

    /// <summary>The status read at activation: its tail is stored, and whatever of it the table lacks is written again.</summary>
    public void Resume(RolloutStatus stored)
    {
        Track(stored);
        _check = _pending.Count > 0;
        Stored(stored);
    }

    /// <summary>The status changed: note its new entries (each transition adds one); a status taken back takes its entries back.</summary>
    public void Track(RolloutStatus status)
    {
        var total = status.TimelineTotal;
        if (total < _known)
        {
            foreach (var n in _pending.Keys.Where(n => n >= total).ToList())
            {
                _pending.Remove(n);
            }
            _known = total;
            _eligible = Math.Min(_eligible, total);
            return;
        }
        if (_known < status.TimelineDropped && _known > 0)
        {
            logger.LogWarning("Rollout {Rollout}: timeline entries {From} to {To} left the status before the journal saw them", rollout(), _known, status.TimelineDropped - 1);
        }
        for (var n = Math.Max(_known, status.TimelineDropped); n < total; n++)
        {
            _pending[n] = status.Timeline[n - status.TimelineDropped];
        }
        _known = total;
        while (_pending.Count > MaxPending)
        {
            var oldest = _pending.Keys.First();
            _pending.Remove(oldest);
            logger.LogError("Rollout {Rollout}: timeline entry {Number} dropped: {Count} entries wait for the journal's table", rollout(), oldest, MaxPending);
        }
    }

    /// <summary>A state write holding <paramref name="status"/> succeeded: its entries may be written now.</summary>
    public void Stored(RolloutStatus status)
    {
        _eligible = Math.Max(_eligible, Math.Min(status.TimelineTotal, _known));
        if (_loop.IsCompleted && _pending.Count > 0 && _pending.Keys.First() < _eligible)
        {
            _loop = Loop();
        }
    }

    /// <summary>Waits up to <paramref name="wait"/> for every stored entry to be written (a deactivation's last chance).</summary>
    public async Task FlushAsync(TimeSpan wait)
    {
        try
        {
            await _loop.WaitAsync(wait);
        }
        catch (TimeoutException)
        {
            logger.LogWarning("Rollout {Rollout}: {Count} timeline entries not yet in the journal at deactivation; the next activation writes them from the stored tail", rollout(), _pending.Count);
        }
    }

    /// <summary>
    /// Entries numbered after <paramref name="after"/> (−1: from the first), at most <paramref name="limit"/>, as
    /// <paramref name="published"/> counts them: the table for entries older than the status's tail (or memory, for those
    /// not yet written), the tail itself for the rest.
    /// </summary>
    public async Task<TimelinePage> ReadAsync(RolloutStatus published, int after, int limit)
    {
        var from = Math.Max(0, after + 1);
        var total = published.TimelineTotal;
        var to = (int)Math.Min(total, (long)from + limit);
        var entries = new List<NumberedEntry>(Math.Max(0, to - from));
        var tail = published.TimelineDropped;
        if (from < Math.Min(to, tail))
        {
            var end = Math.Min(to, tail);
            var stored = (await store.ReadAsync(rollout(), from, end)).ToDictionary(e => e.Number, e => e.Entry);
            for (var n = from; n < end; n++)
            {
                if (stored.TryGetValue(n, out var entry) || _pending.TryGetValue(n, out entry))
                {
                    entries.Add(new NumberedEntry(n, entry));
                }
            }
        }
        for (var n = Math.Max(from, tail); n < to; n++)
        {
            entries.Add(new NumberedEntry(n, published.Timeline[n - tail]));
        }
        return new TimelinePage(entries, total, to < total ? to - 1 : null);
    }

    private async Task Loop()
    {
        // Let the rest of this turn's changes join the first write.
        await Task.Yield();
        var delay = TimeSpan.FromMilliseconds(100);
        var failures = 0;
        while (_pending.Count > 0 && _pending.Keys.First() < _eligible)
        {
            var batch = _pending.Where(p => p.Key < _eligible).Take(TimelineStore.MaxBatch).Select(p => (p.Key, p.Value)).ToList();
            try
            {
                if (_check)
                {
                    var stored = await store.StoredAsync(rollout(), batch[0].Key, _eligible);
                    _check = false;
                    Remove(batch.Where(e => stored.Contains(e.Key)));
                    continue;
                }
                await store.AppendAsync(rollout(), batch);
                Remove(batch);
                delay = TimeSpan.FromMilliseconds(100);
                failures = 0;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                if (failures++ % 10 == 0)
                {
                    logger.LogWarning("Rollout {Rollout}: {Count} timeline entries not written to the journal yet (attempt {Attempt}), retrying: {Error}",
                        rollout(), _pending.Count, failures, e.Message);
                }
                await Task.Delay(delay);
                delay = delay * 2 > MaxRetryDelay ? MaxRetryDelay : delay * 2;
            }
        }
    }

    /// <summary>Forgets written entries, unless a newer status put another entry under the same number meanwhile.</summary>
    private void Remove(IEnumerable<(int Number, TimelineEntry Entry)> written)
    {
        foreach (var (n, entry) in written)
        {
            if (_pending.TryGetValue(n, out var now) && ReferenceEquals(now, entry))
            {
                _pending.Remove(n);
            }
        }
    }
}
