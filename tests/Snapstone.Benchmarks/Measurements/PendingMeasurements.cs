namespace Snapstone.Benchmarks.Measurements;

// The measurements that need rollouts. The server answers POST /v1/rollouts with 404 until the rollout
// grain and its endpoints land; each class says how it will measure, and returns a pending row until then.

/// <summary>
/// (a) Time to assign a 10,000-node wave.
/// <para>
/// TODO once POST /v1/rollouts exists: define a unit every node consumes (no targets) and a plan of one wave
/// <c>{ "select": { "percent": 100 }, "bakeSeconds": 600 }</c>, publish a package, keep the registered fleet
/// reporting once a second, start the rollout and take t0 from its 201. The wave is assigned when the
/// server has changed every node's desired package: t1 is the first time <c>GET /v1/rollouts/{id}</c>
/// shows wave 0 with <c>targeted</c> = node count and the fleet's reports answer the new version to all of
/// them (watch <c>Fleet.Changed</c> for the last node's <c>Applied</c>; subtract the report interval for the
/// upper bound on assignment alone). Report t1 - t0 over several rollouts, p50 and max.
/// </para>
/// </summary>
public sealed class WaveAssignmentTime : IMeasurement
{
    public Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken) =>
        Task.FromResult(ResultRow.Pending("a", $"time to assign a {context.Fleet.Nodes.Count:N0}-node wave",
            "needs POST /v1/rollouts (404 on this server): start a one-wave 100% rollout, time 201 → every node told the new version"));
}

/// <summary>
/// (b) Time to safe at p50 and p99 over several bad rollouts.
/// <para>
/// TODO once rollouts exist: run the demo's features scenario K times (K ≥ 10) on the registered fleet with
/// short bakes: a good package rolled out to completion (it becomes the LKG), then a bad one (duplicated
/// feature rows: fail-closed nodes crash on it). For each bad rollout, t0 is the first report carrying the
/// bad version's crash or rejection (the fleet's <c>History</c> records it with the tick time; the server's
/// <c>timeline</c> has when it received it) and t1 the moment the last node that ever applied the bad
/// version reports the LKG again (<c>History.TimeToSafe(unit, bad, lkg)</c>, or <c>rollback.completedAt</c>
/// from <c>GET /v1/rollouts/{id}</c>). Report p50 and p99 of t1 - t0 and K.
/// </para>
/// </summary>
public sealed class TimeToSafe : IMeasurement
{
    public Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken) =>
        Task.FromResult(ResultRow.Pending("b", "time to safe: first bad report → every affected node back on its previous package (p50/p99)",
            "needs rollouts and rollback: repeat good-then-bad rollouts of the features scenario, read History.TimeToSafe per bad rollout"));
}

/// <summary>
/// (e) Blast radius of a bad package.
/// <para>
/// TODO once rollouts exist: for each bad rollout of <see cref="TimeToSafe"/>, the nodes that ever applied
/// the bad version (<c>Fleet.NodesEverApplied(unit, version)</c>) divided by the fleet size, next to the first
/// wave's size (<c>waves[0].targeted</c> of the rollout) divided by the fleet size. The goal is equality:
/// no node outside the first wave ever runs a bad package.
/// </para>
/// </summary>
public sealed class BlastRadius : IMeasurement
{
    public Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken) =>
        Task.FromResult(ResultRow.Pending("e", "blast radius: nodes that ever ran the bad package / fleet, vs the first wave's share",
            "needs rollouts: Fleet.NodesEverApplied(unit, bad) against waves[0].targeted of each bad rollout"));
}
