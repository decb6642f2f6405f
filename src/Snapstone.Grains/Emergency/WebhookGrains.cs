using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Snapstone.Grains.Emergency;

[GenerateSerializer, Alias("snapstone.WebhookRegistryState")]
public sealed class WebhookRegistryState
{
    [Id(0)] public Dictionary<string, Webhook> Webhooks { get; set; } = [];
    /// <summary>Audit intents of definitions and removals, stored with the change.</summary>
    [Id(1)] public List<Snapstone.Domain.Audit.AuditIntent> Outbox { get; set; } = [];
}

public sealed class WebhookRegistryGrain : Grain, IWebhookPublisherGrain, IRemindable
{
    private readonly IPersistentState<WebhookRegistryState> state;
    private readonly Audit.AuditOutbox _outbox;

    public WebhookRegistryGrain([PersistentState("webhooks", StorageNames.Grains)] IPersistentState<WebhookRegistryState> state, IGrainFactory grains,
        TimeProvider time, ILogger<WebhookRegistryGrain> logger)
    {
        this.state = state;
        _outbox = new Audit.AuditOutbox(this, grains, () => state.State.Outbox, time, logger);
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _outbox.ResumeIfPending();
        return Task.CompletedTask;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => _outbox.ReceiveReminderAsync();

    public async Task<Webhook> Define(Webhook webhook)
    {
        await _outbox.ArmAsync();
        state.State.Webhooks[webhook.Name] = webhook;
        _outbox.Add(webhook.UpdatedBy, "webhook.define", $"webhook/{webhook.Name}", webhook.Url);
        await state.WriteStateAsync();
        await _outbox.FlushAsync();
        return webhook;
    }

    public async Task<bool> Remove(string name, string actor)
    {
        if (!state.State.Webhooks.ContainsKey(name)) return false;
        await _outbox.ArmAsync();
        state.State.Webhooks.Remove(name);
        _outbox.Add(actor, "webhook.delete", $"webhook/{name}", "");
        await state.WriteStateAsync();
        await _outbox.FlushAsync();
        return true;
    }

    public Task<IReadOnlyList<Webhook>> List() => Task.FromResult<IReadOnlyList<Webhook>>([.. state.State.Webhooks.Values.OrderBy(w => w.Name, StringComparer.Ordinal)]);

    public Task Publish(WebhookEvent e)
    {
        foreach (var webhook in state.State.Webhooks.Values.Where(w => w.Wants(e.Type)))
        {
            // One grain per delivery: it persists the attempt count and retries on its own schedule.
            GrainFactory.GetGrain<IWebhookDeliveryGrain>($"{webhook.Name}/{e.Id}").Deliver(webhook, e).Ignore();
        }
        return Task.CompletedTask;
    }
}

[GenerateSerializer, Alias("snapstone.DeliveryState")]
public sealed class DeliveryState
{
    [Id(0)] public Webhook? Webhook { get; set; }
    [Id(1)] public WebhookEvent? Event { get; set; }
    [Id(2)] public int Attempts { get; set; }
    [Id(3)] public bool Delivered { get; set; }
    [Id(4)] public string? LastError { get; set; }
    [Id(5)] public DateTimeOffset? NextAttemptAt { get; set; }
}

/// <summary>
/// At-least-once delivery of one event to one receiver. Each round tries a few times with exponential
/// backoff (Polly); a failed round is persisted and tried again later, with longer pauses, from a timer
/// (and a reminder, should the silo restart). Every request carries the same delivery id, so receivers
/// can drop repeats, and an HMAC-SHA256 signature of the body under the webhook's secret.
/// </summary>
public sealed class WebhookDeliveryGrain(
    [PersistentState("delivery", StorageNames.Grains)] IPersistentState<DeliveryState> state,
    IHttpClientFactory http,
    TimeProvider time,
    ILogger<WebhookDeliveryGrain> logger) : Grain, IWebhookDeliveryGrain, IRemindable
{
    public const string SignatureHeader = "X-Snapstone-Signature";
    public const string DeliveryHeader = "X-Snapstone-Delivery";
    public const string EventHeader = "X-Snapstone-Event";
    private const int MaxRounds = 8;
    private IGrainTimer? _retry;

    private static readonly ResiliencePipeline<HttpResponseMessage> Round = new ResiliencePipelineBuilder<HttpResponseMessage>()
        .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
        {
            MaxRetryAttempts = 3,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(200),
            UseJitter = true,
            ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                .Handle<HttpRequestException>()
                .Handle<TaskCanceledException>()
                .HandleResult(r => !r.IsSuccessStatusCode),
        })
        .AddTimeout(TimeSpan.FromSeconds(10))
        .Build();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State is { Event: not null, Delivered: false })
        {
            ScheduleRetry();
        }
        return Task.CompletedTask;
    }

    public async Task Deliver(Webhook webhook, WebhookEvent e)
    {
        if (state.State.Event is not null)
        {
            return;
        }
        state.State.Webhook = webhook;
        state.State.Event = e;
        await state.WriteStateAsync();
        await this.RegisterOrUpdateReminder("retry", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        await Attempt();
    }

    public Task<DeliveryStatus?> Status() => Task.FromResult(state.State.Event is null ? null :
        new DeliveryStatus(state.State.Webhook!.Name, state.State.Event.Id, state.State.Attempts, state.State.Delivered, state.State.LastError, state.State.NextAttemptAt));

    public Task ReceiveReminder(string reminderName, TickStatus status) => Attempt();

    private async Task Attempt()
    {
        if (state.State is not { Webhook: { } webhook, Event: { } e, Delivered: false } || state.State.NextAttemptAt > time.GetUtcNow())
        {
            await Finish();
            return;
        }
        var body = Encoding.UTF8.GetBytes(e.PayloadJson);
        var signature = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(webhook.Secret), body));
        var client = http.CreateClient("webhooks");
        var attempts = 0;
        try
        {
            // The round runs on the thread pool, off the grain's scheduler: the grain only awaits its outcome.
            var status = await Task.Run(async () =>
            {
                using var response = await Round.ExecuteAsync(async ct =>
                {
                    Interlocked.Increment(ref attempts);
                    using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url) { Content = new ByteArrayContent(body) };
                    request.Content.Headers.ContentType = new("application/json");
                    request.Headers.Add(SignatureHeader, signature);
                    request.Headers.Add(DeliveryHeader, $"{webhook.Name}/{e.Id}");
                    request.Headers.Add(EventHeader, e.Type);
                    return await client.SendAsync(request, ct);
                });
                return response.StatusCode;
            });
            state.State.Attempts += attempts;
            state.State.Delivered = (int)status is >= 200 and < 300;
            state.State.LastError = state.State.Delivered ? null : $"HTTP {(int)status}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or TimeoutException or Polly.Timeout.TimeoutRejectedException)
        {
            // A receiver that refuses connections uses up rounds too, or it would be retried every second for ever.
            state.State.Attempts += attempts;
            state.State.LastError = ex.Message;
        }
        var rounds = (state.State.Attempts + 3) / 4;
        state.State.NextAttemptAt = state.State.Delivered || rounds >= MaxRounds ? null : time.GetUtcNow() + TimeSpan.FromSeconds(Math.Pow(2, rounds));
        await state.WriteStateAsync();
        if (!state.State.Delivered)
        {
            logger.LogWarning("Webhook {Webhook} delivery {Event} failed after {Attempts} attempt(s): {Error}", webhook.Name, e.Id, state.State.Attempts, state.State.LastError);
        }
        if (state.State.NextAttemptAt is null)
        {
            await Finish();
        }
        else
        {
            ScheduleRetry();
        }
    }

    private void ScheduleRetry()
    {
        _retry?.Dispose();
        var due = state.State.NextAttemptAt is { } next ? next - time.GetUtcNow() : TimeSpan.Zero;
        _retry = this.RegisterGrainTimer(_ => Attempt(), new GrainTimerCreationOptions(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan) { Interleave = false });
    }

    private async Task Finish()
    {
        if (state.State.NextAttemptAt is null && await this.GetReminder("retry") is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }
}
