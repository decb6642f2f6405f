using System.Diagnostics;
using System.Text.Json.Nodes;
using Snapstone.Simulator;
using Snapstone.Simulator.Demo;

namespace Snapstone.Benchmarks.Measurements;

// Snapstone.RolloutView (the server's own) would win over the using above: this is the wire view the client reads.
using RolloutView = Snapstone.Simulator.Demo.RolloutView;

/// <summary>
/// The rollouts that (a), (b) and (e) read, run once on the registered fleet while it reports once a second.
/// Each round uses a unit of its own (<c>bench-features-k</c>, a fail-closed feature file every node loads):
/// <list type="number">
/// <item>a baseline file: the unit's first package, rolled out on the one-wave plan like every change (until it
/// completes the nodes have no package of the unit) and not measured;</item>
/// <item>a good file of <see cref="GoodFeatures"/> features, rolled out on a one-wave plan selecting 100% of the
/// fleet (1 s bake): (a) is the time from sending <c>POST /v1/rollouts</c> to the first answer that shows wave 0
/// targeting every node, and to every node having been told;</item>
/// <item>a bad file of <see cref="BadFeatures"/> features (more than the 200 the consumer holds: every node crashes
/// on it), rolled out on canary → 100%: (b) is the time from the first report of a crash or rejection of it to
/// every node that ever applied it being confirmed back on the good file (the rollout's <c>rollback.completedAt</c>),
/// (e) the nodes that ever applied it against the canary wave.</item>
/// </list>
/// A fresh unit per round keeps every change a small one (+25 fail-closed, +20 whole fleet, no growth that
/// counts, no earlier rollbacks of the unit): standard risk, so the plans named here are the plans used. Should the
/// server still hold a rollout for approval, the benchmark approves it with the launcher's second token and says so.
/// </summary>
public sealed class RolloutExperiment
{
    public const int GoodFeatures = 190;
    public const int BadFeatures = 210;
    public const string OnePlan = "bench-one-wave";
    public const string CanaryPlan = "bench-canary-first";

    public static string Unit(int round) => $"bench-features-{round}";

    public required int FleetSize { get; init; }
    public required int Canaries { get; init; }
    public required TimeSpan ReportInterval { get; init; }
    public List<WaveAssignment> Assignments { get; } = [];
    public List<BadRollout> BadRollouts { get; } = [];
    public List<string> Notes { get; } = [];
    /// <summary>What the PoPs' observations cost during each measured rollout: its first wave's cohort, and the counters' change.</summary>
    public List<(string Phase, int Cohort, Probes.ObserveCost Cost)> Observations { get; } = [];
    public required int Pops { get; init; }

    public static async Task<RolloutExperiment> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var fleet = context.Fleet;
        var control = context.ControlPlane;
        var log = context.Log;
        var options = context.Options;
        var experiment = new RolloutExperiment
        {
            FleetSize = fleet.Nodes.Count,
            Canaries = fleet.Nodes.Count(n => n.Profile.IsCanary),
            ReportInterval = fleet.Options.ReportInterval,
            Pops = options.Pops,
        };
        await control.PutPlanAsync(OnePlan, new JsonObject
        {
            ["waves"] = new JsonArray(new JsonObject { ["name"] = "all", ["select"] = new JsonObject { ["percent"] = 100 }, ["bakeSeconds"] = 1 }),
        }, cancellationToken);
        await control.PutPlanAsync(CanaryPlan, new JsonObject
        {
            ["waves"] = new JsonArray(
                new JsonObject { ["name"] = "canary", ["select"] = new JsonObject { ["tier"] = "canary" }, ["bakeSeconds"] = options.CanaryBakeSeconds },
                new JsonObject { ["name"] = "all", ["select"] = new JsonObject { ["percent"] = 100 }, ["bakeSeconds"] = 1 }),
        }, cancellationToken);

        using var stopFleet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reporting = fleet.RunAsync(fleet.Options.ReportInterval, stopFleet.Token);
        try
        {
            var budget = Stopwatch.StartNew();
            for (var round = 0; round < options.BadRollouts; round++)
            {
                if (round > 0 && budget.Elapsed > options.RolloutBudget)
                {
                    experiment.Notes.Add($"stopped after {round} rounds: the {options.RolloutBudget.TotalSeconds:0} s budget (--rollout-seconds) was spent");
                    log.WriteLine($"  rollout budget of {options.RolloutBudget.TotalSeconds:0} s spent after {round} rounds");
                    break;
                }
                var unit = Unit(round);
                await RetriedAsync(context, experiment, $"PUT /v1/units/{unit}", round, async () =>
                {
                    await control.PutUnitAsync(unit, new JsonObject
                    {
                        ["owner"] = "benchmark",
                        ["description"] = "feature file every node loads",
                        ["kind"] = "file",
                        ["riskTier"] = "standard",
                        ["failureMode"] = "fail-closed",
                        ["plan"] = OnePlan,
                        ["validators"] = new JsonObject { ["maxBytes"] = 1_048_576, ["format"] = "json" },
                    }, cancellationToken);
                    return true;
                });

                // A unit's first package goes through the waves like every change; the measured rollouts are the changes after it.
                var baseline = await control.CreatePackageAsync(unit, new NewPackage(DemoScenario.FeatureFile(GoodFeatures, phase: 1), $"baseline, round {round}", "benchmark"), cancellationToken);
                var waited = Stopwatch.StartNew();
                var first = await control.StartRolloutAsync(new NewRollout(unit, baseline.Version, $"benchmark baseline, round {round}", OnePlan),
                    $"bench-{unit}-{baseline.Version}", cancellationToken);
                while (first.State is not ("completed" or "rolled-back" or "aborted" or "paused") && waited.Elapsed < TimeSpan.FromSeconds(180))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
                    first = await control.GetRolloutAsync(first.Id, cancellationToken);
                }
                if (first.State != "completed")
                {
                    experiment.Notes.Add($"round {round}: the baseline rollout ended {first.State}, so nothing was measured");
                    continue;
                }
                while (fleet.NodesOn(unit, baseline.Version).Count < experiment.FleetSize && waited.Elapsed < TimeSpan.FromSeconds(180))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
                }
                log.WriteLine($"  round {round}: baseline v{baseline.Version} on {fleet.NodesOn(unit, baseline.Version).Count:N0} nodes after {waited.Elapsed.TotalSeconds:0.0} s");

                var good = await control.CreatePackageAsync(unit, new NewPackage(DemoScenario.FeatureFile(GoodFeatures), $"good features, round {round}", "benchmark"), cancellationToken);
                var before = await Probes.ObserveCost.ReadAsync(context.Control, context.Cluster.Gateways, context.Server.AdminToken, cancellationToken);
                var assignment = await AssignAsync(context, experiment, unit, good.Version, round, cancellationToken);
                if (assignment is null)
                {
                    continue;
                }
                var after = await Probes.ObserveCost.ReadAsync(context.Control, context.Cluster.Gateways, context.Server.AdminToken, cancellationToken);
                experiment.Observations.Add(("a one-wave rollout of the whole fleet", assignment.Targeted, after.Since(before)));
                experiment.Assignments.Add(assignment);
                log.WriteLine($"  round {round}: wave of {assignment.Targeted:N0} assigned {assignment.Assigned.TotalMilliseconds:0} ms after sending the POST, " +
                              $"every node told after {assignment.Told.TotalMilliseconds:0} ms, rollout {assignment.State}");
                if (assignment.State != "completed")
                {
                    experiment.Notes.Add($"round {round}: the good rollout ended {assignment.State}, so no bad rollout followed");
                    continue;
                }

                var bad = await control.CreatePackageAsync(unit, new NewPackage(DemoScenario.FeatureFile(BadFeatures), $"bad features, round {round}", "benchmark"), cancellationToken);
                if (bad.Validation is { Passed: false })
                {
                    experiment.Notes.Add($"round {round}: validation refused the bad file");
                    continue;
                }
                before = await Probes.ObserveCost.ReadAsync(context.Control, context.Cluster.Gateways, context.Server.AdminToken, cancellationToken);
                var outcome = await BadAsync(context, experiment, unit, good.Version, bad.Version, round, cancellationToken);
                experiment.BadRollouts.Add(outcome);
                after = await Probes.ObserveCost.ReadAsync(context.Control, context.Cluster.Gateways, context.Server.AdminToken, cancellationToken);
                experiment.Observations.Add(("a bad canary, rolled back", outcome.FirstWaveTargeted, after.Since(before)));
                log.WriteLine($"  round {round}: bad rollout {outcome.State}; first bad report → safe {Seconds(outcome.TimeToSafe)} " +
                              $"(fleet side {Seconds(outcome.FleetTimeToSafe)}); {outcome.EverApplied} nodes ran it, first wave {outcome.FirstWaveTargeted}");
            }
        }
        finally
        {
            await stopFleet.CancelAsync();
            await reporting;
        }
        return experiment;
    }

    private static async Task<WaveAssignment?> AssignAsync(
        BenchmarkContext context, RolloutExperiment experiment, string unit, long version, int round, CancellationToken cancellationToken)
    {
        var fleet = context.Fleet;
        // From sending the POST: the server assigns wave 0 before it answers 201.
        var sentAt = DateTimeOffset.UtcNow;
        var watch = Stopwatch.StartNew();
        var rollout = await StartAsync(context, experiment, new NewRollout(unit, version, "benchmark: wave assignment", OnePlan),
            $"bench-{unit}-{version}", round, cancellationToken);
        var created = watch.Elapsed;
        TimeSpan? assigned = null, told = null, assignedEntry = null;
        var deadline = TimeSpan.FromSeconds(180);
        while (watch.Elapsed < deadline)
        {
            // Assigned: wave 0 targets every node and the server has said it told them (its wave-assigned entry).
            if (assigned is null && rollout.Waves is [var first, ..] && first.Targeted >= experiment.FleetSize &&
                rollout.Timeline?.FirstOrDefault(e => e.Type == "wave-assigned") is { } entry)
            {
                assigned = watch.Elapsed;
                assignedEntry = entry.At - sentAt;
            }
            if (told is null && fleet.NodesEverApplied(unit, version).Count >= experiment.FleetSize)
            {
                told = watch.Elapsed;
            }
            rollout = await ApproveIfAskedAsync(context, experiment, rollout, round, cancellationToken);
            if (rollout.State is "completed" or "rolled-back" or "aborted" or "paused" && told is not null || rollout.State is "rolled-back" or "aborted")
            {
                break;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
            rollout = await context.ControlPlane.GetRolloutAsync(rollout.Id, cancellationToken);
        }
        if (assigned is null || told is null)
        {
            experiment.Notes.Add($"round {round}: wave 0 of the good rollout {(assigned is null ? "never targeted every node" : "was assigned but not every node applied it")} " +
                                 $"within {deadline.TotalSeconds:0} s (state {rollout.State}, targeted {rollout.Waves?.FirstOrDefault()?.Targeted})");
            return null;
        }
        return new WaveAssignment(rollout.Waves![0].Targeted, created, assigned.Value, told.Value, rollout.State, assignedEntry);
    }

    private static async Task<BadRollout> BadAsync(
        BenchmarkContext context, RolloutExperiment experiment, string unit, long good, long bad, int round, CancellationToken cancellationToken)
    {
        var fleet = context.Fleet;
        var rollout = await StartAsync(context, experiment, new NewRollout(unit, bad, "benchmark: bad features", CanaryPlan),
            $"bench-{unit}-{bad}", round, cancellationToken);
        var watch = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(context.Options.CanaryBakeSeconds + 180);
        while (watch.Elapsed < deadline)
        {
            rollout = await ApproveIfAskedAsync(context, experiment, rollout, round, cancellationToken);
            var settled = rollout.State is "completed" or "aborted" or "paused" ||
                          rollout.State == "rolled-back" && rollout.Rollback?.CompletedAt is not null;
            if (settled && fleet.History.LastBackOnAt(unit, bad, good) is not null)
            {
                break;
            }
            if (settled && rollout.State != "rolled-back")
            {
                break;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            rollout = await context.ControlPlane.GetRolloutAsync(rollout.Id, cancellationToken);
        }
        var firstBad = fleet.History.Changes()
            .Where(c => c.Unit == unit && c.Version == bad && c.Kind is NodeChangeKind.Crashed or NodeChangeKind.Rejected)
            .Select(c => (DateTimeOffset?)c.At).Min();
        var everApplied = fleet.NodesEverApplied(unit, bad).Count;
        var fleetBack = fleet.History.LastBackOnAt(unit, bad, good);
        return new BadRollout(
            rollout.Id, rollout.State,
            firstBad is { } f && rollout.Rollback?.CompletedAt is { } done ? done - f : null,
            firstBad is { } g && fleetBack is { } back ? back - g : null,
            everApplied,
            rollout.Waves is [var first, ..] ? first.Targeted : 0,
            rollout.Waves is [var w0, ..] ? w0.Name : "?",
            rollout.Rollback?.Targeted ?? 0,
            rollout.Rollback?.Confirmed ?? 0,
            rollout.CurrentWave);
    }

    /// <summary>
    /// Starts a rollout, sending the same request again (same idempotency key) when the server answers 503
    /// ("the cluster did not answer in time; retry"), at most five times; each such answer is noted.
    /// </summary>
    private static Task<RolloutView> StartAsync(
        BenchmarkContext context, RolloutExperiment experiment, NewRollout request, string key, int round, CancellationToken cancellationToken) =>
        RetriedAsync(context, experiment, $"POST /v1/rollouts (v{request.Version})", round,
            () => context.ControlPlane.StartRolloutAsync(request, key, cancellationToken));

    /// <summary>
    /// An idempotent request (a PUT, or a POST with an idempotency key) sent again when the server answers 503, as its
    /// answer asks and a CI pipeline does, at most five times, 2 s apart; each such answer is noted.
    /// </summary>
    private static async Task<T> RetriedAsync<T>(BenchmarkContext context, RolloutExperiment experiment, string what, int round, Func<Task<T>> send)
    {
        for (var attempt = 1; ; attempt++)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                return await send();
            }
            catch (ControlPlaneException e) when (e.Status == System.Net.HttpStatusCode.ServiceUnavailable && attempt < 5)
            {
                experiment.Notes.Add($"round {round}: {what} answered 503 after {watch.Elapsed.TotalSeconds:0.0} s, sent again");
                context.Log.WriteLine($"  round {round}: {e.Message} after {watch.Elapsed.TotalSeconds:0.0} s; sending it again");
                await Task.Delay(TimeSpan.FromSeconds(2));
            }
        }
    }

    private static async Task<RolloutView> ApproveIfAskedAsync(
        BenchmarkContext context, RolloutExperiment experiment, RolloutView rollout, int round, CancellationToken cancellationToken)
    {
        if (rollout.State != "awaiting-approval")
        {
            return rollout;
        }
        experiment.Notes.Add($"round {round}: rollout {rollout.Id} waited for approval before wave {rollout.CurrentWave}; approved with a second token");
        return await context.Approver.ApproveRolloutAsync(rollout.Id, "benchmark: second approver", cancellationToken);
    }


    private static string Seconds(TimeSpan? t) => t is { } v ? $"{v.TotalSeconds:0.00} s" : "not reached";
}

/// <summary>(a) for one rollout: from the 201 to wave 0 targeting every node (server), and to every node told (fleet).</summary>
public sealed record WaveAssignment(int Targeted, TimeSpan Created, TimeSpan Assigned, TimeSpan Told, string State, TimeSpan? AssignedEntry);

/// <summary>(b) and (e) for one bad rollout.</summary>
public sealed record BadRollout(
    string Id, string State, TimeSpan? TimeToSafe, TimeSpan? FleetTimeToSafe, int EverApplied, int FirstWaveTargeted, string FirstWaveName,
    int RollbackTargeted, int RollbackConfirmed, int? StoppedAtWave);
