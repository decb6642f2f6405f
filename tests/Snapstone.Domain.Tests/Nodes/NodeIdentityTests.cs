using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Tests.Nodes;

public class NodeIdentityTests
{
    private static readonly NodeIdentity Known = new("ams01", "eu-west", NodeReport.DefaultTier, new Dictionary<string, string> { ["proxy"] = "fl2" });

    private static NodeReport Report(string pop = "ams01", string? region = "eu-west", string? tier = null, Dictionary<string, string>? labels = null) =>
        new() { Node = "n-1", Pop = pop, Region = region, Tier = tier, Labels = labels ?? new Dictionary<string, string> { ["proxy"] = "fl2" } };

    public static TheoryData<string, NodeReport, NodeIdentity?, bool> Cases => new()
    {
        { "the same report again", Report(), Known, true },
        { "tier left out means the default tier", Report(tier: null), Known, true },
        { "tier named as the default", Report(tier: NodeReport.DefaultTier), Known, true },
        { "another PoP", Report(pop: "ams02"), Known, false },
        { "region left out is the default region, not eu-west", Report(region: null), Known, false },
        { "a label value changed", Report(labels: new() { ["proxy"] = "fl1" }), Known, false },
        { "a label added", Report(labels: new() { ["proxy"] = "fl2", ["rack"] = "r1" }), Known, false },
        { "labels dropped", Report(labels: []), Known, false },
        { "no labels at all, none known", new NodeReport { Node = "n-1", Pop = "ams01" }, new NodeIdentity("ams01", NodeReport.DefaultRegion, NodeReport.DefaultTier, new Dictionary<string, string>()), true },
        { "a node never seen", Report(), null, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_report_describes_a_known_identity_exactly_when_its_identity_is_the_same(string because, NodeReport report, NodeIdentity? known, bool describes)
    {
        _ = because;
        Assert.Equal(describes, report.Describes(known));
        if (known is not null)
        {
            Assert.Equal(describes, report.Identity.SameAs(known));
        }
    }
}
