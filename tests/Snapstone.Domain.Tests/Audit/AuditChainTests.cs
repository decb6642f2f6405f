using System.Text;
using Snapstone.Domain.Audit;

namespace Snapstone.Domain.Tests.Audit;

public sealed class AuditChainTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("audit-key-from-configuration-0123456789");
    private static readonly byte[] OtherKey = Encoding.UTF8.GetBytes("a-different-key-someone-guessed-000000000");

    /// <summary>A log of <paramref name="count"/> entries as the store holds it: the entries and the head after the last.</summary>
    private static (List<AuditEntry> Entries, AuditHead? Head) Log(int count, byte[]? key = null, int plainFirst = 0)
    {
        var entries = new List<AuditEntry>();
        for (var i = 0; i < count; i++)
        {
            entries.Add(AuditChain.Append(entries.LastOrDefault(), new AuditRecord("ci", "package.create", $"unit/u{i}", $"reason {i}"), T0.AddSeconds(i),
                i < plainFirst ? null : key));
        }
        return (entries, entries.Count == 0 ? null : AuditChain.HeadOf(entries[^1], entries.Count, plainFirst >= count ? null : key));
    }

    [Fact]
    public void A_chain_links_each_entry_to_the_previous_hash_and_verifies_with_its_head()
    {
        var (chain, head) = Log(5);
        Assert.Equal(AuditChain.Genesis, chain[0].PrevHash);
        Assert.All(chain.Skip(1).Zip(chain), pair => Assert.Equal(pair.Second.Hash, pair.First.PrevHash));
        Assert.Equal([1L, 2, 3, 4, 5], chain.Select(e => e.Seq));
        Assert.Equal(new AuditHead(5, chain[^1].Hash, 5, head!.Mac, false), head);
        Assert.Null(AuditChain.Verify(chain, head));
        Assert.Null(AuditChain.Verify([], null));
    }

    [Fact]
    public void A_keyed_chain_verifies_only_under_its_key()
    {
        var (chain, head) = Log(4, Key);
        Assert.All(chain, e => Assert.True(e.Keyed));
        Assert.Null(AuditChain.Verify(chain, head, Key));
        Assert.Equal(new ChainBreak(1, "entry 1 was altered: its MAC does not match under the configured audit key"), AuditChain.Verify(chain, head, OtherKey));
        Assert.Equal(new ChainBreak(1, "entry 1 is keyed (HMAC-SHA256): configure Snapstone:Audit:Key to verify it"), AuditChain.Verify(chain, head));
    }

    [Fact]
    public void A_log_begun_without_a_key_verifies_once_the_key_is_configured_and_the_head_is_sealed_under_it()
    {
        var (chain, head) = Log(5, Key, plainFirst: 2);
        Assert.Equal([false, false, true, true, true], chain.Select(e => e.Keyed));
        Assert.Null(AuditChain.Verify(chain, head, Key));
    }

    public static TheoryData<string, Func<(List<AuditEntry> Entries, AuditHead? Head), (List<AuditEntry>, AuditHead?)>, long, string> Tampering => new()
    {
        { "reason edited", l => { l.Entries[2] = l.Entries[2] with { Reason = "nothing to see" }; return l; }, 3, "entry 3 was altered" },
        { "actor edited", l => { l.Entries[0] = l.Entries[0] with { Actor = "someone-else" }; return l; }, 1, "entry 1 was altered" },
        { "time edited", l => { l.Entries[4] = l.Entries[4] with { At = l.Entries[4].At.AddHours(-1) }; return l; }, 5, "entry 5 was altered" },
        { "entry removed", l => { l.Entries.RemoveAt(1); return l; }, 2, "entry 2 is missing" },
        { "entries swapped", l => { (l.Entries[1], l.Entries[2]) = (l.Entries[2], l.Entries[1]); return l; }, 2, "entry 2 is missing" },
        { "rehashed but unlinked", l => { var e = l.Entries[3] with { Reason = "x" }; l.Entries[3] = e with { Hash = AuditChain.HashOf(e.Seq, e.At, e.Actor, e.Action, e.Target, e.Reason, e.PrevHash) }; return l; },
            5, "entry 5 does not point at entry 4's hash" },
        { "newest two deleted", l => (l.Entries.Take(3).ToList(), l.Head), 4, "entries 4 to 5 are missing: the head names entry 5 but the log ends at entry 3" },
        { "every entry deleted", l => ([], l.Head), 1, "entries 1 to 5 are missing: the head names entry 5 but the log ends at nothing" },
        { "head deleted", l => (l.Entries, null), 0, "the head is missing, though the log holds 5 entries" },
        { "newest deleted, head rewound without the seal", l => (l.Entries.Take(4).ToList(), l.Head! with { Seq = 4, Hash = l.Entries[3].Hash, Count = 4 }), 0,
            "the head was altered: its seal no longer matches" },
        { "an entry appended past the head", l => { l.Entries.Add(AuditChain.Append(l.Entries[^1], new AuditRecord("x", "y", "z"), T0.AddHours(1))); return l; }, 6,
            "entries 6 to 6 were added without moving the head" },
    };

    [Theory]
    [MemberData(nameof(Tampering))]
    public void Verification_names_the_first_broken_link(string _, Func<(List<AuditEntry> Entries, AuditHead? Head), (List<AuditEntry>, AuditHead?)> tamper, long seq, string reason)
    {
        var (entries, head) = tamper(Log(5));
        var broken = AuditChain.Verify(entries, head);
        Assert.NotNull(broken);
        Assert.Equal(seq, broken.Seq);
        Assert.StartsWith(reason, broken.Reason);
    }

    [Fact]
    public void A_keyed_log_rewritten_consistently_without_the_key_is_named()
    {
        var (chain, _) = Log(5, Key);
        // Someone with the storage key but not the audit key rebuilds every entry and the head as plain SHA-256.
        var forged = new List<AuditEntry>();
        foreach (var e in chain)
        {
            forged.Add(AuditChain.Append(forged.LastOrDefault(), new AuditRecord(e.Actor, e.Action, e.Target, e.Seq == 3 ? "never happened" : e.Reason), e.At));
        }
        var forgedHead = AuditChain.HeadOf(forged[^1], forged.Count);

        Assert.Null(AuditChain.Verify(forged, forgedHead));
        Assert.Equal(new ChainBreak(0, "the head is not sealed under the configured audit key: the log was rewritten without it (or the key was configured after its last entry)"),
            AuditChain.Verify(forged, forgedHead, Key));

        // Or forges keyed-looking entries under a guessed key.
        var guessed = new List<AuditEntry>();
        foreach (var e in chain)
        {
            guessed.Add(AuditChain.Append(guessed.LastOrDefault(), new AuditRecord(e.Actor, e.Action, e.Target, e.Reason), e.At, OtherKey));
        }
        Assert.Equal(new ChainBreak(1, "entry 1 was altered: its MAC does not match under the configured audit key"),
            AuditChain.Verify(guessed, AuditChain.HeadOf(guessed[^1], guessed.Count, OtherKey), Key));

        // Or keeps the keyed prefix and appends plain entries after it.
        var tail = chain.Take(3).ToList();
        tail.Add(AuditChain.Append(tail[^1], new AuditRecord("mallory", "unit.define", "unit/x"), T0.AddHours(1)));
        Assert.Equal(new ChainBreak(4, "entry 4 is not keyed though entries before it are: the log was rewritten without the audit key"),
            AuditChain.Verify(tail, AuditChain.HeadOf(tail[^1], tail.Count), Key));
    }
}
