using Snapstone.Domain.Notifications;

namespace Snapstone.Client;

public sealed partial class SnapstoneClient
{
    // ---- notifications: Slack, Teams, PagerDuty and signed webhooks, fed by rollouts and incidents ----

    /// <summary>Creates or replaces a notification; the registry checks it (400 naming every problem) and audits it with the change.</summary>
    public async Task<Notification> DefineNotificationAsync(string name, NotificationRequest request, string actor)
    {
        SnapstoneException.ThrowIfBadName("notification", name);
        return await Notifications.Define(name, request, actor);
    }

    public async Task<Notification> GetNotificationAsync(string name)
    {
        SnapstoneException.ThrowIfBadName("notification", name);
        return await Notifications.Get(name) ?? throw SnapstoneException.NotFound($"notification '{name}' does not exist");
    }

    public Task<IReadOnlyList<Notification>> ListNotificationsAsync() => Notifications.List();

    public async Task DeleteNotificationAsync(string name, string actor)
    {
        SnapstoneException.ThrowIfBadName("notification", name);
        if (!await Notifications.Remove(name, actor))
        {
            throw SnapstoneException.NotFound($"notification '{name}' does not exist");
        }
    }

    private INotificationRegistryGrain Notifications => grains.GetGrain<INotificationRegistryGrain>(INotificationRegistryGrain.Key);
}
