using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Azure.Data.Tables;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class BreakGlassAccessTests(ServerFixture fixture)
{
    [Theory]
    [InlineData("POST", "/v1/breakglass/freeze", "{\"unit\":\"x\",\"reason\":\"r\"}")]
    [InlineData("DELETE", "/v1/breakglass/freeze?unit=x", null)]
    [InlineData("POST", "/v1/breakglass/rollback", "{\"unit\":\"x\",\"reason\":\"r\"}")]
    [InlineData("POST", "/v1/breakglass/deploy", "{\"unit\":\"x\",\"version\":1,\"reason\":\"r\"}")]
    public async Task A_deploy_token_is_403_on_every_break_glass_endpoint(string method, string path, string? body)
    {
        var (status, problem) = await fixture.Server.Client("ci").Send(new HttpMethod(method), path, body);
        Assert.Equal(403, status);
        Assert.Contains("lacks the 'breakglass' scope", (string?)problem["detail"]);
    }

    [Theory]
    [InlineData("/v1/breakglass/freeze", "{\"unit\":\"x\"}")]
    [InlineData("/v1/breakglass/freeze", "{\"unit\":\"x\",\"reason\":\"  \"}")]
    [InlineData("/v1/breakglass/rollback", "{\"unit\":\"x\"}")]
    [InlineData("/v1/breakglass/deploy", "{\"unit\":\"x\",\"version\":2}")]
    public async Task Break_glass_without_a_reason_is_400(string path, string body)
    {
        var (status, problem) = await fixture.Server.Client("oncall").Post(path, body);
        Assert.Equal(400, status);
        Assert.Equal("reason is required for every break-glass action", (string?)problem["detail"]);
    }
}

public sealed class BreakGlassTests
{
    private static readonly object SlowPlan = new
    {
        waves = new object[]
        {
            new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 1 },
            new { name = "quarter", select = new { percent = 25 }, bakeSeconds = 600 },
            new { name = "all", select = new { percent = 100 }, bakeSeconds = 1 },
        },
    };

    internal static async Task<string> RolloutOnSlowPlan(RolloutScenario scenario, long version)
    {
        await scenario.Ci.Put("/v1/plans/slow", SlowPlan);
        var (status, rollout) = await scenario.Ci.Post("/v1/rollouts", new { unit = scenario.Unit, version, plan = "slow", reason = "slow and steady" });
        Assert.Equal(201, status);
        var id = (string)rollout["id"]!;
        await scenario.ApproveIfAwaitingAsync(id);
        await scenario.TickUntilRollout(id, r => (int?)r["currentWave"] == 1 && (string?)r["waves"]![1]!["state"] == "baking", "the quarter wave to bake");
        return id;
    }

    [Fact]
    public async Task A_freeze_pauses_a_running_rollout_at_once_refuses_new_ones_and_lifting_it_resumes()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 40);
        var v2 = await scenario.PublishAsync(Http.Features(155));
        var id = await RolloutOnSlowPlan(scenario, v2);
        var oncall = scenario.Server.Client("oncall");

        var (frozen, freeze) = await oncall.Post("/v1/breakglass/freeze", new { unit = scenario.Unit, reason = "edge is on fire", ttlSeconds = 3600 });
        Assert.Equal(200, frozen);
        Assert.Equal("oncall", (string?)freeze["by"]);
        var paused = await scenario.RolloutAsync(id);
        Assert.Equal("paused", (string?)paused["state"]);
        Assert.Contains("is frozen by oncall", (string?)paused["pausedReason"]);

        var (refused, problem) = await scenario.Ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = v2, reason = "again" });
        Assert.Equal(409, refused);
        Assert.StartsWith($"unit '{scenario.Unit}' is frozen by oncall until", (string?)problem["detail"]);
        var (resumeRefused, resumeProblem) = await scenario.Ci.Post($"/v1/rollouts/{id}/resume", new { reason = "let me" });
        Assert.Equal(409, resumeRefused);
        Assert.Contains("lift it before resuming", (string?)resumeProblem["detail"]);

        var (lifted, _) = await oncall.Send(HttpMethod.Delete, $"/v1/breakglass/freeze?unit={scenario.Unit}");
        Assert.Equal(200, lifted);
        var resumed = await scenario.RolloutAsync(id);
        Assert.Equal("running", (string?)resumed["state"]);

        var (_, incidents) = await scenario.Ci.Get("/v1/incidents");
        var incident = incidents["incidents"]!.AsArray().Single(i => ((string?)i!["title"])!.StartsWith("Freeze of unit"))!;
        Assert.Equal(["detected", "halted"], incident["updates"]!.AsArray().Select(u => (string?)u!["status"]));
    }

    [Fact]
    public async Task Instant_rollback_returns_every_node_to_the_lkg_within_two_report_intervals_and_opens_an_incident()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 60);
        var v2 = await scenario.PublishAsync(Http.Features(156));
        var rolloutId = await RolloutOnSlowPlan(scenario, v2);
        Assert.NotEmpty(scenario.Fleet.NodesOn(scenario.Unit, v2));

        var clock = Stopwatch.StartNew();
        var (status, action) = await scenario.Server.Client("oncall").Post("/v1/breakglass/rollback", new { unit = scenario.Unit, reason = "customers see errors" });
        Assert.Equal(202, status);
        Assert.Equal(1, (long?)action["targetVersion"]);
        Assert.Equal(scenario.Fleet.Nodes.Count, (int?)action["targeted"]);
        Assert.Equal([v2], action["quarantined"]!.AsArray().Select(v => (long)v!));

        // Two report intervals: the first report learns v1 and applies it, the second reports it.
        await scenario.Fleet.TickAsync();
        await scenario.Fleet.TickAsync();
        Assert.Equal(scenario.Fleet.Nodes.Count, scenario.Fleet.NodesOn(scenario.Unit, 1).Count);
        var id = (string)action["id"]!;
        var done = await Eventually.Until(async () => (await scenario.Server.Client("oncall").Get($"/v1/breakglass/actions/{id}")).Body, b => b["completedAt"] is not null,
            "the break-glass rollback to count every confirmation", TimeSpan.FromSeconds(10));
        Assert.Equal(done["targeted"]!.ToString(), done["confirmed"]!.ToString());
        _ = clock;

        var (_, unit) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Contains(v2, unit["quarantined"]!.AsArray().Select(v => (long)v!));
        var rollout = await scenario.TickUntilState(rolloutId, "aborted", "rolled-back");
        Assert.Equal("aborted", (string?)rollout["state"]);

        var incident = (await scenario.Ci.Get($"/v1/incidents/{(string)action["incident"]!}")).Body;
        Assert.Equal(["detected", "halted", "rolling-back", "rolled-back", "monitoring"], incident["updates"]!.AsArray().Select(u => (string?)u!["status"]));
        var (_, pipelines) = await scenario.Ci.Get("/v1/risk/pipelines");
        Assert.True((bool?)pipelines["pipelines"]!.AsArray().Single(p => (string?)p!["unit"] == scenario.Unit)!["breakGlassUsed"]);
    }

    [Fact]
    public async Task An_automated_rollback_opens_an_incident_with_its_timeline_and_the_status_page_shows_it_in_a_browser()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailClosed, nodes: 40);
        var bad = await scenario.PublishAsync(Http.Features(201));
        var id = await scenario.StartRolloutAsync(bad);
        await scenario.TickUntilState(id, "rolled-back");

        var incident = await Eventually.Until(async () => (await scenario.Ci.Get($"/v1/incidents/inc-{id[2..]}")).Body,
            i => i["updates"]?.AsArray().Count >= 5, "the incident to reach monitoring");
        Assert.Equal(["detected", "halted", "rolling-back", "rolled-back", "monitoring"], incident["updates"]!.AsArray().Select(u => (string?)u!["status"]));
        Assert.Equal("sev3", (string?)incident["severity"]); // the canary wave: 5% of the fleet
        var title = (string)incident["title"]!;

        var (statusCode, status) = await scenario.Server.Client(null).Get("/v1/status");
        Assert.Equal(200, statusCode);
        Assert.Contains(status["incidents"]!.AsArray(), i => (string?)i!["title"] == title);

        // What people outside the team see is redacted: no operator's note, no freeze reason, no token name.
        var oncall = scenario.Server.Client("oncall");
        Assert.Equal(200, (await oncall.Post($"/v1/incidents/{incident["id"]}/updates", new { status = "monitoring", message = "internal: customer acme-corp saw 502s" })).Status);
        Assert.Equal(200, (await oncall.Post("/v1/breakglass/freeze", new { unit = scenario.Unit, reason = "internal: waiting on the bot team", ttlSeconds = 600 })).Status);
        var redacted = await Eventually.Until(async () => (await scenario.Server.Client(null).Get("/v1/status")).Body,
            s => s["freezes"]!.AsArray().Count > 0, "the cached status to show the freeze");
        var json = redacted.ToJsonString();
        Assert.Contains(title, json);
        Assert.DoesNotContain("acme-corp", json);
        Assert.DoesNotContain("waiting on the bot team", json);
        Assert.DoesNotContain("oncall", json);
        Assert.DoesNotContain("\"ci\"", json);
        Assert.Equal(scenario.Unit, (string?)redacted["freezes"]![0]!["unit"]);

        // Anonymous callers at once share the gateway's cached read: a flood costs the cluster a read per cache period.
        var reads = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ => (string?)(await scenario.Server.Client(null).Get("/v1/status")).Body["generatedAt"]));
        Assert.InRange(reads.Distinct().Count(), 1, 2);

        var dom = await HeadlessBrowser.RenderAsync(new Uri(scenario.Server.BaseAddress, "/status"));
        Assert.Contains(System.Net.WebUtility.HtmlEncode(title), dom);
        Assert.Contains("monitoring", dom);
        Assert.Contains("class=\"card incident\"", dom);
        Assert.Contains("class=\"card freeze\"", dom);
        Assert.DoesNotContain("acme-corp", dom);
        Assert.DoesNotContain("waiting on the bot team", dom);
        await oncall.Send(HttpMethod.Delete, "/v1/breakglass/freeze?unit=" + scenario.Unit);
    }

    [Fact]
    public async Task Webhooks_are_signed_and_retried_against_a_receiver_that_fails_the_first_attempts()
    {
        // The receiver listens on loopback, which deliveries refuse unless the allow-list names it.
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string> { ["Snapstone__Webhooks__AllowedDestinations__0"] = "127.0.0.1" });
        await using var receiver = await FlakyReceiver.StartAsync(failures: 2);
        var admin = server.Client("admin");
        const string secret = "webhook-secret-0123456789";
        var (defined, hook) = await admin.Put("/v1/webhooks/pager", new { url = receiver.Url, events = new[] { "incident.opened" }, secret });
        Assert.Equal(200, defined);
        Assert.Null(hook["secret"]);

        var unit = TestStorage.Unique("unit");
        await admin.Put($"/v1/units/{unit}", new { owner = "edge" });
        var (frozen, _) = await server.Client("oncall").Post("/v1/breakglass/freeze", new { unit, reason = "webhook drill" });
        Assert.Equal(200, frozen);

        List<FlakyReceiver.Received> delivered;
        try
        {
            delivered = await Eventually.Until(() => Task.FromResult(receiver.Requests.ToList()), r => r.Any(x => x.Answered == 200),
                "the webhook to be delivered after the receiver's failures");
        }
        catch (TimeoutException)
        {
            await File.WriteAllTextAsync("/tmp/webhook-server.log", server.Log);
            throw;
        }
        Assert.True(delivered.Count >= 3, $"expected at least 3 attempts, saw {delivered.Count}");
        Assert.Equal(2, delivered.Count(r => r.Answered == 500));
        Assert.Single(delivered.Select(r => r.Delivery).Distinct());
        Assert.All(delivered, r =>
        {
            Assert.Equal("incident.opened", r.Event);
            // Signed over "{timestamp}.{body}", the timestamp in its own header; each attempt is signed anew.
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{r.Timestamp}.{r.Body}")));
            Assert.Equal(expected, r.Signature);
        });
        Assert.Contains("webhook drill", delivered[^1].Body);
    }

    [Fact]
    public async Task The_audit_chain_verifies_and_an_altered_stored_entry_is_named_exactly()
    {
        await using var server = await ServerProcess.StartAsync();
        var ci = server.Client("ci");
        var unit = TestStorage.Unique("unit");
        await ci.Put($"/v1/units/{unit}", new { owner = "edge", description = "audited" });
        await ci.Post($"/v1/units/{unit}/packages", new { content = "{}", message = "one" });
        await ci.Post($"/v1/units/{unit}/packages", new { content = "{\"a\":1}", message = "two" });
        await server.Client("oncall").Post("/v1/breakglass/freeze", new { unit, reason = "audit drill" });

        var (_, log) = await ci.Get("/v1/audit");
        var entries = log["entries"]!.AsArray();
        Assert.Equal(["unit.define", "package.create", "package.create", "breakglass.freeze"], entries.Select(e => (string?)e!["action"]));
        Assert.Equal(["ci", "ci", "ci", "oncall"], entries.Select(e => (string?)e!["actor"]));
        Assert.Equal("audit drill", (string?)entries[3]!["reason"]);
        Assert.Equal((string?)entries[1]!["hash"], (string?)entries[2]!["prevHash"]);
        var (_, verified) = await ci.Get("/v1/audit/verify");
        Assert.True((bool?)verified["valid"]);
        Assert.Equal(4, (int?)verified["entries"]);

        var table = new TableClient(await TestStorage.ConnectionStringAsync(), "SnapstoneAudit");
        var stored = (await table.GetEntityAsync<TableEntity>(server.ServiceId, "000000000002")).Value;
        stored["Reason"] = "nothing happened here";
        await table.UpdateEntityAsync(stored, stored.ETag, TableUpdateMode.Replace);

        var (_, broken) = await ci.Get("/v1/audit/verify");
        Assert.False((bool?)broken["valid"]);
        Assert.Equal(2, (long?)broken["firstBroken"]!["seq"]);
        Assert.Equal("entry 2 was altered: its content no longer matches its hash", (string?)broken["firstBroken"]!["reason"]);
    }
}

/// <summary>A webhook receiver on loopback (Kestrel) that answers 500 to its first attempts, then 200, recording each request.</summary>
public sealed class FlakyReceiver : IAsyncDisposable
{
    private readonly Microsoft.AspNetCore.Builder.WebApplication _app;
    private int _failuresLeft;

    public sealed record Received(string Body, string? Signature, string? Delivery, string? Event, int Answered, string? Timestamp);

    private FlakyReceiver(Microsoft.AspNetCore.Builder.WebApplication app, int failures, string url)
    {
        _app = app;
        _failuresLeft = failures;
        Url = url;
    }

    public string Url { get; }

    public System.Collections.Concurrent.ConcurrentQueue<Received> Requests { get; } = new();

    public static async Task<FlakyReceiver> StartAsync(int failures)
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        Microsoft.AspNetCore.Hosting.HostingAbstractionsWebHostBuilderExtensions.UseUrls(builder.WebHost, "http://127.0.0.1:0");

        var app = builder.Build();
        FlakyReceiver? self = null;
        app.MapPost("/hook", async (Microsoft.AspNetCore.Http.HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            var status = Interlocked.Decrement(ref self!._failuresLeft) >= 0 ? 500 : 200;
            self.Requests.Enqueue(new Received(body, http.Request.Headers["X-Snapstone-Signature"], http.Request.Headers["X-Snapstone-Delivery"], http.Request.Headers["X-Snapstone-Event"], status, http.Request.Headers["X-Snapstone-Timestamp"]));
            return Microsoft.AspNetCore.Http.Results.StatusCode(status);
        });
        await app.StartAsync();
        var address = app.Urls.First();
        self = new FlakyReceiver(app, failures, address + "/hook");
        return self;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

public sealed class EmergencyDeployTests
{
    [Fact]
    public async Task An_emergency_deploy_skips_freeze_and_quarantine_goes_canary_then_everyone_and_people_can_update_its_incident()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 30);
        var v2 = await scenario.PublishAsync(Http.Features(157));
        var oncall = scenario.Server.Client("oncall");
        await oncall.Post("/v1/breakglass/freeze", new { reason = "global freeze during the incident" });

        var (refused, _) = await scenario.Ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = v2, reason = "normal path" });
        Assert.Equal(409, refused);
        var (status, rollout) = await oncall.Post("/v1/breakglass/deploy", new { unit = scenario.Unit, version = v2, reason = "the fix for the outage" });
        Assert.Equal(201, status);
        Assert.Equal("emergency", (string?)rollout["plan"]);
        Assert.Equal(["canary", "all"], rollout["waves"]!.AsArray().Select(w => (string?)w!["name"]));
        Assert.StartsWith("break-glass emergency deploy by oncall", (string?)rollout["notes"]![0]);

        var id = (string)rollout["id"]!;
        var running = await scenario.TickUntilRollout(id, r => (int?)r["currentWave"] == 1, "the emergency rollout to pass its canary");
        Assert.Equal("passed", (string?)running["waves"]![0]!["state"]);
        await scenario.TickUntil(() => Task.FromResult(scenario.Fleet.NodesOn(scenario.Unit, v2).Count == scenario.Fleet.Nodes.Count), "everyone to run the emergency package");

        var (_, incidents) = await scenario.Ci.Get("/v1/incidents");
        var incident = incidents["incidents"]!.AsArray().Single(i => ((string?)i!["title"])!.StartsWith("Emergency deploy of"))!;
        var incidentId = (string)incident["id"]!;
        var (deployer, _) = await scenario.Ci.Post($"/v1/incidents/{incidentId}/updates", new { status = "resolved", message = "a deploy token may not" });
        Assert.Equal(403, deployer);
        var (updated, after) = await oncall.Post($"/v1/incidents/{incidentId}/updates", new { status = "resolved", message = "fix confirmed by customers" });
        Assert.Equal(200, updated);
        Assert.Equal("resolved", (string?)after["status"]);
        Assert.Equal("oncall", (string?)after["updates"]!.AsArray().Last()!["by"]);
        var (bad, problem) = await oncall.Post($"/v1/incidents/{incidentId}/updates", new { status = "monitoring", message = "again" });
        Assert.Equal(409, bad);
        Assert.Contains("is resolved", (string?)problem["detail"]);
        var (noMessage, _) = await scenario.Server.Client("oncall").Post($"/v1/incidents/{incidentId}/updates", new { status = "monitoring" });
        Assert.Equal(400, noMessage);
        await oncall.Send(HttpMethod.Delete, "/v1/breakglass/freeze");
    }
}
