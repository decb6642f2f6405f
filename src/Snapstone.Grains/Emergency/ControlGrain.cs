using Microsoft.Extensions.Logging;
using Snapstone.Domain.BreakGlass;

namespace Snapstone.Grains.Emergency;

[GenerateSerializer, Alias("snapstone.ControlState")]
public sealed class ControlState
{
    [Id(0)] public List<Freeze> Freezes { get; set; } = [];
}

/// <summary>
/// Freezes. Rollouts ask which freezes apply on every tick and derive their pause from the answer, so a freeze
/// needs nothing undone when it ends; a new or lifted freeze only wakes the matching rollouts so they notice at once.
/// Depends on nothing but Snapstone's own grains and storage.
/// </summary>
public sealed class ControlGrain(
    [PersistentState("control", StorageNames.Grains)] IPersistentState<ControlState> state,
    TimeProvider time,
    ILogger<ControlGrain> logger) : Grain, IControlGrain, IRemindable
{
    private static readonly TimeSpan WakeWait = TimeSpan.FromSeconds(5);
    private IGrainTimer? _expiry;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        WatchExpiry();
        return Task.CompletedTask;
    }

    public async Task<Freeze> Freeze(Freeze freeze)
    {
        state.State.Freezes.RemoveAll(f => f.Unit == freeze.Unit || !f.ActiveAt(time.GetUtcNow()));
        state.State.Freezes.Add(freeze);
        await state.WriteStateAsync();
        if (freeze.Until is not null)
        {
            await this.RegisterOrUpdateReminder("expiry", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        }
        WatchExpiry();
        logger.LogWarning("Freeze: {Freeze}", freeze.Describe());
        await WakeRollouts(freeze);
        return freeze;
    }

    public async Task<Freeze?> Lift(string? unit, string actor)
    {
        var lifted = state.State.Freezes.FirstOrDefault(f => f.Unit == unit);
        if (lifted is null)
        {
            return null;
        }
        state.State.Freezes.Remove(lifted);
        await state.WriteStateAsync();
        logger.LogWarning("Freeze lifted by {Actor}: {Freeze}", actor, lifted.Describe());
        await WakeRollouts(lifted);
        return lifted;
    }

    public Task<Freeze?> FreezeOf(string unit) => Task.FromResult(BreakGlassRules.Applicable(state.State.Freezes, unit, time.GetUtcNow()));

    public Task<IReadOnlyList<Freeze>> Freezes() =>
        Task.FromResult<IReadOnlyList<Freeze>>([.. state.State.Freezes.Where(f => f.ActiveAt(time.GetUtcNow()))]);

    public Task ReceiveReminder(string reminderName, TickStatus status) => LiftExpired();

    private void WatchExpiry() =>
        _expiry ??= this.RegisterGrainTimer(_ => LiftExpired(), new GrainTimerCreationOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)) { Interleave = false });

    private async Task LiftExpired()
    {
        var now = time.GetUtcNow();
        var expired = state.State.Freezes.Where(f => !f.ActiveAt(now)).ToList();
        if (expired.Count == 0)
        {
            if (state.State.Freezes.All(f => f.Until is null) && await this.GetReminder("expiry") is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
            return;
        }
        state.State.Freezes.RemoveAll(expired.Contains);
        await state.WriteStateAsync();
        foreach (var freeze in expired)
        {
            logger.LogWarning("Freeze expired: {Freeze}", freeze.Describe());
            await WakeRollouts(freeze);
        }
    }

    /// <summary>Wakes every active rollout the freeze covers, so it takes the freeze (or its end) into account now, not at its next tick.</summary>
    private async Task WakeRollouts(Freeze freeze)
    {
        var catalog = await GrainFactory.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
        var units = await Task.WhenAll(catalog.Units.Keys.Where(freeze.Covers).Select(u => GrainFactory.GetGrain<IUnitGrain>(u).Get()));
        await Task.WhenAll(units.Select(u => u?.ActiveRollout).OfType<string>().Select(async id =>
        {
            try
            {
                await GrainFactory.GetGrain<IRolloutGrain>(id).Wake().WaitAsync(WakeWait);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // It ticks on its own and asks again; the freeze holds regardless.
                logger.LogInformation("Rollout {Rollout} not woken for the freeze: {Reason}", id, e.Message);
            }
        }));
    }
}
