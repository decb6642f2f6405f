using Snapstone.Domain.Audit;

namespace Snapstone.Domain.Tests.Audit;

public sealed class AuditChainTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

    private static List<AuditEntry> Chain(int count)
    {
        var entries = new List<AuditEntry>();
        for (var i = 0; i < count; i++)
        {
            entries.Add(AuditChain.Append(entries.LastOrDefault(), new AuditRecord("ci", "package.create", $"unit/u{i}", $"reason {i}"), T0.AddSeconds(i)));
        }
        return entries;
    }

    [Fact]
    public void A_chain_links_each_entry_to_the_previous_hash_and_verifies()
    {
        var chain = Chain(5);
        Assert.Equal(AuditChain.Genesis, chain[0].PrevHash);
        Assert.All(chain.Skip(1).Zip(chain), pair => Assert.Equal(pair.Second.Hash, pair.First.PrevHash));
        Assert.Equal([1L, 2, 3, 4, 5], chain.Select(e => e.Seq));
        Assert.Null(AuditChain.Verify(chain));
        Assert.Null(AuditChain.Verify([]));
    }

    public static TheoryData<string, Func<List<AuditEntry>, List<AuditEntry>>, long, string> Tampering => new()
    {
        { "reason edited", c => { c[2] = c[2] with { Reason = "nothing to see" }; return c; }, 3, "entry 3 was altered" },
        { "actor edited", c => { c[0] = c[0] with { Actor = "someone-else" }; return c; }, 1, "entry 1 was altered" },
        { "time edited", c => { c[4] = c[4] with { At = c[4].At.AddHours(-1) }; return c; }, 5, "entry 5 was altered" },
        { "entry removed", c => { c.RemoveAt(1); return c; }, 2, "entry 2 is missing" },
        { "entries swapped", c => { (c[1], c[2]) = (c[2], c[1]); return c; }, 2, "entry 2 is missing" },
        { "rehashed but unlinked", c => { var e = c[3] with { Reason = "x" }; c[3] = e with { Hash = AuditChain.HashOf(e.Seq, e.At, e.Actor, e.Action, e.Target, e.Reason, e.PrevHash) }; return c; }, 5, "entry 5 does not point at entry 4's hash" },
    };

    [Theory]
    [MemberData(nameof(Tampering))]
    public void Verification_names_the_first_broken_link(string _, Func<List<AuditEntry>, List<AuditEntry>> tamper, long seq, string reason)
    {
        var broken = AuditChain.Verify(tamper(Chain(5)));
        Assert.NotNull(broken);
        Assert.Equal(seq, broken.Seq);
        Assert.StartsWith(reason, broken.Reason);
    }
}
