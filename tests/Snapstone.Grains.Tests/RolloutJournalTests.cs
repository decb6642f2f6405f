using Azure.Data.Tables;
using Microsoft.Extensions.Logging.Abstractions;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Grains.Rollouts;
using Snapstone.Grains.Storage;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>The timeline journal on the test Azurite: written only once stored, read back whole, repaired after a restart.</summary>
public sealed class RolloutJournalTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static RolloutSpec Spec(string id) => new()
    {
        Id = id, Unit = "journal-unit", Version = 2, Sha256 = new string('a', 64), PlanName = "p", CreatedBy = "ci",
        Plan = new Plan([new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 } }]),
    };

    private static async Task<TimelineStore> StoreAsync() =>
        new(new TableClient(await TestStorage.ConnectionStringAsync(), "SnapstoneTimeline"), TestStorage.Unique("journal"));

    /// <summary>The statuses of a rollout paused and resumed <paramref name="cycles"/> times, one per entry.</summary>
    private static List<RolloutStatus> PausedAndResumed(string id, int cycles)
    {
        var statuses = new List<RolloutStatus> { RolloutStatus.Start(Spec(id), Now) };
        for (var i = 0; i < cycles; i++)
        {
            statuses.Add(RolloutCommands.Pause(statuses[^1], "ci", $"hold {i}", Now.AddSeconds(2 * i + 1)).Status);
            statuses.Add(RolloutCommands.Resume(statuses[^1], "ci", $"go {i}", Now.AddSeconds(2 * i + 2)).Status);
        }
        return statuses;
    }

    [Fact]
    public async Task Entries_are_written_once_stored_never_when_taken_back_and_read_back_whole_after_the_tail_drops_them()
    {
        var store = await StoreAsync();
        var id = "r-" + Guid.NewGuid().ToString("N")[..16];
        var journal = new RolloutJournal(store, () => id, NullLogger.Instance);
        var statuses = PausedAndResumed(id, 60);
        var last = statuses[^1];
        Assert.Equal(121, last.TimelineTotal);
        Assert.Equal(RolloutStatus.MaxTimeline, last.Timeline.Count);

        // Tracked, but no state write has succeeded yet: nothing reaches the table.
        foreach (var status in statuses)
        {
            journal.Track(status);
        }
        Assert.Equal(121, journal.Pending);
        Assert.Empty(await store.ReadAsync(id, 0, 1000));

        // A command whose write failed is taken back, and so is its entry; then the write holding the rest succeeds.
        var refused = RolloutCommands.Pause(last, "ci", "never stored", Now.AddHours(1)).Status;
        journal.Track(refused);
        journal.Track(last);
        journal.Stored(last);
        await Eventually.Until(() => Task.FromResult(journal.Pending), p => p == 0, "every stored entry to reach the table");
        var written = await store.ReadAsync(id, 0, 1000);
        Assert.Equal(Enumerable.Range(0, 121), written.Select(e => e.Number));
        Assert.DoesNotContain(written, e => e.Entry.Message.Contains("never stored", StringComparison.Ordinal));

        // Read through the journal: older entries from the table, the tail from the status, pages in order.
        var entries = new List<NumberedEntry>();
        for (var after = -1; ;)
        {
            var page = await journal.ReadAsync(last, after, 25);
            entries.AddRange(page.Entries);
            Assert.Equal(121, page.Total);
            if (page.NextAfter is not { } next)
            {
                break;
            }
            after = next;
        }
        Assert.Equal(Enumerable.Range(0, 121), entries.Select(e => e.Number));
        Assert.Equal(statuses.Select(s => s.Timeline[^1].Message), entries.Select(e => e.Entry.Message));
    }

    [Fact]
    public async Task A_new_activation_writes_the_stored_tail_the_table_lacks_and_nothing_twice()
    {
        var store = await StoreAsync();
        var id = "r-" + Guid.NewGuid().ToString("N")[..16];
        var statuses = PausedAndResumed(id, 30);
        var last = statuses[^1];

        // The first activation wrote the first 40 entries and died before the rest reached the table.
        await store.AppendAsync(id, [.. statuses.Take(40).Select((s, n) => (n, s.Timeline[^1]))]);

        var journal = new RolloutJournal(store, () => id, NullLogger.Instance);
        journal.Resume(last);
        Assert.Equal(RolloutStatus.MaxTimeline, journal.Pending);
        await Eventually.Until(() => Task.FromResult(journal.Pending), p => p == 0, "the stored tail to be checked and what is missing written");

        var page = await journal.ReadAsync(last, -1, 500);
        Assert.Equal(Enumerable.Range(0, last.TimelineTotal), page.Entries.Select(e => e.Number));
        Assert.Equal(statuses.Select(s => s.Timeline[^1].Message), page.Entries.Select(e => e.Entry.Message));
        Assert.Null(page.NextAfter);
    }
}
