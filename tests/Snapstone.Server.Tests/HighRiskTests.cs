using System.Text.Json;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>High-risk pipelines: the server enforces stricter plans, a second person's approval and refuses critical changes.</summary>
[Collection(ServerCollection.Name)]
public sealed class HighRiskTests(ServerFixture fixture)
{
    private readonly HttpClient _ci = fixture.Server.Client("ci");
    private readonly HttpClient _reviewer = fixture.Server.Client("reviewer");

    private async Task<string> LaxPlan()
    {
        var plan = TestStorage.Unique("lax");
        var (status, _) = await _ci.Put($"/v1/plans/{plan}", new { waves = new object[] { new { name = "all", select = new { percent = 100 }, bakeSeconds = 1 } } });
        Assert.Equal(200, status);
        return plan;
    }

    [Fact]
    public async Task A_high_risk_unit_naming_a_lax_plan_still_gets_the_high_risk_plan_and_waits_for_a_second_person()
    {
        var unit = TestStorage.Unique("flags");
        var lax = await LaxPlan();
        await _ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "flag", riskTier = "high", plan = lax });
        await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"killswitch\": false}" });
        var (_, package) = await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"killswitch\": true}" });
        Assert.Equal("high", (string?)package["risk"]!["level"]);

        var (status, rollout) = await CreatorWithApprove().Post("/v1/rollouts", new { unit, version = 2, reason = "flip it" });
        Assert.Equal(201, status);
        Assert.Equal("high-risk", (string?)rollout["plan"]);
        Assert.Contains($"plan raised from '{lax}' to 'high-risk'", (string?)rollout["notes"]![0]);
        Assert.Equal(7, rollout["waves"]!.AsArray().Count);
        Assert.Equal("awaiting-approval", (string?)rollout["state"]);
        var id = (string)rollout["id"]!;

        var (byCreator, creatorProblem) = await CreatorWithApprove().Post($"/v1/rollouts/{id}/approve", new { reason = "looks fine to me" });
        Assert.Equal(403, byCreator);
        Assert.StartsWith("ci-approver created this rollout and may not approve it", (string?)creatorProblem["detail"]);
        var (ciCannot, _) = await _ci.Post($"/v1/rollouts/{id}/approve", new { reason = "x" });
        Assert.Equal(403, ciCannot);

        var (approved, after) = await _reviewer.Post($"/v1/rollouts/{id}/approve", new { reason = "reviewed the diff" });
        Assert.Equal(200, approved);
        Assert.Equal("reviewer", (string?)after["waves"]![0]!["approvedBy"]);
        Assert.NotEqual("awaiting-approval", (string?)after["state"]);
    }

    /// <summary>A token with deploy and approve: it starts the rollout, so it may not approve it.</summary>
    private HttpClient CreatorWithApprove() => fixture.Server.Client("ci-approver");

    [Fact]
    public async Task A_feature_file_doubled_past_its_limit_is_refused_at_creation_and_never_reaches_a_node()
    {
        var unit = TestStorage.Unique("features");
        var labels = new Dictionary<string, string> { ["high-risk-test"] = unit };
        await _ci.Put($"/v1/units/{unit}", new
        {
            owner = "bot-management", kind = "file", riskTier = "standard", failureMode = "fail-stale",
            validators = new { maxBytes = 65536, format = "json", maxItems = new { path = "$.features", max = 200 }, maxGrowthPercent = 50 },
            targets = new { labels },
        });
        await _ci.Post($"/v1/units/{unit}/packages", new { content = Http.Features(150) });
        await _ci.RollOutFirstAsync(unit);
        var (status, package) = await _ci.Post($"/v1/units/{unit}/packages", new { content = Http.Features(300) });

        Assert.Equal(422, status);
        var findings = package["validation"]!["findings"]!.AsArray();
        Assert.Contains(findings, f => (string?)f!["rule"] == "max-items" && (string?)f["message"] == "$.features holds 300 items; the unit allows at most 200");
        Assert.True((bool?)package["risk"]!["critical"]);

        var node = TestStorage.Unique("node");
        var (_, answer) = await fixture.Server.Client("agent").Post($"/v1/nodes/{node}/report", new { pop = "p1", labels });
        Assert.Equal(1, (long?)answer["desired"]![unit]!["version"]);
        var (refused, problem) = await _ci.Post("/v1/rollouts", new { unit, version = 2, reason = "push it" });
        Assert.Equal(409, refused);
        Assert.Contains("rejected by validation", (string?)problem["detail"]);
    }

    [Fact]
    public async Task A_file_more_than_doubled_in_size_is_a_critical_change_even_without_a_growth_validator()
    {
        var unit = TestStorage.Unique("blob");
        await _ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "file", targets = new { labels = new Dictionary<string, string> { ["high-risk-test"] = unit } } });
        await _ci.Post($"/v1/units/{unit}/packages", new { content = new string('a', 2000) });
        await _ci.RollOutFirstAsync(unit);
        var (status, package) = await _ci.Post($"/v1/units/{unit}/packages", new { content = new string('a', 4500) });
        Assert.Equal(422, status);
        Assert.Contains(package["validation"]!["findings"]!.AsArray(), f => (string?)f!["rule"] == "critical-change" && ((string?)f["message"])!.Contains("2000 → 4500"));
    }

    [Fact]
    public async Task Pipelines_are_ranked_by_risk_with_reasons_and_recent_rollouts()
    {
        var flag = TestStorage.Unique("flag");
        var file = TestStorage.Unique("file");
        await _ci.Put($"/v1/units/{flag}", new { owner = "edge", kind = "flag" });
        await _ci.Put($"/v1/units/{file}", new { owner = "edge", kind = "file", riskTier = "standard", failureMode = "fail-stale" });

        var (status, body) = await fixture.Server.Client("reader").Get("/v1/risk/pipelines");
        Assert.Equal(200, status);
        var pipelines = body["pipelines"]!.AsArray().Select(p => p!).ToList();
        var flagAt = pipelines.FindIndex(p => (string?)p["unit"] == flag);
        var fileAt = pipelines.FindIndex(p => (string?)p["unit"] == file);
        Assert.True(flagAt >= 0 && fileAt > flagAt, $"flag at {flagAt}, file at {fileAt}");
        Assert.Equal("high", (string?)pipelines[flagAt]["risk"]!["level"]);
        Assert.Contains(pipelines[flagAt]["risk"]!["reasons"]!.AsArray(), r => ((string?)r)!.Contains("high-risk unless its tier is declared"));
        Assert.Equal("standard", (string?)pipelines[fileAt]["risk"]!["level"]);
        Assert.False((bool?)pipelines[fileAt]["breakGlassUsed"]);
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(pipelines[fileAt]["lastRollouts"]!.ToJsonString()).RootElement.ValueKind);
    }
}
