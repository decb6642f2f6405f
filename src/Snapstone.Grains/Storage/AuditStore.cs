using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Snapstone.Domain.Audit;

namespace Snapstone.Grains.Storage;

/// <summary>
/// The audit log in its own table, one partition per service: entries are only ever added (an existing
/// sequence number is never overwritten), together with a head row that names the newest, in one
/// transaction so the head and the chain never disagree.
/// </summary>
public sealed class AuditStore(TableClient table, string partition)
{
    private const string HeadRow = "head";
    private int _created;

    public async Task AppendAsync(AuditEntry entry, CancellationToken ct = default)
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
        };
        var head = new TableEntity(partition, HeadRow) { ["Seq"] = entry.Seq, ["Hash"] = entry.Hash };
        await table.SubmitTransactionAsync([new TableTransactionAction(TableTransactionActionType.Add, row), new TableTransactionAction(TableTransactionActionType.UpsertReplace, head)], ct);
    }

    /// <summary>The newest entry, or null for an empty log.</summary>
    public async Task<AuditEntry?> LastAsync(CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        try
        {
            var head = await table.GetEntityAsync<TableEntity>(partition, HeadRow, cancellationToken: ct);
            var seq = head.Value.GetInt64("Seq") ?? 0;
            return seq == 0 ? null : FromRow((await table.GetEntityAsync<TableEntity>(partition, Row(seq), cancellationToken: ct)).Value);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    /// <summary>Entries with a sequence number above <paramref name="afterSeq"/>, oldest first.</summary>
    public async IAsyncEnumerable<AuditEntry> ReadAsync(long afterSeq, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var from = Row(afterSeq + 1);
        await foreach (var row in table.QueryAsync<TableEntity>(e => e.PartitionKey == partition && e.RowKey.CompareTo(from) >= 0 && e.RowKey != HeadRow, cancellationToken: ct))
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
    };

    private static string Row(long seq) => seq.ToString("D12", CultureInfo.InvariantCulture);

    private async Task EnsureTableAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _created) == 1) return;
        await table.CreateIfNotExistsAsync(ct);
        Volatile.Write(ref _created, 1);
    }
}
