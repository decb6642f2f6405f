using System.Diagnostics;
using System.Globalization;
using System.Text;
using Snapstone.Benchmarks.Probes;
using Snapstone.Simulator;
using Snapstone.Simulator.Cli;
using Snapstone.Simulator.Demo;
using Snapstone.Simulator.Replay;

namespace Snapstone.Benchmarks.Measurements;

/// <summary>
/// The incident replays (<see cref="Replays"/>) scaled up: each on a server of its own (built once, started through
/// the <see cref="ServerLauncher"/>) and a fleet of <c>--nodes</c> nodes reporting once a second, with the server's
/// default settings. The tests play the same replays scaled down; this measures how they fare at size.
/// </summary>
public static class IncidentReplays
{
    /// <summary>The same correctness bound as the tests: safe within 30 report intervals of the first bad report.</summary>
    public const double SafeWithinIntervals = 30;

    public sealed record Played(ReplayResult Result, TimeSpan Wall);

    public static async Task<IReadOnlyList<Played>> RunAsync(BenchmarkOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        var scale = new ReplayScale { Nodes = options.Nodes, Pops = options.Pops, BakeSeconds = options.ReplayBakeSeconds };
        var played = new List<Played>();
        var build = true;
        foreach (var id in options.Replays)
        {
            var scenario = Replays.Named(id, scale);
            var watch = Stopwatch.StartNew();
            await using var server = await ServerLauncher.StartAsync(new ServerLaunchOptions
            {
                Build = build,
                Settings = new Dictionary<string, string> { ["Logging:LogLevel:Default"] = "Warning" },
            }, log, cancellationToken);
            build = false;
            using var reports = new HttpClient(options.ReportHandler()) { BaseAddress = server.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
            using var control = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
            var fleet = new Fleet(options.FleetOptions(scenario.Shape, scenario.Consumers, server.AgentToken), reports, TimeProvider.System);
            var runner = new ReplayRunner(fleet, new ControlPlane(control, server.AdminToken), TimeProvider.System, log)
            {
                Approver = new ControlPlane(control, server.ApproverToken),
                SetupTimeout = options.RegistrationTimeout,
                ChangeTimeout = TimeSpan.FromMinutes(10),
                BetweenChanges = options.ReplayGap,
            };
            var result = await runner.RunAsync(scenario, cancellationToken);
            log.WriteLine(result.Describe());
            foreach (var problem in result.Problems(SafeWithinIntervals))
            {
                log.WriteLine($"  broken promise: {problem}");
            }
            played.Add(new Played(result, watch.Elapsed));
        }
        return played;
    }

    /// <summary>One row per replay, then every change of every replay and every broken promise.</summary>
    public static string Table(IReadOnlyList<Played> played)
    {
        var table = new StringBuilder();
        table.AppendLine("| replay | fleet: nodes / consumers / canaries | changes: good + bad | bad caught in wave 0 | blast radius: most nodes that ran a bad package / its first wave | time to safe p50 / max | fleet back on the previous package p50 / max | good completed / halted | promises | wall time |");
        table.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (r, wall) in played)
        {
            var bad = r.Bad.Where(o => !o.Refused).ToList();
            var worst = bad.OrderByDescending(o => o.EverApplied).FirstOrDefault();
            var problems = r.Problems(SafeWithinIntervals);
            table.AppendLine(string.Join(" | ",
                $"| ({r.Id}) {r.Name}",
                $"{r.Nodes:N0} / {r.Consumers:N0} / {r.Canaries:N0}",
                $"{r.Good.Count} + {r.Bad.Count}",
                r.Bad.Count == 0 ? "–" : $"{bad.Count(o => o is { State: "rolled-back", StoppedAtWave: 0 })} of {r.Bad.Count}" +
                    (r.Bad.Count(o => o.Refused) is > 0 and var refused ? $" ({refused} refused by validation)" : ""),
                worst is null ? "–" : $"{worst.EverApplied:N0} / {worst.FirstWaveTargeted:N0} ({Percent(worst.EverApplied, r.Nodes)} of the fleet)",
                Spread(r, bad.Select(o => o.TimeToSafe)),
                Spread(r, bad.Select(o => o.FleetTimeToSafe)),
                r.Good.Count == 0 ? "–" : $"{r.Good.Count(o => o is { State: "completed", TimedOut: false })} of {r.Good.Count} / {r.Good.Count(o => o.Halt is not null)}",
                problems.Count == 0 ? "kept" : $"{problems.Count} broken",
                $"{wall.TotalSeconds:0} s |"));
        }
        table.AppendLine();
        foreach (var (r, _) in played)
        {
            table.AppendLine(r.Describe());
            foreach (var problem in r.Problems(SafeWithinIntervals))
            {
                table.AppendLine($"  broken promise: {problem}");
            }
        }
        return table.ToString();
    }

    /// <summary><c>2.85 s (2.8), 4.45 s (4.5)</c>: p50 and max in seconds and, in brackets, report intervals.</summary>
    private static string Spread(ReplayResult result, IEnumerable<TimeSpan?> spans)
    {
        var seconds = spans.Where(s => s is not null).Select(s => s!.Value.TotalSeconds).Order().ToList();
        if (seconds.Count == 0)
        {
            return "–";
        }
        var interval = result.ReportInterval.TotalSeconds;
        string One(double s) => string.Create(CultureInfo.InvariantCulture, $"{s:0.00} s ({s / interval:0.0})");
        return $"{One(Percentiles.Of(seconds, 0.5))}, {One(seconds[^1])}";
    }

    private static string Percent(int part, int whole) =>
        string.Create(CultureInfo.InvariantCulture, $"{100.0 * part / Math.Max(1, whole):0.##}%");
}
