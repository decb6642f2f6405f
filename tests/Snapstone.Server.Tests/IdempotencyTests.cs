using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>An Idempotency-Key names one request: a retry answers its rollout, a different body is refused, and a race makes one rollout.</summary>
[Collection(ServerCollection.Name)]
public sealed class IdempotencyTests(ServerFixture fixture)
{
    private readonly HttpClient _ci = fixture.Server.Client("ci");

    private async Task<string> UnitWithTwoPackages()
    {
        var unit = TestStorage.Unique("unit");
        await _ci.Put($"/v1/units/{unit}", new { owner = "edge", targets = new { labels = new Dictionary<string, string> { ["idempotency-test"] = unit } } });
        await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"v\": 1}" });
        await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"v\": 2}" });
        return unit;
    }

    private async Task<(int Status, System.Text.Json.Nodes.JsonNode Body, bool Replayed)> Start(string key, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/rollouts") { Content = Http.Json(body) };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await _ci.SendAsync(request);
        return ((int)response.StatusCode, await response.ReadJson(), response.Headers.Contains("Idempotent-Replayed"));
    }

    [Fact]
    public async Task A_key_reused_with_another_unit_version_plan_or_reason_is_422_and_the_same_request_replays()
    {
        var unit = await UnitWithTwoPackages();
        var key = TestStorage.Unique("pipeline");
        var (first, rollout, _) = await Start(key, new { unit, version = 1, reason = "keyed" });
        Assert.Equal(201, first);

        var (again, replay, replayed) = await Start(key, new { unit, version = 1, reason = "keyed" });
        Assert.Equal((201, true), (again, replayed));
        Assert.Equal((string?)rollout["id"], (string?)replay["id"]);

        foreach (var different in new object[]
        {
            new { unit, version = 2, reason = "keyed" },
            new { unit, version = 1, reason = "another reason" },
            new { unit, version = 1, reason = "keyed", plan = "standard" },
        })
        {
            var (status, problem, _) = await Start(key, different);
            Assert.Equal(422, status);
            Assert.StartsWith($"Idempotency-Key '{key}' was already used for rollout {(string?)rollout["id"]} of {unit} v1", (string?)problem["detail"]);
        }
        var other = await UnitWithTwoPackages();
        var (elsewhere, otherProblem, _) = await Start(key, new { unit = other, version = 1, reason = "keyed" });
        Assert.Equal(422, elsewhere);
        Assert.Contains($"was already used for rollout {(string?)rollout["id"]} of {unit} v1", (string?)otherProblem["detail"]);
        var (_, otherUnit) = await _ci.Get($"/v1/units/{other}");
        Assert.Null(otherUnit["activeRollout"]);
    }

    [Fact]
    public async Task Two_concurrent_requests_with_one_key_make_one_rollout_and_one_audit_entry()
    {
        var unit = await UnitWithTwoPackages();
        var key = TestStorage.Unique("pipeline");
        var body = new { unit, version = 1, reason = "raced" };

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Start(key, body)));

        Assert.All(answers, a => Assert.Equal(201, a.Status));
        Assert.Single(answers.Select(a => (string?)a.Body["id"]).Distinct());
        Assert.Single(answers, a => !a.Replayed);
        var id = (string)answers[0].Body["id"]!;
        var (_, log) = await _ci.Get("/v1/audit?limit=1000");
        Assert.Single(log["entries"]!.AsArray(), e => (string?)e!["action"] == "rollout.start" && (string?)e["target"] == $"rollout/{id}");
        var (_, list) = await _ci.Get($"/v1/rollouts?unit={unit}");
        Assert.Single(list["rollouts"]!.AsArray());
    }
}
