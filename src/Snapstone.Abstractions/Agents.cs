namespace Snapstone;

/// <summary>
/// How many nodes one agent token has enrolled, per PoP, for its limit. Keyed by token name. Internal: PoP grains
/// admit and recount through it; nothing outside the cluster calls it.
/// </summary>
[Alias("snapstone.IAgentGrain")]
public interface IAgentGrain : IGrainWithStringKey
{
    /// <summary>Counts one more of the token's nodes in <paramref name="pop"/>, or refuses (403) when it has <paramref name="limit"/> already.</summary>
    [Alias("Admit")]
    Task Admit(string pop, string node, int limit);

    /// <summary><paramref name="pop"/> holds <paramref name="count"/> of the token's nodes now: the absolute count, which corrects any drift.</summary>
    [Alias("Counted")]
    Task Counted(string pop, int count);

    /// <summary>The token's enrolled nodes, over every PoP.</summary>
    [Alias("Enrolled")]
    Task<int> Enrolled();
}
