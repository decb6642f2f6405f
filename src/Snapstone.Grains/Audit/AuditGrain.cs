using Snapstone.Domain.Audit;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Audit;

/// <summary>The single writer of the audit chain: appends one entry at a time, each linked to the last.</summary>
public sealed class AuditGrain(AuditStore store, TimeProvider time) : Grain, IAuditGrain
{
    private AuditEntry? _last;
    private bool _loaded;

    public async Task<AuditEntry> Append(AuditRecord record)
    {
        if (!_loaded)
        {
            _last = await store.LastAsync();
            _loaded = true;
        }
        var entry = AuditChain.Append(_last, record, time.GetUtcNow());
        try
        {
            await store.AppendAsync(entry);
        }
        catch
        {
            // Another writer (or a lost answer) may have moved the head: read it again next time.
            _loaded = false;
            throw;
        }
        _last = entry;
        Telemetry.SnapstoneMetrics.Audited(record.Action);
        return entry;
    }

    public async Task<IReadOnlyList<AuditEntry>> Read(long afterSeq, DateTimeOffset? since, int limit)
    {
        var entries = new List<AuditEntry>();
        await foreach (var entry in store.ReadAsync(afterSeq))
        {
            if (since is { } from && entry.At < from) continue;
            entries.Add(entry);
            if (entries.Count >= limit) break;
        }
        return entries;
    }

    public async Task<AuditVerification> Verify()
    {
        var entries = new List<AuditEntry>();
        await foreach (var entry in store.ReadAsync(0))
        {
            entries.Add(entry);
        }
        return new AuditVerification(entries.Count, AuditChain.Verify(entries));
    }
}
