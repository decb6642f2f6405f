using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using Snapstone.Domain;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Grains.Fleet;
using Snapstone.Grains.Nodes;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>A cluster whose PoPs hold at most 5 nodes and forget a node silent for an hour (touched every 225 s).</summary>
public sealed class SmallPopsFixture : ClusterFixture
{
    public const int MaxPerPop = 5;
    public static readonly TimeSpan ForgetAfter = TimeSpan.FromHours(1);

    protected override void ConfigureNodes(NodeOptions options)
    {
        options.MaxPerPop = MaxPerPop;
        options.ForgetSilentSeconds = (int)ForgetAfter.TotalSeconds;
    }
}

[CollectionDefinition(Name)]
public sealed class SmallPopsCollection : ICollectionFixture<SmallPopsFixture>
{
    public const string Name = "small-pops";
}

/// <summary>PoP membership on real grains and storage: its limits, the token's, forgetting silent nodes, its own row.</summary>
[Collection(SmallPopsCollection.Name)]
public sealed class PopMembershipTests(SmallPopsFixture fixture)
{
    private static readonly TimeSpan Touch = PopRoster.TouchEvery(SmallPopsFixture.ForgetAfter);

    private static NodeReport Report(string node, string pop, Dictionary<string, string>? labels = null) => new()
    {
        Node = node,
        Pop = pop,
        Tier = "canary",
        Labels = labels ?? new Dictionary<string, string> { ["proxy"] = "fl2" },
        Metrics = new NodeMetrics { Requests = 100, P99LatencyMs = 20 },
    };

    private Task<DesiredState> Send(string node, string pop, AgentToken? agent = null, Dictionary<string, string>? labels = null) =>
        fixture.Client.GetGrain<INodeHealthGrain>(node).Report(Report(node, pop, labels), agent);

    /// <summary>
    /// Moves fake time on by <paramref name="by"/> in steps of a touch interval, the <paramref name="alive"/> nodes reporting
    /// at each step (fake time drives the PoPs' sweep timers too: every other node of every PoP goes silent).
    /// </summary>
    private async Task Pass(TimeSpan by, string pop, params string[] alive)
    {
        for (var passed = TimeSpan.Zero; passed < by; passed += Touch)
        {
            fixture.Time.Advance(Touch);
            foreach (var node in alive)
            {
                await Send(node, node.StartsWith(pop, StringComparison.Ordinal) ? pop : node[..node.LastIndexOf('-')]);
            }
        }
    }

    [Fact]
    public async Task A_full_pop_refuses_a_new_node_naming_its_limit_and_takes_it_once_a_silent_member_is_forgotten()
    {
        var pop = TestStorage.Unique("pop");
        var nodes = Enumerable.Range(1, SmallPopsFixture.MaxPerPop).Select(i => $"{pop}-n{i}").ToArray();
        foreach (var node in nodes)
        {
            await Send(node, pop);
        }
        var late = $"{pop}-n6";

        var refused = await Assert.ThrowsAsync<SnapstoneException>(() => Send(late, pop));
        Assert.Equal(ProblemKind.Conflict, refused.Kind);
        Assert.Equal($"PoP '{pop}' holds 5 nodes, the most it may (Snapstone:Nodes:MaxPerPop = 5); node '{late}' is not enrolled", refused.Message);
        Assert.Null(await fixture.Client.GetGrain<INodeHealthGrain>(late).GetView());

        // n5 falls silent; the others go on reporting. Silent for the hour plus one touch, it is forgotten.
        await Pass(SmallPopsFixture.ForgetAfter, pop, nodes[..4]);
        Assert.Equal(5, (await fixture.Client.GetGrain<IPopGrain>(pop).Summary()).Nodes);
        await Pass(Touch + TimeSpan.FromSeconds(1), pop, nodes[..4]);
        Assert.Equal(4, (await fixture.Client.GetGrain<IPopGrain>(pop).Summary()).Nodes);

        await Send(late, pop);
        Assert.Equal([.. nodes[..4], late], await fixture.Client.GetGrain<IPopGrain>(pop).Members());
    }

    [Fact]
    public async Task A_token_enrols_at_most_its_limit_over_every_pop_and_a_forgotten_node_frees_its_place()
    {
        var (a, b) = (TestStorage.Unique("pop"), TestStorage.Unique("pop"));
        var token = new AgentToken(TestStorage.Unique("token"), MaxNodes: 3);
        await Send($"{a}-n1", a, token);
        await Send($"{a}-n2", a, token);
        await Send($"{b}-n1", b, token);
        // Nodes enrolled by another token, or by an internal caller, do not count against this one.
        await Send($"{b}-n2", b, new AgentToken(TestStorage.Unique("token"), MaxNodes: 3));
        await Send($"{b}-n3", b);

        var refused = await Assert.ThrowsAsync<SnapstoneException>(() => Send($"{b}-n4", b, token));
        Assert.Equal(ProblemKind.Forbidden, refused.Kind);
        Assert.Equal($"token '{token.Name}' has enrolled 3 nodes, the most it may (MaxNodes on the token, else Snapstone:Nodes:MaxPerToken = 3); " +
                     $"node '{b}-n4' is not enrolled", refused.Message);
        Assert.Equal(3, await fixture.Client.GetGrain<IAgentGrain>(token.Name).Enrolled());
        Assert.Equal(3, (await fixture.Client.GetGrain<IPopGrain>(b).Summary()).Nodes);

        // a-n2 falls silent and is forgotten: the token may enrol another.
        await Pass(SmallPopsFixture.ForgetAfter + Touch + Touch, a, $"{a}-n1", $"{b}-n1", $"{b}-n2", $"{b}-n3");
        Assert.Equal([$"{a}-n1"], await fixture.Client.GetGrain<IPopGrain>(a).Members());
        // The PoP's sweep timer (driven by fake time) corrects the token's count as it forgets.
        await Eventually.Until(() => fixture.Client.GetGrain<IAgentGrain>(token.Name).Enrolled(), n => n == 2, "the token's count to drop to 2 once a-n2 is forgotten");
        await Send($"{b}-n4", b, token);
        Assert.Equal(3, await fixture.Client.GetGrain<IAgentGrain>(token.Name).Enrolled());
    }

    [Fact]
    public async Task A_forgotten_node_that_reports_again_rejoins_with_its_identity_and_takes_the_wave_as_a_late_joiner()
    {
        var (unit, v1, v2, labels) = await fixture.UnitWithTwoPackages("membership-test");
        var pop = TestStorage.Unique("pop");
        var node = $"{pop}-c1";
        await Send(node, pop, labels: labels);
        await Pass(SmallPopsFixture.ForgetAfter + Touch + Touch, pop);
        var grain = fixture.Client.GetGrain<IPopFanOutGrain>(pop);
        Assert.Empty(await grain.Members());

        var order = new WaveOrder
        {
            Rollout = "r-000000000000beef", Unit = unit, Package = v2, Previous = v1, Plan = RolloutGrainTests.TwoWaves, Wave = 0,
            Targets = new UnitTargets(labels), Salt = "salt",
        };
        await grain.AssignWave(order);

        // The node is still enrolled (its identity is its own); its report brings it back into the PoP.
        Assert.Equal(v2, (await Send(node, pop, labels: labels)).Units[unit]);
        Assert.Equal([node], await grain.Members());
        var crashed = await fixture.Client.GetGrain<INodeHealthGrain>(node).Report(Report(node, pop, labels) with
        {
            Applied = new Dictionary<string, AppliedPackage> { [unit] = new() { Version = 2, Sha256 = v2.Sha256 } },
            Metrics = new NodeMetrics { Requests = 100, Errors = 100, P99LatencyMs = 20, Crashes = 1 },
        });
        Assert.Equal(v1, crashed.Units[unit]);
        Assert.Equal(0, (await grain.ObserveWave(order)).CohortSamples.Sum(s => s.Crashes));
    }

    [Fact]
    public async Task Members_live_in_a_row_of_their_own_and_a_pop_that_finds_them_in_its_old_row_moves_them()
    {
        var pop = TestStorage.Unique("pop");
        var grain = fixture.Client.GetGrain<IPopGrain>(pop);
        var storage = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Grains);
        var identity = new NodeIdentity(pop, "eu-west", "canary", new Dictionary<string, string> { ["proxy"] = "fl2" });
        var legacy = new GrainState<PopState>(new PopState { Region = "eu-west", StoredMembers = new() { [$"{pop}-n1"] = identity } });
        await storage.WriteStateAsync("pop", grain.GetGrainId(), legacy);

        Assert.Equal([$"{pop}-n1"], await grain.Members());
        var summary = await grain.Summary();
        Assert.Equal((1, 1), (summary.Nodes, summary.ByTier["canary"]));

        var moved = new GrainState<PopMembers>();
        await storage.ReadStateAsync("pop-members", grain.GetGrainId(), moved);
        Assert.Equal(identity.Labels, Assert.Single(moved.State!.Members).Value.Labels);
        var emptied = new GrainState<PopState>();
        await storage.ReadStateAsync("pop", grain.GetGrainId(), emptied);
        Assert.Null(emptied.State!.StoredMembers);

        await fixture.Cluster.DeactivateAsync(grain);
        await fixture.Cluster.WaitForDeactivationAsync(grain);
        Assert.Equal([$"{pop}-n1"], await grain.Members());
    }

    /// <summary>
    /// The membership row at its worst: every member at the identity limits (node id 100 characters, region and tier 32,
    /// 8 labels of 128 bytes together, split to cost the most to encode), its own token, through the real serializer.
    /// </summary>
    [Theory]
    [InlineData(1000, 380_000)]
    [InlineData(NodeOptions.MaxPerPopCeiling, 570_000)]
    public void A_full_pop_of_members_at_the_identity_limits_fits_far_inside_a_table_row(int nodes, int bound)
    {
        var serializer = fixture.Client.ServiceProvider.GetRequiredService<Serializer>();
        var stored = new PopMembers();
        var roster = new PopRoster("p".PadRight(100, 'p'), stored, []);
        for (var i = 0; i < nodes; i++)
        {
            var labels = Enumerable.Range(0, ReportRules.MaxLabels).ToDictionary(k => ((char)('a' + k)).ToString(), k => $"{i:d6}".PadRight(15, 'v'));
            var identity = new NodeIdentity("p".PadRight(100, 'p'), $"{i:d6}".PadRight(32, 'r'), $"{i:d6}".PadRight(32, 't'), labels);
            Assert.Null(ReportRules.CheckIdentity(identity.Pop, identity.Region, identity.Tier, identity.Labels));
            roster.Put($"{i:d6}".PadRight(100, 'n'), identity, $"token-{i:d4}", DateTimeOffset.UnixEpoch.AddSeconds(i));
        }
        var bytes = serializer.SerializeToArray(stored).Length;
        Assert.True(bytes <= bound, $"{nodes} members at the limits take {bytes} bytes ({bytes / nodes} a member), more than {bound}");
        Assert.True(bytes > bound * 0.9, $"{nodes} members take {bytes} bytes: the bound {bound} documented in docs/security.md is stale");
    }
}

/// <summary>A cluster whose fleet holds at most 2 PoPs.</summary>
public sealed class TwoPopsFixture : ClusterFixture
{
    protected override void ConfigureNodes(NodeOptions options)
    {
        options.MaxPops = 2;
        options.ForgetSilentSeconds = 3600;
    }
}

[CollectionDefinition(Name)]
public sealed class TwoPopsCollection : ICollectionFixture<TwoPopsFixture>
{
    public const string Name = "two-pops";
}

[Collection(TwoPopsCollection.Name)]
public sealed class FleetLimitTests(TwoPopsFixture fixture)
{
    [Fact]
    public async Task A_node_that_would_add_a_pop_past_the_fleets_limit_is_refused_until_an_abandoned_pop_leaves()
    {
        var pops = Enumerable.Range(1, 3).Select(_ => TestStorage.Unique("pop")).ToArray();
        Task<DesiredState> Send(int pop) =>
            fixture.Client.GetGrain<INodeHealthGrain>($"{pops[pop]}-n1").Report(new NodeReport { Node = $"{pops[pop]}-n1", Pop = pops[pop] });
        await Send(0);
        await Send(1);

        var refused = await Assert.ThrowsAsync<SnapstoneException>(() => Send(2));
        Assert.Equal(ProblemKind.Conflict, refused.Kind);
        Assert.Equal($"the fleet holds 2 PoPs, the most it may (Snapstone:Nodes:MaxPops = 2); PoP '{pops[2]}' is not added", refused.Message);
        Assert.Null(await fixture.Client.GetGrain<INodeHealthGrain>($"{pops[2]}-n1").GetView());

        // The first PoP's only node falls silent; forgotten, the PoP has no members and no orders, and leaves the fleet.
        var touch = PopRoster.TouchEvery(TimeSpan.FromHours(1));
        for (var passed = TimeSpan.Zero; passed <= TimeSpan.FromHours(1) + touch + touch; passed += touch)
        {
            fixture.Time.Advance(touch);
            await Send(1);
        }
        Assert.Equal(0, (await fixture.Client.GetGrain<IPopGrain>(pops[0]).Summary()).Nodes);
        await Eventually.Until(async () => (await fixture.Client.GetGrain<IFleetGrain>(IFleetGrain.Key).Pops()).SequenceEqual([pops[1]]),
            $"the abandoned PoP {pops[0]} to leave the fleet's index");

        await Send(2);
        Assert.Equal(pops[1..].Order(StringComparer.Ordinal), await fixture.Client.GetGrain<IFleetGrain>(IFleetGrain.Key).Pops());
    }
}
