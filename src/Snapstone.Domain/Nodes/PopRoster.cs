namespace Snapstone.Domain.Nodes;

/// <summary>
/// A PoP's members as stored, in a table row of their own (the PoP's wave orders live in another). Every field is
/// limited in bytes (<see cref="ReportRules"/>), so the row's size is bounded by the PoP's limit: at most about 372 bytes a
/// member at the limits, 372 KB for the default 1,000 members (docs/security.md, "Agents and node identity").
/// </summary>
[GenerateSerializer, Alias("snapstone.PopMembers")]
public sealed class PopMembers
{
    /// <summary>Node id → what the PoP knows of it. The PoP's own id is not repeated in each.</summary>
    [Id(0)] public Dictionary<string, PopMember> Members { get; set; } = [];
    /// <summary>Names of the tokens that enrolled members, which <see cref="PopMember.Agent"/> points into.</summary>
    [Id(1)] public List<string> Agents { get; set; } = [];
}

/// <summary>One member of a PoP: its identity but the PoP, when it last reported (to within a touch), who enrolled it.</summary>
[GenerateSerializer, Alias("snapstone.PopMember")]
public sealed class PopMember
{
    [Id(0)] public required string Region { get; set; }
    [Id(1)] public required string Tier { get; set; }
    [Id(2)] public required IReadOnlyDictionary<string, string> Labels { get; set; }
    [Id(3)] public DateTimeOffset LastSeen { get; set; }
    /// <summary>Index into <see cref="PopMembers.Agents"/> of the token that enrolled it; -1: an operator or an internal caller.</summary>
    [Id(4)] public int Agent { get; set; } = -1;
}

/// <summary>What a PoP makes of a node asking to be a member (<see cref="PopRoster.Admit"/>).</summary>
public enum Admission
{
    /// <summary>A member with this identity: its last sighting moves.</summary>
    Member,
    /// <summary>A member with another identity (an operator re-enrolled it): its identity changes.</summary>
    Changed,
    /// <summary>Not a member, and there is room: it may join, once the token's and the fleet's limits allow.</summary>
    Joins,
    /// <summary>Not a member, and the PoP holds as many nodes as it may.</summary>
    Full,
}

/// <summary>
/// The rules of a PoP's membership, pure: who may join (the PoP's limit), who has been silent long enough to be
/// forgotten, and how many members each token enrolled. It keeps <paramref name="identities"/>, the node id →
/// identity map the PoP's waves read, in step with the stored <see cref="PopMembers"/>.
/// </summary>
/// <remarks>
/// A node's grain tells its PoP it is alive at most every <see cref="TouchEvery"/> (with its first report after
/// each activation), so a member is forgotten once silent for <c>forgetAfter</c> plus one touch interval: never
/// before it has been silent for <c>forgetAfter</c>.
/// </remarks>
public sealed class PopRoster
{
    private readonly string _pop;
    private readonly PopMembers _stored;
    private readonly Dictionary<string, NodeIdentity> _identities;

    public PopRoster(string pop, PopMembers stored, Dictionary<string, NodeIdentity> identities)
    {
        _pop = pop;
        _stored = stored;
        _identities = identities;
        _identities.Clear();
        foreach (var (node, member) in stored.Members)
        {
            _identities[node] = new NodeIdentity(pop, member.Region, member.Tier, member.Labels);
        }
    }

    public int Count => _stored.Members.Count;

    /// <summary>
    /// How often a node's grain tells its PoP it is alive: a sixteenth of the time after which a silent node is
    /// forgotten, at most an hour. Worked example: forget after 24 h → every hour; after 8 h → every 30 min.
    /// </summary>
    public static TimeSpan TouchEvery(TimeSpan forgetAfter) =>
        forgetAfter / 16 < TimeSpan.FromHours(1) ? forgetAfter / 16 : TimeSpan.FromHours(1);

    /// <summary>What the PoP makes of <paramref name="node"/> asking to be a member with <paramref name="identity"/>; changes nothing.</summary>
    public Admission Admit(string node, NodeIdentity identity, int limit)
    {
        if (_identities.TryGetValue(node, out var known))
        {
            return known.SameAs(identity) ? Admission.Member : Admission.Changed;
        }
        return Count >= limit ? Admission.Full : Admission.Joins;
    }

    /// <summary>Adds <paramref name="node"/>, or changes a member's identity; seen now. <paramref name="agent"/>: the token that enrolled it.</summary>
    public void Put(string node, NodeIdentity identity, string? agent, DateTimeOffset now)
    {
        var index = -1;
        if (agent is not null)
        {
            index = _stored.Agents.IndexOf(agent);
            if (index < 0)
            {
                _stored.Agents.Add(agent);
                index = _stored.Agents.Count - 1;
            }
        }
        if (_stored.Members.TryGetValue(node, out var member))
        {
            // An operator's re-enrolment: the node keeps the token that enrolled it.
            member.Region = identity.Region;
            member.Tier = identity.Tier;
            member.Labels = identity.Labels;
            member.LastSeen = now;
        }
        else
        {
            _stored.Members[node] = new PopMember { Region = identity.Region, Tier = identity.Tier, Labels = identity.Labels, LastSeen = now, Agent = index };
        }
        _identities[node] = identity;
    }

    /// <summary>The member reported: its last sighting moves to <paramref name="now"/>.</summary>
    public void Seen(string node, DateTimeOffset now)
    {
        if (_stored.Members.TryGetValue(node, out var member) && member.LastSeen < now)
        {
            member.LastSeen = now;
        }
    }

    /// <summary>Removes <paramref name="node"/>; answers the token that enrolled it (null: none), or false when it was no member.</summary>
    public bool Remove(string node, out string? agent)
    {
        agent = null;
        if (!_stored.Members.Remove(node, out var member))
        {
            return false;
        }
        _identities.Remove(node);
        agent = AgentOf(member);
        return true;
    }

    /// <summary>
    /// Forgets every member silent for longer than <paramref name="forgetAfter"/> plus one touch interval; answers the
    /// tokens whose count of members changed (once each), for their counts to be corrected.
    /// </summary>
    /// <example>Forget after 24 h (touch every hour): a member last seen 25 h ago stays; 25 h and 1 s ago, it goes.</example>
    public IReadOnlyCollection<string?> Forget(DateTimeOffset now, TimeSpan forgetAfter, out int forgotten)
    {
        var before = now - forgetAfter - TouchEvery(forgetAfter);
        var silent = _stored.Members.Where(m => m.Value.LastSeen < before).Select(m => m.Key).ToList();
        var agents = new HashSet<string?>();
        foreach (var node in silent)
        {
            if (Remove(node, out var agent))
            {
                agents.Add(agent);
            }
        }
        forgotten = silent.Count;
        return agents;
    }

    /// <summary>How many members <paramref name="agent"/> enrolled.</summary>
    public int CountOf(string agent)
    {
        var index = _stored.Agents.IndexOf(agent);
        return index < 0 ? 0 : _stored.Members.Values.Count(m => m.Agent == index);
    }

    /// <summary>Every token that enrolled a member, with how many.</summary>
    public IReadOnlyDictionary<string, int> CountsByAgent() =>
        _stored.Members.Values.Where(m => m.Agent >= 0 && m.Agent < _stored.Agents.Count)
            .GroupBy(m => _stored.Agents[m.Agent]).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    /// <summary>The refusal of a node the full PoP cannot take.</summary>
    public static string FullRefusal(string pop, string node, int count, int limit) =>
        $"PoP '{pop}' holds {count} nodes, the most it may (Snapstone:Nodes:MaxPerPop = {limit}); node '{node}' is not enrolled";

    private string? AgentOf(PopMember member) =>
        member.Agent >= 0 && member.Agent < _stored.Agents.Count ? _stored.Agents[member.Agent] : null;
}
