using System.Diagnostics;
using System.Text.Json.Nodes;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>A server with agent tokens bound to a PoP and to a node-id pattern, besides the usual test tokens.</summary>
public sealed class BoundTokensServer : IAsyncLifetime
{
    public const string AmsToken = "test-ams-agent-token-0008";
    public const string EdgeToken = "test-edge-agent-token-009";

    public ServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var at = ServerProcess.Tokens.Count;
        Server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            [$"Snapstone__Auth__Tokens__{at}__Name"] = "ams-agent",
            [$"Snapstone__Auth__Tokens__{at}__Token"] = AmsToken,
            [$"Snapstone__Auth__Tokens__{at}__Scopes__0"] = "agent",
            [$"Snapstone__Auth__Tokens__{at}__Pops__0"] = "ams01",
            [$"Snapstone__Auth__Tokens__{at + 1}__Name"] = "edge-agent",
            [$"Snapstone__Auth__Tokens__{at + 1}__Token"] = EdgeToken,
            [$"Snapstone__Auth__Tokens__{at + 1}__Scopes__0"] = "agent",
            [$"Snapstone__Auth__Tokens__{at + 1}__Nodes__0"] = "*-edge-*",
        });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// Issue 12's agent impersonation, over HTTP against the real server: who may report for which node, and what a
/// report may not change.
/// </summary>
public sealed class AgentBindingTests(BoundTokensServer fixture) : IClassFixture<BoundTokensServer>
{
    private readonly HttpClient _ams = fixture.Server.Client(BoundTokensServer.AmsToken);
    private readonly HttpClient _edge = fixture.Server.Client(BoundTokensServer.EdgeToken);
    private readonly HttpClient _agent = fixture.Server.Client("agent");
    private readonly HttpClient _reader = fixture.Server.Client("reader");
    private readonly HttpClient _admin = fixture.Server.Client("admin");

    private static object Report(string pop, string tier = "edge", object? labels = null) => new
    {
        pop,
        region = "eu-west",
        tier,
        labels = labels ?? new { proxy = "fl2" },
        metrics = new { requests = 100, errors = 0, p99LatencyMs = 20, crashes = 0 },
    };

    [Fact]
    public async Task A_made_up_node_reporting_into_a_canary_pop_with_a_bound_token_is_refused_naming_the_binding()
    {
        var canaryPop = TestStorage.Unique("canary");
        var fake = $"{canaryPop}-n1";

        var (single, problem) = await _ams.Post($"/v1/nodes/{fake}/report", Report(canaryPop, "canary"));
        Assert.Equal(403, single);
        Assert.Equal($"token 'ams-agent' may report only for PoPs ams01 (its Pops binding in Snapstone:Auth:Tokens); node '{fake}' reports PoP '{canaryPop}'",
            (string?)problem["detail"]);

        var own = TestStorage.Unique("ams01-n");
        var body = $$"""
        { "reports": [
            { "node": "{{fake}}", "pop": "{{canaryPop}}", "tier": "canary" },
            { "node": "{{own}}", "pop": "ams01", "tier": "edge" }
        ] }
        """;
        using var response = await _ams.PostAsync("/v1/reports", Http.Json(body));
        Assert.Equal(200, (int)response.StatusCode);
        var results = (await response.ReadJson())["results"]!.AsArray();
        Assert.Contains("may report only for PoPs ams01", (string?)results[0]!["error"]);
        Assert.Null(results[0]!["desired"]);
        Assert.Null(results[1]!["error"]);

        // The pattern-bound token: only node ids with "-edge-" in them, in any PoP.
        var (byPattern, patternProblem) = await _edge.Post($"/v1/nodes/{canaryPop}-canary-1/report", Report(canaryPop, "canary"));
        Assert.Equal(403, byPattern);
        Assert.Equal($"token 'edge-agent' may report only for nodes matching *-edge-* (its Nodes binding in Snapstone:Auth:Tokens); not for node '{canaryPop}-canary-1'",
            (string?)patternProblem["detail"]);
        Assert.Equal(200, (await _edge.Post($"/v1/nodes/{canaryPop}-edge-1/report", Report(canaryPop))).Status);

        Assert.Equal(404, (await _reader.Get($"/v1/nodes/{fake}")).Status);
        Assert.Equal(404, (await _reader.Get($"/v1/nodes/{canaryPop}-canary-1")).Status);
        var (_, fleet) = await _reader.Get("/v1/fleet");
        var pop = fleet["pops"]!.AsArray().Single(p => (string?)p!["pop"] == canaryPop)!;
        Assert.Equal(1, (int?)pop["nodes"]);
        Assert.Null(pop["byTier"]!["canary"]);
    }

    [Fact]
    public async Task A_node_cannot_move_pop_or_tier_by_reporting_and_an_operator_re_enrols_it()
    {
        var (home, canaryPop) = (TestStorage.Unique("pop"), TestStorage.Unique("canary"));
        var node = $"{home}-n1";
        Assert.Equal(200, (await _agent.Post($"/v1/nodes/{node}/report", Report(home))).Status);

        var (moved, movedProblem) = await _agent.Post($"/v1/nodes/{node}/report", Report(canaryPop, "canary"));
        Assert.Equal(409, moved);
        Assert.Equal($"node '{node}' is enrolled with pop '{home}', tier 'edge'; this report says pop '{canaryPop}', tier 'canary': " +
                     $"a report cannot change a node's identity (an operator re-enrols it with PUT /v1/nodes/{node})", (string?)movedProblem["detail"]);
        var (promoted, _) = await _agent.Post($"/v1/nodes/{node}/report", Report(home, "canary"));
        Assert.Equal(409, promoted);
        var (relabelled, relabelProblem) = await _agent.Post($"/v1/nodes/{node}/report", Report(home, labels: new { proxy = "fl1" }));
        Assert.Equal(409, relabelled);
        Assert.Contains("this report says labels {proxy=fl1}", (string?)relabelProblem["detail"]);
        var batch = $$"""{ "reports": [ { "node": "{{node}}", "pop": "{{canaryPop}}", "tier": "canary" } ] }""";
        using (var response = await _agent.PostAsync("/v1/reports", Http.Json(batch)))
        {
            Assert.Contains("a report cannot change a node's identity", (string?)(await response.ReadJson())["results"]![0]!["error"]);
        }

        var (_, view) = await _reader.Get($"/v1/nodes/{node}");
        Assert.Equal((home, "edge", "fl2", 1L), ((string?)view["pop"], (string?)view["tier"], (string?)view["labels"]!["proxy"], (long?)view["reportsReceived"]));
        Assert.Contains("report refused", fixture.Server.Log);

        // Only an operator moves it.
        Assert.Equal(403, (await _agent.Put($"/v1/nodes/{node}", new { pop = canaryPop, tier = "canary" })).Status);
        Assert.Equal(403, (await fixture.Server.Client("ci").Put($"/v1/nodes/{node}", new { pop = canaryPop, tier = "canary" })).Status);
        var (enrolled, enrolledView) = await _admin.Put($"/v1/nodes/{node}", new { pop = canaryPop, region = "eu-west", tier = "canary", labels = new { proxy = "fl2" } });
        Assert.Equal(200, enrolled);
        Assert.Equal((canaryPop, "canary"), ((string?)enrolledView["pop"], (string?)enrolledView["tier"]));
        Assert.Equal(200, (await _agent.Post($"/v1/nodes/{node}/report", Report(canaryPop, "canary"))).Status);
        Assert.Equal(409, (await _agent.Post($"/v1/nodes/{node}/report", Report(home))).Status);

        var (_, fleet) = await _reader.Get("/v1/fleet");
        var pops = fleet["pops"]!.AsArray();
        // Its old PoP, left with no members and no wave orders, leaves the fleet's index.
        Assert.DoesNotContain(pops, p => (string?)p!["pop"] == home);
        Assert.Equal(1, (int?)pops.Single(p => (string?)p!["pop"] == canaryPop)!["byTier"]!["canary"]);
        var (_, audit) = await _admin.Get("/v1/audit");
        var entry = audit["entries"]!.AsArray().Last(e => (string?)e!["target"] == $"node/{node}")!;
        Assert.Equal(("node.enrol", "admin"), ((string?)entry["action"], (string?)entry["actor"]));
        Assert.Equal($"pop {canaryPop}, region eu-west, tier canary, labels {{proxy=fl2}}", (string?)entry["reason"]);
    }

    public static TheoryData<string, string> BadEnrolments => new()
    {
        { "{}", "pop is required and must match" },
        { """{ "pop": "ams01", "tier": "a-tier-name-longer-than-thirty-two" }""", "tier 'a-tier-name-longer-than-thirty-two' must be at most 32 characters (got 34)" },
        { """{ "pop": "ams01", "labels": { "a": "0123456789012345678901234567890123456789012345678901234567890123456789" } }""", "labels.a must be 1 to 64 bytes of UTF-8 (got 70)" },
        { """{ "pop": "ams01", "shelf": "r1" }""", "shelf" },
    };

    [Theory]
    [MemberData(nameof(BadEnrolments))]
    public async Task A_bad_enrolment_is_400_naming_the_field_and_enrols_nothing(string body, string detail)
    {
        var node = TestStorage.Unique("node");
        var (status, problem) = await _admin.Put($"/v1/nodes/{node}", body);
        Assert.Equal(400, status);
        Assert.Contains(detail, (string?)problem["detail"]);
        Assert.Equal(404, (await _reader.Get($"/v1/nodes/{node}")).Status);
    }
}

/// <summary>A made-up canary enrolled after the wave went out: its rejection and its crash are its own, not the cohort's.</summary>
public sealed class LateNodeTests
{
    /// <summary>canary tier (default gates: 90% of the cohort must report) → everyone.</summary>
    private static readonly object Plan = new
    {
        waves = new object[]
        {
            new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 3 },
            new { name = "all", select = new { percent = 100 }, bakeSeconds = 1 },
        },
    };

    [Fact]
    public async Task A_made_up_canary_node_enrolled_after_the_wave_cannot_force_a_rollback()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 200);
        var canaries = scenario.Fleet.Nodes.Where(n => n.Profile.IsCanary).ToList();
        Assert.True(canaries.Count >= 10, $"the fleet has {canaries.Count} canaries; the cohort must outnumber the made-up one ten to one");
        Assert.Equal(200, (await scenario.Ci.Put("/v1/plans/late-proof", Plan)).Status);
        var good = await scenario.PublishAsync(Http.Features(151));
        var (started, rollout) = await scenario.Ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = good, plan = "late-proof", reason = "good change" });
        Assert.True(started == 201, rollout.ToJsonString());
        var id = (string)rollout["id"]!;
        await scenario.TickUntilRollout(id, r => r["waves"]![0]!["startedAt"] is not null, "wave 0 to be assigned");

        // The attacker holds an agent token: a node of its own invention joins a canary PoP as a canary ...
        var agent = scenario.Server.Client("agent");
        var target = canaries[0].Profile;
        var fake = $"{target.Pop}-made-up";
        object FakeReport(object applied, int crashes = 0) => new
        {
            pop = target.Pop, region = target.Region, tier = "canary", labels = target.Labels, applied,
            metrics = new { requests = 500, errors = crashes > 0 ? 500 : 0, p99LatencyMs = 20, crashes },
        };
        var (_, first) = await agent.Post($"/v1/nodes/{fake}/report", FakeReport(new Dictionary<string, object> { [scenario.Unit] = new { version = 1, status = "ok" } }));
        Assert.Equal(good, (long?)first["desired"]![scenario.Unit]!["version"]);

        // ... rejects the new package both ways API.md allows, and crashes on it.
        var (_, rejected) = await agent.Post($"/v1/nodes/{fake}/report",
            FakeReport(new Dictionary<string, object> { [scenario.Unit] = new { version = good, status = "rejected", error = "refused" } }));
        Assert.Equal(good, (long?)rejected["desired"]![scenario.Unit]!["version"]);
        await agent.Post($"/v1/nodes/{fake}/report", FakeReport(new Dictionary<string, object> { [scenario.Unit] = new { version = 1, status = "rejected", error = "refused" } }));
        var (_, crashed) = await agent.Post($"/v1/nodes/{fake}/report",
            FakeReport(new Dictionary<string, object> { [scenario.Unit] = new { version = good, status = "ok" } }, crashes: 3));
        // Its crash sends it, and only it, back.
        Assert.Equal(1, (long?)crashed["desired"]![scenario.Unit]!["version"]);

        var done = await scenario.TickUntilState(id, "completed", "rolled-back", "rolling-back", "paused");
        Assert.True((string?)done["state"] == "completed", done.ToJsonString());
        Assert.DoesNotContain(done["timeline"]!.AsArray(), e => (string?)e!["type"] is "node-signal" or "rollback-started");
        var (_, unit) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Equal(good, (long?)unit["lkgVersion"]);
        Assert.Empty(unit["quarantined"]!.AsArray());
        Assert.Contains($"Node {fake} joined after rollout {id}'s wave was assigned; not the cohort's evidence", scenario.Server.Log);
    }
}

/// <summary>1,000 invented nodes with the largest identities a report may carry, all into one real PoP.</summary>
public sealed class PopFloodTests
{
    [Fact]
    public async Task A_thousand_invented_nodes_with_maximal_labels_do_not_wedge_a_pop_its_writes_hold_and_its_rollbacks_complete()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailClosed, nodes: 80, settings: new Dictionary<string, string>
        {
            // The invented nodes never confirm a rollback: it finishes at this deadline, naming them.
            ["Snapstone__Rollouts__RollbackDeadlineSeconds"] = "10",
        });
        var pop = scenario.Fleet.Pops.First(p => scenario.Fleet.Nodes.Any(n => n.Profile.Pop == p.Id && n.Profile.IsCanary));
        var real = scenario.Fleet.Nodes.Count(n => n.Profile.Pop == pop.Id);

        // Every invented node a canary with the longest region and tier and 8 labels of 128 bytes, each set its own.
        string Invented(int i) => $$"""
            { "node": "{{$"{pop.Id}-{i:d6}".PadRight(100, 'x')}}", "pop": "{{pop.Id}}", "region": "{{$"r{i:d6}".PadRight(32, 'r')}}", "tier": "canary",
              "labels": { {{string.Join(", ", Enumerable.Range(0, 8).Select(k => $"\"{(char)('a' + k)}\": \"{$"{i:d6}".PadRight(15, 'v')}\""))}} } }
            """;
        // In batches of 200, as an agent sends them; a batch the busy cluster answers 503 is sent again.
        var agent = scenario.Server.Client("agent");
        var errors = new List<string?>();
        foreach (var chunk in Enumerable.Range(0, 1000).Chunk(200))
        {
            var body = $$"""{ "reports": [ {{string.Join(",\n", chunk.Select(Invented))}} ] }""";
            var answer = await Eventually.Until(async () =>
            {
                using var response = await agent.PostAsync("/v1/reports", Http.Json(body));
                return ((int)response.StatusCode, (int)response.StatusCode == 200 ? await response.ReadJson() : null);
            }, a => a.Item1 != 503, "a batch of invented nodes to be answered", TimeSpan.FromMinutes(3));
            Assert.Equal(200, answer.Item1);
            errors.AddRange(answer.Item2!["results"]!.AsArray().Select(r => (string?)r!["error"]));
        }

        // The PoP takes as many as its limit allows and refuses the rest, naming the limit.
        Assert.Equal(1000 - real, errors.Count(e => e is null));
        Assert.All(errors.Where(e => e is not null), e => Assert.StartsWith($"PoP '{pop.Id}' holds 1000 nodes, the most it may (Snapstone:Nodes:MaxPerPop = 1000)", e));
        var (_, fleet) = await scenario.Ci.Get("/v1/fleet");
        Assert.Equal(1000, (int?)fleet["pops"]!.AsArray().Single(p => (string?)p!["pop"] == pop.Id)!["nodes"]);

        // A bad package: the PoP's real canaries crash on it, and the rollback completes, invented canaries and all.
        var bad = await scenario.PublishAsync(Http.Features(201));
        var id = await scenario.StartRolloutAsync(bad);
        var done = await scenario.TickUntilRollout(id, r => r["rollback"]?["completedAt"] is JsonValue, "the rollback to complete");
        Assert.Equal("rolled-back", (string?)done["state"]);
        await scenario.TickUntil(() => Task.FromResult(scenario.Fleet.NodesOn(scenario.Unit, 1).Count == scenario.Fleet.Nodes.Count), "every real node back on v1");
        Assert.DoesNotContain("failed; the next write carries it", scenario.Server.Log);
        Assert.DoesNotContain("RequestBodyTooLarge", scenario.Server.Log);

        // What the PoP wrote is what it holds after a crash.
        await scenario.Server.KillAsync();
        await scenario.Server.StartAgainAsync();
        var (_, after) = await scenario.Server.Client("reader").Get("/v1/fleet");
        Assert.Equal(1000, (int?)after["pops"]!.AsArray().Single(p => (string?)p!["pop"] == pop.Id)!["nodes"]);
    }
}

/// <summary>A desired state's stamp is the same in every server process.</summary>
public sealed class DesiredStampTests
{
    [Fact]
    public async Task A_long_poll_with_a_stamp_from_before_a_restart_waits_for_a_real_change()
    {
        await using var server = await ServerProcess.StartAsync();
        var ci = server.Client("ci");
        var agent = server.Client("agent");
        var unit = TestStorage.Unique("unit");
        await ci.Put($"/v1/units/{unit}", new { owner = "edge" });
        await ci.Post($"/v1/units/{unit}/packages", new { content = "{}" });
        var node = TestStorage.Unique("node");
        var (_, before) = await agent.Post($"/v1/nodes/{node}/report", new { pop = "ams01" });
        var stamp = (string)before["stamp"]!;

        await server.KillAsync();
        await server.StartAgainAsync();

        var (_, after) = await agent.Post($"/v1/nodes/{node}/report", new { pop = "ams01" });
        Assert.Equal(stamp, (string?)after["stamp"]);
        var clock = Stopwatch.StartNew();
        var (status, polled) = await agent.Get($"/v1/nodes/{node}/desired?waitSeconds=1&stamp={stamp}");
        Assert.Equal((200, stamp), (status, (string?)polled["stamp"]));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"the long poll answered after {clock.Elapsed}: it took an unchanged state for a change");
    }
}
