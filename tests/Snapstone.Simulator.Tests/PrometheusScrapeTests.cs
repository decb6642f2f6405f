using System.Net;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Exposition;
using Snapstone.Simulator.Shape;
using Snapstone.Testing;

namespace Snapstone.Simulator.Tests;

/// <summary>
/// A running fleet, on the real clock, its exposition served over HTTP and scraped every second by a real
/// Prometheus (Debian's, started by <see cref="PrometheusProcess"/>). Three fl1 nodes run a killswitch that fails 28%
/// of their requests, one node crash-loops on a feature file it cannot hold, one hung before anyone scraped it;
/// everyone else is healthy. Reports go to an in-process fake gateway, which hands out those packages.
/// </summary>
public sealed class ScrapedFleet : IAsyncLifetime
{
    public const string ErrorRate = "sum by (node) (rate(edge_errors_total[15s])) / sum by (node) (rate(edge_requests_total[15s]))";
    public const string P99 = "histogram_quantile(0.99, sum by (node, le) (rate(edge_request_duration_seconds_bucket[15s])))";

    private readonly CancellationTokenSource _stop = new();
    private readonly FakeSnapstone _gateway = new();
    private Task? _running;
    private MetricsEndpoint? _endpoint;

    public Fleet Fleet { get; private set; } = null!;
    public PrometheusProcess Prometheus { get; private set; } = null!;
    public IReadOnlySet<string> Killswitched { get; private set; } = new HashSet<string>();
    public string CrashLooping { get; private set; } = "";
    public string HungNode { get; private set; } = "";

    /// <summary>The error-rate query's answer once every node that serves traffic has a value in it.</summary>
    public IReadOnlyList<PromSample> ErrorRates { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Fleet = new Fleet(new FleetOptions
        {
            Shape = new FleetShape
            {
                Nodes = 30, Pops = 3, Regions = ["eu-west", "us-east", "ap-southeast"], Seed = 5,
                FlakyNodeShare = 0, LowTrafficPopShare = 0, LatencyJitter = 0,
            },
            Consumers = new Dictionary<string, IConsumer>
            {
                ["global-flags"] = new KillswitchConsumer(new LabelMatch("proxy", "fl1")),
                ["bot-features"] = new FeatureFileConsumer(FailureMode.FailClosed),
            },
            OtherUnits = null,
            ExposeMetrics = true,
            ReportMetrics = false,
        }, new HttpClient(_gateway) { BaseAddress = new Uri("http://snapstone.test") }, TimeProvider.System);
        var fl1 = Fleet.Nodes.Where(n => n.Labels["proxy"] == "fl1").ToArray();
        Killswitched = fl1.Take(3).Select(n => n.Id).ToHashSet();
        CrashLooping = Fleet.Nodes.First(n => n.Labels["proxy"] == "fl2").Id;
        HungNode = Fleet.Nodes.Last().Id;
        Fleet.Node(HungNode).Hang();
        var killswitch = FakePackage.Of("global-flags", 2, """{"killswitch": true}""");
        var oversized = FakePackage.Of("bot-features", 3, $$"""{"features": [{{string.Join(",", Enumerable.Range(0, 201))}}]}""");
        _gateway.Desired = r => (string)r["node"]! switch
        {
            var node when Killswitched.Contains(node) => [killswitch],
            var node when node == CrashLooping => [oversized],
            _ => [],
        };

        // The faults come first and the scrapes after, so that every rate Prometheus computes covers faulty traffic
        // only (the interval before a node took its package was healthy, and would dilute a 15 s window).
        _running = Fleet.RunAsync(TimeSpan.FromSeconds(1), _stop.Token);
        await Eventually.Until(() => Task.FromResult(Fleet.NodesOn("global-flags", 2).Count == 3 && Fleet.Node(CrashLooping).CrashLooping),
            "three nodes to run the killswitch and one to crash-loop", TimeSpan.FromSeconds(20));
        _endpoint = await MetricsEndpoint.StartAsync(Fleet.Metrics!, new IPEndPoint(IPAddress.Loopback, 0));
        Prometheus = await PrometheusProcess.StartAsync([new ScrapeTarget("edge", _endpoint.Url)]);
        await Prometheus.WaitForTargetsUpAsync();
        // Four samples in the window: three seconds of traffic behind every rate, a few hundred requests at least.
        await Prometheus.UntilAsync("min(count_over_time(edge_requests_total[15s]))", r => r.Count == 1 && r[0].Value >= 4,
            "four samples of every node", TimeSpan.FromSeconds(30));
        var serving = Fleet.Nodes.Where(n => !n.Hung).Select(n => n.Id).ToHashSet();
        ErrorRates = await Prometheus.UntilAsync(ErrorRate,
            result => serving.All(node => result.Any(s => s.Label("node") == node && !double.IsNaN(s.Value))) &&
                      result.Single(s => s.Label("node") == CrashLooping).Value > 0.5,
            "an error rate for every node that serves, the crash-looping one's over its package", TimeSpan.FromSeconds(30));
    }

    public async Task DisposeAsync()
    {
        _stop.Cancel();
        if (_running is not null)
        {
            await _running;
        }
        if (_endpoint is not null)
        {
            await _endpoint.DisposeAsync();
        }
        if (Prometheus is not null)
        {
            await Prometheus.DisposeAsync();
        }
    }
}

public sealed class PrometheusScrapeTests(ScrapedFleet scraped) : IClassFixture<ScrapedFleet>
{
    [Fact]
    public void The_error_rate_query_from_the_api_doc_singles_out_the_faulty_nodes()
    {
        var rates = scraped.ErrorRates.ToDictionary(s => s.Label("node"), s => s.Value);

        Assert.Equal(scraped.Fleet.Nodes.Select(n => n.Id).Order(), rates.Keys.Order());
        Assert.All(scraped.Killswitched, node => Assert.InRange(rates[node], 0.2, 0.36));
        Assert.InRange(rates[scraped.CrashLooping], 0.99, 1.0);
        var healthy = rates.Keys.Except(scraped.Killswitched).Except([scraped.CrashLooping, scraped.HungNode]).ToArray();
        Assert.Equal(25, healthy.Length);
        // Their own rate is 0.05% to 0.15%; over a few seconds, a handful of errors more or less.
        Assert.All(healthy, node => Assert.InRange(rates[node], 0, 0.02));
        // The hung node's counters stand still: 0/0, which is no data, not a healthy zero.
        Assert.True(double.IsNaN(rates[scraped.HungNode]), $"the hung node's error rate is {rates[scraped.HungNode]}");
    }

    [Fact]
    public async Task The_p99_query_gives_back_each_healthy_nodes_latency()
    {
        var p99 = (await scraped.Prometheus.QueryAsync(ScrapedFleet.P99)).ToDictionary(s => s.Label("node"), s => s.Value);

        foreach (var node in scraped.Fleet.Nodes.Where(n => !scraped.Killswitched.Contains(n.Id) && n.Id != scraped.CrashLooping && !n.Hung))
        {
            Assert.InRange(p99[node.Id] * 1000, node.Profile.P99LatencyMs * 0.85, node.Profile.P99LatencyMs * 1.15);
        }
    }

    [Fact]
    public async Task Series_carry_the_nodes_pop_region_tier_and_labels()
    {
        var node = scraped.Fleet.Nodes[7];

        var series = await scraped.Prometheus.QueryAsync($"edge_requests_total{{node=\"{node.Id}\"}}");

        var labels = Assert.Single(series).Labels;
        Assert.Equal((node.Pop, node.Region, node.Tier, node.Labels["proxy"], "edge"),
            (labels["pop"], labels["region"], labels["tier"], labels["proxy"], labels["job"]));
    }

    [Fact]
    public async Task The_crash_loop_shows_as_a_restart_of_that_node_alone()
    {
        // The node crashed when it took the package, a restart Prometheus may or may not have scraped before it; it
        // restarts again every 5 s. Wait for one restart under Prometheus' eyes.
        var restarts = await scraped.Prometheus.UntilAsync("changes(edge_process_start_time_seconds[1m]) > 0",
            result => result.Count > 0, "a restart to be seen", TimeSpan.FromSeconds(15));

        Assert.Equal([scraped.CrashLooping], restarts.Select(s => s.Label("node")));
    }

    [Fact]
    public async Task A_query_prometheus_refuses_is_an_error_naming_it()
    {
        var error = await Assert.ThrowsAsync<PrometheusQueryException>(() => scraped.Prometheus.QueryAsync("sum by (node) (rate(edge_errors_total[15s])"));

        Assert.Equal("bad_data", error.ErrorType);
        Assert.StartsWith("Prometheus refused 'sum by (node) (rate(edge_errors_total[15s])': bad_data: ", error.Message);
    }
}
