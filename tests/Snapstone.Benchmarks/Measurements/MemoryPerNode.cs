using Snapstone.Benchmarks.Probes;

namespace Snapstone.Benchmarks.Measurements;

/// <summary>
/// (d) What a registered, reporting node costs the server in memory: the server's memory now, after the
/// fleet has registered and reported for a while, minus its memory when it was ready and idle
/// (<see cref="BenchmarkContext.IdleMemory"/>), divided by the node count. Both readings first make the
/// server run a full collection, so the GC heap figure is live data: node grains, their PoP membership,
/// the grain directory and catalog entries. The resident-set figure adds what the process keeps around
/// that data (free heap space, buffers) and is the one to plan machines by. With several silos each is read
/// on its own and the growth is their sum: a node's grain lives on one silo, its directory entry on another.
/// </summary>
public sealed class MemoryPerNode : IMeasurement
{
    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var idle = context.IdleMemory ?? throw new InvalidOperationException("the idle server's memory was not read before the fleet reported");
        var nodes = context.Fleet.Nodes.Count;
        context.Log.WriteLine("memory: collecting the server's heap and reading its resident set …");
        var loaded = await ServerMemory.TakeAsync(context.Cluster.ProcessIds, context.Log, cancellationToken);
        var (idleTotal, loadedTotal) = (MemorySnapshot.Sum(idle), MemorySnapshot.Sum(loaded));
        var rssPerNode = (double)(loadedTotal.ResidentBytes - idleTotal.ResidentBytes) / nodes;
        double? heapPerNode = loadedTotal.HeapBytes is { } after && idleTotal.HeapBytes is { } before ? (double)(after - before) / nodes : null;
        var result = heapPerNode is { } heap
            ? $"{ResultRow.Number(heap)} B/node GC heap, {ResultRow.Number(rssPerNode)} B/node RSS"
            : $"{ResultRow.Number(rssPerNode)} B/node RSS";
        var silos = loaded.Count > 1
            ? "; per silo (idle → loaded): " + string.Join("; ", loaded.Select((l, i) => $"silo {i + 1}: {idle[i]} → {l}"))
            : "";
        return new ResultRow("d", $"server memory per registered, reporting node ({nodes:N0} nodes)", result,
            $"idle: {idleTotal}; with {nodes:N0} nodes: {loadedTotal}; each reading after a forced full GC{silos}",
            heapPerNode ?? rssPerNode);
    }
}
