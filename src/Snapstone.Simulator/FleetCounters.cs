namespace Snapstone.Simulator;

/// <summary>Running totals of what the fleet sent and learnt, safe to read while it runs.</summary>
public sealed class FleetCounters
{
    private long _ticks;
    private long _batchesSent;
    private long _batchesFailed;
    private long _batchAttempts;
    private long _batchesRetried;
    private long _batchesRecovered;
    private long _reportsSent;
    private long _reportsRefused;
    private long _contentFetches;
    private long _contentFetchesFailed;
    private long _applies;
    private long _rejections;
    private long _crashes;

    public long Ticks => Interlocked.Read(ref _ticks);
    /// <summary>Report batches the fleet sent, each counted once however many attempts it took.</summary>
    public long BatchesSent => Interlocked.Read(ref _batchesSent);

    /// <summary>
    /// Batches lost: no usable answer after every attempt (each gateway failed with a transport error, a timeout, a
    /// 5xx or a 429), or an answer that ended the batch without one (a 4xx, an unreadable 2xx). Their nodes report
    /// afresh next tick; the interval those reports covered is not sent again.
    /// </summary>
    public long BatchesFailed => Interlocked.Read(ref _batchesFailed);

    /// <summary>POSTs of report batches, first attempts and retries.</summary>
    public long BatchAttempts => Interlocked.Read(ref _batchAttempts);

    /// <summary>Batches sent more than once, on the next gateway after a failure; delivered or not.</summary>
    public long BatchesRetried => Interlocked.Read(ref _batchesRetried);

    /// <summary>Batches that were retried and then answered: failures the fleet's failover absorbed.</summary>
    public long BatchesRecovered => Interlocked.Read(ref _batchesRecovered);
    public long ReportsSent => Interlocked.Read(ref _reportsSent);

    /// <summary>Reports the server answered with an <c>error</c> in their slot.</summary>
    public long ReportsRefused => Interlocked.Read(ref _reportsRefused);

    /// <summary>GETs of package content; each content hash is fetched once for the whole fleet unless a fetch fails.</summary>
    public long ContentFetches => Interlocked.Read(ref _contentFetches);
    public long ContentFetchesFailed => Interlocked.Read(ref _contentFetchesFailed);
    public long Applies => Interlocked.Read(ref _applies);
    public long Rejections => Interlocked.Read(ref _rejections);
    public long Crashes => Interlocked.Read(ref _crashes);

    internal void Tick() => Interlocked.Increment(ref _ticks);
    internal void BatchSent(int reports)
    {
        Interlocked.Increment(ref _batchesSent);
        Interlocked.Add(ref _reportsSent, reports);
    }
    internal void BatchFailed() => Interlocked.Increment(ref _batchesFailed);
    internal void BatchDone(int attempts, bool answered)
    {
        Interlocked.Add(ref _batchAttempts, attempts);
        if (attempts > 1)
        {
            Interlocked.Increment(ref _batchesRetried);
            if (answered)
            {
                Interlocked.Increment(ref _batchesRecovered);
            }
        }
    }
    internal void ReportRefused() => Interlocked.Increment(ref _reportsRefused);
    internal void ContentFetched() => Interlocked.Increment(ref _contentFetches);
    internal void ContentFetchFailed() => Interlocked.Increment(ref _contentFetchesFailed);
    internal void Applied() => Interlocked.Increment(ref _applies);
    internal void Rejected() => Interlocked.Increment(ref _rejections);
    internal void Crashed(int count) => Interlocked.Add(ref _crashes, count);
}
