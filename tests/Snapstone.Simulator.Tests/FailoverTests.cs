using System.Net;
using Microsoft.Extensions.Time.Testing;
using Snapstone.Simulator.Cli;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;

namespace Snapstone.Simulator.Tests;

public sealed class FailoverTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 3, 9, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// 6 PoPs of 4 nodes: six batches a round, homed in turn on gw-0, gw-1, gw-2, gw-0, … and sent one at a time, so
    /// which gateway each batch tries first is known. No backoff unless a test asks for one.
    /// </summary>
    private static (Fleet Fleet, FakeGateways Gateways, FakeTimeProvider Time) Build(int gateways = 3, TimeSpan? backoff = null, int? maxAttempts = null)
    {
        var fakes = new FakeGateways(gateways);
        var time = new FakeTimeProvider(Start);
        var fleet = new Fleet(new FleetOptions
        {
            Shape = new FleetShape { Nodes = 24, Pops = 6, Regions = ["eu-west"], Seed = 3, FlakyNodeShare = 0, LowTrafficPopShare = 0 },
            Consumers = new Dictionary<string, IConsumer> { ["flags"] = new PlainConsumer() },
            OtherUnits = null,
            Token = "agent-token",
            Gateways = fakes.Urls,
            MaxConcurrentRequests = 1,
            ReportAfterChange = false,
            RetryBackoff = backoff ?? TimeSpan.Zero,
            MaxAttemptsPerBatch = maxAttempts,
        }, new HttpClient(fakes), time);
        return (fleet, fakes, time);
    }

    [Fact]
    public async Task A_batch_that_fails_on_its_gateway_is_answered_by_the_next_and_later_batches_skip_the_failed_ones()
    {
        var (fleet, gateways, time) = Build();
        gateways.Desired = _ => [FakePackage.Of("flags", 1, "{}")];
        gateways.Servers[0].Unreachable = true;
        gateways.Servers[1].FailBatchesWith = HttpStatusCode.ServiceUnavailable;
        gateways.Servers[1].RetryAfter = TimeSpan.FromSeconds(5);

        await fleet.TickAsync(CancellationToken.None);

        // Batch 0 tried gw-0 (refused), gw-1 (503), gw-2 (answered); every later batch went to gw-2 at once.
        Assert.Equal((1, 1, 6), (gateways.Servers[0].BatchesReceived, gateways.Servers[1].BatchesReceived, gateways.Servers[2].BatchesAnswered));
        Assert.Equal(24, gateways.Servers[2].TakeReports().Count);
        Assert.Equal(24, fleet.NodesOn("flags", 1).Count);
        var c = fleet.Counters;
        Assert.Equal((6L, 8L, 1L, 1L, 0L), (c.BatchesSent, c.BatchAttempts, c.BatchesRetried, c.BatchesRecovered, c.BatchesFailed));
        // gw-0 is avoided for its first cool-down, gw-1 for as long as its Retry-After said.
        Assert.Equal(
            [
                new GatewayStatus(gateways.Urls[0], 0, 1, Start + Gateways.FirstCooldown),
                new GatewayStatus(gateways.Urls[1], 0, 1, Start.AddSeconds(5)),
                new GatewayStatus(gateways.Urls[2], 7, 0, null),
            ],
            fleet.Gateways.Status());
        // The content came from the gateway that answered, once.
        Assert.Equal(1, gateways.Servers[2].AllContentGets);
    }

    [Fact]
    public async Task Once_a_cool_down_ends_batches_go_home_again_and_a_gateway_that_fails_again_is_avoided_twice_as_long()
    {
        var (fleet, gateways, time) = Build();
        gateways.Servers[0].Unreachable = true;
        await fleet.TickAsync(CancellationToken.None);
        Assert.Equal(1, gateways.Servers[0].BatchesReceived);

        // Past gw-0's 1 s cool-down it is tried first again by its own batches, fails, and is avoided for 2 s.
        time.Advance(TimeSpan.FromSeconds(1));
        await fleet.TickAsync(CancellationToken.None);
        Assert.Equal(2, gateways.Servers[0].BatchesReceived);
        Assert.Equal(time.GetUtcNow().AddSeconds(2), fleet.Gateways.Status()[0].AvoidedUntil);

        // It answers again: the next round's batches homed on it stay there, and its cool-down is cleared.
        gateways.Servers[0].Unreachable = false;
        time.Advance(TimeSpan.FromSeconds(2));
        await fleet.TickAsync(CancellationToken.None);
        Assert.Equal(2, gateways.Servers[0].BatchesAnswered);
        Assert.Null(fleet.Gateways.Status()[0].AvoidedUntil);
        Assert.Equal([2, 10, 6], gateways.Servers.Select(s => s.BatchesAnswered));
        Assert.Equal((18L, 0L, 2L), (fleet.Counters.BatchesSent, fleet.Counters.BatchesFailed, fleet.Counters.BatchesRecovered));
    }

    [Fact]
    public async Task A_batch_every_gateway_fails_is_tried_once_on_each_and_counted_lost()
    {
        var (fleet, gateways, _) = Build();
        gateways.Servers[0].Unreachable = true;
        gateways.Servers[1].FailBatchesWith = HttpStatusCode.InternalServerError;
        gateways.Servers[2].FailBatchesWith = HttpStatusCode.TooManyRequests;

        await fleet.TickAsync(CancellationToken.None);

        var c = fleet.Counters;
        Assert.Equal((6L, 18L, 6L, 0L, 6L), (c.BatchesSent, c.BatchAttempts, c.BatchesRetried, c.BatchesRecovered, c.BatchesFailed));
        Assert.Equal([6, 6, 6], gateways.Servers.Select(s => s.BatchesReceived));
        Assert.Empty(fleet.NodesOn("flags", 1));
        Assert.All(fleet.Gateways.Status(), g => Assert.NotNull(g.AvoidedUntil));
    }

    [Fact]
    public async Task A_refusal_is_not_retried_elsewhere_because_every_gateway_would_refuse_it_the_same_way()
    {
        var (fleet, gateways, _) = Build();
        gateways.Servers[0].FailBatchesWith = HttpStatusCode.Unauthorized;

        await fleet.TickAsync(CancellationToken.None);

        // The two batches homed on gw-0 are lost there; nobody else saw them, and gw-0 is not avoided for it.
        var c = fleet.Counters;
        Assert.Equal((6L, 6L, 0L, 2L), (c.BatchesSent, c.BatchAttempts, c.BatchesRetried, c.BatchesFailed));
        Assert.Equal([2, 2, 2], gateways.Servers.Select(s => s.BatchesReceived));
        Assert.Null(fleet.Gateways.Status()[0].AvoidedUntil);
    }

    [Fact]
    public async Task With_one_gateway_a_failed_batch_is_not_retried_unless_asked_to()
    {
        var (fleet, gateways, _) = Build(gateways: 1);
        gateways.Servers[0].FailBatchesWith = HttpStatusCode.ServiceUnavailable;
        await fleet.TickAsync(CancellationToken.None);
        Assert.Equal((6L, 6L, 6L), (fleet.Counters.BatchesSent, fleet.Counters.BatchAttempts, fleet.Counters.BatchesFailed));

        var (retrying, again, _) = Build(gateways: 1, maxAttempts: 3);
        again.Servers[0].FailBatchesWith = HttpStatusCode.ServiceUnavailable;
        await retrying.TickAsync(CancellationToken.None);
        Assert.Equal((6L, 18L, 6L), (retrying.Counters.BatchesSent, retrying.Counters.BatchAttempts, retrying.Counters.BatchesFailed));
    }

    [Fact]
    public async Task Content_a_gateway_cannot_serve_is_fetched_from_the_next()
    {
        var (fleet, gateways, _) = Build(gateways: 2);
        var package = FakePackage.Of("flags", 1, """{"a": 1}""");
        gateways.Desired = _ => [package];
        gateways.Servers[0].FailContentWith = HttpStatusCode.BadGateway;

        await fleet.TickAsync(CancellationToken.None);

        // Batch 0 (home gw-0) asked for the content first; gw-0 failed it with a 502, gw-1 served it.
        Assert.Equal((1, 1), (gateways.Servers[0].ContentGets(package.Url), gateways.Servers[1].ContentGets(package.Url)));
        Assert.Equal((1L, 0L), (fleet.Counters.ContentFetches, fleet.Counters.ContentFetchesFailed));
        Assert.Equal(24, fleet.NodesOn("flags", 1).Count);
    }

    [Fact]
    public async Task The_retry_waits_its_backoff_on_the_fleets_clock()
    {
        var (fleet, gateways, time) = Build(gateways: 2, backoff: TimeSpan.FromMilliseconds(500));
        gateways.Servers[0].Unreachable = true;

        var tick = fleet.TickAsync(CancellationToken.None);
        await Until(() => fleet.Gateways.Status()[0].Failed == 1, "batch 0 to fail on gw-0");

        // The backoff is between half and all of 500 ms: nothing reaches gw-1 before the clock has moved that far.
        // The clock moves in 10 ms steps until gw-1 hears of the batch (the retry's timer may start a step late).
        var advanced = TimeSpan.Zero;
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            while (gateways.Servers[1].BatchesReceived == 0)
            {
                Assert.False(patience.IsCancellationRequested, $"the retry never reached gw-1; the clock moved {advanced.TotalMilliseconds} ms");
                time.Advance(TimeSpan.FromMilliseconds(10));
                advanced += TimeSpan.FromMilliseconds(10);
                await Task.Delay(1);
            }
        }
        Assert.InRange(advanced.TotalMilliseconds, 250, 520);
        // It stays short of gw-0's 1 s cool-down, so the later batches homed on gw-0 go straight to gw-1.
        await tick.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(6, gateways.Servers[1].BatchesAnswered);
        Assert.Equal((1L, 0L), (fleet.Counters.BatchesRecovered, fleet.Counters.BatchesFailed));
    }

    [Theory]
    [InlineData(new[] { "--url", "http://a:5080" }, "http://a:5080/")]
    [InlineData(new[] { "--url", "http://a:5080, http://b:5080", "--url", "http://c:5080" }, "http://a:5080/ http://b:5080/ http://c:5080/")]
    [InlineData(new[] { "--server", "http://a:5080", "--url", "http://b:5080" }, "http://a:5080/ http://b:5080/")]
    [InlineData(new string[0], "")]
    public void Urls_come_from_repeated_options_and_comma_lists(string[] options, string expected)
    {
        var args = Arguments.Parse(["run", .. options]);
        Assert.Equal(expected, string.Join(" ", FleetArguments.Urls(args)));
    }

    [Theory]
    [InlineData("ftp://a", "--url must be an absolute http or https URL like http://127.0.0.1:5080 (got 'ftp://a')")]
    [InlineData("a:5080/x", "--url must be an absolute http or https URL like http://127.0.0.1:5080 (got 'a:5080/x')")]
    [InlineData("http://a:1,http://a:1", "--url http://a:1/ is given twice")]
    public void A_bad_url_is_a_usage_error_naming_it(string urls, string message)
    {
        var error = Assert.Throws<UsageException>(() => FleetArguments.Urls(Arguments.Parse(["run", "--url", urls])));
        Assert.Equal(message, error.Message);
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            Assert.False(timeout.IsCancellationRequested, $"timed out waiting for {what}");
            await Task.Delay(5);
        }
    }
}
