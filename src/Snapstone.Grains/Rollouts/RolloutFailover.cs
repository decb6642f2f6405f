using Microsoft.Extensions.Logging;

namespace Snapstone.Grains.Rollouts;

/// <summary>
/// When membership declares another silo dead (killed, cut off, or stopped), every rollout whose grain it held has lost
/// its tick timer, and would sit still until its reminder fires (once a minute) or someone reads it: a rollback in
/// flight would leave the fleet on the bad package that long. So each silo, on seeing another declared dead, wakes
/// every unfinished rollout as <see cref="RolloutRecovery"/> does after a start; waking one that still ticks is one
/// more tick. Measured by the chaos suite (<c>tests/Snapstone.Chaos.Tests</c>): the first step after a kill comes
/// seconds after the silo is declared dead instead of up to a minute.
/// </summary>
public sealed class RolloutFailover(IGrainFactory grains, IClusterMembershipService membership, ILocalSiloDetails local, ILogger<RolloutFailover> logger)
    : IStartupTask
{
    private const int Attempts = 3;

    public Task Execute(CancellationToken cancellationToken)
    {
        _ = Task.Run(WatchAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task WatchAsync()
    {
        var previous = membership.CurrentSnapshot;
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates)
            {
                var died = snapshot.CreateUpdate(previous).Changes
                    .Where(m => m.Status == SiloStatus.Dead && !m.SiloAddress.Equals(local.SiloAddress) &&
                                previous.GetSiloStatus(m.SiloAddress) is not (SiloStatus.Dead or SiloStatus.None))
                    .Select(m => m.SiloAddress)
                    .ToList();
                previous = snapshot;
                if (died.Count > 0)
                {
                    await WakeAsync(died);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            // The silo is stopping.
        }
    }

    /// <summary>Right after a death the directory may still name the dead silo for a moment: a failed sweep is tried again.</summary>
    private async Task WakeAsync(IReadOnlyList<SiloAddress> died)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var catalog = await grains.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
                var units = await Task.WhenAll(catalog.Units.Keys.Select(u => grains.GetGrain<IUnitGrain>(u).Get()));
                var active = units.Select(u => u?.ActiveRollout).OfType<string>().ToList();
                await Task.WhenAll(active.Select(r => grains.GetGrain<IRolloutRunnerGrain>(r).Wake()));
                if (active.Count > 0)
                {
                    logger.LogInformation("Silo {Silos} declared dead: woke {Count} unfinished rollout(s): {Rollouts}",
                        string.Join(", ", died), active.Count, string.Join(", ", active));
                }
                return;
            }
            catch (Exception e) when (attempt < Attempts)
            {
                logger.LogDebug(e, "Waking unfinished rollouts after {Silos} died failed (attempt {Attempt}); trying again", string.Join(", ", died), attempt);
                await Task.Delay(TimeSpan.FromSeconds(attempt));
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Could not wake unfinished rollouts after {Silos} died; they wake on their reminders", string.Join(", ", died));
                return;
            }
        }
    }
}
