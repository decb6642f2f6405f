using Microsoft.Extensions.Logging;

namespace Snapstone.Grains.Storage;

/// <summary>
/// Group commit for one grain's persistent state. At most one write is in flight, and every change made
/// before a write starts is covered by it: many callers that change the state while a write is under way
/// share the next write instead of queueing one each. This is what lets a PoP grain take hundreds of
/// registrations a second with a handful of table writes, and a node grain answer a report without
/// waiting on storage.
/// </summary>
/// <remarks>
/// Grain-local: use it only from the grain's own scheduler. All of the grain's writes must go through it.
/// <c>onConflict</c> runs when storage refuses a write because the row changed under the activation; grains
/// pass their <c>DeactivateOnIdle</c>, so the next call reads the stored state afresh.
/// </remarks>
public sealed class StateWriter(Func<Task> write, ILogger logger, Func<string> owner, Action? onConflict = null)
{
    private TaskCompletionSource? _next;
    private Task _loop = Task.CompletedTask;

    /// <summary>True while a change is waiting for, or being carried by, a write.</summary>
    public bool Busy => _next is not null || !_loop.IsCompleted;

    /// <summary>True when the last write failed and no write has succeeded since: the stored state is behind.</summary>
    public bool Behind { get; private set; }

    /// <summary>Writes the state soon and completes once a write that started after this call has succeeded.</summary>
    public Task WriteAsync()
    {
        var next = _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_loop.IsCompleted)
        {
            _loop = Loop();
        }
        return next.Task;
    }

    /// <summary>
    /// Writes the state soon without waiting for it: for state the grain can rebuild (what a node last
    /// reported). A failure is logged; the next write carries the change.
    /// </summary>
    public void WriteBehind() =>
        WriteAsync().ContinueWith(
            t => logger.LogWarning(t.Exception!.GetBaseException(), "Write-behind of {Owner} failed; the next write carries it", owner()),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Current);

    /// <summary>
    /// Writes the state soon and keeps trying, backing off up to <see cref="MaxRetryDelay"/>, until a write that started
    /// after this call succeeds; completes then. For changes that act before they are stored (a rollback tells nodes at
    /// once from memory): they must reach storage as soon as it answers. Gives up only when storage holds a newer row
    /// than this activation read (the grain then starts over from what is stored).
    /// </summary>
    public async Task WriteDurablyAsync()
    {
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await WriteAsync();
                return;
            }
            catch (Orleans.Storage.InconsistentStateException)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                if (attempt == 1 || attempt % 10 == 0)
                {
                    logger.LogWarning("{Owner}: write failed (attempt {Attempt}), retrying until storage answers: {Error}", owner(), attempt, e.Message);
                }
                await Task.Delay(delay);
                delay = delay * 2 > MaxRetryDelay ? MaxRetryDelay : delay * 2;
            }
        }
    }

    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    /// <summary>Waits for every change made so far to be written (or to fail).</summary>
    public async Task FlushAsync()
    {
        while (Busy)
        {
            try
            {
                await (_next?.Task ?? _loop);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task Loop()
    {
        // Let the callers of this turn join the first write.
        await Task.Yield();
        while (_next is { } batch)
        {
            _next = null;
            try
            {
                await write();
                Behind = false;
                batch.SetResult();
            }
            catch (Exception e)
            {
                Behind = true;
                if (e is Orleans.Storage.InconsistentStateException)
                {
                    // Storage holds a newer row than this activation read (a write that timed out but landed):
                    // every later write would fail the same way, so the grain starts over from what is stored.
                    logger.LogWarning("{Owner}: stored state changed under this activation; deactivating to read it again", owner());
                    onConflict?.Invoke();
                }
                batch.SetException(e);
            }
        }
    }
}
