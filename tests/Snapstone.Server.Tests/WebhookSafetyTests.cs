using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Snapstone.Domain.Webhooks;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// Webhook and notification urls that point inside the cluster's network are refused on the shared server, which
/// has no allow-list: loopback, link-local (cloud metadata), private, IPv6 loopback, and names that resolve to them.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class WebhookDestinationTests(ServerFixture fixture)
{
    private const string Secret = "webhook-secret-0123456789";

    public static TheoryData<string, string> Inward() => new()
    {
        { "127.0.0.1", "url '127.0.0.1' is loopback (127.0.0.0/8)" },
        { "localhost", "url 'localhost' resolves to " },
        { "169.254.169.254", "url '169.254.169.254' is link-local (169.254.0.0/16, where cloud metadata services answer)" },
        { "10.0.0.1", "url '10.0.0.1' is private (10.0.0.0/8)" },
        { "[::1]", "url '::1' is loopback (::1)" },
        { "[::ffff:169.254.169.254]", "is link-local (169.254.0.0/16" },
        { "100.64.0.1", "url '100.64.0.1' is carrier-grade NAT (100.64.0.0/10)" },
        // The machine's own name resolves to loopback or to its private address: inward either way.
        { Dns.GetHostName().ToLowerInvariant(), $"url '{Dns.GetHostName().ToLowerInvariant()}' resolves to " },
    };

    [Theory]
    [MemberData(nameof(Inward))]
    public async Task Inward_webhook_urls_are_400_naming_url_and_why(string host, string detail)
    {
        var (status, problem) = await fixture.Server.Client("admin").Put($"/v1/webhooks/{TestStorage.Unique("inward")}",
            new { url = $"http://{host}:8080/hook", events = new[] { "incident.opened" }, secret = Secret });
        Assert.True(status == 400, problem.ToJsonString());
        Assert.Contains(detail, (string?)problem["detail"]);
        Assert.Contains("Snapstone:Webhooks:AllowedDestinations", (string?)problem["detail"]);
    }

    [Theory]
    [MemberData(nameof(Inward))]
    public async Task Inward_notification_urls_are_400_naming_url_and_why(string host, string detail)
    {
        var (status, problem) = await fixture.Server.Client("admin").Put($"/v1/notifications/{TestStorage.Unique("inward")}",
            new { kind = "webhook", url = $"https://{host}/hook", secret = Secret });
        Assert.True(status == 400, problem.ToJsonString());
        Assert.Contains(detail, (string?)problem["detail"]);
    }

    [Fact]
    public async Task Only_http_and_https_are_accepted_and_an_outward_name_is()
    {
        var admin = fixture.Server.Client("admin");
        var (status, problem) = await admin.Put($"/v1/webhooks/{TestStorage.Unique("ftp")}", new { url = "ftp://hooks.example/x", events = new[] { "*" }, secret = Secret });
        Assert.Equal(400, status);
        Assert.Contains("url must be an absolute http or https URL", (string?)problem["detail"]);
        // A name that does not resolve now is accepted: every connection to it is checked when it is made.
        Assert.Equal(200, (await admin.Put($"/v1/webhooks/{TestStorage.Unique("out")}", new { url = "https://hooks.example/x", events = new[] { "*" }, secret = Secret })).Status);
    }
}

/// <summary>
/// A server whose allow-list names 127.0.0.1 (where the test receiver listens), with a breaker that opens after 3
/// failures for 2 s, and one receiver whose channels answer as each test sets them.
/// </summary>
public sealed class WebhookSafetyFixture : IAsyncLifetime
{
    public const int BreakerFailures = 3;
    public ServerProcess Server { get; private set; } = null!;
    public NotificationReceiver Receiver { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Receiver = await NotificationReceiver.StartAsync();
        Server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Webhooks__AllowedDestinations__0"] = "127.0.0.1",
            ["Snapstone__Webhooks__BreakerFailures"] = BreakerFailures.ToString(),
            ["Snapstone__Webhooks__BreakerCooldownSeconds"] = "2",
            ["Snapstone__Notifications__AllowHttp"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Receiver.DisposeAsync();
    }
}

/// <summary>Deliveries over real HTTP from the real server to a real receiver on loopback, allowed by the allow-list.</summary>
public sealed class WebhookSafetyTests(WebhookSafetyFixture fixture) : IClassFixture<WebhookSafetyFixture>
{
    private const string Secret = "webhook-secret-0123456789";
    private const string Rotated = "rotated-secret-9876543210";
    private const string RoutingKey = "PDR0UT1NGKEYNEVERSTORED000000001";
    private ServerProcess Server => fixture.Server;
    private NotificationReceiver Receiver => fixture.Receiver;

    private async Task DefineHook(string name, string channel, string secret = Secret, params string[] events)
    {
        var (status, answer) = await Server.Client("admin").Put($"/v1/webhooks/{name}",
            new { url = Receiver.Url(channel), events = events.Length == 0 ? ["incident.opened"] : events, secret });
        Assert.True(status == 200, $"{name}: {status} {answer.ToJsonString()}");
    }

    /// <summary>Freezes a fresh unit, which opens an incident about it (an <c>incident.opened</c> event); answers the unit.</summary>
    private async Task<string> OpenIncident()
    {
        var unit = TestStorage.Unique("unit");
        Assert.Equal(200, (await Server.Client("admin").Put($"/v1/units/{unit}", new { owner = "edge" })).Status);
        var (frozen, answer) = await Server.Client("oncall").Post("/v1/breakglass/freeze", new { unit, reason = "webhook safety drill" });
        Assert.True(frozen == 200, answer.ToJsonString());
        return unit;
    }

    private async Task<string> IncidentOf(string unit)
    {
        var incident = await Eventually.Until(async () => (await Server.Client("ci").Get("/v1/incidents")).Body["incidents"]!.AsArray()
                .FirstOrDefault(i => (string?)i!["title"] == $"Freeze of unit '{unit}'"),
            i => i is not null, $"the freeze of {unit} to open an incident");
        return (string)incident!["id"]!;
    }

    private async Task<JsonNode> Hook(string name)
    {
        var (status, hook) = await Server.Client("admin").Get($"/v1/webhooks/{name}");
        Assert.True(status == 200, hook.ToJsonString());
        return hook;
    }

    private static IReadOnlyList<NotificationReceiver.Received> About(IEnumerable<NotificationReceiver.Received> requests, string unit) =>
        [.. requests.Where(r => r.Raw.Contains(unit, StringComparison.Ordinal))];

    [Fact]
    public async Task Loopback_is_allowed_when_the_allow_list_names_it_and_other_inward_addresses_still_are_not()
    {
        var name = TestStorage.Unique("allowed");
        await DefineHook(name, "allowed");
        var unit = await OpenIncident();
        var got = await Eventually.Until(() => Task.FromResult(About(Receiver.All("allowed"), unit)), r => r.Count >= 1, "the allowed loopback receiver to get the incident");
        Assert.Equal("incident.opened", got[0].Event);

        var (status, problem) = await Server.Client("admin").Put($"/v1/webhooks/{TestStorage.Unique("private")}", new { url = "http://10.0.0.1/x", events = new[] { "*" }, secret = Secret });
        Assert.Equal(400, status);
        Assert.Contains("url '10.0.0.1' is private (10.0.0.0/8)", (string?)problem["detail"]);
        var (notified, refused) = await Server.Client("admin").Put($"/v1/notifications/{TestStorage.Unique("meta")}", new { kind = "slack", url = "http://169.254.169.254/latest/meta-data/" });
        Assert.Equal(400, notified);
        Assert.Contains("url '169.254.169.254' is link-local", (string?)refused["detail"]);
    }

    [Fact]
    public async Task A_redirect_is_not_followed_it_fails_the_delivery_once_naming_the_redirect()
    {
        var name = TestStorage.Unique("redirect");
        Receiver.Answers["redirect"] = 302;
        await DefineHook(name, "redirect");
        var unit = await OpenIncident();
        var hook = await Eventually.Until(() => Hook(name), h => h["lastError"] is not null, "the redirect to be recorded as the webhook's last error");
        Assert.Equal($"HTTP 302: redirect to {Receiver.Url("landing")} not followed", (string?)hook["lastError"]);
        await Eventually.Until(() => Task.FromResult(Server.Log.Contains($"Delivery {name}/", StringComparison.Ordinal) && Server.Log.Contains("Failed after 1 attempt(s): HTTP 302", StringComparison.Ordinal)),
            "the redirected delivery to be closed as failed after its one attempt");
        Assert.Single(About(Receiver.All("redirect"), unit));
        Assert.Empty(Receiver.All("landing"));
    }

    [Fact]
    public async Task A_4xx_is_a_permanent_failure_tried_once()
    {
        var name = TestStorage.Unique("gone");
        Receiver.Answers["gone"] = 410;
        await DefineHook(name, "gone");
        var unit = await OpenIncident();
        await Eventually.Until(() => Task.FromResult(Server.Log.Contains("Failed after 1 attempt(s): HTTP 410: refused by the receiver, not retried", StringComparison.Ordinal)),
            "the 410 delivery to be closed as failed after its one attempt");
        Assert.Single(About(Receiver.All("gone"), unit));
        Assert.Equal("HTTP 410: refused by the receiver, not retried", (string?)(await Hook(name))["lastError"]);
    }

    [Fact]
    public async Task A_429_is_retried_no_sooner_than_its_retry_after()
    {
        var name = TestStorage.Unique("slow");
        Receiver.Answers["slow"] = 429;
        Receiver.RetryAfter["slow"] = 3;
        await DefineHook(name, "slow");
        var unit = await OpenIncident();
        var first = (await Eventually.Until(() => Task.FromResult(About(Receiver.All("slow"), unit)), r => r.Count >= 1, "the first attempt, answered 429"))[0];
        Receiver.Answers["slow"] = 200;
        Receiver.RetryAfter.TryRemove("slow", out _);
        var both = await Eventually.Until(() => Task.FromResult(About(Receiver.All("slow"), unit)), r => r.Count >= 2, "the retry after Retry-After");
        Assert.Equal(200, both[1].Answered);
        // Without Retry-After the first pause is 0.5 to 1 s.
        Assert.True(both[1].At - first.At >= TimeSpan.FromSeconds(2.8), $"retried {(both[1].At - first.At).TotalSeconds:0.00} s after a Retry-After of 3 s");
        Assert.Equal(first.Delivery, both[1].Delivery);
    }

    [Fact]
    public async Task Stored_rows_never_hold_a_secret_or_a_routing_key_in_plain_text()
    {
        var name = TestStorage.Unique("sealed");
        var notification = TestStorage.Unique("sealed-n");
        const string hookSecret = "hook-secret-must-not-be-stored-1";
        const string notificationSecret = "notification-secret-not-stored-2";
        await DefineHook(name, "sealed", hookSecret);
        var (defined, answer) = await Server.Client("admin").Put($"/v1/notifications/{notification}",
            new { kind = "webhook", url = Receiver.Url("sealed-n"), secret = notificationSecret, events = new[] { "incident.opened" } });
        Assert.True(defined == 200, answer.ToJsonString());
        var pager = TestStorage.Unique("sealed-pd");
        (defined, answer) = await Server.Client("admin").Put($"/v1/notifications/{pager}",
            new { kind = "pagerduty", url = Receiver.Url("sealed-pd"), routingKey = RoutingKey, events = new[] { "incident.opened", "incident.resolved" } });
        Assert.True(defined == 200, answer.ToJsonString());
        var unit = await OpenIncident();
        var delivered = await Eventually.Until(() => Task.FromResult(About(Receiver.All("sealed"), unit)), r => r.Count >= 1, "the sealed webhook's delivery");
        await Eventually.Until(() => Task.FromResult(About(Receiver.All("sealed-n"), unit)), r => r.Count >= 1, "the sealed notification's delivery");

        // PagerDuty is sent its routing key with the event, as its Events API v2 requires, though no row holds it (below).
        var paged = (await Eventually.Until(() => Task.FromResult(About(Receiver.All("sealed-pd"), unit)), r => r.Count >= 1, "the PagerDuty notification's trigger"))[0];
        Assert.Equal(RoutingKey, (string?)paged.Body["routing_key"]);
        Assert.Equal("trigger", (string?)paged.Body["event_action"]);
        Assert.Equal(await IncidentOf(unit), (string?)paged.Body["dedup_key"]);
        var payload = paged.Body["payload"]!;
        Assert.Equal($"snapstone/{unit}", (string?)payload["source"]);
        Assert.Contains($"Freeze of unit '{unit}'", (string?)payload["summary"]);
        Assert.Contains((string?)payload["severity"], new[] { "critical", "error", "warning", "info" });
        Assert.False(string.IsNullOrEmpty((string?)payload["timestamp"]), paged.Raw);
        Assert.Equal(unit, (string?)payload["custom_details"]!["units"]![0]);
        var incident = await IncidentOf(unit);
        var (resolved, answer2) = await Server.Client("oncall").Post($"/v1/incidents/{incident}/updates", new { status = "resolved", message = "routing key drill over" });
        Assert.True(resolved == 200, answer2.ToJsonString());
        var resolve = (await Eventually.Until(() => Task.FromResult(Receiver.All("sealed-pd").Where(r => (string?)r.Body["dedup_key"] == incident && (string?)r.Body["event_action"] == "resolve").ToList()),
            r => r.Count >= 1, "the PagerDuty notification's resolve"))[0];
        Assert.Equal(RoutingKey, (string?)resolve.Body["routing_key"]);
        // Both secrets were used: the deliveries verify under them.
        Assert.Equal(SignatureCheck.Valid, WebhookSignature.Verify(hookSecret, delivered[0].Timestamp, delivered[0].Signature, Encoding.UTF8.GetBytes(delivered[0].Raw), delivered[0].At));

        var table = new TableClient(await TestStorage.ConnectionStringAsync(), "SnapstoneGrains");
        var rows = new List<(string Key, byte[] Bytes)>();
        await foreach (var row in table.QueryAsync<TableEntity>())
        {
            if (!row.PartitionKey.Contains(Server.ServiceId, StringComparison.Ordinal))
            {
                continue;
            }
            var bytes = row.Keys.Order(StringComparer.Ordinal).SelectMany(k => row[k] switch
            {
                byte[] b => b,
                BinaryData d => d.ToArray(),
                string s => Encoding.UTF8.GetBytes(s),
                _ => [],
            }).ToArray();
            rows.Add(($"{row.PartitionKey}/{row.RowKey}", bytes));
        }
        // The rows read are this server's registries and deliveries: the urls and the event bodies are in them.
        Assert.Contains(rows, r => Contains(r.Bytes, Receiver.Url("sealed")));
        Assert.Contains(rows, r => Contains(r.Bytes, Receiver.Url("sealed-n")));
        Assert.True(rows.Count(r => Contains(r.Bytes, unit)) >= 3, $"expected the three deliveries' rows among {rows.Count}");
        Assert.Contains(rows, r => Contains(r.Bytes, Receiver.Url("sealed-pd")));
        Assert.Contains(rows, r => Contains(r.Bytes, "dedup_key") && Contains(r.Bytes, unit));
        foreach (var secret in new[] { hookSecret, notificationSecret, RoutingKey })
        {
            var holding = rows.Where(r => Contains(r.Bytes, secret) || Contains(r.Bytes, Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)))).Select(r => r.Key).ToList();
            Assert.True(holding.Count == 0, $"'{secret}' is stored in plain text in {string.Join(", ", holding)}");
        }
    }

    private static bool Contains(byte[] haystack, string needle) => haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle)) >= 0;

    [Fact]
    public async Task A_replayed_signature_older_than_the_tolerance_fails_the_documented_check()
    {
        var name = TestStorage.Unique("replay");
        await DefineHook(name, "replay");
        var unit = await OpenIncident();
        var got = (await Eventually.Until(() => Task.FromResult(About(Receiver.All("replay"), unit)), r => r.Count >= 1, "the signed delivery"))[0];
        var body = Encoding.UTF8.GetBytes(got.Raw);
        Assert.Equal(SignatureCheck.Valid, WebhookSignature.Verify(Secret, got.Timestamp, got.Signature, body, got.At));
        // The same request replayed later than the tolerance, or with its timestamp moved up to look fresh.
        Assert.Equal(SignatureCheck.Stale, WebhookSignature.Verify(Secret, got.Timestamp, got.Signature, body, got.At + WebhookSignature.DefaultTolerance + TimeSpan.FromSeconds(2)));
        var moved = (long.Parse(got.Timestamp!) + 600).ToString();
        Assert.Equal(SignatureCheck.Mismatch, WebhookSignature.Verify(Secret, moved, got.Signature, body, got.At + TimeSpan.FromSeconds(600)));
        Assert.Equal(SignatureCheck.Mismatch, WebhookSignature.Verify(Secret, got.Timestamp, got.Signature, Encoding.UTF8.GetBytes(got.Raw + " "), got.At));
    }

    [Fact]
    public async Task A_deleted_webhook_receives_nothing_more_and_its_pending_delivery_is_recorded_as_dropped()
    {
        var name = TestStorage.Unique("deleted");
        Receiver.Answers["deleted"] = 503;
        await DefineHook(name, "deleted");
        var unit = await OpenIncident();
        await Eventually.Until(() => Task.FromResult(About(Receiver.All("deleted"), unit)), r => r.Count >= 1, "the first, failing attempt");
        Assert.Equal(204, (await Server.Client("admin").Send(HttpMethod.Delete, $"/v1/webhooks/{name}")).Status);
        var seen = About(Receiver.All("deleted"), unit).Count;
        await Eventually.Until(() => Task.FromResult(Server.Log.Contains($"Dropped after {seen} attempt(s): webhook '{name}' was deleted: not sent", StringComparison.Ordinal)),
            "the pending delivery to be dropped at its next attempt");
        Receiver.Answers["deleted"] = 200;
        var later = await OpenIncident();
        // A later event, delivered to a live hook, is the barrier: by then the deleted hook would have had it too.
        var barrier = TestStorage.Unique("barrier");
        await DefineHook(barrier, "barrier");
        var after = await OpenIncident();
        await Eventually.Until(() => Task.FromResult(About(Receiver.All("barrier"), after)), r => r.Count >= 1, "the live hook's delivery");
        Assert.Equal(seen, About(Receiver.All("deleted"), unit).Count);
        Assert.Empty(About(Receiver.All("deleted"), later));
        Assert.Empty(About(Receiver.All("deleted"), after));
    }

    [Fact]
    public async Task A_rotated_webhook_sends_a_pending_delivery_to_its_new_url_signed_with_its_new_secret()
    {
        var name = TestStorage.Unique("rotate");
        Receiver.Answers["rotate-old"] = 503;
        await DefineHook(name, "rotate-old");
        var unit = await OpenIncident();
        await Eventually.Until(() => Task.FromResult(About(Receiver.All("rotate-old"), unit)), r => r.Count >= 1, "the first, failing attempt at the old url");
        await DefineHook(name, "rotate-new", Rotated);
        var got = (await Eventually.Until(() => Task.FromResult(About(Receiver.All("rotate-new"), unit)), r => r.Count >= 1, "the retry at the new url"))[0];
        var body = Encoding.UTF8.GetBytes(got.Raw);
        Assert.Equal(SignatureCheck.Valid, WebhookSignature.Verify(Rotated, got.Timestamp, got.Signature, body, got.At));
        Assert.Equal(SignatureCheck.Mismatch, WebhookSignature.Verify(Secret, got.Timestamp, got.Signature, body, got.At));
        Assert.Equal(About(Receiver.All("rotate-old"), unit)[0].Delivery, got.Delivery);
    }

    [Fact]
    public async Task Event_ids_stay_distinct_past_200_updates_and_the_resolution_is_delivered()
    {
        var name = TestStorage.Unique("ids");
        await DefineHook(name, "ids", Secret, "incident.opened", "incident.updated", "incident.resolved");
        var unit = await OpenIncident();
        var incident = await IncidentOf(unit);
        var oncall = Server.Client("oncall");
        const int updates = 210;
        for (var i = 0; i < updates; i++)
        {
            var (status, answer) = await oncall.Post($"/v1/incidents/{incident}/updates", new { status = "monitoring", message = $"watching, note {i}" });
            Assert.True(status == 200, $"update {i}: {answer.ToJsonString()}");
        }
        Assert.Equal(200, (await oncall.Post($"/v1/incidents/{incident}/updates", new { status = "resolved", message = "all clear" })).Status);
        var got = await Eventually.Until(() => Task.FromResult(Receiver.All("ids").Where(r => r.Raw.Contains(incident, StringComparison.Ordinal)).ToList()),
            r => r.Any(x => x.Event == "incident.resolved") && r.Count(x => x.Event == "incident.updated") >= updates,
            "every update and the resolution past the 200-update cap", TimeSpan.FromSeconds(120));
        var ids = got.Select(r => r.Delivery).Distinct().Count();
        // Opened, the freeze's own updates (at least one), every posted update and the resolution: one delivery id each.
        Assert.True(ids >= updates + 2, $"{ids} distinct delivery ids for {got.Count} requests");
        Assert.Equal(got.GroupBy(r => r.Delivery).Count(), got.Select(r => r.Delivery).Distinct().Count());
        Assert.Contains(got, r => r.Event == "incident.resolved" && r.Raw.Contains("all clear", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_breaker_opens_after_consecutive_failures_holds_attempts_while_open_and_closes_on_a_successful_probe()
    {
        var name = TestStorage.Unique("breaker");
        Receiver.Answers["breaker"] = 503;
        await DefineHook(name, "breaker");
        Assert.Equal("closed", (string?)(await Hook(name))["circuit"]);
        var unit = await OpenIncident();
        var open = await Eventually.Until(() => Hook(name), h => (string?)h["circuit"] == "open", "the circuit to open after 3 failures in a row");
        Assert.Equal("HTTP 503", (string?)open["lastError"]);
        Assert.True((int?)open["consecutiveFailures"] >= WebhookSafetyFixture.BreakerFailures, open.ToJsonString());
        var openUntil = (DateTimeOffset)open["circuitOpenUntil"]!;
        var failed = About(Receiver.All("breaker"), unit).Count;
        Assert.Equal(WebhookSafetyFixture.BreakerFailures, failed);

        // While open nothing is sent; the next request is the probe, after the cooling period.
        Receiver.Answers["breaker"] = 200;
        await Eventually.Until(() => Hook(name), h => (string?)h["circuit"] == "closed", "the probe to succeed and close the circuit", TimeSpan.FromSeconds(60));
        var all = About(Receiver.All("breaker"), unit);
        Assert.Equal(failed + 1, all.Count);
        var probe = all[^1];
        Assert.Equal(200, probe.Answered);
        Assert.True(probe.At >= openUntil - TimeSpan.FromMilliseconds(200), $"the probe went at {probe.At:O}, before the circuit's cooling period ended at {openUntil:O}");
        Assert.Equal("HTTP 503", (string?)(await Hook(name))["lastError"]);
    }
}
