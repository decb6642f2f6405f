using Microsoft.Extensions.Logging;
using Snapstone.Domain.Incidents;

namespace Snapstone.Grains.Emergency;

/// <summary>
/// A grain's incident writes, in order and in the background: an incident is a record of what Snapstone did, never a
/// step it waits on. Each write is tried a few times with a pause between; one that still fails is logged and dropped
/// (the rollout or action it describes has already acted). Nothing here touches the owning grain's state.
/// </summary>
/// <remarks>Grain-local: start writes from the grain's own scheduler.</remarks>
public sealed class IncidentFeed(IGrainFactory grains, ILogger logger, Func<string> owner)
{
    private const int Attempts = 5;
    private static readonly TimeSpan Pause = TimeSpan.FromSeconds(2);
    private Task _last = Task.CompletedTask;

    /// <summary>Completes when every write queued so far is done (or dropped); for tests and orderly shutdown.</summary>
    public Task Drained => _last;

    /// <summary>Queues the incident's opening; the task answers whether it was written (it never fails).</summary>
    public Task<bool> Open(Incident incident) =>
        Enqueue($"open incident {incident.Id}", () => grains.GetGrain<IIncidentWriterGrain>(incident.Id).Open(incident));

    public Task<bool> Update(string incident, IncidentStatus status, string message, string by = "snapstone") =>
        Enqueue($"update incident {incident} to {status}", async () =>
        {
            try
            {
                await grains.GetGrain<IIncidentWriterGrain>(incident).Update(status, message, by);
            }
            catch (SnapstoneException e)
            {
                // Resolved meanwhile, or never opened: nothing to retry.
                logger.LogInformation("{Owner}: incident {Incident} not updated: {Reason}", owner(), incident, e.Message);
            }
        });

    private Task<bool> Enqueue(string what, Func<Task> write)
    {
        var next = After(_last, what, write);
        _last = next;
        return next;
    }

    private async Task<bool> After(Task previous, string what, Func<Task> write)
    {
        await previous;
        for (var attempt = 1; attempt <= Attempts; attempt++)
        {
            try
            {
                await write();
                return true;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                if (attempt == Attempts)
                {
                    logger.LogWarning("{Owner}: could not {What} after {Attempts} attempts; dropped: {Error}", owner(), what, Attempts, e.Message);
                    return false;
                }
                await Task.Delay(Pause);
            }
        }
        return false;
    }
}
