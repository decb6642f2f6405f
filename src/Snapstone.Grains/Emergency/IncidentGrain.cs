using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Snapstone.Domain.Audit;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Notifications;
using Snapstone.Grains.Audit;
using Snapstone.Grains.Storage;

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
    /// <summary>Audit intents of updates people posted, stored with the update.</summary>
    [Id(1)] public List<AuditIntent> Outbox { get; set; } = [];
}

/// <summary>One incident: its timeline (its own row), indexed in <see cref="IncidentStore"/> (a row per incident) and fed to webhooks.</summary>
public sealed class IncidentGrain : Grain, IIncidentWriterGrain, IRemindable
{
    private readonly IPersistentState<IncidentState> state;
    private readonly IncidentStore store;
    private readonly IOptions<IncidentOptions> options;
    private readonly TimeProvider time;
    private readonly ILogger<IncidentGrain> logger;
    private readonly AuditOutbox _outbox;
    private IGrainTimer? _quiet;

    public IncidentGrain([PersistentState("incident", StorageNames.Grains)] IPersistentState<IncidentState> state, IncidentStore store, IGrainFactory grains,
        IOptions<IncidentOptions> options, TimeProvider time, ILogger<IncidentGrain> logger)
    {
        this.state = state;
        this.store = store;
        this.options = options;
        this.time = time;
        this.logger = logger;
        _outbox = new AuditOutbox(this, grains, () => state.State.Outbox, time, logger);
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Incident is { IsOpen: true })
        {
            WatchQuiet();
        }
        _outbox.ResumeIfPending();
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
        var updated = Updated(status, message, by);
        await Save(updated, updated.IsOpen ? "incident.updated" : "incident.resolved");
        return updated;
    }

    public async Task<Incident> Post(IncidentStatus status, string? message, string actor)
    {
        if (IncidentRules.CheckMessage(message) is { } problem)
        {
            throw SnapstoneException.Invalid(problem);
        }
        var updated = Updated(status, message!, actor);
        await _outbox.ArmAsync();
        _outbox.Add(actor, "incident.update", $"incident/{updated.Id}", $"{status}: {message}");
        await Save(updated, updated.IsOpen ? "incident.updated" : "incident.resolved");
        await _outbox.FlushAsync();
        return updated;
    }

    private Incident Updated(IncidentStatus status, string message, string by)
    {
        var incident = state.State.Incident ?? throw SnapstoneException.NotFound($"incident '{this.GetPrimaryKeyString()}' does not exist");
        if (!incident.IsOpen)
        {
            throw SnapstoneException.Conflict($"incident '{incident.Id}' is resolved; open a new one for a new problem");
        }
        return incident.With(status, message, by, time.GetUtcNow());
    }

    public Task<Incident?> Get() => Task.FromResult(state.State.Incident);

    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == AuditOutbox.ReminderName ? _outbox.ReceiveReminderAsync() : ResolveIfQuiet();

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
        try
        {
            await store.UpsertAsync(incident);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The incident is stored; its index row catches up with the next change.
            logger.LogWarning("Incident {Incident}: index row not written yet: {Error}", incident.Id, e.Message);
        }
        var latest = incident.Updates.Count > 0 ? incident.Updates[^1] : null;
        var payload = JsonSerializer.Serialize(new { incident.Id, incident.Title, incident.Severity, incident.Status, incident.Units, latest }, SnapstoneJson.Options);
        // A fresh, time-ordered id per change: the update count stops growing at the timeline's cap, so it cannot name an event.
        var id = $"{incident.Id}-{Guid.CreateVersion7(time.GetUtcNow()):N}";
        GrainFactory.GetGrain<IWebhookPublisherGrain>(IWebhookRegistryGrain.Key).Publish(new WebhookEvent(id, eventType, time.GetUtcNow(), payload)).Ignore();
        GrainFactory.GetGrain<INotificationPublisherGrain>(INotificationRegistryGrain.Key).Publish(NotificationEvents.OfIncident(incident, eventType == "incident.opened", id)).Ignore();
    }
}

/// <summary>
/// Lists incidents from the index table (open ones, and the newest others); holds no state of its own, so no row
/// holds every incident. One per silo.
/// </summary>
[StatelessWorker]
public sealed class IncidentIndexGrain(IncidentStore store) : Grain, IIncidentIndexGrain
{
    private const int Newest = 100;

    public async Task<IReadOnlyList<Incident>> List()
    {
        var open = await store.OpenAsync();
        var newest = await store.NewestAsync(Newest);
        return [.. open.Concat(newest).DistinctBy(i => i.Id).OrderByDescending(i => i.OpenedAt)];
    }
}
