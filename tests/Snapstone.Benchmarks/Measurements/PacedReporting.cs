using System.Diagnostics;
using Snapstone.Benchmarks.Probes;

namespace Snapstone.Benchmarks.Measurements;

/// <summary>
/// (c, at the real cadence) The fleet as it really reports: every node once a second, for
/// <see cref="BenchmarkOptions.MemoryDuration"/>. Says whether a report round fits in its second, and
/// gives the registered nodes the while of reporting that <see cref="MemoryPerNode"/> measures after.
/// </summary>
public sealed class PacedReporting : IMeasurement
{
    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var fleet = context.Fleet;
        var nodes = fleet.Nodes.Count;
        var duration = context.Options.MemoryDuration;
        var interval = context.Options.ReportInterval;
        context.Log.WriteLine($"paced reporting: {nodes:N0} nodes every {interval.TotalSeconds:0} s for {duration.TotalSeconds:0} s …");
        context.Batches.Take();
        var rounds = new List<double>();
        var cpu = CpuShare.Start(context.Cluster.ProcessIds);
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < duration)
        {
            // Round k starts at k intervals, or at once when round k-1 overran.
            var due = interval * rounds.Count - watch.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, cancellationToken);
            }
            var started = watch.Elapsed;
            await fleet.TickAsync(interval, cancellationToken);
            rounds.Add((watch.Elapsed - started).TotalMilliseconds);
        }
        // The period is one interval per round, or longer when the last round overran its interval.
        var elapsed = TimeSpan.FromSeconds(Math.Max(watch.Elapsed.TotalSeconds, rounds.Count * interval.TotalSeconds));
        var batches = context.Batches.Take();
        var busy = cpu.Read();
        rounds.Sort();
        var p99Round = Percentiles.Of(rounds, 0.99);
        var rate = batches.AcceptedReports / elapsed.TotalSeconds;
        var intervalMs = interval.TotalMilliseconds;
        return new ResultRow("c", $"report ingest at the real cadence: {nodes:N0} nodes every {interval.TotalSeconds:0} s",
            $"{ResultRow.Number(rate)} reports/s; a round takes {100 * Percentiles.Of(rounds, 0.5) / intervalMs:0.0}% of the interval (p50)",
            $"a round of {nodes:N0} reports took p50 {Percentiles.Of(rounds, 0.5):0} ms, p99 {p99Round:0} ms, {100 * p99Round / intervalMs:0.0}% of the interval " +
            $"({(p99Round < intervalMs ? "every round fit in its interval" : "rounds overran the interval")}); " +
            $"batch p50 {batches.P50Ms:0} ms, p99 {batches.P99Ms:0} ms; {batches.FailedBatches} batches failed; {rounds.Count} rounds; {busy}",
            rate);
    }
}
