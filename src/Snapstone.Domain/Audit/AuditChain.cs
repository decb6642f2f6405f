using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Snapstone.Domain.Audit;

/// <summary>
/// One write, as the audit log keeps it. <see cref="Hash"/> covers every other field and the previous hash: an
/// HMAC-SHA256 under the configured audit key when <see cref="Keyed"/>, a plain SHA-256 otherwise.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.AuditEntry")]
public sealed record AuditEntry
{
    [Id(0)] public required long Seq { get; init; }
    [Id(1)] public required DateTimeOffset At { get; init; }
    [Id(2)] public required string Actor { get; init; }
    [Id(3)] public required string Action { get; init; }
    [Id(4)] public required string Target { get; init; }
    [Id(5)] public string Reason { get; init; } = "";
    [Id(6)] public required string PrevHash { get; init; }
    [Id(7)] public required string Hash { get; init; }
    /// <summary>The hash is an HMAC under the audit key (anyone with the storage key alone cannot recompute it).</summary>
    [Id(8)] public bool Keyed { get; init; }
}

/// <summary>What a write says about itself before it is chained.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.AuditRecord")]
public sealed record AuditRecord(
    [property: Id(0)] string Actor,
    [property: Id(1)] string Action,
    [property: Id(2)] string Target,
    [property: Id(3)] string Reason = "");

/// <summary>
/// A change's promise of its audit entry, written in the same state write as the change (an outbox), then
/// appended to the chain. <see cref="Id"/> makes the append idempotent: the log holds at most one entry per intent,
/// so an intent retried after a crash or an outage of the audit store is chained exactly once.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.AuditIntent")]
public sealed record AuditIntent([property: Id(0)] string Id, [property: Id(1)] AuditRecord Record, [property: Id(2)] DateTimeOffset At);

/// <summary>
/// The log's head as stored next to the entries: the newest entry's sequence number and hash and how many entries
/// there are, sealed with <see cref="Mac"/> (an HMAC under the audit key, or a plain SHA-256 without one). Deleting
/// the newest entries leaves a head that names an entry no longer there.
/// </summary>
[GenerateSerializer, Immutable, Alias("snapstone.AuditHead")]
public sealed record AuditHead(
    [property: Id(0)] long Seq,
    [property: Id(1)] string Hash,
    [property: Id(2)] long Count,
    [property: Id(3)] string Mac,
    [property: Id(4)] bool Keyed);

/// <summary>Where a chain first breaks, and why. <see cref="Seq"/> is 0 for a break of the head itself.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.ChainBreak")]
public sealed record ChainBreak([property: Id(0)] long Seq, [property: Id(1)] string Reason);

/// <summary>
/// The hash chain behind the audit log. Each entry's hash covers its sequence number, time, actor, action, target,
/// reason and the previous entry's hash, so changing, removing or reordering any entry breaks every link after it;
/// the stored head names the newest entry and the count, so removing the newest ones breaks the head. With an audit
/// key (from configuration, never from storage) the hashes and the head are HMAC-SHA256 under it, so someone holding
/// only the storage key cannot rewrite the log consistently; without one (embedded defaults) they are plain SHA-256.
/// </summary>
/// <example>
/// Entry 1 has <c>prevHash</c> = 64 zeros; entry 2's <c>prevHash</c> is entry 1's <c>hash</c>; the head after
/// entry 2 is <c>(seq 2, entry 2's hash, count 2)</c> and its MAC.
/// </example>
public static class AuditChain
{
    public static readonly string Genesis = new('0', 64);

    /// <summary>The shortest audit key accepted (characters, used as UTF-8 bytes).</summary>
    public const int MinKeyLength = 32;

    public static AuditEntry Append(AuditEntry? last, AuditRecord record, DateTimeOffset at, byte[]? key = null)
    {
        var seq = (last?.Seq ?? 0) + 1;
        var prev = last?.Hash ?? Genesis;
        // Stored times keep millisecond precision; hash what will be read back.
        var when = new DateTimeOffset(at.UtcTicks - at.UtcTicks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);
        return new AuditEntry
        {
            Seq = seq,
            At = when,
            Actor = record.Actor,
            Action = record.Action,
            Target = record.Target,
            Reason = record.Reason,
            PrevHash = prev,
            Hash = HashOf(seq, when, record.Actor, record.Action, record.Target, record.Reason, prev, key),
            Keyed = key is not null,
        };
    }

    /// <summary>The head after <paramref name="last"/>, the <paramref name="count"/>-th entry.</summary>
    public static AuditHead HeadOf(AuditEntry last, long count, byte[]? key = null) =>
        new(last.Seq, last.Hash, count, HeadMac(last.Seq, last.Hash, count, key), key is not null);

    /// <summary>
    /// Recomputes the chain in order from its start (<paramref name="entries"/> must begin at sequence 1), then checks
    /// the stored head against the last entry and the count, and answers the first broken link, or null when every
    /// link holds. With a <paramref name="key"/>, plain entries are accepted only before the first keyed one (a log
    /// started before a key was configured), and the head must be sealed under the key.
    /// </summary>
    public static ChainBreak? Verify(IEnumerable<AuditEntry> entries, AuditHead? head, byte[]? key = null)
    {
        var expectedSeq = 1L;
        var prev = Genesis;
        var count = 0L;
        AuditEntry? last = null;
        var sawKeyed = false;
        foreach (var entry in entries)
        {
            if (entry.Seq != expectedSeq)
                return new ChainBreak(expectedSeq, $"entry {expectedSeq} is missing (found {entry.Seq} in its place)");
            if (entry.PrevHash != prev)
                return new ChainBreak(entry.Seq, $"entry {entry.Seq} does not point at entry {entry.Seq - 1}'s hash");
            if (entry.Keyed && key is null)
                return new ChainBreak(entry.Seq, $"entry {entry.Seq} is keyed (HMAC-SHA256): configure Snapstone:Audit:Key to verify it");
            if (!entry.Keyed && sawKeyed)
                return new ChainBreak(entry.Seq, $"entry {entry.Seq} is not keyed though entries before it are: the log was rewritten without the audit key");
            var hash = HashOf(entry.Seq, entry.At, entry.Actor, entry.Action, entry.Target, entry.Reason, entry.PrevHash, entry.Keyed ? key : null);
            if (entry.Hash != hash)
                return new ChainBreak(entry.Seq, entry.Keyed
                    ? $"entry {entry.Seq} was altered: its MAC does not match under the configured audit key"
                    : $"entry {entry.Seq} was altered: its content no longer matches its hash");
            sawKeyed |= entry.Keyed;
            prev = entry.Hash;
            last = entry;
            count++;
            expectedSeq++;
        }
        return VerifyHead(last, count, head, key);
    }

    private static ChainBreak? VerifyHead(AuditEntry? last, long count, AuditHead? head, byte[]? key)
    {
        if (head is null)
        {
            return last is null ? null : new ChainBreak(0, $"the head is missing, though the log holds {count} entries");
        }
        if (head.Seq > (last?.Seq ?? 0))
            return new ChainBreak((last?.Seq ?? 0) + 1,
                $"entries {(last?.Seq ?? 0) + 1} to {head.Seq} are missing: the head names entry {head.Seq} but the log ends at {(last is null ? "nothing" : $"entry {last.Seq}")}");
        if (head.Seq < last!.Seq)
            return new ChainBreak(head.Seq + 1, $"entries {head.Seq + 1} to {last.Seq} were added without moving the head (it names entry {head.Seq})");
        if (head.Hash != last.Hash)
            return new ChainBreak(last.Seq, $"the head does not hold entry {last.Seq}'s hash");
        if (head.Count != count)
            return new ChainBreak(0, $"the head counts {head.Count} entries, the log holds {count}");
        if (key is not null && !head.Keyed)
            return new ChainBreak(0, "the head is not sealed under the configured audit key: the log was rewritten without it (or the key was configured after its last entry)");
        if (head.Keyed && key is null)
            return new ChainBreak(0, "the head is sealed under an audit key: configure Snapstone:Audit:Key to verify it");
        if (head.Mac != HeadMac(head.Seq, head.Hash, head.Count, head.Keyed ? key : null))
            return new ChainBreak(0, head.Keyed ? "the head's MAC does not match under the configured audit key" : "the head was altered: its seal no longer matches");
        return null;
    }

    public static string HashOf(long seq, DateTimeOffset at, string actor, string action, string target, string reason, string prevHash, byte[]? key = null) =>
        Seal(key, seq.ToString(CultureInfo.InvariantCulture), at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture), actor, action, target, reason, prevHash);

    private static string HeadMac(long seq, string hash, long count, byte[]? key) =>
        Seal(key, "head", seq.ToString(CultureInfo.InvariantCulture), hash, count.ToString(CultureInfo.InvariantCulture));

    /// <summary>Length-prefixed fields, so no choice of field values can make two different inputs seal alike.</summary>
    private static string Seal(byte[]? key, params string[] fields)
    {
        var text = new StringBuilder();
        foreach (var field in fields)
        {
            text.Append(field.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(field).Append('\n');
        }
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        return Convert.ToHexStringLower(key is null ? SHA256.HashData(bytes) : HMACSHA256.HashData(key, bytes));
    }
}
