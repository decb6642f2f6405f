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
    public async Task Reports_register_nodes_in_their_pop_and_moving_pops_moves_the_membership()
    {
        var (node, from, to) = (TestStorage.Unique("node"), TestStorage.Unique("pop"), TestStorage.Unique("pop"));
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);

        await grain.Report(Report(node, from, "canary"));
        Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(from).Summary()).ByTier["canary"]);

        await grain.Report(Report(node, to));
        Assert.Equal(0, (await fixture.Client.GetGrain<IPopGrain>(from).Summary()).Nodes);
        Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(to).Summary()).Nodes);
        var fleet = await fixture.Client.GetGrain<IFleetGrain>(IFleetGrain.Key).Summary();
        Assert.Contains(fleet.Pops, p => p.Pop == to && p.Nodes == 1 && p.Region == "eu-west");
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
