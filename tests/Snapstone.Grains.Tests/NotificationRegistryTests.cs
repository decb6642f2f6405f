using Snapstone.Domain;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Notifications;
using Snapstone.Grains.Notifications;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>A cluster of its own: the registry is a singleton, and one test fills it to its limit.</summary>
[CollectionDefinition(Name)]
public sealed class NotificationCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "notifications";
}

[Collection(NotificationCollection.Name)]
public sealed class NotificationRegistryTests(ClusterFixture fixture)
{
    private INotificationRegistryGrain Registry => fixture.Client.GetGrain<INotificationRegistryGrain>(INotificationRegistryGrain.Key);

    private static NotificationRequest Slack(string url = "https://hooks.slack.com/services/T0/B0/X", params string[] events) =>
        new("slack", url, null, null, events.Length == 0 ? null : events, null, null);

    [Fact]
    public async Task A_definition_round_trips_through_the_grain_and_a_bad_one_is_refused_with_every_problem()
    {
        var name = TestStorage.Unique("slack");
        var defined = await Registry.Define(name, Slack(events: ["rollout.rolled-back", "incident.opened"]), "admin");
        Assert.Equal([NotificationEventType.RolloutRolledBack, NotificationEventType.IncidentOpened], defined.Events);
        Assert.Equal(fixture.Time.GetUtcNow(), defined.UpdatedAt);
        var read = await Registry.Get(name);
        Assert.Equal((defined.Kind, defined.Url, defined.UpdatedBy), (read!.Kind, read.Url, read.UpdatedBy));
        Assert.Equal(defined.Events, read.Events);
        Assert.Contains(await Registry.List(), n => n.Name == name);

        var refused = await Assert.ThrowsAsync<SnapstoneException>(() => Registry.Define(name, new("slack", "http://hooks.example/x", null, null, ["nope"], null, "sev0"), "admin"));
        Assert.Equal(ProblemKind.Invalid, refused.Kind);
        Assert.Equal(3, refused.Errors.Count);
        Assert.Equal(defined.Events, (await Registry.Get(name))!.Events);

        Assert.True(await Registry.Remove(name, "tests"));
        Assert.False(await Registry.Remove(name, "tests"));
        Assert.Null(await Registry.Get(name));
    }

    [Fact]
    public async Task A_published_event_becomes_a_persisted_delivery_only_for_the_notifications_that_want_it()
    {
        var wants = TestStorage.Unique("wants");
        var other = TestStorage.Unique("other");
        // hooks.example does not resolve: the delivery fails and is kept for a retry, which is what this test reads.
        // (Loopback would be refused at definition: this cluster has no allow-list.)
        await Registry.Define(wants, new("pagerduty", "https://hooks.example/enqueue", "0123456789abcdef0123456789abcdef", null, null, null, "sev3"), "admin");
        await Registry.Define(other, new("pagerduty", "https://hooks.example/enqueue", "0123456789abcdef0123456789abcdef", null, null, null, "sev1"), "admin");
        var incident = IncidentRules.Open(TestStorage.Unique("inc"), "Rollout r-1 of u v2 rolled back", IncidentSeverity.Sev3, ["u"], "r-1",
            IncidentStatus.Detected, "crashes", "snapstone", fixture.Time.GetUtcNow());
        var e = NotificationEvents.OfIncident(incident, opened: true);

        await fixture.Client.GetGrain<INotificationPublisherGrain>(INotificationRegistryGrain.Key).Publish(e);

        var delivery = await Eventually.Until(() => fixture.Client.GetGrain<IWebhookDeliveryGrain>(NotificationRegistryGrain.DeliveryKey(wants, e.Id)).Status(),
            s => s is { Attempts: > 0, LastError: not null }, "the wanted notification's delivery to be attempted");
        Assert.False(delivery!.Delivered);
        Assert.Equal(DeliveryOutcome.Pending, delivery.Outcome);
        Assert.Equal(wants, delivery.Webhook);
        Assert.Null(await fixture.Client.GetGrain<IWebhookDeliveryGrain>(NotificationRegistryGrain.DeliveryKey(other, e.Id)).Status());
        await Registry.Remove(wants, "tests");
        await Registry.Remove(other, "tests");
    }

    [Fact]
    public async Task The_registry_is_bounded()
    {
        var existing = (await Registry.List()).Count;
        var names = Enumerable.Range(0, NotificationRules.MaxNotifications - existing).Select(i => TestStorage.Unique($"n{i}")).ToList();
        foreach (var name in names)
        {
            await Registry.Define(name, Slack(), "admin");
        }
        var refused = await Assert.ThrowsAsync<SnapstoneException>(() => Registry.Define(TestStorage.Unique("one-more"), Slack(), "admin"));
        Assert.Equal(ProblemKind.Conflict, refused.Kind);
        Assert.Equal($"at most {NotificationRules.MaxNotifications} notifications may be defined; delete one first", refused.Message);
        // Replacing one that exists is not a new one.
        await Registry.Define(names[0], Slack(events: "rollout.completed"), "admin");
        foreach (var name in names)
        {
            await Registry.Remove(name, "tests");
        }
    }
}
