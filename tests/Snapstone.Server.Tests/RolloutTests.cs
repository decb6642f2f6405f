using Snapstone.Simulator.Consumers;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>Health-mediated rollouts end to end: real server, real storage, a simulated fleet over HTTP.</summary>
public sealed class RolloutTests
{
    [Fact]
    public async Task A_good_package_walks_every_wave_and_becomes_the_lkg()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale);
        var good = await scenario.PublishAsync(Http.Features(160));
        var id = await scenario.StartRolloutAsync(good);

        var done = await scenario.TickUntilState(id, "completed", "rolled-back", "paused");

        Assert.True((string?)done["state"] == "completed", done.ToJsonString());
        Assert.All(done["waves"]!.AsArray(), w => Assert.Equal("passed", (string?)w!["state"]));
        Assert.Equal(scenario.Fleet.Nodes.Count, (int?)done["waves"]![2]!["targeted"]);
        var (_, unit) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Equal(good, (long?)unit["lkgVersion"]);
        Assert.Null(unit["activeRollout"]);
        await scenario.TickUntil(() => Task.FromResult(scenario.Fleet.NodesOn(scenario.Unit, good).Count == scenario.Fleet.Nodes.Count), "every node to run the new package");
        var types = done["timeline"]!.AsArray().Select(e => (string?)e!["type"]).ToList();
        Assert.Equal(3, types.Count(t => t == "wave-started"));
        Assert.Equal("completed", types[^1]);
    }

    [Fact]
    public async Task A_bad_package_is_rolled_back_from_the_canary_wave_and_never_reaches_another_node()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailClosed);
        var canaries = scenario.Fleet.Nodes.Where(n => n.Profile.IsCanary).Select(n => n.Id).ToHashSet();
        var bad = await scenario.PublishAsync(Http.Features(201));
        var id = await scenario.StartRolloutAsync(bad);

        var done = await scenario.TickUntilState(id, "rolled-back", "completed");
        await scenario.TickUntil(() => Task.FromResult(scenario.Fleet.NodesOn(scenario.Unit, 1).Count == scenario.Fleet.Nodes.Count), "every node back on v1");

        Assert.Equal("rolled-back", (string?)done["state"]);
        var everApplied = scenario.Fleet.NodesEverApplied(scenario.Unit, bad);
        Assert.NotEmpty(everApplied);
        Assert.Subset(canaries, everApplied.ToHashSet());
        Assert.Equal(0, (int?)done["currentWave"]);
        Assert.Equal((int?)done["rollback"]!["targeted"], (int?)done["rollback"]!["confirmed"]);
        Assert.Equal(canaries.Count, (int?)done["rollback"]!["targeted"]);
        var types = done["timeline"]!.AsArray().Select(e => (string?)e!["type"]).ToList();
        Assert.Contains("node-signal", types);
        Assert.Contains("rollback-started", types);
        Assert.Equal("rolled-back", types[^1]);

        var (_, unit) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Equal(1, (long?)unit["lkgVersion"]);
        Assert.Contains(bad, unit["quarantined"]!.AsArray().Select(v => (long)v!));
        var (again, problem) = await scenario.Ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = bad, reason = "retry" });
        Assert.Equal(409, again);
        Assert.Contains("quarantined", (string?)problem["detail"]);
    }
}
