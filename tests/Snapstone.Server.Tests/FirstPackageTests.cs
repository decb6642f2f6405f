using System.Text.Json.Nodes;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// No change skips the waves, a unit's first package included. The agents here are written out so the test controls
/// exactly what they run: a unit missing from the desired state means the agent's built-in default (it lists nothing
/// for the unit), and a fail-closed consumer crashes on the bad version.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class FirstPackageTests(ServerFixture fixture)
{
    private readonly HttpClient _ci = fixture.Server.Client("ci");
    private readonly HttpClient _oncall = fixture.Server.Client("oncall");

    /// <summary>Edge agents for one unit: each runs a version of it or its built-in default (null), and crashes while running <see cref="Bad"/>.</summary>
    private sealed class EdgeAgents(HttpClient agent, string unit, IReadOnlyList<(string Node, string Pop, string Tier)> nodes)
    {
        public Dictionary<string, long?> Running { get; } = nodes.ToDictionary(n => n.Node, _ => (long?)null);
        public HashSet<string> EverRan { get; } = [];
        public long? Bad { get; set; }

        /// <summary>One report round: each agent reports what it runs (and a crash while on the bad version), then takes its desired state.</summary>
        public async Task<IReadOnlyDictionary<string, long?>> Round()
        {
            var reports = nodes.Select(n => new Dictionary<string, object?>
            {
                ["node"] = n.Node, ["pop"] = n.Pop, ["region"] = "eu-west", ["tier"] = n.Tier,
                ["labels"] = new Dictionary<string, string> { ["first-package-test"] = unit },
                ["applied"] = Running[n.Node] is { } v ? new Dictionary<string, object> { [unit] = new { version = v, status = "ok" } } : new Dictionary<string, object>(),
                ["metrics"] = Running[n.Node] is { } on && on == Bad
                    ? new { requests = 1000, errors = 1000, p99LatencyMs = 20.0, crashes = 1 }
                    : new { requests = 1000, errors = 0, p99LatencyMs = 20.0, crashes = 0 },
                ["intervalSeconds"] = 1,
            }).ToList();
            var (status, body) = await agent.Post("/v1/reports", new { reports });
            Assert.True(status == 200, body.ToJsonString());
            var desired = new Dictionary<string, long?>();
            foreach (var result in body["results"]!.AsArray())
            {
                var node = (string)result!["node"]!;
                Assert.True(result["error"] is null, result.ToJsonString());
                desired[node] = (long?)result["desired"]![unit]?["version"];
                Running[node] = desired[node];
                if (desired[node] is not null)
                {
                    EverRan.Add(node);
                }
            }
            return desired;
        }
    }

    private async Task<(string Unit, EdgeAgents EdgeAgents, List<string> Canaries)> UnitAndFleet(string failureMode)
    {
        var unit = TestStorage.Unique("unit");
        var (planned, _) = await _ci.Put("/v1/plans/first-canary", new
        {
            waves = new object[]
            {
                new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 3, gates = new { minReportingFraction = 1.0 } },
                new { name = "all", select = new { percent = 100 }, bakeSeconds = 1 },
            },
        });
        Assert.Equal(200, planned);
        var (defined, body) = await _ci.Put($"/v1/units/{unit}", new
        {
            owner = "edge", kind = "file", riskTier = "standard", failureMode, plan = "first-canary",
            targets = new { labels = new Dictionary<string, string> { ["first-package-test"] = unit } },
        });
        Assert.True(defined == 200, body.ToJsonString());
        var pops = new[] { TestStorage.Unique("pop"), TestStorage.Unique("pop") };
        var nodes = pops.SelectMany(pop => Enumerable.Range(1, 4).Select(i => ($"{pop}-n{i}", pop, i == 1 ? "canary" : "edge"))).ToList();
        var agents = new EdgeAgents(fixture.Server.Client("agent"), unit, nodes);
        return (unit, agents, [.. nodes.Where(n => n.Item3 == "canary").Select(n => n.Item1)]);
    }

    [Fact]
    public async Task A_bad_first_package_starts_with_the_canary_is_caught_there_and_its_canaries_return_to_no_package()
    {
        var (unit, agents, canaries) = await UnitAndFleet("fail-closed");
        Assert.All((await agents.Round()).Values, Assert.Null);

        var (created, package) = await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"crash\": true}" });
        Assert.Equal(201, created);
        Assert.False((bool?)package["lkg"]);
        agents.Bad = 1;
        // Published is not deployed: no node is told to run a package no rollout sent it.
        Assert.All((await agents.Round()).Values, Assert.Null);
        var (_, view) = await _ci.Get($"/v1/units/{unit}");
        Assert.Null(view["lkgVersion"]);

        var (started, rollout) = await _ci.Post("/v1/rollouts", new { unit, version = 1, reason = "a brand-new killswitch" });
        Assert.Equal(201, started);
        Assert.Null(rollout["previousVersion"]);
        var id = (string)rollout["id"]!;
        var desired = await agents.Round();
        Assert.Equal(canaries.Order(), desired.Where(d => d.Value == 1).Select(d => d.Key).Order());

        JsonNode done = null!;
        await Eventually.Until(async () =>
        {
            await agents.Round();
            done = (await _ci.Get($"/v1/rollouts/{id}")).Body;
            return (string?)done["state"] == "rolled-back";
        }, "the bad first package to be rolled back from the canary", TimeSpan.FromSeconds(60));

        Assert.Equal(0, (int?)done["currentWave"]);
        Assert.Equal(canaries.Count, (int?)done["waves"]![0]!["targeted"]);
        Assert.Equal((canaries.Count, canaries.Count), ((int?)done["rollback"]!["targeted"], (int?)done["rollback"]!["confirmed"]));
        Assert.Equal(canaries.Order(), agents.EverRan.Order());
        Assert.All((await agents.Round()).Values, Assert.Null);
        Assert.All(agents.Running.Values, Assert.Null);
        var (_, after) = await _ci.Get($"/v1/units/{unit}");
        Assert.Null(after["lkgVersion"]);
        Assert.Equal([1L], after["quarantined"]!.AsArray().Select(v => (long)v!));
    }

    [Fact]
    public async Task A_good_first_package_reaches_everyone_only_when_its_rollout_completes_and_a_freeze_holds_it()
    {
        var (unit, agents, canaries) = await UnitAndFleet("fail-stale");
        await agents.Round();
        await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"fine\": true}" });
        var (frozen, _) = await _oncall.Post("/v1/breakglass/freeze", new { unit, reason = "no new configuration today" });
        Assert.Equal(200, frozen);
        var (refused, problem) = await _ci.Post("/v1/rollouts", new { unit, version = 1, reason = "first" });
        Assert.Equal(409, refused);
        Assert.StartsWith($"unit '{unit}' is frozen by oncall", (string?)problem["detail"]);
        await _oncall.Send(HttpMethod.Delete, $"/v1/breakglass/freeze?unit={unit}");

        var (started, rollout) = await _ci.Post("/v1/rollouts", new { unit, version = 1, reason = "first" });
        Assert.Equal(201, started);
        var id = (string)rollout["id"]!;
        var desired = await agents.Round();
        Assert.Equal(canaries.Order(), desired.Where(d => d.Value == 1).Select(d => d.Key).Order());
        // Frozen mid-rollout: the canary keeps v1, nobody else gets it, and the wave does not advance.
        await _oncall.Post("/v1/breakglass/freeze", new { unit, reason = "hold it" });
        var paused = (await _ci.Get($"/v1/rollouts/{id}")).Body;
        Assert.Equal("paused", (string?)paused["state"]);
        Assert.Equal(canaries.Count, (await agents.Round()).Count(d => d.Value == 1));
        await _oncall.Send(HttpMethod.Delete, $"/v1/breakglass/freeze?unit={unit}");

        await Eventually.Until(async () =>
        {
            await agents.Round();
            return (string?)(await _ci.Get($"/v1/rollouts/{id}")).Body["state"] == "completed";
        }, "the first package's rollout to complete", TimeSpan.FromSeconds(90));
        Assert.All((await agents.Round()).Values, v => Assert.Equal(1, v));
        var (_, view) = await _ci.Get($"/v1/units/{unit}");
        Assert.Equal(1, (long?)view["lkgVersion"]);
    }
}
