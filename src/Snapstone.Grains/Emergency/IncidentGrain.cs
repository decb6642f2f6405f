using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Notifications;

namespace Snapstone.Grains.Emergency;

public sealed class IncidentOptions
{
    /// <summary>An incident rolled back or monitoring for this long without a change resolves itself.</summary>
    public double QuietMinutes { get; set; } = 30;
}

[GenerateSerializer, Alias("snapstone.IncidentState")]
public sealed class IncidentState
{
    [Id(0)] public Incident? Incident { get; set; }
}

public sealed class IncidentGrain(
    [PersistentState("incident", StorageNames.Grains)] IPersistentState<IncidentState> state,
    IOptions<IncidentOptions> options,
    TimeProvider time,
    ILogger<IncidentGrain> logger) : Grain, IIncidentGrain, IRemindable
{
    private IGrainTimer? _quiet;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Incident is { IsOpen: true })
        {
            WatchQuiet();
        }
        return Task.CompletedTask;
    }

    public async Task<Incident> Open(Incident incident)
    {
        if (state.State.Incident is { } existing)
        {
            return existing;
        }
        await Save(incident, "incident.opened");
        await this.RegisterOrUpdateReminder("quiet", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5));
        WatchQuiet();
        logger.LogWarning("Incident {Id} opened ({Severity}): {Title}", incident.Id, incident.Severity, incident.Title);
        return incident;
    }

    public async Task<Incident> Update(IncidentStatus status, string message, string by)
    {
        var incident = state.State.Incident ?? throw SnapstoneException.NotFound($"incident '{this.GetPrimaryKeyString()}' does not exist");
        if (!incident.IsOpen)
        {
            throw SnapstoneException.Conflict($"incident '{incident.Id}' is resolved; open a new one for a new problem");
        }
        var updated = incident.With(status, message, by, time.GetUtcNow());
        await Save(updated, "incident.updated");
        return updated;
    }

    public Task<Incident?> Get() => Task.FromResult(state.State.Incident);

    public Task ReceiveReminder(string reminderName, TickStatus status) => ResolveIfQuiet();

    private void WatchQuiet() =>
        _quiet ??= this.RegisterGrainTimer(_ => ResolveIfQuiet(), new GrainTimerCreationOptions(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5)) { Interleave = false });

    private async Task ResolveIfQuiet()
    {
        var quiet = TimeSpan.FromMinutes(options.Value.QuietMinutes);
        if (state.State.Incident is { } incident && IncidentRules.QuietLongEnough(incident, time.GetUtcNow(), quiet))
        {
            await Save(incident.With(IncidentStatus.Resolved, $"resolved after {options.Value.QuietMinutes:0.##} min without change", "snapstone", time.GetUtcNow()), "incident.resolved");
        }
        if (state.State.Incident is { IsOpen: false })
        {
            _quiet?.Dispose();
            _quiet = null;
            if (await this.GetReminder("quiet") is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
    }

    private async Task Save(Incident incident, string eventType)
    {
        state.State.Incident = incident;
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<IIncidentIndexGrain>(IIncidentIndexGrain.Key).Record(incident);
        var latest = incident.Updates.Count > 0 ? incident.Updates[^1] : null;
        var payload = JsonSerializer.Serialize(new { incident.Id, incident.Title, incident.Severity, incident.Status, incident.Units, latest }, SnapstoneJson.Options);
        var id = $"{incident.Id}-{incident.Updates.Count}";
        GrainFactory.GetGrain<IWebhookRegistryGrain>(IWebhookRegistryGrain.Key).Publish(new WebhookEvent(id, eventType, time.GetUtcNow(), payload)).Ignore();
        GrainFactory.GetGrain<INotificationRegistryGrain>(INotificationRegistryGrain.Key).Publish(NotificationEvents.OfIncident(incident, eventType == "incident.opened")).Ignore();
    }
}

[GenerateSerializer, Alias("snapstone.IncidentIndexState")]
public sealed class IncidentIndexState
{
    [Id(0)] public List<Incident> Incidents { get; set; } = [];
}

/// <summary>The newest incidents (open ones always kept), for listings and the status page.</summary>
public sealed class IncidentIndexGrain(
    [PersistentState("incidents", StorageNames.Grains)] IPersistentState<IncidentIndexState> state) : Grain, IIncidentIndexGrain
{
    private const int MaxResolvedKept = 100;

    public async Task Record(Incident incident)
    {
        var list = state.State.Incidents;
        list.RemoveAll(i => i.Id == incident.Id);
        list.Insert(0, incident);
        var resolved = list.Where(i => !i.IsOpen).Skip(MaxResolvedKept).ToHashSet();
        list.RemoveAll(resolved.Contains);
        await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<Incident>> List() =>
        Task.FromResult<IReadOnlyList<Incident>>([.. state.State.Incidents.OrderByDescending(i => i.OpenedAt)]);
}
