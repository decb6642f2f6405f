using Snapstone.Domain.Notifications;

namespace Snapstone;

/// <summary>The configured notifications and the fan-out of events to them. Singleton, key <see cref="Key"/>.</summary>
[Alias("snapstone.INotificationRegistryGrain")]
public interface INotificationRegistryGrain : IGrainWithStringKey
{
    public const string Key = "notifications";

    /// <summary>Checks and stores a definition (replacing one of the same name); 400 with every problem, 409 past the limit.</summary>
    [Alias("Define")]
    Task<Notification> Define(string name, NotificationRequest request, string actor);

    [Alias("Remove")]
    Task<bool> Remove(string name);

    [Alias("Get"), Orleans.Concurrency.AlwaysInterleave]
    Task<Notification?> Get(string name);

    [Alias("List"), Orleans.Concurrency.AlwaysInterleave]
    Task<IReadOnlyList<Notification>> List();

    /// <summary>
    /// Queues one persisted, retried delivery per notification that wants the event. One-way: the publisher (a
    /// rollout in the middle of a rollback) never waits for it, not even for its acknowledgement.
    /// </summary>
    [Alias("Publish"), Orleans.Concurrency.AlwaysInterleave, Orleans.Concurrency.OneWay]
    Task Publish(NotificationEvent e);
}
