using Microsoft.Extensions.Logging;
using Snapstone.Domain.Audit;
using Snapstone.Domain.BreakGlass;
using Snapstone.Grains.Audit;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Emergency;

[GenerateSerializer, Alias("snapstone.ControlState")]
public sealed class ControlState
{
    [Id(0)] public List<Freeze> Freezes { get; set; } = [];
    /// <summary>Audit intents of freezes and lifts, stored with the freeze list they changed.</summary>
    [Id(1)] public List<AuditIntent> Outbox { get; set; } = [];
    /// <summary>Break-glass actions started and not finished, for the start-up sweep.</summary>
    [Id(2)] public List<string> OpenActions { get; set; } = [];
}

/// <summary>
/// Freezes. Rollouts ask which freezes apply on every tick and derive their pause from the answer, so a freeze
/// needs nothing undone when it ends; a new, lifted or expired freeze only wakes the matching rollouts so they notice
/// at once. A freeze is in force the moment it is recorded in memory and stored (with its audit entry) as soon as
/// storage answers: no storage or incident write stands between on-call and a freeze. Depends on nothing but
/// Snapstone's own grains and storage.
/// </summary>
public sealed class ControlGrain : Grain, IControlWriterGrain, IRemindable
{
    private const string ExpiryReminder = "expiry";
    private const int MaxOpenActions = 1000;
    private static readonly TimeSpan WakeWait = TimeSpan.FromSeconds(5);
    private readonly IPersistentState<ControlState> state;
    private readonly TimeProvider time;
    private readonly ILogger<ControlGrain> logger;
    private readonly StateWriter _writer;
    private readonly AuditOutbox _outbox;
    private IGrainTimer? _expiry;
    /// <summary>
    /// Whether the expiry reminder may be registered: looked up once an activation has no expiring freeze, then known,
    /// so the once-a-second expiry check does not read the reminder table (and hold up every rollout's freeze check
    /// while storage is slow).
    /// </summary>
    private bool _reminderMaybeSet = true;

    public ControlGrain([PersistentState("control", StorageNames.Grains)] IPersistentState<ControlState> state, IGrainFactory grains, TimeProvider time,
        ILogger<ControlGrain> logger)
    {
        this.state = state;
        this.time = time;
        this.logger = logger;
        _writer = new StateWriter(state.WriteStateAsync, logger, () => "control", () => this.DeactivateOnIdle());
        _outbox = new AuditOutbox(this, grains, () => state.State.Outbox, time, logger);
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        WatchExpiry();
        _outbox.ResumeIfPending();
        return Task.CompletedTask;
    }

    public async Task<Freeze> Put(Freeze freeze, string action)
    {
        state.State.Freezes.RemoveAll(f => f.Unit == freeze.Unit || !f.ActiveAt(time.GetUtcNow()));
        state.State.Freezes.Add(freeze);
        _outbox.Add(freeze.By, "breakglass.freeze", freeze.Unit is null ? "units/*" : $"unit/{freeze.Unit}", freeze.Reason);
        logger.LogWarning("Freeze (action {Action}): {Freeze}", action, freeze.Describe());
        await Settle(freeze.Until is not null);
        return freeze;
    }

    public async Task<Freeze?> Remove(string? unit, string actor, string action)
    {
        var lifted = state.State.Freezes.FirstOrDefault(f => f.Unit == unit);
        if (lifted is null)
        {
            return null;
        }
        state.State.Freezes.Remove(lifted);
        _outbox.Add(actor, "breakglass.unfreeze", unit is null ? "units/*" : $"unit/{unit}", lifted.Reason);
        logger.LogWarning("Freeze lifted by {Actor} (action {Action}): {Freeze}", actor, action, lifted.Describe());
        await Settle(expiring: false);
        return lifted;
    }

    /// <summary>
    /// Stores the change with its audit intent, waiting a little for storage but never failing the freeze on it: the
    /// freeze already holds (rollouts ask this grain), and the write keeps retrying until storage answers.
    /// </summary>
    private async Task Settle(bool expiring)
    {
        var stored = StoreAsync(expiring);
        await Task.WhenAny(stored, Task.Delay(AuditOutbox.AppendWait));
    }

    private async Task StoreAsync(bool expiring)
    {
        try
        {
            await _outbox.ArmAsync();
            if (expiring)
            {
                _reminderMaybeSet = true;
                await this.RegisterOrUpdateReminder(ExpiryReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Control: reminders not registered yet ({Error}); the write below still carries the change", e.Message);
        }
        await _writer.WriteDurablyAsync();
        await _outbox.FlushAsync();
    }

    public Task<Freeze?> FreezeOf(string unit) => Task.FromResult(BreakGlassRules.Applicable(state.State.Freezes, unit, time.GetUtcNow()));

    public Task<IReadOnlyList<Freeze>> Freezes() =>
        Task.FromResult<IReadOnlyList<Freeze>>([.. state.State.Freezes.Where(f => f.ActiveAt(time.GetUtcNow()))]);

    public async Task Nudge(Freeze freeze)
    {
        var catalog = await GrainFactory.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
        var units = await Task.WhenAll(catalog.Units.Keys.Where(freeze.Covers).Select(u => GrainFactory.GetGrain<IUnitGrain>(u).Get()));
        await Task.WhenAll(units.Select(u => u?.ActiveRollout).OfType<string>().Select(async id =>
        {
            try
            {
                await GrainFactory.GetGrain<IRolloutRunnerGrain>(id).Wake().WaitAsync(WakeWait);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // It ticks on its own and asks again; the freeze holds regardless.
                logger.LogInformation("Rollout {Rollout} not woken for the freeze: {Reason}", id, e.Message);
            }
        }));
    }

    public Task Track(string action)
    {
        if (!state.State.OpenActions.Contains(action))
        {
            state.State.OpenActions.Add(action);
            if (state.State.OpenActions.Count > MaxOpenActions)
            {
                state.State.OpenActions.RemoveRange(0, state.State.OpenActions.Count - MaxOpenActions);
            }
        }
        return _writer.WriteDurablyAsync();
    }

    public Task Done(string action) =>
        state.State.OpenActions.Remove(action) ? _writer.WriteDurablyAsync() : Task.CompletedTask;

    public Task<IReadOnlyList<string>> OpenActions() => Task.FromResult<IReadOnlyList<string>>([.. state.State.OpenActions]);

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == AuditOutbox.ReminderName)
        {
            await _outbox.ReceiveReminderAsync();
            return;
        }
        await LiftExpired();
    }

    private void WatchExpiry() =>
        _expiry ??= this.RegisterGrainTimer(_ => LiftExpired(), new GrainTimerCreationOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)) { Interleave = false });

    private async Task LiftExpired()
    {
        var now = time.GetUtcNow();
        var expired = state.State.Freezes.Where(f => !f.ActiveAt(now)).ToList();
        if (expired.Count == 0)
        {
            if (_reminderMaybeSet && state.State.Freezes.All(f => f.Until is null))
            {
                if (await this.GetReminder(ExpiryReminder) is { } reminder)
                {
                    await this.UnregisterReminder(reminder);
                }
                _reminderMaybeSet = false;
            }
            return;
        }
        // Rollouts already treat an expired freeze as lifted (they compare its end with their clock); this only tidies up.
        state.State.Freezes.RemoveAll(expired.Contains);
        await _writer.WriteAsync();
        foreach (var freeze in expired)
        {
            logger.LogWarning("Freeze expired: {Freeze}", freeze.Describe());
            await Nudge(freeze);
        }
    }
}
