using System.Text.Json.Nodes;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Notifications;
using static Snapstone.Domain.Tests.Notifications.NotificationTestData;

namespace Snapstone.Domain.Tests.Notifications;

public sealed class NotificationPayloadsTests
{
    private static readonly ConsoleLinks Links = ConsoleLinks.From("https://snapstone.example/");

    private static JsonNode Render(Notification n, NotificationEvent e, ConsoleLinks? links = null) =>
        JsonNode.Parse(NotificationPayloads.Render(n, e, links ?? Links) ?? throw new InvalidOperationException("nothing rendered"))!;

    [Fact]
    public void Slack_gets_a_fallback_text_and_blocks_with_a_header_fields_and_a_console_button()
    {
        var body = Render(Define("slack"), RolloutEvent());
        Assert.Equal("Rollout r-1 of bot-features v8 rolled back: 4/4 node(s) confirmed back on the previous package", (string?)body["text"]);
        var blocks = body["blocks"]!.AsArray();
        Assert.Equal(["header", "section", "actions", "context"], blocks.Select(b => (string?)b!["type"]));
        Assert.Equal("plain_text", (string?)blocks[0]!["text"]!["type"]);
        Assert.Equal("Rollout r-1 of bot-features v8 rolled back", (string?)blocks[0]!["text"]!["text"]);
        Assert.Equal("mrkdwn", (string?)blocks[1]!["text"]!["type"]);
        Assert.Equal(["*Unit*\nbot-features", "*Version*\nv7 → v8", "*State*\nrolled-back", "*Wave*\n'canary' (1 of 3)", "*Rollout*\nr-1"],
            blocks[1]!["fields"]!.AsArray().Select(f => (string?)f!["text"]));
        var button = blocks[2]!["elements"]![0]!;
        Assert.Equal("button", (string?)button["type"]);
        Assert.Equal("https://snapstone.example/console/rollouts/r-1", (string?)button["url"]);
        Assert.Equal("danger", (string?)button["style"]);
        Assert.Equal("Snapstone · rollout.rolled-back · 2026-12-01T10:00:00.000Z", (string?)blocks[3]!["elements"]![0]!["text"]);
    }

    [Fact]
    public void Slack_text_is_escaped_and_cut_to_slacks_limits_and_no_link_means_no_button()
    {
        var e = RolloutEvent() with { Rollout = RolloutEvent().Rollout! with { Message = "<!channel> & " + new string('x', 4000) } };
        var body = Render(Define("slack"), e, ConsoleLinks.None);
        var blocks = body["blocks"]!.AsArray();
        Assert.Equal(["header", "section", "context"], blocks.Select(b => (string?)b!["type"]));
        var text = (string)blocks[1]!["text"]!["text"]!;
        Assert.StartsWith("&lt;!channel&gt; &amp; xxx", text);
        Assert.Equal(NotificationPayloads.SlackTextMax, text.Length);
        Assert.EndsWith("…", text);
        Assert.True(((string)body["text"]!).Length <= NotificationPayloads.SlackTextMax);
    }

    [Fact]
    public void Slack_headers_are_cut_to_150_characters()
    {
        var e = IncidentEvent() with { Incident = IncidentEvent().Incident! with { Title = new string('t', 400) } };
        var header = (string)Render(Define("slack"), e)["blocks"]![0]!["text"]!["text"]!;
        Assert.Equal(NotificationPayloads.SlackHeaderMax, header.Length);
    }

    [Fact]
    public void Teams_gets_a_message_with_one_adaptive_card_attachment_of_schema_version_1_4()
    {
        var body = Render(Define("teams"), IncidentEvent(IncidentSeverity.Sev2));
        Assert.Equal("message", (string?)body["type"]);
        var attachment = body["attachments"]!.AsArray().Single()!;
        Assert.Equal("application/vnd.microsoft.card.adaptive", (string?)attachment["contentType"]);
        Assert.True(attachment.AsObject().ContainsKey("contentUrl"));
        var card = attachment["content"]!;
        Assert.Equal("AdaptiveCard", (string?)card["type"]);
        Assert.Equal("1.4", (string?)card["version"]);
        Assert.Equal("http://adaptivecards.io/schemas/adaptive-card.json", (string?)card["$schema"]);
        var items = card["body"]!.AsArray();
        Assert.Equal(["TextBlock", "TextBlock", "FactSet"], items.Select(i => (string?)i!["type"]));
        Assert.Equal("[SEV2] Incident opened: Rollout r-1 of bot-features v8 rolled back", (string?)items[0]!["text"]);
        Assert.Equal("Attention", (string?)items[0]!["color"]);
        Assert.Equal("cohort error rate 3.10% > ceiling 1.00%", (string?)items[1]!["text"]);
        Assert.Equal(["Severity", "Status", "Units", "Opened", "Incident"], items[2]!["facts"]!.AsArray().Select(f => (string?)f!["title"]));
        var action = card["actions"]!.AsArray().Single()!;
        Assert.Equal("Action.OpenUrl", (string?)action["type"]);
        Assert.Equal("https://snapstone.example/console/incidents/inc-1", (string?)action["url"]);
    }

    [Theory]
    [InlineData(IncidentSeverity.Sev1, "critical")]
    [InlineData(IncidentSeverity.Sev2, "error")]
    [InlineData(IncidentSeverity.Sev3, "warning")]
    [InlineData(IncidentSeverity.Sev4, "info")]
    public void Pagerduty_triggers_on_an_opened_incident_with_its_id_as_dedup_key_and_a_mapped_severity(IncidentSeverity severity, string expected)
    {
        var body = Render(Define("pagerduty"), IncidentEvent(severity));
        Assert.False(body.AsObject().ContainsKey("routing_key"), "the stored body holds no routing key: it is added as the request is made");
        Assert.Equal("trigger", (string?)body["event_action"]);
        Assert.Equal("inc-1", (string?)body["dedup_key"]);
        var payload = body["payload"]!;
        Assert.Equal($"[{severity.ToString().ToUpperInvariant()}] Incident opened: Rollout r-1 of bot-features v8 rolled back", (string?)payload["summary"]);
        Assert.Equal("snapstone/bot-features", (string?)payload["source"]);
        Assert.Equal(expected, (string?)payload["severity"]);
        Assert.Equal("2026-12-01T10:00:00.000Z", (string?)payload["timestamp"]);
        Assert.Equal("rollout", (string?)payload["class"]);
        Assert.Equal("https://snapstone.example/console/incidents/inc-1", (string?)body["links"]![0]!["href"]);
    }

    [Fact]
    public void Pagerduty_resolves_with_the_same_dedup_key_and_ignores_updates_and_rollout_events()
    {
        var pd = Define("pagerduty");
        var trigger = Render(pd, IncidentEvent());
        var resolve = Render(pd, IncidentEvent(resolved: true));
        Assert.Equal("resolve", (string?)resolve["event_action"]);
        Assert.Equal((string?)trigger["dedup_key"], (string?)resolve["dedup_key"]);
        Assert.Null(resolve["payload"]);
        Assert.Null(NotificationPayloads.Render(pd, IncidentEvent(opened: false), Links));
        Assert.Null(NotificationPayloads.Render(pd, RolloutEvent(), Links));
    }

    [Theory]
    [InlineData("""{"event_action":"resolve","dedup_key":"inc-1"}""", """{"routing_key":"KEY","event_action":"resolve","dedup_key":"inc-1"}""")]
    [InlineData("""{"event_action":"trigger","dedup_key":"inc-1","payload":{"summary":"s"}}""", """{"routing_key":"KEY","event_action":"trigger","dedup_key":"inc-1","payload":{"summary":"s"}}""")]
    [InlineData("""{"routing_key":"OLD","event_action":"resolve","dedup_key":"inc-1"}""", """{"routing_key":"KEY","event_action":"resolve","dedup_key":"inc-1"}""")]
    public void Pagerduty_bodies_are_addressed_with_the_routing_key_first_and_the_rest_unchanged(string stored, string sent) =>
        Assert.Equal(sent, NotificationPayloads.Addressed(stored, "KEY"));

    [Fact]
    public void A_rendered_trigger_addressed_is_the_events_api_shape_with_every_field()
    {
        var rendered = NotificationPayloads.Render(Define("pagerduty"), IncidentEvent(), Links)!;
        var sent = JsonNode.Parse(NotificationPayloads.Addressed(rendered, new string('k', 32)))!.AsObject();
        Assert.Equal(["routing_key", "event_action", "dedup_key", "payload", "client", "client_url", "links"], sent.Select(p => p.Key));
        Assert.Equal(new string('k', 32), (string?)sent["routing_key"]);
        Assert.Equal(JsonNode.Parse(rendered)!["payload"]!.ToJsonString(), sent["payload"]!.ToJsonString());
    }

    [Theory]
    [InlineData("""{"routing_key":"OLD","event_action":"resolve","dedup_key":"inc-1"}""", """{"event_action":"resolve","dedup_key":"inc-1"}""")]
    [InlineData("""{"event_action":"resolve","dedup_key":"inc-1"}""", null)]
    [InlineData("""{"text":"a message that mentions \"routing_key\" in passing"}""", null)]
    public void A_stored_body_loses_its_routing_key_and_one_without_is_left_alone(string stored, string? rewritten) =>
        Assert.Equal(rewritten, NotificationPayloads.WithoutRoutingKey(stored));

    [Fact]
    public void Pagerduty_summaries_are_cut_to_1024_characters()
    {
        var e = IncidentEvent() with { Incident = IncidentEvent().Incident! with { Title = new string('t', 2000) } };
        Assert.Equal(NotificationPayloads.PagerDutySummaryMax, ((string)Render(Define("pagerduty"), e)["payload"]!["summary"]!).Length);
    }

    [Fact]
    public void A_webhook_gets_the_incident_json_webhooks_have_always_had_plus_the_event_and_link()
    {
        var body = Render(Define("webhook"), IncidentEvent(opened: false));
        Assert.Equal("incident.updated", (string?)body["event"]);
        Assert.Equal("inc-1", (string?)body["id"]);
        Assert.Equal("sev3", (string?)body["severity"]);
        Assert.Equal("rolling-back", (string?)body["status"]);
        Assert.Equal(["bot-features"], body["units"]!.AsArray().Select(u => (string?)u));
        Assert.Equal("rolling-back", (string?)body["latest"]!["status"]);
        Assert.Equal("4 node(s) told to return to v7", (string?)body["latest"]!["message"]);
        Assert.Equal("https://snapstone.example/console/incidents/inc-1", (string?)body["link"]);
    }

    [Fact]
    public void A_webhook_gets_rollout_events_with_the_rollout_and_its_wave()
    {
        var body = Render(Define("webhook"), RolloutEvent(NotificationEventType.RolloutRolledBack));
        Assert.Equal("rollout.rolled-back", (string?)body["event"]);
        Assert.Equal("r-1", (string?)body["rollout"]!["id"]);
        Assert.Equal(8, (long?)body["rollout"]!["version"]);
        Assert.Equal(7, (long?)body["rollout"]!["previousVersion"]);
        Assert.Equal("rolled-back", (string?)body["rollout"]!["state"]);
        Assert.Equal("canary", (string?)body["rollout"]!["wave"]);
        Assert.Equal("https://snapstone.example/console/rollouts/r-1", (string?)body["link"]);
    }

    [Theory]
    [InlineData("https://snapstone.example", "https://snapstone.example/console/rollouts/r-1")]
    [InlineData("https://snapstone.example/", "https://snapstone.example/console/rollouts/r-1")]
    [InlineData("https://ops.example/snapstone/", "https://ops.example/snapstone/console/rollouts/r-1")]
    [InlineData("http://127.0.0.1:5080", "http://127.0.0.1:5080/console/rollouts/r-1")]
    [InlineData("", null)]
    [InlineData("not a url", null)]
    [InlineData("ftp://snapstone.example", null)]
    [InlineData(null, null)]
    public void Console_links_hang_off_the_configured_public_url(string? publicUrl, string? link) =>
        Assert.Equal(link, ConsoleLinks.From(publicUrl).Rollout("r-1"));
}
