using System.Globalization;
using System.Text.Json;
using Azure.Data.Tables;
using Snapstone.Domain.Incidents;

namespace Snapstone.Grains.Storage;

/// <summary>
/// The incident index: one table row per incident (partition per service, newest first by row key), each holding the
/// incident's summary and its newest <see cref="UpdatesKept"/> updates. No row grows with the number of incidents, and
/// a listing reads the newest rows only. The incident itself, with its whole timeline, is its grain's state.
/// </summary>
public sealed class IncidentStore(TableClient table, string partition)
{
    /// <summary>Updates each index row carries (the newest), enough for a listing and the status page.</summary>
    public const int UpdatesKept = 20;
    /// <summary>Characters of each update's message an index row carries.</summary>
    public const int MessageKept = 1000;
    private int _created;

    public async Task UpsertAsync(Incident incident, CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var summary = incident with
        {
            Updates = [.. incident.Updates.TakeLast(UpdatesKept).Select(u => u.Message.Length > MessageKept ? u with { Message = u.Message[..MessageKept] + "…" } : u)],
        };
        var row = new TableEntity(partition, RowKey(incident))
        {
            ["Id"] = incident.Id,
            ["Status"] = incident.Status.ToString(),
            ["Incident"] = JsonSerializer.Serialize(summary, SnapstoneJson.Options),
        };
        await table.UpsertEntityAsync(row, TableUpdateMode.Replace, ct);
    }

    /// <summary>The newest <paramref name="limit"/> incidents, newest first.</summary>
    public async Task<IReadOnlyList<Incident>> NewestAsync(int limit, CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var incidents = new List<Incident>();
        await foreach (var row in table.QueryAsync<TableEntity>(e => e.PartitionKey == partition, maxPerPage: Math.Min(limit, 1000), cancellationToken: ct))
        {
            if (row.GetString("Incident") is { } json && JsonSerializer.Deserialize<Incident>(json, SnapstoneJson.Options) is { } incident)
            {
                incidents.Add(incident);
            }
            if (incidents.Count >= limit)
            {
                break;
            }
        }
        return incidents;
    }

    /// <summary>Every incident not yet resolved, newest first (a filter the table applies, so resolved rows never travel).</summary>
    public async Task<IReadOnlyList<Incident>> OpenAsync(CancellationToken ct = default)
    {
        await EnsureTableAsync(ct);
        var resolved = IncidentStatus.Resolved.ToString();
        var incidents = new List<Incident>();
        await foreach (var row in table.QueryAsync<TableEntity>(e => e.PartitionKey == partition && e.GetString("Status") != resolved, cancellationToken: ct))
        {
            if (row.GetString("Incident") is { } json && JsonSerializer.Deserialize<Incident>(json, SnapstoneJson.Options) is { } incident)
            {
                incidents.Add(incident);
            }
        }
        return incidents;
    }

    /// <summary>Newest first: the inverted opening time, then the id.</summary>
    private static string RowKey(Incident incident) =>
        (DateTimeOffset.MaxValue.UtcTicks - incident.OpenedAt.UtcTicks).ToString("D19", CultureInfo.InvariantCulture) + "-" + incident.Id;

    private async Task EnsureTableAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _created) == 1) return;
        await table.CreateIfNotExistsAsync(ct);
        Volatile.Write(ref _created, 1);
    }
}
