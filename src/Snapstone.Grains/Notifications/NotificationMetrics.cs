using System.Diagnostics.Metrics;
using Snapstone.Grains.Telemetry;

namespace Snapstone.Grains.Notifications;

/// <summary>Notifications as numbers, on the <c>Snapstone</c> meter: deliveries queued, by kind and event (both from fixed lists).</summary>
internal static class NotificationMetrics
{
    private static Meter Meter => SnapstoneMetrics.Meter;
    private static readonly Counter<long> QueuedCounter = Meter.CreateCounter<long>("snapstone.notifications.queued", description: "notification deliveries queued, by kind and event");

    public static void Queued(string kind, string type) =>
        QueuedCounter.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("event", type));
}
