using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// Node grains keep wave assignments in memory; the PoP's order ledger is the durable copy. These tests
/// deactivate the grains between steps, so every answer after that comes from what storage holds.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class NodeAssignmentTests(ClusterFixture fixture)
{
    private sealed record Setup(string Unit, string Pop, Dictionary<string, string> Labels, DesiredPackage V1, DesiredPackage V2)
    {
        public WaveOrder Order(int wave) => new()
        {
            Rollout = "r-00000000000000cc", Unit = Unit, Package = V2, Previous = V1, Plan = RolloutGrainTests.TwoWaves, Wave = wave,
            Targets = new UnitTargets(Labels), Salt = "salt",
        };
    }

    private async Task<Setup> UnitWithTwoPackages()
    {
        var (unit, v1, v2, labels) = await fixture.UnitWithTwoPackages("ledger-test");
        return new Setup(unit, TestStorage.Unique("pop"), labels, v1, v2);
    }

    /// <summary>A report of 100 requests on <paramref name="running"/>, all answered unless the node crashed.</summary>
    private Task<DesiredState> Report(Setup s, string node, string tier, DesiredPackage running, bool crashed = false) =>
        fixture.Client.GetGrain<INodeHealthGrain>(node).Report(new NodeReport
        {
            Node = node,
            Pop = s.Pop,
            Tier = tier,
            Labels = s.Labels,
            Applied = new Dictionary<string, AppliedPackage> { [s.Unit] = new() { Version = running.Version, Sha256 = running.Sha256 } },
            Metrics = crashed
                ? new NodeMetrics { Requests = 100, Errors = 100, P99LatencyMs = 20, Crashes = 1 }
                : new NodeMetrics { Requests = 100, Errors = 0, P99LatencyMs = 20 },
        });

    private async Task Deactivate(params IGrain[] grains)
    {
        foreach (var grain in grains)
        {
            await fixture.Cluster.DeactivateAsync(grain);
            await fixture.Cluster.WaitForDeactivationAsync(grain);
        }
    }

    [Fact]
    public async Task A_node_grain_that_restarts_takes_its_wave_assignment_back_from_the_pop()
    {
        var s = await UnitWithTwoPackages();
        var (canary, edge) = ($"{s.Pop}-c1", $"{s.Pop}-e1");
        await Report(s, canary, "canary", s.V1);
        await Report(s, edge, "edge", s.V1);
        var pop = fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop);

        var count = await pop.AssignWave(s.Order(0));
        Assert.Equal((1, 1), (count.Cohort, count.Told));

        await Deactivate(fixture.Client.GetGrain<INodeHealthGrain>(canary), fixture.Client.GetGrain<INodeHealthGrain>(edge), pop);
        Assert.Equal(s.V2, (await Report(s, canary, "canary", s.V1)).Units[s.Unit]);
        Assert.Equal(s.V1, (await Report(s, edge, "edge", s.V1)).Units[s.Unit]);
    }

    [Fact]
    public async Task A_rolled_back_node_that_restarts_stays_on_the_previous_package_and_the_rollback_counts_who_ran_the_bad_one()
    {
        var s = await UnitWithTwoPackages();
        var (ran, stayed) = ($"{s.Pop}-c1", $"{s.Pop}-c2");
        await Report(s, ran, "canary", s.V1);
        await Report(s, stayed, "canary", s.V1);
        var pop = fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop);
        await pop.AssignWave(s.Order(0));
        await Report(s, ran, "canary", s.V2);

        var rollback = await pop.RollBack(s.Order(0));
        Assert.Equal((2, 1), (rollback.Returned, rollback.Ran));

        await Deactivate(fixture.Client.GetGrain<INodeHealthGrain>(ran), pop);
        Assert.Equal(s.V1, (await Report(s, ran, "canary", s.V2)).Units[s.Unit]);
        Assert.Equal(s.V1, (await Report(s, stayed, "canary", s.V1)).Units[s.Unit]);
    }

    [Fact]
    public async Task A_pop_samples_as_many_control_nodes_as_the_order_gives_it_and_its_own_bound_for_an_order_that_does_not_say()
    {
        var s = await UnitWithTwoPackages();
        await Report(s, $"{s.Pop}-c1", "canary", s.V1);
        for (var i = 1; i <= 4; i++)
        {
            await Report(s, $"{s.Pop}-e{i}", "edge", s.V1);
        }
        var pop = fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop);
        await pop.AssignWave(s.Order(0));

        Assert.Equal(2, (await pop.ObserveWave(s.Order(0) with { ControlSamples = 2 })).ControlSamples.Count);
        Assert.Equal(4, (await pop.ObserveWave(s.Order(0))).ControlSamples.Count);
    }

    [Fact]
    public async Task A_wave_look_takes_what_the_cohort_pushed_as_it_reported_and_calls_only_the_nodes_that_have_not()
    {
        var s = await UnitWithTwoPackages();
        var canaries = Enumerable.Range(1, 3).Select(i => $"{s.Pop}-c{i}").ToList();
        var edge = $"{s.Pop}-e1";
        foreach (var node in canaries)
        {
            await Report(s, node, "canary", s.V1);
        }
        await Report(s, edge, "edge", s.V1);
        var pop = fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop);
        await pop.AssignWave(s.Order(0));
        foreach (var node in canaries)
        {
            await Report(s, node, "canary", s.V2);
        }

        // The first look calls every cohort node and the control node it samples; each then pushes its observation with
        // each report.
        var first = await pop.ObserveWave(s.Order(0));
        Assert.Equal((3, 3, 1, 4), (first.Cohort, first.Applied, first.ControlSamples.Count, first.Called));

        await Report(s, canaries[0], "canary", s.V2, crashed: true);
        await Report(s, canaries[1], "canary", s.V2);
        await Report(s, edge, "edge", s.V1);
        var second = await pop.ObserveWave(s.Order(0));
        Assert.Equal((3, 1, 0), (second.Applied, second.ControlSamples.Count, second.Called));
        Assert.Equal(1, second.CohortSamples.Single(x => x.NodeId == canaries[0]).Crashes);
        Assert.Equal(200, second.ControlSamples.Single().Requests);

        // A node activation pushes nothing until a look asks it again: the PoP drops what the earlier one pushed.
        await Deactivate(fixture.Client.GetGrain<INodeHealthGrain>(canaries[2]));
        await Report(s, canaries[2], "canary", s.V2);
        var third = await pop.ObserveWave(s.Order(0));
        Assert.Equal((3, 1), (third.Applied, third.Called));
        Assert.Equal(0, (await pop.ObserveWave(s.Order(0))).Called);
    }

    [Fact]
    public async Task A_node_stops_pushing_once_its_pop_no_longer_watches_the_package()
    {
        var s = await UnitWithTwoPackages();
        var node = $"{s.Pop}-c1";
        await Report(s, node, "canary", s.V1);
        var pop = fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop);
        await pop.AssignWave(s.Order(0));
        await Report(s, node, "canary", s.V2);
        await pop.ObserveWave(s.Order(0));

        // A PoP activation that watches nothing (its predecessor's watch went with it) tells the node to stop.
        await Deactivate(pop);
        var sample = (await fixture.Client.GetGrain<INodeFanOutGrain>(node).Observe(s.Unit, s.V2)).Sample;
        var stopped = await pop.Observed(node, [new PushedObservation(s.Unit, s.V2, new NodeObservation(sample, true, false), DateTimeOffset.UtcNow)]);
        Assert.Equal([s.Unit], stopped);
        Assert.Equal([s.Unit], await pop.Observed("not-a-member", [new PushedObservation(s.Unit, s.V2, new NodeObservation(sample, true, false), DateTimeOffset.UtcNow)]));
    }

    [Fact]
    public async Task A_node_that_joins_its_pop_mid_rollout_takes_the_wave_its_hash_puts_it_in()
    {
        var s = await UnitWithTwoPackages();
        await Report(s, $"{s.Pop}-e1", "edge", s.V1);
        var pop = fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop);
        await pop.AssignWave(s.Order(0));
        await pop.AssignWave(s.Order(1));

        var late = $"{s.Pop}-e2";
        Assert.Equal(s.V2, (await Report(s, late, "edge", s.V1)).Units[s.Unit]);
        var seen = await pop.ObserveWave(s.Order(1));
        Assert.Equal(2, seen.Cohort);
    }

    [Fact]
    public async Task A_node_that_joins_after_its_wave_was_assigned_is_sent_back_on_a_crash_but_its_crashes_and_rejections_are_not_the_cohorts()
    {
        var s = await UnitWithTwoPackages();
        var member = $"{s.Pop}-c1";
        await Report(s, member, "canary", s.V1);
        var pop = fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop);
        await pop.AssignWave(s.Order(0));

        var (crasher, refuser) = ($"{s.Pop}-c2", $"{s.Pop}-c3");
        Assert.Equal(s.V2, (await Report(s, crasher, "canary", s.V1)).Units[s.Unit]);
        Assert.Equal(s.V2, (await Report(s, refuser, "canary", s.V1)).Units[s.Unit]);
        await Report(s, member, "canary", s.V2);

        // What they joined late is stored: fresh activations know it.
        await Deactivate(fixture.Client.GetGrain<INodeHealthGrain>(crasher), fixture.Client.GetGrain<INodeHealthGrain>(refuser));
        Assert.Equal(s.V1, (await Report(s, crasher, "canary", s.V2, crashed: true)).Units[s.Unit]);
        await fixture.Client.GetGrain<INodeHealthGrain>(refuser).Report(new NodeReport
        {
            Node = refuser, Pop = s.Pop, Tier = "canary", Labels = s.Labels,
            Applied = new Dictionary<string, AppliedPackage> { [s.Unit] = new() { Version = 2, Sha256 = s.V2.Sha256, Status = ApplyStatus.Rejected } },
        });

        var seen = await pop.ObserveWave(s.Order(0));
        Assert.Equal((3, 0), (seen.Cohort, seen.Rejected));
        Assert.Equal(0, seen.CohortSamples.Sum(x => x.Crashes));
        Assert.DoesNotContain(seen.CohortSamples, x => x.Rejected);
    }

    [Fact]
    public async Task A_node_that_reports_the_package_it_kept_as_rejected_with_an_error_counts_as_rejecting_its_wave_at_once()
    {
        var s = await UnitWithTwoPackages();
        var (kept, refused, fine) = ($"{s.Pop}-c1", $"{s.Pop}-c2", $"{s.Pop}-c3");
        foreach (var node in new[] { kept, refused, fine })
        {
            await Report(s, node, "canary", s.V1);
        }
        var pop = fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop);
        await pop.AssignWave(s.Order(0));

        await Rejected(kept, s.V1, "features: 210 > 200");  // the package it kept, with the error
        await Rejected(refused, s.V2, null);                 // the package it refused
        await Report(s, fine, "canary", s.V2);

        var seen = await pop.ObserveWave(s.Order(0));
        Assert.Equal((3, 1, 2), (seen.Cohort, seen.Applied, seen.Rejected));
        Assert.Equal([kept, refused], seen.CohortSamples.Where(x => x.Rejected).Select(x => x.NodeId).Order());

        Task<DesiredState> Rejected(string node, DesiredPackage named, string? error) =>
            fixture.Client.GetGrain<INodeHealthGrain>(node).Report(new NodeReport
            {
                Node = node, Pop = s.Pop, Tier = "canary", Labels = s.Labels,
                Applied = new Dictionary<string, AppliedPackage>
                {
                    [s.Unit] = new() { Version = named.Version, Sha256 = named.Sha256, Status = ApplyStatus.Rejected, Error = error },
                },
                Metrics = new NodeMetrics { Requests = 100, Errors = 0, P99LatencyMs = 20 },
            });
    }

    [Fact]
    public async Task A_node_that_crashes_on_its_package_is_sent_back_in_the_answer_to_that_report()
    {
        var s = await UnitWithTwoPackages();
        var (crashed, fine) = ($"{s.Pop}-c1", $"{s.Pop}-c2");
        await Report(s, crashed, "canary", s.V1);
        await Report(s, fine, "canary", s.V1);
        await fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop).AssignWave(s.Order(0) with { Rollout = "r-00000000000000dd" });

        var answer = await Report(s, crashed, "canary", s.V2, crashed: true);

        Assert.Equal(s.V1, answer.Units[s.Unit]);
        Assert.Equal(s.V2, (await Report(s, fine, "canary", s.V2)).Units[s.Unit]);

        // The crashed node is back on v1 when the rollout's own rollback arrives; it still counts as having run v2.
        await Report(s, crashed, "canary", s.V1);
        var back = await fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop).RollBack(s.Order(0) with { Rollout = "r-00000000000000dd" });
        Assert.Equal((2, 2), (back.Returned, back.Ran));
    }

    [Fact]
    public async Task A_rollback_confirmation_stands_so_each_count_asks_only_the_touched_nodes_not_yet_back()
    {
        var s = await UnitWithTwoPackages();
        var (back, late) = ($"{s.Pop}-c1", $"{s.Pop}-c2");
        await Report(s, back, "canary", s.V1);
        await Report(s, late, "canary", s.V1);
        var pop = fixture.Client.GetGrain<IPopFanOutGrain>(s.Pop);
        await pop.AssignWave(s.Order(0));
        await Report(s, back, "canary", s.V2);
        await Report(s, late, "canary", s.V2);
        await pop.RollBack(s.Order(0));

        await Report(s, back, "canary", s.V1);
        var first = await pop.ObserveRollback(s.Order(0));
        Assert.Equal((2, 1), (first.Returned, first.Confirmed));
        Assert.Equal([late], first.Unconfirmed);

        // Counted once, not asked again: a confirmed node is not re-read by this PoP activation.
        await Report(s, back, "canary", s.V2);
        var second = await pop.ObserveRollback(s.Order(0));
        Assert.Equal((2, 1), (second.Returned, second.Confirmed));
        Assert.Equal([late], second.Unconfirmed);

        await Report(s, late, "canary", s.V1);
        var done = await pop.ObserveRollback(s.Order(0));
        Assert.Equal((2, 2, 0), (done.Returned, done.Confirmed, done.Unconfirmed.Count));
    }

    [Fact]
    public async Task A_node_enrolled_by_its_first_report_is_in_its_pops_stored_members_when_answered_and_its_own_row_follows()
    {
        var s = await UnitWithTwoPackages();
        var node = $"{s.Pop}-e1";
        var storage = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Grains);

        await Report(s, node, "edge", s.V1);

        var members = new GrainState<PopMembers>();
        await storage.ReadStateAsync("pop-members", fixture.Client.GetGrain<IPopGrain>(s.Pop).GetGrainId(), members);
        Assert.Equal("edge", members.State!.Members[node].Tier);
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        var row = await Eventually.Until(async () =>
        {
            var stored = new GrainState<NodeState>();
            await storage.ReadStateAsync("node", grain.GetGrainId(), stored);
            return stored.State?.Identity;
        }, identity => identity is not null, $"node {node}'s own row, written behind after its enrolment");
        Assert.Equal((s.Pop, "edge"), (row!.Pop, row.Tier));

        await Deactivate(grain);
        Assert.Equal(s.Pop, (await grain.GetView())!.Identity.Pop);
    }
}
