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

/// <summary>Two people really means two: one token cannot weaken a unit, take the break-glass plan, or approve its own package.</summary>
[Collection(ServerCollection.Name)]
public sealed class TwoPeopleTests(ServerFixture fixture)
{
    private readonly HttpClient _ci = fixture.Server.Client("ci");
    private readonly HttpClient _both = fixture.Server.Client("ci-approver");
    private readonly HttpClient _reviewer = fixture.Server.Client("reviewer");

    private async Task<string> HighRiskUnit()
    {
        var unit = TestStorage.Unique("flags");
        var (status, body) = await _ci.Put($"/v1/units/{unit}", new
        {
            owner = "edge", kind = "flag", riskTier = "high", failureMode = "fail-closed",
            validators = new { format = "json", maxBytes = 4096 },
            targets = new { labels = new Dictionary<string, string> { ["two-people"] = unit } },
        });
        Assert.True(status == 200, body.ToJsonString());
        return unit;
    }

    [Fact]
    public async Task Lowering_the_risk_tier_waits_for_another_token_and_its_requester_cannot_approve_it()
    {
        var unit = await HighRiskUnit();

        var (status, pending) = await _both.Put($"/v1/units/{unit}", new
        {
            owner = "edge", kind = "flag", riskTier = "standard", failureMode = "fail-stale", validators = new { format = "json", maxBytes = 4096 },
            targets = new { labels = new Dictionary<string, string> { ["two-people"] = unit } },
        });
        Assert.Equal(202, status);
        Assert.Equal("high", (string?)pending["riskTier"]);
        Assert.Equal("fail-closed", (string?)pending["failureMode"]);
        Assert.Equal("ci-approver", (string?)pending["pendingChange"]!["requestedBy"]);
        Assert.Equal(["riskTier lowered from high to standard", "failureMode lowered from fail-closed to fail-stale"],
            pending["pendingChange"]!["weakens"]!.AsArray().Select(w => (string?)w));
        var (_, read) = await _ci.Get($"/v1/units/{unit}");
        Assert.Equal("standard", (string?)read["pendingChange"]!["riskTier"]);
        Assert.Equal("high", (string?)read["riskTier"]);

        var (ownApproval, problem) = await _both.Post($"/v1/units/{unit}/approve", new { reason = "mine" });
        Assert.Equal(403, ownApproval);
        Assert.Equal("ci-approver requested this change and may not approve it; someone else must", (string?)problem["detail"]);
        var (noScope, _) = await _ci.Post($"/v1/units/{unit}/approve", new { reason = "x" });
        Assert.Equal(403, noScope);

        var (approved, after) = await _reviewer.Post($"/v1/units/{unit}/approve", new { reason = "agreed: the flag is harmless now" });
        Assert.Equal(200, approved);
        Assert.Equal(("standard", "fail-stale"), ((string?)after["riskTier"], (string?)after["failureMode"]));
        Assert.Null(after["pendingChange"]);
        var (nothing, none) = await _reviewer.Post($"/v1/units/{unit}/approve", new { reason = "again" });
        Assert.Equal(409, nothing);
        Assert.Contains("has no pending definition change", (string?)none["detail"]);

        var (_, log) = await _ci.Get("/v1/audit?limit=1000");
        var mine = log["entries"]!.AsArray().Where(e => (string?)e!["target"] == $"unit/{unit}").Select(e => ((string?)e!["action"], (string?)e["actor"])).ToList();
        Assert.Equal([("unit.define", "ci"), ("unit.define-requested", "ci-approver"), ("unit.define-approve", "reviewer")], mine);
    }

    [Fact]
    public async Task A_strengthening_redefinition_takes_effect_at_once_and_removing_a_validator_does_not()
    {
        var unit = await HighRiskUnit();
        var labels = new Dictionary<string, string> { ["two-people"] = unit };
        var (stricter, body) = await _ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "flag", riskTier = "high", failureMode = "fail-closed",
            validators = new { format = "json", maxBytes = 1024 }, targets = new { labels } });
        Assert.Equal(200, stricter);
        Assert.Equal(1024, (long?)body["validators"]!["maxBytes"]);

        var (looser, pending) = await _ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "flag", riskTier = "high", failureMode = "fail-closed",
            validators = new { }, targets = new { labels } });
        Assert.Equal(202, looser);
        Assert.Equal(1024, (long?)pending["validators"]!["maxBytes"]);
        Assert.Equal(["validators.maxBytes removed (was 1024)", "validators.format no longer json: content is no longer parse-checked"],
            pending["pendingChange"]!["weakens"]!.AsArray().Select(w => (string?)w));
    }

    [Fact]
    public async Task The_emergency_plan_is_refused_outside_break_glass()
    {
        var unit = await HighRiskUnit();
        await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"on\": true}" });
        var (refused, problem) = await _ci.Post("/v1/rollouts", new { unit, version = 1, plan = "emergency", reason = "skip the waves" });
        Assert.Equal(422, refused);
        Assert.StartsWith("plan 'emergency' is for break-glass only", (string?)problem["detail"]);
        var (asPlan, planProblem) = await _ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "flag", riskTier = "high", plan = "emergency" });
        Assert.Equal(400, asPlan);
        Assert.Contains("plan 'emergency' is for break-glass only; name another plan", (string?)planProblem["detail"]);
    }

    [Fact]
    public async Task The_packages_author_may_not_approve_its_rollout_even_when_someone_else_started_it()
    {
        var unit = await HighRiskUnit();
        var (created, package) = await _both.Post($"/v1/units/{unit}/packages", new { content = "{\"on\": true}" });
        Assert.Equal(201, created);
        Assert.Equal("ci-approver", (string?)package["author"]);
        var (started, rollout) = await _ci.Post("/v1/rollouts", new { unit, version = 1, reason = "ship the flag" });
        Assert.Equal(201, started);
        Assert.Equal("awaiting-approval", (string?)rollout["state"]);
        var id = (string)rollout["id"]!;

        var (byAuthor, problem) = await _both.Post($"/v1/rollouts/{id}/approve", new { reason = "looks fine" });
        Assert.Equal(403, byAuthor);
        Assert.Equal("ci-approver wrote package v1 and may not approve its rollout; someone else must", (string?)problem["detail"]);
        var (byReviewer, _) = await _reviewer.Post($"/v1/rollouts/{id}/approve", new { reason = "reviewed" });
        Assert.Equal(200, byReviewer);
        await _ci.Post($"/v1/rollouts/{id}/abort", new { reason = "test over" });
    }
}
