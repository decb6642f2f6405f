using System.Text.Json.Nodes;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// A unit's first package reaches nodes only through a rollout. Tests whose subject is not the rollout get it out
/// with <see cref="RollOutFirstAsync"/> before any node consumes the unit: every wave is then empty and passes at
/// once, and the package becomes the LKG that the nodes' first reports are answered with.
/// </summary>
public static class FirstPackage
{
    public const string PlanName = "first-package";

    /// <summary>One wave, everyone, no bake.</summary>
    public static readonly object Plan = new { waves = new object[] { new { name = "all", select = new { percent = 100 }, bakeSeconds = 0 } } };

    /// <summary>
    /// Rolls <paramref name="version"/> of <paramref name="unit"/> out on <see cref="Plan"/> and waits until it completes.
    /// The unit must target a label no node that has reported carries, or the wave waits for those nodes.
    /// </summary>
    public static async Task<JsonNode> RollOutFirstAsync(this HttpClient ci, string unit, long version = 1)
    {
        var (planned, plan) = await ci.Put($"/v1/plans/{PlanName}", Plan);
        Assert.True(planned == 200, plan.ToJsonString());
        var (started, rollout) = await ci.Post("/v1/rollouts", new { unit, version, plan = PlanName, reason = "the unit's first package" });
        Assert.True(started == 201, $"starting the first rollout of {unit} answered {started}: {rollout.ToJsonString()}");
        var id = (string)rollout["id"]!;
        return await Eventually.Until(async () => (await ci.Get($"/v1/rollouts/{id}")).Body, r => (string?)r["state"] is "completed" or "paused" or "rolled-back",
            $"the first rollout {id} of {unit} to complete", TimeSpan.FromSeconds(30)) is { } done && (string?)done["state"] == "completed"
            ? done
            : throw new InvalidOperationException($"the first rollout {id} of {unit} did not complete");
    }
}
