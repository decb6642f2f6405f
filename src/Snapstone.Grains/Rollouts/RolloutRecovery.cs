using Microsoft.Extensions.Logging;

namespace Snapstone.Grains.Rollouts;

/// <summary>
/// After a silo starts, wakes every unfinished rollout at once instead of waiting for its reminder (up to a
/// minute): units know their active rollout, and the catalog knows the units.
/// </summary>
public sealed class RolloutRecovery(IGrainFactory grains, ILogger<RolloutRecovery> logger)
    : StartupSweep(logger, "unfinished rollouts wake on their reminders")
{
    protected override async Task SweepAsync()
    {
        var catalog = await grains.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
        var units = await Task.WhenAll(catalog.Units.Keys.Select(u => grains.GetGrain<IUnitGrain>(u).Get()));
        var active = units.Select(u => u?.ActiveRollout).OfType<string>().ToList();
        await Task.WhenAll(active.Select(r => grains.GetGrain<IRolloutGrain>(r).Wake()));
        if (active.Count > 0)
        {
            logger.LogInformation("Woke {Count} unfinished rollout(s): {Rollouts}", active.Count, string.Join(", ", active));
        }
    }
}
