using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Snapstone.Grains.Units;

[GenerateSerializer, Alias("snapstone.CatalogState")]
public sealed class CatalogState
{
    [Id(0)] public Dictionary<string, CatalogEntry> Units { get; set; } = [];
    [Id(1)] public long Version { get; set; }
}

public sealed class CatalogGrain(
    [PersistentState("catalog", StorageNames.Grains)] IPersistentState<CatalogState> state,
    ILogger<CatalogGrain> logger) : Grain, ICatalogWriterGrain
{
    private static readonly TimeSpan PushTimeout = TimeSpan.FromSeconds(5);
    private readonly HashSet<string> _caches = [];
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
        await Push(await Get());
    }

    public Task<Catalog> Get() =>
        Task.FromResult(_snapshot ??= new Catalog(new Dictionary<string, CatalogEntry>(state.State.Units), state.State.Version));

    public Task<Catalog> Subscribe(string cache)
    {
        _caches.Add(cache);
        return Get();
    }

    /// <summary>Every silo's cache gets the change before the writer is answered; a cache that fails is dropped until it subscribes again.</summary>
    private async Task Push(Catalog catalog)
    {
        var pushes = _caches.Select(async cache =>
        {
            try
            {
                await GrainFactory.GetGrain<ICatalogCacheGrain>(cache).Update(catalog).WaitAsync(PushTimeout);
                return null;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning("Catalog version {Version} did not reach cache {Cache}: {Error}", catalog.Version, cache, e.Message);
                return cache;
            }
        }).ToList();
        foreach (var failed in await Task.WhenAll(pushes))
        {
            if (failed is not null) _caches.Remove(failed);
        }
    }

    private static bool Same(CatalogEntry a, CatalogEntry b) =>
        a.Lkg == b.Lkg && a.Targets.Labels.Count == b.Targets.Labels.Count &&
        a.Targets.Labels.All(l => b.Targets.Labels.TryGetValue(l.Key, out var v) && v == l.Value);
}

public sealed class CatalogOptions
{
    /// <summary>Backstop: how long a silo's cache trusts its copy when no push arrived (pushes normally keep it current).</summary>
    public int RefreshSeconds { get; set; } = 5;
}

/// <summary>
/// The silo's copy of the catalog as its <see cref="CatalogCacheGrain"/> last took it, readable without a
/// grain call: every report needs the catalog, and going through the cache grain cost a second call per report.
/// </summary>
public sealed class CatalogSnapshot
{
    private sealed record Copy(Catalog Catalog, DateTimeOffset TakenAt);

    private volatile Copy? _copy;

    /// <summary>The copy when it is younger than <paramref name="maxAge"/> and knows every unit in <paramref name="mustKnow"/>.</summary>
    public Catalog? Fresh(DateTimeOffset now, TimeSpan maxAge, IEnumerable<string>? mustKnow) =>
        _copy is { } copy && now - copy.TakenAt <= maxAge && (mustKnow is null || mustKnow.All(copy.Catalog.Units.ContainsKey))
            ? copy.Catalog
            : null;

    internal void Take(Catalog catalog, DateTimeOffset at) => _copy = new Copy(catalog, at);
}

[Reentrant, PreferLocalPlacement]
public sealed class CatalogCacheGrain(IOptions<CatalogOptions> options, TimeProvider time, CatalogSnapshot snapshot) : Grain, ICatalogCacheGrain
{
    private Catalog _catalog = Catalog.Empty;
    private DateTimeOffset _fetchedAt = DateTimeOffset.MinValue;

    public override Task OnActivateAsync(CancellationToken cancellationToken) => Refresh();

    public async Task<Catalog> Get(IReadOnlyCollection<string>? mustKnow)
    {
        var stale = time.GetUtcNow() - _fetchedAt > TimeSpan.FromSeconds(options.Value.RefreshSeconds);
        var missing = mustKnow is not null && mustKnow.Any(u => !_catalog.Units.ContainsKey(u));
        if (stale || missing)
        {
            await Refresh();
        }
        return _catalog;
    }

    public Task Update(Catalog catalog)
    {
        Take(catalog);
        return Task.CompletedTask;
    }

    private async Task Refresh() =>
        Take(await GrainFactory.GetGrain<ICatalogWriterGrain>(ICatalogGrain.Key).Subscribe(this.GetPrimaryKeyString()));

    private void Take(Catalog catalog)
    {
        if (catalog.Version >= _catalog.Version)
        {
            _catalog = catalog;
        }
        _fetchedAt = time.GetUtcNow();
        snapshot.Take(_catalog, _fetchedAt);
    }
}
