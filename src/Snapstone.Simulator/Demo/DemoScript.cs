using System.Globalization;
using System.Net;

namespace Snapstone.Simulator.Demo;

/// <summary>
/// The story the demo tells against a running Snapstone: a fleet reports, a unit and a plan are
/// defined, a good package rolls through every wave, then a bad one is stopped and rolled back. It
/// prints the waves and verdicts as they happen, then the blast radius and the time to safe as the
/// fleet itself measured them.
/// </summary>
public sealed class DemoScript(Fleet fleet, ControlPlane controlPlane, DemoScenario scenario, TimeProvider time, TextWriter output)
{
    public const string PlanName = "demo-waves";

    public TimeSpan Baseline { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan PollEvery { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan RolloutTimeout { get; init; } = TimeSpan.FromMinutes(15);
    public TimeSpan RegistrationTimeout { get; init; } = TimeSpan.FromMinutes(2);
    public int BakeSeconds { get; init; } = 5;

    /// <summary>
    /// A second person's control plane (a token with the <c>approve</c> scope that did not start the rollout):
    /// approves a rollout the server holds in <c>awaiting-approval</c>. Without one the demo stops there.
    /// </summary>
    public ControlPlane? Approver { get; init; }

    /// <summary>Runs the story; 0 when the bad package was rolled back and the good one completed.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        using var stopFleet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reporting = fleet.RunAsync(fleet.Options.ReportInterval, stopFleet.Token);
        try
        {
            Say($"fleet: {fleet.Nodes.Count} nodes in {fleet.Pops.Count} PoPs, {fleet.Nodes.Count(n => n.Profile.IsCanary)} canaries, " +
                $"{fleet.Nodes.Count(n => n.Profile.Flaky)} flaky; {scenario.Unit} consumed as {scenario.Consumer.Describe()}");
            if (!await WaitForRegistrationAsync(cancellationToken))
            {
                return 1;
            }
            Say($"letting the fleet report for {Baseline.TotalSeconds:0} s more to build a baseline");
            await Task.Delay(Baseline, time, cancellationToken);

            await controlPlane.PutPlanAsync(PlanName, DemoScenario.Plan(BakeSeconds), cancellationToken);
            await controlPlane.PutUnitAsync(scenario.Unit, scenario.Definition, cancellationToken);
            Say($"defined plan {PlanName} (canary → 10% → all, {BakeSeconds} s bake each) and unit {scenario.Unit}");

            if (!await PublishBaselineAsync(cancellationToken))
            {
                return 1;
            }
            var good = await RollOutAsync(scenario.GoodContent, scenario.GoodMessage, "good", cancellationToken);
            var bad = await RollOutAsync(scenario.BadContent, scenario.BadMessage, "bad", cancellationToken);

            var goodCompleted = good?.Rollout.State == "completed";
            var badRolledBack = bad?.Rollout.State == "rolled-back";
            if (bad is { } b)
            {
                Measure(b.Rollout, good?.Package.Version);
            }
            Say(goodCompleted && badRolledBack
                ? "outcome: the good package reached every node; the bad one failed small and was rolled back"
                : $"outcome: good rollout {good?.Rollout.State ?? "not started"}, bad rollout {bad?.Rollout.State ?? "not started"}");
            return goodCompleted && badRolledBack ? 0 : 1;
        }
        finally
        {
            await stopFleet.CancelAsync();
            await reporting;
            Say(FleetSummary.Line(fleet, time.GetElapsedTime(started)));
        }
    }

    /// <summary>
    /// Publishes the scenario's baseline and rolls it out on the demo plan: a unit's first package goes through the
    /// waves like every other (until it completes, the nodes have no package of the unit and keep their built-in
    /// default), so the good and bad packages after it are real changes against a fleet that runs something.
    /// </summary>
    private async Task<bool> PublishBaselineAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        if (await RollOutAsync(scenario.BaselineContent, "Baseline", "baseline", cancellationToken) is not { Rollout.State: "completed" } baseline)
        {
            Say("the baseline did not complete its rollout: nothing to change from");
            return false;
        }
        var deadline = time.GetUtcNow() + RegistrationTimeout;
        while (true)
        {
            var on = fleet.NodesOn(scenario.Unit, baseline.Package.Version).Count;
            if (on >= fleet.Nodes.Count || time.GetUtcNow() >= deadline)
            {
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"baseline package: {scenario.Unit} v{baseline.Package.Version} (the unit's first) went through every wave: " +
                    $"{on} of {fleet.Nodes.Count} nodes run it after {time.GetElapsedTime(started).TotalSeconds:0.0} s"));
                return true;
            }
            await Task.Delay(PollEvery, time, cancellationToken);
        }
    }

    private async Task<(PackageView Package, RolloutView Rollout)?> RollOutAsync(string content, string message, string label, CancellationToken cancellationToken)
    {
        var package = await controlPlane.CreatePackageAsync(scenario.Unit,
            new NewPackage(content, message, $"snapstone-simulator demo ({scenario.Name})"), cancellationToken);
        Say($"{label} package: {scenario.Unit} v{package.Version} sha256 {package.Sha256[..12]} {package.SizeBytes} bytes — \"{message}\"");
        if (package.Validation is { Passed: false } validation)
        {
            foreach (var finding in validation.Findings ?? [])
            {
                Say($"  validation {finding.Severity} {finding.Rule}: {finding.Message}");
            }
            Say("  refused by validation: it can never be rolled out");
            return null;
        }

        RolloutView rollout;
        try
        {
            rollout = await controlPlane.StartRolloutAsync(
                new NewRollout(scenario.Unit, package.Version, $"demo: {message}", PlanName),
                $"demo-{scenario.Unit}-{package.Sha256[..16]}", cancellationToken);
        }
        catch (ControlPlaneException e) when (e.Status == HttpStatusCode.NotFound)
        {
            // The unit and the plan were stored a moment ago, so a 404 here means the route itself is missing.
            throw new ControlPlaneException(e.Status,
                $"this Snapstone cannot start rollouts: {e.Message}. Everything before it worked (fleet reports, plan, " +
                "unit, package); the rest of the demo needs the rollout API of docs/API.md (POST /v1/rollouts, GET /v1/rollouts/{id}).");
        }
        Say($"rollout {rollout.Id} of v{package.Version} started ({rollout.State})");
        rollout = await WatchAsync(rollout, cancellationToken);
        Say($"rollout {rollout.Id} of v{package.Version}: {rollout.State}");
        foreach (var wave in rollout.Waves ?? [])
        {
            Say($"  {Describe(wave)}");
        }
        if (rollout.Rollback is { Reason: not null } rollback)
        {
            Say($"  rollback: {rollback.Reason}; confirmed {rollback.Confirmed}/{rollback.Targeted}");
        }
        return (package, rollout);
    }

    /// <summary>Polls the rollout, printing its timeline as it grows, until it settles or times out.</summary>
    private async Task<RolloutView> WatchAsync(RolloutView rollout, CancellationToken cancellationToken)
    {
        var printed = 0;
        int? approvedWave = -1;
        var deadline = time.GetUtcNow() + RolloutTimeout;
        while (true)
        {
            var timeline = rollout.Timeline ?? [];
            foreach (var entry in timeline.Skip(printed))
            {
                Say($"  {entry.At.ToUniversalTime():HH:mm:ss} {entry.Type,-16} {entry.Message}");
            }
            printed = Math.Max(printed, timeline.Count);
            if (rollout.State == "awaiting-approval" && Approver is not null && approvedWave != rollout.CurrentWave)
            {
                // Each wave that requires approval waits for it once; approve it with the second token and watch on.
                Say($"  rollout {rollout.Id} awaits approval before wave {rollout.CurrentWave}; approving it with a second token");
                approvedWave = rollout.CurrentWave;
                rollout = await Approver.ApproveRolloutAsync(rollout.Id, "demo: a second person approves", cancellationToken);
                continue;
            }
            if (rollout.Settled)
            {
                if (rollout.State == "awaiting-approval")
                {
                    Say("  it needs approval by a token with the approve scope other than the one that started it (--approver-token)");
                }
                return rollout;
            }
            if (time.GetUtcNow() >= deadline)
            {
                Say($"  gave up watching after {RolloutTimeout.TotalMinutes:0} min");
                return rollout;
            }
            await Task.Delay(PollEvery, time, cancellationToken);
            rollout = await controlPlane.GetRolloutAsync(rollout.Id, cancellationToken);
        }
    }

    /// <summary>
    /// Waits until Snapstone has registered every node of the fleet (a wave can only target nodes it
    /// knows), saying how long that took. False, after saying why, when no report gets through or the
    /// nodes are not all registered within <see cref="RegistrationTimeout"/>.
    /// </summary>
    private async Task<bool> WaitForRegistrationAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var counters = fleet.Counters;
        while (true)
        {
            await Task.Delay(PollEvery, time, cancellationToken);
            var seen = await controlPlane.GetFleetAsync(cancellationToken);
            var elapsed = time.GetElapsedTime(started);
            if (seen.Nodes >= fleet.Nodes.Count)
            {
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"Snapstone registered all {seen.Nodes} nodes in {elapsed.TotalSeconds:0.0} s ({counters.ReportsSent} reports sent, " +
                    $"{counters.BatchesFailed} of {counters.BatchesSent} batches failed, {counters.ReportsRefused} reports refused)"));
                return true;
            }
            if (counters.Ticks >= 3 && counters.BatchesFailed == counters.BatchesSent)
            {
                Say("no report got through in three rounds (see the warnings above): nothing can be rolled out to this fleet");
                return false;
            }
            if (elapsed >= RegistrationTimeout)
            {
                Say($"Snapstone registered only {seen.Nodes} of {fleet.Nodes.Count} nodes in {RegistrationTimeout.TotalSeconds:0} s; giving up");
                return false;
            }
        }
    }

    private void Measure(RolloutView bad, long? goodVersion)
    {
        var consumers = fleet.Nodes.Count;
        var touched = fleet.NodesEverApplied(scenario.Unit, bad.Version);
        var refused = fleet.History.NodesEverRejected(scenario.Unit, bad.Version);
        var canaries = fleet.Nodes.Count(n => n.Profile.IsCanary);
        Say(string.Create(CultureInfo.InvariantCulture,
            $"blast radius: {touched.Count} of {consumers} nodes ({100.0 * touched.Count / consumers:0.##}%) ever ran v{bad.Version}" +
            $" (canary tier: {canaries}); {refused.Count} refused it"));
        var safeVersion = bad.PreviousVersion ?? goodVersion;
        if (safeVersion is { } lkg)
        {
            var timeToSafe = fleet.History.TimeToSafe(scenario.Unit, bad.Version, lkg);
            var firstBad = fleet.History.Changes()
                .Where(c => c.Unit == scenario.Unit && c.Version == bad.Version && c.Kind is NodeChangeKind.Crashed or NodeChangeKind.Rejected)
                .Select(c => (DateTimeOffset?)c.At).Min();
            var lastBack = timeToSafe is { } sinceTouch && fleet.History.FirstTouchedAt(scenario.Unit, bad.Version) is { } firstTouch ? firstTouch + sinceTouch : (DateTimeOffset?)null;
            var interval = fleet.Options.ReportInterval.TotalSeconds;
            if (lastBack is { } back && firstBad is { } first)
            {
                var fromReport = (back - first).TotalSeconds;
                var confirmed = bad.Rollback?.CompletedAt is { } done
                    ? string.Create(CultureInfo.InvariantCulture, $"; the server confirmed the rollback {(done - first).TotalSeconds:0.0} s after the first bad report")
                    : "";
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"time to safe: {fromReport:0.0} s ({fromReport / interval:0.0} report intervals) from the first report of a crash or refusal of v{bad.Version} " +
                    $"to the last node back on v{lkg}; {timeToSafe!.Value.TotalSeconds:0.0} s from the first node taking v{bad.Version}{confirmed}"));
            }
            else
            {
                Say(timeToSafe is { } t
                    ? $"time to safe: {t.TotalSeconds:0.#} s from the first node touching v{bad.Version} to the last one back on v{lkg}"
                    : $"time to safe: not reached — {fleet.NodesOn(scenario.Unit, bad.Version).Count} nodes still run v{bad.Version}");
            }
        }
    }

    private static string Describe(WaveView wave)
    {
        var verdict = wave.Verdict is { } v
            ? $" verdict {v.Result}{(v.Reasons is { Count: > 0 } reasons ? ": " + string.Join("; ", reasons) : "")}"
            : "";
        return $"{wave.Name,-12} {wave.State,-8} targeted {wave.Targeted} applied {wave.Applied} rejected {wave.Rejected} " +
               $"healthy {wave.Healthy} unhealthy {wave.Unhealthy}{verdict}";
    }

    private void Say(string line) => output.WriteLine($"{time.GetUtcNow():HH:mm:ss} {line}");
}
