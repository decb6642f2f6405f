using System.Diagnostics;

namespace Snapstone.Benchmarks.Measurements;

/// <summary>
/// (setup) How long a fresh server takes to register the whole fleet: report rounds back to back until
/// <c>GET /v1/fleet</c> counts every node. A node's first report writes its own state and its PoP's
/// membership; the PoP group-commits its new members, and the node's own row is written behind. Right after, the
/// same fleet reports <see cref="SteadyRounds"/> rounds back to back (every node known): the median of those is the
/// steady round that the enrolment is compared with, in the same run (issue 17: at most five of them).
/// </summary>
public sealed class FleetRegistration : IMeasurement
{
    public const int SteadyRounds = 3;

    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var fleet = context.Fleet;
        var nodes = fleet.Nodes.Count;
        context.Log.WriteLine($"registration: {nodes:N0} nodes report for the first time …");
        context.Batches.Take();
        var watch = Stopwatch.StartNew();
        var rounds = 0;
        var registered = 0;
        while (true)
        {
            await fleet.TickAsync(TimeSpan.FromSeconds(1), cancellationToken);
            rounds++;
            try
            {
                registered = (await context.ControlPlane.GetFleetAsync(cancellationToken)).Nodes;
            }
            catch (Simulator.Demo.ControlPlaneException e) when (e.Status == System.Net.HttpStatusCode.ServiceUnavailable)
            {
                // A fleet summary that timed out while the server enrols: asked again after the next round.
                context.Log.WriteLine($"  after round {rounds + 1}: {e.Message}");
            }
            context.Log.WriteLine($"  after round {rounds} ({watch.Elapsed.TotalSeconds:0} s): {registered:N0} registered");
            if (registered >= nodes || watch.Elapsed > context.Options.RegistrationTimeout)
            {
                break;
            }
        }
        var elapsed = watch.Elapsed;
        var batches = context.Batches.Take();
        if (registered < nodes)
        {
            throw new TimeoutException($"the server registered only {registered} of {nodes} nodes in {elapsed.TotalSeconds:0} s");
        }
        var steady = new List<double>();
        for (var i = 0; i < SteadyRounds; i++)
        {
            var round = Stopwatch.StartNew();
            await fleet.TickAsync(TimeSpan.FromSeconds(1), cancellationToken);
            steady.Add(round.Elapsed.TotalSeconds);
        }
        steady.Sort();
        var median = steady[steady.Count / 2];
        var ratio = elapsed.TotalSeconds / median;
        var rate = nodes / elapsed.TotalSeconds;
        return new ResultRow("setup", $"registering {nodes:N0} fresh nodes (first report of each) against a steady round of the same fleet",
            $"{elapsed.TotalSeconds:0.0} s ({ResultRow.Number(rate)} nodes/s), {ratio:0.0} steady rounds",
            $"target ≥ 10,000 nodes/s: {(rate >= 10_000 ? "met" : "not met")}; target ≤ 5 steady rounds: {(ratio <= 5 ? "met" : "not met")}. " +
            $"{rounds} report rounds until GET /v1/fleet counted every node; {batches.FailedBatches} batches failed (timeout {context.Fleet.Options.RequestTimeout.TotalSeconds:0} s) and were sent again next round; " +
            $"then {SteadyRounds} steady rounds of {nodes:N0} reports back to back took {string.Join(", ", steady.Select(t => $"{t * 1000:0} ms"))} (median {median * 1000:0} ms)",
            elapsed.TotalSeconds);
    }
}
