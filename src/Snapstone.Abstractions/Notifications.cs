using Snapstone.Domain.Notifications;

namespace Snapstone;

/// <summary>The configured notifications. Singleton, key <see cref="Key"/>; the fan-out of events to them is the cluster's own contract.</summary>
[Alias("snapstone.INotificationRegistryGrain")]
public interface INotificationRegistryGrain : IGrainWithStringKey
{
    public const string Key = "notifications";

    /// <summary>Checks and stores a definition (replacing one of the same name), audited as <c>notification.define</c>; 400 with every problem, 409 past the limit.</summary>
    [Alias("Define")]
    Task<Notification> Define(string name, NotificationRequest request, string actor);

    /// <summary>Removes a definition (false when there is none); audited as <c>notification.delete</c> by <paramref name="actor"/>.</summary>
    [Alias("Remove")]
    Task<bool> Remove(string name, string actor);

    [Alias("Get"), Orleans.Concurrency.AlwaysInterleave]
    Task<Notification?> Get(string name);

    [Alias("List"), Orleans.Concurrency.AlwaysInterleave]
    Task<IReadOnlyList<Notification>> List();
}
