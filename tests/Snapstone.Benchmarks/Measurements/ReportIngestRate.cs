using System.Diagnostics;
using Snapstone.Benchmarks.Probes;

namespace Snapstone.Benchmarks.Measurements;

/// <summary>
/// (c) The most reports per second the batch endpoint accepts, sustained: the registered fleet sends
/// report rounds back to back (each round every node once, in batches of <see cref="BenchmarkOptions.Batch"/>,
/// <see cref="BenchmarkOptions.Concurrency"/> in flight) for <see cref="BenchmarkOptions.IngestDuration"/>.
/// Accepted means answered 2xx with no error in the report's slot. The fleet runs in this process, on the
/// same two cores as the server, so its JSON work is part of the price.
/// </summary>
public sealed class ReportIngestRate : IMeasurement
{
    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var fleet = context.Fleet;
        var options = context.Options;
        context.Log.WriteLine($"report ingest: rounds of {fleet.Nodes.Count:N0} reports back to back for {options.IngestDuration.TotalSeconds:0} s …");
        context.Batches.Take();
        var refusedBefore = fleet.Counters.ReportsRefused;
        var rounds = new List<double>();
        var cpu = CpuShare.Start(context.Server.ProcessId);
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < options.IngestDuration)
        {
            var started = watch.Elapsed;
            await fleet.TickAsync(TimeSpan.FromSeconds(1), cancellationToken);
            rounds.Add((watch.Elapsed - started).TotalMilliseconds);
        }
        var elapsed = watch.Elapsed;
        var busy = cpu.Read();
        var batches = context.Batches.Take();
        var refused = fleet.Counters.ReportsRefused - refusedBefore;
        var accepted = batches.AcceptedReports - refused;
        var rate = accepted / elapsed.TotalSeconds;
        rounds.Sort();
        // The fastest round: the capacity left when other work on the machine paused.
        var bestRound = fleet.Nodes.Count / (rounds[0] / 1000);
        return new ResultRow("c", "report ingest, saturated: POST /v1/reports as fast as it answers",
            $"{ResultRow.Number(rate)} reports/s",
            $"batch latency p50 {batches.P50Ms:0} ms, p99 {batches.P99Ms:0} ms ({batches.AnsweredBatches} batches of up to {options.Batch}, " +
            $"{options.Concurrency} in flight); {ResultRow.Number(accepted)} reports accepted in {elapsed.TotalSeconds:0.0} s, " +
            $"{refused} refused, {batches.FailedBatches} batches failed; a round of {fleet.Nodes.Count:N0} took p50 {Percentiles.Of(rounds, 0.5):0} ms, " +
            $"the fastest {rounds[0]:0} ms ({ResultRow.Number(bestRound)} reports/s); {busy}",
            rate, busy.ServerCores, bestRound);
    }
}
