using Snapstone.Benchmarks.Probes;

namespace Snapstone.Benchmarks.Measurements;

// (a), (b) and (e) read the same rollouts (RolloutExperiment), run once by whichever of them comes first.

/// <summary>
/// (a) Time to assign a wave of the whole fleet: from sending <c>POST /v1/rollouts</c> (one wave selecting 100%)
/// to the first answer (the 201 itself, then <c>GET /v1/rollouts/{id}</c> every 50 ms) that shows wave 0 targeting
/// every node and the server's <c>wave-assigned</c> timeline entry. The server assigns wave 0 before it answers
/// the POST, so this is mostly the POST's own latency. The entry's timestamp against the send is given too. Also given: until every node was told and had applied it, which adds
/// up to a report interval (each node learns its new desired package in the answer to its next report).
/// </summary>
public sealed class WaveAssignmentTime : IMeasurement
{
    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var experiment = context.Rollouts ??= await RolloutExperiment.RunAsync(context, cancellationToken);
        var nodes = experiment.FleetSize;
        var name = $"time to assign a {nodes:N0}-node wave (POST /v1/rollouts sent → wave 0 targets every node)";
        if (experiment.Assignments.Count == 0)
        {
            return new ResultRow("a", name, "not measured", "no rollout assigned its wave: " + string.Join("; ", experiment.Notes));
        }
        var assigned = experiment.Assignments.Select(a => a.Assigned.TotalMilliseconds).Order().ToList();
        var told = experiment.Assignments.Select(a => a.Told.TotalMilliseconds).Order().ToList();
        var created = experiment.Assignments.Select(a => a.Created.TotalMilliseconds).Order().ToList();
        var entries = experiment.Assignments.Where(a => a.AssignedEntry is not null).Select(a => a.AssignedEntry!.Value.TotalMilliseconds).Order().ToList();
        var p50 = Percentiles.Of(assigned, 0.5);
        var max = assigned[^1];
        return new ResultRow("a", name, $"p50 {p50:0} ms, max {max:0} ms",
            $"target < 1 s: {(max < 1000 ? "met" : p50 < 1000 ? "met at p50, not at max" : "not met")}. {assigned.Count} rollouts of a one-wave 100% plan, " +
            $"wave 0 targeted {experiment.Assignments[0].Targeted:N0} nodes in each; the POST answered 201 in p50 {Percentiles.Of(created, 0.5):0} ms; " +
            (entries.Count > 0 ? $"the server's wave-assigned entry is stamped p50 {Percentiles.Of(entries, 0.5):0} ms, max {entries[^1]:0} ms after the POST was sent; " : "") +
            $"every node told and running it: p50 {Percentiles.Of(told, 0.5):0} ms, max {told[^1]:0} ms after the POST was sent (nodes learn at their next report, every {experiment.ReportInterval.TotalSeconds:0} s)",
            p50);
    }
}

/// <summary>
/// (b) Time to safe, p50 and p99 over the bad rollouts: from the first report of a crash or rejection of the bad
/// version (the tick at which the simulated node built that report, so slightly before the server received it) to
/// the rollout's <c>rollback.completedAt</c>: every node that ever applied it confirmed back on the previous
/// package by its own report. Also in report intervals; the target is 1 at p99 (issue 17; it was 2).
/// </summary>
public sealed class TimeToSafe : IMeasurement
{
    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var experiment = context.Rollouts ??= await RolloutExperiment.RunAsync(context, cancellationToken);
        const string name = "time to safe: first bad report → every affected node confirmed back on its previous package (p50/p99)";
        var bad = experiment.BadRollouts;
        var safe = bad.Where(b => b.TimeToSafe is not null).Select(b => b.TimeToSafe!.Value.TotalSeconds).Order().ToList();
        var unsafeCount = bad.Count - safe.Count;
        if (safe.Count == 0)
        {
            return new ResultRow("b", name, "not measured",
                $"{bad.Count} bad rollouts, none confirmed safe ({string.Join(", ", bad.Select(b => b.State))}). {string.Join("; ", experiment.Notes)}");
        }
        var interval = experiment.ReportInterval.TotalSeconds;
        var p50 = Percentiles.Of(safe, 0.5);
        var p99 = Percentiles.Of(safe, 0.99);
        var fleetSide = bad.Where(b => b.FleetTimeToSafe is not null).Select(b => b.FleetTimeToSafe!.Value.TotalSeconds).Order().ToList();
        var met = p99 <= interval && unsafeCount == 0;
        var states = string.Join(", ", bad.GroupBy(b => b.State).Select(g => $"{g.Count()} {g.Key}"));
        return new ResultRow("b", name,
            $"p50 {p50:0.00} s ({p50 / interval:0.0} intervals), p99 {p99:0.00} s ({p99 / interval:0.0} intervals)",
            $"target p99 ≤ 1 report interval ({interval:0} s): {(met ? "met" : "not met")}. {bad.Count} bad rollouts ({states}){(unsafeCount > 0 ? $", {unsafeCount} never confirmed safe" : "")}; " +
            $"with {safe.Count} samples p99 is the largest; min {safe[0]:0.00} s; " +
            $"to the last affected node applying the previous package again (fleet side, before its confirming report): " +
            (fleetSide.Count > 0 ? $"p50 {Percentiles.Of(fleetSide, 0.5):0.00} s, max {fleetSide[^1]:0.00} s" : "not reached") +
            $"; report interval {interval:0} s",
            p99);
    }
}

/// <summary>
/// (e) Blast radius of each bad rollout: the nodes that ever applied the bad version over the fleet size, next to
/// the first wave's <c>targeted</c> over the fleet size. The goal: no node outside the first wave ever runs it.
/// </summary>
public sealed class BlastRadius : IMeasurement
{
    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var experiment = context.Rollouts ??= await RolloutExperiment.RunAsync(context, cancellationToken);
        const string name = "blast radius: nodes that ever ran the bad package / fleet, vs the first wave's share";
        var bad = experiment.BadRollouts;
        if (bad.Count == 0)
        {
            return new ResultRow("e", name, "not measured", "no bad rollout ran: " + string.Join("; ", experiment.Notes));
        }
        var fleet = experiment.FleetSize;
        var worst = bad.MaxBy(b => b.EverApplied)!;
        var within = bad.Count(b => b.EverApplied <= b.FirstWaveTargeted);
        var caughtInFirst = bad.Count(b => b.StoppedAtWave is null or 0 && b.State == "rolled-back");
        var share = 100.0 * worst.EverApplied / fleet;
        return new ResultRow("e", name,
            $"{share:0.##}% ({worst.EverApplied:N0} of {fleet:N0} nodes) at most; first wave {100.0 * worst.FirstWaveTargeted / fleet:0.##}%",
            $"target ≤ first wave: {(within == bad.Count ? "met" : "not met")} in {within} of {bad.Count} bad rollouts; " +
            $"first wave '{worst.FirstWaveName}' targeted {worst.FirstWaveTargeted:N0} ({experiment.Canaries:N0} canaries in the fleet); " +
            $"{caughtInFirst} of {bad.Count} rolled back from wave 0; rollback confirmed {bad.Sum(b => b.RollbackConfirmed):N0} of {bad.Sum(b => b.RollbackTargeted):N0} targeted over all of them",
            share);
    }
}

/// <summary>
/// The cost of a rollout tick against its cohort: over the measured rollouts of each kind (the whole fleet in one wave,
/// a canary wave rolled back), the PoP observations the server counted (<c>snapstone.pop.*</c> on its <c>/metrics</c>),
/// as ticks (observations over PoPs), cohort or touched nodes per tick and node grain calls per tick. A wave's tick
/// asks every cohort node for its sample (the judge reads them) and up to 100 control nodes per PoP; a rollback's tick
/// asks only the touched nodes not yet confirmed.
/// </summary>
public sealed class TickCost : IMeasurement
{
    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var experiment = context.Rollouts ??= await RolloutExperiment.RunAsync(context, cancellationToken);
        const string name = "cost of a rollout tick against the cohort (node grain calls per tick)";
        if (experiment.Observations.Count == 0)
        {
            return new ResultRow("f", name, "not measured", "no rollout was measured: " + string.Join("; ", experiment.Notes));
        }
        var phases = experiment.Observations.GroupBy(o => o.Phase).Select(g =>
        {
            var sum = g.Select(o => o.Cost).Aggregate((a, b) => new Probes.ObserveCost(a.ByKind.Keys.Union(b.ByKind.Keys).ToDictionary(
                k => k,
                k => (a.ByKind.GetValueOrDefault(k).Observations + b.ByKind.GetValueOrDefault(k).Observations,
                      a.ByKind.GetValueOrDefault(k).Covered + b.ByKind.GetValueOrDefault(k).Covered,
                      a.ByKind.GetValueOrDefault(k).Calls + b.ByKind.GetValueOrDefault(k).Calls))));
            return $"{g.Key} (first wave {ResultRow.Number(g.Average(o => o.Cohort))} of {ResultRow.Number(experiment.FleetSize)} nodes, {g.Count()} rollouts): {sum.Describe(experiment.Pops)}";
        });
        var canary = experiment.Observations.Where(o => o.Phase.StartsWith("a bad", StringComparison.Ordinal)).ToList();
        var rollbackCalls = canary.Sum(o => o.Cost.ByKind.GetValueOrDefault("rollback").Calls);
        var rollbackTouched = canary.Sum(o => o.Cost.ByKind.GetValueOrDefault("rollback").Covered);
        return new ResultRow("f", name,
            rollbackTouched > 0 ? $"rollback: {rollbackCalls / rollbackTouched:0.00} node calls per touched node per tick" : "see detail",
            string.Join(". ", phases),
            rollbackTouched > 0 ? rollbackCalls / rollbackTouched : null);
    }
}
