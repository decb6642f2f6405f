using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Demo;

namespace Snapstone.Simulator.Tests;

public sealed class DemoTests
{
    private static readonly Dictionary<string, string> Fl1 = new() { ["proxy"] = "fl1" };

    /// <summary>Records each request with its body and answers from a queue.</summary>
    private sealed class RecordingHandler : HttpMessageHandler
    {
        public List<(HttpMethod Method, string Path, string? Body, HttpRequestMessage Request)> Requests { get; } = [];
        public Queue<(HttpStatusCode Status, string Body)> Answers { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            Requests.Add((request.Method, request.RequestUri!.AbsolutePath, body, request));
            var (status, answer) = Answers.Dequeue();
            return new HttpResponseMessage(status) { Content = new StringContent(answer, Encoding.UTF8, "application/json") };
        }
    }

    private static (ControlPlane ControlPlane, RecordingHandler Handler) Build()
    {
        var handler = new RecordingHandler();
        return (new ControlPlane(new HttpClient(handler) { BaseAddress = new Uri("http://snapstone.test") }, "deploy-token"), handler);
    }

    [Fact]
    public async Task Units_and_plans_are_put_under_their_names_with_the_definition_as_body()
    {
        var (controlPlane, handler) = Build();
        handler.Answers.Enqueue((HttpStatusCode.OK, "{}"));
        handler.Answers.Enqueue((HttpStatusCode.OK, "{}"));
        var scenario = DemoScenario.Named("features", DemoScript.PlanName);

        await controlPlane.PutUnitAsync(scenario.Unit, scenario.Definition, CancellationToken.None);
        await controlPlane.PutPlanAsync(DemoScript.PlanName, DemoScenario.Plan(30), CancellationToken.None);

        Assert.Equal((HttpMethod.Put, "/v1/units/bot-features"), (handler.Requests[0].Method, handler.Requests[0].Path));
        var unit = JsonNode.Parse(handler.Requests[0].Body!)!;
        Assert.Equal(("fail-closed", "demo-waves", "file"), ((string)unit["failureMode"]!, (string)unit["plan"]!, (string)unit["kind"]!));
        Assert.Null(unit["validators"]!["maxItems"]);
        Assert.Equal("Bearer deploy-token", handler.Requests[0].Request.Headers.Authorization!.ToString());

        Assert.Equal((HttpMethod.Put, "/v1/plans/demo-waves"), (handler.Requests[1].Method, handler.Requests[1].Path));
        var waves = JsonNode.Parse(handler.Requests[1].Body!)!["waves"]!.AsArray();
        Assert.Equal(["canary", "ten-percent", "all"], waves.Select(w => (string)w!["name"]!));
        Assert.Equal("""{"tier":"canary"}""", waves[0]!["select"]!.ToJsonString());
        Assert.Equal(100, (int)waves[2]!["select"]!["percent"]!);
        Assert.All(waves, w => Assert.Equal(30, (int)w!["bakeSeconds"]!));
    }

    [Fact]
    public async Task A_package_refused_by_validation_comes_back_as_not_passed()
    {
        var (controlPlane, handler) = Build();
        handler.Answers.Enqueue((HttpStatusCode.UnprocessableEntity, """
            {"unit":"bot-features","version":9,"sha256":"ab","sizeBytes":12,"createdAt":"2026-11-03T09:00:00Z","author":"ci",
             "validation":{"passed":false,"findings":[{"rule":"maxItems","severity":"error","message":"$.features has 240 items, more than 200"}]}}
            """));

        var package = await controlPlane.CreatePackageAsync("bot-features", new NewPackage("{}", "why", "ci"), CancellationToken.None);

        Assert.Equal((HttpMethod.Post, "/v1/units/bot-features/packages"), (handler.Requests[0].Method, handler.Requests[0].Path));
        Assert.Equal("""{"content":"{}","message":"why","source":"ci"}""", handler.Requests[0].Body);
        Assert.Equal(9, package.Version);
        Assert.False(package.Validation!.Passed);
        Assert.Equal("$.features has 240 items, more than 200", package.Validation.Findings!.Single().Message);
    }

    [Fact]
    public async Task A_refused_rollout_raises_the_problem_detail()
    {
        var (controlPlane, handler) = Build();
        handler.Answers.Enqueue((HttpStatusCode.Conflict, """{"title":"Conflict","status":409,"detail":"bot-features already has an active rollout r-1"}"""));

        var e = await Assert.ThrowsAsync<ControlPlaneException>(() =>
            controlPlane.StartRolloutAsync(new NewRollout("bot-features", 8, "demo", "demo-waves"), "key-1", CancellationToken.None));

        Assert.Equal(HttpStatusCode.Conflict, e.Status);
        Assert.Equal("POST http://snapstone.test/v1/rollouts answered 409: bot-features already has an active rollout r-1", e.Message);
        Assert.Equal("""{"unit":"bot-features","version":8,"reason":"demo","plan":"demo-waves"}""", handler.Requests[0].Body);
        Assert.Equal(["key-1"], handler.Requests[0].Request.Headers.GetValues("Idempotency-Key"));
    }

    [Fact]
    public async Task A_rollout_reads_as_documented_ignoring_extra_fields()
    {
        var (controlPlane, handler) = Build();
        handler.Answers.Enqueue((HttpStatusCode.OK, """
            {"id":"r-42","unit":"bot-features","version":8,"previousVersion":7,"state":"rolled-back","currentWave":0,"extra":true,
             "waves":[{"name":"canary","state":"failed","targeted":12,"applied":12,"rejected":0,"healthy":0,"unhealthy":12,
                       "startedAt":"2026-11-03T09:00:00Z","bakeUntil":"2026-11-03T09:01:00Z",
                       "verdict":{"result":"unhealthy","reasons":["12 nodes crashed (max 0)"]}}],
             "rollback":{"reason":"canary unhealthy","targeted":12,"confirmed":12,"startedAt":"2026-11-03T09:00:05Z","completedAt":null},
             "timeline":[{"at":"2026-11-03T09:00:00Z","type":"wave-started","message":"canary: 12 nodes"}]}
            """));

        var rollout = await controlPlane.GetRolloutAsync("r-42", CancellationToken.None);

        Assert.Equal("/v1/rollouts/r-42", handler.Requests[0].Path);
        Assert.True(rollout.Settled);
        Assert.Equal((8L, 7L), (rollout.Version, rollout.PreviousVersion!.Value));
        var wave = rollout.Waves!.Single();
        Assert.Equal(("failed", 12, "unhealthy"), (wave.State, wave.Unhealthy, wave.Verdict!.Result));
        Assert.Equal(["12 nodes crashed (max 0)"], wave.Verdict.Reasons!);
        Assert.Equal((12, 12), (rollout.Rollback!.Targeted, rollout.Rollback.Confirmed));
        Assert.Equal("wave-started", rollout.Timeline!.Single().Type);
    }

    [Theory]
    [InlineData("running", false)]
    [InlineData("pending", false)]
    [InlineData("rolling-back", false)]
    [InlineData("completed", true)]
    [InlineData("rolled-back", true)]
    [InlineData("paused", true)]
    [InlineData("awaiting-approval", true)]
    public void Watching_stops_once_the_rollout_waits_for_nobody_but_a_person(string state, bool settled)
    {
        Assert.Equal(settled, new Demo.RolloutView("r", "u", 1, null, state, 0, null, null, null).Settled);
    }

    [Fact]
    public void Each_scenario_has_a_harmless_good_package_and_a_harmful_bad_one()
    {
        var features = DemoScenario.Named("features", "p");
        Assert.Equal(ConsumerVerdict.Applied, Consume(features, features.GoodContent).Verdict);
        Assert.Equal(ConsumerVerdict.Crashed, Consume(features, features.BadContent).Verdict);

        var killswitch = DemoScenario.Named("killswitch", "p");
        Assert.Equal(0, Consume(killswitch, killswitch.GoodContent).Effect.ErrorShareOn(Fl1));
        Assert.Equal(0.28, Consume(killswitch, killswitch.BadContent).Effect.ErrorShareOn(Fl1));

        var latency = DemoScenario.Named("latency", "p");
        Assert.Equal(0, Consume(latency, latency.GoodContent).Effect.ExtraLatencyMs);
        Assert.Equal(80, Consume(latency, latency.BadContent).Effect.ExtraLatencyMs);
    }

    private static ConsumerOutcome Consume(DemoScenario scenario, string content) =>
        scenario.Consumer.Consume(Encoding.UTF8.GetBytes(content));
}
