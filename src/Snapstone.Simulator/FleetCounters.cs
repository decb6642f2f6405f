namespace Snapstone.Simulator;

/// <summary>Running totals of what the fleet sent and learnt, safe to read while it runs.</summary>
public sealed class FleetCounters
{
    private long _ticks;
    private long _batchesSent;
    private long _batchesFailed;
    private long _reportsSent;
    private long _reportsRefused;
    private long _contentFetches;
    private long _contentFetchesFailed;
    private long _applies;
    private long _rejections;
    private long _crashes;

    public long Ticks => Interlocked.Read(ref _ticks);
    public long BatchesSent => Interlocked.Read(ref _batchesSent);

    /// <summary>Batches that got no usable answer: transport error, timeout, non-2xx or unreadable body.</summary>
    public long BatchesFailed => Interlocked.Read(ref _batchesFailed);
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
    internal void ReportRefused() => Interlocked.Increment(ref _reportsRefused);
    internal void ContentFetched() => Interlocked.Increment(ref _contentFetches);
    internal void ContentFetchFailed() => Interlocked.Increment(ref _contentFetchesFailed);
    internal void Applied() => Interlocked.Increment(ref _applies);
    internal void Rejected() => Interlocked.Increment(ref _rejections);
    internal void Crashed(int count) => Interlocked.Add(ref _crashes, count);
}
