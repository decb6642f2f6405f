using System.Diagnostics.Metrics;

namespace Snapstone.Grains.Notifications;

/// <summary>Notifications as numbers: deliveries queued, by kind and event.</summary>
internal static class NotificationMetrics
{
    private static readonly Meter Meter = new("Snapstone.Notifications");
    private static readonly Counter<long> QueuedCounter = Meter.CreateCounter<long>("snapstone.notifications.queued", description: "notification deliveries queued, by kind and event");

    public static void Queued(string kind, string type) =>
        QueuedCounter.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("event", type));
}
