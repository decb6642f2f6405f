using Snapstone.Simulator;
using Snapstone.Simulator.Demo;
using Snapstone.Simulator.Replay;
using Snapstone.Simulator.Shape;
using Snapstone.Testing;
using Xunit.Abstractions;

namespace Snapstone.Server.Tests;

/// <summary>
/// The incident replays of issues #6 and #13 (<see cref="Replays"/>), scaled down (<see cref="ReplayScale.Ci"/>): each one
/// against a server of its own and a seeded fleet of 80 nodes reporting every quarter second, the server's rollouts
/// ticking as often. The bounds are correctness bounds, not speed targets: <c>docs/performance.md</c> has the speed.
/// </summary>
public sealed class ReplayTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Report intervals a bad change may take from its first report to every node confirmed back. Three would do on a
    /// quiet machine (the report, the order in the next answer, the confirming report); this one is shared and stalls.
    /// </summary>
    private const double SafeWithinIntervals = 30;

    /// <summary>
    /// No pause between one change settling and the next: the next good file goes out the moment a bad one is rolled
    /// back, while the canaries' health windows still hold their crashes on the bad one. Those crashes must not count
    /// against the good file (a node is judged only on traffic it reported on the package it is judged for).
    /// </summary>
    private static readonly TimeSpan BetweenChanges = TimeSpan.Zero;

    [Fact]
    public async Task A_feature_file_that_doubles_past_its_limit_is_raised_to_high_risk_and_dies_in_the_canary_wave()
    {
        var result = await PlayAsync("a");

        Assert.Equal(["completed", "rolled-back"], result.Outcomes.Select(o => o.State));
        var bad = result.Bad.Single();
        Assert.Equal("high-risk", bad.Plan);
        Assert.Equal(1, bad.Approvals);
        Assert.Equal(("canary", result.Canaries), (bad.FirstWaveName, bad.FirstWaveTargeted));
        Assert.InRange(bad.EverApplied, 1, bad.FirstWaveTargeted);
        Assert.Equal(ReplayScenario.PlanName, result.Good.Single().Plan);
    }

    [Fact]
    public async Task A_killswitch_that_breaks_only_fl1_nodes_is_rolled_back_from_the_canary_wave()
    {
        var layout = FleetLayout.Lay(Replays.Named("b", ReplayScale.Ci).Shape);
        Assert.Contains(layout.Nodes, n => n.IsCanary && !n.Flaky && n.Labels["proxy"] == "fl1" && !layout.Pops.Single(p => p.Id == n.Pop).LowTraffic);

        var result = await PlayAsync("b");

        Assert.Equal(["completed", "rolled-back"], result.Outcomes.Select(o => o.State));
        var bad = result.Bad.Single();
        Assert.Equal((ReplayScenario.PlanName, "canary", result.Canaries), (bad.Plan, bad.FirstWaveName, bad.FirstWaveTargeted));
        Assert.InRange(bad.EverApplied, 1, bad.FirstWaveTargeted);
    }

    [Fact]
    public async Task A_generator_alternating_good_and_bad_files_gets_every_good_one_through_and_every_bad_one_stopped_in_the_canary_wave()
    {
        var scenario = Replays.Named("c", ReplayScale.Ci);
        var layout = FleetLayout.Lay(scenario.Shape);
        Assert.Contains(layout.Nodes, n => n.IsCanary && scenario.Consumes(n));

        var result = await PlayAsync("c");

        Assert.Equal(Enumerable.Repeat(new[] { "completed", "rolled-back" }, ReplayScale.Ci.Cycles).SelectMany(s => s), result.Outcomes.Select(o => o.State));
        Assert.All(result.Outcomes, o => Assert.Equal(ReplayScenario.PlanName, o.Plan));
        Assert.All(result.Bad, o => Assert.InRange(o.EverApplied, 1, o.FirstWaveTargeted));
        Assert.All(result.Bad, o => Assert.Equal(layout.Nodes.Count(n => n.IsCanary && scenario.Consumes(n)), o.FirstWaveTargeted));
    }

    [Fact]
    public async Task A_latency_only_regression_with_no_errors_is_caught_by_the_canary_verdict()
    {
        var result = await PlayAsync("d");

        Assert.Equal(["completed", "rolled-back"], result.Outcomes.Select(o => o.State));
        var bad = result.Bad.Single();
        Assert.Equal(("canary", result.Canaries), (bad.FirstWaveName, bad.FirstWaveTargeted));
        Assert.Contains("wave 'canary' unhealthy: cohort p99", bad.Halt);
        Assert.DoesNotContain("crash", bad.Halt);
        Assert.DoesNotContain("rejected", bad.Halt);
    }

    [Fact]
    public async Task Good_changes_on_a_noisy_fleet_with_flaky_nodes_complete_without_a_halt()
    {
        var scenario = Replays.Named("e", ReplayScale.Ci);
        Assert.Contains(FleetLayout.Lay(scenario.Shape).Nodes, n => n.Flaky);

        var result = await PlayAsync("e");

        Assert.Equal(Enumerable.Repeat("completed", ReplayScale.Ci.NoisyChanges), result.Outcomes.Select(o => o.State));
        Assert.All(result.Outcomes, o => Assert.Null(o.Halt));
        Assert.All(result.Outcomes, o => Assert.Equal(result.Consumers, o.EverApplied));
    }

    /// <summary>
    /// An upstream disturbance fails a share of every node's requests, on either package, while a change's canary wave
    /// bakes. A canary's breach signal is weighed against the control at the same moments before it may act: the good
    /// change waits the disturbance out and completes; the bad one is still rolled back from the canary wave.
    /// </summary>
    [Fact]
    public async Task An_upstream_disturbance_on_every_node_during_the_canary_bake_holds_a_good_change_and_does_not_hide_a_bad_one()
    {
        var result = await PlayAsync("f");

        Assert.Equal(["completed", "rolled-back"], result.Outcomes.Select(o => o.State));
        Assert.All(result.Outcomes, o => Assert.NotNull(o.DisturbedAt));
        var good = result.Good.Single();
        Assert.Null(good.Halt);
        Assert.Equal(result.Consumers, good.EverApplied);
        // The disturbance was seen: the canary wave waited it out as inconclusive instead of passing or failing on it.
        Assert.InRange(good.Inconclusive, 1, int.MaxValue);
        var bad = result.Bad.Single();
        Assert.Equal((ReplayScenario.PlanName, "canary", result.Canaries), (bad.Plan, bad.FirstWaveName, bad.FirstWaveTargeted));
        Assert.InRange(bad.EverApplied, 1, bad.FirstWaveTargeted);
    }

    [Fact]
    public async Task A_bad_change_of_one_unit_entering_its_canary_wave_on_nodes_a_good_change_of_another_unit_is_baking_on_takes_the_blame_alone()
    {
        var scenario = Replays.Named("g", ReplayScale.Ci);
        Assert.Contains(FleetLayout.Lay(scenario.Shape).Nodes, n => n.IsCanary && n.Labels["proxy"] == "fl1");

        var result = await PlayAsync("g");

        Assert.Equal([(scenario.Unit, "completed"), (scenario.Overlap!.Unit, "rolled-back")], result.Outcomes.Select(o => (o.Unit, o.State)));
        var good = result.Good.Single();
        Assert.Null(good.Halt);
        Assert.Equal(result.Consumers, good.EverApplied);
        var bad = result.Bad.Single();
        Assert.Equal((ReplayScenario.PlanName, "canary", result.Canaries), (bad.Plan, bad.FirstWaveName, bad.FirstWaveTargeted));
        Assert.InRange(bad.EverApplied, 1, bad.FirstWaveTargeted);
    }

    /// <summary>Plays the replay on a fresh server and checks every promise of <see cref="ReplayResult.Problems"/>.</summary>
    private async Task<ReplayResult> PlayAsync(string id)
    {
        var scenario = Replays.Named(id, ReplayScale.Ci);
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Rollouts__TickMilliseconds"] = ((int)ReportInterval.TotalMilliseconds).ToString(),
        });
        using var agent = server.Client(null);
        using var ci = server.Client("ci");
        using var reviewer = server.Client("reviewer");
        var fleet = new Fleet(new FleetOptions
        {
            Shape = scenario.Shape,
            Consumers = scenario.Consumers,
            OtherUnits = null,
            Token = ServerProcess.Tokens["agent"].Token,
            ReportInterval = ReportInterval,
        }, agent, TimeProvider.System);
        var log = new StringWriter();
        var runner = new ReplayRunner(fleet, new ControlPlane(ci, token: null), TimeProvider.System, log)
        {
            Approver = new ControlPlane(reviewer, token: null),
            SetupTimeout = TimeSpan.FromSeconds(90),
            ChangeTimeout = TimeSpan.FromSeconds(120),
            BetweenChanges = BetweenChanges,
        };

        var result = await runner.RunAsync(scenario, CancellationToken.None);

        output.WriteLine(log.ToString());
        output.WriteLine(result.Describe());
        var problems = result.Problems(SafeWithinIntervals);
        if (problems.Count > 0)
        {
            output.WriteLine("server log, last lines:");
            output.WriteLine(string.Join('\n', server.Log.Split('\n').TakeLast(80)));
        }
        Assert.True(problems.Count == 0, $"{string.Join("\n", problems)}\n{result.Describe()}");
        Assert.Equal(scenario.ChangeCount, result.Outcomes.Count);
        // Every rollout on the replay plan was judged again under the three sets (Problems held the "as run" one to
        // what it recorded); what each would have done is the backtest table of docs/performance.md.
        Assert.All(result.Outcomes.Where(o => o is { Refused: false, Plan: ReplayScenario.PlanName }),
            o => Assert.Equal(ReplayBacktest.Sets.Select(s => s.Name), o.Backtest.Select(b => b.Set)));
        return result;
    }
}
