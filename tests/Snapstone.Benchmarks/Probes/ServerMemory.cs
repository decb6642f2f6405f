using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace Snapstone.Benchmarks.Probes;

/// <summary>
/// The memory of another .NET process: its resident set from <c>/proc/PID/status</c>, and its managed heap
/// right after a full blocking garbage collection, which it is made to run through EventPipe (the same
/// <c>GCHeapCollect</c> keyword that <c>dotnet-gcdump</c> uses). The heap after a full collection is live
/// data only; the resident set also holds free heap space that server GC keeps, runtime code and native
/// buffers, so it moves with load as well as with what is stored.
/// </summary>
public static class ServerMemory
{
    /// <summary>Collects the server's heap, then reads its resident set (which the collection may have shrunk).</summary>
    public static async Task<MemorySnapshot> TakeAsync(int pid, TextWriter log, CancellationToken cancellationToken)
    {
        long? heap = null;
        try
        {
            heap = await HeapAfterFullCollectionAsync(pid, TimeSpan.FromSeconds(30), cancellationToken);
        }
        catch (Exception e) when (e is ServerNotAvailableException or UnsupportedCommandException or IOException or TimeoutException)
        {
            log.WriteLine($"  cannot read the GC heap of process {pid}: {e.Message}");
        }
        return new MemorySnapshot(ResidentBytes(pid), heap);
    }

    /// <summary>Each process's reading in turn (a cluster's silos), in the order given.</summary>
    public static async Task<IReadOnlyList<MemorySnapshot>> TakeAsync(IReadOnlyList<int> pids, TextWriter log, CancellationToken cancellationToken)
    {
        var snapshots = new List<MemorySnapshot>();
        foreach (var pid in pids)
        {
            snapshots.Add(await TakeAsync(pid, log, cancellationToken));
        }
        return snapshots;
    }

    /// <summary>VmRSS of the process, in bytes.</summary>
    public static long ResidentBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            // "VmRSS:\t  123456 kB"
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kilobytes = line["VmRSS:".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException($"/proc/{pid}/status has no VmRSS line");
    }

    /// <summary>
    /// Starts an EventPipe session with the GC keyword and <c>GCHeapCollect</c>, which makes the runtime run a
    /// full blocking collection, and returns the total heap size of the first <c>GCHeapStats</c> event after
    /// a gen-2 collection.
    /// </summary>
    public static async Task<long> HeapAfterFullCollectionAsync(int pid, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var client = new DiagnosticsClient(pid);
        var keywords = ClrTraceEventParser.Keywords.GC | ClrTraceEventParser.Keywords.GCHeapCollect;
        var provider = new EventPipeProvider(ClrTraceEventParser.ProviderName, EventLevel.Informational, (long)keywords);
        using var session = await client.StartEventPipeSessionAsync(provider, requestRundown: false, token: cancellationToken);
        var heap = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var fullCollectionSeen = false;
        using var source = new EventPipeEventSource(session.EventStream);
        source.Clr.GCStart += e => fullCollectionSeen |= e.Depth == 2;
        source.Clr.GCHeapStats += e =>
        {
            if (fullCollectionSeen)
            {
                heap.TrySetResult(e.TotalHeapSize);
            }
        };
        var processing = Task.Run(source.Process, CancellationToken.None);
        try
        {
            return await heap.Task.WaitAsync(timeout, cancellationToken);
        }
        finally
        {
            await session.StopAsync(CancellationToken.None);
            await Task.WhenAny(processing, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None));
        }
    }
}

/// <summary>A process's resident set and, when it could be read, its heap after a full collection, in bytes.</summary>
public sealed record MemorySnapshot(long ResidentBytes, long? HeapBytes)
{
    /// <summary>Several processes' readings together (a cluster's silos); the heap only when every one could be read.</summary>
    public static MemorySnapshot Sum(IReadOnlyList<MemorySnapshot> snapshots) => new(
        snapshots.Sum(s => s.ResidentBytes),
        snapshots.All(s => s.HeapBytes is not null) ? snapshots.Sum(s => s.HeapBytes!.Value) : null);

    public override string ToString() =>
        $"RSS {ResidentBytes / 1048576.0:0.0} MiB, GC heap {(HeapBytes is { } heap ? $"{heap / 1048576.0:0.0} MiB" : "unknown")}";
}
