using System.Diagnostics;

namespace Snapstone.Benchmarks.Measurements;

/// <summary>
/// (setup) How long a fresh server takes to register the whole fleet: report rounds back to back until
/// <c>GET /v1/fleet</c> counts every node. A node's first report writes its own state and its PoP's
/// membership, so this is bound by storage writes, not by report handling.
/// </summary>
public sealed class FleetRegistration : IMeasurement
{
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
            registered = (await context.ControlPlane.GetFleetAsync(cancellationToken)).Nodes;
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
        return new ResultRow("setup", $"registering {nodes:N0} fresh nodes (first report of each)",
            $"{elapsed.TotalSeconds:0.0} s ({ResultRow.Number(nodes / elapsed.TotalSeconds)} nodes/s)",
            $"{rounds} report rounds; {batches.FailedBatches} batches failed (timeout {context.Fleet.Options.RequestTimeout.TotalSeconds:0} s) and were sent again next round",
            elapsed.TotalSeconds);
    }
}
