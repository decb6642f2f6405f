using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Tests.Nodes;

public class EnrolmentTests
{
    private static readonly NodeIdentity Enrolled = new("ams01", "eu-west", "canary", new Dictionary<string, string> { ["proxy"] = "fl2" });

    private static NodeReport Report(string pop = "ams01", string? region = "eu-west", string? tier = "canary", Dictionary<string, string>? labels = null) =>
        new() { Node = "ams01-n1", Pop = pop, Region = region, Tier = tier, Labels = labels ?? new Dictionary<string, string> { ["proxy"] = "fl2" } };

    private const string Tail = ": a report cannot change a node's identity (an operator re-enrols it with PUT /v1/nodes/ams01-n1)";

    public static TheoryData<string, NodeReport, string?, string> Cases => new()
    {
        // because, report, refusal, fields counted
        { "the enrolled identity again", Report(), null, "" },
        { "region, tier and labels left out keep the enrolled ones", new NodeReport { Node = "ams01-n1", Pop = "ams01" }, null, "" },
        { "another PoP", Report(pop: "fra01"), "node 'ams01-n1' is enrolled with pop 'ams01'; this report says pop 'fra01'" + Tail, "pop" },
        { "another tier", Report(tier: "edge"), "node 'ams01-n1' is enrolled with tier 'canary'; this report says tier 'edge'" + Tail, "tier" },
        { "another region", Report(region: "us-east"), "node 'ams01-n1' is enrolled with region 'eu-west'; this report says region 'us-east'" + Tail, "region" },
        // Labels pick the units a node consumes and the segments it is judged in: a change of labels alone is refused too.
        { "a label changed", Report(labels: new() { ["proxy"] = "fl1" }), "node 'ams01-n1' is enrolled with labels {proxy=fl2}; this report says labels {proxy=fl1}" + Tail, "labels" },
        { "a label added", Report(labels: new() { ["proxy"] = "fl2", ["rack"] = "r1" }), "node 'ams01-n1' is enrolled with labels {proxy=fl2}; this report says labels {proxy=fl2, rack=r1}" + Tail, "labels" },
        { "labels emptied", Report(labels: []), "node 'ams01-n1' is enrolled with labels {proxy=fl2}; this report says labels {}" + Tail, "labels" },
        { "into a canary PoP and tier at once", Report(pop: "canary01", tier: "edge"),
          "node 'ams01-n1' is enrolled with pop 'ams01', tier 'canary'; this report says pop 'canary01', tier 'edge'" + Tail, "pop,tier" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_report_cannot_change_an_enrolled_identity(string because, NodeReport report, string? refusal, string fields)
    {
        _ = because;
        Assert.Equal(refusal, Enrolment.Refusal("ams01-n1", Enrolled, report));
        Assert.Equal(fields, Enrolment.ChangedFields(Enrolled, report));
    }

    [Fact]
    public void A_node_never_enrolled_has_nothing_to_refuse_and_a_re_enrolment_drops_its_assignments()
    {
        var t0 = DateTimeOffset.UnixEpoch;
        var node = new Node("ams01-n1", new NodeState(), Snapstone.Domain.Drift.DriftSettings.Default, t0);
        Assert.Null(node.IdentityRefusal(Report(pop: "anything")));

        node.Enrol(Enrolled, t0);
        node.Take("bot-features", new Assignment(new DesiredPackage(2, new string('2', 64)), "r1", t0), t0);
        Assert.Single(node.Assignments);
        node.Drain();

        node.Enrol(Enrolled with { Tier = "edge" }, t0.AddHours(1));
        Assert.Empty(node.Assignments);
        Assert.True(node.Drain().AssignmentsChanged);
        Assert.Equal((t0, "edge"), (node.State.FirstSeenAt, node.Identity!.Tier));
        Assert.NotNull(node.IdentityRefusal(Report()));
    }
}
