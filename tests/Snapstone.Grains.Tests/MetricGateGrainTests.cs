using System.Text;
using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// The rollout grain reads a wave's metric gates, with fake time. This cluster has no Prometheus configured, so every
/// query reads as an error: the wave whose pushed metrics are clean (and would pass without the gate) waits, then pauses.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class MetricGateGrainTests(ClusterFixture fixture)
{
    private static readonly MetricGate ErrorRate = new()
    {
        Name = "edge-error-rate", Query = "sum by (node) (rate(edge_errors_total[1m])) / sum by (node) (rate(edge_requests_total[1m]))", Max = 0.01,
    };

    [Fact]
    public async Task A_wave_whose_metric_gate_cannot_be_read_waits_and_pauses_and_never_passes()
    {
        var unitName = TestStorage.Unique("unit");
        var unit = fixture.Client.GetGrain<IUnitRolloutsGrain>(unitName);
        // Consumed only by this test's nodes: other tests' canaries in the same cluster are not in its cohort.
        var labels = new Dictionary<string, string> { ["metric-gate-test"] = unitName };
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

        var plan = new Plan(
        [
            new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 60, Gates = new Gates { Metrics = [ErrorRate] } },
            new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 60 },
        ]);
        await ReportAll();
        var id = "r-" + Guid.NewGuid().ToString("N")[..16];
        var ticket = await unit.ReserveRollout(id, 2);
        var rollout = fixture.Client.GetGrain<IRolloutRunnerGrain>(id);
        await rollout.Start(new RolloutSpec
        {
            Id = id, Unit = unitName, Version = 2, Sha256 = v2.Record.Sha256, PreviousVersion = 1, PreviousSha256 = v1.Record.Sha256,
            Plan = plan, PlanName = "metric-gated", CreatedBy = "ci",
        }, ticket.Targets);
        await ReportAll();
        await rollout.Wake();
        var baking = (await rollout.Get())!.Status;
        Assert.True(baking.Waves[0].State == WaveState.Baking,
            $"{baking.Waves[0].State}, {baking.Waves[0].Applied} of {baking.Waves[0].Targeted} applied: {string.Join(" | ", baking.Timeline.Select(t => t.Message))}");

        fixture.Time.Advance(TimeSpan.FromSeconds(61));
        await ReportAll();
        await rollout.Wake();
        var waiting = (await rollout.Get())!.Status;
        Assert.Equal(RolloutState.Running, waiting.State);
        Assert.Equal(WaveState.Baking, waiting.Waves[0].State);
        Assert.Equal(VerdictResult.Inconclusive, waiting.Waves[0].Verdict!.Result);
        Assert.Contains($"metric edge-error-rate ({ErrorRate.Query}): query failed: no Prometheus is configured (Snapstone:Metrics:Prometheus:Url): inconclusive",
            waiting.Waves[0].Verdict!.Reasons);

        // Past the grace (twice the bake): paused, naming the gate; the wave never passed.
        fixture.Time.Advance(TimeSpan.FromSeconds(121));
        await ReportAll();
        await rollout.Wake();
        var paused = (await rollout.Get())!.Status;
        Assert.Equal(RolloutState.Paused, paused.State);
        Assert.IsType<PauseReason.Inconclusive>(paused.Pause);
        Assert.Contains("edge-error-rate", paused.PausedReason);
        Assert.Equal(WaveState.Baking, paused.Waves[0].State);
        Assert.Equal(0, paused.CurrentWave);
    }
}
