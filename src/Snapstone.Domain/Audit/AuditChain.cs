using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Snapstone.Domain.Audit;

/// <summary>One write, as the audit log keeps it. <see cref="Hash"/> covers every other field and the previous hash.</summary>
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
}

/// <summary>What a write says about itself before it is chained.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.AuditRecord")]
public sealed record AuditRecord(
    [property: Id(0)] string Actor,
    [property: Id(1)] string Action,
    [property: Id(2)] string Target,
    [property: Id(3)] string Reason = "");

/// <summary>Where a chain first breaks, and why.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.ChainBreak")]
public sealed record ChainBreak([property: Id(0)] long Seq, [property: Id(1)] string Reason);

/// <summary>
/// The hash chain behind the audit log. Each entry's hash is SHA-256 over its sequence number, time, actor,
/// action, target, reason and the previous entry's hash, so changing, removing or reordering any entry breaks
/// every link after it, and <see cref="Verify"/> names the first.
/// </summary>
/// <example>Entry 1 has <c>prevHash</c> = 64 zeros; entry 2's <c>prevHash</c> is entry 1's <c>hash</c>; and so on.</example>
public static class AuditChain
{
    public static readonly string Genesis = new('0', 64);

    public static AuditEntry Append(AuditEntry? last, AuditRecord record, DateTimeOffset at)
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
            Hash = HashOf(seq, when, record.Actor, record.Action, record.Target, record.Reason, prev),
        };
    }

    /// <summary>
    /// Recomputes the chain in order from its start (<paramref name="entries"/> must begin at sequence 1) and
    /// answers the first broken link, or null when every link holds.
    /// </summary>
    public static ChainBreak? Verify(IEnumerable<AuditEntry> entries)
    {
        var expectedSeq = 1L;
        var prev = Genesis;
        foreach (var entry in entries)
        {
            if (entry.Seq != expectedSeq)
                return new ChainBreak(expectedSeq, $"entry {expectedSeq} is missing (found {entry.Seq} in its place)");
            if (entry.PrevHash != prev)
                return new ChainBreak(entry.Seq, $"entry {entry.Seq} does not point at entry {entry.Seq - 1}'s hash");
            var hash = HashOf(entry.Seq, entry.At, entry.Actor, entry.Action, entry.Target, entry.Reason, entry.PrevHash);
            if (entry.Hash != hash)
                return new ChainBreak(entry.Seq, $"entry {entry.Seq} was altered: its content no longer matches its hash");
            prev = entry.Hash;
            expectedSeq++;
        }
        return null;
    }

    public static string HashOf(long seq, DateTimeOffset at, string actor, string action, string target, string reason, string prevHash)
    {
        // Length-prefixed fields, so no choice of field values can make two different entries hash alike.
        var text = new StringBuilder();
        foreach (var field in new[] { seq.ToString(CultureInfo.InvariantCulture), at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture), actor, action, target, reason, prevHash })
        {
            text.Append(field.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(field).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}
