using System.Diagnostics;
using System.Net.Http.Json;
using Snapstone.Simulator.Wire;

namespace Snapstone.Benchmarks.Probes;

/// <summary>
/// Sits under the fleet's HttpClient and times every <c>POST /v1/reports</c> from sending the request to
/// having read the whole answer, counting the reports in batches that were answered 2xx and in those that
/// failed. Other requests pass through untimed.
/// </summary>
public sealed class BatchTimer(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private readonly object _sync = new();
    private List<double> _latenciesMs = [];
    private long _acceptedReports;
    private int _failedBatches;
    private long _failedReports;

    /// <summary>What was recorded since the last call, and starts afresh.</summary>
    public BatchStats Take()
    {
        lock (_sync)
        {
            var latencies = _latenciesMs.ToArray();
            Array.Sort(latencies);
            var stats = new BatchStats(latencies, _acceptedReports, _failedBatches, _failedReports);
            _latenciesMs = [];
            _acceptedReports = 0;
            _failedBatches = 0;
            _failedReports = 0;
            return stats;
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Method != HttpMethod.Post || request.RequestUri?.AbsolutePath != "/v1/reports")
        {
            return await base.SendAsync(request, cancellationToken);
        }
        var reports = (request.Content as JsonContent)?.Value is ReportBatch batch ? batch.Reports.Count : 0;
        var started = Stopwatch.GetTimestamp();
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken);
            await response.Content.LoadIntoBufferAsync(cancellationToken);
        }
        catch
        {
            Failed(reports);
            throw;
        }
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (!response.IsSuccessStatusCode)
        {
            Failed(reports);
            return response;
        }
        lock (_sync)
        {
            _latenciesMs.Add(elapsed);
            _acceptedReports += reports;
        }
        return response;
    }

    private void Failed(int reports)
    {
        lock (_sync)
        {
            _failedBatches++;
            _failedReports += reports;
        }
    }
}

/// <summary>
/// Report batches over a period: the latency of each answered batch in milliseconds (sorted), the reports
/// in answered batches, and the batches and reports that got no usable answer.
/// </summary>
public sealed record BatchStats(double[] SortedLatenciesMs, long AcceptedReports, int FailedBatches, long FailedReports)
{
    public int AnsweredBatches => SortedLatenciesMs.Length;
    public double P50Ms => Percentiles.Of(SortedLatenciesMs, 0.50);
    public double P99Ms => Percentiles.Of(SortedLatenciesMs, 0.99);
}
