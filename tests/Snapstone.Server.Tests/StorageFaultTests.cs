using System.Diagnostics;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Snapstone.Domain.Audit;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>Rollback never waits on storage: the server's only storage stops answering (SIGSTOP) while a bad canary refuses its package.</summary>
public sealed class StorageStallTests
{
    private static readonly object CanaryFirst = new
    {
        waves = new object[]
        {
            new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 60, gates = new { minReportingFraction = 1.0 } },
            new { name = "all", select = new { percent = 100 }, bakeSeconds = 1 },
        },
    };

    [Fact]
    public async Task With_storage_hung_the_refusing_canary_is_sent_back_within_two_report_intervals_no_wave_advances_and_all_is_stored_once_it_answers()
    {
        await using var storage = await PausableStorage.StartAsync();
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 40,
            new Dictionary<string, string> { ["Snapstone__Storage__ConnectionString"] = storage.ConnectionString });
        var canaries = scenario.Fleet.Nodes.Where(n => n.Profile.IsCanary).Select(n => n.Id).ToList();
        var others = scenario.Fleet.Nodes.Select(n => n.Id).Except(canaries).ToList();
        Assert.NotEmpty(canaries);
        await scenario.Ci.Put("/v1/plans/canary-first", CanaryFirst);
        var bad = await scenario.PublishAsync(Http.Features(201));
        var id = await scenario.StartRolloutAsync(bad, "the bad file", plan: "canary-first");
        await scenario.TickUntilRollout(id, r => r["timeline"]!.AsArray().Any(e => (string?)e!["type"] == "wave-assigned"), "the canary wave to be assigned");

        // The canaries learn the bad file, fetch it and refuse it (possibly in the very round that saw the wave
        // assigned); their next report says so, once storage hangs.
        bool AllRefusing() => scenario.Fleet.NodesRefusing(scenario.Unit, bad).Select(n => n.Id).Order().SequenceEqual(canaries.Order());
        if (!AllRefusing())
        {
            await scenario.TickUntil(() => Task.FromResult(AllRefusing()), "every canary to refuse the bad file");
        }
        Assert.Equal(canaries.Order(), scenario.Fleet.NodesRefusing(scenario.Unit, bad).Select(n => n.Id).Order());

        await storage.Pause();
        var clock = Stopwatch.StartNew();
        await scenario.Fleet.TickAsync(); // the refusals reach the server: the rollout decides
        await scenario.Fleet.TickAsync(); // the canaries' answers carry v1 again
        var told = await Task.WhenAll(canaries.Select(async node => (long?)(await scenario.Ci.Get($"/v1/nodes/{node}")).Body["desired"]![scenario.Unit]!["version"]));
        Assert.All(told, version => Assert.Equal(1, version));
        var during = await scenario.RolloutAsync(id);
        Assert.Equal(("rolling-back", 0), ((string?)during["state"], (int?)during["currentWave"]));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"two report rounds with storage hung took {clock.Elapsed}");
        var sample = await scenario.Ci.Get($"/v1/nodes/{others[0]}");
        Assert.Equal(1, (long?)sample.Body["desired"]![scenario.Unit]!["version"]);

        await storage.Resume();
        var done = await scenario.TickUntilState(id, "rolled-back");
        Assert.Equal((canaries.Count, canaries.Count), ((int?)done["rollback"]!["targeted"], (int?)done["rollback"]!["confirmed"]));
        Assert.Equal(0, (int?)done["currentWave"]);
        Assert.Empty(scenario.Fleet.NodesEverApplied(scenario.Unit, bad).Except(canaries));

        // What was decided while storage hung is stored: a restart reads the same rollout, ledger and audit.
        await scenario.Server.KillAsync();
        await scenario.Server.StartAgainAsync();
        var after = await scenario.RolloutAsync(id);
        Assert.Equal("rolled-back", (string?)after["state"]);
        Assert.Single(after["timeline"]!.AsArray(), e => (string?)e!["type"] == "rollback-started");
        Assert.Single(after["timeline"]!.AsArray(), e => (string?)e!["type"] == "rollback-assigned");
        var (_, unit) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Contains(bad, unit["quarantined"]!.AsArray().Select(v => (long)v!));
        Assert.Equal(1, (long?)unit["lkgVersion"]);
        foreach (var node in canaries)
        {
            Assert.Equal(1, (long?)(await scenario.Ci.Get($"/v1/nodes/{node}")).Body["desired"]![scenario.Unit]!["version"]);
        }
        var (_, verified) = await scenario.Ci.Get("/v1/audit/verify");
        Assert.True((bool?)verified["valid"], verified.ToJsonString());
        var (_, log) = await scenario.Ci.Get("/v1/audit?limit=1000");
        Assert.Single(log["entries"]!.AsArray(), e => (string?)e!["action"] == "rollout.start" && (string?)e["target"] == $"rollout/{id}");
    }
}

/// <summary>
/// The audit log in storage of its own (<c>Snapstone:Storage:AuditConnectionString</c>), which stops answering while
/// every kind of write is made: each change stands with its audit intent, and once the audit store answers each has
/// exactly one entry. Then the log is tampered with the storage key alone: deleting the newest entries, and rewriting
/// it consistently without the audit key, are both named.
/// </summary>
public sealed class AuditFaultTests
{
    private const string Key = "audit-key-of-the-fault-test-0123456789";

    [Fact]
    public async Task Every_write_made_while_the_audit_store_hangs_gets_exactly_one_entry_once_it_answers_and_tampering_is_named()
    {
        await using var audit = await PausableStorage.StartAsync();
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Storage__AuditConnectionString"] = audit.ConnectionString,
            ["Snapstone__Audit__Key"] = Key,
        });
        var (ci, oncall, reviewer, admin) = (server.Client("ci"), server.Client("oncall"), server.Client("reviewer"), server.Client("admin"));
        var plan = TestStorage.Unique("held");
        var labels = (string unit) => new Dictionary<string, string> { ["audit-fault"] = unit };
        var (a, b, c) = (TestStorage.Unique("unit"), TestStorage.Unique("unit"), TestStorage.Unique("unit"));
        var expected = new List<(string Action, string Target)>();
        async Task<JsonNode> Write(HttpMethod method, string path, object? body, int status, string action, string target, HttpClient? by = null)
        {
            var (got, answer) = await (by ?? ci).Send(method, path, body);
            Assert.True(got == status, $"{method} {path} answered {got}: {answer.ToJsonString()}");
            expected.Add((action, target));
            return answer;
        }

        await audit.Pause();

        await Write(HttpMethod.Put, $"/v1/plans/{plan}", new { waves = new object[] { new { name = "all", select = new { percent = 100 }, bakeSeconds = 0, requiresApproval = true } } },
            200, "plan.define", $"plan/{plan}");
        foreach (var unit in new[] { a, b, c })
        {
            await Write(HttpMethod.Put, $"/v1/units/{unit}", new { owner = "edge", kind = "file", riskTier = unit == a ? "high" : "standard", plan,
                validators = new { format = "json" }, targets = new { labels = labels(unit) } }, 200, "unit.define", $"unit/{unit}");
            await Write(HttpMethod.Post, $"/v1/units/{unit}/packages", new { content = "{\"v\": 1}" }, 201, "package.create", $"unit/{unit}/v1");
        }
        await Write(HttpMethod.Post, $"/v1/units/{a}/packages", new { content = "not json {" }, 422, "package.reject", $"unit/{a}/v2");
        await Write(HttpMethod.Put, $"/v1/units/{a}", new { owner = "edge", kind = "file", riskTier = "standard", plan, validators = new { format = "json" }, targets = new { labels = labels(a) } },
            202, "unit.define-requested", $"unit/{a}");
        await Write(HttpMethod.Post, $"/v1/units/{a}/approve", new { reason = "fine" }, 200, "unit.define-approve", $"unit/{a}", reviewer);
        await Write(HttpMethod.Put, $"/v1/units/{a}", new { owner = "edge", kind = "file", riskTier = "high", plan, validators = new { format = "json" }, targets = new { labels = labels(a) } },
            200, "unit.define", $"unit/{a}");

        var held = await Write(HttpMethod.Post, "/v1/rollouts", new { unit = a, version = 1, reason = "held for approval" }, 201, "rollout.start", "");
        var first = (string)held["id"]!;
        expected[^1] = ("rollout.start", $"rollout/{first}");
        await Write(HttpMethod.Post, $"/v1/rollouts/{first}/pause", new { reason = "wait" }, 200, "rollout.pause", $"rollout/{first}");
        await Write(HttpMethod.Post, $"/v1/rollouts/{first}/resume", new { reason = "go" }, 200, "rollout.resume", $"rollout/{first}");
        await Write(HttpMethod.Post, $"/v1/rollouts/{first}/abort", new { reason = "stop" }, 200, "rollout.abort", $"rollout/{first}");

        var approved = await Write(HttpMethod.Post, "/v1/rollouts", new { unit = b, version = 1, reason = "to complete" }, 201, "rollout.start", "");
        var second = (string)approved["id"]!;
        expected[^1] = ("rollout.start", $"rollout/{second}");
        await Write(HttpMethod.Post, $"/v1/rollouts/{second}/approve", new { reason = "reviewed" }, 200, "rollout.approve", $"rollout/{second}", reviewer);
        await Eventually.Until(async () => (string?)(await ci.Get($"/v1/rollouts/{second}")).Body["state"] == "completed", "the approved rollout (no consumers) to complete");

        var frozen = await Write(HttpMethod.Post, "/v1/breakglass/freeze", new { unit = c, reason = "hold" }, 200, "breakglass.freeze", $"unit/{c}", oncall);
        await Write(HttpMethod.Delete, $"/v1/breakglass/freeze?unit={c}", null, 200, "breakglass.unfreeze", $"unit/{c}", oncall);
        await Write(HttpMethod.Post, "/v1/breakglass/rollback", new { unit = b, reason = "revert it" }, 202, "breakglass.rollback", $"unit/{b}", oncall);
        var deploy = await Write(HttpMethod.Post, "/v1/breakglass/deploy", new { unit = c, version = 1, reason = "now" }, 201, "breakglass.deploy", "", oncall);
        expected[^1] = ("breakglass.deploy", $"rollout/{(string)deploy["id"]!}");
        var incident = (string)(await Eventually.Until(async () => (await oncall.Get($"/v1/breakglass/actions/{(string)frozen["action"]!}")).Body,
            x => x["incident"] is not null, "the freeze's incident id"))["incident"]!;
        await Eventually.Until(async () => (await ci.Get($"/v1/incidents/{incident}")).Status == 200, "the freeze's incident to be written");
        await Write(HttpMethod.Post, $"/v1/incidents/{incident}/updates", new { status = "monitoring", message = "watching" }, 200, "incident.update", $"incident/{incident}", oncall);
        var hook = TestStorage.Unique("hook");
        await Write(HttpMethod.Put, $"/v1/webhooks/{hook}", new { url = "https://hooks.example/snapstone", events = new[] { "incident.opened" }, secret = "0123456789abcdef0123" },
            200, "webhook.define", $"webhook/{hook}", admin);
        await Write(HttpMethod.Delete, $"/v1/webhooks/{hook}", null, 204, "webhook.delete", $"webhook/{hook}", admin);

        // Every change is in force already; their entries wait for the audit store.
        var (_, unitB) = await ci.Get($"/v1/units/{b}");
        Assert.Contains(1L, unitB["quarantined"]!.AsArray().Select(v => (long)v!));

        await audit.Resume();
        List<(string, string)> logged = [];
        await Eventually.Until(async () =>
        {
            var (_, log) = await ci.Get("/v1/audit?limit=1000");
            logged = [.. log["entries"]!.AsArray().Select(e => ((string)e!["action"]!, (string)e["target"]!))];
            return expected.All(logged.Contains);
        }, "every change's audit entry to be appended once the audit store answers", TimeSpan.FromSeconds(90));
        foreach (var entry in expected.Distinct())
        {
            Assert.True(logged.Count(e => e == entry) == expected.Count(e => e == entry), $"{entry} is logged {logged.Count(e => e == entry)} time(s)");
        }
        var (_, verified) = await ci.Get("/v1/audit/verify");
        Assert.True((bool?)verified["valid"], verified.ToJsonString());
        Assert.True((bool?)verified["keyed"]);

        // Someone with the storage key but not the audit key deletes the newest two entries...
        var table = new TableClient(audit.ConnectionString, "SnapstoneAudit");
        var rows = table.Query<TableEntity>(e => e.PartitionKey == server.ServiceId).Where(r => r.RowKey.All(char.IsAsciiDigit)).OrderBy(r => r.RowKey).ToList();
        var count = rows.Count;
        foreach (var row in rows.TakeLast(2))
        {
            await table.DeleteEntityAsync(row.PartitionKey, row.RowKey);
        }
        var (_, deleted) = await ci.Get("/v1/audit/verify");
        Assert.False((bool?)deleted["valid"]);
        Assert.Equal($"entries {count - 1} to {count} are missing: the head names entry {count} but the log ends at entry {count - 2}", (string?)deleted["firstBroken"]!["reason"]);

        // ...then rewrites the rest, and the head, consistently in plain SHA-256, one reason changed.
        var kept = rows.SkipLast(2).ToList();
        AuditEntry? last = null;
        foreach (var row in kept)
        {
            var reason = row.RowKey == kept[1].RowKey ? "nothing happened here" : row.GetString("Reason");
            last = AuditChain.Append(last, new AuditRecord(row.GetString("Actor"), row.GetString("Action"), row.GetString("Target"), reason), row.GetDateTimeOffset("At")!.Value);
            row["Reason"] = reason;
            row["Hash"] = last.Hash;
            row["PrevHash"] = last.PrevHash;
            row["Keyed"] = false;
            await table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
        }
        var head = AuditChain.HeadOf(last!, kept.Count);
        await table.UpsertEntityAsync(new TableEntity(server.ServiceId, "head") { ["Seq"] = head.Seq, ["Hash"] = head.Hash, ["Count"] = head.Count, ["Mac"] = head.Mac, ["Keyed"] = false });
        var (_, rewritten) = await ci.Get("/v1/audit/verify");
        Assert.False((bool?)rewritten["valid"]);
        Assert.Equal("the head is not sealed under the configured audit key: the log was rewritten without it (or the key was configured after its last entry)",
            (string?)rewritten["firstBroken"]!["reason"]);
    }
}

/// <summary>
/// The other half of "a change and its audit entry are stored together or not at all": when the change's own state
/// write fails, neither stands. The write is made to fail for real: the rollout's row in Azurite is rewritten under the
/// activation (as a second writer would), so storage refuses the activation's next write on its ETag.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class StateWriteFaultTests(ServerFixture fixture)
{
    [Fact]
    public async Task A_pause_whose_state_write_is_refused_leaves_neither_the_pause_nor_its_audit_entry_and_the_caller_is_told_to_retry()
    {
        var (ci, server) = (fixture.Server.Client("ci"), fixture.Server);
        var began = DateTimeOffset.UtcNow.AddSeconds(-5).ToString("O");
        var (unit, plan) = (TestStorage.Unique("unit"), TestStorage.Unique("held"));
        Assert.Equal(200, (await ci.Put($"/v1/plans/{plan}", new { waves = new object[] { new { name = "all", select = new { percent = 100 }, bakeSeconds = 0, requiresApproval = true } } })).Status);
        Assert.Equal(200, (await ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "file", plan, validators = new { format = "json" },
            targets = new { labels = new Dictionary<string, string> { ["state-fault"] = unit } } })).Status);
        Assert.Equal(201, (await ci.Post($"/v1/units/{unit}/packages", new { content = "{\"v\": 1}" })).Status);
        var (started, rollout) = await ci.Post("/v1/rollouts", new { unit, version = 1, reason = "held for approval" });
        Assert.True(started == 201, rollout.ToJsonString());
        var id = (string)rollout["id"]!;
        var held = (string)rollout["state"]!;

        // The rollout's row, rewritten unchanged: its ETag moves on, and the activation's copy is now stale.
        var table = new TableClient(await TestStorage.ConnectionStringAsync(), "SnapstoneGrains");
        var row = await Eventually.Until(async () =>
        {
            await foreach (var r in table.QueryAsync<TableEntity>(e => e.PartitionKey.CompareTo(server.ServiceId) >= 0 && e.PartitionKey.CompareTo(server.ServiceId + "~") < 0))
            {
                if (r.PartitionKey.Contains(id, StringComparison.Ordinal))
                {
                    return r;
                }
            }
            return null;
        }, r => r is not null, $"rollout {id}'s state row in the grain table");
        await table.UpdateEntityAsync(row!, Azure.ETag.All, TableUpdateMode.Merge);

        var (refused, problem) = await ci.Post($"/v1/rollouts/{id}/pause", new { reason = "first pause, never stored" });
        Assert.True(refused == 503, $"a pause whose write storage refused answered {refused}: {problem.ToJsonString()}");
        var (_, after) = await ci.Get($"/v1/rollouts/{id}");
        Assert.Equal(held, (string?)after["state"]);
        Assert.DoesNotContain(after["timeline"]!.AsArray(), e => ((string?)e!["message"])?.Contains("first pause", StringComparison.Ordinal) == true);

        // The retry the caller was told to make is stored, with its entry; the refused one never gets one.
        var (paused, body) = await ci.Post($"/v1/rollouts/{id}/pause", new { reason = "second pause" });
        Assert.True(paused == 200, body.ToJsonString());
        Assert.Equal("paused", (string?)body["state"]);
        var pauses = await Eventually.Until(async () =>
        {
            var (_, log) = await ci.Get($"/v1/audit?since={Uri.EscapeDataString(began)}&limit=1000");
            return log["entries"]!.AsArray().Where(e => (string?)e!["action"] == "rollout.pause" && (string?)e["target"] == $"rollout/{id}")
                .Select(e => (string)e!["reason"]!).ToList();
        }, reasons => reasons.Contains("second pause"), $"the stored pause of {id} to be audited");
        Assert.Equal(["second pause"], pauses);
    }
}
