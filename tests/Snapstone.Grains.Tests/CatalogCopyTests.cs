using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Units;
using Snapstone.Grains.Units;
using Snapstone.Server.Hosting;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// A silo's copy of the catalog fetches from the one catalog grain at most once at a time and, for units nobody defined,
/// at most once a second: what reports cost the catalog grain does not grow with the fleet.
/// </summary>
public sealed class CatalogCopyTests
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));
    private int _fetches;
    private TaskCompletionSource<Catalog> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CatalogCopy Copy() => new(() =>
    {
        _fetches++;
        return _answer.Task;
    }, _time, Every);

    private static Catalog Of(long version, params string[] units) =>
        new(units.ToDictionary(u => u, u => new CatalogEntry(u, new UnitTargets(new Dictionary<string, string>()), null)), version);

    private async Task<CatalogCopy> Fetched(Catalog catalog)
    {
        var copy = Copy();
        _answer.SetResult(catalog);
        await copy.Refresh();
        _fetches = 0;
        return copy;
    }

    [Fact]
    public async Task Callers_finding_the_copy_stale_together_share_one_fetch()
    {
        var copy = await Fetched(Of(1, "a"));
        _time.Advance(Every + TimeSpan.FromSeconds(1));
        _answer = new TaskCompletionSource<Catalog>(TaskCreationOptions.RunContinuationsAsynchronously);

        var gets = Enumerable.Range(0, 200).Select(_ => copy.Get(null)).ToList();
        Assert.Equal(1, _fetches);
        Assert.All(gets, g => Assert.False(g.IsCompleted));

        _answer.SetResult(Of(2, "a", "b"));
        var answers = await Task.WhenAll(gets);
        Assert.All(answers, a => Assert.Equal(2, a.Version));
        Assert.Equal(1, _fetches);
    }

    [Theory]
    [InlineData(4, 0)] // younger than the refresh period: the copy answers
    [InlineData(5, 0)] // exactly the period: still fresh
    [InlineData(6, 1)] // older: one fetch
    public async Task A_copy_is_fetched_again_only_once_the_period_has_passed(int secondsLater, int fetches)
    {
        var copy = await Fetched(Of(1, "a"));
        _time.Advance(TimeSpan.FromSeconds(secondsLater));

        await copy.Get(null);
        await copy.Get(null);

        Assert.Equal(fetches, _fetches);
    }

    [Fact]
    public async Task A_unit_nobody_defined_costs_at_most_one_fetch_a_second()
    {
        var copy = await Fetched(Of(1, "a"));

        for (var i = 0; i < 50; i++)
        {
            Assert.DoesNotContain("ghost", (await copy.Get(["ghost"])).Units.Keys);
            _time.Advance(TimeSpan.FromMilliseconds(10));
        }
        Assert.Equal(1, _fetches);

        _time.Advance(CatalogCopy.MissingUnitRefresh);
        await copy.Get(["ghost"]);
        Assert.Equal(2, _fetches);
    }

    [Fact]
    public async Task A_unit_just_defined_is_fetched_at_once()
    {
        var copy = await Fetched(Of(1, "a"));
        _answer = new TaskCompletionSource<Catalog>(TaskCreationOptions.RunContinuationsAsynchronously);
        _answer.SetResult(Of(2, "a", "new"));

        var catalog = await copy.Get(["new"]);

        Assert.Contains("new", catalog.Units.Keys);
        Assert.Equal(1, _fetches);
    }

    [Fact]
    public async Task A_failed_fetch_is_tried_again_by_the_next_caller()
    {
        var copy = Copy();
        _answer.SetException(new TimeoutException("the catalog grain did not answer"));
        await Assert.ThrowsAsync<TimeoutException>(() => copy.Get(null));

        _answer = new TaskCompletionSource<Catalog>(TaskCreationOptions.RunContinuationsAsynchronously);
        _answer.SetResult(Of(3, "a"));
        Assert.Equal(3, (await copy.Get(null)).Version);
        Assert.Equal(2, _fetches);
    }

    [Fact]
    public async Task An_older_catalog_never_replaces_a_newer_one()
    {
        var copy = await Fetched(Of(5, "a", "b"));

        copy.Take(Of(4, "a"));

        Assert.Equal(5, copy.Catalog.Version);
        Assert.Contains("b", copy.Catalog.Units.Keys);
    }

    [Theory]
    [InlineData(4, true)]   // younger than the refresh period
    [InlineData(12, true)]  // the refreshes have not come back (the catalog grain stalled): the report uses the copy
    [InlineData(30, true)]  // exactly StaleSeconds
    [InlineData(31, false)] // older: the report waits for the refresh
    public void A_report_uses_the_silos_copy_until_it_is_StaleSeconds_old(int secondsLater, bool used)
    {
        var snapshot = new CatalogSnapshot();
        snapshot.Take(Of(1, "a"), _time.GetUtcNow());
        _time.Advance(TimeSpan.FromSeconds(secondsLater));

        var copy = snapshot.Fresh(_time.GetUtcNow(), new CatalogOptions { RefreshSeconds = 5, StaleSeconds = 30 }.ReportsWaitAfter, ["a"]);

        Assert.Equal(used, copy is not null);
    }

    [Fact]
    public void A_report_naming_a_unit_the_copy_lacks_asks_however_young_the_copy_is()
    {
        var snapshot = new CatalogSnapshot();
        snapshot.Take(Of(1, "a"), _time.GetUtcNow());

        Assert.Null(snapshot.Fresh(_time.GetUtcNow(), new CatalogOptions().ReportsWaitAfter, ["a", "new"]));
    }

    [Fact]
    public void StaleSeconds_below_the_refresh_period_is_taken_as_the_period()
    {
        Assert.Equal(TimeSpan.FromSeconds(20), new CatalogOptions { RefreshSeconds = 20, StaleSeconds = 3 }.ReportsWaitAfter);
    }
}

/// <summary>
/// The catalog grain answers reads while an upsert waits for its storage write: a silo's refresh, and through it every
/// report on the silo, never waits on starved storage. What it answers is what is stored.
/// </summary>
public sealed class CatalogStallTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    private static CatalogEntry Entry(string unit) => new(unit, new UnitTargets(new Dictionary<string, string> { ["app"] = unit }), null);

    [Fact]
    public async Task While_an_upsert_waits_for_hung_storage_the_catalog_answers_the_stored_catalog_and_the_change_once_it_is_stored()
    {
        await using var storage = await PausableStorage.StartAsync();
        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.ServiceId = TestStorage.Unique("catalog-stall");
        builder.ConfigureSilo((_, silo) => silo.AddSnapstoneStorage(storage.ConnectionString, new StorageOptions()));
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        var catalog = cluster.Client.GetGrain<ICatalogWriterGrain>(ICatalogGrain.Key);
        await catalog.Upsert(Entry("stored"));
        var stored = await catalog.Get();

        await storage.Pause();
        var upsert = catalog.Upsert(Entry("hung"));
        var read = await catalog.Get().WaitAsync(Prompt);
        var subscribed = await catalog.Subscribe("silo-cache").WaitAsync(Prompt);
        var pending = !upsert.IsCompleted;
        await storage.Resume();
        await upsert;

        Assert.True(pending, "the upsert finished while storage was hung");
        Assert.All([read, subscribed], answer =>
        {
            Assert.Equal(stored.Version, answer.Version);
            Assert.Equal(new[] { "stored" }, answer.Units.Keys);
        });
        var after = await catalog.Get();
        Assert.Equal(stored.Version + 1, after.Version);
        Assert.Contains("hung", after.Units.Keys);
    }
}
