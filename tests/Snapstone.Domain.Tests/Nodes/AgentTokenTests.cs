using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Tests.Nodes;

public class AgentTokenTests
{
    private static readonly AgentToken Ams = new("ams-agent", Pops: ["ams01", "ams02"], Nodes: ["ams0*-edge-*"]);

    public static TheoryData<string, AgentToken, string, string, string?> Cases => new()
    {
        // because, token, node, pop, refusal
        { "an unbound token reports for any node anywhere", new AgentToken("any"), "fra01-canary-1", "fra01", null },
        { "a node of a PoP of the binding", Ams, "ams01-edge-7", "ams01", null },
        { "the binding's other PoP", Ams, "ams02-edge-1", "ams02", null },
        { "a node claiming a PoP outside the binding", Ams, "ams01-edge-7", "fra01",
          "token 'ams-agent' may report only for PoPs ams01, ams02 (its Pops binding in Snapstone:Auth:Tokens); node 'ams01-edge-7' reports PoP 'fra01'" },
        { "a node id outside the binding's patterns", Ams, "fra01-canary-1", "ams01",
          "token 'ams-agent' may report only for nodes matching ams0*-edge-* (its Nodes binding in Snapstone:Auth:Tokens); not for node 'fra01-canary-1'" },
        { "patterns alone bind node ids in any PoP", new AgentToken("canaries", Nodes: ["*-canary-*"]), "fra01-canary-3", "fra01", null },
        { "an empty binding binds nothing", new AgentToken("empty", Pops: [], Nodes: []), "x", "y", null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_token_may_report_only_for_the_nodes_and_pops_it_is_bound_to(string because, AgentToken token, string node, string pop, string? refusal)
    {
        _ = because;
        Assert.Equal(refusal, token.Refusal(node, pop));
    }

    public static TheoryData<string, string, bool> Patterns => new()
    {
        { "ams01-*", "ams01-n1", true },
        { "ams01-*", "ams01-", true },
        { "ams01-*", "ams02-n1", false },
        { "ams01-n1", "ams01-n1", true },
        { "ams01-n1", "ams01-n10", false },
        { "*-canary-*", "fra01-canary-3", true },
        { "*-canary-*", "fra01-edge-3", false },
        { "*", "anything", true },
        { "a*b*c", "axxbyyc", true },
        { "a*b*c", "axxbyy", false },
        { "*n1", "ams01-n1-n1", true },
    };

    [Theory]
    [MemberData(nameof(Patterns))]
    public void A_star_stands_for_any_run_of_characters_and_the_pattern_matches_whole(string pattern, string node, bool matches) =>
        Assert.Equal(matches, AgentToken.Matches(pattern, node));
}
