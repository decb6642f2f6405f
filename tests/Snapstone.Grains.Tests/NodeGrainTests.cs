using System.Text;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class NodeGrainTests(ClusterFixture fixture)
{
    private static NodeReport Report(string node, string pop, string tier = "edge", Dictionary<string, string>? labels = null) => new()
    {
        Node = node,
        Pop = pop,
        Region = "eu-west",
        Tier = tier,
        Labels = labels ?? new Dictionary<string, string> { ["proxy"] = "fl2" },
        Metrics = new NodeMetrics { Requests = 100, Errors = 1, P99LatencyMs = 30 },
    };

    [Fact]
    public async Task A_first_report_enrols_the_node_in_its_pop_and_a_later_report_cannot_move_it()
    {
        var (node, from, to) = (TestStorage.Unique("node"), TestStorage.Unique("pop"), TestStorage.Unique("pop"));
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);

        await grain.Report(Report(node, from, "canary"));
        Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(from).Summary()).ByTier["canary"]);

        var moved = await Assert.ThrowsAsync<SnapstoneException>(() => grain.Report(Report(node, to)));
        Assert.Equal(Snapstone.Domain.ProblemKind.Conflict, moved.Kind);
        Assert.Equal($"node '{node}' is enrolled with pop '{from}', tier 'canary'; this report says pop '{to}', tier 'edge': " +
                     $"a report cannot change a node's identity (an operator re-enrols it with PUT /v1/nodes/{node})", moved.Message);
        var relabelled = await Assert.ThrowsAsync<SnapstoneException>(() => grain.Report(Report(node, from, "canary", new() { ["proxy"] = "fl1" })));
        Assert.Contains("this report says labels {proxy=fl1}", relabelled.Message);

        Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(from).Summary()).Nodes);
        Assert.Equal(0, (await fixture.Client.GetGrain<IPopGrain>(to).Summary()).Nodes);
        var view = (await grain.GetView())!;
        Assert.Equal((from, "canary", "fl2"), (view.Identity.Pop, view.Identity.Tier, view.Identity.Labels["proxy"]));
        Assert.Equal(1, view.ReportsReceived); // refused reports are not ingested
    }

    [Fact]
    public async Task A_report_that_leaves_region_tier_and_labels_out_keeps_the_enrolled_ones()
    {
        var (node, pop) = (TestStorage.Unique("node"), TestStorage.Unique("pop"));
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        await grain.Report(Report(node, pop, "canary"));

        await grain.Report(new NodeReport { Node = node, Pop = pop });

        var view = (await grain.GetView())!;
        Assert.Equal(("eu-west", "canary", "fl2", 2L), (view.Identity.Region, view.Identity.Tier, view.Identity.Labels["proxy"], view.ReportsReceived));
    }

    [Fact]
    public async Task An_operator_re_enrols_a_node_and_its_membership_moves_with_it()
    {
        var (node, from, to) = (TestStorage.Unique("node"), TestStorage.Unique("pop"), TestStorage.Unique("pop"));
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        await grain.Report(Report(node, from, "canary"));

        var view = await grain.Enrol(new NodeIdentity(to, "eu-west", "edge", new Dictionary<string, string> { ["proxy"] = "fl1" }), "oncall");

        Assert.Equal((to, "edge", "fl1"), (view.Identity.Pop, view.Identity.Tier, view.Identity.Labels["proxy"]));
        Assert.Equal(0, (await fixture.Client.GetGrain<IPopGrain>(from).Summary()).Nodes);
        Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(to).Summary()).ByTier["edge"]);
        var fleet = await fixture.Client.GetGrain<IFleetGrain>(IFleetGrain.Key).Summary();
        Assert.Contains(fleet.Pops, p => p.Pop == to && p.Nodes == 1 && p.Region == "eu-west");

        // Reports now describe the new identity; the old one is refused like any other change.
        await grain.Report(Report(node, to, "edge", new() { ["proxy"] = "fl1" }));
        await Assert.ThrowsAsync<SnapstoneException>(() => grain.Report(Report(node, from, "canary")));

        // The identity is stored: a fresh activation holds it.
        await fixture.Cluster.DeactivateAsync(grain);
        await fixture.Cluster.WaitForDeactivationAsync(grain);
        Assert.Equal(to, (await grain.GetView())!.Identity.Pop);
    }

    [Fact]
    public async Task Desired_follows_the_units_lkg_for_matching_nodes_only()
    {
        var unitName = TestStorage.Unique("unit");
        var unit = fixture.Client.GetGrain<IUnitGrain>(unitName);
        await unit.Define(new UnitDefinition { Owner = "edge", Targets = new UnitTargets(new Dictionary<string, string> { ["proxy"] = unitName }) }, "ci");
        var package = await unit.CreatePackage(new PackageDraft { Content = Encoding.UTF8.GetBytes("on") }, "ci");
        await fixture.CompleteRollout(unitName, 1);

        var fl1 = TestStorage.Unique("node");
        var fl2 = TestStorage.Unique("node");
        var pop = TestStorage.Unique("pop");
        var desired1 = await fixture.Client.GetGrain<INodeHealthGrain>(fl1).Report(Report(fl1, pop, labels: new() { ["proxy"] = unitName }));
        var desired2 = await fixture.Client.GetGrain<INodeHealthGrain>(fl2).Report(Report(fl2, pop));

        Assert.Equal(new DesiredPackage(1, package.Record.Sha256), desired1.Units[unitName]);
        Assert.False(desired2.Units.ContainsKey(unitName));
    }

    [Fact]
    public async Task A_report_naming_an_unknown_unit_is_refused_and_changes_nothing()
    {
        var node = TestStorage.Unique("node");
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        var report = Report(node, TestStorage.Unique("pop")) with
        {
            Applied = new Dictionary<string, AppliedPackage> { ["never-defined"] = new() { Version = 1 } },
        };
        var refusal = await Assert.ThrowsAsync<SnapstoneException>(() => grain.Report(report));
        Assert.Contains("unknown unit 'never-defined'", refusal.Message);
        Assert.Null(await grain.GetView());
    }

    [Fact]
    public async Task A_long_poll_ends_when_fake_time_passes_the_wait()
    {
        var node = TestStorage.Unique("node");
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        var first = await grain.Report(Report(node, TestStorage.Unique("pop")));

        var poll = grain.WaitForDesired(first.Stamp, TimeSpan.FromSeconds(10));
        await Eventually.Until(async () =>
        {
            fixture.Time.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Delay(5);
            return poll.IsCompleted;
        }, "the long poll to end once fake time passed its wait");
        Assert.Equal(first.Stamp, (await poll)!.Stamp);
    }
}
