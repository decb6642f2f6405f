using Snapstone.Client;
using Snapstone.Domain.Notifications;

namespace Snapstone.Server.Http;

/// <summary>The body of <c>PUT /v1/notifications/{name}</c>; every field is checked by <see cref="NotificationRules"/>.</summary>
public sealed record NotificationBody(
    string? Kind,
    string? Url,
    string? RoutingKey,
    string? Secret,
    IReadOnlyList<string>? Events,
    IReadOnlyList<string>? Units,
    string? MinSeverity);

/// <summary>A notification as answered: never its secret or routing key, and a Slack or Teams url only by its origin.</summary>
public sealed record NotificationResponse(
    string Name,
    string Kind,
    string Url,
    IReadOnlyList<string> Events,
    IReadOnlyList<string> Units,
    string? MinSeverity,
    bool SecretSet,
    bool RoutingKeySet,
    string UpdatedBy,
    DateTimeOffset UpdatedAt,
    string Circuit = "closed",
    int ConsecutiveFailures = 0,
    DateTimeOffset? CircuitOpenUntil = null,
    string? LastError = null,
    DateTimeOffset? LastErrorAt = null)
{
    /// <summary>With the receiver's circuit breaker, as <c>/v1/webhooks</c> shows it.</summary>
    public static NotificationResponse From(Notification n, Domain.Webhooks.Circuit c) => From(n) with
    {
        Circuit = c.WireState,
        ConsecutiveFailures = c.ConsecutiveFailures,
        CircuitOpenUntil = c.OpenUntil,
        LastError = c.LastError,
        LastErrorAt = c.LastErrorAt,
    };

    public static NotificationResponse From(Notification n) => new(
        n.Name,
        n.Kind.ToString().ToLowerInvariant(),
        NotificationRules.ShownUrl(n),
        [.. n.Events.Select(e => e.WireName())],
        n.Units,
        n.MinSeverity is { } min ? NotificationMessage.Wire(min) : null,
        n.Secret is not null,
        n.RoutingKey is not null,
        n.UpdatedBy,
        n.UpdatedAt);
}

public sealed record NotificationList(IReadOnlyList<NotificationResponse> Notifications);

/// <summary><c>/v1/notifications</c> (admin): define, read, list and delete notifications. Translation only.</summary>
public static class NotificationEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        var notifications = v1.MapGroup("/notifications").WithTags("Notifications").RequireAuthorization(Scopes.Admin);
        notifications.MapPut("/{name}", async (string name, HttpContext http, SnapstoneClient client) =>
        {
            var body = await JsonBody.ReadAsync<NotificationBody>(http.Request, JsonBody.Strict);
            var request = new NotificationRequest(body.Kind, body.Url, body.RoutingKey, body.Secret, body.Events, body.Units, body.MinSeverity);
            return TypedResults.Ok(NotificationResponse.From(await client.DefineNotificationAsync(name, request, http.Actor())));
        }).Accepts<NotificationBody>("application/json").Produces<NotificationResponse>()
            .WithName("PutNotification").WithSummary("Create or replace a notification (Slack, Teams, PagerDuty or a signed webhook)");
        notifications.MapGet("/", async (SnapstoneClient client) =>
        {
            var list = await client.ListNotificationsAsync();
            var circuits = await Task.WhenAll(list.Select(n => client.ReceiverCircuitAsync(ReceiverCircuits.Notification, n.Name)));
            return TypedResults.Ok(new NotificationList([.. list.Zip(circuits, NotificationResponse.From)]));
        }).Produces<NotificationList>().WithName("ListNotifications").WithSummary("List notifications (never a secret or routing key)");
        notifications.MapGet("/{name}", async (string name, SnapstoneClient client) =>
        {
            var notification = await client.GetNotificationAsync(name);
            return TypedResults.Ok(NotificationResponse.From(notification, await client.ReceiverCircuitAsync(ReceiverCircuits.Notification, name)));
        })
            .Produces<NotificationResponse>().WithName("GetNotification").WithSummary("Read one notification (never its secret or routing key)");
        notifications.MapDelete("/{name}", async (string name, HttpContext http, SnapstoneClient client) =>
        {
            await client.DeleteNotificationAsync(name, http.Actor());
            return TypedResults.NoContent();
        }).WithName("DeleteNotification").WithSummary("Delete a notification");
    }
}
