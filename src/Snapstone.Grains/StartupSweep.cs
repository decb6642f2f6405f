using Microsoft.Extensions.Logging;

namespace Snapstone.Grains;

/// <summary>
/// A sweep a silo runs once it has started, in the background: a silo must not wait on its own grains to
/// finish starting. A failed sweep is logged; whatever it would have woken has a reminder as a backstop.
/// </summary>
public abstract class StartupSweep(ILogger logger, string backstop) : IStartupTask
{
    protected abstract Task SweepAsync();

    public Task Execute(CancellationToken cancellationToken)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                await SweepAsync();
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Start-up sweep {Sweep} failed; {Backstop}", GetType().Name, backstop);
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }
}
