using System.Net;
using System.Text.Json.Nodes;
using Snapstone.Simulator;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Exposition;
using Snapstone.Simulator.Shape;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// A simulated fleet that reports applied state only (<c>--no-report-metrics</c>) and serves its counters to a real
/// Prometheus (Debian's, on a free loopback port, scraping every second), and a server configured to query that
/// Prometheus: every wave here is judged from Prometheus alone. The fleet runs on the real clock in the background, one
/// report a second per node. Every node is <c>proxy=fl2</c>, and each unit's consumer is a killswitch that fails 30% of a
/// node's requests when switched on: errors that show in <c>edge_errors_total</c> and nowhere in the reports.
/// </summary>
public sealed class PrometheusGateFleet : IAsyncLifetime
{
    public const int Nodes = 30;
    public const double ErrorShare = 0.3;
    public const string Query = "sum by (node) (rate(edge_errors_total[10s])) / sum by (node) (rate(edge_requests_total[10s]))";
    public static readonly string[] Units = ["flag-bad", "flag-good", "flag-stop"];

    private readonly CancellationTokenSource _stop = new();
    private Task? _running;
    private MetricsEndpoint? _endpoint;

    public Fleet Fleet { get; private set; } = null!;
    public PrometheusProcess Prometheus { get; private set; } = null!;
    public ServerProcess Server { get; private set; } = null!;
    public HttpClient Ci { get; private set; } = null!;

    /// <summary>The error rate as a metric gate: at most 5%, at most 10× the control, judged once 2 cohort nodes have a value.</summary>
    public static object ErrorRateGate => new { name = "edge-error-rate", query = Query, direction = "higher-is-worse", max = 0.05, maxRatio = 10.0, minNodes = 2 };

    /// <summary>Canary tier, then everyone; every wave gated on <see cref="ErrorRateGate"/> alone.</summary>
    public static object Plan(int canaryBakeSeconds) => new
    {
        waves = new object[]
        {
            new { name = "canary", select = new { tier = "canary" }, bakeSeconds = canaryBakeSeconds, gates = new { minReportingFraction = 1.0, metrics = new[] { ErrorRateGate } } },
            new { name = "all", select = new { percent = 100 }, bakeSeconds = 2, gates = new { metrics = new[] { ErrorRateGate } } },
        },
    };

    public async Task InitializeAsync()
    {
        var host = ServerHost.Loopback();
        Fleet = new Fleet(new FleetOptions
        {
            Shape = new FleetShape
            {
                Nodes = Nodes, Pops = 2, Regions = ["eu-west", "us-east"], CanaryShare = 0.2, LowTrafficPopShare = 0, FlakyNodeShare = 0, Seed = 11,
                Labels = [LabelSplit.Even("proxy", "fl2")],
            },
            Consumers = Units.ToDictionary(u => u, _ => (IConsumer)new KillswitchConsumer(new LabelMatch("proxy", "fl2"), ErrorShare)),
            OtherUnits = null,
            Token = ServerProcess.Tokens["agent"].Token,
            ExposeMetrics = true,
            ReportMetrics = false,
        }, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.HttpPort}"), Timeout = TimeSpan.FromSeconds(30) }, TimeProvider.System);
        _endpoint = await MetricsEndpoint.StartAsync(Fleet.Metrics!, new IPEndPoint(IPAddress.Loopback, 0));
        Prometheus = await PrometheusProcess.StartAsync([new ScrapeTarget("edge", _endpoint.Url)]);
        Server = await ServerProcess.StartAsync(host, new Dictionary<string, string>
        {
            ["Snapstone__Metrics__Prometheus__Url"] = Prometheus.BaseAddress.ToString(),
            ["Snapstone__Metrics__Prometheus__TimeoutSeconds"] = "2",
            // An inconclusive wave pauses after 6 s here, not after a minute.
            ["Snapstone__Rollouts__InconclusiveGraceSeconds"] = "6",
        });
        Ci = Server.Client("ci");
        _running = Fleet.RunAsync(TimeSpan.FromSeconds(1), _stop.Token);
        await Prometheus.WaitForTargetsUpAsync(TimeSpan.FromSeconds(60));
        await Eventually.Until(async () => (int?)(await Ci.Get("/v1/fleet")).Body["nodes"], n => n == Nodes, $"the server to know all {Nodes} nodes", TimeSpan.FromSeconds(60));
        await Prometheus.UntilAsync(Query, r => r.Count == Nodes && r.All(s => double.IsFinite(s.Value)), $"an error rate for each of the {Nodes} nodes", TimeSpan.FromSeconds(60));
        var (first, body) = await Ci.Put("/v1/plans/prom-first", new
        {
            waves = new object[] { new { name = "all", select = new { percent = 100 }, bakeSeconds = 2, gates = new { metrics = new[] { ErrorRateGate } } } },
        });
        Assert.True(first == 200, $"defining prom-first answered {first}: {body.ToJsonString()}");
        foreach (var (name, bake) in new[] { ("prom-waves", 3), ("prom-long", 8) })
        {
            var (status, plan) = await Ci.Put($"/v1/plans/{name}", Plan(bake));
            Assert.True(status == 200, $"defining {name} answered {status}: {plan.ToJsonString()}");
        }
    }

    public IReadOnlySet<string> Canaries => Fleet.Nodes.Where(n => n.Tier == FleetShape.CanaryTier).Select(n => n.Id).ToHashSet();

    /// <summary>
    /// The unit defined on <paramref name="plan"/> with its first package (the killswitch off) rolled out to every node on
    /// <c>prom-first</c>: judged from Prometheus too, and the version the later rollouts compare against and return to.
    /// </summary>
    public async Task<long> FirstPackageAsync(string unit, string plan)
    {
        var (defined, body) = await Ci.Put($"/v1/units/{unit}", new { owner = "edge", kind = "file", riskTier = "standard", failureMode = "fail-stale", plan });
        Assert.True(defined == 200, $"defining {unit} answered {defined}: {body.ToJsonString()}");
        var v1 = await PublishAsync(unit, """{"killswitch": false}""");
        var rollout = await UntilState(await StartAsync(unit, v1, "prom-first"), "completed", "paused", "rolled-back");
        Assert.True((string?)rollout["state"] == "completed", $"the first package's rollout: {rollout.ToJsonString()}");
        await Eventually.Until(() => Task.FromResult(Fleet.NodesOn(unit, v1).Count), n => n == Nodes, $"every node to run {unit} v{v1}", TimeSpan.FromSeconds(60));
        return v1;
    }

    public async Task<long> PublishAsync(string unit, string content)
    {
        var (status, package) = await Ci.Post($"/v1/units/{unit}/packages", new { content, message = "test" });
        Assert.True(status == 201, $"publishing answered {status}: {package.ToJsonString()}");
        return (long)package["version"]!;
    }

    public async Task<string> StartAsync(string unit, long version, string? plan = null)
    {
        var (status, rollout) = await Ci.Post("/v1/rollouts", plan is null ? new { unit, version, reason = "test" } : new { unit, version, reason = "test", plan });
        Assert.True(status == 201, $"starting the rollout answered {status}: {rollout.ToJsonString()}");
        return (string)rollout["id"]!;
    }

    public Task<JsonNode> UntilState(string id, params string[] states) =>
        UntilRollout(id, r => states.Contains((string?)r["state"]), $"rollout {id} to reach {string.Join(" or ", states)}");

    /// <summary>Waits on the rollout as the gateway shows it (a waiting approval is given by the reviewer); a timeout shows the server's log.</summary>
    public async Task<JsonNode> UntilRollout(string id, Func<JsonNode, bool> done, string what, TimeSpan? timeout = null)
    {
        try
        {
            return await Eventually.Until(async () =>
            {
                var rollout = (await Ci.Get($"/v1/rollouts/{id}")).Body;
                if ((string?)rollout["state"] == "awaiting-approval")
                {
                    await Server.Client("reviewer").Post($"/v1/rollouts/{id}/approve", new { reason = "reviewed" });
                }
                return rollout;
            }, done, what, timeout ?? TimeSpan.FromSeconds(120));
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\nserver log, last lines:\n{string.Join('\n', Server.Log.Split('\n').TakeLast(60))}", e);
        }
    }

    /// <summary>Every node's error rate back under 1% in Prometheus: what an earlier test's bad package left in the window is gone.</summary>
    public Task Quiet() =>
        Prometheus.UntilAsync($"max({Query})", r => r.Count == 1 && r[0].Value < 0.01, "every node's error rate under 1%", TimeSpan.FromSeconds(60));

    public async Task DisposeAsync()
    {
        _stop.Cancel();
        if (_running is not null)
        {
            await _running;
        }
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
        if (Prometheus is not null)
        {
            await Prometheus.DisposeAsync();
        }
        if (_endpoint is not null)
        {
            await _endpoint.DisposeAsync();
        }
    }
}

/// <summary>
/// Waves judged from Prometheus alone, end to end over HTTP: a bad package whose errors only Prometheus sees is caught in the
/// canary and rolled back with the query in the verdict; a good one completes; Prometheus stopped mid-bake holds the wave,
/// which pauses and never passes. Plans are checked against the same Prometheus when they are defined.
/// </summary>
public sealed class PrometheusGateTests(PrometheusGateFleet fx) : IClassFixture<PrometheusGateFleet>
{
    private static IEnumerable<string> Reasons(JsonNode wave) => wave["verdict"]?["reasons"]?.AsArray().Select(r => (string)r!) ?? [];

    [Fact]
    public async Task A_bad_package_seen_only_in_Prometheus_is_caught_in_the_canary_and_rolled_back_citing_the_query()
    {
        const string unit = "flag-bad";
        await fx.Quiet();
        var v1 = await fx.FirstPackageAsync(unit, "prom-waves");
        var bad = await fx.PublishAsync(unit, """{"killswitch": true}""");

        var rollout = await fx.UntilState(await fx.StartAsync(unit, bad), "rolled-back", "completed", "paused");

        Assert.True((string?)rollout["state"] == "rolled-back", rollout.ToJsonString());
        var canary = rollout["waves"]![0]!;
        Assert.Equal("failed", (string?)canary["state"]);
        Assert.Equal("pending", (string?)rollout["waves"]![1]!["state"]);
        Assert.Equal("unhealthy", (string?)canary["verdict"]!["result"]);
        // The failing finding cites the gate, its query, the cohort's and the control's values and node counts.
        var failing = Reasons(canary).Where(r => r.StartsWith($"metric edge-error-rate ({PrometheusGateFleet.Query}): cohort ", StringComparison.Ordinal) &&
            r.Contains(" node(s) > max 0.05 (control ", StringComparison.Ordinal)).ToList();
        Assert.True(failing.Count == 1, string.Join("\n", Reasons(canary)));
        Assert.Matches(@"cohort 0\.\d+ on [2-9] node\(s\) > max 0\.05 \(control 0\.00\d+ on \d+ node\(s\)\)$", failing[0]);
        Assert.Contains("metric edge-error-rate", (string?)rollout["rollback"]!["reason"]);
        // Blast radius: the canary alone ever ran the bad package, and every node is back on v1.
        var touched = fx.Fleet.NodesEverApplied(unit, bad);
        Assert.NotEmpty(touched);
        Assert.True(touched.IsSubsetOf(fx.Canaries), $"ran v{bad}: {string.Join(", ", touched)}; canaries: {string.Join(", ", fx.Canaries)}");
        await Eventually.Until(() => Task.FromResult(fx.Fleet.NodesOn(unit, v1).Count), n => n == PrometheusGateFleet.Nodes, $"every node back on {unit} v{v1}");
    }

    [Fact]
    public async Task A_good_package_judged_from_Prometheus_alone_completes()
    {
        const string unit = "flag-good";
        await fx.Quiet();
        await fx.FirstPackageAsync(unit, "prom-waves");
        var good = await fx.PublishAsync(unit, """{"killswitch": false, "owner": "edge"}""");

        var rollout = await fx.UntilState(await fx.StartAsync(unit, good), "completed", "rolled-back", "paused");

        Assert.True((string?)rollout["state"] == "completed", rollout.ToJsonString());
        foreach (var wave in rollout["waves"]!.AsArray())
        {
            Assert.Equal("passed", (string?)wave!["state"]);
            var reasons = Reasons(wave).ToList();
            Assert.Equal("healthy", (string?)wave["verdict"]!["result"]);
            Assert.Contains("no traffic in the cohort's reports: judged on its metric queries alone", reasons);
            Assert.Contains(reasons, r => r.StartsWith("metric edge-error-rate (", StringComparison.Ordinal) && r.Contains(" within max 0.05 ", StringComparison.Ordinal));
        }
        // The last wave's cohort is every node: no control is left, and the ratio says it was not taken.
        Assert.Contains(Reasons(rollout["waves"]![1]!), r => r.EndsWith("the 10× ratio: no node is left outside the cohort to compare with, so the ratio is not taken", StringComparison.Ordinal));
        Assert.Contains(Reasons(rollout["waves"]![0]!), r => r.Contains(" within 10× control ", StringComparison.Ordinal));
        await Eventually.Until(() => Task.FromResult(fx.Fleet.NodesOn(unit, good).Count), n => n == PrometheusGateFleet.Nodes, $"every node on {unit} v{good}");
    }

    [Fact]
    public async Task Prometheus_stopped_mid_bake_holds_the_wave_which_pauses_and_never_passes()
    {
        const string unit = "flag-stop";
        await fx.Quiet();
        await fx.FirstPackageAsync(unit, "prom-long");
        var good = await fx.PublishAsync(unit, """{"killswitch": false, "rev": 2}""");
        var id = await fx.StartAsync(unit, good);
        await fx.UntilRollout(id, r => (string?)r["waves"]![0]!["state"] == "baking" || (string?)r["state"] != "running", $"rollout {id}'s canary to bake");

        await fx.Prometheus.StopAsync();
        try
        {
            var rollout = await fx.UntilState(id, "paused", "completed", "rolled-back");

            Assert.True((string?)rollout["state"] == "paused", rollout.ToJsonString());
            var canary = rollout["waves"]![0]!;
            Assert.Equal("baking", (string?)canary["state"]);
            Assert.Equal("pending", (string?)rollout["waves"]![1]!["state"]);
            Assert.Equal("inconclusive", (string?)canary["verdict"]!["result"]);
            var where = fx.Prometheus.BaseAddress.ToString().TrimEnd('/');
            Assert.Contains(Reasons(canary), r => r.StartsWith("metric edge-error-rate (", StringComparison.Ordinal) &&
                r.Contains($"query failed: Prometheus at {where} could not be reached", StringComparison.Ordinal) && r.EndsWith(": inconclusive", StringComparison.Ordinal));
            Assert.Contains("inconclusive", (string?)rollout["pausedReason"]);
            Assert.Contains("edge-error-rate", (string?)rollout["pausedReason"]);

            // With Prometheus down, a plan's queries cannot be checked: 503, naming the gate, and nothing stored.
            var (status, problem) = await fx.Ci.Put("/v1/plans/prom-unchecked", PrometheusGateFleet.Plan(5));
            Assert.True(status == 503, $"{status}: {problem.ToJsonString()}");
            Assert.StartsWith("waves[0].gates.metrics[0].query ('edge-error-rate'): Prometheus at ", (string?)problem["detail"]);
            Assert.Equal(404, (await fx.Ci.Get("/v1/plans/prom-unchecked")).Status);
        }
        finally
        {
            await fx.Prometheus.StartAgainAsync();
        }
    }

    [Fact]
    public async Task A_query_Prometheus_refuses_is_a_400_naming_the_gate_and_the_error()
    {
        var (status, problem) = await fx.Ci.Put("/v1/plans/prom-refused", new
        {
            waves = new object[]
            {
                new { name = "all", select = new { percent = 100 }, bakeSeconds = 5, gates = new { metrics = new object[]
                {
                    PrometheusGateFleet.ErrorRateGate,
                    new { name = "broken", query = "sum by (node) (rate(edge_errors_total[10s]) / ", max = 0.05 },
                } } },
            },
        });
        Assert.True(status == 400, $"{status}: {problem.ToJsonString()}");
        Assert.StartsWith("waves[0].gates.metrics[1].query ('broken'): Prometheus refused the query: bad_data: ", (string?)problem["detail"]);
        Assert.Equal(404, (await fx.Ci.Get("/v1/plans/prom-refused")).Status);

        var (ungrouped, answer) = await fx.Ci.Put("/v1/plans/prom-ungrouped", new
        {
            waves = new object[]
            {
                new { name = "all", select = new { percent = 100 }, gates = new { metrics = new[] { new { name = "fleet-errors", query = "sum(rate(edge_errors_total[10s]))", max = 0.05 } } } },
            },
        });
        Assert.True(ungrouped == 400, $"{ungrouped}: {answer.ToJsonString()}");
        Assert.Equal("waves[0].gates.metrics[0].query ('fleet-errors'): the query's 1 series carry no 'node' label: group it by node, e.g. sum by (node) (…)",
            (string?)answer["detail"]);
    }
}

/// <summary>The shared server has no Prometheus configured: a plan with metric gates is refused, saying what to set.</summary>
[Collection(ServerCollection.Name)]
public sealed class MetricGatesWithoutPrometheusTests(ServerFixture fixture)
{
    [Fact]
    public async Task A_plan_with_metric_gates_is_a_400_when_no_Prometheus_is_configured()
    {
        var ci = fixture.Server.Client("ci");
        var plan = TestStorage.Unique("no-prom");
        var (status, problem) = await ci.Put($"/v1/plans/{plan}", new
        {
            waves = new object[] { new { name = "all", select = new { percent = 100 }, gates = new { metrics = new[] { PrometheusGateFleet.ErrorRateGate } } } },
        });
        Assert.True(status == 400, $"{status}: {problem.ToJsonString()}");
        Assert.Equal("waves[0].gates.metrics[0]: metric gates need a Prometheus to query and none is configured (set Snapstone:Metrics:Prometheus:Url); 1 metric gate(s) in this plan",
            (string?)problem["detail"]);
        Assert.Equal(404, (await ci.Get($"/v1/plans/{plan}")).Status);

        // The same plan without its metric gates is fine: nothing else needs a metrics store.
        var (plain, body) = await ci.Put($"/v1/plans/{plan}", new { waves = new object[] { new { name = "all", select = new { percent = 100 } } } });
        Assert.True(plain == 200, $"{plain}: {body.ToJsonString()}");
    }
}

/// <summary>The OpenAPI document describes metric gates in the plan body, and the plan endpoint's refusals.</summary>
[Collection(ServerCollection.Name)]
public sealed class MetricGatesOpenApiTests(ServerFixture fixture)
{
    [Fact]
    public async Task The_openapi_document_describes_metric_gates_and_the_plan_refusals()
    {
        using var anonymous = fixture.Server.Client(null);
        var (status, document) = await anonymous.Get("/openapi/v1.json");
        Assert.Equal(200, status);
        var schemas = document["components"]!["schemas"]!;
        Assert.NotNull(schemas["Gates"]!["properties"]!["metrics"]);
        var gate = schemas["MetricGate"]!["properties"]!.AsObject();
        Assert.Equal(["name", "query", "direction", "max", "maxRatio", "minNodes", "mode"], gate.Select(p => p.Key));
        Assert.Equal(["higher-is-worse", "lower-is-worse"], schemas["MetricDirection"]!["enum"]!.AsArray().Select(v => (string)v!));
        var responses = document["paths"]!["/v1/plans/{plan}"]!["put"]!["responses"]!.AsObject();
        Assert.Contains("400", responses.Select(r => r.Key));
        Assert.Contains("503", responses.Select(r => r.Key));
    }
}
