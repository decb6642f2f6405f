using Microsoft.Extensions.Logging;
using Snapstone.Domain.Audit;

namespace Snapstone.Grains.Audit;

/// <summary>
/// A grain's audit outbox. A change and its audit intent are made together, in memory and then in the same state
/// write, so they are stored together or not at all; <see cref="FlushAsync"/> then appends the intents to the chain,
/// oldest first (the audit store chains each intent at most once, so a retry never duplicates an entry). What does not
/// go through is retried: soon by a timer, after a crash by the <see cref="ReminderName"/> reminder that
/// <see cref="ArmAsync"/> registers before the first write that carries an intent, and by the grain's next activation.
/// </summary>
/// <remarks>
/// Grain-local: use it from the grain's own scheduler. The grain forwards its <see cref="ReminderName"/> reminder to
/// <see cref="ReceiveReminderAsync"/>. An appended intent leaves the list in memory; the grain's next write stores that.
/// </remarks>
public sealed class AuditOutbox(Grain grain, IGrainFactory grains, Func<List<AuditIntent>> pending, TimeProvider time, ILogger logger)
{
    public const string ReminderName = "audit-outbox";

    /// <summary>How long a change waits for its entry before answering anyway (the entry follows when the store answers).</summary>
    public static readonly TimeSpan AppendWait = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);
    private bool _armed;
    private IGrainTimer? _retry;
    private TimeSpan _delay = TimeSpan.FromSeconds(1);
    private Task? _flushing;

    public bool Empty => pending().Count == 0;

    /// <summary>A new intent for a change made now; the caller adds it to its state with the change.</summary>
    public AuditIntent Add(string actor, string action, string target, string? reason)
    {
        var intent = new AuditIntent(Guid.NewGuid().ToString("N"), new AuditRecord(actor, action, target, reason ?? ""), time.GetUtcNow());
        pending().Add(intent);
        return intent;
    }

    /// <summary>Drops an intent whose change was undone before it was stored.</summary>
    public void Remove(AuditIntent intent) => pending().Remove(intent);

    /// <summary>Registers the reminder that finishes the outbox after a crash; once per activation, before the first write with an intent.</summary>
    public async Task ArmAsync()
    {
        if (_armed)
        {
            return;
        }
        await grain.RegisterOrUpdateReminder(ReminderName, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        _armed = true;
    }

    /// <summary>Appends every pending intent; true when none is left. Waits at most <see cref="AppendWait"/> per intent.</summary>
    public async Task<bool> FlushAsync()
    {
        // One flush at a time: two would race for the same intents (harmless, as appends are idempotent, but wasteful).
        while (_flushing is { IsCompleted: false } running)
        {
            await running;
        }
        var flush = Flush();
        _flushing = flush;
        await flush;
        return Empty;
    }

    private async Task Flush()
    {
        var list = pending();
        while (list.Count > 0)
        {
            var intent = list[0];
            try
            {
                await grains.GetGrain<IAuditWriterGrain>(IAuditGrain.Key).Append(intent).WaitAsync(AppendWait);
                list.Remove(intent);
                _delay = TimeSpan.FromSeconds(1);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning("Audit entry {Intent} ({Action} on {Target} by {Actor}) not appended yet, retrying in {Delay}: {Error}",
                    intent.Id, intent.Record.Action, intent.Record.Target, intent.Record.Actor, _delay, e.Message);
                RetryLater();
                return;
            }
        }
    }

    /// <summary>The reminder fired: finish the outbox, and stop the reminder once it is empty.</summary>
    public async Task ReceiveReminderAsync()
    {
        if (await FlushAsync() && await grain.GetReminder(ReminderName) is { } reminder)
        {
            await grain.UnregisterReminder(reminder);
            _armed = false;
        }
    }

    /// <summary>At activation: anything left from before is appended shortly.</summary>
    public void ResumeIfPending()
    {
        if (!Empty)
        {
            RetryLater(TimeSpan.Zero);
        }
    }

    private void RetryLater(TimeSpan? due = null)
    {
        _retry?.Dispose();
        var wait = due ?? _delay;
        _delay = _delay * 2 > MaxRetryDelay ? MaxRetryDelay : _delay * 2;
        _retry = grain.RegisterGrainTimer(async _ =>
        {
            _retry?.Dispose();
            _retry = null;
            await FlushAsync();
        }, new GrainTimerCreationOptions(wait, Timeout.InfiniteTimeSpan) { Interleave = true, KeepAlive = true });
    }
}
