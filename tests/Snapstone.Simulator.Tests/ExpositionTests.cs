using System.Net;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Exposition;
using Snapstone.Simulator.Shape;

namespace Snapstone.Simulator.Tests;

public sealed class ExpositionTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 3, 9, 0, 0, TimeSpan.Zero);

    private static string Features(int count) =>
        $$"""{"features": [{{string.Join(",", Enumerable.Range(0, count).Select(i => $"\"f{i}\""))}}]}""";

    private static (Fleet Fleet, FakeSnapstone Server, FakeTimeProvider Time) Build(
        int nodes = 12, bool reportMetrics = true, IReadOnlyDictionary<string, IConsumer>? consumers = null, IReadOnlyList<LabelSplit>? labels = null)
    {
        var server = new FakeSnapstone();
        var time = new FakeTimeProvider(Start);
        var fleet = new Fleet(new FleetOptions
        {
            Shape = new FleetShape
            {
                Nodes = nodes, Pops = 2, Regions = ["eu-west", "us-east"], Seed = 11, FlakyNodeShare = 0, LowTrafficPopShare = 0,
                Labels = labels ?? [LabelSplit.Even("proxy", "fl1", "fl2")],
            },
            Consumers = consumers ?? new Dictionary<string, IConsumer>(),
            OtherUnits = null,
            ExposeMetrics = true,
            ReportMetrics = reportMetrics,
            ReportAfterChange = false,
        }, new HttpClient(server) { BaseAddress = new Uri("http://snapstone.test") }, time);
        return (fleet, server, time);
    }

    private static async Task<List<Sample>> TickAndScrapeAsync(Fleet fleet, FakeTimeProvider time)
    {
        await fleet.TickAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(1));
        return Exposition.Parse(await fleet.Metrics!.ScrapeAsync());
    }

    [Fact]
    public async Task Every_node_has_growing_counters_labelled_with_its_identity_that_add_up_to_what_it_reported()
    {
        var (fleet, server, time) = Build();
        var reported = fleet.Nodes.ToDictionary(n => n.Id, _ => (Requests: 0L, Errors: 0L));
        var previous = fleet.Nodes.ToDictionary(n => n.Id, _ => 0.0);

        for (var tick = 0; tick < 5; tick++)
        {
            var samples = await TickAndScrapeAsync(fleet, time);
            foreach (var (id, report) in server.TakeReports())
            {
                var (requests, errors) = reported[id];
                reported[id] = (requests + (long)report["metrics"]!["requests"]!, errors + (long)report["metrics"]!["errors"]!);
            }
            var requestsNow = Exposition.PerNode(samples, FleetMetrics.RequestsName);
            Assert.Equal(fleet.Nodes.Select(n => n.Id).Order(), requestsNow.Keys.Order());
            Assert.All(fleet.Nodes, n =>
            {
                Assert.True(requestsNow[n.Id] > previous[n.Id], $"{n.Id}: {requestsNow[n.Id]} after {previous[n.Id]}");
                Assert.Equal(reported[n.Id].Requests, requestsNow[n.Id]);
                Assert.Equal(reported[n.Id].Errors, Exposition.PerNode(samples, FleetMetrics.ErrorsName)[n.Id]);
                // The histogram counts the same requests.
                Assert.Equal(reported[n.Id].Requests, Exposition.PerNode(samples, FleetMetrics.LatencyName + "_count")[n.Id]);
            });
            previous = requestsNow;
        }

        var last = Exposition.Parse(await fleet.Metrics!.ScrapeAsync());
        var node = fleet.Nodes[5];
        var sample = last.Single(s => s.Name == FleetMetrics.RequestsName && s.Node == node.Id);
        Assert.Equal(new Dictionary<string, string>
        {
            ["node"] = node.Id, ["pop"] = node.Pop, ["region"] = node.Region, ["tier"] = node.Tier, ["proxy"] = node.Labels["proxy"],
        }, sample.Labels);
        Assert.All(fleet.Nodes, n => Assert.Equal(Start.ToUnixTimeSeconds(), Exposition.PerNode(last, FleetMetrics.StartTimeName)[n.Id]));
    }

    [Fact]
    public async Task Nodes_that_a_package_breaks_count_its_errors_and_the_rest_do_not()
    {
        var (fleet, server, time) = Build(nodes: 20, consumers: new Dictionary<string, IConsumer>
        {
            ["global-flags"] = new KillswitchConsumer(new LabelMatch("proxy", "fl1")),
        });
        server.Desired = _ => [FakePackage.Of("global-flags", 2, """{"killswitch": true}""")];
        var before = await TickAndScrapeAsync(fleet, time);
        List<Sample> after = before;
        for (var tick = 0; tick < 10; tick++)
        {
            after = await TickAndScrapeAsync(fleet, time);
        }

        double Rate(string node, string name) => Exposition.PerNode(after, name)[node] - Exposition.PerNode(before, name)[node];
        foreach (var node in fleet.Nodes)
        {
            var errorRate = Rate(node.Id, FleetMetrics.ErrorsName) / Rate(node.Id, FleetMetrics.RequestsName);
            if (node.Labels["proxy"] == "fl1")
            {
                Assert.InRange(errorRate, 0.2, 0.36);
            }
            else
            {
                Assert.InRange(errorRate, 0, 0.01);
            }
        }
    }

    [Fact]
    public async Task A_crashing_node_starts_its_counters_again_from_zero_with_a_new_start_time_and_fails_everything_between()
    {
        var (fleet, server, time) = Build(nodes: 4, consumers: new Dictionary<string, IConsumer>
        {
            ["bot-features"] = new FeatureFileConsumer(FailureMode.FailClosed),
        });
        var canary = fleet.Nodes.First(n => n.Tier == FleetShape.CanaryTier).Id;
        await TickAndScrapeAsync(fleet, time);
        var healthy = await TickAndScrapeAsync(fleet, time);
        Assert.True(Exposition.PerNode(healthy, FleetMetrics.RequestsName)[canary] > 0);

        // The canary takes a package it crashes on (at t=2); the crash shows in the exposition of the round at t=3.
        server.Desired = r => (string)r["node"]! == canary ? [FakePackage.Of("bot-features", 2, Features(201))] : [];
        await TickAndScrapeAsync(fleet, time);
        server.TakeReports();
        var crashed = await TickAndScrapeAsync(fleet, time);
        var reportedSinceCrash = (long)server.TakeReports()[canary]["metrics"]!["requests"]!;

        Assert.Equal(reportedSinceCrash, Exposition.PerNode(crashed, FleetMetrics.RequestsName)[canary]);
        Assert.True(reportedSinceCrash < Exposition.PerNode(healthy, FleetMetrics.RequestsName)[canary] * 2,
            "the counter began again instead of going on");
        Assert.Equal(reportedSinceCrash, Exposition.PerNode(crashed, FleetMetrics.ErrorsName)[canary]);
        Assert.Equal(Start.AddSeconds(3).ToUnixTimeSeconds(), Exposition.PerNode(crashed, FleetMetrics.StartTimeName)[canary]);
        // The other nodes' processes never restarted.
        Assert.All(fleet.Nodes.Where(n => n.Id != canary),
            n => Assert.Equal(Start.ToUnixTimeSeconds(), Exposition.PerNode(crashed, FleetMetrics.StartTimeName)[n.Id]));

        // In the crash loop (a restart every 5 s) the counter grows, all errors, until the next restart drops it again.
        var series = new List<double>();
        for (var tick = 0; tick < 6; tick++)
        {
            var samples = await TickAndScrapeAsync(fleet, time);
            Assert.Equal(Exposition.PerNode(samples, FleetMetrics.RequestsName)[canary], Exposition.PerNode(samples, FleetMetrics.ErrorsName)[canary]);
            series.Add(Exposition.PerNode(samples, FleetMetrics.RequestsName)[canary]);
        }
        Assert.Equal(1, series.Zip(series.Skip(1)).Count(pair => pair.Second < pair.First));
    }

    [Fact]
    public async Task A_hung_node_reports_nothing_and_its_counters_stay_exported_where_they_stopped()
    {
        var (fleet, server, time) = Build(nodes: 4);
        var hung = fleet.Nodes[1];
        await TickAndScrapeAsync(fleet, time);
        var before = await TickAndScrapeAsync(fleet, time);
        server.TakeReports();

        hung.Hang();
        var during = new List<List<Sample>>();
        for (var tick = 0; tick < 3; tick++)
        {
            during.Add(await TickAndScrapeAsync(fleet, time));
        }
        var reports = server.TakeReports();

        Assert.DoesNotContain(hung.Id, reports.Keys);
        Assert.Equal(3, reports.Count);
        Assert.All(during, samples =>
        {
            Assert.Equal(Exposition.PerNode(before, FleetMetrics.RequestsName)[hung.Id], Exposition.PerNode(samples, FleetMetrics.RequestsName)[hung.Id]);
            Assert.Equal(Exposition.PerNode(before, FleetMetrics.LatencyName + "_count")[hung.Id], Exposition.PerNode(samples, FleetMetrics.LatencyName + "_count")[hung.Id]);
        });
        Assert.True(Exposition.PerNode(during[^1], FleetMetrics.RequestsName)[fleet.Nodes[0].Id] > Exposition.PerNode(before, FleetMetrics.RequestsName)[fleet.Nodes[0].Id]);

        // Resumed, it reports again and counts on from where it stopped: it was stuck, not restarted.
        hung.Resume();
        var resumed = await TickAndScrapeAsync(fleet, time);
        Assert.Contains(hung.Id, server.TakeReports().Keys);
        Assert.True(Exposition.PerNode(resumed, FleetMetrics.RequestsName)[hung.Id] > Exposition.PerNode(before, FleetMetrics.RequestsName)[hung.Id]);
        Assert.Equal(Start.ToUnixTimeSeconds(), Exposition.PerNode(resumed, FleetMetrics.StartTimeName)[hung.Id]);
    }

    [Fact]
    public async Task Without_report_metrics_reports_carry_identity_and_applied_state_and_prometheus_still_counts()
    {
        var (fleet, server, time) = Build(nodes: 6, reportMetrics: false, consumers: new Dictionary<string, IConsumer>
        {
            ["bot-features"] = new FeatureFileConsumer(FailureMode.FailClosed),
        });
        server.Desired = _ => [FakePackage.Of("bot-features", 1, Features(10))];
        await TickAndScrapeAsync(fleet, time);
        Assert.All(server.TakeReports().Values, r =>
            Assert.Equal(["node", "pop", "region", "tier", "labels", "intervalSeconds"], r.Select(p => p.Key)));

        var samples = await TickAndScrapeAsync(fleet, time);
        Assert.All(server.TakeReports().Values, r =>
        {
            Assert.Equal(["node", "pop", "region", "tier", "labels", "applied", "intervalSeconds"], r.Select(p => p.Key));
            Assert.Equal((1L, "ok"), ((long)r["applied"]!["bot-features"]!["version"]!, (string)r["applied"]!["bot-features"]!["status"]!));
        });
        Assert.All(fleet.Nodes, n => Assert.True(Exposition.PerNode(samples, FleetMetrics.RequestsName)[n.Id] > 0));
        // The fleet still knows what its nodes served, for its own summary.
        Assert.True(fleet.LastTick!.Requests > 0);
    }

    [Fact]
    public async Task The_endpoint_serves_the_text_format_over_http()
    {
        var (fleet, _, time) = Build(nodes: 3);
        await fleet.TickAsync(CancellationToken.None);
        await using var endpoint = await MetricsEndpoint.StartAsync(fleet.Metrics!, new IPEndPoint(IPAddress.Loopback, 0));
        using var http = new HttpClient();

        using var response = await http.GetAsync(endpoint.Url);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/metrics", endpoint.Url.AbsolutePath);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains($"# TYPE {FleetMetrics.RequestsName} counter", body);
        Assert.Contains($"# TYPE {FleetMetrics.LatencyName} histogram", body);
        Assert.Equal(3, Exposition.PerNode(Exposition.Parse(body), FleetMetrics.RequestsName).Count);
    }

    [Theory]
    [InlineData("127.0.0.1:9464", "127.0.0.1:9464")]
    [InlineData("0.0.0.0:0", "0.0.0.0:0")]
    [InlineData("9464", "127.0.0.1:9464")]
    [InlineData("[::1]:9464", "[::1]:9464")]
    public void A_listen_address_is_an_ip_and_a_port(string text, string expected)
    {
        Assert.Equal(expected, MetricsEndpoint.ParseListen(text, out var error)!.ToString());
        Assert.Null(error);
    }

    [Theory]
    [InlineData("localhost:9464")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("::1")]
    public void Anything_else_is_refused_with_the_expected_form(string text)
    {
        Assert.Null(MetricsEndpoint.ParseListen(text, out var error));
        Assert.Equal($"must be HOST:PORT with an IP address, like 127.0.0.1:9464 (port 0 picks a free one), or a port (got '{text}')", error);
    }

    [Theory]
    [InlineData("proxy", "proxy")]
    [InlineData("edge.zone", "edge_zone")]
    [InlineData("rack-id", "rack_id")]
    [InlineData("9lives", "label_9lives")]
    [InlineData("tier", null)]
    [InlineData("node", null)]
    [InlineData("le", null)]
    [InlineData("instance", null)]
    public void Node_labels_become_prometheus_label_names_unless_they_collide(string key, string? expected)
    {
        var names = FleetMetrics.LabelNames([key]);
        Assert.Equal(expected, names.SingleOrDefault().Label);
    }

    [Fact]
    public void Two_keys_that_come_out_the_same_keep_the_first()
    {
        Assert.Equal([("edge.zone", "edge_zone")], FleetMetrics.LabelNames(["edge.zone", "edge-zone"]));
    }

    [Theory]
    [InlineData(1000, 0.040)]
    [InlineData(1000, 0.120)]
    [InlineData(50_000, 0.018)]
    [InlineData(300, 0.075)]
    public void The_histogram_puts_one_percent_of_requests_above_the_p99(long requests, double p99)
    {
        var counts = LatencyShape.Split(requests, p99);

        Assert.Equal(requests, counts.Sum());
        Assert.All(counts, c => Assert.True(c >= 0));
        // histogram_quantile(0.99): the bucket where the cumulative count reaches 99%, interpolated linearly.
        var rank = 0.99 * requests;
        long cumulative = 0;
        var i = 0;
        while (cumulative + counts[i] < rank)
        {
            cumulative += counts[i++];
        }
        var lower = i == 0 ? 0 : LatencyShape.Bounds[i - 1];
        var estimate = lower + (LatencyShape.Bounds[i] - lower) * (rank - cumulative) / counts[i];
        Assert.InRange(estimate, p99 * 0.9, p99 * 1.1);
    }

    [Fact]
    public void Worked_example_of_the_latency_shape()
    {
        var counts = LatencyShape.Split(1000, 0.040);
        var cumulative = counts.Select((_, i) => counts.Take(i + 1).Sum()).ToArray();
        var at = (double bound) => cumulative[Array.IndexOf(LatencyShape.Bounds, bound)];
        Assert.Equal((635L, 934L, 990L, 998L), (at(0.02), at(0.03), at(0.04), at(0.05)));
        Assert.Equal(new long[LatencyShape.Bounds.Length + 1], LatencyShape.Split(0, 0.04));
    }
}
