using System.Diagnostics;
using System.Text.Json.Nodes;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class NodeReportTests(ServerFixture fixture)
{
    private readonly HttpClient _ci = fixture.Server.Client("ci");
    private readonly HttpClient _agent = fixture.Server.Client("agent");
    private readonly HttpClient _reader = fixture.Server.Client("reader");

    private static object Report(string pop, string tier = "standard", object? applied = null, object? metrics = null, object? labels = null) => new
    {
        pop,
        region = "eu-west",
        tier,
        labels = labels ?? new { proxy = "fl2" },
        applied = applied ?? new { },
        metrics = metrics ?? new { requests = 1200, errors = 3, p99LatencyMs = 41.5, crashes = 0 },
        intervalSeconds = 1,
    };

    [Fact]
    public async Task A_first_report_registers_the_node_and_answers_the_units_lkg_as_desired()
    {
        var (unit, sha) = await UnitWithPackage();
        var node = TestStorage.Unique("node");
        var pop = TestStorage.Unique("pop");

        var (status, answer) = await _agent.Post($"/v1/nodes/{node}/report", Report(pop, "canary", labels: Consuming(unit)));
        Assert.Equal(200, status);
        Assert.Equal(1, (long?)answer["desired"]![unit]!["version"]);
        Assert.Equal(sha, (string?)answer["desired"]![unit]!["sha256"]);
        Assert.Equal($"/v1/units/{unit}/packages/1/content", (string?)answer["desired"]![unit]!["contentUrl"]);

        var (_, view) = await _reader.Get($"/v1/nodes/{node}");
        Assert.Equal(pop, (string?)view["pop"]);
        Assert.Equal("canary", (string?)view["tier"]);
        Assert.Equal(1200, (long?)view["lastMetrics"]!["requests"]);

        var (_, fleet) = await _reader.Get("/v1/fleet");
        var popSummary = fleet["pops"]!.AsArray().Single(p => (string?)p!["pop"] == pop)!;
        Assert.Equal(1, (int?)popSummary["nodes"]);
        Assert.Equal(1, (int?)popSummary["byTier"]!["canary"]);
    }

    [Fact]
    public async Task Applied_packages_are_recorded_and_shown()
    {
        var (unit, sha) = await UnitWithPackage();
        var node = TestStorage.Unique("node");
        var applied = new Dictionary<string, object> { [unit] = new { version = 1, sha256 = sha, status = "ok" } };
        var (status, _) = await _agent.Post($"/v1/nodes/{node}/report", Report(TestStorage.Unique("pop"), applied: applied));
        Assert.Equal(200, status);
        var (_, view) = await _reader.Get($"/v1/nodes/{node}");
        Assert.Equal(1, (long?)view["applied"]![unit]!["version"]);
        Assert.Equal("ok", (string?)view["applied"]![unit]!["status"]);
    }

    [Fact]
    public async Task A_unit_targeted_at_other_labels_is_absent_from_desired()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", new { owner = "edge", targets = new { labels = new { proxy = unit } } });
        await _ci.Post($"/v1/units/{unit}/packages", new { content = "{}" });
        await _ci.RollOutFirstAsync(unit);
        var (_, fl2) = await _agent.Post($"/v1/nodes/{TestStorage.Unique("node")}/report", Report(TestStorage.Unique("pop")));
        var (_, fl1) = await _agent.Post($"/v1/nodes/{TestStorage.Unique("node")}/report", Report(TestStorage.Unique("pop"), labels: new { proxy = unit }));
        Assert.Null(fl2["desired"]![unit]);
        Assert.Equal(1, (long?)fl1["desired"]![unit]!["version"]);
    }

    public static TheoryData<string, string, string> BadReports => new()
    {
        { "negative requests", "{\"pop\":\"p\",\"metrics\":{\"requests\":-1,\"errors\":0,\"p99LatencyMs\":1,\"crashes\":0}}", "metrics.requests must be 0 or more (got -1)" },
        { "errors above requests", "{\"pop\":\"p\",\"metrics\":{\"requests\":5,\"errors\":6,\"p99LatencyMs\":1,\"crashes\":0}}", "metrics.errors (6) must not exceed metrics.requests (5)" },
        { "NaN latency", "{\"pop\":\"p\",\"metrics\":{\"requests\":5,\"errors\":0,\"p99LatencyMs\":NaN,\"crashes\":0}}", "malformed JSON" },
        { "NaN as string", "{\"pop\":\"p\",\"metrics\":{\"requests\":5,\"errors\":0,\"p99LatencyMs\":\"NaN\",\"crashes\":0}}", "$.metrics.p99LatencyMs has the wrong type" },
        { "negative crashes", "{\"pop\":\"p\",\"metrics\":{\"requests\":5,\"errors\":0,\"p99LatencyMs\":1,\"crashes\":-2}}", "metrics.crashes must be 0 or more" },
        { "missing pop", "{\"region\":\"eu\"}", "pop is required" },
        { "bad pop", "{\"pop\":\"AMS 01\"}", "pop 'AMS 01' must match" },
        { "unknown unit", "{\"pop\":\"p\",\"applied\":{\"never-defined-unit\":{\"version\":1}}}", "applied: unknown unit 'never-defined-unit'" },
        { "bad sha", "{\"pop\":\"p\",\"applied\":{\"u\":{\"version\":1,\"sha256\":\"xyz\"}}}", "sha256 must be 64 lower-case hex characters" },
        { "zero interval", "{\"pop\":\"p\",\"intervalSeconds\":0}", "intervalSeconds must be greater than 0" },
    };

    [Theory]
    [MemberData(nameof(BadReports))]
    public async Task A_bad_single_report_is_400_and_registers_nothing(string _, string body, string detail)
    {
        var node = TestStorage.Unique("node");
        using var response = await _agent.PostAsync($"/v1/nodes/{node}/report", Http.Json(body));
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Contains(detail, (string?)(await response.ReadJson())["detail"]);
        var (missing, _) = await _reader.Get($"/v1/nodes/{node}");
        Assert.Equal(404, missing);
    }

    [Fact]
    public async Task In_a_batch_each_bad_report_gets_its_own_error_and_the_good_ones_are_answered_in_order()
    {
        var (unit, _) = await UnitWithPackage();
        var pop = TestStorage.Unique("pop");
        var good1 = TestStorage.Unique("node");
        var good2 = TestStorage.Unique("node");
        var bad = TestStorage.Unique("node");
        var body = $$"""
        { "reports": [
            { "node": "{{good1}}", "pop": "{{pop}}", "labels": { "report-test": "{{unit}}" }, "metrics": { "requests": 10, "errors": 0, "p99LatencyMs": 5, "crashes": 0 } },
            { "node": "{{bad}}", "pop": "{{pop}}", "metrics": { "requests": 10, "errors": 11, "p99LatencyMs": 5, "crashes": 0 } },
            { "node": "typed-wrong", "pop": "{{pop}}", "metrics": { "requests": "many" } },
            42,
            { "node": "{{good2}}", "pop": "{{pop}}", "labels": { "report-test": "{{unit}}" }, "applied": { "{{unit}}": { "version": 1 } } }
        ] }
        """;
        using var response = await _agent.PostAsync("/v1/reports", Http.Json(body));
        Assert.Equal(200, (int)response.StatusCode);
        var results = (await response.ReadJson())["results"]!.AsArray();

        Assert.Equal(5, results.Count);
        Assert.Equal(good1, (string?)results[0]!["node"]);
        Assert.Equal(1, (long?)results[0]!["desired"]![unit]!["version"]);
        Assert.Null(results[0]!["error"]);
        Assert.Equal(bad, (string?)results[1]!["node"]);
        Assert.Contains("must not exceed metrics.requests", (string?)results[1]!["error"]);
        Assert.Null(results[1]!["desired"]);
        Assert.Contains("$.metrics.requests has the wrong type", (string?)results[2]!["error"]);
        Assert.Equal("report must be an object", (string?)results[3]!["error"]);
        Assert.Equal(good2, (string?)results[4]!["node"]);
        Assert.Null(results[4]!["error"]);

        var (missing, _) = await _reader.Get($"/v1/nodes/{bad}");
        Assert.Equal(404, missing);
        var (_, fleet) = await _reader.Get("/v1/fleet");
        Assert.Equal(2, (int?)fleet["pops"]!.AsArray().Single(p => (string?)p!["pop"] == pop)!["nodes"]);
    }

    [Fact]
    public async Task In_a_well_formed_batch_every_report_of_a_node_named_twice_is_refused_and_the_rest_answered()
    {
        var pop = TestStorage.Unique("pop");
        var (twiceA, twiceB, once) = (TestStorage.Unique("node"), TestStorage.Unique("node"), TestStorage.Unique("node"));
        string Report(string node) => $$"""{ "node": "{{node}}", "pop": "{{pop}}", "metrics": { "requests": 10, "errors": 0, "p99LatencyMs": 5, "crashes": 0 } }""";
        var body = $$"""{ "reports": [ {{Report(twiceA)}}, {{Report(twiceB)}}, null, {{Report(once)}}, {{Report(twiceA)}}, {{Report(twiceB)}} ] }""";

        using var response = await _agent.PostAsync("/v1/reports", Http.Json(body));
        Assert.Equal(200, (int)response.StatusCode);
        var results = (await response.ReadJson())["results"]!.AsArray();

        Assert.Equal(
            [
                $"node '{twiceA}' appears more than once in this batch", $"node '{twiceB}' appears more than once in this batch",
                "report must be an object", null,
                $"node '{twiceA}' appears more than once in this batch", $"node '{twiceB}' appears more than once in this batch",
            ],
            results.Select(r => (string?)r!["error"]));
        Assert.Equal(once, (string?)results[3]!["node"]);
        Assert.Equal(404, (await _reader.Get($"/v1/nodes/{twiceB}")).Status);
        Assert.Equal(200, (await _reader.Get($"/v1/nodes/{once}")).Status);
    }

    [Fact]
    public async Task A_long_poll_answers_as_soon_as_the_desired_state_changes()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", new { owner = "edge", targets = new { labels = new Dictionary<string, string> { ["report-test"] = unit } } });
        await _ci.Post($"/v1/units/{unit}/packages", new { content = "{}" });
        await _ci.Put($"/v1/plans/{FirstPackage.PlanName}", FirstPackage.Plan);
        var node = TestStorage.Unique("node");
        var (_, first) = await _agent.Post($"/v1/nodes/{node}/report", Report(TestStorage.Unique("pop"), labels: Consuming(unit)));
        Assert.Null(first["desired"]![unit]);

        var clock = Stopwatch.StartNew();
        var poll = _agent.Get($"/v1/nodes/{node}/desired?waitSeconds=20&stamp={(string?)first["stamp"]}");
        await Task.Delay(300);
        Assert.False(poll.IsCompleted, "the long poll answered before anything changed");
        // The unit's first package reaches the node through its rollout's wave.
        var (started, rollout) = await _ci.Post("/v1/rollouts", new { unit, version = 1, plan = FirstPackage.PlanName, reason = "long-poll test" });
        Assert.True(started == 201, rollout.ToJsonString());
        var (status, changed) = await poll;

        Assert.Equal(200, status);
        Assert.Equal(1, (long?)changed["desired"]![unit]!["version"]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the long poll took {clock.Elapsed} to see the change");
    }

    [Fact]
    public async Task A_long_poll_with_nothing_changing_answers_after_the_wait()
    {
        var node = TestStorage.Unique("node");
        var (_, first) = await _agent.Post($"/v1/nodes/{node}/report", Report(TestStorage.Unique("pop")));
        var clock = Stopwatch.StartNew();
        var (status, same) = await _agent.Get($"/v1/nodes/{node}/desired?waitSeconds=1&stamp={(string?)first["stamp"]}");
        Assert.Equal(200, status);
        Assert.Equal((string?)first["stamp"], (string?)same["stamp"]);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"answered after {clock.Elapsed}, before the wait ended");

        var (tooLong, problem) = await _agent.Get($"/v1/nodes/{node}/desired?waitSeconds=999");
        Assert.Equal(400, tooLong);
        Assert.Contains("waitSeconds must be between 0 and 25", (string?)problem["detail"]);
    }

    /// <summary>A unit consumed only by nodes labelled <c>report-test</c> with its name, its first package rolled out (so its LKG) before any of them reports.</summary>
    private async Task<(string Unit, string Sha)> UnitWithPackage()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", new
        {
            owner = "bot-management", kind = "file", validators = new { maxBytes = 65536, format = "json", maxItems = new { path = "$.features", max = 200 } },
            targets = new { labels = new Dictionary<string, string> { ["report-test"] = unit } },
        });
        var (_, package) = await _ci.Post($"/v1/units/{unit}/packages", new { content = Http.Features(5) });
        await _ci.RollOutFirstAsync(unit);
        return (unit, (string)package["sha256"]!);
    }

    private static Dictionary<string, string> Consuming(string unit) => new() { ["proxy"] = "fl2", ["report-test"] = unit };
}
