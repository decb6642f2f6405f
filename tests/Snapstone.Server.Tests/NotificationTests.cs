using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary><c>/v1/notifications</c> on the shared server: admin only, bounded, https only, and never a secret echoed.</summary>
[Collection(ServerCollection.Name)]
public sealed class NotificationEndpointTests(ServerFixture fixture)
{
    private const string RoutingKey = "R0UT1NGKEY0123456789abcdefABCDEF";

    [Fact]
    public async Task A_pagerduty_notification_round_trips_without_its_routing_key_and_can_be_deleted()
    {
        var admin = fixture.Server.Client("admin");
        var name = TestStorage.Unique("pager");
        var (status, defined) = await admin.Put($"/v1/notifications/{name}", new { kind = "pagerduty", routingKey = RoutingKey, minSeverity = "sev2", units = new[] { "bot-features" } });
        Assert.True(status == 200, defined.ToJsonString());
        Assert.Equal("pagerduty", (string?)defined["kind"]);
        Assert.Equal("https://events.pagerduty.com/v2/enqueue", (string?)defined["url"]);
        Assert.Equal(["incident.opened", "incident.resolved", "drift.incident"], defined["events"]!.AsArray().Select(e => (string?)e));
        Assert.Equal("sev2", (string?)defined["minSeverity"]);
        Assert.True((bool?)defined["routingKeySet"]);
        Assert.Equal("admin", (string?)defined["updatedBy"]);

        var (got, one) = await admin.Get($"/v1/notifications/{name}");
        Assert.Equal(200, got);
        Assert.Equal(["bot-features"], one["units"]!.AsArray().Select(u => (string?)u));
        var (_, list) = await admin.Get("/v1/notifications");
        Assert.Contains(list["notifications"]!.AsArray(), n => (string?)n!["name"] == name);
        foreach (var text in new[] { defined.ToJsonString(), one.ToJsonString(), list.ToJsonString() })
        {
            Assert.DoesNotContain(RoutingKey, text);
            Assert.DoesNotContain("\"routingKey\"", text);
        }

        var (deleted, _) = await admin.Send(HttpMethod.Delete, $"/v1/notifications/{name}");
        Assert.Equal(204, deleted);
        var (gone, problem) = await admin.Get($"/v1/notifications/{name}");
        Assert.Equal(404, gone);
        Assert.Equal($"notification '{name}' does not exist", (string?)problem["detail"]);
        var (_, audit) = await admin.Get("/v1/audit");
        Assert.Contains(audit["entries"]!.AsArray(), e => (string?)e!["action"] == "notification.define" && (string?)e["target"] == $"notification/{name}");
        Assert.Contains(audit["entries"]!.AsArray(), e => (string?)e!["action"] == "notification.delete" && (string?)e["target"] == $"notification/{name}");
    }

    [Fact]
    public async Task Slack_urls_and_webhook_secrets_are_never_shown()
    {
        var admin = fixture.Server.Client("admin");
        var slack = TestStorage.Unique("slack");
        var hook = TestStorage.Unique("hook");
        const string token = "T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX";
        const string secret = "webhook-secret-0123456789";
        Assert.Equal(200, (await admin.Put($"/v1/notifications/{slack}", new { kind = "slack", url = $"https://hooks.slack.com/services/{token}", events = new[] { "rollout.rolled-back" } })).Status);
        Assert.Equal(200, (await admin.Put($"/v1/notifications/{hook}", new { kind = "webhook", url = "https://hooks.example/in?key=abc", secret })).Status);
        var (_, list) = await admin.Get("/v1/notifications");
        var text = list.ToJsonString();
        Assert.DoesNotContain(token, text);
        Assert.DoesNotContain(secret, text);
        Assert.DoesNotContain("key=abc", text);
        var shown = list["notifications"]!.AsArray().ToDictionary(n => (string)n!["name"]!, n => n!);
        Assert.Equal("https://hooks.slack.com/…", (string?)shown[slack]["url"]);
        Assert.Equal("https://hooks.example/in?…", (string?)shown[hook]["url"]);
        Assert.True((bool?)shown[hook]["secretSet"]);
        Assert.False((bool?)shown[slack]["secretSet"]);
    }

    [Theory]
    [InlineData("{\"kind\":\"slack\",\"url\":\"http://hooks.example/x\"}", "url must be https (plain http is allowed only where Snapstone:Notifications:AllowHttp is true)")]
    [InlineData("{\"kind\":\"sms\",\"url\":\"https://hooks.example/x\"}", "kind 'sms' must be one of slack, teams, pagerduty, webhook")]
    [InlineData("{\"url\":\"https://hooks.example/x\"}", "kind is required: one of slack, teams, pagerduty, webhook")]
    [InlineData("{\"kind\":\"slack\",\"url\":\"https://hooks.example/x\",\"events\":[\"rollout.finished\"]}", "events[0] 'rollout.finished' is not an event")]
    [InlineData("{\"kind\":\"pagerduty\",\"routingKey\":\"abc\"}", "routingKey must be 32 letters or digits (got 3 characters)")]
    [InlineData("{\"kind\":\"pagerduty\",\"routingKey\":\"R0UT1NGKEY0123456789abcdefABCDEF\",\"events\":[\"rollout.started\"]}", "cannot be sent to pagerduty")]
    [InlineData("{\"kind\":\"webhook\",\"url\":\"https://hooks.example/x\",\"secret\":\"short\"}", "secret must be 16 to 256 characters (got 5)")]
    [InlineData("{\"kind\":\"slack\",\"url\":\"https://hooks.example/x\",\"minSeverity\":\"high\"}", "minSeverity 'high' must be one of sev1, sev2, sev3, sev4")]
    [InlineData("{\"kind\":\"slack\",\"url\":\"https://hooks.example/x\",\"units\":[\"Bot Features\"]}", "units[0] 'Bot Features' must match")]
    [InlineData("{\"kind\":\"slack\",\"url\":\"https://hooks.example/x\",\"channel\":\"#oncall\"}", "channel")]
    public async Task Bad_definitions_are_400_naming_the_field(string body, string detail)
    {
        var (status, problem) = await fixture.Server.Client("admin").Put($"/v1/notifications/{TestStorage.Unique("bad")}", body);
        Assert.True(status == 400, problem.ToJsonString());
        Assert.Contains(detail, (string?)problem["detail"]);
    }

    [Fact]
    public async Task A_long_url_and_a_bad_name_are_refused_with_their_limits()
    {
        var admin = fixture.Server.Client("admin");
        var (status, problem) = await admin.Put($"/v1/notifications/{TestStorage.Unique("long")}", new { kind = "slack", url = "https://hooks.example/" + new string('a', 3000) });
        Assert.Equal(400, status);
        Assert.Equal("url must be at most 2048 characters (got 3022)", (string?)problem["detail"]);
        var (named, naming) = await admin.Put("/v1/notifications/On-Call", new { kind = "slack", url = "https://hooks.example/x" });
        Assert.Equal(400, named);
        Assert.StartsWith("notification 'On-Call' must match", (string?)naming["detail"]);
    }

    [Fact]
    public async Task The_openapi_document_describes_the_notification_operations()
    {
        using var anonymous = fixture.Server.Client(null);
        var (_, document) = await anonymous.Get("/openapi/v1.json");
        var named = document["paths"]!["/v1/notifications/{name}"]!;
        Assert.Equal("PutNotification", (string?)named["put"]!["operationId"]);
        Assert.Equal("GetNotification", (string?)named["get"]!["operationId"]);
        Assert.Equal("DeleteNotification", (string?)named["delete"]!["operationId"]);
        Assert.Equal("ListNotifications", (string?)document["paths"]!["/v1/notifications"]!["get"]!["operationId"]);
        var schema = document["components"]!["schemas"]!["NotificationBody"]!["properties"]!.AsObject();
        Assert.Equal(["kind", "url", "routingKey", "secret", "events", "units", "minSeverity"], schema.Select(p => p.Key));
        var response = document["components"]!["schemas"]!["NotificationResponse"]!["properties"]!.AsObject();
        Assert.DoesNotContain("secret", response.Select(p => p.Key));
        Assert.DoesNotContain("routingKey", response.Select(p => p.Key));
    }

    [Theory]
    [InlineData("ci")]
    [InlineData("reader")]
    [InlineData("oncall")]
    public async Task Only_admin_may_read_or_change_notifications(string token)
    {
        var client = fixture.Server.Client(token);
        Assert.Equal(403, (await client.Get("/v1/notifications")).Status);
        Assert.Equal(403, (await client.Put("/v1/notifications/x", new { kind = "slack", url = "https://hooks.example/x" })).Status);
        Assert.Equal(403, (await client.Send(HttpMethod.Delete, "/v1/notifications/x")).Status);
    }
}

/// <summary>
/// Every kind against a real receiver: a good rollout completes, a bad one rolls back, its incident is resolved;
/// each receiver gets exactly what its filters let through, in its vendor's documented shape.
/// </summary>
public sealed class NotificationDeliveryTests
{
    private const string RoutingKey = "PDKEY000111222333444555666777888";
    private const string Secret = "webhook-secret-0123456789";
    private const string PublicUrl = "https://snapstone.example";

    [Fact]
    public async Task Each_kind_gets_its_vendors_shape_filters_hold_and_trigger_and_resolve_share_the_incident_as_dedup_key()
    {
        await using var receiver = await NotificationReceiver.StartAsync("stuck");
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailClosed, settings: new Dictionary<string, string>
        {
            ["Snapstone__Notifications__AllowHttp"] = "true",
            ["Snapstone__Notifications__PublicUrl"] = PublicUrl,
            // The receiver listens on loopback, which deliveries refuse unless the allow-list names it.
            ["Snapstone__Webhooks__AllowedDestinations__0"] = "127.0.0.1",
        });
        var admin = scenario.Server.Client("admin");
        async Task Define(string name, object body)
        {
            var (status, answer) = await admin.Put($"/v1/notifications/{name}", body);
            Assert.True(status == 200, $"{name}: {status} {answer.ToJsonString()}");
        }
        await Define("slack-all", new { kind = "slack", url = receiver.Url("slack") });
        await Define("teams-incidents", new { kind = "teams", url = receiver.Url("teams"), events = new[] { "incident.opened", "incident.resolved" } });
        await Define("pager", new { kind = "pagerduty", url = receiver.Url("pd"), routingKey = RoutingKey, minSeverity = "sev3" });
        await Define("pager-major", new { kind = "pagerduty", url = receiver.Url("pd-major"), routingKey = RoutingKey, minSeverity = "sev2" });
        await Define("hook", new { kind = "webhook", url = receiver.Url("hook"), secret = Secret, events = new[] { "rollout.started", "rollout.completed", "rollout.rolled-back" } });
        await Define("slack-waf", new { kind = "slack", url = receiver.Url("slack-waf"), units = new[] { "waf-rules" } });
        await Define("stuck", new { kind = "slack", url = receiver.Url("stuck"), events = new[] { "rollout.started", "rollout.rolled-back" } });

        // A good package walks every wave; a bad one crashes the canaries and is rolled back.
        var good = await scenario.PublishAsync(Http.Features(160));
        var goodId = await scenario.StartRolloutAsync(good);
        Assert.Equal("completed", (string?)(await scenario.TickUntilState(goodId, "completed", "rolled-back", "paused"))["state"]);
        var completedSeen = DateTimeOffset.UtcNow;
        var bad = await scenario.PublishAsync(Http.Features(201));
        var badId = await scenario.StartRolloutAsync(bad);
        Assert.Equal("rolled-back", (string?)(await scenario.TickUntilState(badId, "rolled-back", "completed"))["state"]);

        // The stuck receiver never answers: the good rollout walked every wave while its start notification hung there,
        // and the bad one's start and rollback were queued behind nothing.
        Assert.Contains(receiver.Requests, r => r.Channel == "stuck" && r.Raw.Contains($"Rollout {goodId}") && r.At < completedSeen);
        await Eventually.Until(() => Task.FromResult(receiver.Requests.Where(r => r.Channel == "stuck" && r.Raw.Contains($"Rollout {badId}")).Select(r => r.Event).Distinct().Count()),
            n => n == 2, "the stuck receiver to be sent the bad rollout's start and rollback");
        Assert.True(receiver.Hanging > 0, "the stuck receiver holds its requests open");

        var (_, incidents) = await scenario.Ci.Get("/v1/incidents");
        var incident = incidents["incidents"]!.AsArray().Single(i => (string?)i!["title"] == $"Rollout {badId} of {scenario.Unit} v{bad} rolled back")!;
        var incidentId = (string)incident["id"]!;
        Assert.Equal("sev3", (string?)incident["severity"]);
        var (resolved, _) = await scenario.Server.Client("oncall").Post($"/v1/incidents/{incidentId}/updates", new { status = "resolved", message = "customers confirm recovery" });
        Assert.Equal(200, resolved);

        // PagerDuty: one trigger when the incident opened, one resolve when it resolved, the incident id as dedup_key.
        var pd = await Eventually.Until(() => Task.FromResult(receiver.On("pd")), r => r.Any(x => (string?)x.Body["event_action"] == "resolve"),
            "PagerDuty to receive the resolve", TimeSpan.FromSeconds(60));
        Assert.Equal(["trigger", "resolve"], pd.Select(r => (string?)r.Body["event_action"]));
        var (trigger, resolve) = (pd[0].Body, pd[1].Body);
        Assert.Equal(incidentId, (string?)trigger["dedup_key"]);
        Assert.Equal(incidentId, (string?)resolve["dedup_key"]);
        Assert.All(pd, r => Assert.Equal(RoutingKey, (string?)r.Body["routing_key"]));
        var payload = trigger["payload"]!;
        var summary = (string)payload["summary"]!;
        Assert.InRange(summary.Length, 1, 1024);
        Assert.Contains($"Rollout {badId}", summary);
        Assert.False(string.IsNullOrWhiteSpace((string?)payload["source"]));
        Assert.Equal("warning", (string?)payload["severity"]);   // sev3, as the incident says
        Assert.Contains((string?)payload["severity"], new[] { "critical", "error", "warning", "info" });
        Assert.Equal($"{PublicUrl}/console/incidents/{incidentId}", (string?)trigger["links"]![0]!["href"]);

        // Teams hears of exactly the two incident events it asked for, as an Adaptive Card 1.4 in a message.
        var teams = await Eventually.Until(() => Task.FromResult(receiver.On("teams")), r => r.Count >= 2, "Teams to receive the opened and resolved cards");
        Assert.Equal(2, teams.Count);
        foreach (var (card, verb) in teams.Zip(new[] { "opened", "resolved" }))
        {
            Assert.Equal("message", (string?)card.Body["type"]);
            var attachment = card.Body["attachments"]!.AsArray().Single()!;
            Assert.Equal("application/vnd.microsoft.card.adaptive", (string?)attachment["contentType"]);
            var content = attachment["content"]!;
            Assert.Equal("AdaptiveCard", (string?)content["type"]);
            Assert.Equal("1.4", (string?)content["version"]);
            Assert.Equal("http://adaptivecards.io/schemas/adaptive-card.json", (string?)content["$schema"]);
            var body = content["body"]!.AsArray();
            Assert.Equal("TextBlock", (string?)body[0]!["type"]);
            Assert.StartsWith($"[SEV3] Incident {verb}: Rollout {badId}", (string?)body[0]!["text"]);
            Assert.Contains(body, b => (string?)b!["type"] == "FactSet");
            var open = content["actions"]!.AsArray().Single()!;
            Assert.Equal("Action.OpenUrl", (string?)open["type"]);
            Assert.Equal($"{PublicUrl}/console/incidents/{incidentId}", (string?)open["url"]);
        }

        // Slack, every event: the good rollout's start, waves and completion; the bad one's start and rollback; the incident's life.
        var slack = await Eventually.Until(() => Task.FromResult(receiver.On("slack")), r => r.Any(x => x.Event == "incident.resolved") && r.Count(x => x.Event == "incident.updated") >= 2,
            "Slack to receive the incident's updates (rolled back, monitoring) and its resolution");
        var slackEvents = slack.Select(r => r.Event).ToList();
        // Two waves pass on their own; the last wave's pass is the rollout's completion (one timeline entry per transition).
        Assert.Equal(2, slack.Count(r => r.Event == "rollout.wave-passed" && r.Raw.Contains(goodId)));
        Assert.Contains("wave 'all' passed", (string?)slack.Single(r => r.Event == "rollout.completed").Body["blocks"]![1]!["text"]!["text"]);
        Assert.Equal(2, slackEvents.Count(e => e == "rollout.started"));
        Assert.Single(slackEvents, e => e == "rollout.completed");
        Assert.Single(slackEvents, e => e == "rollout.rolled-back");
        Assert.Single(slackEvents, e => e == "incident.opened");
        Assert.Equal(2, slackEvents.Count(e => e == "incident.updated"));
        foreach (var message in slack)
        {
            Assert.False(string.IsNullOrWhiteSpace((string?)message.Body["text"]), message.Raw);
            var blocks = message.Body["blocks"]!.AsArray();
            Assert.InRange(blocks.Count, 1, 50);
            Assert.Equal("header", (string?)blocks[0]!["type"]);
            Assert.Equal("plain_text", (string?)blocks[0]!["text"]!["type"]);
            Assert.InRange(((string)blocks[0]!["text"]!["text"]!).Length, 1, 150);
            Assert.All(blocks, b => Assert.Contains((string?)b!["type"], new[] { "header", "section", "actions", "context" }));
            var section = blocks.Single(b => (string?)b!["type"] == "section")!;
            Assert.All(section["fields"]!.AsArray(), f => Assert.Equal("mrkdwn", (string?)f!["type"]));
            var button = blocks.Single(b => (string?)b!["type"] == "actions")!["elements"]![0]!;
            var expected = message.Event!.StartsWith("rollout.") ? $"{PublicUrl}/console/rollouts/" : $"{PublicUrl}/console/incidents/{incidentId}";
            Assert.StartsWith(expected, (string?)button["url"]);
        }
        var rolledBack = slack.Single(r => r.Event == "rollout.rolled-back");
        Assert.Equal($"{PublicUrl}/console/rollouts/{badId}", (string?)rolledBack.Body["blocks"]![2]!["elements"]![0]!["url"]);

        // The webhook: only its three rollout events, each signed over its timestamp and the exact body.
        var hook = await Eventually.Until(() => Task.FromResult(receiver.On("hook")), r => r.Count >= 4, "the webhook to receive both rollouts' starts and ends");
        Assert.Equal(["rollout.started", "rollout.completed", "rollout.started", "rollout.rolled-back"], hook.Select(r => r.Event));
        Assert.All(hook, r =>
        {
            Assert.Equal("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes($"{r.Timestamp}.{r.Raw}"))), r.Signature);
            Assert.Equal(Snapstone.Domain.Webhooks.SignatureCheck.Valid,
                Snapstone.Domain.Webhooks.WebhookSignature.Verify(Secret, r.Timestamp, r.Signature, Encoding.UTF8.GetBytes(r.Raw), r.At));
            Assert.Equal(r.Event, (string?)r.Body["event"]);
            Assert.Equal("application/json", r.ContentType);
        });
        Assert.Equal(badId, (string?)hook[3].Body["rollout"]!["id"]);
        Assert.Equal($"{PublicUrl}/console/rollouts/{badId}", (string?)hook[3].Body["link"]);

        // Filtered out: another unit's channel heard nothing of bot-features, and a sev2-and-worse pager nothing of a sev3.
        // Both were published to long before the barriers above (the good rollout, the incident's opening).
        Assert.Empty(receiver.On("slack-waf"));
        Assert.Empty(receiver.On("pd-major"));
        Assert.All(receiver.Requests.Where(r => r.Channel == "stuck"), r => Assert.Contains(r.Event, new[] { "rollout.started", "rollout.rolled-back" }));
    }
}

public sealed class NotificationConfigurationTests
{
    [Theory]
    [InlineData("Snapstone__Notifications__PublicUrl", true)]
    [InlineData("Snapstone:Notifications:AllowHttp", true)]
    [InlineData("Snapstone__Notifications__BaseUrl", false)]
    [InlineData("Snapstone__Notifications", false)]
    [InlineData("Snapstone__Webhooks__AllowedDestinations__0", true)]
    [InlineData("Snapstone:Webhooks:SecretKey", true)]
    [InlineData("Snapstone:Webhooks:BreakerFailures", true)]
    [InlineData("Snapstone:Webhooks:AllowList", false)]
    public void The_notification_keys_are_known_to_the_server(string key, bool known) =>
        Assert.Equal(known, Snapstone.Server.Hosting.ConfigurationKeys.IsKnown(key));
}
