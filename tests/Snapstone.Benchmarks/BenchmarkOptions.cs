using System.Globalization;
using Snapstone.Simulator;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;

namespace Snapstone.Benchmarks;

/// <summary>The command line: <c>--name value</c> pairs, every one with a default.</summary>
public sealed record BenchmarkOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project tests/Snapstone.Benchmarks -- [options]

          --nodes 10000            simulated nodes reporting to the server (and grain keys of the raw baseline); a list
                                   (10000,100000) runs the whole benchmark once per size, each on a fresh server, and
                                   prints the sizes' results side by side
          --silos 1                silos serving the fleet: 1 is the server with its own embedded storage; more start one
                                   Azurite and that many servers on it in one cluster (Azure Table clustering), the fleet
                                   spread over their gateways; a list (1,2,3) runs each count, as --nodes does
          --pops 0                 PoPs the nodes are spread over (one report batch per PoP and chunk);
                                   0: one per 500 nodes, at least 20 (a PoP holds at most 1,000 by default)
          --interval 1             seconds between a node's reports while the fleet reports at its real cadence
          --seconds 30             how long report ingest is sustained
          --memory-seconds 15      how long the fleet reports once a second before memory is read again
          --batch 500              reports per POST /v1/reports
          --concurrency 8          report batches in flight at once
          --raw-seconds 10         how long raw grain calls are measured
          --raw-concurrency 256    raw grain calls in flight at once
          --registration-timeout 600  seconds to wait for the server to register every node
          --bad-rollouts 10        good-then-bad rollout rounds for (a), (b) and (e), each on a unit of its own
          --canary-bake 20         seconds the canary wave of a bad rollout bakes before the rest of the fleet
          --rollout-seconds 900    start no new rollout round after this many seconds of them
          --only all               all; rollouts: register the fleet and measure only (a), (b) and (e);
                                   ingest: the baselines, registration, memory and ingest (c), (d), no rollouts;
                                   replay: only the incident replays, each on a server and fleet of its own
                                   prometheus: time to safe judged from pushed reports and from Prometheus (1 s
                                   scrape), --bad-rollouts trials each, two fleets of --nodes on one server
          --replays a,b,c,d,e,f,g  with --only replay: which replays (docs/performance.md, "Incident replays")
          --replay-bake 10         with --only replay: seconds each wave of the replay plan bakes
          --replay-gap 0           with --only replay: seconds the fleet reports between one change settling and the next
          --telemetry on           off: the server collects no metrics (Snapstone:Telemetry:Enabled=false), to measure their cost
        """;

    public int Nodes { get; init; } = 10_000;
    /// <summary>Every fleet size asked for (<c>--nodes 10000,100000</c>); <see cref="Nodes"/> is the one being run.</summary>
    public IReadOnlyList<int> Sizes { get; init; } = [10_000];
    /// <summary>Silos in the cluster being run (<c>--silos</c>); 1: the server alone with its embedded storage.</summary>
    public int Silos { get; init; } = 1;
    /// <summary>Every silo count asked for (<c>--silos 1,2,3</c>); each size runs with each.</summary>
    public IReadOnlyList<int> SiloCounts { get; init; } = [1];
    public int Pops { get; init; } = 20;
    /// <summary>How often each node reports at the real cadence (paced reporting and the rollouts).</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan IngestDuration { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan MemoryDuration { get; init; } = TimeSpan.FromSeconds(15);
    public int Batch { get; init; } = 500;
    public int Concurrency { get; init; } = 8;
    public TimeSpan RawDuration { get; init; } = TimeSpan.FromSeconds(10);
    public int RawConcurrency { get; init; } = 256;
    public TimeSpan RegistrationTimeout { get; init; } = TimeSpan.FromMinutes(10);
    public int BadRollouts { get; init; } = 10;
    public int CanaryBakeSeconds { get; init; } = 20;
    public bool RolloutsOnly => Only == BenchmarkPart.Rollouts;
    public BenchmarkPart Only { get; init; }
    public IReadOnlyList<string> Replays { get; init; } = Simulator.Replay.Replays.Ids;
    public int ReplayBakeSeconds { get; init; } = 10;
    public TimeSpan ReplayGap { get; init; } = TimeSpan.Zero;
    public TimeSpan RolloutBudget { get; init; } = TimeSpan.FromSeconds(900);
    public bool Telemetry { get; init; } = true;

    /// <summary>Reads the options; throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public static BenchmarkOptions Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
            {
                throw new ArgumentException($"expected --name value pairs, got '{args[i]}'{(i + 1 >= args.Count ? " without a value" : "")}");
            }
            values[args[i][2..]] = args[i + 1];
        }
        int Number(string name, int fallback, int min)
        {
            if (!values.Remove(name, out var text))
            {
                return fallback;
            }
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min)
            {
                throw new ArgumentException($"--{name} must be a whole number of at least {min} (got '{text}')");
            }
            return value;
        }
        var sizes = values.Remove("nodes", out var nodesText) ? ParseList("nodes", nodesText, 1, int.MaxValue) : [10_000];
        var siloCounts = values.Remove("silos", out var silosText) ? ParseList("silos", silosText, 1, MaxSilos) : [1];
        var options = new BenchmarkOptions
        {
            Nodes = sizes[0],
            Sizes = sizes,
            SiloCounts = siloCounts,
            PopsAsked = Number("pops", 0, 0),
            ReportInterval = TimeSpan.FromSeconds(Number("interval", 1, 1)),
            IngestDuration = TimeSpan.FromSeconds(Number("seconds", 30, 1)),
            MemoryDuration = TimeSpan.FromSeconds(Number("memory-seconds", 15, 0)),
            Batch = Number("batch", 500, 1),
            Concurrency = Number("concurrency", 8, 1),
            RawDuration = TimeSpan.FromSeconds(Number("raw-seconds", 10, 1)),
            RawConcurrency = Number("raw-concurrency", 256, 1),
            RegistrationTimeout = TimeSpan.FromSeconds(Number("registration-timeout", 600, 1)),
            BadRollouts = Number("bad-rollouts", 10, 1),
            CanaryBakeSeconds = Number("canary-bake", 20, 1),
            RolloutBudget = TimeSpan.FromSeconds(Number("rollout-seconds", 900, 1)),
            Only = !values.Remove("only", out var only) ? BenchmarkPart.All : only switch
            {
                "all" => BenchmarkPart.All,
                "rollouts" => BenchmarkPart.Rollouts,
                "replay" => BenchmarkPart.Replay,
                "ingest" => BenchmarkPart.Ingest,
                "prometheus" => BenchmarkPart.Prometheus,
                _ => throw new ArgumentException($"--only must be all, rollouts, ingest, replay or prometheus (got '{only}')"),
            },
            Replays = values.Remove("replays", out var replays) ? ReplayIds(replays) : Simulator.Replay.Replays.Ids,
            ReplayBakeSeconds = Number("replay-bake", 10, 1),
            ReplayGap = TimeSpan.FromSeconds(Number("replay-gap", 0, 0)),
            Telemetry = !values.Remove("telemetry", out var telemetry) || telemetry switch
            {
                "on" => true,
                "off" => false,
                _ => throw new ArgumentException($"--telemetry must be on or off (got '{telemetry}')"),
            },
        };
        if (values.Count > 0)
        {
            throw new ArgumentException($"unknown option{(values.Count > 1 ? "s" : "")}: {string.Join(", ", values.Keys.Select(k => "--" + k))}");
        }
        if (options.PopsAsked > sizes.Min())
        {
            throw new ArgumentException($"--pops ({options.PopsAsked}) must not exceed --nodes ({sizes.Min()})");
        }
        if (options.Only is BenchmarkPart.Replay or BenchmarkPart.Prometheus && siloCounts is not [1])
        {
            throw new ArgumentException("--silos applies to the fleet measurements; --only replay and --only prometheus run on one server");
        }
        return options.Sized(sizes[0]) with { Silos = siloCounts[0] };
    }

    /// <summary>The most silos <c>--silos</c> takes: each is a server process on this host.</summary>
    public const int MaxSilos = 8;

    /// <summary>Every (size, silos) run asked for, sizes outermost, each with its options.</summary>
    public IEnumerable<BenchmarkOptions> Runs() =>
        from size in Sizes
        from silos in SiloCounts
        select Sized(size) with { Silos = silos };

    /// <summary>"100,000 nodes", or "100,000 nodes, 3 silos" when silos were asked for.</summary>
    public string Label => SiloCounts is [1] ? $"{Nodes:N0} nodes" : $"{Nodes:N0} nodes, {Silos} silo{(Silos == 1 ? "" : "s")}";

    /// <summary>These options for a fleet of <paramref name="nodes"/>; PoPs left at 0 become one per 500 nodes, at least 20.</summary>
    public BenchmarkOptions Sized(int nodes) => this with
    {
        Nodes = nodes,
        Pops = PopsAsked == 0 ? Math.Min(nodes, Math.Max(20, (nodes + 499) / 500)) : PopsAsked,
    };

    /// <summary>What <c>--pops</c> said (0: derived from the fleet size).</summary>
    private int PopsAsked { get; init; }

    private static int[] ParseList(string name, string text, int min, int max)
    {
        var values = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                var range = max == int.MaxValue ? $"at least {min}" : $"from {min} to {max}";
                throw new ArgumentException($"--{name} must be a whole number {range}, or a comma-separated list of them (got '{text}')");
            }
            values.Add(value);
        }
        return [.. values];
    }

    /// <summary>
    /// How a benchmark fleet reports: batches of <see cref="Batch"/>, <see cref="Concurrency"/> in flight, no node
    /// refusing a unit it has no consumer for.
    /// </summary>
    public FleetOptions FleetOptions(FleetShape shape, IReadOnlyDictionary<string, IConsumer> consumers, string agentToken) => new()
    {
        Shape = shape,
        Consumers = consumers,
        OtherUnits = null,
        Token = agentToken,
        MaxReportsPerBatch = Batch,
        MaxConcurrentRequests = Concurrency,
        ReportInterval = ReportInterval,
        // A fresh server takes long to answer first reports (each one is a storage write); waiting beats resending.
        RequestTimeout = TimeSpan.FromSeconds(120),
    };

    /// <summary>The handler for report batches: a connection for each batch in flight.</summary>
    public SocketsHttpHandler ReportHandler() => new()
    {
        MaxConnectionsPerServer = Concurrency,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    };

    private static string[] ReplayIds(string text)
    {
        var ids = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToArray();
        var known = Simulator.Replay.Replays.Ids;
        if (ids.Length == 0 || ids.Any(id => !known.Contains(id)))
        {
            throw new ArgumentException($"--replays must list some of {string.Join(",", known)} (got '{text}')");
        }
        return ids;
    }
}

/// <summary>What <c>--only</c> runs.</summary>
public enum BenchmarkPart
{
    /// <summary>Everything but the incident replays: the baselines, ingest, memory and the rollouts.</summary>
    All,
    Rollouts,
    Replay,
    /// <summary>The baselines, registration, paced reporting, memory and ingest: (c) and (d) without the rollouts.</summary>
    Ingest,
    /// <summary>Time to safe judged from pushed reports and from Prometheus alone, side by side (<see cref="Measurements.PrometheusTimeToSafe"/>).</summary>
    Prometheus,
}
