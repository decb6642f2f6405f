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

    /// <summary>
    /// The catalog as last stored. <see cref="Get"/> and <see cref="Subscribe"/> interleave with an upsert's storage
    /// write and answer this: a silo's refresh never waits on storage, and nobody reads a change before it is stored.
    /// </summary>
    private Catalog _stored = Catalog.Empty;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _stored = Stored();
        return Task.CompletedTask;
    }

    public async Task Upsert(CatalogEntry entry)
    {
        if (state.State.Units.TryGetValue(entry.Unit, out var existing) && Same(existing, entry))
        {
            return;
        }
        state.State.Units[entry.Unit] = entry;
        state.State.Version++;
        await state.WriteStateAsync();
        _stored = Stored();
        await Push(_stored);
    }

    public Task<Catalog> Get() => Task.FromResult(_stored);

    public Task<Catalog> Subscribe(string cache)
    {
        _caches.Add(cache);
        return Get();
    }

    private Catalog Stored() => new(new Dictionary<string, CatalogEntry>(state.State.Units), state.State.Version);

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

    /// <summary>
    /// How old a silo's copy reports go on using while its refreshes do not come back (the catalog grain's silo
    /// overloaded, a partition); an older copy makes a report wait for the refresh. At least <see cref="RefreshSeconds"/>.
    /// </summary>
    public int StaleSeconds { get; set; } = 30;

    /// <summary>The age past which a report waits for the catalog.</summary>
    public TimeSpan ReportsWaitAfter => TimeSpan.FromSeconds(Math.Max(StaleSeconds, RefreshSeconds));
}

/// <summary>
/// The silo's copy of the catalog as its <see cref="CatalogCacheGrain"/> last took it, readable without a
/// grain call: every report needs the catalog, and going through the cache grain cost a second call per report.
/// </summary>
public sealed class CatalogSnapshot
{
    private sealed record Copy(Catalog Catalog, DateTimeOffset TakenAt);

    private volatile Copy? _copy;

    /// <summary>The copy when it is no older than <paramref name="maxAge"/> and knows every unit in <paramref name="mustKnow"/>.</summary>
    public Catalog? Fresh(DateTimeOffset now, TimeSpan maxAge, IEnumerable<string>? mustKnow) =>
        _copy is { } copy && now - copy.TakenAt <= maxAge && (mustKnow is null || mustKnow.All(copy.Catalog.Units.ContainsKey))
            ? copy.Catalog
            : null;

    internal void Take(Catalog catalog, DateTimeOffset at) => _copy = new Copy(catalog, at);
}

/// <summary>
/// A silo's copy of the catalog, and when to fetch it again from the catalog grain: once <c>refreshEvery</c> has passed
/// since the last fetch, or when a report names a unit the copy lacks (at most once per <see cref="MissingUnitRefresh"/>:
/// an agent that keeps reporting a unit nobody defined must not make every report of its call the one catalog grain).
/// At most one fetch is in flight: every caller that finds the copy stale while a fetch runs waits for that one.
/// </summary>
public sealed class CatalogCopy(Func<Task<Catalog>> fetch, TimeProvider time, TimeSpan refreshEvery)
{
    public static readonly TimeSpan MissingUnitRefresh = TimeSpan.FromSeconds(1);

    private DateTimeOffset _askedForMissingAt = DateTimeOffset.MinValue;
    private Task? _fetching;

    public Catalog Catalog { get; private set; } = Catalog.Empty;

    public DateTimeOffset FetchedAt { get; private set; } = DateTimeOffset.MinValue;

    public async Task<Catalog> Get(IReadOnlyCollection<string>? mustKnow)
    {
        var now = time.GetUtcNow();
        var stale = now - FetchedAt > refreshEvery;
        var missing = mustKnow is not null && mustKnow.Any(u => !Catalog.Units.ContainsKey(u)) && now - _askedForMissingAt >= MissingUnitRefresh;
        if (missing)
        {
            _askedForMissingAt = now;
        }
        if (stale || missing)
        {
            await Refresh();
        }
        return Catalog;
    }

    /// <summary>Fetches the catalog, or joins the fetch already under way.</summary>
    public Task Refresh() => _fetching is { IsCompleted: false } running ? running : _fetching = FetchOnce();

    /// <summary>A newer catalog (a push, or a fetch): an older version than the copy's never replaces it.</summary>
    public void Take(Catalog catalog)
    {
        if (catalog.Version >= Catalog.Version)
        {
            Catalog = catalog;
        }
        FetchedAt = time.GetUtcNow();
    }

    private async Task FetchOnce() => Take(await fetch());
}

/// <summary>
/// The silo's cache of the catalog (keyed by silo address): the catalog grain pushes every change to it, and it fetches
/// the catalog again on a timer at half the refresh period, so the silo-wide <see cref="CatalogSnapshot"/> that reports
/// read stays fresh while the catalog grain answers; reports call this grain only when the snapshot is stale or lacks a
/// unit they name.
/// </summary>
[Reentrant, PreferLocalPlacement]
public sealed class CatalogCacheGrain(IOptions<CatalogOptions> options, TimeProvider time, CatalogSnapshot snapshot) : Grain, ICatalogCacheGrain
{
    private CatalogCopy _copy = null!;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var every = TimeSpan.FromSeconds(options.Value.RefreshSeconds);
        _copy = new CatalogCopy(
            () => GrainFactory.GetGrain<ICatalogWriterGrain>(ICatalogGrain.Key).Subscribe(this.GetPrimaryKeyString()), time, every);
        await Refreshed();
        this.RegisterGrainTimer(Refreshed, new GrainTimerCreationOptions(every / 2, every / 2) { Interleave = true, KeepAlive = true });
    }

    public async Task<Catalog> Get(IReadOnlyCollection<string>? mustKnow)
    {
        await _copy.Get(mustKnow);
        return Published();
    }

    public Task Update(Catalog catalog)
    {
        _copy.Take(catalog);
        Published();
        return Task.CompletedTask;
    }

    private async Task Refreshed()
    {
        await _copy.Refresh();
        Published();
    }

    /// <summary>Hands the copy to the silo's snapshot, which reports read without a call.</summary>
    private Catalog Published()
    {
        snapshot.Take(_copy.Catalog, _copy.FetchedAt);
        return _copy.Catalog;
    }
}
