using System.Net;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Demo;
using Snapstone.Simulator.Shape;

namespace Snapstone.Simulator.Tests;

public sealed class DemoScriptTests
{
    /// <summary>
    /// The agent endpoints answered by <see cref="FakeSnapstone"/>, the CI endpoints by a table; records
    /// every CI call. <c>GET /v1/fleet</c> counts the nodes that have reported so far.
    /// </summary>
    private sealed class Server(FakeSnapstone agents) : HttpMessageHandler
    {
        private readonly HttpMessageInvoker _agents = new(agents);
        private readonly HashSet<string> _nodes = [];

        public List<string> Calls { get; } = [];
        public HttpStatusCode Rollouts { get; init; } = HttpStatusCode.NotFound;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.IsAbsoluteUri ? request.RequestUri.AbsolutePath : request.RequestUri.OriginalString;
            if (path == "/v1/reports")
            {
                var answer = await _agents.SendAsync(request, cancellationToken);
                lock (_nodes)
                {
                    _nodes.UnionWith(agents.TakeReports().Keys);
                }
                return answer;
            }
            lock (Calls)
            {
                Calls.Add($"{request.Method} {path}");
            }
            return (request.Method.Method, path) switch
            {
                ("GET", "/v1/fleet") => Json(HttpStatusCode.OK, $$$"""{"nodes":{{{Registered}}},"pops":[],"byRegion":{},"byTier":{}}"""),
                ("PUT", _) => Json(HttpStatusCode.OK, "{}"),
                ("POST", "/v1/units/bot-features/packages") => Json(HttpStatusCode.Created,
                    """{"unit":"bot-features","version":1,"sha256":"4f6c1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6","sizeBytes":10,"validation":{"passed":true,"findings":[]}}"""),
                ("POST", "/v1/rollouts") => Json(Rollouts, """{"title":"Not Found","status":404,"detail":"no endpoint at POST /v1/rollouts"}"""),
                _ => Json(HttpStatusCode.NotFound, "{}"),
            };
        }

        private int Registered
        {
            get { lock (_nodes) return _nodes.Count; }
        }

        private static HttpResponseMessage Json(HttpStatusCode status, string body) =>
            new(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
    }

    [Fact]
    public async Task Without_rollouts_on_the_server_the_demo_stops_at_the_first_rollout_naming_what_is_missing()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 3, 9, 0, 0, TimeSpan.Zero));
        var server = new Server(new FakeSnapstone());
        var http = new HttpClient(server) { BaseAddress = new Uri("http://snapstone.test") };
        var scenario = DemoScenario.Named("features", DemoScript.PlanName);
        var fleet = new Fleet(new FleetOptions
        {
            Shape = new FleetShape { Nodes = 12, Pops = 2, Seed = 5 },
            Consumers = new Dictionary<string, IConsumer> { [scenario.Unit] = scenario.Consumer },
        }, http, time);
        var output = new StringWriter();
        var script = new DemoScript(fleet, new ControlPlane(http, "deploy-token"), scenario, time, output) { Baseline = TimeSpan.Zero };

        var run = script.RunAsync(CancellationToken.None);
        var e = await Assert.ThrowsAsync<ControlPlaneException>(() => Drive(run, time));

        Assert.Equal(HttpStatusCode.NotFound, e.Status);
        Assert.StartsWith("this Snapstone cannot start rollouts: POST http://snapstone.test/v1/rollouts answered 404: no endpoint at POST /v1/rollouts.", e.Message);
        Assert.Equal(
            // The baseline is the unit's first package: it is rolled out too, so the first rollout is the baseline's.
            ["PUT /v1/plans/demo-waves", "PUT /v1/units/bot-features", "POST /v1/units/bot-features/packages", "POST /v1/rollouts"],
            server.Calls.Where(c => c != "GET /v1/fleet"));
        Assert.Contains("Snapstone registered all 12 nodes in", output.ToString());
    }

    [Fact]
    public async Task A_fleet_whose_reports_all_fail_is_reported_and_nothing_is_defined()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 3, 9, 0, 0, TimeSpan.Zero));
        var server = new Server(new FakeSnapstone { FailBatchesWith = HttpStatusCode.Forbidden });
        var http = new HttpClient(server) { BaseAddress = new Uri("http://snapstone.test") };
        var scenario = DemoScenario.Named("features", DemoScript.PlanName);
        var fleet = new Fleet(new FleetOptions { Shape = new FleetShape { Nodes = 12, Pops = 2, Seed = 5 } }, http, time);
        var output = new StringWriter();
        var script = new DemoScript(fleet, new ControlPlane(http, "deploy-token"), scenario, time, output) { Baseline = TimeSpan.Zero };

        var exitCode = await Drive(script.RunAsync(CancellationToken.None), time);

        Assert.Equal(1, exitCode);
        Assert.Contains("no report got through in three rounds", output.ToString());
        Assert.All(server.Calls, c => Assert.Equal("GET /v1/fleet", c));
    }

    /// <summary>Moves the fake clock a second at a time until the script finishes (at most ten minutes of it).</summary>
    private static async Task<T> Drive<T>(Task<T> run, FakeTimeProvider time)
    {
        for (var second = 0; second < 600 && !run.IsCompleted; second++)
        {
            // Let the script reach its next wait on the clock before the clock moves.
            await Task.WhenAny(run, Task.Delay(20));
            time.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.True(run.IsCompleted, "the demo script did not finish within ten minutes of fake time");
        return await run;
    }
}
