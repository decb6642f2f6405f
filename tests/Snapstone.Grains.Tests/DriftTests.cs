using System.Text;
using Snapstone.Domain.Drift;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Plans;
using Snapstone.Domain.Rollouts;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>Drift on real grains and storage, with fake time: grace, attempts, exclusion, scans and stuck waves.</summary>
[Collection(ClusterCollection.Name)]
public sealed class DriftTests(ClusterFixture fixture)
{
    private static readonly string Foreign = new('f', 64);

    private async Task<(string Unit, DesiredPackage V1, DesiredPackage V2, Dictionary<string, string> Labels)> UnitWithTwoPackages()
    {
        var (unit, v1, v2, labels) = await fixture.UnitWithTwoPackages("drift-test");
        return (unit, v1, v2, labels);
    }

    private static NodeReport Report(string node, string pop, Dictionary<string, string> labels, string unit, long version, string sha, string tier = "edge") => new()
    {
        Node = node,
        Pop = pop,
        Tier = tier,
        Labels = labels,
        Applied = new Dictionary<string, AppliedPackage> { [unit] = new() { Version = version, Sha256 = sha } },
        Metrics = new NodeMetrics { Requests = 1000, Errors = 1, P99LatencyMs = 20 },
    };

    private UnitDriftFacts FactsOf(NodeDriftFacts? node, string unit) =>
        Assert.Single(Assert.IsType<NodeDriftFacts>(node).Units, u => u.Unit == unit);

    [Fact]
    public async Task A_node_on_the_wrong_package_is_drifted_after_the_grace_counts_attempts_and_leaves_the_scan_once_it_converges()
    {
        var (unit, v1, v2, labels) = await UnitWithTwoPackages();
        var pop = TestStorage.Unique("pop");
        var (node, good) = ($"{pop}-n1", $"{pop}-n2");
        var grain = fixture.Client.GetGrain<INodeFanOutGrain>(node);
        var drift = fixture.Client.GetGrain<IDriftGrain>(pop);
        var start = fixture.Time.GetUtcNow();

        await fixture.Client.GetGrain<INodeFanOutGrain>(good).Report(Report(good, pop, labels, unit, 1, v1.Sha256));
        var desired = await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256));
        Assert.Equal(v1, desired.Units[unit]);
        var first = FactsOf(await grain.DriftFacts(), unit);
        Assert.Equal((start, 0), (first.DivergedSince, first.Attempts));
        Assert.DoesNotContain((await drift.Scan()).Drifted, e => e.Unit == unit);

        // Within the grace (two 1-s report intervals): diverging, not listed, no attempt counted.
        fixture.Time.Advance(TimeSpan.FromSeconds(2));
        await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256));
        Assert.Equal(0, FactsOf(await grain.DriftFacts(), unit).Attempts);
        Assert.DoesNotContain((await drift.Scan()).Drifted, e => e.Unit == unit);

        // Past the grace: every report re-asserts the desired state and counts one attempt.
        for (var i = 1; i <= 3; i++)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(v1, (await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256))).Units[unit]);
        }
        var scan = await drift.Scan();
        var entry = Assert.Single(scan.Drifted, e => e.Unit == unit);
        Assert.Equal(new DriftEntry
        {
            Node = node, Pop = pop, Unit = unit, Kind = DriftKind.Drifted, DesiredVersion = 1, AppliedVersion = 2,
            AppliedSha256 = v2.Sha256, Since = start, Attempts = 3, Excluded = false,
        }, entry);
        Assert.Equal((fixture.Time.GetUtcNow(), 2), (scan.ScannedAt, scan.Nodes));

        await grain.Report(Report(node, pop, labels, unit, 1, v1.Sha256));
        Assert.Null(FactsOf(await grain.DriftFacts(), unit).DivergedSince);
        Assert.DoesNotContain((await drift.Scan()).Drifted, e => e.Unit == unit);
    }

    [Fact]
    public async Task A_foreign_hash_is_out_of_band_at_once_and_a_silent_node_goes_stale()
    {
        var (unit, v1, _, labels) = await UnitWithTwoPackages();
        var pop = TestStorage.Unique("pop");
        var (tampered, silent) = ($"{pop}-n1", $"{pop}-n2");
        var start = fixture.Time.GetUtcNow();
        await fixture.Client.GetGrain<INodeFanOutGrain>(silent).Report(Report(silent, pop, labels, unit, 1, v1.Sha256));
        await fixture.Client.GetGrain<INodeFanOutGrain>(tampered).Report(Report(tampered, pop, labels, unit, 1, Foreign));

        var scan = await fixture.Client.GetGrain<IDriftGrain>(pop).Scan();
        var entry = Assert.Single(scan.Drifted, e => e.Unit == unit);
        Assert.Equal((tampered, DriftKind.OutOfBand, 1L, 1L, Foreign, start), (entry.Node, entry.Kind, entry.DesiredVersion, entry.AppliedVersion, entry.AppliedSha256, entry.Since));

        fixture.Time.Advance(TimeSpan.FromSeconds(31));
        await fixture.Client.GetGrain<INodeFanOutGrain>(tampered).Report(Report(tampered, pop, labels, unit, 1, v1.Sha256));
        var later = await fixture.Client.GetGrain<IDriftGrain>(pop).Scan();
        Assert.Equal(fixture.Time.GetUtcNow(), later.ScannedAt);
        var stale = Assert.Single(later.Drifted, e => e.Unit == unit);
        Assert.Equal((silent, DriftKind.Stale, start), (stale.Node, stale.Kind, stale.Since));

        // Within the scan interval, Latest() answers the last scan instead of asking every node again.
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(later.ScannedAt, (await fixture.Client.GetGrain<IDriftGrain>(pop).Latest()).ScannedAt);
    }

    [Fact]
    public async Task A_node_drifted_past_its_attempts_is_excluded_never_counts_as_converged_and_defers_new_assignments_until_it_converges()
    {
        var (unit, v1, v2, labels) = await UnitWithTwoPackages();
        var pop = TestStorage.Unique("pop");
        var node = $"{pop}-n1";
        var grain = fixture.Client.GetGrain<INodeFanOutGrain>(node);

        // v2 is a package Snapstone issued, but the node should run v1: drifted, and after 10 attempts excluded.
        await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256));
        fixture.Time.Advance(TimeSpan.FromSeconds(2));
        for (var i = 1; i <= 9; i++)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(1));
            await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256));
        }
        Assert.True((await grain.Observe(unit, v2)).On, "9 attempts: not yet excluded, so it counts as running what it runs");
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256));

        var excluded = await grain.Observe(unit, v2);
        Assert.False(excluded.On, "an excluded node never counts as running the package");
        Assert.False(excluded.Sample.Reported);
        var entry = Assert.Single((await fixture.Client.GetGrain<IDriftGrain>(pop).Scan()).Drifted, e => e.Unit == unit);
        Assert.Equal((10, true), (entry.Attempts, entry.Excluded));

        // The state survives deactivation: exclusion is written when it starts.
        await fixture.Cluster.DeactivateAsync(grain);
        await fixture.Cluster.WaitForDeactivationAsync(grain);
        Assert.False((await grain.Observe(unit, v2)).On);

        // A wave assignment waits while the node is excluded ...
        await grain.Assign(new NodeAssignment("r-00000000000000aa", unit, v2, new Gates()));
        Assert.Equal(v1, (await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256))).Units[unit]);

        // ... and is taken as soon as the node converges on what it was told.
        var converged = await grain.Report(Report(node, pop, labels, unit, 1, v1.Sha256));
        Assert.Equal(v2, converged.Units[unit]);
        var facts = FactsOf(await grain.DriftFacts(), unit);
        Assert.Equal((fixture.Time.GetUtcNow(), 0), (facts.DivergedSince, facts.Attempts));
    }

    [Fact]
    public async Task A_node_that_takes_a_deferred_assignment_and_crashes_on_it_is_sent_back_in_the_answer_to_that_report()
    {
        var (unit, v1, v2, labels) = await UnitWithTwoPackages();
        var pop = TestStorage.Unique("pop");
        var node = $"{pop}-n1";
        var grain = fixture.Client.GetGrain<INodeFanOutGrain>(node);
        await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256));
        fixture.Time.Advance(TimeSpan.FromSeconds(2));
        for (var i = 0; i < 10; i++)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(1));
            await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256));
        }
        await grain.Assign(new NodeAssignment("r-00000000000000ab", unit, v2, new Gates(), v1));

        // The deferral is stored: the grain that takes it is a fresh activation reading it back.
        await fixture.Cluster.DeactivateAsync(grain);
        await fixture.Cluster.WaitForDeactivationAsync(grain);
        Assert.Equal(v2, (await grain.Report(Report(node, pop, labels, unit, 1, v1.Sha256))).Units[unit]);

        var crashed = await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256) with
        {
            Metrics = new NodeMetrics { Requests = 100, Errors = 100, P99LatencyMs = 20, Crashes = 1 },
        });
        Assert.Equal(v1, crashed.Units[unit]);
    }

    [Fact]
    public async Task A_rollback_drops_an_assignment_the_excluded_node_deferred()
    {
        var (unit, v1, v2, labels) = await UnitWithTwoPackages();
        var pop = TestStorage.Unique("pop");
        var node = $"{pop}-n1";
        var grain = fixture.Client.GetGrain<INodeFanOutGrain>(node);
        await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256));
        fixture.Time.Advance(TimeSpan.FromSeconds(2));
        for (var i = 0; i < 10; i++)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(1));
            await grain.Report(Report(node, pop, labels, unit, 2, v2.Sha256));
        }
        await grain.Assign(new NodeAssignment("r-00000000000000bb", unit, v2, new Gates()));

        await grain.ReturnTo("r-00000000000000bb", unit, v1, v2);

        Assert.Equal(v1, (await grain.Report(Report(node, pop, labels, unit, 1, v1.Sha256))).Units[unit]);
        Assert.Equal(v1, (await grain.Report(Report(node, pop, labels, unit, 1, v1.Sha256))).Units[unit]);
    }

    [Fact]
    public async Task A_wave_with_a_node_that_never_converges_pauses_at_the_deadline_naming_it()
    {
        var (unit, v1, v2, labels) = await UnitWithTwoPackages();
        var pop = TestStorage.Unique("pop");
        var (good, stuck) = ($"{pop}-n1", $"{pop}-n2");
        async Task ReportBoth()
        {
            var desired = (await fixture.Client.GetGrain<INodeFanOutGrain>(good).GetView())?.Desired.GetValueOrDefault(unit) ?? v1;
            await fixture.Client.GetGrain<INodeFanOutGrain>(good).Report(Report(good, pop, labels, unit, desired.Version, desired.Sha256, "canary"));
            await fixture.Client.GetGrain<INodeFanOutGrain>(stuck).Report(Report(stuck, pop, labels, unit, 1, v1.Sha256, "canary"));
        }
        await ReportBoth();
        var plan = new Plan([new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 10 }, new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 10 }]);
        var rollout = await fixture.StartRollout(unit, v1, v2, plan);

        await ReportBoth();
        await rollout.Wake();
        var applying = (await rollout.Get())!.Status;
        Assert.Equal((WaveState.Applying, 2, 1), (applying.Waves[0].State, applying.Waves[0].Targeted, applying.Waves[0].Applied));

        fixture.Time.Advance(TimeSpan.FromSeconds(601));
        await ReportBoth();
        await rollout.Wake();

        var paused = (await rollout.Get())!.Status;
        Assert.Equal(RolloutState.Paused, paused.State);
        Assert.Equal(WaveState.Applying, paused.Waves[0].State);
        Assert.EndsWith($"(applied 1, rejected 0, need 2); not converged: {stuck}", paused.PausedReason);
        Assert.StartsWith("wave 'canary' stuck applying: 1 of 2 node(s) have not converged after ", paused.PausedReason);
        await rollout.Abort("ci", "cleaning up");
    }
}
