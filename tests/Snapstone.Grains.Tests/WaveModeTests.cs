using Snapstone.Domain.Health;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// A failing canary on a wave that does not roll back: <c>mode: report-only</c> records the failure and goes on,
/// <c>onFailure: pause</c> pauses with the verdict. Real grains and storage, time in the test's hands.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class WaveModeTests(ClusterFixture fixture)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_failing_canary_on_a_report_only_wave_is_recorded_and_goes_on_to_the_enforced_wave_and_on_a_pause_wave_pauses_with_its_verdict(bool pause)
    {
        var (unitName, v1, v2, labels) = await fixture.UnitWithTwoPackages(pause ? "pausing" : "reporting");
        var pop = TestStorage.Unique("pop");
        // Two canaries, six control nodes; whoever runs v2 fails 30% of its requests.
        var nodes = Enumerable.Range(0, 8).Select(i => (Id: $"{pop}-n{i}", Tier: i < 2 ? "canary" : "edge")).ToList();
        async Task ReportAll()
        {
            foreach (var (id, tier) in nodes)
            {
                var grain = fixture.Client.GetGrain<INodeHealthGrain>(id);
                var desired = (await grain.GetView())?.Desired.GetValueOrDefault(unitName) ?? v1;
                await grain.Report(new NodeReport
                {
                    Node = id, Pop = pop, Tier = tier, Labels = labels,
                    Applied = new Dictionary<string, AppliedPackage> { [unitName] = new() { Version = desired.Version, Sha256 = desired.Sha256 } },
                    Metrics = new NodeMetrics { Requests = 1000, Errors = desired.Version == 2 ? 300 : 1, P99LatencyMs = 20 },
                });
            }
        }
        var canary = RolloutGrainTests.TwoWaves.Waves[0];
        var plan = new Plan([pause ? canary with { OnFailure = FailureAction.Pause } : canary with { Mode = GateMode.ReportOnly }, RolloutGrainTests.TwoWaves.Waves[1]]);

        await ReportAll();
        var rollout = await fixture.StartRollout(unitName, v1, v2, plan);
        for (var i = 0; i < 10; i++)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(2));
            await ReportAll();
            await rollout.Wake();
        }
        var judged = (await rollout.Get())!.Status;

        // The canaries' confirmed breaches fail the wave within the bake (the nodes are far worse than their PoP's
        // control nodes and the control): what the wave does with that failure is its plan's.
        var timeline = string.Join(" | ", judged.Timeline.Select(e => e.Message));
        Assert.DoesNotContain(judged.Timeline, e => e.Type == TimelineTypes.RollbackStarted);
        if (pause)
        {
            Assert.True(judged.State == RolloutState.Paused, timeline);
            var failed = Assert.IsType<PauseReason.Failed>(judged.Pause);
            Assert.Equal("canary", failed.Wave);
            Assert.Contains("error rate 30.00%", failed.Reason, StringComparison.Ordinal);
            Assert.NotEqual(WaveState.Passed, judged.Waves[0].State);
            return;
        }
        Assert.True((RolloutState.Running, WaveState.Baking) == (judged.State, judged.Waves[0].State), timeline);
        Assert.Contains("error rate 30.00%", judged.Waves[0].WouldHaveFailed, StringComparison.Ordinal);
        Assert.Single(judged.Timeline, e => e.Type == TimelineTypes.WaveWouldHaveFailed);

        // The bake (a minute from the canaries' apply) ends: the wave passes whatever its verdict said. The next wave is
        // enforced, and the canaries' breaches still stand: it rolls the change back before it tells any other node to
        // take it, so only the two canaries ever ran it.
        fixture.Time.Advance(judged.Waves[0].BakeUntil!.Value - fixture.Time.GetUtcNow() + TimeSpan.FromSeconds(1));
        var next = judged;
        for (var i = 0; i < 5 && next.State == RolloutState.Running; i++)
        {
            await ReportAll();
            await rollout.Wake();
            next = (await rollout.Get())!.Status;
        }
        timeline = string.Join(" | ", next.Timeline.Select(e => e.Message));
        Assert.True(next.Waves[0].State == WaveState.Passed, timeline);
        Assert.Equal(VerdictResult.Unhealthy, next.Waves[0].Verdict?.Result);
        Assert.Contains(next.Timeline, e => e.Type == TimelineTypes.WavePassed);
        Assert.True(next.State is RolloutState.RollingBack or RolloutState.RolledBack, timeline);
        Assert.Equal((0, 2), (next.Rollback!.ThroughWave, next.Rollback.Targeted));
        Assert.Contains("error rate 30.00%", next.Rollback.Reason, StringComparison.Ordinal);
    }
}
