using Microsoft.Extensions.Logging;
using Snapstone.Domain.Incidents;

namespace Snapstone.Grains.Emergency;

[GenerateSerializer, Alias("snapstone.BreakGlassState")]
public sealed class BreakGlassState
{
    [Id(0)] public BreakGlassView? View { get; set; }
}

/// <summary>
/// Instant rollback: every consumer of the unit is told its LKG at once through the PoP grains (no waves), then
/// confirmations are counted until every one reports the LKG, and the incident follows along.
/// </summary>
public sealed class BreakGlassGrain(
    [PersistentState("breakglass", StorageNames.Grains)] IPersistentState<BreakGlassState> state,
    TimeProvider time,
    ILogger<BreakGlassGrain> logger) : Grain, IBreakGlassGrain
{
    private IGrainTimer? _watch;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.View is { CompletedAt: null })
        {
            Watch();
        }
        return Task.CompletedTask;
    }

    public async Task<BreakGlassView> Start(BreakGlassOrder order)
    {
        if (state.State.View is { } existing)
        {
            return existing;
        }
        var id = this.GetPrimaryKeyString();
        state.State.View = new BreakGlassView { Id = id, Order = order, StartedAt = time.GetUtcNow() };
        await state.WriteStateAsync();
        var sent = await FanOut((pop, o) => pop.ReturnAll(o));
        state.State.View = state.State.View with { Targeted = sent.Sum(c => c.Returned) };
        await state.WriteStateAsync();
        logger.LogWarning("Break-glass rollback {Id}: {Targeted} node(s) of {Unit} told to return to v{Version} by {By}: {Reason}",
            id, state.State.View.Targeted, order.Unit, order.Lkg.Version, order.By, order.Reason);
        await Incident(IncidentStatus.RollingBack, $"{state.State.View.Targeted} node(s) told to return to v{order.Lkg.Version} at once");
        Watch();
        return state.State.View;
    }

    public Task<BreakGlassView?> Get() => Task.FromResult(state.State.View);

    private void Watch() =>
        _watch ??= this.RegisterGrainTimer(_ => CountConfirmations(), new GrainTimerCreationOptions(TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(250)) { Interleave = false });

    private async Task CountConfirmations()
    {
        if (state.State.View is not { CompletedAt: null } view)
        {
            return;
        }
        var seen = await FanOut((pop, o) => pop.ObserveReturn(o));
        var confirmed = seen.Sum(c => c.Confirmed);
        var targeted = seen.Sum(c => c.Returned);
        var done = confirmed >= targeted;
        if (confirmed == view.Confirmed && targeted == view.Targeted && !done)
        {
            return;
        }
        state.State.View = view with { Confirmed = confirmed, Targeted = targeted, CompletedAt = done ? time.GetUtcNow() : null };
        await state.WriteStateAsync();
        if (done)
        {
            _watch?.Dispose();
            _watch = null;
            await Incident(IncidentStatus.RolledBack, $"all {targeted} node(s) confirmed v{view.Order.Lkg.Version}");
            await Incident(IncidentStatus.Monitoring, "watching the fleet on the last known good package");
        }
    }

    /// <summary>Every PoP at once, each with the same order: every consumer of the unit back to the LKG.</summary>
    private async Task<T[]> FanOut<T>(Func<IPopGrain, UnitReturn, Task<T>> call)
    {
        var order = state.State.View!.Order;
        var back = new UnitReturn
        {
            Action = this.GetPrimaryKeyString(),
            Unit = order.Unit,
            To = order.Lkg,
            Targets = order.Targets,
        };
        var pops = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).Pops();
        return await Task.WhenAll(pops.Select(pop => call(GrainFactory.GetGrain<IPopGrain>(pop), back)));
    }

    private async Task Incident(IncidentStatus status, string message)
    {
        if (state.State.View?.Order.Incident is { } incident)
        {
            await GrainFactory.GetGrain<IIncidentGrain>(incident).Update(status, message, "snapstone");
        }
    }
}
