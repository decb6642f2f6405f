using System.Text;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>The rollout grain against real grains and storage, with time in the test's hands.</summary>
[Collection(ClusterCollection.Name)]
public sealed class RolloutGrainTests(ClusterFixture fixture)
{
    /// <summary>canary tier → everyone, bakes of a minute (fake time).</summary>
    internal static readonly Plan TwoWaves = new(
    [
        new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 60 },
        new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 60 },
    ]);

    [Fact]
    public async Task A_wave_bakes_until_fake_time_passes_its_bake_then_the_next_opens_and_state_survives_deactivation()
    {
        // Consumed only by nodes with its label: other tests' canaries, on the same cluster, stay out of its waves.
        var unitName = TestStorage.Unique("unit");
        var labels = new Dictionary<string, string> { ["bakes"] = unitName };
        var unit = fixture.Client.GetGrain<IUnitRolloutsGrain>(unitName);
        await unit.Define(new UnitDefinition { Owner = "edge", Targets = new UnitTargets(labels) }, "ci");
        var v1 = await unit.CreatePackage(new PackageDraft { Content = Encoding.UTF8.GetBytes("one") }, "ci");
        var v2 = await unit.CreatePackage(new PackageDraft { Content = Encoding.UTF8.GetBytes("two") }, "ci");
        var pop = TestStorage.Unique("pop");
        var nodes = Enumerable.Range(0, 6).Select(i => (Id: $"{pop}-n{i}", Tier: i == 0 ? "canary" : "edge")).ToList();

        async Task ReportAll()
        {
            foreach (var (id, tier) in nodes)
            {
                var grain = fixture.Client.GetGrain<INodeHealthGrain>(id);
                var desired = (await grain.GetView())?.Desired.GetValueOrDefault(unitName) ?? new DesiredPackage(1, v1.Record.Sha256);
                await grain.Report(new NodeReport
                {
                    Node = id, Pop = pop, Tier = tier, Labels = labels,
                    Applied = new Dictionary<string, AppliedPackage> { [unitName] = new() { Version = desired.Version, Sha256 = desired.Sha256 } },
                    Metrics = new NodeMetrics { Requests = 1000, Errors = 1, P99LatencyMs = 20 },
                });
            }
        }

        await ReportAll();
        var id = "r-" + Guid.NewGuid().ToString("N")[..16];
        var ticket = await unit.ReserveRollout(id, 2);
        var rollout = fixture.Client.GetGrain<IRolloutRunnerGrain>(id);
        await rollout.Start(new RolloutSpec
        {
            Id = id, Unit = unitName, Version = 2, Sha256 = v2.Record.Sha256, PreviousVersion = 1, PreviousSha256 = v1.Record.Sha256,
            Plan = TwoWaves, PlanName = "two-waves", CreatedBy = "ci",
        }, ticket.Targets);

        await ReportAll();
        await rollout.Wake();
        var baking = (await rollout.Get())!.Status;
        Assert.Equal(WaveState.Baking, baking.Waves[0].State);
        Assert.Equal(1, baking.Waves[0].Targeted);
        Assert.Equal(fixture.Time.GetUtcNow().AddSeconds(60), baking.Waves[0].BakeUntil);

        fixture.Time.Advance(TimeSpan.FromSeconds(30));
        await ReportAll();
        await rollout.Wake();
        Assert.Equal(WaveState.Baking, (await rollout.Get())!.Status.Waves[0].State);

        fixture.Time.Advance(TimeSpan.FromSeconds(31));
        await ReportAll();
        await rollout.Wake();
        var next = (await rollout.Get())!.Status;
        Assert.Equal(WaveState.Passed, next.Waves[0].State);
        Assert.Equal(1, next.CurrentWave);
        Assert.Equal(6, next.Waves[1].Targeted);

        await fixture.Cluster.DeactivateAsync(rollout);
        await fixture.Cluster.WaitForDeactivationAsync(rollout);
        var reread = (await fixture.Client.GetGrain<IRolloutRunnerGrain>(id).Get())!;
        Assert.Equal(next.Timeline, reread.Status.Timeline);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(next, SnapstoneJson.Options), System.Text.Json.JsonSerializer.Serialize(reread.Status, SnapstoneJson.Options));
        Assert.Equal(TwoWaves.Waves.Count, reread.Spec.Plan.Waves.Count);
    }
    [Fact]
    public async Task A_rollback_a_wedged_node_never_confirms_finishes_at_its_deadline_naming_the_node()
    {
        // The unit is consumed only by nodes with its label, so other tests' nodes stay out of its cohorts.
        var (unitName, v1, v2, labels) = await fixture.UnitWithTwoPackages("wedge");
        var pop = TestStorage.Unique("pop");
        var (healthy, wedged) = ($"{pop}-a", $"{pop}-b");

        // The wedged node takes v2 and then never moves again; the other follows whatever it is told.
        async Task Report(string node, bool follows)
        {
            var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
            var desired = (await grain.GetView())?.Desired.GetValueOrDefault(unitName) ?? v1;
            var applied = follows || desired.Version == 2 ? desired : v2;
            await grain.Report(new NodeReport
            {
                Node = node, Pop = pop, Tier = "canary", Labels = labels,
                Applied = new Dictionary<string, AppliedPackage> { [unitName] = new() { Version = applied.Version, Sha256 = applied.Sha256 } },
                Metrics = new NodeMetrics { Requests = 1000, Errors = 1, P99LatencyMs = 20 },
            });
        }
        async Task ReportBoth()
        {
            await Report(healthy, follows: true);
            await Report(wedged, follows: false);
        }

        await ReportBoth();
        var rollout = await fixture.StartRollout(unitName, v1, v2, TwoWaves);
        await ReportBoth();
        await rollout.Wake();
        await rollout.Abort("alice", "wrong file");
        await ReportBoth();
        await ReportBoth();
        await rollout.Wake();
        var waiting = (await rollout.Get())!.Status;
        Assert.Equal((RolloutState.RollingBack, 2, 1), (waiting.State, waiting.Rollback!.Targeted, waiting.Rollback.Confirmed));

        fixture.Time.Advance(TimeSpan.FromSeconds(301));
        await ReportBoth();
        await rollout.Wake();

        var done = (await rollout.Get())!.Status;
        Assert.Equal((RolloutState.Aborted, 2, 1), (done.State, done.Rollback!.Targeted, done.Rollback.Confirmed));
        Assert.Equal($"1/2 node(s) confirmed back on the previous package; 1 of 2 node(s) did not confirm the previous package within 301 s; " +
                     $"not confirmed: {wedged}; they stay told to run it, and /v1/drift lists them until they do", done.Timeline[^1].Message);
    }
}
