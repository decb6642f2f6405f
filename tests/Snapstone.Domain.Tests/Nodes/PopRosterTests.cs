using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Tests.Nodes;

public class PopRosterTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Day = TimeSpan.FromHours(24);
    private static readonly NodeIdentity Canary = new("ams01", "eu-west", "canary", new Dictionary<string, string> { ["proxy"] = "fl2" });

    private static (PopRoster Roster, Dictionary<string, NodeIdentity> Identities, PopMembers Stored) Roster(params (string Node, string? Agent, int SeenHoursAgo)[] members)
    {
        var stored = new PopMembers();
        var identities = new Dictionary<string, NodeIdentity>();
        var roster = new PopRoster("ams01", stored, identities);
        foreach (var (node, agent, hours) in members)
        {
            roster.Put(node, Canary, agent, T0.AddHours(-hours));
        }
        return (roster, identities, stored);
    }

    public static TheoryData<string, string, NodeIdentity, int, Admission> Admissions => new()
    {
        // because, node, identity, limit, admission
        { "a member with its identity", "n1", Canary, 2, Admission.Member },
        { "a member an operator re-enrolled with another tier", "n1", Canary with { Tier = "edge" }, 2, Admission.Changed },
        { "a new node with room", "n3", Canary, 3, Admission.Joins },
        { "a new node at the limit", "n3", Canary, 2, Admission.Full },
        { "a member at the limit is still a member", "n2", Canary, 2, Admission.Member },
    };

    [Theory]
    [MemberData(nameof(Admissions))]
    public void A_pop_admits_new_nodes_up_to_its_limit(string because, string node, NodeIdentity identity, int limit, Admission admission)
    {
        _ = because;
        Assert.Equal(admission, Roster(("n1", "agent", 0), ("n2", null, 0)).Roster.Admit(node, identity, limit));
    }

    public static TheoryData<TimeSpan, TimeSpan> Touches => new()
    {
        { TimeSpan.FromHours(24), TimeSpan.FromHours(1) },
        { TimeSpan.FromHours(8), TimeSpan.FromMinutes(30) },
        { TimeSpan.FromMinutes(16), TimeSpan.FromMinutes(1) },
    };

    [Theory]
    [MemberData(nameof(Touches))]
    public void A_node_touches_its_pop_a_sixteenth_of_the_forgetting_time_at_most_hourly(TimeSpan forgetAfter, TimeSpan touch) =>
        Assert.Equal(touch, PopRoster.TouchEvery(forgetAfter));

    [Fact]
    public void Members_silent_for_the_forgetting_time_and_a_touch_are_forgotten_and_their_tokens_named_once()
    {
        var (roster, identities, _) = Roster(("alive", "edge", 1), ("edge", "edge", 25), ("gone-1", "edge", 26), ("gone-2", "edge", 30), ("ops", null, 40));
        roster.Seen("edge", T0.AddHours(-25).AddSeconds(-1)); // older than it knew: ignored

        var agents = roster.Forget(T0, Day, out var forgotten);

        Assert.Equal(3, forgotten);
        Assert.Equal(["alive", "edge"], identities.Keys.Order());
        Assert.Equal(new string?[] { "edge", null }, agents.OrderBy(a => a is null));
        Assert.Equal(2, roster.CountOf("edge"));
        Assert.Equal(0, roster.CountOf("nobody"));
    }

    [Fact]
    public void A_touch_keeps_a_member_and_a_re_enrolment_keeps_its_token()
    {
        var (roster, identities, stored) = Roster(("n1", "edge", 25));
        roster.Seen("n1", T0.AddHours(-24));
        Assert.Empty(roster.Forget(T0, Day, out _));

        roster.Put("n1", Canary with { Tier = "edge" }, "ops", T0);
        Assert.Equal("edge", identities["n1"].Tier);
        Assert.Equal(new Dictionary<string, int> { ["edge"] = 1 }, roster.CountsByAgent());
        Assert.Equal(T0, stored.Members["n1"].LastSeen);

        Assert.True(roster.Remove("n1", out var agent));
        Assert.Equal(("edge", 0), (agent, identities.Count));
        Assert.False(roster.Remove("n1", out _));
    }

    [Fact]
    public void The_identities_the_waves_read_are_rebuilt_from_the_stored_members()
    {
        var (_, _, stored) = Roster(("n1", "edge", 0));
        var identities = new Dictionary<string, NodeIdentity> { ["stale"] = Canary };
        var roster = new PopRoster("ams01", stored, identities);
        Assert.Equal(1, roster.Count);
        Assert.True(identities["n1"].SameAs(Canary));
        Assert.False(identities.ContainsKey("stale"));
        Assert.Equal("PoP 'ams01' holds 1 nodes, the most it may (Snapstone:Nodes:MaxPerPop = 1); node 'n2' is not enrolled", PopRoster.FullRefusal("ams01", "n2", 1, 1));
    }
}
