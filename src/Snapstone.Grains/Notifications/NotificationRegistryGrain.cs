using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Snapstone.Domain.Notifications;

namespace Snapstone.Grains.Notifications;

[GenerateSerializer, Alias("snapstone.NotificationRegistryState")]
public sealed class NotificationRegistryState
{
    [Id(0)] public Dictionary<string, Notification> Notifications { get; set; } = [];
    /// <summary>Audit intents of definitions and removals, stored with the change.</summary>
    [Id(1)] public List<Snapstone.Domain.Audit.AuditIntent> Outbox { get; set; } = [];
}

/// <summary>
/// The notifications and their fan-out. Thin: definitions are checked by <see cref="NotificationRules"/>, each
/// event is filtered by <see cref="Notification.Wants"/> and rendered by <see cref="NotificationPayloads"/>, and the
/// body goes to the webhook machinery's <see cref="IWebhookDeliveryGrain"/>, which persists and retries it.
/// </summary>
public sealed class NotificationRegistryGrain : Grain, INotificationPublisherGrain, IRemindable
{
    private readonly IPersistentState<NotificationRegistryState> state;
    private readonly IOptions<NotificationOptions> options;
    private readonly TimeProvider time;
    private readonly ILogger<NotificationRegistryGrain> logger;
    private readonly Audit.AuditOutbox _outbox;
    private readonly ConsoleLinks _links;

    public NotificationRegistryGrain(
        [PersistentState("notifications", StorageNames.Grains)] IPersistentState<NotificationRegistryState> state,
        IOptions<NotificationOptions> options, IGrainFactory grains, TimeProvider time, ILogger<NotificationRegistryGrain> logger)
    {
        this.state = state;
        this.options = options;
        this.time = time;
        this.logger = logger;
        _outbox = new Audit.AuditOutbox(this, grains, () => state.State.Outbox, time, logger);
        _links = ConsoleLinks.From(options.Value.PublicUrl);
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _outbox.ResumeIfPending();
        return Task.CompletedTask;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => _outbox.ReceiveReminderAsync();

    public async Task<Notification> Define(string name, NotificationRequest request, string actor)
    {
        var (notification, errors) = NotificationRules.Check(name, request, options.Value.AllowHttp, actor, time.GetUtcNow());
        if (notification is null)
        {
            throw SnapstoneException.Invalid(errors);
        }
        if (!state.State.Notifications.ContainsKey(name) && state.State.Notifications.Count >= NotificationRules.MaxNotifications)
        {
            throw SnapstoneException.Conflict($"at most {NotificationRules.MaxNotifications} notifications may be defined; delete one first");
        }
        await _outbox.ArmAsync();
        state.State.Notifications[name] = notification;
        _outbox.Add(actor, "notification.define", $"notification/{name}", $"{notification.Kind} {string.Join(",", notification.Events.Select(e => e.WireName()))}");
        await state.WriteStateAsync();
        await _outbox.FlushAsync();
        logger.LogInformation("Notification {Notification} ({Kind}) defined by {Actor} for {Events}", name, notification.Kind, actor,
            string.Join(", ", notification.Events.Select(e => e.WireName())));
        return notification;
    }

    public async Task<bool> Remove(string name, string actor)
    {
        if (!state.State.Notifications.ContainsKey(name)) return false;
        await _outbox.ArmAsync();
        state.State.Notifications.Remove(name);
        _outbox.Add(actor, "notification.delete", $"notification/{name}", "");
        await state.WriteStateAsync();
        await _outbox.FlushAsync();
        return true;
    }

    public Task<Notification?> Get(string name) => Task.FromResult(state.State.Notifications.GetValueOrDefault(name));

    public Task<IReadOnlyList<Notification>> List() =>
        Task.FromResult<IReadOnlyList<Notification>>([.. state.State.Notifications.Values.OrderBy(n => n.Name, StringComparer.Ordinal)]);

    public Task Publish(NotificationEvent e)
    {
        var type = e.Type.WireName();
        foreach (var notification in state.State.Notifications.Values.Where(n => n.Wants(e)))
        {
            if (NotificationPayloads.Render(notification, e, _links) is not { } body)
            {
                continue;
            }
            // The delivery grain persists the body and retries it on its own schedule; its key makes a repeat a no-op.
            // Notification names cannot hold '/', so these keys never meet a /v1/webhooks delivery's.
            var receiver = new Webhook { Name = notification.Name, Url = notification.Url, Events = [type], Secret = notification.Secret ?? "" };
            GrainFactory.GetGrain<IWebhookDeliveryGrain>(DeliveryKey(notification.Name, e.Id))
                .Deliver(receiver, new WebhookEvent(e.Id, type, e.At, body)).Ignore();
            NotificationMetrics.Queued(notification.Kind.ToString().ToLowerInvariant(), type);
            logger.LogDebug("Notification {Notification} queued {Event} {Id}", notification.Name, type, e.Id);
        }
        return Task.CompletedTask;
    }

    /// <summary>The delivery grain of one event for one notification.</summary>
    public static string DeliveryKey(string notification, string eventId) => $"notification/{notification}/{eventId}";
}
