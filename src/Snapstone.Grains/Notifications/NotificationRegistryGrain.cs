using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Snapstone.Domain.Notifications;
using Snapstone.Grains.Emergency;

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
/// body goes to the webhook machinery's <see cref="IWebhookDeliveryGrain"/>, which persists and retries it (with no
/// credential in it: PagerDuty's routing key is added as each request is made). Secrets and routing keys are kept sealed (<see cref="SecretBox"/>); a url must not be inward (<see cref="DestinationGuard"/>).
/// </summary>
public sealed class NotificationRegistryGrain : Grain, INotificationPublisherGrain, IRemindable
{
    private readonly IPersistentState<NotificationRegistryState> state;
    private readonly IOptions<NotificationOptions> options;
    private readonly TimeProvider time;
    private readonly ILogger<NotificationRegistryGrain> logger;
    private readonly DestinationGuard guard;
    private readonly SecretBox secrets;
    private readonly Audit.AuditOutbox _outbox;
    private readonly ConsoleLinks _links;

    public NotificationRegistryGrain(
        [PersistentState("notifications", StorageNames.Grains)] IPersistentState<NotificationRegistryState> state,
        IOptions<NotificationOptions> options, IGrainFactory grains, DestinationGuard guard, SecretBox secrets, TimeProvider time, ILogger<NotificationRegistryGrain> logger)
    {
        this.state = state;
        this.guard = guard;
        this.secrets = secrets;
        this.options = options;
        this.time = time;
        this.logger = logger;
        _outbox = new Audit.AuditOutbox(this, grains, () => state.State.Outbox, time, logger);
        _links = ConsoleLinks.From(options.Value.PublicUrl);
    }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Rows written before credentials were sealed hold them in plain text: seal them once.
        var plain = state.State.Notifications.Values.Where(n => n.Secret is { } s && !SecretBox.IsSealed(s) || n.RoutingKey is { } k && !SecretBox.IsSealed(k)).ToList();
        foreach (var notification in plain)
        {
            state.State.Notifications[notification.Name] = await Seal(notification);
        }
        if (plain.Count > 0)
        {
            await state.WriteStateAsync(cancellationToken);
        }
        _outbox.ResumeIfPending();
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => _outbox.ReceiveReminderAsync();

    public async Task<Notification> Define(string name, NotificationRequest request, string actor)
    {
        var (notification, errors) = NotificationRules.Check(name, request, options.Value.AllowHttp, actor, time.GetUtcNow());
        if (notification is null)
        {
            throw SnapstoneException.Invalid(errors);
        }
        if (await guard.CheckDefinitionAsync(notification.Url) is { } inward)
        {
            throw SnapstoneException.Invalid(inward);
        }
        var existing = state.State.Notifications.GetValueOrDefault(name);
        if (existing is null && state.State.Notifications.Count >= NotificationRules.MaxNotifications)
        {
            throw SnapstoneException.Conflict($"at most {NotificationRules.MaxNotifications} notifications may be defined; delete one first");
        }
        // Sealed anew whatever they look like: a credential sent to look sealed is sealed like any other.
        notification = notification with
        {
            Incarnation = existing?.Incarnation ?? Guid.CreateVersion7().ToString("N"),
            Secret = notification.Secret is { } secret ? await secrets.SealAsync(secret) : null,
            RoutingKey = notification.RoutingKey is { } key ? await secrets.SealAsync(key) : null,
        };
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
        await GrainFactory.GetGrain<IReceiverBreakerGrain>(ReceiverCircuits.Key(ReceiverCircuits.Notification, name)).Forget();
        return true;
    }

    public Task<Notification?> Get(string name) => Task.FromResult(state.State.Notifications.GetValueOrDefault(name));

    public Task<IReadOnlyList<Notification>> List() =>
        Task.FromResult<IReadOnlyList<Notification>>([.. state.State.Notifications.Values.OrderBy(n => n.Name, StringComparer.Ordinal)]);

    public Task<DeliveryTarget?> Target(string name) =>
        Task.FromResult(state.State.Notifications.GetValueOrDefault(name) is { } n
            ? new DeliveryTarget(n.Url, n.Secret, n.Incarnation, n.Kind == NotificationKind.PagerDuty ? n.RoutingKey : null)
            : null);

    public Task Publish(NotificationEvent e)
    {
        var type = e.Type.WireName();
        foreach (var notification in state.State.Notifications.Values.Where(n => n.Wants(e)))
        {
            // Rendered without credentials: the body is stored in the delivery's row. PagerDuty's routing key is put in
            // by the delivery as it sends, from the sealed copy the registry answers then (WebhookDeliveryGrain).
            if (NotificationPayloads.Render(notification, e, _links) is not { } body)
            {
                continue;
            }
            // The delivery grain persists the body and retries it on its own schedule; its key makes a repeat a no-op.
            // Notification names cannot hold '/', so these keys never meet a /v1/webhooks delivery's.
            var receiver = new DeliveryReceiver(ReceiverRegistry.Notifications, notification.Name, notification.Incarnation);
            GrainFactory.GetGrain<IWebhookDeliveryGrain>(DeliveryKey(notification.Name, e.Id))
                .Deliver(receiver, new WebhookEvent(e.Id, type, e.At, body)).Ignore();
            NotificationMetrics.Queued(notification.Kind.ToString().ToLowerInvariant(), type);
            logger.LogDebug("Notification {Notification} queued {Event} {Id}", notification.Name, type, e.Id);
        }
        return Task.CompletedTask;
    }

    private async Task<Notification> Seal(Notification n) => n with
    {
        Secret = n.Secret is { } s && !SecretBox.IsSealed(s) ? await secrets.SealAsync(s) : n.Secret,
        RoutingKey = n.RoutingKey is { } k && !SecretBox.IsSealed(k) ? await secrets.SealAsync(k) : n.RoutingKey,
    };

    /// <summary>The delivery grain of one event for one notification.</summary>
    public static string DeliveryKey(string notification, string eventId) => $"notification/{notification}/{eventId}";
}
