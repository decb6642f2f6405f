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
        var cpu = CpuShare.Start(context.Cluster.ProcessIds);
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
        var bestSecond = BestSecond(rounds, fleet.Nodes.Count);
        rounds.Sort();
        return new ResultRow("c", "report ingest, saturated: POST /v1/reports as fast as it answers",
            $"{ResultRow.Number(rate)} reports/s",
            $"batch latency p50 {batches.P50Ms:0} ms, p99 {batches.P99Ms:0} ms ({batches.AnsweredBatches} batches of up to {options.Batch}, " +
            $"{options.Concurrency} in flight); {ResultRow.Number(accepted)} reports accepted in {elapsed.TotalSeconds:0.0} s, " +
            $"{refused} refused, {batches.FailedBatches} batches failed; a round of {fleet.Nodes.Count:N0} took p50 {Percentiles.Of(rounds, 0.5):0} ms, " +
            $"best second {ResultRow.Number(bestSecond)} reports/s; {busy}",
            rate, busy.ServerCores, bestSecond);
    }

    /// <summary>
    /// The best rate over consecutive rounds that together last at least a second (the capacity left when
    /// other work on the machine paused, comparable with the raw baseline's best second). Rounds of
    /// 400, 300, 500 and 900 ms of 10,000 reports each: 400+300+500 → 30,000 in 1.2 s = 25,000/s;
    /// 300+500+900 → 30,000 in 1.7 s = 17,600/s; 500+900 → 14,300/s; best 25,000/s.
    /// </summary>
    internal static double BestSecond(IReadOnlyList<double> roundsMs, int reportsPerRound)
    {
        var best = 0.0;
        for (var first = 0; first < roundsMs.Count; first++)
        {
            var ms = 0.0;
            for (var last = first; last < roundsMs.Count; last++)
            {
                ms += roundsMs[last];
                if (ms >= 1000)
                {
                    best = Math.Max(best, (last - first + 1) * reportsPerRound / (ms / 1000));
                    break;
                }
            }
        }
        // Fewer rounds than a second's worth: the whole run is the only stretch there is.
        return best > 0 ? best : roundsMs.Count * reportsPerRound / (roundsMs.Sum() / 1000);
    }
}
