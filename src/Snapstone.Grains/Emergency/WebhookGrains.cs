using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Snapstone.Domain.Webhooks;

namespace Snapstone.Grains.Emergency;

[GenerateSerializer, Alias("snapstone.WebhookRegistryState")]
public sealed class WebhookRegistryState
{
    /// <summary>Webhooks as rows written before secrets were sealed held them, secret in plain text; moved into <see cref="Hooks"/> on activation.</summary>
    [Id(0)] public Dictionary<string, Webhook> Webhooks { get; set; } = [];
    /// <summary>Audit intents of definitions and removals, stored with the change.</summary>
    [Id(1)] public List<Snapstone.Domain.Audit.AuditIntent> Outbox { get; set; } = [];
    [Id(2)] public Dictionary<string, StoredWebhook> Hooks { get; set; } = [];
}

/// <summary>A webhook as the registry keeps it: the secret sealed (<see cref="SecretBox"/>), and the incarnation its deliveries are for.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.StoredWebhook")]
public sealed record StoredWebhook
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public required string Url { get; init; }
    [Id(2)] public required IReadOnlyList<string> Events { get; init; }
    [Id(3)] public required string SealedSecret { get; init; }
    [Id(4)] public string UpdatedBy { get; init; } = "";
    /// <summary>New when the name is defined after being absent; kept when it is redefined (a rotation).</summary>
    [Id(5)] public required string Incarnation { get; init; }

    public bool Wants(string type) => Events.Contains("*") || Events.Contains(type);

    /// <summary>The definition as it is shown: never the secret, not even sealed.</summary>
    public Webhook Shown() => new() { Name = Name, Url = Url, Events = Events, Secret = "", UpdatedBy = UpdatedBy };
}

public sealed class WebhookRegistryGrain : Grain, IWebhookPublisherGrain, IRemindable
{
    public const int MaxWebhooks = 100;
    private readonly IPersistentState<WebhookRegistryState> state;
    private readonly DestinationGuard guard;
    private readonly SecretBox secrets;
    private readonly Audit.AuditOutbox _outbox;

    public WebhookRegistryGrain([PersistentState("webhooks", StorageNames.Grains)] IPersistentState<WebhookRegistryState> state, IGrainFactory grains,
        DestinationGuard guard, SecretBox secrets, TimeProvider time, ILogger<WebhookRegistryGrain> logger)
    {
        this.state = state;
        this.guard = guard;
        this.secrets = secrets;
        _outbox = new Audit.AuditOutbox(this, grains, () => state.State.Outbox, time, logger);
    }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Webhooks.Count > 0)
        {
            foreach (var old in state.State.Webhooks.Values)
            {
                state.State.Hooks[old.Name] = await Store(old, incarnation: "");
            }
            state.State.Webhooks.Clear();
            await state.WriteStateAsync(cancellationToken);
        }
        _outbox.ResumeIfPending();
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => _outbox.ReceiveReminderAsync();

    public async Task<Webhook> Define(Webhook webhook)
    {
        if (await guard.CheckDefinitionAsync(webhook.Url) is { } inward)
        {
            throw SnapstoneException.Invalid(inward);
        }
        var existing = state.State.Hooks.GetValueOrDefault(webhook.Name);
        if (existing is null && state.State.Hooks.Count >= MaxWebhooks)
        {
            throw SnapstoneException.Conflict($"at most {MaxWebhooks} webhooks may be defined; delete one first");
        }
        var stored = await Store(webhook, existing?.Incarnation ?? Guid.CreateVersion7().ToString("N"));
        await _outbox.ArmAsync();
        state.State.Hooks[webhook.Name] = stored;
        _outbox.Add(webhook.UpdatedBy, "webhook.define", $"webhook/{webhook.Name}", webhook.Url);
        await state.WriteStateAsync();
        await _outbox.FlushAsync();
        return stored.Shown();
    }

    public async Task<bool> Remove(string name, string actor)
    {
        if (!state.State.Hooks.ContainsKey(name)) return false;
        await _outbox.ArmAsync();
        state.State.Hooks.Remove(name);
        _outbox.Add(actor, "webhook.delete", $"webhook/{name}", "");
        await state.WriteStateAsync();
        await _outbox.FlushAsync();
        await GrainFactory.GetGrain<IReceiverBreakerGrain>(ReceiverCircuits.Key(ReceiverCircuits.Webhook, name)).Forget();
        return true;
    }

    public Task<IReadOnlyList<Webhook>> List() =>
        Task.FromResult<IReadOnlyList<Webhook>>([.. state.State.Hooks.Values.OrderBy(w => w.Name, StringComparer.Ordinal).Select(w => w.Shown())]);

    public Task<DeliveryTarget?> Target(string name) =>
        Task.FromResult(state.State.Hooks.GetValueOrDefault(name) is { } hook ? new DeliveryTarget(hook.Url, hook.SealedSecret, hook.Incarnation) : null);

    public Task Publish(WebhookEvent e)
    {
        foreach (var hook in state.State.Hooks.Values.Where(w => w.Wants(e.Type)))
        {
            // One grain per delivery: it persists the attempts and retries on its own schedule.
            GrainFactory.GetGrain<IWebhookDeliveryGrain>($"{hook.Name}/{e.Id}")
                .Deliver(new DeliveryReceiver(ReceiverRegistry.Webhooks, hook.Name, hook.Incarnation), e).Ignore();
        }
        return Task.CompletedTask;
    }

    private async Task<StoredWebhook> Store(Webhook webhook, string incarnation) => new()
    {
        Name = webhook.Name,
        Url = webhook.Url,
        Events = webhook.Events,
        // Always sealed anew: a secret sent to look sealed is sealed like any other.
        SealedSecret = await secrets.SealAsync(webhook.Secret),
        UpdatedBy = webhook.UpdatedBy,
        Incarnation = incarnation,
    };
}

[GenerateSerializer, Alias("snapstone.DeliveryState")]
public sealed class DeliveryState
{
    /// <summary>What rows written before receivers were read at send time held (url and secret included); cleared on activation.</summary>
    [Id(0)] public Webhook? Webhook { get; set; }
    [Id(1)] public WebhookEvent? Event { get; set; }
    [Id(2)] public int Attempts { get; set; }
    [Id(3)] public bool Delivered { get; set; }
    [Id(4)] public string? LastError { get; set; }
    [Id(5)] public DateTimeOffset? NextAttemptAt { get; set; }
    [Id(6)] public DeliveryReceiver? Receiver { get; set; }
    [Id(7)] public DeliveryOutcome Outcome { get; set; }
}

/// <summary>
/// At-least-once delivery of one event to one receiver. The row holds the event and a reference to the receiver,
/// never its url, secret or routing key: each attempt asks the registry for them, so a deleted receiver is not sent to (the
/// delivery is recorded as dropped) and a rotated one gets its new url and secret. Each attempt asks the receiver's
/// circuit breaker first; its answer is judged by <see cref="DeliveryPolicy"/> (2xx delivered; a redirect or a 4xx
/// other than 408/429 failed for good; anything else retried after a jittered, doubling pause that honours
/// Retry-After). Every request carries the same delivery id, so receivers can drop repeats, and a signature of
/// <c>{timestamp}.{body}</c> (<see cref="WebhookSignature"/>).
/// </summary>
public sealed class WebhookDeliveryGrain(
    [PersistentState("delivery", StorageNames.Grains)] IPersistentState<DeliveryState> state,
    IHttpClientFactory http,
    SecretBox secrets,
    IOptions<WebhookOptions> options,
    TimeProvider time,
    ILogger<WebhookDeliveryGrain> logger) : Grain, IWebhookDeliveryGrain, IRemindable
{
    public const string SignatureHeader = WebhookSignature.SignatureHeader;
    public const string TimestampHeader = WebhookSignature.TimestampHeader;
    public const string DeliveryHeader = "X-Snapstone-Delivery";
    public const string EventHeader = "X-Snapstone-Event";
    /// <summary>The largest body a delivery keeps; events are far smaller (messages are cut long before this).</summary>
    public const int MaxPayloadBytes = 256 * 1024;
    private IGrainTimer? _retry;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State is { Webhook: { } legacy, Receiver: null })
        {
            var registry = this.GetPrimaryKeyString().StartsWith("notification/", StringComparison.Ordinal) ? ReceiverRegistry.Notifications : ReceiverRegistry.Webhooks;
            state.State.Receiver = new DeliveryReceiver(registry, legacy.Name, "");
            state.State.Outcome = state.State.Delivered ? DeliveryOutcome.Delivered : state.State.NextAttemptAt is null && state.State.Attempts > 0 ? DeliveryOutcome.Failed : DeliveryOutcome.Pending;
            state.State.Webhook = null;
            await state.WriteStateAsync(cancellationToken);
        }
        // Rows queued before PagerDuty's routing key was left out of stored bodies hold it: rewritten once, without it.
        if (state.State is { Event: { } stored, Receiver.Registry: ReceiverRegistry.Notifications }
            && Snapstone.Domain.Notifications.NotificationPayloads.WithoutRoutingKey(stored.PayloadJson) is { } bare)
        {
            state.State.Event = stored with { PayloadJson = bare };
            await state.WriteStateAsync(cancellationToken);
        }
        if (state.State is { Event: not null, Outcome: DeliveryOutcome.Pending })
        {
            ScheduleRetry();
        }
    }

    public async Task Deliver(DeliveryReceiver receiver, WebhookEvent e)
    {
        if (state.State.Event is not null)
        {
            return;
        }
        if (Encoding.UTF8.GetByteCount(e.PayloadJson) > MaxPayloadBytes)
        {
            logger.LogError("Delivery {Delivery} not queued: its body is over {Max} bytes", this.GetPrimaryKeyString(), MaxPayloadBytes);
            return;
        }
        state.State.Receiver = receiver;
        state.State.Event = e;
        state.State.Outcome = DeliveryOutcome.Pending;
        await state.WriteStateAsync();
        await this.RegisterOrUpdateReminder("retry", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        await Attempt();
    }

    public Task<DeliveryStatus?> Status() => Task.FromResult(state.State is { Event: { } e, Receiver: { } r }
        ? new DeliveryStatus(r.Name, e.Id, state.State.Attempts, state.State.Outcome == DeliveryOutcome.Delivered, state.State.LastError, state.State.NextAttemptAt, state.State.Outcome)
        : null);

    public Task ReceiveReminder(string reminderName, TickStatus status) => Attempt();

    private async Task Attempt()
    {
        if (state.State is not { Receiver: { } receiver, Event: { } e, Outcome: DeliveryOutcome.Pending })
        {
            await Finish();
            return;
        }
        var now = time.GetUtcNow();
        if (state.State.NextAttemptAt > now)
        {
            ScheduleRetry();
            return;
        }
        if (now - e.At > DeliveryPolicy.MaxAge)
        {
            await Close(DeliveryOutcome.Expired, $"still undelivered {DeliveryPolicy.MaxAge.TotalHours:0} h after the event: given up");
            return;
        }
        var target = receiver.Registry == ReceiverRegistry.Webhooks
            ? await GrainFactory.GetGrain<IWebhookPublisherGrain>(IWebhookRegistryGrain.Key).Target(receiver.Name)
            : await GrainFactory.GetGrain<INotificationPublisherGrain>(INotificationRegistryGrain.Key).Target(receiver.Name);
        if (target is null || (receiver.Incarnation.Length > 0 && target.Incarnation != receiver.Incarnation))
        {
            var kind = receiver.Registry == ReceiverRegistry.Webhooks ? "webhook" : "notification";
            await Close(DeliveryOutcome.Dropped, $"{kind} '{receiver.Name}' was deleted: not sent");
            return;
        }
        var breaker = GrainFactory.GetGrain<IReceiverBreakerGrain>(receiver.CircuitKey);
        var permit = await breaker.Ask();
        if (!permit.Go)
        {
            // Held by the open circuit: no attempt is used up; wake when the circuit lets a probe through.
            state.State.NextAttemptAt = (permit.WaitUntil ?? now) + TimeSpan.FromMilliseconds(Random.Shared.Next(0, 500));
            await state.WriteStateAsync();
            ScheduleRetry();
            return;
        }
        string? secret = null;
        var body = e.PayloadJson;
        try
        {
            secret = target.SealedSecret is { Length: > 0 } sealedSecret ? await secrets.OpenAsync(sealedSecret) : null;
            // PagerDuty's routing key goes in the body, so it is added only here, for this request: never stored in the row.
            if (target.SealedRoutingKey is { Length: > 0 } sealedKey)
            {
                body = Snapstone.Domain.Notifications.NotificationPayloads.Addressed(body, await secrets.OpenAsync(sealedKey));
            }
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or FormatException)
        {
            await Close(DeliveryOutcome.Failed, $"the receiver's secret or routing key cannot be unsealed ({WebhookOptions.Section}:SecretKey changed since it was defined?): define it again");
            return;
        }
        var delivery = $"{receiver.Name}/{e.Id}";
        // The request runs on the thread pool, off the grain's scheduler: the grain only awaits its outcome.
        var outcome = await Task.Run(() => Send(target.Url, secret, delivery, e.Type, body));
        var (verdict, error) = DeliveryPolicy.Judge(outcome);
        await breaker.Report(verdict == AttemptVerdict.Delivered ? null : error);
        state.State.Attempts++;
        state.State.LastError = error;
        switch (verdict)
        {
            case AttemptVerdict.Delivered:
                await Close(DeliveryOutcome.Delivered, null);
                return;
            case AttemptVerdict.Permanent:
                await Close(DeliveryOutcome.Failed, error);
                return;
            case AttemptVerdict.Retry when state.State.Attempts >= DeliveryPolicy.MaxAttempts:
                await Close(DeliveryOutcome.Failed, $"{error} (attempt {state.State.Attempts} of {DeliveryPolicy.MaxAttempts}: given up)");
                return;
        }
        state.State.NextAttemptAt = time.GetUtcNow() + DeliveryPolicy.Pause(state.State.Attempts, Random.Shared.NextDouble(), outcome.RetryAfter);
        await state.WriteStateAsync();
        logger.LogWarning("Delivery {Delivery} attempt {Attempts} failed: {Error}; next at {Next:O}", delivery, state.State.Attempts, error, state.State.NextAttemptAt);
        ScheduleRetry();
    }

    private async Task<AttemptOutcome> Send(string url, string? secret, string delivery, string type, string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Add(DeliveryHeader, delivery);
        request.Headers.Add(EventHeader, type);
        if (!string.IsNullOrEmpty(secret))
        {
            var timestamp = time.GetUtcNow().ToUnixTimeSeconds();
            request.Headers.Add(TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
            request.Headers.Add(SignatureHeader, WebhookSignature.Sign(secret, timestamp, body));
        }
        var timeout = TimeSpan.FromSeconds(options.Value.AttemptTimeoutSeconds);
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            using var response = await http.CreateClient("webhooks").SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            var retryAfter = response.Headers.RetryAfter switch
            {
                { Delta: { } delta } => delta,
                { Date: { } date } => date - time.GetUtcNow(),
                _ => (TimeSpan?)null,
            };
            return new AttemptOutcome((int)response.StatusCode, response.Headers.Location?.ToString(), retryAfter);
        }
        catch (HttpRequestException ex)
        {
            var inward = Find<InwardDestinationException>(ex);
            return new AttemptOutcome(null, Error: inward is null ? Describe(ex) : $"not sent: {inward.Message}", Refused: inward is not null);
        }
        catch (OperationCanceledException)
        {
            return new AttemptOutcome(null, Error: $"no answer within {timeout.TotalSeconds:0.#} s");
        }
    }

    private static T? Find<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T found) return found;
        }
        return null;
    }

    private static string Describe(Exception e) =>
        e.InnerException is { } inner && !e.Message.Contains(inner.Message, StringComparison.Ordinal) ? $"{e.Message} ({inner.Message})" : e.Message;

    private async Task Close(DeliveryOutcome outcome, string? error)
    {
        state.State.Outcome = outcome;
        state.State.Delivered = outcome == DeliveryOutcome.Delivered;
        state.State.NextAttemptAt = null;
        if (error is not null)
        {
            state.State.LastError = error;
        }
        await state.WriteStateAsync();
        if (outcome != DeliveryOutcome.Delivered)
        {
            logger.LogWarning("Delivery {Delivery} {Outcome} after {Attempts} attempt(s): {Error}", this.GetPrimaryKeyString(), outcome, state.State.Attempts, state.State.LastError);
        }
        await Finish();
    }

    private void ScheduleRetry()
    {
        _retry?.Dispose();
        var due = state.State.NextAttemptAt is { } next ? next - time.GetUtcNow() : TimeSpan.Zero;
        _retry = this.RegisterGrainTimer(_ => Attempt(), new GrainTimerCreationOptions(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan) { Interleave = false });
    }

    private async Task Finish()
    {
        if (state.State.Outcome != DeliveryOutcome.Pending && await this.GetReminder("retry") is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }
}

[GenerateSerializer, Alias("snapstone.ReceiverCircuitState")]
public sealed class ReceiverCircuitState
{
    /// <summary>A few fields, the last error cut to 300 characters: bounded whatever the receiver answers.</summary>
    [Id(0)] public Circuit Circuit { get; set; } = Circuit.Closed;
}

/// <summary>
/// One receiver's circuit breaker (<see cref="Circuit"/>), keyed <c>webhook/{name}</c> or <c>notification/{name}</c>. Its
/// state is stored (one small row per receiver, written only when the circuit changes: a steady run of deliveries writes
/// nothing), so an open circuit stays open across a deactivation or a restart and a dead receiver is not hammered by every
/// pending delivery at once. Its own row rather than the registry's: the registry is one grain for every receiver, and a
/// write per failed attempt there would queue every receiver's deliveries behind one row. A failed write keeps the circuit
/// in memory (deliveries go on being judged by it) and is logged: the breaker must never be what stops a delivery.
/// </summary>
public sealed class ReceiverCircuitGrain(
    [PersistentState("circuit", StorageNames.Grains)] IPersistentState<ReceiverCircuitState> state,
    IOptions<WebhookOptions> options,
    TimeProvider time,
    ILogger<ReceiverCircuitGrain> logger) : Grain, IReceiverBreakerGrain
{
    private TimeSpan Cooldown => TimeSpan.FromSeconds(options.Value.BreakerCooldownSeconds);

    public Task<Circuit> Get() => Task.FromResult(state.State.Circuit);

    public async Task<CircuitPermit> Ask()
    {
        var (next, permit) = state.State.Circuit.Ask(time.GetUtcNow(), Cooldown);
        await Keep(next);
        return permit;
    }

    public Task Report(string? error) =>
        Keep(error is null ? state.State.Circuit.Succeeded() : state.State.Circuit.Failed(time.GetUtcNow(), error, options.Value.BreakerFailures, Cooldown));

    public async Task Forget()
    {
        state.State = new ReceiverCircuitState();
        if (!state.RecordExists)
        {
            return;
        }
        try
        {
            await state.ClearStateAsync();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Left for the next redefinition's breaker to start from: a stale circuit only delays one probe by a cooling period.
            logger.LogWarning(ex, "Circuit {Receiver}: its stored state could not be cleared", this.GetPrimaryKeyString());
        }
    }

    private async Task Keep(Circuit next)
    {
        if (next == state.State.Circuit)
        {
            return;
        }
        state.State.Circuit = next;
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Circuit {Receiver} is {State} but could not be stored; it is kept in memory", this.GetPrimaryKeyString(), next.WireState);
            if (ex is Orleans.Storage.InconsistentStateException)
            {
                // A write that landed but was reported lost leaves the ETag behind: take the stored one, keep this circuit.
                await ResyncAsync(next);
            }
        }
    }

    private async Task ResyncAsync(Circuit next)
    {
        try
        {
            await state.ReadStateAsync();
            state.State.Circuit = next;
            await state.WriteStateAsync();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            state.State.Circuit = next;
            logger.LogWarning(ex, "Circuit {Receiver}: resynchronising its stored state failed", this.GetPrimaryKeyString());
        }
    }
}
