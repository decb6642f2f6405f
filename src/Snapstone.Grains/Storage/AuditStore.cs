using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Snapstone.Domain.Audit;

namespace Snapstone.Grains.Storage;

/// <summary>
/// The audit log in its own table, one partition per service. Each append is one table transaction of three rows:
/// the entry (added, so an existing sequence number is never overwritten), the head that names it (sequence number,
/// hash, count and seal), and a row for the change's intent id (added, so an intent is appended at most once: a retry
/// of an intent already in the log fails the transaction and changes nothing). Head, chain and intents never disagree.
/// </summary>
/// <remarks>Row keys: entries <c>000000000001</c>…, the head <c>head</c>, intents <c>intent-{id}</c>; entries sort before <c>:</c>, the rest after.</remarks>
public sealed class AuditStore(TableClient table, string partition)
{
    private const string HeadRow = "head";
    private const string IntentPrefix = "intent-";
    private const string EntriesEnd = ":";
    private int _created;

    /// <summary>Appends <paramref name="entry"/> for <paramref name="intent"/>. False when that intent is already in the log (nothing was written).</summary>
    public async Task<bool> AppendAsync(AuditEntry entry, AuditHead head, string intent, CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var row = new TableEntity(partition, Row(entry.Seq))
        {
            ["Seq"] = entry.Seq,
            ["At"] = entry.At,
            ["Actor"] = entry.Actor,
            ["Action"] = entry.Action,
            ["Target"] = entry.Target,
            ["Reason"] = entry.Reason,
            ["PrevHash"] = entry.PrevHash,
            ["Hash"] = entry.Hash,
            ["Keyed"] = entry.Keyed,
            ["Intent"] = intent,
        };
        var headRow = new TableEntity(partition, HeadRow) { ["Seq"] = head.Seq, ["Hash"] = head.Hash, ["Count"] = head.Count, ["Mac"] = head.Mac, ["Keyed"] = head.Keyed };
        var intentRow = new TableEntity(partition, IntentPrefix + intent) { ["Seq"] = entry.Seq };
        try
        {
            await table.SubmitTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.Add, row),
                new TableTransactionAction(TableTransactionActionType.UpsertReplace, headRow),
                new TableTransactionAction(TableTransactionActionType.Add, intentRow),
            ], ct);
            return true;
        }
        catch (TableTransactionFailedException e) when (e.Status == 409)
        {
            // Either the intent is already in the log (a retry), or another writer took this sequence number.
            if (await SeqOfIntentAsync(intent, ct) is not null)
            {
                return false;
            }
            throw;
        }
    }

    /// <summary>The sequence number the log gave <paramref name="intent"/>, or null when it is not in the log.</summary>
    public async Task<long?> SeqOfIntentAsync(string intent, CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var row = await table.GetEntityIfExistsAsync<TableEntity>(partition, IntentPrefix + intent, cancellationToken: ct);
        return row.HasValue ? row.Value!.GetInt64("Seq") : null;
    }

    public async Task<AuditEntry?> GetAsync(long seq, CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var row = await table.GetEntityIfExistsAsync<TableEntity>(partition, Row(seq), cancellationToken: ct);
        return row.HasValue ? FromRow(row.Value!) : null;
    }

    /// <summary>The stored head, or null for a log never written to.</summary>
    public async Task<AuditHead?> HeadAsync(CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var row = await table.GetEntityIfExistsAsync<TableEntity>(partition, HeadRow, cancellationToken: ct);
        if (!row.HasValue)
        {
            return null;
        }
        var head = row.Value!;
        var seq = head.GetInt64("Seq") ?? 0;
        return new AuditHead(seq, head.GetString("Hash") ?? "", head.GetInt64("Count") ?? seq, head.GetString("Mac") ?? "", head.GetBoolean("Keyed") ?? false);
    }

    /// <summary>The head and the entry it names (null, null for an empty log).</summary>
    public async Task<(AuditEntry? Last, AuditHead? Head)> LastAsync(CancellationToken ct = default)
    {
        var head = await HeadAsync(ct);
        return head is not { Seq: > 0 } ? (null, head) : (await GetAsync(head.Seq, ct), head);
    }

    /// <summary>Entries with a sequence number above <paramref name="afterSeq"/>, oldest first.</summary>
    public async IAsyncEnumerable<AuditEntry> ReadAsync(long afterSeq, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var from = Row(afterSeq + 1);
        await foreach (var row in table.QueryAsync<TableEntity>(e => e.PartitionKey == partition && e.RowKey.CompareTo(from) >= 0 && e.RowKey.CompareTo(EntriesEnd) < 0, cancellationToken: ct))
        {
            yield return FromRow(row);
        }
    }

    private static AuditEntry FromRow(TableEntity row) => new()
    {
        Seq = row.GetInt64("Seq") ?? 0,
        At = row.GetDateTimeOffset("At") ?? DateTimeOffset.MinValue,
        Actor = row.GetString("Actor") ?? "",
        Action = row.GetString("Action") ?? "",
        Target = row.GetString("Target") ?? "",
        Reason = row.GetString("Reason") ?? "",
        PrevHash = row.GetString("PrevHash") ?? "",
        Hash = row.GetString("Hash") ?? "",
        Keyed = row.GetBoolean("Keyed") ?? false,
    };

    private static string Row(long seq) => seq.ToString("D12", CultureInfo.InvariantCulture);

    private async Task EnsureTableAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _created) == 1) return;
        await table.CreateIfNotExistsAsync(ct);
        Volatile.Write(ref _created, 1);
    }
}
