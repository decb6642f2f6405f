using Microsoft.Extensions.Logging;

namespace Snapstone.Grains.Drift;

/// <summary>
/// After a silo starts, makes sure the fleet's drift check and every PoP's drift scan are scheduled: PoPs
/// registered before drift scans existed have no reminder yet, and a scanner's timer does not survive its silo.
/// </summary>
public sealed class DriftRecovery(IGrainFactory grains, ILogger<DriftRecovery> logger)
    : StartupSweep(logger, "the first GET /v1/drift or new node schedules the scans")
{
    protected override async Task SweepAsync()
    {
        await grains.GetGrain<IFleetDriftGrain>(IFleetDriftGrain.Key).Start();
        var pops = await grains.GetGrain<IFleetGrain>(IFleetGrain.Key).Pops();
        await Task.WhenAll(pops.Select(pop => grains.GetGrain<IDriftGrain>(pop).Start()));
    }
}
