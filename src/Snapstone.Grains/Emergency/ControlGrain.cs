using Microsoft.Extensions.Logging;
using Snapstone.Domain.BreakGlass;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Grains.Emergency;

[GenerateSerializer, Alias("snapstone.ControlState")]
public sealed class ControlState
{
    [Id(0)] public List<Freeze> Freezes { get; set; } = [];
}

/// <summary>
/// Freezes. A freeze pauses every matching active rollout at once and refuses new ones; lifting it, or its TTL
/// running out, resumes the rollouts it paused. Depends on nothing but Snapstone's own grains and storage.
/// </summary>
public sealed class ControlGrain(
    [PersistentState("control", StorageNames.Grains)] IPersistentState<ControlState> state,
    TimeProvider time,
    ILogger<ControlGrain> logger) : Grain, IControlGrain, IRemindable
{
    /// <summary>Who pauses rollouts for a freeze; lifting resumes exactly those.</summary>
    public const string FreezeActor = "freeze";
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
        await ForEachActiveRollout(freeze, rollout => rollout.Pause(FreezeActor, freeze.Describe()));
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
        await ResumePaused(lifted, $"freeze lifted by {actor}");
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
            await ResumePaused(freeze, "freeze expired");
        }
    }

    /// <summary>Resumes the rollouts this freeze paused, unless another freeze still covers them.</summary>
    private Task ResumePaused(Freeze lifted, string why) =>
        ForEachActiveRollout(lifted, async rollout =>
        {
            if (await rollout.Get() is { Status: { State: RolloutState.Paused, PausedBy: FreezeActor } } view &&
                BreakGlassRules.Applicable(state.State.Freezes, view.Spec.Unit, time.GetUtcNow()) is null)
            {
                await rollout.Resume(FreezeActor, why);
            }
        });

    private async Task ForEachActiveRollout(Freeze freeze, Func<IRolloutGrain, Task> act)
    {
        var catalog = await GrainFactory.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
        var units = await Task.WhenAll(catalog.Units.Keys.Where(freeze.Covers).Select(u => GrainFactory.GetGrain<IUnitGrain>(u).Get()));
        await Task.WhenAll(units.Select(u => u?.ActiveRollout).OfType<string>().Select(async id =>
        {
            try
            {
                await act(GrainFactory.GetGrain<IRolloutGrain>(id));
            }
            catch (SnapstoneException e)
            {
                // Already paused, finished or rolling back: nothing for the freeze to do there.
                logger.LogInformation("Freeze left rollout {Rollout} as it was: {Reason}", id, e.Message);
            }
        }));
    }
}
