using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;

namespace Snapstone.Simulator.Tests;

public sealed class FleetTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 3, 9, 0, 0, TimeSpan.Zero);

    private static string Features(int count) =>
        $$"""{"features": [{{string.Join(",", Enumerable.Range(0, count).Select(i => $"\"f{i}\""))}}]}""";

    /// <summary>60 quiet nodes in 3 PoPs, one per region, 3 canaries; no flaky nodes to blur the numbers.</summary>
    private static FleetShape Quiet(int nodes = 60, int pops = 3) => new()
    {
        Nodes = nodes,
        Pops = pops,
        Regions = ["eu-west", "us-east", "ap-southeast"],
        Seed = 7,
        FlakyNodeShare = 0,
        LowTrafficPopShare = 0,
    };

    private static (Fleet Fleet, FakeSnapstone Server, FakeTimeProvider Time) Build(
        FleetShape shape, IReadOnlyDictionary<string, IConsumer> consumers, int maxReportsPerBatch = 500, bool reportAfterChange = false)
    {
        var server = new FakeSnapstone();
        var time = new FakeTimeProvider(Start);
        var http = new HttpClient(server) { BaseAddress = new Uri("http://snapstone.test") };
        var fleet = new Fleet(new FleetOptions
        {
            Shape = shape,
            Consumers = consumers,
            OtherUnits = null,
            Token = "agent-token",
            MaxReportsPerBatch = maxReportsPerBatch,
            // Most tests here follow the interval cadence tick by tick; the out-of-turn report has its own test.
            ReportAfterChange = reportAfterChange,
        }, http, time);
        return (fleet, server, time);
    }

    [Fact]
    public async Task Nodes_that_take_refuse_or_crash_on_a_package_report_again_in_the_same_tick()
    {
        var (fleet, server, time) = Build(Quiet(nodes: 6, pops: 1), new Dictionary<string, IConsumer>
        {
            ["bot-features"] = new FeatureFileConsumer(FailureMode.FailClosed),
        }, reportAfterChange: true);
        var v1 = FakePackage.Of("bot-features", 1, Features(150));
        server.Desired = _ => [v1];
        await TickAsync(fleet, time);

        // The interval's report (identity only), then one out of turn from each node saying it runs v1.
        Assert.Equal([6, 6], server.BatchSizes);
        Assert.All(server.TakeReports().Values, r =>
        {
            Assert.Equal(1, (long)r["applied"]!["bot-features"]!["version"]!);
            Assert.Equal(1.0, (double)r["intervalSeconds"]!);
            Assert.Equal(0, (long)r["metrics"]!["requests"]!);
        });

        // v2 crashes every node that takes it: the crash goes out in the same tick, not a second later.
        var v2 = FakePackage.Of("bot-features", 2, Features(201));
        server.Desired = _ => [v2];
        await TickAsync(fleet, time);
        Assert.Equal([6, 6, 6, 6], server.BatchSizes);
        Assert.All(server.TakeReports().Values, r =>
        {
            Assert.Equal(2, (long)r["applied"]!["bot-features"]!["version"]!);
            Assert.Equal(1, (long)r["metrics"]!["crashes"]!);
        });

        // Nothing changed in this tick: one report each.
        await TickAsync(fleet, time);
        Assert.Equal([6, 6, 6, 6, 6], server.BatchSizes);
    }

    [Fact]
    public async Task A_node_told_its_previous_package_in_the_answer_to_its_crash_report_goes_back_at_once()
    {
        var (fleet, server, time) = Build(Quiet(nodes: 6, pops: 1), new Dictionary<string, IConsumer>
        {
            ["bot-features"] = new FeatureFileConsumer(FailureMode.FailClosed),
        }, reportAfterChange: true);
        var v1 = FakePackage.Of("bot-features", 1, Features(150));
        var v2 = FakePackage.Of("bot-features", 2, Features(201));
        server.Desired = _ => [v1];
        await TickAsync(fleet, time);
        server.TakeReports();

        // The server answers v2 until a node reports a crash, then v1 to that node from then on.
        var crashed = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>();
        server.Desired = r =>
        {
            if ((long?)r["metrics"]?["crashes"] > 0)
            {
                crashed[(string)r["node"]!] = true;
            }
            return crashed.ContainsKey((string)r["node"]!) ? [v1] : [v2];
        };
        await TickAsync(fleet, time);

        Assert.All(fleet.Nodes, n => Assert.Equal(1, n.Running("bot-features")?.Version));
        Assert.All(fleet.Nodes, n => Assert.False(n.CrashLooping));
        Assert.All(server.TakeReports().Values, r => Assert.Equal(1, (long)r["applied"]!["bot-features"]!["version"]!));
    }

    private static async Task TickAsync(Fleet fleet, FakeTimeProvider time)
    {
        await fleet.TickAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Nodes_fetch_each_package_once_for_the_fleet_and_report_applied_or_rejected_next_tick()
    {
        var (fleet, server, time) = Build(Quiet(), new Dictionary<string, IConsumer>
        {
            ["stale-features"] = new FeatureFileConsumer(FailureMode.FailStale),
            ["closed-features"] = new FeatureFileConsumer(FailureMode.FailClosed),
        });
        var canaries = fleet.Nodes.Where(n => n.Tier == "canary").Select(n => n.Id).ToHashSet();
        Assert.Equal(3, canaries.Count);
        var changes = new List<NodeChange>();
        fleet.Changed += changes.Add;

        // Both units' first package has the same bytes: one fetch serves both.
        var good = Features(150);
        var staleV1 = FakePackage.Of("stale-features", 1, good);
        var closedV1 = FakePackage.Of("closed-features", 1, good);
        server.Desired = _ => [staleV1, closedV1];

        // Tick 1 (t=0): first reports are identity and metrics only; everyone learns v1.
        await TickAsync(fleet, time);
        var first = server.TakeReports();
        Assert.Equal(60, first.Count);
        Assert.All(first.Values, r =>
        {
            Assert.Null(r["applied"]);
            Assert.Equal(["node", "pop", "region", "tier", "labels", "metrics", "intervalSeconds"], r.Select(p => p.Key));
            Assert.Equal(["requests", "errors", "p99LatencyMs", "crashes"], r["metrics"]!.AsObject().Select(p => p.Key));
            Assert.Equal(1.0, (double)r["intervalSeconds"]!);
        });
        Assert.Equal(fleet.Pops.Select(p => p.NodeCount).Order(), server.BatchSizes.Order());
        Assert.All(server.Authorizations, a => Assert.Equal("Bearer agent-token", a));
        Assert.Equal(1, server.AllContentGets);
        Assert.Equal(60, fleet.NodesOn("closed-features", 1).Count);

        // Tick 2 (t=1): everyone reports v1; canaries are now asked for v2, which has one feature too many.
        var staleV2 = FakePackage.Of("stale-features", 2, Features(201));
        var closedV2 = FakePackage.Of("closed-features", 2, Features(201));
        server.Desired = r => canaries.Contains((string)r["node"]!) ? [staleV2, closedV2] : [staleV1, closedV1];
        await TickAsync(fleet, time);
        var second = server.TakeReports();
        Assert.All(second.Values, r =>
        {
            Assert.Equal(1, (long)r["applied"]!["stale-features"]!["version"]!);
            Assert.Equal(staleV1.Sha256, (string)r["applied"]!["stale-features"]!["sha256"]!);
            Assert.Equal("ok", (string)r["applied"]!["closed-features"]!["status"]!);
        });
        Assert.Equal(2, server.AllContentGets);
        Assert.Equal(1, server.ContentGets(staleV2.Url) + server.ContentGets(closedV2.Url));

        // Tick 3 (t=2): canaries report: fail-stale refused v2 and kept v1, fail-closed runs v2 and crashed.
        await TickAsync(fleet, time);
        var third = server.TakeReports();
        foreach (var (node, report) in third)
        {
            var stale = report["applied"]!["stale-features"]!.AsObject();
            var closed = report["applied"]!["closed-features"]!.AsObject();
            var metrics = report["metrics"]!;
            if (canaries.Contains(node))
            {
                Assert.Equal((2L, "rejected"), ((long)stale["version"]!, (string)stale["status"]!));
                Assert.Equal("feature file has 201 features, more than the 200 this proxy can hold", (string)stale["error"]!);
                Assert.Equal((2L, "ok"), ((long)closed["version"]!, (string)closed["status"]!));
                Assert.Equal(1, (int)metrics["crashes"]!);
                Assert.Equal((long)metrics["requests"]!, (long)metrics["errors"]!);
            }
            else
            {
                Assert.Equal((1L, "ok"), ((long)stale["version"]!, (string)stale["status"]!));
                Assert.Null(stale["error"]);
                Assert.Equal(0, (int)metrics["crashes"]!);
            }
        }
        Assert.Equal(canaries, fleet.NodesEverApplied("closed-features", 2));
        Assert.Empty(fleet.NodesEverApplied("stale-features", 2));
        Assert.Equal(canaries, fleet.History.NodesEverRejected("stale-features", 2));
        Assert.All(canaries, n => Assert.Equal(Start.AddSeconds(2), fleet.History.FirstCrashAt(n)));
        Assert.All(canaries, n => Assert.Equal(Start.AddSeconds(1), fleet.History.FirstRejectionAt(n)));
        Assert.Null(fleet.History.TimeToSafe("closed-features", 2, 1));

        // Tick 4 (t=3): the rollout is rolled back; canaries go back to v1 from the cache, no new fetch.
        server.Desired = _ => [staleV1, closedV1];
        await TickAsync(fleet, time);
        Assert.Equal(2, server.AllContentGets);
        Assert.Equal(60, fleet.NodesOn("closed-features", 1).Count);
        Assert.Empty(fleet.NodesRefusing("stale-features", 2));

        // Tick 5 (t=4): the whole fleet reports v1, healthy.
        await TickAsync(fleet, time);
        Assert.All(server.TakeReports().Values, r =>
        {
            Assert.Equal((1L, "ok"), ((long)r["applied"]!["stale-features"]!["version"]!, (string)r["applied"]!["stale-features"]!["status"]!));
            Assert.Equal((1L, "ok"), ((long)r["applied"]!["closed-features"]!["version"]!, (string)r["applied"]!["closed-features"]!["status"]!));
            Assert.Equal(0, (int)r["metrics"]!["crashes"]!);
        });
        Assert.All(canaries, n => Assert.Equal(Start.AddSeconds(3), fleet.History.BackOnAt(n, "closed-features", 1)));
        Assert.Null(fleet.History.BackOnAt(canaries.First(), "stale-features", 1));
        Assert.Equal(TimeSpan.FromSeconds(2), fleet.History.TimeToSafe("closed-features", 2, 1));
        Assert.Equal(TimeSpan.Zero, fleet.History.TimeToSafe("stale-features", 2, 1));

        Assert.Equal(120 + 3 + 3, changes.Count(c => c.Kind == NodeChangeKind.Applied));
        Assert.Equal(3, changes.Count(c => c.Kind == NodeChangeKind.Rejected));
        Assert.Equal(3, changes.Count(c => c.Kind == NodeChangeKind.Crashed));
        Assert.Equal(changes, fleet.History.Changes());
        Assert.Equal((5, 15, 0, 2, 0), (fleet.Counters.Ticks, fleet.Counters.BatchesSent, fleet.Counters.BatchesFailed,
            fleet.Counters.ContentFetches, fleet.Counters.ContentFetchesFailed));
    }

    [Fact]
    public async Task A_fail_closed_node_crashes_again_after_every_restart_until_it_leaves_the_package()
    {
        var (fleet, server, time) = Build(Quiet(nodes: 3, pops: 1), new Dictionary<string, IConsumer>
        {
            ["bot-features"] = new FeatureFileConsumer(FailureMode.FailClosed),
        });
        server.Desired = _ => [FakePackage.Of("bot-features", 9, Features(300))];
        await TickAsync(fleet, time);
        server.TakeReports();

        var crashes = new List<int>();
        for (var tick = 0; tick < 11; tick++)
        {
            await TickAsync(fleet, time);
            crashes.Add(server.TakeReports().Values.Sum(r => (int)r["metrics"]!["crashes"]!));
        }

        // Crashes on taking the package at t=0 (reported at t=1), then after every 5 s restart: t=5, t=10.
        Assert.Equal([3, 0, 0, 0, 3, 0, 0, 0, 0, 3, 0], crashes);
        Assert.All(fleet.Nodes, n => Assert.True(n.CrashLooping));
        Assert.Equal(9, fleet.Counters.Crashes);
    }

    [Fact]
    public async Task Reports_go_one_batch_per_pop_in_chunks_of_at_most_500()
    {
        var (fleet, server, time) = Build(Quiet(nodes: 1300, pops: 2) with { Regions = ["eu-west"] }, new Dictionary<string, IConsumer>());

        await TickAsync(fleet, time);

        var perPop = fleet.Pops.ToDictionary(p => p.Id, p => p.NodeCount);
        Assert.Equal(perPop.Values.Sum(c => (c + 499) / 500), server.BatchesAnswered);
        Assert.All(server.BatchSizes, size => Assert.InRange(size, 1, 500));
        Assert.Equal(1300, server.BatchSizes.Sum());
        Assert.Equal(1300, server.TakeReports().Count);
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.Unauthorized)]
    [InlineData(null)]
    public async Task Server_failures_are_counted_and_the_next_tick_goes_on(HttpStatusCode? failure)
    {
        var (fleet, server, time) = Build(Quiet(), new Dictionary<string, IConsumer> { ["flags"] = new PlainConsumer() });
        server.Desired = _ => [FakePackage.Of("flags", 1, "{}")];
        server.FailBatchesWith = failure;
        server.Unreachable = failure is null;

        await TickAsync(fleet, time);

        Assert.Equal((3, 3), (fleet.Counters.BatchesSent, fleet.Counters.BatchesFailed));
        Assert.Empty(fleet.NodesOn("flags", 1));

        server.FailBatchesWith = null;
        server.Unreachable = false;
        await TickAsync(fleet, time);

        Assert.Equal((6, 3), (fleet.Counters.BatchesSent, fleet.Counters.BatchesFailed));
        Assert.Equal(60, fleet.NodesOn("flags", 1).Count);
    }

    [Fact]
    public async Task A_refused_report_is_counted_without_spoiling_the_others()
    {
        var (fleet, server, time) = Build(Quiet(), new Dictionary<string, IConsumer> { ["flags"] = new PlainConsumer() });
        var odd = fleet.Nodes[5].Id;
        server.Desired = r => (string)r["node"]! == odd ? [] : [FakePackage.Of("flags", 1, "{}")];
        server.Refuse = r => (string)r["node"]! == odd ? "metrics.errors (5) must not exceed metrics.requests (4)" : null;

        await TickAsync(fleet, time);

        Assert.Equal(1, fleet.Counters.ReportsRefused);
        Assert.Equal(59, fleet.NodesOn("flags", 1).Count);
        Assert.Null(fleet.Node(odd).Running("flags"));
    }

    [Fact]
    public async Task Content_that_does_not_match_its_hash_is_not_applied_and_is_fetched_again()
    {
        var (fleet, server, time) = Build(Quiet(), new Dictionary<string, IConsumer> { ["flags"] = new PlainConsumer() });
        var package = FakePackage.Of("flags", 1, """{"a": 1}""") with { ServedInstead = Encoding.UTF8.GetBytes("""{"a": 2}""") };
        server.Desired = _ => [package];

        await TickAsync(fleet, time);
        await TickAsync(fleet, time);

        Assert.Empty(fleet.NodesOn("flags", 1));
        Assert.Equal(2, server.ContentGets(package.Url));
        Assert.Equal(2, fleet.Counters.ContentFetchesFailed);
    }

    [Fact]
    public async Task Units_without_a_consumer_are_ignored_when_asked_to()
    {
        var (fleet, server, time) = Build(Quiet(), new Dictionary<string, IConsumer> { ["flags"] = new PlainConsumer() });
        server.Desired = _ => [FakePackage.Of("flags", 1, "{}"), FakePackage.Of("someone-elses", 4, "x")];

        await TickAsync(fleet, time);
        await TickAsync(fleet, time);

        Assert.Equal(1, server.AllContentGets);
        Assert.All(server.TakeReports().Values, r => Assert.Equal(["flags"], r["applied"]!.AsObject().Select(p => p.Key)));
    }

    [Fact]
    public async Task Killswitch_fails_about_28_percent_of_requests_on_fl1_nodes_and_none_elsewhere()
    {
        var (fleet, server, time) = Build(Quiet(nodes: 40, pops: 2), new Dictionary<string, IConsumer>
        {
            ["global-flags"] = new KillswitchConsumer(new LabelMatch("proxy", "fl1")),
        });
        var fl1 = fleet.Nodes.Where(n => n.Labels["proxy"] == "fl1").Select(n => n.Id).ToHashSet();
        Assert.InRange(fl1.Count, 10, 30);
        server.Desired = _ => [FakePackage.Of("global-flags", 2, """{"killswitch": true}""")];
        await TickAsync(fleet, time);
        server.TakeReports();

        long fl1Requests = 0, fl1Errors = 0, otherRequests = 0, otherErrors = 0;
        for (var tick = 0; tick < 20; tick++)
        {
            await TickAsync(fleet, time);
            foreach (var (node, report) in server.TakeReports())
            {
                var (requests, errors) = ((long)report["metrics"]!["requests"]!, (long)report["metrics"]!["errors"]!);
                if (fl1.Contains(node))
                {
                    (fl1Requests, fl1Errors) = (fl1Requests + requests, fl1Errors + errors);
                }
                else
                {
                    (otherRequests, otherErrors) = (otherRequests + requests, otherErrors + errors);
                }
            }
        }

        Assert.True(fl1Requests > 100_000, $"only {fl1Requests} requests on fl1");
        Assert.InRange((double)fl1Errors / fl1Requests, 0.23, 0.33);
        Assert.InRange((double)otherErrors / otherRequests, 0, 0.003);
    }

    [Fact]
    public async Task Latency_package_slows_nodes_down_without_adding_errors()
    {
        var (fleet, server, time) = Build(Quiet(nodes: 30, pops: 1), new Dictionary<string, IConsumer>
        {
            ["edge-latency"] = new LatencyConsumer(),
        });
        await TickAsync(fleet, time);
        await TickAsync(fleet, time);
        var before = server.TakeReports();

        server.Desired = _ => [FakePackage.Of("edge-latency", 1, """{"extraLatencyMs": 80}""")];
        await TickAsync(fleet, time);
        await TickAsync(fleet, time);
        var after = server.TakeReports();

        static double Median(IEnumerable<double> values) => values.Order().ElementAt(values.Count() / 2);
        var p99Before = Median(before.Values.Select(r => (double)r["metrics"]!["p99LatencyMs"]!));
        var p99After = Median(after.Values.Select(r => (double)r["metrics"]!["p99LatencyMs"]!));
        Assert.InRange(p99After - p99Before, 70, 90);
        Assert.All(after.Values, r => Assert.True((long)r["metrics"]!["errors"]! <= (long)r["metrics"]!["requests"]! / 100));
    }

    [Fact]
    public async Task Same_seed_sends_the_same_reports()
    {
        async Task<string> RunAsync()
        {
            var (fleet, server, time) = Build(new FleetShape { Nodes = 200, Pops = 5, Seed = 3 }, new Dictionary<string, IConsumer>
            {
                ["global-flags"] = new KillswitchConsumer(new LabelMatch("proxy", "fl1")),
            });
            server.Desired = _ => [FakePackage.Of("global-flags", 1, """{"killswitch": true}""")];
            var all = new StringBuilder();
            for (var tick = 0; tick < 3; tick++)
            {
                await TickAsync(fleet, time);
                foreach (var (_, report) in server.TakeReports().OrderBy(r => r.Key, StringComparer.Ordinal))
                {
                    all.AppendLine(report.ToJsonString());
                }
            }
            return all.ToString();
        }

        Assert.Equal(await RunAsync(), await RunAsync());
    }

    [Fact]
    public async Task Running_fleet_ticks_on_its_clock_and_stops_when_cancelled()
    {
        var (fleet, server, time) = Build(Quiet(nodes: 6, pops: 1), new Dictionary<string, IConsumer>());
        var answered = new SemaphoreSlim(0);
        server.BatchAnswered += () => answered.Release();
        using var stop = new CancellationTokenSource();

        var running = fleet.RunAsync(TimeSpan.FromSeconds(1), stop.Token);

        Assert.True(await answered.WaitAsync(TimeSpan.FromSeconds(10)), "the first tick did not report");
        for (var tick = 2; tick <= 4; tick++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.True(await answered.WaitAsync(TimeSpan.FromSeconds(10)), $"tick {tick} did not report after the clock moved");
        }
        Assert.Equal(4, server.BatchesAnswered);

        server.Unreachable = true;
        time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntilAsync(() => fleet.Counters.BatchesFailed == 1, "a failed tick to be counted");

        stop.Cancel();
        await running.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(5, fleet.Counters.Ticks);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            Assert.False(timeout.IsCancellationRequested, $"timed out waiting for {what}");
            await Task.Yield();
        }
    }
}
