using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Snapstone.Testing;
using Xunit.Abstractions;

namespace Snapstone.Chaos.Tests;

/// <summary>
/// One fault during one or more rollouts, and the promises every fault must keep: the rollout ends in the state its
/// package deserves, each wave started exactly once, every node ends on a package someone intends, no report batch
/// lost beyond those the fleet retried, the audit chain verifies, no gateway answered a 5xx but a 503 with
/// <c>Retry-After</c>, and the bad package's time to safe. It narrates what happens, with times, to the test output,
/// and on a broken promise appends what the silos logged during the scenario.
/// </summary>
public sealed class ChaosScenario
{
    private readonly ChaosCluster _cluster;
    private readonly ITestOutputHelper _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly DateTimeOffset _began;
    private readonly int[] _logStart;
    private readonly (long Sent, long Retried, long Recovered, long Failed) _batchesAtStart;
    private readonly int _joinRestartsAtStart;
    private readonly List<string> _hosts = [];
    private readonly List<string> _notes = [];
    private readonly Dictionary<string, IReadOnlyDictionary<string, string>> _targets = [];

    private ChaosScenario(ChaosCluster cluster, ITestOutputHelper output, string fault)
    {
        _cluster = cluster;
        _output = output;
        Fault = fault;
        _began = cluster.Statuses.Mark();
        _logStart = [.. cluster.Silos.Select(s => s.Log.Length)];
        var c = cluster.Fleet.Counters;
        _batchesAtStart = (c.BatchesSent, c.BatchesRetried, c.BatchesRecovered, c.BatchesFailed);
        _joinRestartsAtStart = cluster.JoinRestarts;
    }

    public string Fault { get; }

    public ChaosCluster Cluster => _cluster;

    public GatewayApi Ci => _cluster.Ci;

    public static async Task<ChaosScenario> BeginAsync(ChaosCluster cluster, ITestOutputHelper output, string fault)
    {
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} healing the cluster before: {fault}; load average {ChaosReport.LoadAverage()}");
        await cluster.HealAsync(line => output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}"));
        var scenario = new ChaosScenario(cluster, output, fault);
        scenario.Say($"begins on {cluster.Topology}");
        return scenario;
    }

    public void Say(string line) => _output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} [{_clock.Elapsed.TotalSeconds,6:0.0} s] {line}"));

    public void Note(string note)
    {
        _notes.Add(note);
        Say(note);
    }

    // ---- Setting up a unit ----------------------------------------------------------------------------------------

    /// <summary>A plan of waves, each <c>(name, select, bakeSeconds, requiresApproval)</c>.</summary>
    public async Task PlanAsync(string plan, params (string Name, object Select, int Bake, bool Approval)[] waves)
    {
        var (status, body) = await Ci.Put($"/v1/plans/{plan}", new
        {
            waves = waves.Select(w => new { name = w.Name, select = w.Select, bakeSeconds = w.Bake, requiresApproval = w.Approval }).ToArray(),
        });
        Assert.True(status == 200, $"PUT /v1/plans/{plan} answered {status}: {body.ToJsonString()}");
    }

    /// <summary>
    /// Defines <paramref name="unit"/> on <paramref name="plan"/> and rolls its first package out to every node, on the
    /// one-wave plan <see cref="ChaosCluster.FirstPlan"/> — or, on a server where a unit's first package becomes its
    /// last known good at once, takes the 409 that says so. Answers the first version once every node runs it.
    /// </summary>
    public async Task<long> DefineAsync(string unit, string plan, string firstContent, IReadOnlyDictionary<string, string>? targets = null)
    {
        _targets[unit] = targets ?? new Dictionary<string, string>();
        var (status, body) = await Ci.Put($"/v1/units/{unit}", new
        {
            owner = "chaos",
            description = $"chaos suite unit for: {Fault}",
            kind = "file",
            riskTier = "standard",
            failureMode = "fail-stale",
            plan,
            validators = new { maxBytes = 65536, format = "json" },
            targets = new { labels = _targets[unit] },
        });
        Assert.True(status == 200, $"PUT /v1/units/{unit} answered {status}: {body.ToJsonString()}");
        var first = await PublishAsync(unit, firstContent, "first package");
        var (started, rollout) = await Ci.Post("/v1/rollouts", new { unit, version = first, plan = ChaosCluster.FirstPlan, reason = "chaos: first package" },
            $"chaos-first-{_cluster.RunId}-{unit}");
        if (started == 409 && rollout["detail"]?.ToString().Contains("last known good", StringComparison.Ordinal) == true)
        {
            Say($"{unit} v{first} is the unit's last known good at once (the server does not roll a first package out)");
        }
        else
        {
            Assert.True(started == 201, $"POST /v1/rollouts of {unit} v{first} answered {started}: {rollout.ToJsonString()}");
            var id = rollout["id"]!.GetValue<string>();
            var done = await UntilAsync(id, r => State(r) is "completed" or "rolled-back" or "aborted" or "paused", $"the first package of {unit} to finish its rollout", TimeSpan.FromMinutes(2));
            Assert.True(State(done) == "completed", $"the first package of {unit} ended {State(done)}: {Timeline(done)}");
        }
        await FleetRunsAsync(unit, first, $"every node to run {unit} v{first}");
        return first;
    }

    /// <summary>Publishes a package; it must pass validation and score standard risk (a high-risk one would change the plan).</summary>
    public async Task<long> PublishAsync(string unit, string content, string message)
    {
        var (status, body) = await Ci.Post($"/v1/units/{unit}/packages", new { content, message, source = $"chaos suite {_cluster.RunId}" });
        Assert.True(status == 201, $"POST /v1/units/{unit}/packages answered {status}: {body.ToJsonString()}");
        Assert.True(body["risk"]?["level"]?.ToString() == "standard",
            $"{unit}'s package scored {body["risk"]?.ToJsonString()}: a high-risk package would be raised to the high-risk plan, which this scenario does not test");
        return body["version"]!.GetValue<long>();
    }

    /// <summary>Starts a rollout on <paramref name="plan"/> (with an idempotency key, so it is safe to send again) and answers its id.</summary>
    public async Task<string> StartAsync(string unit, long version, string plan)
    {
        var (status, body) = await Ci.Post("/v1/rollouts", new { unit, version, plan, reason = $"chaos: {Fault}" }, $"chaos-{_cluster.RunId}-{unit}-{version}");
        Assert.True(status == 201, $"POST /v1/rollouts of {unit} v{version} answered {status}: {body.ToJsonString()}");
        Assert.Equal(plan, body["plan"]?.ToString());
        var id = body["id"]!.GetValue<string>();
        Say($"rollout {id} of {unit} v{version} on plan {plan} started");
        return id;
    }

    // ---- Reading a rollout ---------------------------------------------------------------------------------------

    public async Task<JsonNode> RolloutAsync(string id)
    {
        var (status, body) = await Ci.Get($"/v1/rollouts/{id}");
        Assert.True(status == 200, $"GET /v1/rollouts/{id} answered {status}: {body.ToJsonString()}");
        return body;
    }

    public async Task<JsonNode> UntilAsync(string id, Func<JsonNode, bool> done, string what, TimeSpan timeout) =>
        await Eventually.Until(() => RolloutAsync(id), done, what, timeout);

    /// <summary>
    /// Waits until <paramref name="unit"/> has no active rollout, reading only the unit: the rollout's own grain is left
    /// alone, so that it must move on by itself (nothing activates it but its timer, its reminder or the cluster).
    /// </summary>
    public Task UnitIdleAsync(string unit, string rollout, TimeSpan timeout) =>
        Eventually.Until(async () => (await Ci.Get($"/v1/units/{unit}")).Body["activeRollout"]?.ToString(), active => active is null,
            $"rollout {rollout} of {unit} to finish without being read", timeout);

    /// <summary>The rollout's first timeline entry after <paramref name="at"/>: the first step it took after a fault.</summary>
    public static (DateTimeOffset At, string Type) FirstEntryAfter(JsonNode rollout, DateTimeOffset at) =>
        rollout["timeline"]!.AsArray()
            .Select(e => (At: DateTimeOffset.Parse(e!["at"]!.ToString(), CultureInfo.InvariantCulture), Type: e["type"]!.ToString()))
            .First(e => e.At > at);

    /// <summary>
    /// How long a rollout may sit still after the silo that drove it died (from the kill, or from the cluster declaring
    /// the silo dead), before the cluster drives it again by itself: membership declares a killed silo in seconds, and
    /// a rollout waiting for its minutely reminder meanwhile is a minute of a bad package left on the fleet.
    /// </summary>
    public static readonly TimeSpan MustResumeWithin = TimeSpan.FromSeconds(20);

    /// <summary>The rollout's first step after <paramref name="fault"/> came within <see cref="MustResumeWithin"/> of <paramref name="from"/>.</summary>
    public (DateTimeOffset At, string Type) AssertResumed(JsonNode rollout, DateTimeOffset fault, DateTimeOffset from, string what)
    {
        var next = FirstEntryAfter(rollout, fault);
        Say($"first step after {what}: {next.Type} at {next.At:HH:mm:ss.fff}, {ChaosCluster.Seconds(next.At - from)} after {what} ({ChaosCluster.Seconds(next.At - fault)} after the fault)");
        Assert.True(next.At - from <= MustResumeWithin,
            $"after {what} the rollout sat still until {next.At:HH:mm:ss.fff} ({next.Type}), {ChaosCluster.Seconds(next.At - from)} later; it must be driven again within {MustResumeWithin.TotalSeconds:0} s: {Timeline(rollout)}");
        return next;
    }

    public static string State(JsonNode rollout) => rollout["state"]!.ToString();

    public static string WaveState(JsonNode rollout, int wave) => rollout["waves"]![wave]!["state"]!.ToString();

    public static string Timeline(JsonNode rollout) =>
        string.Join(" | ", rollout["timeline"]!.AsArray().Select(e => $"{e!["at"]} {e["type"]}: {e["message"]}"));

    /// <summary>The timeline's entries of one type, with their times.</summary>
    public static IReadOnlyList<(DateTimeOffset At, string Message)> Entries(JsonNode rollout, string type) =>
        [.. rollout["timeline"]!.AsArray().Where(e => e!["type"]!.ToString() == type)
            .Select(e => (DateTimeOffset.Parse(e!["at"]!.ToString(), CultureInfo.InvariantCulture), e["message"]!.ToString()))];

    /// <summary>How many times each wave started, from the timeline's <c>wave-started</c> entries ("wave 1 'half' started: …").</summary>
    public static int[] WaveStarts(JsonNode rollout)
    {
        var waves = rollout["waves"]!.AsArray().Count;
        var starts = new int[waves];
        foreach (var (_, message) in Entries(rollout, "wave-started"))
        {
            var index = int.Parse(message.Split(' ')[1], CultureInfo.InvariantCulture);
            starts[index]++;
        }
        return starts;
    }

    // ---- Where the rollout lives ----------------------------------------------------------------------------------

    /// <summary>The silo that holds the rollout's activation, by Orleans' management grain; waits until exactly one does.</summary>
    public async Task<int> HostOfAsync(string id, string why)
    {
        var seen = "";
        var hosts = await Eventually.Until(async () =>
        {
            IReadOnlyList<IPAddress> found;
            try
            {
                found = await _cluster.Probe.RolloutHostsAsync(id);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Say($"management grain: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
                await Task.Delay(500);
                return Array.Empty<string>();
            }
            var now = found.Count == 0 ? "no silo" : string.Join(", ", found);
            if (now != seen)
            {
                Say($"rollout {id}'s activation: {now}");
                seen = now;
            }
            return found.Select(a => a.ToString()).ToArray();
        }, found => found.Length == 1, $"one silo to hold rollout {id}'s activation", TimeSpan.FromSeconds(60));
        var host = IPAddress.Parse(hosts[0]);
        var silo = _cluster.SiloAt(host);
        var directory = await _cluster.Probe.RolloutDirectoryEntryAsync(id);
        Assert.True(silo >= 0, $"rollout {id} is on {host}, which is none of the cluster's silos");
        _hosts.Add($"silo {silo}");
        Say($"rollout {id} is active on silo {silo} ({host}; the grain directory says {directory?.ToString() ?? "nothing"}) {why}");
        return silo;
    }

    // ---- Faults ---------------------------------------------------------------------------------------------------

    public async Task KillAsync(int silo)
    {
        await _cluster.Silos[silo].KillAsync();
        Say($"SIGKILL silo {silo} ({_cluster.Hosts[silo].Address})");
    }

    /// <summary>A supervisor's restart (systemd's Restart=always, a pod's restart): the silo comes back on its address.</summary>
    public Task RestartInBackground(int silo) => Task.Run(async () =>
    {
        await _cluster.StartSiloAsync(silo, Say);
        Say($"silo {silo} started again and ready");
    });

    // ---- The promises ---------------------------------------------------------------------------------------------

    /// <summary>
    /// A good package's rollout: completed, every wave started once, every node on the new version (fleet and
    /// server agree).
    /// </summary>
    public async Task<(string Outcome, string Starts)> CompletedAsync(string unit, string id, long version, TimeSpan timeout)
    {
        var rollout = await UntilAsync(id, r => State(r) is "completed" or "rolled-back" or "aborted" or "paused", $"rollout {id} of {unit} to finish", timeout);
        Assert.True(State(rollout) == "completed", $"the good package {unit} v{version} ended {State(rollout)}: {Timeline(rollout)}");
        var starts = WaveStarts(rollout);
        Assert.True(starts.All(n => n == 1), $"each wave of {id} must start exactly once; started {string.Join("/", starts)}: {Timeline(rollout)}");
        await EveryNodeOnAsync(unit, version);
        Say($"{unit} v{version}: completed; waves started {string.Join("/", starts)}");
        return ($"good {unit} v{version}: completed ({starts.Length} waves)", string.Join("/", starts));
    }

    /// <summary>
    /// A bad package's rollout: rolled back from the first wave, the first wave started once and no other, every touched
    /// node confirmed, no node outside the first wave ever ran it, every node back on <paramref name="previous"/>.
    /// Answers the outcome and the time to safe (first bad report → the server's confirmation of the last node).
    /// </summary>
    public async Task<(string Outcome, string Starts, TimeSpan Safe, DateTimeOffset SafeAt)> RolledBackAsync(string unit, string id, long bad, long previous, TimeSpan timeout)
    {
        var rollout = await UntilAsync(id, r => (State(r) == "rolled-back" && r["rollback"]?["completedAt"] is not null) || State(r) is "completed" or "aborted" or "paused",
            $"rollout {id} of {unit} to be rolled back", timeout);
        Assert.True(State(rollout) == "rolled-back", $"the bad package {unit} v{bad} ended {State(rollout)}: {Timeline(rollout)}");
        Assert.True(rollout["currentWave"]!.GetValue<int>() == 0 && WaveState(rollout, 0) == "failed",
            $"the bad package {unit} v{bad} must be stopped in the first wave; it stopped at wave {rollout["currentWave"]} ({WaveState(rollout, 0)}): {Timeline(rollout)}");
        var starts = WaveStarts(rollout);
        Assert.True(starts[0] == 1 && starts.Skip(1).All(n => n == 0), $"only the first wave of {id} may start, once; started {string.Join("/", starts)}: {Timeline(rollout)}");
        Assert.True(Entries(rollout, "rollback-started").Count == 1, $"rollout {id} must start its rollback once: {Timeline(rollout)}");
        var (targeted, confirmed) = (rollout["rollback"]!["targeted"]!.GetValue<int>(), rollout["rollback"]!["confirmed"]!.GetValue<int>());
        Assert.True(targeted > 0 && confirmed == targeted, $"rollback of {id} confirmed {confirmed} of {targeted} touched node(s): {Timeline(rollout)}");

        var cohort = rollout["waves"]![0]!["targeted"]!.GetValue<int>();
        var ran = _cluster.Fleet.NodesEverApplied(unit, bad);
        Assert.True(ran.Count >= 1 && ran.Count <= cohort, $"{ran.Count} node(s) ran {unit} v{bad}; the first wave had {cohort}");
        var outside = ran.Where(n => !_cluster.Fleet.Node(n).Profile.IsCanary).ToList();
        Assert.True(outside.Count == 0, $"nodes outside the canary wave ran {unit} v{bad}: {string.Join(", ", outside)}");
        await EveryNodeOnAsync(unit, previous);

        var firstTouch = _cluster.Fleet.History.FirstTouchedAt(unit, bad) ?? throw new InvalidOperationException($"no node touched {unit} v{bad}");
        var firstReport = _cluster.Fleet.History.FirstRoundAt(firstTouch) ?? firstTouch;
        var safeAt = DateTimeOffset.Parse(rollout["rollback"]!["completedAt"]!.ToString(), CultureInfo.InvariantCulture);
        var safe = safeAt - firstReport;
        Say($"{unit} v{bad}: rolled back from wave 0, {confirmed}/{targeted} confirmed, {ran.Count} node(s) ran it; time to safe {ChaosCluster.Seconds(safe)} " +
            $"(first bad report {firstReport:HH:mm:ss.fff}, last confirmation {safeAt:HH:mm:ss.fff})");
        return ($"bad {unit} v{bad}: rolled back from wave 0, {confirmed}/{targeted} confirmed, {ran.Count} ran it", string.Join("/", starts), safe, safeAt);
    }

    /// <summary>The nodes that consume <paramref name="unit"/>: those carrying every label of its targets.</summary>
    public IReadOnlyList<Snapstone.Simulator.SimulatedNode> Consumers(string unit)
    {
        var targets = _targets.GetValueOrDefault(unit) ?? new Dictionary<string, string>();
        return [.. _cluster.Fleet.Nodes.Where(n => targets.All(t => n.Profile.Labels.GetValueOrDefault(t.Key) == t.Value))];
    }

    /// <summary>Every consumer of <paramref name="unit"/> runs <paramref name="version"/> of it.</summary>
    public Task FleetRunsAsync(string unit, long version, string what) =>
        Eventually.Until(() => Task.FromResult(Consumers(unit).Where(n => n.Running(unit)?.Version != version).Select(n => $"{n.Id}:{n.Running(unit)?.Version}").ToList()),
            wrong => wrong.Count == 0, what, TimeSpan.FromSeconds(60));

    /// <summary>
    /// Every node is on a package someone intends: the fleet runs <paramref name="version"/> everywhere, and the server
    /// says each node is told to run it and has reported running it.
    /// </summary>
    public async Task EveryNodeOnAsync(string unit, long version)
    {
        await FleetRunsAsync(unit, version, $"every node to run {unit} v{version}");
        await Eventually.Until(async () =>
        {
            var wrong = new List<string>();
            foreach (var node in Consumers(unit))
            {
                var (status, body) = await Ci.Get($"/v1/nodes/{node.Id}");
                var desired = body["desired"]?[unit]?["version"]?.GetValue<long>();
                var applied = body["applied"]?[unit]?["version"]?.GetValue<long>();
                if (status != 200 || desired != version || applied != version)
                {
                    wrong.Add($"{node.Id}: {status} desired v{desired} applied v{applied}");
                }
            }
            return wrong;
        }, wrong => wrong.Count == 0, $"the server to say every node is told and runs {unit} v{version}", TimeSpan.FromSeconds(60));
    }

    /// <summary>
    /// The promises that hold for the whole scenario, whatever its rollouts: the audit chain verifies, no report batch was
    /// lost that the fleet did not retry, and no gateway answered a 5xx other than 503 with <c>Retry-After</c>. Then the
    /// scenario's line goes into the suite's table.
    /// </summary>
    public async Task FinishAsync(string outcome, string wavesStarted, TimeSpan? safe)
    {
        var (status, audit) = await _cluster.Admin.Get("/v1/audit/verify");
        Assert.True(status == 200 && audit["valid"]?.GetValue<bool>() == true, $"GET /v1/audit/verify answered {status}: {audit.ToJsonString()}");

        var c = _cluster.Fleet.Counters;
        var (sent, retried, recovered, lost) = (c.BatchesSent - _batchesAtStart.Sent, c.BatchesRetried - _batchesAtStart.Retried,
            c.BatchesRecovered - _batchesAtStart.Recovered, c.BatchesFailed - _batchesAtStart.Failed);
        var exchanges = _cluster.Statuses.Since(_began);
        var counts = StatusCounts.Of(exchanges);
        Say($"fleet: {sent} batches, {retried} retried ({recovered} of them answered), {lost} lost; calls: {counts}; audit: {audit["entries"]} entries, chain valid");
        // A retried batch was either answered (recovered) or lost after every attempt; any lost batch beyond those was
        // given up on without trying another gateway.
        var lostUnretried = lost - (retried - recovered);
        Assert.True(lostUnretried <= 0,
            $"{lost} report batch(es) lost, of which {lostUnretried} never retried ({retried} retried, {recovered} of them answered): a batch was lost without trying another gateway");
        var faults = exchanges.Where(e => e.IsServerFault).ToList();
        Assert.True(faults.Count == 0, $"{faults.Count} answer(s) were a 5xx other than 503 with Retry-After:\n{string.Join("\n", faults.Take(20))}");

        if (_cluster.JoinRestarts - _joinRestartsAtStart is > 0 and var restarts)
        {
            Note($"{restarts} silo start(s) declared dead while joining and started again");
        }
        var table = _cluster.Report.Add(new ChaosRow
        {
            Fault = Fault,
            Outcome = outcome,
            WavesStarted = wavesStarted,
            TimeToSafe = safe is { } s ? ChaosCluster.Seconds(s) : "–",
            Hosts = _hosts.Count == 0 ? "–" : string.Join(" → ", _hosts),
            Answers = $"{counts.Ok} 2xx, {counts.ClientErrors} 4xx, {counts.Unavailable} 503, {counts.ServerFaults} 500, {counts.NoAnswer} none",
            Batches = $"{sent} / {retried} / {lost}",
            Passed = "kept",
            Duration = _clock.Elapsed,
            Notes = string.Join("; ", _notes),
        });
        _output.WriteLine("");
        _output.WriteLine(table);
    }

    /// <summary>What each silo logged since the scenario began, for a failure's story.</summary>
    public string SiloLogs()
    {
        var text = new System.Text.StringBuilder();
        for (var i = 0; i < _cluster.Silos.Count; i++)
        {
            var log = _cluster.Silos[i].Log;
            var since = log.Length >= _logStart[i] ? log[_logStart[i]..] : log;
            text.AppendLine($"--- silo {i} ({_cluster.Hosts[i].Address}) since the scenario began:");
            text.AppendLine(since.Length > 20_000 ? "…" + since[^20_000..] : since);
        }
        return text.ToString();
    }

    /// <summary>Runs the scenario's body; on a broken promise, writes the silos' logs to the output and records the failure in the table.</summary>
    public async Task RunAsync(Func<Task> body)
    {
        try
        {
            await body();
        }
        catch (Exception e)
        {
            Say($"FAILED: {e.Message}");
            _output.WriteLine(SiloLogs());
            _cluster.Report.Add(new ChaosRow
            {
                Fault = Fault,
                Outcome = "FAILED: " + e.Message.Split('\n')[0].Replace("|", "/", StringComparison.Ordinal),
                WavesStarted = "?",
                TimeToSafe = "?",
                Hosts = _hosts.Count == 0 ? "–" : string.Join(" → ", _hosts),
                Answers = StatusCounts.Of(_cluster.Statuses.Since(_began)).ToString(),
                Batches = "?",
                Passed = "broken",
                Duration = _clock.Elapsed,
                Notes = string.Join("; ", _notes),
            });
            var folder = Path.Combine(AppContext.BaseDirectory, "chaos-logs");
            Directory.CreateDirectory(folder);
            await File.WriteAllTextAsync(Path.Combine(folder, $"{_cluster.RunId}-{new string(Fault.Where(char.IsLetterOrDigit).Take(40).ToArray())}.log"), SiloLogs());
            throw;
        }
    }
}
