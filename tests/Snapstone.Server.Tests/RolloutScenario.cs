using System.Text.Json.Nodes;
using Snapstone.Simulator;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// A server, a simulated fleet and one unit: the pieces every rollout test needs. The fleet reports only when
/// the test ticks it, so each test decides how much time passes for the nodes.
/// </summary>
public sealed class RolloutScenario : IAsyncDisposable
{
    private RolloutScenario(ServerProcess server, Fleet fleet, string unit, RecordingLogger fleetLog)
    {
        _fleetLog = fleetLog;
        Server = server;
        Fleet = fleet;
        Unit = unit;
        Ci = server.Client("ci");
    }

    public ServerProcess Server { get; }
    public Fleet Fleet { get; }
    public string Unit { get; }
    public HttpClient Ci { get; }

    /// <summary>
    /// A fleet of <paramref name="nodes"/> nodes in 4 PoPs (one canary per region), a unit consumed as a
    /// feature file, and its first package published, rolled out (on <see cref="FirstPlan"/>: a first package
    /// goes through waves like any other) and applied everywhere.
    /// </summary>
    /// <remarks><paramref name="reading"/>, when given, is how the nodes read the unit instead of as a feature file.</remarks>
    public static async Task<RolloutScenario> StartAsync(FailureMode consumer, int nodes = 80, IDictionary<string, string>? settings = null, IConsumer? reading = null)
    {
        var server = await ServerProcess.StartAsync(settings);
        var fleetLog = new RecordingLogger();
        var unit = "bot-features";
        var fleet = new Fleet(new FleetOptions
        {
            Shape = new FleetShape { Nodes = nodes, Pops = 4, Regions = ["eu-west", "us-east"], CanaryShare = 0.05, LowTrafficPopShare = 0, FlakyNodeShare = 0, Seed = 7 },
            Consumers = new Dictionary<string, IConsumer> { [unit] = reading ?? new FeatureFileConsumer(consumer) },
            Token = ServerProcess.Tokens["agent"].Token,
        }, server.Client(null), TimeProvider.System, fleetLog);
        var scenario = new RolloutScenario(server, fleet, unit, fleetLog);
        try
        {
            var (planned, _) = await scenario.Ci.Put("/v1/plans/fast", FastPlan);
            Assert.Equal(200, planned);
            var failureMode = consumer == FailureMode.FailClosed ? "fail-closed" : "fail-stale";
            var (defined, _) = await scenario.Ci.Put($"/v1/units/{unit}", new { owner = "bot-management", kind = "file", riskTier = "standard", failureMode, plan = "fast" });
            Assert.Equal(200, defined);
            // Every node known first: a wave's cohort is the consumers its PoPs hold when it is assigned.
            await scenario.TickUntil(async () => (int?)(await scenario.Ci.Get("/v1/fleet")).Body["nodes"] == nodes, $"the server to know all {nodes} nodes");
            var (firstPlanned, _) = await scenario.Ci.Put("/v1/plans/first", FirstPlan);
            Assert.Equal(200, firstPlanned);
            await scenario.PublishAsync(Http.Features(150), expect: 201);
            var first = await scenario.StartRolloutAsync(1, "the unit's first package", plan: "first");
            await scenario.TickUntilState(first, "completed");
            await scenario.TickUntil(() => Task.FromResult(fleet.NodesOn(unit, 1).Count == nodes), "every node to run v1");
            return scenario;
        }
        catch
        {
            // A set-up that fails must not leave its server running under the rest of the suite.
            await scenario.DisposeAsync();
            throw;
        }
    }

    /// <summary>One wave, everyone, a bake of two seconds: how each scenario gets its unit's first package out quickly.</summary>
    public static readonly object FirstPlan = new
    {
        waves = new object[] { new { name = "all", select = new { percent = 100 }, bakeSeconds = 2 } },
    };

    /// <summary>canary tier → 25% → 100%, bakes of two seconds, gates that a 0.1% noise floor passes.</summary>
    public static readonly object FastPlan = new
    {
        waves = new object[]
        {
            new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 2, gates = new { minReportingFraction = 1.0 } },
            new { name = "quarter", select = new { percent = 25 }, bakeSeconds = 2 },
            new { name = "all", select = new { percent = 100 }, bakeSeconds = 2 },
        },
    };

    public async Task<long> PublishAsync(string content, int expect = 201)
    {
        var (status, package) = await Ci.Post($"/v1/units/{Unit}/packages", new { content, message = "test" });
        Assert.Equal(expect, status);
        return (long)package["version"]!;
    }

    public async Task<string> StartRolloutAsync(long version, string reason = "ship it", string? plan = null)
    {
        var (status, rollout) = await Ci.Post("/v1/rollouts", plan is null ? new { unit = Unit, version, reason } : new { unit = Unit, version, reason, plan });
        Assert.True(status == 201, $"starting the rollout answered {status}: {rollout.ToJsonString()}");
        return (string)rollout["id"]!;
    }

    public async Task<JsonNode> RolloutAsync(string id) => (await Ci.Get($"/v1/rollouts/{id}")).Body;

    /// <summary>A second person (the reviewer token) approves the rollout's waiting wave.</summary>
    public async Task ApproveAsync(string id)
    {
        var (status, rollout) = await Server.Client("reviewer").Post($"/v1/rollouts/{id}/approve", new { reason = "reviewed" });
        Assert.True(status == 200, $"approving answered {status}: {rollout.ToJsonString()}");
    }

    /// <summary>Ticks the fleet (one report round each) until <paramref name="done"/> holds.</summary>
    public async Task TickUntil(Func<Task<bool>> done, string what, TimeSpan? timeout = null)
    {
        try
        {
            await Eventually.Until(async () =>
            {
                await Fleet.TickAsync();
                return await done();
            }, what, timeout ?? TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException e)
        {
            throw WithServerLog(e);
        }
    }

    private TimeoutException WithServerLog(TimeoutException e) =>
        new($"{e.Message}\nfleet log, last lines:\n{_fleetLog.Tail(30)}\nserver log, last lines:\n{string.Join('\n', Server.Log.Split('\n').TakeLast(60))}", e);

    /// <summary>What the simulated fleet logs (failed fetches, refused reports, ignored answers), kept for a timeout's message.</summary>
    private readonly RecordingLogger _fleetLog;

    private sealed class RecordingLogger : Microsoft.Extensions.Logging.ILogger
    {
        private readonly Queue<string> _lines = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Warning;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            lock (_lines)
            {
                _lines.Enqueue($"{DateTimeOffset.UtcNow:HH:mm:ss.f} {formatter(state, exception)}");
                while (_lines.Count > 200)
                {
                    _lines.Dequeue();
                }
            }
        }

        public string Tail(int count)
        {
            lock (_lines)
            {
                return string.Join('\n', _lines.TakeLast(count));
            }
        }
    }

    public Task<JsonNode> TickUntilState(string id, params string[] states) =>
        TickUntilRollout(id, r => states.Contains((string?)r["state"]), $"rollout {id} to reach {string.Join(" or ", states)}");

    /// <summary>Ticks the fleet until the rollout satisfies <paramref name="done"/>; a timeout shows the rollout as last seen.</summary>
    public async Task<JsonNode> TickUntilRollout(string id, Func<JsonNode, bool> done, string what)
    {
        try
        {
            return await Eventually.Until(async () =>
            {
                await Fleet.TickAsync();
                return await RolloutAsync(id);
            }, done, what, TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException e)
        {
            throw WithServerLog(e);
        }
    }

    /// <summary>A second person approves the rollout if it waits for approval (high-risk changes do).</summary>
    public async Task ApproveIfAwaitingAsync(string id)
    {
        if ((string?)(await RolloutAsync(id))["state"] == "awaiting-approval")
        {
            await ApproveAsync(id);
        }
    }

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
