using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Snapstone.Grains.Units;

[GenerateSerializer, Alias("snapstone.CatalogState")]
public sealed class CatalogState
{
    [Id(0)] public Dictionary<string, CatalogEntry> Units { get; set; } = [];
    [Id(1)] public long Version { get; set; }
}

public sealed class CatalogGrain(
    [PersistentState("catalog", StorageNames.Grains)] IPersistentState<CatalogState> state) : Grain, ICatalogGrain
{
    private Catalog? _snapshot;

    public async Task Upsert(CatalogEntry entry)
    {
        if (state.State.Units.TryGetValue(entry.Unit, out var existing) && Same(existing, entry))
        {
            return;
        }
        state.State.Units[entry.Unit] = entry;
        state.State.Version++;
        await state.WriteStateAsync();
        _snapshot = null;
    }

    public Task<Catalog> Get() =>
        Task.FromResult(_snapshot ??= new Catalog(new Dictionary<string, CatalogEntry>(state.State.Units), state.State.Version));

    private static bool Same(CatalogEntry a, CatalogEntry b) =>
        a.Lkg == b.Lkg && a.Targets.Labels.Count == b.Targets.Labels.Count &&
        a.Targets.Labels.All(l => b.Targets.Labels.TryGetValue(l.Key, out var v) && v == l.Value);
}

public sealed class CatalogOptions
{
    /// <summary>How long a silo trusts its copy of the catalog before asking again.</summary>
    public int CacheMilliseconds { get; set; } = 250;
}

[StatelessWorker]
public sealed class CatalogCacheGrain(IOptions<CatalogOptions> options, TimeProvider time) : Grain, ICatalogCacheGrain
{
    private Catalog _catalog = Catalog.Empty;
    private DateTimeOffset _fetchedAt = DateTimeOffset.MinValue;

    public async Task<Catalog> Get(IReadOnlyCollection<string>? mustKnow)
    {
        var age = time.GetUtcNow() - _fetchedAt;
        var stale = age > TimeSpan.FromMilliseconds(options.Value.CacheMilliseconds);
        var missing = mustKnow is not null && mustKnow.Any(u => !_catalog.Units.ContainsKey(u));
        if (stale || missing)
        {
            _catalog = await GrainFactory.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get();
            _fetchedAt = time.GetUtcNow();
        }
        return _catalog;
    }
}
