using System.Globalization;
using Snapstone.Simulator.Demo;

namespace Snapstone.Simulator.Replay;

/// <summary>
/// Plays a <see cref="ReplayScenario"/> against a running Snapstone over HTTP, with a <see cref="Fleet"/> built from
/// the scenario's shape and consumers: the fleet reports every <see cref="FleetOptions.ReportInterval"/> throughout;
/// the runner waits until the server knows every node, defines the plan and the unit, publishes the baseline, rolls it
/// out on the replay plan (a unit's first package goes through the waves too) and waits until every consumer runs it,
/// then publishes each change in turn, rolls it out on the replay plan (approving
/// with <see cref="Approver"/> when the server holds it for approval) and watches it until it settles. What it saw
/// comes back as a <see cref="ReplayResult"/>; judging it is <see cref="ReplayResult.Problems"/>'s job.
/// </summary>
public sealed class ReplayRunner(Fleet fleet, ControlPlane controlPlane, TimeProvider time, TextWriter? log = null)
{
    /// <summary>A second person (a token with the <c>approve</c> scope); without one a held rollout ends the change there.</summary>
    public ControlPlane? Approver { get; init; }

    /// <summary>How long the server may take to register every node, and the consumers to run the baseline.</summary>
    public TimeSpan SetupTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long one change may take to settle (and, when it completes, to reach every consumer).</summary>
    public TimeSpan ChangeTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long the fleet reports between one change settling and the next being published, as between two runs of
    /// a generator. Zero publishes the next change at once.
    /// </summary>
    public TimeSpan BetweenChanges { get; init; } = TimeSpan.Zero;

    /// <summary>How often the rollout is read again; by default once per report interval.</summary>
    public TimeSpan PollEvery { get; init; } = fleet.Options.ReportInterval;

    public async Task<ReplayResult> RunAsync(ReplayScenario scenario, CancellationToken cancellationToken)
    {
        if (!fleet.Options.Consumers.ContainsKey(scenario.Unit))
        {
            throw new ArgumentException($"the fleet has no consumer for {scenario.Unit}: build it with the scenario's {nameof(ReplayScenario.Consumers)}");
        }
        var consumers = fleet.Nodes.Where(n => scenario.Consumes(n.Profile)).ToList();
        using var stopFleet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reporting = fleet.RunAsync(fleet.Options.ReportInterval, stopFleet.Token);
        try
        {
            Say($"{scenario}: {scenario.Models}");
            await UntilAsync(async () => (await controlPlane.GetFleetAsync(cancellationToken)).Nodes >= fleet.Nodes.Count,
                $"the server to register all {fleet.Nodes.Count} nodes", SetupTimeout, cancellationToken);
            await controlPlane.PutPlanAsync(ReplayScenario.PlanName, scenario.Plan, cancellationToken);
            var baselines = await Task.WhenAll(
                BaselineAsync(scenario, scenario.Unit, scenario.Definition, scenario.Baseline, consumers, cancellationToken),
                scenario.Overlap is { } overlap
                    ? BaselineAsync(scenario, overlap.Unit, overlap.Definition, overlap.Baseline, fleet.Nodes, cancellationToken)
                    : Task.FromResult(0L));
            var baseline = baselines[0];

            var outcomes = new List<ReplayOutcome>();
            var lkg = baseline;
            foreach (var (change, i) in scenario.Changes.Select((c, i) => (c, i + 1)))
            {
                if (i > 1 && BetweenChanges > TimeSpan.Zero)
                {
                    await Task.Delay(BetweenChanges, time, cancellationToken);
                }
                var played = await PlayAsync(scenario, consumers, outcomes.Count + 1, change, lkg, i == 1 ? baselines[1] : null, cancellationToken);
                outcomes.AddRange(played);
                var outcome = played[0];
                if (outcome is { State: "completed", TimedOut: false })
                {
                    lkg = outcome.Version;
                }
                if (outcome.TimedOut && outcome.State != "completed")
                {
                    // The unit still has an active rollout: the next change would only be refused.
                    Say($"change {i} did not settle in {ChangeTimeout.TotalSeconds:0} s; the replay stops here");
                    break;
                }
            }
            var backtested = new List<ReplayOutcome>(outcomes.Count);
            foreach (var outcome in outcomes)
            {
                backtested.Add(await BacktestAsync(scenario, outcome, cancellationToken));
            }
            var result = new ReplayResult(scenario.Id, scenario.Name, fleet.Nodes.Count, consumers.Count,
                consumers.Count(n => n.Profile.IsCanary), fleet.Options.ReportInterval, backtested);
            return result;
        }
        finally
        {
            await stopFleet.CancelAsync();
            await reporting;
        }
    }

    /// <summary>
    /// Publishes the unit's baseline and rolls it out on the replay plan (a unit's first package goes through the waves
    /// too) until every consumer runs it; answers its version.
    /// </summary>
    private async Task<long> BaselineAsync(ReplayScenario scenario, string unit, System.Text.Json.Nodes.JsonObject definition, string content,
        IReadOnlyList<SimulatedNode> consumers, CancellationToken cancellationToken)
    {
        await controlPlane.PutUnitAsync(unit, definition, cancellationToken);
        var baseline = await controlPlane.CreatePackageAsync(unit, new NewPackage(content, "Baseline", Source(scenario)), cancellationToken);
        if (baseline.Validation is { Passed: false })
        {
            throw new InvalidOperationException($"{scenario}: validation refused the baseline of {unit}, so there is nothing to roll out from");
        }
        var first = await controlPlane.StartRolloutAsync(
            new NewRollout(unit, baseline.Version, $"replay ({scenario.Id}): baseline", ReplayScenario.PlanName),
            $"replay-{scenario.Id}-{unit}-{baseline.Version}", cancellationToken);
        var (settled, _, timedOut) = await SettleAsync(first, unit, baseline.Version, consumers, SetupTimeout, null, cancellationToken);
        if (settled.State != "completed" || timedOut)
        {
            throw new InvalidOperationException($"{scenario}: the baseline {unit} v{baseline.Version} did not complete its rollout ({settled.State}{(timedOut ? ", timed out" : "")})");
        }
        await UntilAsync(() => Task.FromResult(consumers.All(n => n.Running(unit)?.Version == baseline.Version)),
            $"all {consumers.Count} consumers of {unit} to run the baseline v{baseline.Version}", SetupTimeout, cancellationToken);
        Say($"{consumers.Count} nodes run the baseline {unit} v{baseline.Version} (rolled out as {first.Id})");
        return baseline.Version;
    }

    /// <summary>
    /// Plays one change: publishes it, rolls it out and watches it settle, starting the scenario's upstream disturbance
    /// when its rollout starts, and, given <paramref name="overlapLkg"/>, the overlapping change of the other
    /// unit when it bakes <see cref="ReplayOverlap.DuringWave"/>. Answers the change's outcome, then the overlap's.
    /// </summary>
    private async Task<IReadOnlyList<ReplayOutcome>> PlayAsync(ReplayScenario scenario, IReadOnlyList<SimulatedNode> consumers, int index,
        ReplayChange change, long lkg, long? overlapLkg, CancellationToken cancellationToken)
    {
        var (package, risk, started) = await StartAsync(scenario, scenario.Unit, change, cancellationToken);
        if (started is null)
        {
            Say($"change {index}: v{package.Version} refused by validation");
            return [Refused(index, change, scenario.Unit, package.Version, risk)];
        }
        // From the moment the rollout exists, so that the disturbance lies over the canary wave's apply and bake alike:
        // a bad change caught while its canaries apply must have been caught through it too.
        DateTimeOffset? disturbedAt = null;
        if (scenario.Disturbance is { } disturbance)
        {
            disturbedAt = fleet.Disturb(disturbance).Start;
            Say(string.Create(CultureInfo.InvariantCulture,
                $"change {index}: rollout started; upstream disturbance on every node ({disturbance.ErrorShare:P0} of requests fail for {disturbance.Length.TotalSeconds:0.#} s)"));
        }
        Task<(PackageView Package, string? Risk, RolloutView? Started)>? overlapStart = null;
        var overlap = overlapLkg is null ? null : scenario.Overlap;
        var (rollout, approvals, timedOut) = await SettleAsync(started, scenario.Unit, package.Version, consumers, ChangeTimeout, seen =>
        {
            if (overlap is not null && overlapStart is null && seen.CurrentWave == overlap.DuringWave
                && seen.Waves?.ElementAtOrDefault(overlap.DuringWave)?.State == "baking")
            {
                Say($"change {index}: wave {overlap.DuringWave} bakes; {overlap.Unit} starts its change on the same nodes");
                overlapStart = StartAsync(scenario, overlap.Unit, overlap.Change, cancellationToken);
            }
        }, cancellationToken);
        var outcomes = new List<ReplayOutcome>
        {
            Outcome(index, change, scenario.Unit, package, risk, rollout, approvals, timedOut, lkg) with { DisturbedAt = disturbedAt },
        };
        if (overlap is not null)
        {
            if (overlapStart is null)
            {
                Say($"change {index} settled before its wave {overlap.DuringWave} baked: the overlapping change of {overlap.Unit} never started");
                outcomes.Add(new ReplayOutcome { Index = index + 1, Change = overlap.Change, Unit = overlap.Unit });
                return outcomes;
            }
            var (otherPackage, otherRisk, otherStarted) = await overlapStart;
            if (otherStarted is null)
            {
                outcomes.Add(Refused(index + 1, overlap.Change, overlap.Unit, otherPackage.Version, otherRisk));
                return outcomes;
            }
            var (other, otherApprovals, otherTimedOut) = await SettleAsync(otherStarted, overlap.Unit, otherPackage.Version, fleet.Nodes, ChangeTimeout, null, cancellationToken);
            outcomes.Add(Outcome(index + 1, overlap.Change, overlap.Unit, otherPackage, otherRisk, other, otherApprovals, otherTimedOut, overlapLkg!.Value));
        }
        return outcomes;
    }

    /// <summary>
    /// The change's recorded evidence judged again under each of <see cref="ReplayBacktest.Sets"/> on top of the replay
    /// plan's gates. A rollout the server moved to another plan (a high-risk change) is left as it is: the replay plan's
    /// gates are not the ones it ran with.
    /// </summary>
    private async Task<ReplayOutcome> BacktestAsync(ReplayScenario scenario, ReplayOutcome outcome, CancellationToken cancellationToken)
    {
        if (outcome is not { Rollout: { } rollout, Refused: false } || outcome.Plan != ReplayScenario.PlanName)
        {
            return outcome;
        }
        var rows = new List<ReplayBacktestRow>();
        foreach (var (name, overrides) in ReplayBacktest.Sets)
        {
            var judgement = await controlPlane.JudgeAsync(rollout, ReplayBacktest.Gates(scenario.Plan, overrides), cancellationToken);
            rows.Add(ReplayBacktestRow.Of(name, judgement));
        }
        Say($"change {outcome.Index} judged again: {string.Join(", ", rows.Select(r => $"{r.Set} {r.Summary}"))}");
        return outcome with { Backtest = rows };
    }

    /// <summary>Publishes a change and starts its rollout on the replay plan; no rollout when validation refused it.</summary>
    private async Task<(PackageView Package, string? Risk, RolloutView? Started)> StartAsync(
        ReplayScenario scenario, string unit, ReplayChange change, CancellationToken cancellationToken)
    {
        var package = await controlPlane.CreatePackageAsync(unit, new NewPackage(change.Content, change.Message, Source(scenario)), cancellationToken);
        var risk = package.Risk is { } r ? string.Create(CultureInfo.InvariantCulture, $"{r.Level} {r.Score}") : null;
        if (package.Validation is { Passed: false })
        {
            return (package, risk, null);
        }
        var started = await controlPlane.StartRolloutAsync(
            new NewRollout(unit, package.Version, $"replay ({scenario.Id}): {change.Message}", ReplayScenario.PlanName),
            $"replay-{scenario.Id}-{unit}-{package.Version}", cancellationToken);
        return (package, risk, started);
    }

    private static ReplayOutcome Refused(int index, ReplayChange change, string unit, long version, string? risk) =>
        new() { Index = index, Change = change, Unit = unit, Version = version, Risk = risk, Refused = true, State = "refused" };

    private ReplayOutcome Outcome(int index, ReplayChange change, string unit, PackageView package, string? risk,
        RolloutView rollout, int approvals, bool timedOut, long lkg)
    {
        var timeline = rollout.Timeline ?? [];
        var halt = timeline.FirstOrDefault(e => e.Type is "paused" or "rollback-started" or "aborted");
        var firstTouch = fleet.History.FirstTouchedAt(unit, package.Version);
        var outcome = new ReplayOutcome
        {
            Index = index,
            Change = change,
            Unit = unit,
            Version = package.Version,
            Risk = risk,
            Rollout = rollout.Id,
            State = rollout.State,
            TimedOut = timedOut,
            Plan = rollout.Plan,
            Halt = halt is null ? null : $"{halt.Type}: {halt.Message}",
            StoppedAtWave = rollout.CurrentWave,
            FirstWaveName = rollout.Waves is [var first, ..] ? first.Name : null,
            FirstWaveTargeted = rollout.Waves is [var w0, ..] ? w0.Targeted : 0,
            EverApplied = fleet.NodesEverApplied(unit, package.Version).Count,
            RollbackTargeted = rollout.Rollback?.Targeted ?? 0,
            RollbackConfirmed = rollout.Rollback?.Confirmed ?? 0,
            FirstBadReportAt = change.Bad && firstTouch is { } touched ? fleet.History.FirstRoundAt(touched) : null,
            SafeAt = rollout.Rollback?.CompletedAt,
            FleetBackAt = fleet.History.LastBackOnAt(unit, package.Version, rollout.PreviousVersion ?? lkg),
            Inconclusive = timeline.Count(e => e.Type == "wave-inconclusive"),
            Approvals = approvals,
        };
        Say(string.Create(CultureInfo.InvariantCulture,
            $"change {index} ({unit}, {(change.Bad ? "bad" : "good")}, v{outcome.Version}, risk {risk ?? "?"}): {outcome.State}{(timedOut ? " (gave up watching)" : "")} " +
            $"on plan {outcome.Plan} at wave {outcome.StoppedAtWave}; {outcome.EverApplied} nodes ran it, first wave {outcome.FirstWaveTargeted}") +
            (outcome.TimeToSafe is { } safe ? string.Create(CultureInfo.InvariantCulture, $"; safe after {safe.TotalSeconds:0.00} s") : "") +
            (outcome.Halt is { } why ? $"; {why}" : ""));
        return outcome;
    }

    /// <summary>
    /// Follows a rollout until it settles (completed and run by every consumer, rolled back and confirmed, aborted or
    /// paused, or held for an approval no one can give), approving each held wave with <see cref="Approver"/>.
    /// </summary>
    private async Task<(RolloutView Rollout, int Approvals, bool TimedOut)> SettleAsync(
        RolloutView rollout, string unit, long version, IReadOnlyList<SimulatedNode> consumers, TimeSpan timeout, Action<RolloutView>? watch,
        CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        int? approvedWave = -1;
        var approvals = 0;
        while (true)
        {
            watch?.Invoke(rollout);
            if (rollout.State == "awaiting-approval" && Approver is not null && approvedWave != rollout.CurrentWave)
            {
                approvedWave = rollout.CurrentWave;
                approvals++;
                rollout = await Approver.ApproveRolloutAsync(rollout.Id, "replay: a second person approves", cancellationToken);
                continue;
            }
            var settled = rollout.State switch
            {
                // Completed is the server's word; the replay also waits for the fleet to run it everywhere.
                "completed" => consumers.All(n => n.Running(unit)?.Version == version),
                "rolled-back" => rollout.Rollback?.CompletedAt is not null,
                "aborted" or "paused" => true,
                "awaiting-approval" => Approver is null,
                _ => false,
            };
            if (settled)
            {
                return (rollout, approvals, false);
            }
            if (time.GetUtcNow() >= deadline)
            {
                return (rollout, approvals, true);
            }
            await Task.Delay(PollEvery, time, cancellationToken);
            rollout = await controlPlane.GetRolloutAsync(rollout.Id, cancellationToken);
        }
    }

    /// <summary>Checks <paramref name="done"/> every <see cref="PollEvery"/> until it holds; a timeout names what was awaited.</summary>
    private async Task UntilAsync(Func<Task<bool>> done, string what, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (!await done())
        {
            if (time.GetUtcNow() >= deadline)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for {what}");
            }
            await Task.Delay(PollEvery, time, cancellationToken);
        }
    }

    private static string Source(ReplayScenario scenario) => $"snapstone-simulator replay ({scenario.Id}) {scenario.Name}";

    private void Say(string line) => log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{time.GetUtcNow():HH:mm:ss.f} {line}"));
}
