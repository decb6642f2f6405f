using System.Net;
using Microsoft.Extensions.Logging;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Exposition;

namespace Snapstone.Simulator.Cli;

/// <summary><c>run</c>: a fleet reporting to a running Snapstone until stopped or for a duration.</summary>
internal static class RunCommand
{
    public const string Usage = """
          run --url URL[,URL...] --token TOKEN [--nodes 2000] [--pops 20] [--seed 1] [--duration SECONDS]
              [--interval SECONDS] [--summary-every 5] [--regions eu-west,us-east,...]
              [--canary-share 0.01] [--flaky-share 0.005] [--low-traffic-pop-share 0.15]
              [--label proxy=fl1,fl2] [--consumer UNIT=CONSUMER ...] [--other-units plain|ignore]
              [--batch 500] [--concurrency 8] [--log warning]
              [--metrics-listen 127.0.0.1:9464] [--no-report-metrics]
            CONSUMER: plain | latency | features:fail-closed|fail-stale|fail-open[:MAX]
                      | killswitch[:KEY=VALUE[:SHARE]]
            Without --consumer: bot-features=features:fail-closed, global-flags=killswitch:proxy=fl1:0.28,
            edge-latency=latency; other units plain.
            --url (or --server) may repeat: batches spread over the gateways, and a batch that fails with a
            connection error, a timeout, a 5xx or a 429 goes to the next one after a short backoff.
            --metrics-listen serves every node's counters and latency histogram at http://HOST:PORT/metrics
            for Prometheus (labels node, pop, region, tier and the node labels; port 0 picks a free one).
            --no-report-metrics leaves metrics out of the reports (applied state only): judge from Prometheus.
        """;

    public static readonly IReadOnlyDictionary<string, IConsumer> DefaultConsumers = new Dictionary<string, IConsumer>
    {
        ["bot-features"] = new FeatureFileConsumer(FailureMode.FailClosed),
        ["global-flags"] = new KillswitchConsumer(new LabelMatch("proxy", "fl1")),
        ["edge-latency"] = new LatencyConsumer(),
    };

    public static async Task<int> ExecuteAsync(Arguments args, CancellationToken cancellationToken)
    {
        var urls = FleetArguments.Urls(args);
        if (urls.Count == 0)
        {
            throw new UsageException("--url is required: the Snapstone gateway(s) to report to");
        }
        IPEndPoint? listen = null;
        if (args.Text("metrics-listen") is { } listenText && (listen = MetricsEndpoint.ParseListen(listenText, out var listenError)) is null)
        {
            throw new UsageException($"--metrics-listen {listenError}");
        }
        var options = FleetArguments.Read(args) with
        {
            Gateways = urls,
            ExposeMetrics = listen is not null,
            ReportMetrics = !args.Switch("no-report-metrics"),
            Consumers = args.All("consumer") is { Count: > 0 } specs ? specs.Select(Consumer).ToDictionary() : DefaultConsumers,
            OtherUnits = args.Text("other-units") switch
            {
                null or "plain" => new PlainConsumer(),
                "ignore" => null,
                var text => throw new UsageException($"--other-units must be plain or ignore (got '{text}')"),
            },
        };
        FleetArguments.Check(options);
        var duration = args.Number("duration", 0.0);
        var interval = options.ReportInterval;
        var summaryEvery = TimeSpan.FromSeconds(args.Number("summary-every", 5.0));
        var logLevel = FleetArguments.LogLevel(args);
        args.RejectUnknown();

        var time = TimeProvider.System;
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = options.MaxConcurrentRequests,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            // A gateway whose host is cut off never refuses a connection; give up on it soon and fail over.
            ConnectTimeout = TimeSpan.FromSeconds(2),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // the fleet bounds each request itself
        };
        var fleet = new Fleet(options, http, time, new ConsoleLogger(logLevel, time));
        Console.WriteLine($"{fleet.Nodes.Count} nodes in {fleet.Pops.Count} PoPs, {options.Shape.Regions.Count} regions, " +
                          $"{fleet.Nodes.Count(n => n.Profile.IsCanary)} canaries, {fleet.Nodes.Count(n => n.Profile.Flaky)} flaky; " +
                          $"reporting to {string.Join(", ", urls)} every {interval.TotalSeconds:0.###} s");
        foreach (var (unit, consumer) in options.Consumers)
        {
            Console.WriteLine($"  {unit}: {consumer.Describe()}");
        }
        MetricsEndpoint? endpoint = null;
        try
        {
            endpoint = listen is null ? null : await MetricsEndpoint.StartAsync(fleet.Metrics!, listen, cancellationToken);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"error: --metrics-listen {listen}: {e.Message}");
            return 1;
        }
        await using var serving = endpoint;
        if (endpoint is not null)
        {
            Console.WriteLine($"  Prometheus exposition at {endpoint.Url}");
        }
        if (!options.ReportMetrics)
        {
            Console.WriteLine("  reports carry no metrics (--no-report-metrics): judge the fleet from Prometheus");
            if (endpoint is null)
            {
                Console.Error.WriteLine("warning: --no-report-metrics without --metrics-listen: nothing tells anyone what the nodes serve");
            }
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (duration > 0)
        {
            stop.CancelAfter(TimeSpan.FromSeconds(duration));
        }
        var started = time.GetTimestamp();
        var running = fleet.RunAsync(interval, stop.Token);
        using (var summary = new PeriodicTimer(summaryEvery, time))
        {
            try
            {
                while (await summary.WaitForNextTickAsync(stop.Token))
                {
                    Console.WriteLine(FleetSummary.Line(fleet, time.GetElapsedTime(started)));
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }
        await running;
        Console.WriteLine(FleetSummary.Line(fleet, time.GetElapsedTime(started)));
        return 0;
    }

    private static KeyValuePair<string, IConsumer> Consumer(string text)
    {
        try
        {
            return ConsumerSpec.ParseForUnit(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new UsageException($"--consumer {e.Message}");
        }
    }
}
