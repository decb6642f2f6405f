using Microsoft.Extensions.Logging;

namespace Snapstone.Grains.Rollouts;

/// <summary>
/// After a silo starts, wakes every unit (finishing a recorded rollout start and its audit outbox) and every
/// unfinished rollout at once instead of waiting for their reminders (up to a minute): units know their active
/// rollout, and the catalog knows the units.
/// </summary>
public sealed class RolloutRecovery(IGrainFactory grains, ILogger<RolloutRecovery> logger)
    : StartupSweep(logger, "unfinished rollouts wake on their reminders")
{
    protected override async Task SweepAsync()
    {
        var catalog = await grains.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
        // Each unit first finishes what it left half-done (a recorded start, its audit outbox).
        await Task.WhenAll(catalog.Units.Keys.Select(u => grains.GetGrain<IUnitRolloutsGrain>(u).Wake()));
        var units = await Task.WhenAll(catalog.Units.Keys.Select(u => grains.GetGrain<IUnitGrain>(u).Get()));
        var active = units.Select(u => u?.ActiveRollout).OfType<string>().ToList();
        await Task.WhenAll(active.Select(r => grains.GetGrain<IRolloutRunnerGrain>(r).Wake()));
        if (active.Count > 0)
        {
            logger.LogInformation("Woke {Count} unfinished rollout(s): {Rollouts}", active.Count, string.Join(", ", active));
        }
    }
}
