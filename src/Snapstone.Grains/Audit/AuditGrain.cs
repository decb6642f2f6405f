using System.Text;
using Microsoft.Extensions.Options;
using Snapstone.Domain.Audit;
using Snapstone.Grains.Storage;

namespace Snapstone.Grains.Audit;

/// <summary>Audit settings (section <c>Snapstone:Audit</c>).</summary>
public sealed class AuditOptions
{
    /// <summary>
    /// The key the chain is sealed with (HMAC-SHA256), at least <see cref="AuditChain.MinKeyLength"/> characters. Keep it
    /// out of the storage account (an environment variable or a secret store): whoever holds the storage key alone then
    /// cannot rewrite the log consistently. Empty: plain SHA-256 (the embedded defaults).
    /// </summary>
    public string? Key { get; set; }

    public byte[]? KeyBytes() => string.IsNullOrEmpty(Key) ? null : Encoding.UTF8.GetBytes(Key);

    /// <summary>Null when the settings are usable, else why not.</summary>
    public string? Problem() =>
        !string.IsNullOrEmpty(Key) && Key.Length < AuditChain.MinKeyLength
            ? $"Snapstone:Audit:Key must be at least {AuditChain.MinKeyLength} characters (got {Key.Length})"
            : null;
}

/// <summary>
/// The single writer of the audit chain: appends one entry at a time, each linked to the last and sealed under the
/// configured key, with the head moved in the same transaction. An intent already in the log answers its entry.
/// </summary>
public sealed class AuditGrain(AuditStore store, IOptions<AuditOptions> options) : Grain, IAuditWriterGrain
{
    private AuditEntry? _last;
    private AuditHead? _head;
    private bool _loaded;

    private byte[]? Key => _key ??= options.Value.KeyBytes();
    private byte[]? _key;

    public async Task<AuditEntry> Append(AuditIntent intent)
    {
        if (!_loaded)
        {
            (_last, _head) = await store.LastAsync();
            _loaded = true;
        }
        var entry = AuditChain.Append(_last, intent.Record, intent.At, Key);
        var head = AuditChain.HeadOf(entry, (_head?.Count ?? 0) + 1, Key);
        bool appended;
        try
        {
            appended = await store.AppendAsync(entry, head, intent.Id);
        }
        catch
        {
            // Another writer (or a lost answer) may have moved the head: read it again next time.
            _loaded = false;
            throw;
        }
        if (!appended)
        {
            // Already in the log (an earlier attempt whose answer was lost): the head may have moved past what this activation holds.
            _loaded = false;
            return await store.SeqOfIntentAsync(intent.Id) is { } seq && await store.GetAsync(seq) is { } existing
                ? existing
                : throw new InvalidOperationException($"audit intent {intent.Id} is recorded but its entry cannot be read");
        }
        (_last, _head) = (entry, head);
        Telemetry.SnapstoneMetrics.Audited(intent.Record.Action);
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
        var head = await store.HeadAsync();
        var entries = new List<AuditEntry>();
        await foreach (var entry in store.ReadAsync(0))
        {
            entries.Add(entry);
        }
        return new AuditVerification(entries.Count, AuditChain.Verify(entries, head, Key)) { Keyed = Key is not null };
    }
}
