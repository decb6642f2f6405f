using System.Text.Json.Nodes;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

public sealed class RolloutLifecycleTests
{
    [Fact]
    public async Task After_a_kill_mid_rollout_it_resumes_at_the_same_wave_without_skipping_or_repeating_one()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale);
        await scenario.Ci.Put("/v1/plans/slow-middle", new
        {
            waves = new object[]
            {
                new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 1 },
                new { name = "quarter", select = new { percent = 25 }, bakeSeconds = 8 },
                new { name = "all", select = new { percent = 100 }, bakeSeconds = 1 },
            },
        });
        var good = await scenario.PublishAsync(Http.Features(151));
        var (status, started) = await scenario.Ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = good, plan = "slow-middle", reason = "restart drill" });
        Assert.Equal(201, status);
        var id = (string)started["id"]!;

        JsonNode before = null!;
        await scenario.TickUntil(async () =>
        {
            before = await scenario.RolloutAsync(id);
            return (int?)before["currentWave"] == 1 && (string?)before["waves"]![1]!["state"] == "baking";
        }, "the second wave to bake");

        await scenario.Server.KillAsync();
        await scenario.Server.StartAgainAsync();

        var after = await scenario.RolloutAsync(id);
        Assert.True((int?)after["currentWave"] == 1, after.ToJsonString() + scenario.Server.Log[^Math.Min(6000, scenario.Server.Log.Length)..]);
        Assert.Equal("passed", (string?)after["waves"]![0]!["state"]);
        var done = await scenario.TickUntilState(id, "completed", "paused", "rolled-back");
        Assert.Equal("completed", (string?)done["state"]);

        var started3 = done["timeline"]!.AsArray().Where(e => (string?)e!["type"] == "wave-started").Select(e => (string?)e!["message"]).ToList();
        Assert.Equal(3, started3.Count);
        Assert.Equal(3, started3.Distinct().Count());
        await scenario.TickUntil(() => Task.FromResult(scenario.Fleet.NodesOn(scenario.Unit, good).Count == scenario.Fleet.Nodes.Count),
            "every node to run the new package: nobody left on a package nobody intends");
    }

    [Fact]
    public async Task Rollouts_that_must_not_start_are_409_naming_the_reason()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 20);
        var ci = scenario.Ci;

        await ci.Put($"/v1/units/{scenario.Unit}", new { owner = "bot-management", plan = "fast", validators = new { format = "json", maxItems = new { path = "$.features", max = 200 } } });
        var rejected = await scenario.PublishAsync(Http.Features(201), expect: 422);
        var (rejectedStatus, rejectedProblem) = await ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = rejected, reason = "x" });
        Assert.Equal(409, rejectedStatus);
        Assert.Contains("rejected by validation", (string?)rejectedProblem["detail"]);

        var (lkgStatus, lkgProblem) = await ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = 1, reason = "x" });
        Assert.Equal(409, lkgStatus);
        Assert.Contains("already its last known good", (string?)lkgProblem["detail"]);

        var good = await scenario.PublishAsync(Http.Features(152));
        var first = await scenario.StartRolloutAsync(good);
        var (secondStatus, secondProblem) = await ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = good, reason = "again" });
        Assert.Equal(409, secondStatus);
        Assert.Contains($"already has an active rollout {first}", (string?)secondProblem["detail"]);

        var (missingStatus, _) = await ci.Post("/v1/rollouts", new { unit = "no-such-unit-here", version = 1, reason = "x" });
        Assert.Equal(404, missingStatus);
        var (badPlan, planProblem) = await ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = good, plan = "nope", reason = "x" });
        Assert.Equal(404, badPlan);
        Assert.Contains("plan 'nope' is not defined", (string?)planProblem["detail"]);
        var (badBody, bodyProblem) = await ci.Post("/v1/rollouts", new { unit = scenario.Unit, version = "seven" });
        Assert.Equal(400, badBody);
        Assert.Contains("$.version has the wrong type", (string?)bodyProblem["detail"]);
    }

    [Fact]
    public async Task Idempotency_keys_pause_resume_abort_and_the_event_stream_work_over_http()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 20);
        var good = await scenario.PublishAsync(Http.Features(153));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/rollouts") { Content = Http.Json(new { unit = scenario.Unit, version = good, reason = "keyed" }) };
        request.Headers.Add("Idempotency-Key", "pipeline-42");
        using var first = await scenario.Ci.SendAsync(request);
        using var retry = new HttpRequestMessage(HttpMethod.Post, "/v1/rollouts") { Content = Http.Json(new { unit = scenario.Unit, version = good, reason = "keyed" }) };
        retry.Headers.Add("Idempotency-Key", "pipeline-42");
        using var second = await scenario.Ci.SendAsync(retry);
        var id = (string)(await first.ReadJson())["id"]!;
        Assert.Equal(201, (int)first.StatusCode);
        Assert.Equal(201, (int)second.StatusCode);
        Assert.Equal(id, (string?)(await second.ReadJson())["id"]);
        Assert.Equal("true", second.Headers.GetValues("Idempotent-Replayed").Single());

        var (noReason, problem) = await scenario.Ci.Post($"/v1/rollouts/{id}/pause", new { });
        Assert.Equal(400, noReason);
        Assert.Contains("reason", (string?)problem["detail"]);
        var (paused, view) = await scenario.Ci.Post($"/v1/rollouts/{id}/pause", new { reason = "hold for the game" });
        Assert.Equal(200, paused);
        Assert.Equal("paused", (string?)view["state"]);
        var (reader, _) = await scenario.Server.Client("reader").Post($"/v1/rollouts/{id}/resume", new { reason = "x" });
        Assert.Equal(403, reader);
        var (resumed, _) = await scenario.Ci.Post($"/v1/rollouts/{id}/resume", new { reason = "game over" });
        Assert.Equal(200, resumed);

        using var events = await scenario.Ci.GetAsync($"/v1/rollouts/{id}/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", events.Content.Headers.ContentType?.MediaType);
        using var reader2 = new StreamReader(await events.Content.ReadAsStreamAsync());
        var (aborted, _) = await scenario.Ci.Post($"/v1/rollouts/{id}/abort", new { reason = "changed our mind" });
        Assert.Equal(200, aborted);
        var lines = new List<string>();
        var ticking = Task.Run(async () =>
        {
            for (var i = 0; i < 200 && !events.IsSuccessStatusCode == false; i++)
            {
                await scenario.Fleet.TickAsync();
                await Task.Delay(100);
            }
        });
        string? line;
        while ((line = await reader2.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))) is not null)
        {
            lines.Add(line);
        }
        Assert.Contains("event: created", lines);
        Assert.Contains("event: paused", lines);
        Assert.Contains("event: resumed", lines);
        Assert.Contains(lines, l => l is "event: aborted");
        Assert.Contains(lines, l => l.StartsWith("data: {", StringComparison.Ordinal) && l.Contains("\"type\":\"created\""));
    }
}
