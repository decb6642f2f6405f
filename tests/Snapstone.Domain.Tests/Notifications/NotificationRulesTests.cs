using Snapstone.Domain.Incidents;
using Snapstone.Domain.Notifications;
using static Snapstone.Domain.Tests.Notifications.NotificationTestData;

namespace Snapstone.Domain.Tests.Notifications;

public sealed class NotificationRulesTests
{
    private const string Key = "0123456789abcdef0123456789ABCDEF";

    private static NotificationRequest Slack(string? url = "https://hooks.slack.com/services/T0/B0/XYZ", string[]? events = null, string[]? units = null, string? minSeverity = null) =>
        new("slack", url, null, null, events, units, minSeverity);

    public static TheoryData<string, NotificationRequest, bool, string> Refusals() => new()
    {
        { "oncall", new(null, "https://x.example", null, null, null, null, null), false, "kind is required: one of slack, teams, pagerduty, webhook" },
        { "oncall", new("email", "https://x.example", null, null, null, null, null), false, "kind 'email' must be one of slack, teams, pagerduty, webhook" },
        { "On Call", Slack(), false, "name 'On Call' must match ^[a-z0-9][a-z0-9._-]{0,99}$ (lower-case letters, digits, '.', '_', '-'; at most 100 characters)" },
        { "oncall", Slack(url: null), false, "url is required: an absolute https URL" },
        { "oncall", Slack(url: "hooks.slack.com/x"), false, "url must be an absolute https URL" },
        { "oncall", Slack(url: "ftp://hooks.example/x"), true, "url must be an absolute https or http URL" },
        { "oncall", Slack(url: "http://hooks.example/x"), false, "url must be https (plain http is allowed only where Snapstone:Notifications:AllowHttp is true)" },
        { "oncall", Slack(url: "https://user:pw@hooks.example/x"), false, "url must not carry a user name or password" },
        { "oncall", Slack(url: "https://hooks.example/" + new string('a', 2048)), false, "url must be at most 2048 characters (got 2070)" },
        { "oncall", Slack(events: []), false, "events must list 1 to 11 events of rollout.started, rollout.awaiting-approval, rollout.wave-passed, rollout.paused, rollout.rolled-back, rollout.aborted, rollout.completed, incident.opened, incident.updated, incident.resolved, drift.incident (got 0), or be left out for all of them" },
        { "oncall", Slack(events: ["rollout.done"]), false, "events[0] 'rollout.done' is not an event (known: rollout.started, rollout.awaiting-approval, rollout.wave-passed, rollout.paused, rollout.rolled-back, rollout.aborted, rollout.completed, incident.opened, incident.updated, incident.resolved, drift.incident)" },
        { "oncall", Slack(units: [.. Enumerable.Range(0, 101).Select(i => $"u{i}")]), false, "units must list at most 100 units (got 101)" },
        { "oncall", Slack(units: ["ok", "Not OK"]), false, "units[1] 'Not OK' must match ^[a-z0-9][a-z0-9._-]{0,99}$ (lower-case letters, digits, '.', '_', '-'; at most 100 characters)" },
        { "oncall", Slack(minSeverity: "critical"), false, "minSeverity 'critical' must be one of sev1, sev2, sev3, sev4 (sev1 is the most severe)" },
        { "oncall", new("slack", "https://hooks.example/x", Key, null, null, null, null), false, "routingKey is only for kind pagerduty" },
        { "oncall", new("teams", "https://hooks.example/x", null, "a-secret-of-16-chars", null, null, null), false, "secret is only for kind webhook (slack and teams carry their credential in the url, pagerduty in routingKey)" },
        { "oncall", new("pagerduty", null, null, null, null, null, null), false, "routingKey is required for pagerduty: the 32-character integration key" },
        { "oncall", new("pagerduty", null, "short", null, null, null, null), false, "routingKey must be 32 letters or digits (got 5 characters)" },
        { "oncall", new("pagerduty", null, Key, null, ["rollout.completed"], null, null), false, "events[0] 'rollout.completed' cannot be sent to pagerduty, which triggers and resolves incidents (allowed: incident.opened, incident.resolved, drift.incident)" },
        { "oncall", new("pagerduty", null, Key, null, ["incident.opened"], null, null), false, "events must include incident.resolved with incident.opened for pagerduty, or its alerts would never resolve" },
        { "oncall", new("webhook", "https://hooks.example/x", null, null, null, null, null), false, "secret must be 16 to 256 characters (got 0)" },
        { "oncall", new("webhook", "https://hooks.example/x", null, new string('s', 257), null, null, null), false, "secret must be 16 to 256 characters (got 257)" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Bad_definitions_are_refused_naming_the_field_and_the_limit(string name, NotificationRequest request, bool allowHttp, string error)
    {
        var (notification, errors) = NotificationRules.Check(name, request, allowHttp, "admin", T0);
        Assert.Null(notification);
        Assert.Equal([error], errors);
    }

    [Fact]
    public void Every_problem_is_named_at_once()
    {
        var (_, errors) = NotificationRules.Check("Bad Name", new("webhook", "http://x", null, "short", ["nope"], null, "sev9"), false, "admin", T0);
        Assert.Equal(5, errors.Count);
    }

    [Fact]
    public void Pagerduty_defaults_to_the_events_endpoint_and_to_the_events_it_can_act_on()
    {
        var (notification, errors) = NotificationRules.Check("pager", new("pagerduty", null, Key, null, null, ["bot-features", "bot-features"], "sev2"), false, "admin", T0);
        Assert.Empty(errors);
        Assert.Equal("https://events.pagerduty.com/v2/enqueue", notification!.Url);
        Assert.Equal([NotificationEventType.IncidentOpened, NotificationEventType.IncidentResolved, NotificationEventType.DriftIncident], notification.Events);
        Assert.Equal(["bot-features"], notification.Units);
        Assert.Equal(IncidentSeverity.Sev2, notification.MinSeverity);
        Assert.Equal(Key, notification.RoutingKey);
        Assert.Equal("admin", notification.UpdatedBy);
    }

    [Fact]
    public void Other_kinds_default_to_every_event_and_repeats_are_dropped()
    {
        Assert.Equal(NotificationEvents.All, Define("teams").Events);
        Assert.Equal([NotificationEventType.RolloutCompleted], Define("slack", ["rollout.completed", "rollout.completed"]).Events);
    }

    [Fact]
    public void Plain_http_is_accepted_where_configuration_allows_it()
    {
        var (notification, errors) = NotificationRules.Check("lab", Slack(url: "http://127.0.0.1:9000/slack"), true, "admin", T0);
        Assert.Empty(errors);
        Assert.Equal("http://127.0.0.1:9000/slack", notification!.Url);
    }

    [Theory]
    [InlineData("slack", "https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/…")]
    [InlineData("teams", "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=s3cret", "https://prod-12.westeurope.logic.azure.com/…")]
    [InlineData("webhook", "https://hooks.example/in?token=abc", "https://hooks.example/in?…")]
    [InlineData("webhook", "https://hooks.example/in", "https://hooks.example/in")]
    [InlineData("pagerduty", "https://events.pagerduty.com/v2/enqueue", "https://events.pagerduty.com/v2/enqueue")]
    public void Urls_are_shown_without_the_credential_they_carry(string kind, string url, string shown)
    {
        var notification = Define(kind) with { Url = url };
        Assert.Equal(shown, NotificationRules.ShownUrl(notification));
        Assert.DoesNotContain("s3cret", NotificationRules.ShownUrl(notification));
    }
}
