namespace Snapstone.Benchmarks.Measurements;

/// <summary>
/// (d) What a registered, reporting node costs the server in memory: the server's memory now, after the
/// fleet has registered and reported for a while, minus its memory when it was ready and idle
/// (<see cref="BenchmarkContext.IdleMemory"/>), divided by the node count. Both readings first make the
/// server run a full collection, so the GC heap figure is live data: node grains, their PoP membership,
/// the grain directory and catalog entries. The resident-set figure adds what the process keeps around
/// that data (free heap space, buffers) and is the one to plan machines by.
/// </summary>
public sealed class MemoryPerNode : IMeasurement
{
    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var idle = context.IdleMemory ?? throw new InvalidOperationException("the idle server's memory was not read before the fleet reported");
        var nodes = context.Fleet.Nodes.Count;
        context.Log.WriteLine("memory: collecting the server's heap and reading its resident set …");
        var loaded = await Probes.ServerMemory.TakeAsync(context.Server.ProcessId, context.Log, cancellationToken);
        var rssPerNode = (double)(loaded.ResidentBytes - idle.ResidentBytes) / nodes;
        double? heapPerNode = loaded.HeapBytes is { } after && idle.HeapBytes is { } before ? (double)(after - before) / nodes : null;
        var result = heapPerNode is { } heap
            ? $"{ResultRow.Number(heap)} B/node GC heap, {ResultRow.Number(rssPerNode)} B/node RSS"
            : $"{ResultRow.Number(rssPerNode)} B/node RSS";
        return new ResultRow("d", $"server memory per registered, reporting node ({nodes:N0} nodes)", result,
            $"idle: {idle}; with {nodes:N0} nodes: {loaded}; each reading after a forced full GC",
            heapPerNode ?? rssPerNode);
    }
}
