using System.Globalization;
using Azure.Data.Tables;
using Snapstone.Domain.Rollouts;

namespace Snapstone.Grains.Storage;

/// <summary>
/// Every timeline entry of every rollout, one table row each, outside the rollout's state row (which keeps only its
/// newest <see cref="RolloutStatus.MaxTimeline"/>): partition <c>{service}_{rollout}</c>, row key the entry number
/// zero-padded (<c>0000000042</c>), so a partition reads back in order and a page is a range of row keys.
/// </summary>
/// <remarks>
/// The partition starts with the service id, as grain state and package blobs are keyed by it: rollout ids made from an
/// idempotency key repeat across services sharing an account. Writes are upserts: an entry number names one entry of
/// the stored status, so writing it again (a repair after a restart) changes nothing.
/// </remarks>
public sealed class TimelineStore(TableClient table, string service)
{
    /// <summary>The most rows one table transaction may carry.</summary>
    public const int MaxBatch = 100;
    private int _created;

    /// <summary>Writes <paramref name="entries"/> (numbered), one table transaction per <see cref="MaxBatch"/> of them.</summary>
    public async Task AppendAsync(string rollout, IReadOnlyList<(int Number, TimelineEntry Entry)> entries, CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var partition = Partition(rollout);
        foreach (var chunk in entries.Chunk(MaxBatch))
        {
            await table.SubmitTransactionAsync(chunk.Select(e => new TableTransactionAction(TableTransactionActionType.UpsertReplace,
                new TableEntity(partition, Row(e.Number))
                {
                    ["At"] = e.Entry.At,
                    ["Type"] = e.Entry.Type,
                    ["Message"] = e.Entry.Message,
                })), ct);
        }
    }

    /// <summary>The stored entries numbered <paramref name="from"/> (inclusive) to <paramref name="to"/> (exclusive), in order; gaps are left out.</summary>
    public async Task<IReadOnlyList<(int Number, TimelineEntry Entry)>> ReadAsync(string rollout, int from, int to, CancellationToken ct = default)
    {
        var entries = new List<(int, TimelineEntry)>();
        if (to <= from)
        {
            return entries;
        }
        await EnsureTableAsync(ct);
        var (partition, low, high) = (Partition(rollout), Row(from), Row(to));
        await foreach (var row in table.QueryAsync<TableEntity>(e => e.PartitionKey == partition && e.RowKey.CompareTo(low) >= 0 && e.RowKey.CompareTo(high) < 0,
                           maxPerPage: Math.Min(to - from, 1000), cancellationToken: ct))
        {
            entries.Add((int.Parse(row.RowKey, NumberStyles.None, CultureInfo.InvariantCulture),
                new TimelineEntry(row.GetDateTimeOffset("At") ?? DateTimeOffset.MinValue, row.GetString("Type") ?? "", row.GetString("Message") ?? "")));
        }
        return entries;
    }

    /// <summary>Which of the entries numbered <paramref name="from"/> to <paramref name="to"/> (exclusive) are stored (row keys only travel).</summary>
    public async Task<IReadOnlySet<int>> StoredAsync(string rollout, int from, int to, CancellationToken ct = default)
    {
        var stored = new HashSet<int>();
        if (to <= from)
        {
            return stored;
        }
        await EnsureTableAsync(ct);
        var (partition, low, high) = (Partition(rollout), Row(from), Row(to));
        await foreach (var row in table.QueryAsync<TableEntity>(e => e.PartitionKey == partition && e.RowKey.CompareTo(low) >= 0 && e.RowKey.CompareTo(high) < 0,
                           select: ["RowKey"], cancellationToken: ct))
        {
            stored.Add(int.Parse(row.RowKey, NumberStyles.None, CultureInfo.InvariantCulture));
        }
        return stored;
    }

    private string Partition(string rollout) => $"{service}_{rollout}";

    private static string Row(int number) => number.ToString("D10", CultureInfo.InvariantCulture);

    private async Task EnsureTableAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _created) == 1) return;
        await table.CreateIfNotExistsAsync(ct);
        Volatile.Write(ref _created, 1);
    }
}
