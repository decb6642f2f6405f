using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// Break-glass actions own their sequences: the server is killed (SIGKILL) part-way through one and started again on
/// the same storage, and the action finishes by itself. The kill lands the moment the server logs that the action is
/// stored and registered for recovery, while its fan-out, confirmations and incident are still under way.
/// </summary>
public sealed partial class BreakGlassRecoveryTests
{
    [GeneratedRegex(@"Break-glass (\w+) (bg-[0-9a-f]{16}) recorded")]
    private static partial Regex Recorded();

    /// <summary>Sends the request, kills the server as soon as the action is recorded, starts it again; answers the action's id.</summary>
    private static async Task<string> KillMidAction(RolloutScenario scenario, string kind, Func<Task> request)
    {
        var seen = scenario.Server.Log.Length;
        var sent = request();
        var match = await Eventually.Until(() => Task.FromResult(Recorded().Matches(scenario.Server.Log[seen..]).FirstOrDefault(m => m.Groups[1].Value == kind)),
            m => m is not null, $"the server to log the {kind} action as recorded", TimeSpan.FromSeconds(30));
        await scenario.Server.KillAsync();
        try
        {
            await sent;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            // Killed before it answered: the action goes on regardless.
        }
        await scenario.Server.StartAgainAsync();
        return match!.Groups[2].Value;
    }

    private static async Task<JsonNode> Action(RolloutScenario scenario, string id) =>
        (await scenario.Server.Client("oncall").Get($"/v1/breakglass/actions/{id}")).Body;

    [Fact]
    public async Task An_instant_rollback_killed_mid_fan_out_finishes_after_a_restart_every_node_on_the_lkg_and_its_incident_rolled_back()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 40);
        var v2 = await scenario.PublishAsync(Http.Features(156));
        var rolloutId = await BreakGlassTests.RolloutOnSlowPlan(scenario, v2);
        Assert.NotEmpty(scenario.Fleet.NodesOn(scenario.Unit, v2));

        var id = await KillMidAction(scenario, "Rollback",
            () => scenario.Server.Client("oncall").Post("/v1/breakglass/rollback", new { unit = scenario.Unit, reason = "customers see errors" }));

        var done = await scenario.TickUntilAction(id, a => a["completedAt"] is not null, "the rollback to finish after the restart");
        Assert.Equal(scenario.Fleet.Nodes.Count, (int?)done["targeted"]);
        Assert.Equal(scenario.Fleet.Nodes.Count, (int?)done["confirmed"]);
        Assert.Equal(1, (long?)done["targetVersion"]);
        Assert.Equal(scenario.Fleet.Nodes.Count, scenario.Fleet.NodesOn(scenario.Unit, 1).Count);
        var (_, unit) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Equal(1, (long?)unit["lkgVersion"]);
        Assert.Contains(v2, unit["quarantined"]!.AsArray().Select(v => (long)v!));
        Assert.Equal("aborted", (string?)(await scenario.RolloutAsync(rolloutId))["state"]);

        var incident = await Eventually.Until(async () => (await scenario.Ci.Get($"/v1/incidents/{(string)done["incident"]!}")).Body,
            i => i["updates"]?.AsArray().Any(u => (string?)u!["status"] == "rolled-back") == true, "the incident to reach rolled-back");
        Assert.Equal(["detected", "halted", "rolling-back", "rolled-back", "monitoring"], incident["updates"]!.AsArray().Select(u => (string?)u!["status"]));
        var (_, verified) = await scenario.Ci.Get("/v1/audit/verify");
        Assert.True((bool?)verified["valid"], verified.ToJsonString());
        var (_, log) = await scenario.Ci.Get("/v1/audit?limit=1000");
        Assert.Single(log["entries"]!.AsArray(), e => (string?)e!["action"] == "breakglass.rollback");
    }

    [Fact]
    public async Task A_freeze_killed_part_way_finishes_after_a_restart_with_the_rollout_paused_and_its_incident_opened()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 30);
        var v2 = await scenario.PublishAsync(Http.Features(157));
        var rolloutId = await BreakGlassTests.RolloutOnSlowPlan(scenario, v2);

        var id = await KillMidAction(scenario, "Freeze",
            () => scenario.Server.Client("oncall").Post("/v1/breakglass/freeze", new { unit = scenario.Unit, reason = "hold everything", ttlSeconds = 3600 }));

        var done = await scenario.TickUntilAction(id, a => a["completedAt"] is not null, "the freeze to finish after the restart");
        Assert.Equal("freeze", (string?)done["kind"]);
        Assert.Equal("hold everything", (string?)done["freeze"]!["reason"]);
        var paused = await scenario.TickUntilRollout(rolloutId, r => (string?)r["state"] == "paused", "the rollout to be paused by the freeze");
        Assert.Contains("is frozen by oncall", (string?)paused["pausedReason"]);
        var (_, freezes) = await scenario.Server.Client("oncall").Get("/v1/breakglass/freeze");
        Assert.Single(freezes["freezes"]!.AsArray(), f => (string?)f!["unit"] == scenario.Unit);
        var incident = await Eventually.Until(async () => (await scenario.Ci.Get($"/v1/incidents/{(string)done["incident"]!}")).Body,
            i => i["updates"] is not null, "the freeze's incident to be opened");
        Assert.Equal(["detected", "halted"], incident["updates"]!.AsArray().Select(u => (string?)u!["status"]));
        var (refused, _) = await scenario.Ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = v2, reason = "after the restart" });
        Assert.Equal(409, refused);
    }

    [Fact]
    public async Task An_emergency_deploy_killed_part_way_finishes_after_a_restart_and_its_package_reaches_every_node()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 30);
        var v2 = await scenario.PublishAsync(Http.Features(158));

        var id = await KillMidAction(scenario, "Deploy",
            () => scenario.Server.Client("oncall").Post("/v1/breakglass/deploy", new { unit = scenario.Unit, version = v2, reason = "the fix, now" }));

        var done = await scenario.TickUntilAction(id, a => a["completedAt"] is not null, "the deploy to finish after the restart");
        var rolloutId = (string)done["rollout"]!;
        Assert.Equal("emergency", (string?)(await scenario.RolloutAsync(rolloutId))["plan"]);
        await scenario.TickUntil(() => Task.FromResult(scenario.Fleet.NodesOn(scenario.Unit, v2).Count == scenario.Fleet.Nodes.Count),
            "every node to run the emergency package");
        var incident = await Eventually.Until(async () => (await scenario.Ci.Get($"/v1/incidents/{(string)done["incident"]!}")).Body,
            i => i["updates"] is not null, "the deploy's incident to be opened");
        Assert.Equal(["detected", "monitoring"], incident["updates"]!.AsArray().Select(u => (string?)u!["status"]));
        var (_, log) = await scenario.Ci.Get("/v1/audit?limit=1000");
        Assert.Single(log["entries"]!.AsArray(), e => (string?)e!["action"] == "breakglass.deploy");
    }

    [Fact]
    public async Task A_break_glass_rollback_after_a_completed_rollout_reverts_every_node_to_the_version_before_it_within_two_report_intervals()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 40);
        var v2 = await scenario.PublishAsync(Http.Features(159));
        var rollout = await scenario.StartRolloutAsync(v2);
        await scenario.TickUntilState(rollout, "completed");
        await scenario.TickUntil(() => Task.FromResult(scenario.Fleet.NodesOn(scenario.Unit, v2).Count == scenario.Fleet.Nodes.Count), "every node to run v2");
        var (_, before) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Equal(v2, (long?)before["lkgVersion"]);
        Assert.Null(before["activeRollout"]);

        var (status, action) = await scenario.Server.Client("oncall").Post("/v1/breakglass/rollback", new { unit = scenario.Unit, reason = "v2 went bad an hour after it completed" });
        Assert.Equal(202, status);
        Assert.Equal(1, (long?)action["targetVersion"]);
        Assert.Equal(v2, (long?)action["takenBackVersion"]);
        Assert.Equal([v2], action["quarantined"]!.AsArray().Select(v => (long)v!));
        Assert.Equal(scenario.Fleet.Nodes.Count, (int?)action["targeted"]);

        // Two report intervals: the first report learns v1 and applies it, the second reports it.
        await scenario.Fleet.TickAsync();
        await scenario.Fleet.TickAsync();
        Assert.Equal(scenario.Fleet.Nodes.Count, scenario.Fleet.NodesOn(scenario.Unit, 1).Count);
        var done = await Eventually.Until(() => Action(scenario, (string)action["id"]!), a => a["completedAt"] is not null,
            "the revert to count every confirmation", TimeSpan.FromSeconds(10));
        Assert.Equal(scenario.Fleet.Nodes.Count, (int?)done["confirmed"]);
        Assert.Null(done["outcome"]);

        var (_, unit) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Equal(1, (long?)unit["lkgVersion"]);
        Assert.Contains(v2, unit["quarantined"]!.AsArray().Select(v => (long)v!));
        var (again, problem) = await scenario.Ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = v2, reason = "retry" });
        Assert.Equal(409, again);
        Assert.Contains("quarantined", (string?)problem["detail"]);

        // A node that reports for the first time now is told v1: the LKG moved back.
        var (_, fresh) = await scenario.Server.Client("agent").Post($"/v1/nodes/{TestStorage.Unique("node")}/report", new { pop = "pop-late" });
        Assert.Equal(1, (long?)fresh["desired"]![scenario.Unit]!["version"]);
    }

    [Fact]
    public async Task A_break_glass_rollback_to_an_explicit_version_and_one_with_nothing_to_take_back_are_answered_exactly()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 20);
        var oncall = scenario.Server.Client("oncall");
        var v2 = await scenario.PublishAsync(Http.Features(160));
        await scenario.TickUntilState(await scenario.StartRolloutAsync(v2), "completed");
        var v3 = await scenario.PublishAsync(Http.Features(161));
        await scenario.TickUntilState(await scenario.StartRolloutAsync(v3), "completed");

        var (badTarget, problem) = await oncall.Post("/v1/breakglass/rollback", new { unit = scenario.Unit, reason = "x", toVersion = 99 });
        Assert.Equal(404, badTarget);
        Assert.Equal("toVersion: the unit has no package version 99", (string?)problem["detail"]);

        var (status, action) = await oncall.Post("/v1/breakglass/rollback", new { unit = scenario.Unit, reason = "back past v2 too", toVersion = 1 });
        Assert.Equal(202, status);
        Assert.Equal((1L, v3), ((long?)action["targetVersion"], (long?)action["takenBackVersion"]));
        await scenario.TickUntil(() => Task.FromResult(scenario.Fleet.NodesOn(scenario.Unit, 1).Count == scenario.Fleet.Nodes.Count), "every node back on v1");
        var (_, unit) = await scenario.Ci.Get($"/v1/units/{scenario.Unit}");
        Assert.Equal(1, (long?)unit["lkgVersion"]);

        var fresh = TestStorage.Unique("unit");
        await scenario.Ci.Put($"/v1/units/{fresh}", new { owner = "edge", targets = new { labels = new Dictionary<string, string> { ["nobody"] = fresh } } });
        var (nothing, none) = await oncall.Post("/v1/breakglass/rollback", new { unit = fresh, reason = "nothing out there" });
        Assert.Equal(409, nothing);
        Assert.Equal("the unit has no rollout in flight and no completed version to take back", (string?)none["detail"]);
    }
}

public static class BreakGlassScenario
{
    /// <summary>Ticks the fleet until the break-glass action satisfies <paramref name="done"/>.</summary>
    public static async Task<JsonNode> TickUntilAction(this RolloutScenario scenario, string id, Func<JsonNode, bool> done, string what)
    {
        JsonNode last = new JsonObject();
        await scenario.TickUntil(async () =>
        {
            last = (await scenario.Server.Client("oncall").Get($"/v1/breakglass/actions/{id}")).Body;
            return done(last);
        }, what);
        return last;
    }
}
