using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Snapstone.Benchmarks.Probes;
using Snapstone.Simulator;
using Snapstone.Simulator.Cli;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Demo;
using Snapstone.Simulator.Exposition;
using Snapstone.Simulator.Shape;

namespace Snapstone.Benchmarks.Measurements;

// Snapstone.RolloutView (the server's own) would win over the using above: this is the wire view the client reads.
using RolloutView = Snapstone.Simulator.Demo.RolloutView;

/// <summary>
/// Time to safe for a bad canary judged two ways in one run, on one server: from the metrics agents push in their reports,
/// and from Prometheus alone (Debian's <c>prometheus</c>, scraping the simulator's exposition every second). Two fleets of
/// <c>--nodes</c> nodes each report once a second, in regions of their own: the <c>pushed</c> fleet with metrics in its
/// reports, the <c>prometheus</c> fleet with none (<c>--no-report-metrics</c>), its counters served to Prometheus instead.
/// Each trial (<c>--bad-rollouts</c> per path, the paths alternating, which goes first swapped every round) defines a fresh
/// unit consumed by one fleet's nodes only, rolls out its first package (a killswitch off) and then a bad one (the
/// killswitch on: affected nodes fail 30% of their requests, with no crash and no refusal, so the only evidence is the
/// error rate) on canary → 100%. Time to safe is from the first node applying the bad package to the server's
/// <c>rollback.completedAt</c> (the last node confirmed back); the fleet's own clock (its last node back) is shown beside.
/// </summary>
public static class PrometheusTimeToSafe
{
    /// <summary>The error ratio per node over the last 10 s: ten scrapes at 1 s, so one bad scrape cannot decide alone.</summary>
    public const string Query = "sum by (node) (rate(edge_errors_total[10s])) / sum by (node) (rate(edge_requests_total[10s]))";
    public const double ErrorShare = 0.3;
    public static readonly TimeSpan ScrapeInterval = TimeSpan.FromSeconds(1);

    public enum Judged { Pushed, Prometheus }

    public sealed record Trial(
        Judged Path, int Round, string RolloutId, string State, int? StoppedAtWave, TimeSpan? TimeToSafe, TimeSpan? FleetTimeToSafe,
        TimeSpan? ToRollbackStart, int EverApplied, int Canaries, string? Reason);

    public sealed record Outcome(
        IReadOnlyList<Trial> Trials, int NodesPerPath, int CanariesPerPath, int CanaryBakeSeconds, string LoadBefore, string LoadAfter,
        CpuUse Cpu, TimeSpan Wall, IReadOnlyList<string> Notes);

    private const string FirstPlan = "ttsafe-first-";
    private const string BadPlan = "ttsafe-canary-";

    private static string Label(Judged path) => path == Judged.Pushed ? "pushed" : "prometheus";

    private static string Unit(Judged path, int round) => $"ttsafe-{Label(path)}-{round}";

    private static JsonObject Gate() => new()
    {
        ["name"] = "edge-error-rate", ["query"] = Query, ["direction"] = "higher-is-worse", ["max"] = 0.05, ["maxRatio"] = 10.0, ["minNodes"] = 2,
    };

    public static async Task<Outcome> RunAsync(BenchmarkOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        var wall = Stopwatch.StartNew();
        var loadBefore = LoadAverage();
        var notes = new List<string>();
        var paths = new[] { Judged.Pushed, Judged.Prometheus };
        // Prometheus and the server come first (the server is told where Prometheus is, and the fleets need the server's
        // address): Prometheus scrapes a port kept for the fleet's exposition, which answers once the fleet exists.
        var exposition = new IPEndPoint(IPAddress.Loopback, PrometheusServer.FreePort());
        await using var prometheus = await PrometheusServer.StartAsync(new Uri($"http://{exposition}/metrics"), ScrapeInterval, log, cancellationToken);
        await using var server = await ServerLauncher.StartAsync(new ServerLaunchOptions
        {
            Settings = new Dictionary<string, string>
            {
                ["Logging:LogLevel:Default"] = "Warning",
                ["Snapstone:Metrics:Prometheus:Url"] = prometheus.BaseAddress.ToString(),
                ["Snapstone:Metrics:Prometheus:TimeoutSeconds"] = "2",
            },
        }, log, cancellationToken);
        var clients = paths.ToDictionary(p => p, _ => new HttpClient(options.ReportHandler()) { BaseAddress = server.BaseAddress, Timeout = Timeout.InfiniteTimeSpan });
        // Regions of their own give each fleet node ids and PoPs of its own; a label of its own keeps each unit to one fleet.
        var fleets = paths.ToDictionary(p => p, p => new Fleet(options.FleetOptions(new FleetShape
        {
            Nodes = options.Nodes, Pops = options.Pops, Seed = p == Judged.Pushed ? 21 : 22,
            Regions = p == Judged.Pushed ? ["eu-west", "us-east"] : ["us-west", "ap-southeast"],
            CanaryShare = 0.1, LowTrafficPopShare = 0, FlakyNodeShare = 0,
            Labels = [LabelSplit.Even("path", Label(p))],
        }, Enumerable.Range(0, options.BadRollouts).ToDictionary(r => Unit(p, r), _ => (IConsumer)new KillswitchConsumer(new LabelMatch("path", Label(p)), ErrorShare)),
            server.AgentToken) with
        {
            ReportMetrics = p == Judged.Pushed,
            ExposeMetrics = p == Judged.Prometheus,
        }, clients[p], TimeProvider.System));
        await using var endpoint = await MetricsEndpoint.StartAsync(fleets[Judged.Prometheus].Metrics!, exposition, cancellationToken);
        log.WriteLine($"prometheus on {prometheus.BaseAddress}, scraping {endpoint.Url} every {ScrapeInterval.TotalSeconds:0} s");
        using var control = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
        var admin = new ControlPlane(control, server.AdminToken);
        var approver = new ControlPlane(control, server.ApproverToken);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reporting = fleets.Values.Select(f => f.RunAsync(TimeSpan.FromSeconds(1), stop.Token)).ToArray();
        var cpu = CpuShare.Start(server.ProcessId);
        var trials = new List<Trial>();
        try
        {
            await Until(async () => (await admin.GetFleetAsync(cancellationToken)).Nodes >= 2 * options.Nodes, options.RegistrationTimeout,
                $"the server to know both fleets' {2 * options.Nodes} nodes", cancellationToken);
            await Until(async () => await prometheus.QueryAsync(Query, cancellationToken) is var r && r.Count == options.Nodes && r.All(double.IsFinite),
                options.RegistrationTimeout, $"an error rate in Prometheus for each of the {options.Nodes} nodes", cancellationToken);
            log.WriteLine($"both fleets registered and the prometheus fleet's error rates scraped after {wall.Elapsed.TotalSeconds:0} s");
            await DefinePlansAsync(admin, options.CanaryBakeSeconds, cancellationToken);

            for (var round = 0; round < options.BadRollouts; round++)
            {
                foreach (var path in round % 2 == 0 ? paths : [Judged.Prometheus, Judged.Pushed])
                {
                    var trial = await TrialAsync(path, round, fleets[path], admin, approver, prometheus, options, notes, log, cancellationToken);
                    if (trial is not null)
                    {
                        trials.Add(trial);
                        log.WriteLine($"  {Label(path)} round {round}: {trial.State} at wave {trial.StoppedAtWave}; time to safe {Seconds(trial.TimeToSafe)} " +
                                      $"(fleet {Seconds(trial.FleetTimeToSafe)}), rollback started after {Seconds(trial.ToRollbackStart)}; {trial.Reason}");
                    }
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(reporting);
        }
        return new Outcome(trials, options.Nodes, fleets[Judged.Pushed].Nodes.Count(n => n.Profile.IsCanary), options.CanaryBakeSeconds,
            loadBefore, LoadAverage(), cpu.Read(), wall.Elapsed, notes);
    }

    /// <summary>Per path: a first-package plan (one wave) and the measured one (canary, then everyone), the Prometheus path gated on <see cref="Query"/> alone.</summary>
    private static async Task DefinePlansAsync(ControlPlane admin, int canaryBake, CancellationToken cancellationToken)
    {
        foreach (var path in new[] { Judged.Pushed, Judged.Prometheus })
        {
            JsonObject Gates(bool canary)
            {
                var gates = new JsonObject();
                if (canary)
                {
                    gates["minReportingFraction"] = 1.0;
                }
                if (path == Judged.Prometheus)
                {
                    gates["metrics"] = new JsonArray(Gate());
                }
                return gates;
            }
            await admin.PutPlanAsync(FirstPlan + Label(path), new JsonObject
            {
                ["waves"] = new JsonArray(new JsonObject { ["name"] = "all", ["select"] = new JsonObject { ["percent"] = 100 }, ["bakeSeconds"] = 2, ["gates"] = Gates(false) }),
            }, cancellationToken);
            await admin.PutPlanAsync(BadPlan + Label(path), new JsonObject
            {
                ["waves"] = new JsonArray(
                    new JsonObject { ["name"] = "canary", ["select"] = new JsonObject { ["tier"] = "canary" }, ["bakeSeconds"] = canaryBake, ["gates"] = Gates(true) },
                    new JsonObject { ["name"] = "all", ["select"] = new JsonObject { ["percent"] = 100 }, ["bakeSeconds"] = 2, ["gates"] = Gates(false) }),
            }, cancellationToken);
        }
    }

    private static async Task<Trial?> TrialAsync(
        Judged path, int round, Fleet fleet, ControlPlane admin, ControlPlane approver, PrometheusServer prometheus, BenchmarkOptions options,
        List<string> notes, TextWriter log, CancellationToken cancellationToken)
    {
        var unit = Unit(path, round);
        var label = Label(path);
        await admin.PutUnitAsync(unit, new JsonObject
        {
            ["owner"] = "benchmark",
            ["description"] = $"killswitch consumed by the {label} fleet",
            ["kind"] = "file",
            ["riskTier"] = "standard",
            ["failureMode"] = "fail-stale",
            ["plan"] = FirstPlan + label,
            ["targets"] = new JsonObject { ["labels"] = new JsonObject { ["path"] = label } },
        }, cancellationToken);
        var good = await admin.CreatePackageAsync(unit, new NewPackage("""{"killswitch": false}""", $"killswitch off, round {round}", "benchmark"), cancellationToken);
        var first = await SettleAsync(admin, approver, await admin.StartRolloutAsync(
            new NewRollout(unit, good.Version, $"benchmark: first package, round {round}", FirstPlan + label), $"ttsafe-{unit}-{good.Version}", cancellationToken),
            TimeSpan.FromSeconds(180), r => r.State is "completed" or "rolled-back" or "aborted" or "paused", cancellationToken);
        if (first.State != "completed")
        {
            notes.Add($"{label} round {round}: the first package's rollout ended {first.State} ({first.PausedReason}), so nothing was measured");
            return null;
        }
        await Until(() => Task.FromResult(fleet.NodesOn(unit, good.Version).Count >= fleet.Nodes.Count), TimeSpan.FromSeconds(120),
            $"every {label} node to run {unit} v{good.Version}", cancellationToken);
        if (path == Judged.Prometheus)
        {
            // The last trial's errors leave the 10 s window before the next bad package goes out.
            await Until(async () => await prometheus.QueryAsync($"max({Query})", cancellationToken) is [< 0.01], TimeSpan.FromSeconds(60),
                "every prometheus node's error rate under 1%", cancellationToken);
        }

        var bad = await admin.CreatePackageAsync(unit, new NewPackage("""{"killswitch": true}""", $"killswitch on, round {round}", "benchmark"), cancellationToken);
        var rollout = await SettleAsync(admin, approver, await admin.StartRolloutAsync(
            new NewRollout(unit, bad.Version, $"benchmark: bad canary, round {round}", BadPlan + label), $"ttsafe-{unit}-{bad.Version}", cancellationToken),
            TimeSpan.FromSeconds(options.CanaryBakeSeconds + 180),
            r => r.State is "completed" or "aborted" or "paused" || r.State == "rolled-back" && r.Rollback?.CompletedAt is not null, cancellationToken);
        var firstBad = fleet.History.FirstTouchedAt(unit, bad.Version);
        var verdict = rollout.Waves?.Select(w => w.Verdict).LastOrDefault(v => v is { Result: not "healthy" });
        return new Trial(
            path, round, rollout.Id, rollout.State, rollout.CurrentWave,
            firstBad is { } f && rollout.Rollback?.CompletedAt is { } done ? done - f : null,
            fleet.History.TimeToSafe(unit, bad.Version, good.Version),
            firstBad is { } g && rollout.Rollback?.StartedAt is { } started ? started - g : null,
            fleet.NodesEverApplied(unit, bad.Version).Count,
            fleet.Nodes.Count(n => n.Profile.IsCanary),
            verdict?.Reasons is { Count: > 0 } reasons ? string.Join("; ", reasons) : rollout.Rollback?.Reason);
    }

    /// <summary>Polls the rollout until <paramref name="settled"/>, approving with the second token when it waits for approval.</summary>
    private static async Task<RolloutView> SettleAsync(
        ControlPlane admin, ControlPlane approver, RolloutView rollout, TimeSpan timeout, Func<RolloutView, bool> settled, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        while (!settled(rollout) && watch.Elapsed < timeout)
        {
            if (rollout.State == "awaiting-approval")
            {
                rollout = await approver.ApproveRolloutAsync(rollout.Id, "benchmark: second approver", cancellationToken);
                continue;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            rollout = await admin.GetRolloutAsync(rollout.Id, cancellationToken);
        }
        return rollout;
    }

    private static async Task Until(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        while (!await Tolerant(condition))
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for {what}");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    /// <summary>A condition whose read the busy server answered 503 ("retry") is not met yet, rather than the end of the run.</summary>
    private static async Task<bool> Tolerant(Func<Task<bool>> condition)
    {
        try
        {
            return await condition();
        }
        catch (ControlPlaneException e) when (e.Status == HttpStatusCode.ServiceUnavailable)
        {
            return false;
        }
    }

    /// <summary>One row per path (p50, p99 and max of its trials), then the method, the load and every trial.</summary>
    public static string Table(Outcome o)
    {
        var table = new StringBuilder();
        table.AppendLine("| judged from | trials | caught in the canary | time to safe p50 | p99 | max | fleet back p50 | first bad → rollback started p50 |");
        table.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var path in new[] { Judged.Pushed, Judged.Prometheus })
        {
            var trials = o.Trials.Where(t => t.Path == path).ToList();
            var safe = Sorted(trials.Select(t => t.TimeToSafe));
            table.AppendLine(string.Join(" | ",
                $"| {(path == Judged.Pushed ? "pushed reports" : "Prometheus alone (1 s scrape)")}",
                trials.Count.ToString(CultureInfo.InvariantCulture),
                $"{trials.Count(t => t is { State: "rolled-back", StoppedAtWave: 0 })} of {trials.Count}",
                Seconds(safe, 0.5), Seconds(safe, 0.99), Seconds(safe, 1),
                Seconds(Sorted(trials.Select(t => t.FleetTimeToSafe)), 0.5),
                Seconds(Sorted(trials.Select(t => t.ToRollbackStart)), 0.5) + " |"));
        }
        table.AppendLine();
        table.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Two fleets of {o.NodesPerPath:N0} nodes ({o.CanariesPerPath} canaries each), one report a second per node, one server; canary bake {o.CanaryBakeSeconds} s; " +
            $"Prometheus scrapes every {ScrapeInterval.TotalSeconds:0} s and the gate is `{Query}` (at most 5%, at most 10× the control, 2 cohort nodes). " +
            $"Load average {o.LoadBefore} before, {o.LoadAfter} after; over the run the server kept {o.Cpu.ServerCores:0.00} cores busy and this process " +
            $"(both fleets) {o.Cpu.FleetCores:0.00}; wall time {o.Wall.TotalSeconds:0} s."));
        table.AppendLine();
        foreach (var t in o.Trials)
        {
            table.AppendLine($"- {Label(t.Path)} round {t.Round}: {t.RolloutId} {t.State} at wave {t.StoppedAtWave}, {t.EverApplied} of {t.Canaries} canaries ran it; " +
                             $"time to safe {Seconds(t.TimeToSafe)} (fleet {Seconds(t.FleetTimeToSafe)}); {t.Reason}");
        }
        foreach (var note in o.Notes)
        {
            table.AppendLine($"- {note}");
        }
        return table.ToString();
    }

    private static List<double> Sorted(IEnumerable<TimeSpan?> spans) => [.. spans.Where(s => s is not null).Select(s => s!.Value.TotalSeconds).Order()];

    private static string Seconds(List<double> sorted, double p) =>
        sorted.Count == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{Percentiles.Of(sorted, p):0.00} s");

    private static string Seconds(TimeSpan? t) => t is { } v ? string.Create(CultureInfo.InvariantCulture, $"{v.TotalSeconds:0.00} s") : "not reached";

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";
}

/// <summary>
/// Debian's <c>prometheus</c> (<c>apt-get install prometheus</c>; <c>SNAPSTONE_PROMETHEUS</c> points elsewhere) as a child
/// process on a free loopback port with a throw-away data folder, scraping one target every <c>interval</c>; never the
/// packaged service or its :9090. Disposing stops it and deletes its data.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly HttpClient _http;

    private PrometheusServer(Process process, string directory, Uri baseAddress)
    {
        _process = process;
        _directory = directory;
        BaseAddress = baseAddress;
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri BaseAddress { get; }

    /// <summary>A loopback port nothing listens on now.</summary>
    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public static async Task<PrometheusServer> StartAsync(Uri target, TimeSpan interval, TextWriter log, CancellationToken cancellationToken)
    {
        var executable = Environment.GetEnvironmentVariable("SNAPSTONE_PROMETHEUS") is { Length: > 0 } path ? path : "/usr/bin/prometheus";
        if (!File.Exists(executable))
        {
            throw new FileNotFoundException($"no Prometheus at {executable}: install Debian's prometheus (apt-get install prometheus) or set SNAPSTONE_PROMETHEUS");
        }
        var directory = Directory.CreateTempSubdirectory("snapstone-bench-prometheus-").FullName;
        var every = $"{(long)interval.TotalMilliseconds}ms";
        await File.WriteAllTextAsync(Path.Combine(directory, "prometheus.yml"), $"""
            global:
              scrape_interval: {every}
              scrape_timeout: {every}
              evaluation_interval: {every}
            scrape_configs:
              - job_name: edge
                metrics_path: "{target.AbsolutePath}"
                static_configs:
                  - targets: ["{target.Authority}"]
            """, cancellationToken);
        var port = FreePort();
        var start = new ProcessStartInfo(executable)
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory,
        };
        foreach (var argument in new[]
        {
            $"--config.file={Path.Combine(directory, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(directory, "data")}",
            $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        })
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new PrometheusServer(process, directory, new Uri($"http://127.0.0.1:{port}"));
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var ready = await server._http.GetAsync("/-/ready", cancellationToken);
                if (ready.IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
            }
            if (process.HasExited || waited.Elapsed > TimeSpan.FromSeconds(60))
            {
                await server.DisposeAsync();
                throw new TimeoutException($"Prometheus on port {port} was not ready within 60 s (exited: {process.HasExited})");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
        log.WriteLine($"prometheus (pid {process.Id}) ready after {waited.Elapsed.TotalSeconds:0.0} s");
        return server;
    }

    /// <summary>The values of an instant vector (or a scalar), evaluated now.</summary>
    public async Task<IReadOnlyList<double>> QueryAsync(string promql, CancellationToken cancellationToken)
    {
        using var body = JsonDocument.Parse(await _http.GetStringAsync($"/api/v1/query?query={Uri.EscapeDataString(promql)}", cancellationToken));
        var data = body.RootElement.GetProperty("data");
        var result = data.GetProperty("result");
        static double Number(JsonElement pair) => pair[1].GetString() switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            var text => double.Parse(text!, CultureInfo.InvariantCulture),
        };
        return data.GetProperty("resultType").GetString() == "scalar"
            ? [Number(result)]
            : [.. result.EnumerateArray().Select(s => Number(s.GetProperty("value")))];
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
