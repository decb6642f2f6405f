using System.Text.Json.Nodes;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// Alertmanager's webhook against the real server: what a firing alert does to the rollouts it names, that a
/// resolution is recorded, that a repeated delivery acts once, and that a refused payload changes nothing.
/// </summary>
public sealed class AlarmTests
{
    private const string Path = "/v1/alarms/alertmanager";
    private static readonly DateTimeOffset NotEnded = DateTimeOffset.Parse("0001-01-01T00:00:00Z");

    /// <summary>Alertmanager's webhook payload, version 4, as 0.25 sends it.</summary>
    internal static object Payload(string status, params object[] alerts) => new
    {
        version = "4",
        groupKey = "{}:{alertname=\"EdgeErrors\"}",
        truncatedAlerts = 0,
        status,
        receiver = "snapstone",
        groupLabels = new Dictionary<string, string> { ["alertname"] = "EdgeErrors" },
        commonLabels = new Dictionary<string, string> { ["alertname"] = "EdgeErrors" },
        commonAnnotations = new Dictionary<string, string>(),
        externalURL = "http://alertmanager.example:9093",
        alerts,
    };

    internal static object Alert(string status, string fingerprint, DateTimeOffset startsAt, Dictionary<string, string> labels, string summary = "edge errors above 5%") => new
    {
        status,
        labels,
        annotations = new Dictionary<string, string> { ["summary"] = summary },
        startsAt,
        endsAt = status == "resolved" ? startsAt.AddMinutes(3) : NotEnded,
        generatorURL = "http://prometheus.example:9090/graph?g0.expr=edge_errors",
        fingerprint,
    };

    private static Dictionary<string, string> Labels(params (string Name, string Value)[] labels)
    {
        var map = new Dictionary<string, string> { ["alertname"] = "EdgeErrors", ["severity"] = "page" };
        foreach (var (name, value) in labels)
        {
            map[name] = value;
        }
        return map;
    }

    private static JsonArray Timeline(JsonNode rollout) => rollout["timeline"]!.AsArray();

    private static async Task<List<JsonNode>> AuditAsync(HttpClient client, string action)
    {
        var (_, log) = await client.Get("/v1/audit?limit=1000");
        return [.. log["entries"]!.AsArray().Where(e => (string?)e!["action"] == action).Select(e => e!)];
    }

    private static JsonNode Action(JsonNode answer, int alert, string rollout) =>
        answer["alerts"]![alert]!["actions"]!.AsArray().Single(a => (string?)a!["rollout"] == rollout)!;

    [Fact]
    public async Task A_firing_alert_for_a_unit_rolls_its_rollout_back_to_the_lkg_once_and_its_resolution_is_recorded()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale);
        var alarm = scenario.Server.Client("alertmanager");
        var admin = scenario.Server.Client("admin");
        var good = await scenario.PublishAsync(Http.Features(160));
        var id = await scenario.StartRolloutAsync(good, "a good package an alarm stops");
        await scenario.TickUntilRollout(id, r => (int?)r["waves"]![0]!["applied"] > 0, $"rollout {id}'s canaries to run v{good}");

        var startsAt = DateTimeOffset.UtcNow.AddSeconds(-30);
        var firing = Payload("firing", Alert("firing", "a1b2c3d4e5f60718", startsAt, Labels(("snapstone_unit", scenario.Unit))));
        var (status, answer) = await alarm.Post(Path, firing);
        Assert.True(status == 202, $"the alarm answered {status}: {answer.ToJsonString()}");
        Assert.Equal("a1b2c3d4e5f60718", (string?)answer["alerts"]![0]!["fingerprint"]);
        Assert.Equal("EdgeErrors", (string?)answer["alerts"]![0]!["name"]);
        var acted = Action(answer, 0, id);
        Assert.Equal("rolled-back", (string?)acted["action"]);
        Assert.Equal(scenario.Unit, (string?)acted["unit"]);

        // Alertmanager repeats a notification on every group interval: the same delivery acts once.
        var (again, repeated) = await alarm.Post(Path, firing);
        Assert.Equal(202, again);
        Assert.Equal("none", (string?)Action(repeated, 0, id)["action"]);
        Assert.StartsWith("already handled", (string?)Action(repeated, 0, id)["reason"]);

        var done = await scenario.TickUntilState(id, "rolled-back");
        await scenario.TickUntil(() => Task.FromResult(scenario.Fleet.NodesOn(scenario.Unit, 1).Count == 80), "every node back on v1, the LKG");
        var rollbacks = Timeline(done).Where(e => (string?)e!["type"] == "rollback-started").ToList();
        var started = Assert.Single(rollbacks);
        Assert.Contains("alarm 'EdgeErrors' firing (alertname=EdgeErrors, severity=page, snapstone_unit=bot-features): edge errors above 5%", (string?)started!["message"]);
        Assert.Contains("posted by alertmanager", (string?)started["message"]);
        var (_, unit) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Contains(good, unit["quarantined"]!.AsArray().Select(v => (long)v!));
        Assert.Equal(1L, (long?)unit["lkgVersion"]);
        var (_, incident) = await scenario.Ci.Get($"/v1/incidents/inc-{id[2..]}");
        Assert.Contains("EdgeErrors", incident.ToJsonString());
        var audited = await Eventually.Until(() => AuditAsync(admin, "rollout.alarm-rollback"), a => a.Count > 0, "the alarm's rollback on the audit chain");
        var entry = Assert.Single(audited);
        Assert.Equal("alertmanager", (string?)entry["actor"]);
        Assert.Equal($"rollout/{id}", (string?)entry["target"]);
        Assert.Contains("alarm 'EdgeErrors' firing", (string?)entry["reason"]);

        // Resolved: recorded on the rollout it acted on, finished as it is, and changing nothing; twice is once.
        var resolved = Payload("resolved", Alert("resolved", "a1b2c3d4e5f60718", startsAt, Labels(("snapstone_unit", scenario.Unit))));
        var (recorded, noted) = await alarm.Post(Path, resolved);
        Assert.Equal(202, recorded);
        Assert.Equal("none", (string?)Action(noted, 0, id)["action"]);
        Assert.Equal("resolved", (string?)noted["alerts"]![0]!["status"]);
        var (_, repeatedResolution) = await alarm.Post(Path, resolved);
        Assert.StartsWith("already handled", (string?)Action(repeatedResolution, 0, id)["reason"]);
        var after = await scenario.RolloutAsync(id);
        Assert.Equal("rolled-back", (string?)after["state"]);
        Assert.Equal(Timeline(done).Count + 1, Timeline(after).Count);
        Assert.Equal("alarm-resolved", (string?)Timeline(after)[^1]!["type"]);
        Assert.StartsWith("alarm 'EdgeErrors' resolved (alertname=EdgeErrors", (string?)Timeline(after)[^1]!["message"]);
        var resolutions = await Eventually.Until(() => AuditAsync(admin, "rollout.alarm-resolved"), a => a.Count > 0, "the resolution on the audit chain");
        Assert.Single(resolutions);
        Assert.Single(await AuditAsync(admin, "rollout.alarm-rollback"));
        Assert.Equal(80, scenario.Fleet.NodesOn(scenario.Unit, 1).Count);
    }

    [Fact]
    public async Task Alerts_by_pop_and_region_roll_back_only_the_rollouts_touching_them_a_pause_unit_pauses_and_global_pauses_the_rest()
    {
        await using var server = await ServerProcess.StartAsync();
        var ci = server.Client("ci");
        var alarm = server.Client("alertmanager");
        var agent = server.Client("agent");
        var places = new[] { ("ams01", "eu-west"), ("fra01", "eu-central"), ("iad01", "us-east") };
        var reports = places.SelectMany(p => Enumerable.Range(1, 2).Select(i => new
        {
            node = $"{p.Item1}-n{i}", pop = p.Item1, region = p.Item2, tier = "edge", labels = new { }, applied = new { },
            metrics = new { requests = 100, errors = 0, p99LatencyMs = 5, crashes = 0 }, intervalSeconds = 1,
        })).ToArray();
        Assert.Equal(200, (await agent.Post("/v1/reports", new { reports })).Status);
        await Eventually.Until(async () => (int?)(await ci.Get("/v1/fleet")).Body["nodes"] == 6, "the server to know all 6 nodes");

        // One unit per place; each rollout's first wave is that PoP alone, and nothing ever applies, so they stay in it.
        async Task<string> RolloutIn(string unit, string pop, string onAlarm)
        {
            Assert.Equal(200, (await ci.Put($"/v1/plans/only-{pop}", new
            {
                waves = new object[]
                {
                    new { name = pop, select = new { pops = new[] { pop } }, bakeSeconds = 600 },
                    new { name = "all", select = new { percent = 100 }, bakeSeconds = 600 },
                },
            })).Status);
            var (defined, body) = await ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "file", riskTier = "standard", failureMode = "fail-stale", plan = $"only-{pop}", onAlarm });
            Assert.True(defined == 200, body.ToJsonString());
            Assert.Equal(onAlarm, (string?)body["onAlarm"]);
            Assert.Equal(201, (await ci.Post($"/v1/units/{unit}/packages", new { content = "{\"rules\":[]}", message = "first" })).Status);
            var (started, rollout) = await ci.Post("/v1/rollouts", new { unit, version = 1, reason = "first rules" });
            Assert.True(started == 201, rollout.ToJsonString());
            return (string)rollout["id"]!;
        }
        var inAms = await RolloutIn("rules-ams", "ams01", "rollback");
        var inFra = await RolloutIn("rules-fra", "fra01", "rollback");
        var pausing = await RolloutIn("rules-iad", "iad01", "pause");
        var other = await RolloutIn("rules-iad-2", "iad01", "rollback");
        foreach (var id in new[] { inAms, inFra, pausing, other })
        {
            await Eventually.Until(async () => (await ci.Get($"/v1/rollouts/{id}")).Body, r => Timeline(r).Any(e => (string?)e!["type"] == "wave-assigned"),
                $"rollout {id}'s first wave to be assigned");
        }
        var startsAt = DateTimeOffset.UtcNow.AddMinutes(-1);
        async Task<JsonNode> Post(string fingerprint, params (string, string)[] labels)
        {
            var (status, answer) = await alarm.Post(Path, Payload("firing", Alert("firing", fingerprint, startsAt, Labels(labels))));
            Assert.True(status == 202, $"the alarm answered {status}: {answer.ToJsonString()}");
            return answer;
        }
        async Task<string?> State(string id) => (string?)(await ci.Get($"/v1/rollouts/{id}")).Body["state"];

        var byPop = await Post("00000000000000a1", ("snapstone_pop", "ams01"));
        Assert.Equal("rolled-back", (string?)Action(byPop, 0, inAms)["action"]);
        foreach (var id in new[] { inFra, pausing, other })
        {
            Assert.Equal("none", (string?)Action(byPop, 0, id)["action"]);
            Assert.Equal("its cohort has no node in PoP ams01", (string?)Action(byPop, 0, id)["reason"]);
            Assert.Equal("running", await State(id));
        }
        await Eventually.Until(async () => await State(inAms) == "rolled-back", $"rollout {inAms} to finish rolling back");

        var byRegion = await Post("00000000000000a2", ("snapstone_region", "eu-central"));
        Assert.Equal("rolled-back", (string?)Action(byRegion, 0, inFra)["action"]);
        Assert.Equal(2, byRegion["alerts"]![0]!["actions"]!.AsArray().Count(a => (string?)a!["action"] == "none"));
        Assert.Equal("running", await State(pausing));
        await Eventually.Until(async () => await State(inFra) == "rolled-back", $"rollout {inFra} to finish rolling back");

        var byUnit = await Post("00000000000000a3", ("snapstone_unit", "rules-iad"));
        var paused = Action(byUnit, 0, pausing);
        Assert.Equal("paused", (string?)paused["action"]);
        Assert.Equal("the unit's onAlarm is pause", (string?)paused["reason"]);
        var (_, pausedRollout) = await ci.Get($"/v1/rollouts/{pausing}");
        Assert.Equal("paused", (string?)pausedRollout["state"]);
        Assert.Equal("running", await State(other));

        var global = await Post("00000000000000a4", ("snapstone_scope", "global"));
        Assert.Equal("paused", (string?)Action(global, 0, other)["action"]);
        Assert.Equal("none", (string?)Action(global, 0, pausing)["action"]);
        // Finished rollouts are not active: only the two still running or paused are asked.
        Assert.Equal(2, global["alerts"]![0]!["actions"]!.AsArray().Count);
        var (_, globallyPaused) = await ci.Get($"/v1/rollouts/{other}");
        Assert.Equal("paused", (string?)globallyPaused["state"]);
        Assert.Contains("alarm 'EdgeErrors' firing (alertname=EdgeErrors, severity=page, snapstone_scope=global)", (string?)Timeline(globallyPaused)[^1]!["message"]);
        Assert.Equal("rolled-back", await State(inAms));
        Assert.Equal("rolled-back", await State(inFra));

        // An alarm's pause is a person's to end: resume goes on from where it stopped.
        Assert.Equal(200, (await ci.Post($"/v1/rollouts/{other}/resume", new { reason = "the fleet is fine" })).Status);
        Assert.Equal("running", await State(other));
    }

    [Fact]
    public async Task A_malformed_oversized_or_wrongly_authorised_payload_is_refused_and_changes_nothing()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string> { ["Snapstone__Gateway__MaxRequestBytes"] = "131072" });
        var ci = server.Client("ci");
        var agent = server.Client("agent");
        Assert.Equal(200, (await agent.Post("/v1/nodes/ams01-n1/report", new
        {
            pop = "ams01", region = "eu-west", tier = "edge", labels = new { }, applied = new { },
            metrics = new { requests = 100, errors = 0, p99LatencyMs = 5, crashes = 0 }, intervalSeconds = 1,
        })).Status);
        await Eventually.Until(async () => (int?)(await ci.Get("/v1/fleet")).Body["nodes"] == 1, "the server to know the node");
        Assert.Equal(200, (await ci.Put("/v1/plans/only-ams01", new
        {
            waves = new object[]
            {
                new { name = "ams01", select = new { pops = new[] { "ams01" } }, bakeSeconds = 600 },
                new { name = "all", select = new { percent = 100 }, bakeSeconds = 600 },
            },
        })).Status);
        Assert.Equal(200, (await ci.Put("/v1/units/rules", new { owner = "edge", kind = "file", riskTier = "standard", failureMode = "fail-stale", plan = "only-ams01" })).Status);
        Assert.Equal(201, (await ci.Post("/v1/units/rules/packages", new { content = "{\"rules\":[]}", message = "first" })).Status);
        var (_, rollout) = await ci.Post("/v1/rollouts", new { unit = "rules", version = 1, reason = "first rules" });
        var id = (string)rollout["id"]!;
        var before = await Eventually.Until(async () => (await ci.Get($"/v1/rollouts/{id}")).Body,
            r => Timeline(r).Any(e => (string?)e!["type"] == "wave-assigned"), $"rollout {id}'s first wave to be assigned");

        var startsAt = DateTimeOffset.UtcNow;
        object Firing(Dictionary<string, string> labels) => Alert("firing", "b1b2c3d4e5f60718", startsAt, labels);
        var unitAlert = Payload("firing", Firing(Labels(("snapstone_unit", "rules"))));

        // Wrong scope or no token.
        foreach (var token in new[] { "agent", "reader", "ci", "oncall" })
        {
            var (status, problem) = await server.Client(token).Post(Path, unitAlert);
            Assert.Equal(403, status);
            Assert.Contains("lacks the 'alarm' scope", (string?)problem["detail"]);
        }
        Assert.Equal(401, (await server.Client(null).Post(Path, unitAlert)).Status);

        var alarm = server.Client("alertmanager");
        var manyLabels = Labels(("snapstone_unit", "rules"));
        for (var i = 0; i < 70; i++)
        {
            manyLabels[$"l{i}"] = "x";
        }
        var refused = new (object Body, string Detail)[]
        {
            ("{ not json", "malformed JSON"),
            (new { version = "3", status = "firing", alerts = Array.Empty<object>() }, "version '3' is not supported; Snapstone reads Alertmanager's webhook payload version 4"),
            (new { version = "4", status = "firing" }, "alerts is required (a list of alerts)"),
            (Payload("firing", new { status = "firing", labels = Labels(("snapstone_unit", "rules")), startsAt }), "alerts[0].fingerprint is required"),
            (Payload("firing", Firing(manyLabels)), "alerts[0].labels holds 73 labels; at most 64"),
            (Payload("firing", Firing(Labels(("snapstone_unit", "rules"), ("runbook", new string('r', 3000))))), "alerts[0].labels.runbook is 3000 characters; at most 2048"),
            (Payload("firing", Firing(Labels(("snapstone_unit", "Rules")))), "alerts[0].labels.snapstone_unit 'Rules' must match"),
            (Payload("firing", [.. Enumerable.Range(0, 201).Select(i => Alert("firing", $"{i:x16}", startsAt, Labels(("snapstone_unit", "rules"))))]),
                "alerts holds 201 alerts; at most 200 per notification"),
        };
        foreach (var (body, detail) in refused)
        {
            var (status, problem) = await alarm.Post(Path, body);
            Assert.True(status == 400, $"expected 400 for {detail}, got {status}: {problem.ToJsonString()}");
            Assert.Contains(detail, (string?)problem["detail"]);
        }
        var huge = Payload("firing", [.. Enumerable.Range(0, 150).Select(i => Alert("firing", $"{i:x16}", startsAt, Labels(("snapstone_unit", "rules")), new string('s', 1000)))]);
        var (tooLarge, tooLargeProblem) = await alarm.Post(Path, huge);
        Assert.Equal(413, tooLarge);
        Assert.Contains("131072", (string?)tooLargeProblem["detail"]);

        var after = (await ci.Get($"/v1/rollouts/{id}")).Body;
        Assert.Equal("running", (string?)after["state"]);
        Assert.Equal(Timeline(before).Count, Timeline(after).Count);
        Assert.Empty(await AuditAsync(server.Client("admin"), "rollout.alarm-rollback"));
        Assert.Empty(await AuditAsync(server.Client("admin"), "rollout.alarm-pause"));

        // The admin token may post too, and an alert that names no Snapstone label does nothing and says why.
        var (unlabelled, answer) = await server.Client("admin").Post(Path, Payload("firing", Firing(Labels(("team", "edge")))));
        Assert.Equal(202, unlabelled);
        Assert.Empty(answer["alerts"]![0]!["actions"]!.AsArray());
        Assert.Contains("nothing to act on", (string?)answer["alerts"]![0]!["note"]);
        Assert.Equal("running", (string?)(await ci.Get($"/v1/rollouts/{id}")).Body["state"]);

        // The OpenAPI document describes the receiver, Alertmanager's field names and all, and a unit's onAlarm.
        var (_, document) = await server.Client(null).Get("/openapi/v1.json");
        var post = document["paths"]![Path]!["post"]!;
        Assert.Equal("PostAlertmanagerAlarm", (string?)post["operationId"]);
        Assert.NotNull(post["responses"]!["202"]);
        Assert.NotNull(post["responses"]!["400"]);
        var schemas = document["components"]!["schemas"]!;
        Assert.Equal(["version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts"],
            schemas["AlertmanagerPayload"]!["properties"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"],
            schemas["AlertmanagerAlert"]!["properties"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["rollout", "unit", "action", "reason"], schemas["AlarmActionResponse"]!["properties"]!.AsObject().Select(p => p.Key));
        Assert.Contains("onAlarm", schemas["UnitBody"]!["properties"]!.AsObject().Select(p => p.Key));
    }
}
