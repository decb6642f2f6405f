using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Snapstone.Domain.Nodes;
using Snapstone.Grains.Nodes;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// A node grain loads its row lazily: a report's node that its PoP does not know is taken as fresh without a read, and
/// its first write (an insert) finds a stored row if there is one; every other node reads its row before answering.
/// What was stored is read straight from the grains table; with every enrolment-write slot held, a fresh node's row is
/// written behind, so the answer cannot have waited on storage.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class NodeRowTests(ClusterFixture fixture)
{
    private static NodeReport Report(string node, string pop, string tier = "edge") => new()
    {
        Node = node,
        Pop = pop,
        Region = "eu-west",
        Tier = tier,
        Labels = new Dictionary<string, string> { ["proxy"] = "fl2" },
        Metrics = new NodeMetrics { Requests = 100, Errors = 1, P99LatencyMs = 30 },
    };

    [Fact]
    public async Task A_fresh_node_is_answered_before_its_row_is_stored_and_the_row_is_stored_behind()
    {
        var (node, pop) = (TestStorage.Unique("node"), TestStorage.Unique("pop"));
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);

        using (await HoldNodeRowWrites())
        {
            await grain.Report(Report(node, pop, "canary"));
            Assert.Null(await Stored(grain));
            Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(pop).Summary()).ByTier["canary"]);
        }

        var stored = await Eventually.Until(() => Stored(grain), s => s is not null, $"node {node}'s row to be written behind");
        Assert.Equal((pop, "canary", fixture.Time.GetUtcNow()), (stored!.Identity!.Pop, stored.Identity.Tier, stored.FirstSeenAt));
    }

    [Fact]
    public async Task A_node_its_pop_knows_reads_its_row_before_answering()
    {
        var (node, pop) = (TestStorage.Unique("node"), TestStorage.Unique("pop"));
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        await grain.Report(Report(node, pop, "canary"));
        await Eventually.Until(() => Stored(grain), s => s is not null, $"node {node}'s row to be stored");
        await Restart(grain);

        using (await HoldNodeRowWrites())
        {
            var moved = await Assert.ThrowsAsync<SnapstoneException>(() => grain.Report(Report(node, pop, "edge")));
            Assert.Equal(Domain.ProblemKind.Conflict, moved.Kind);
            Assert.Contains("is enrolled with tier 'canary'; this report says tier 'edge'", moved.Message);
        }
        Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(pop).Summary()).ByTier["canary"]);
    }

    [Fact]
    public async Task A_node_its_pop_forgot_keeps_its_stored_identity_a_report_changing_it_is_refused_and_one_keeping_it_rejoins()
    {
        var (node, pop) = (TestStorage.Unique("node"), TestStorage.Unique("pop"));
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        await grain.Report(Report(node, pop, "canary"));
        var enrolled = (await Eventually.Until(() => Stored(grain), s => s is not null, $"node {node}'s row to be stored"))!;
        await Restart(grain);
        await fixture.Client.GetGrain<IPopGrain>(pop).Unregister(node);
        fixture.Time.Advance(TimeSpan.FromMinutes(5));

        // Written through (a slot is free): the insert finds the stored row before the answer.
        var moved = await Assert.ThrowsAsync<SnapstoneException>(() => grain.Report(Report(node, pop, "edge")));
        Assert.Equal(Domain.ProblemKind.Conflict, moved.Kind);
        Assert.Contains("is enrolled with tier 'canary'; this report says tier 'edge'", moved.Message);
        Assert.Equal(0, (await fixture.Client.GetGrain<IPopGrain>(pop).Summary()).Nodes);

        await grain.Report(Report(node, pop, "canary"));
        Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(pop).Summary()).ByTier["canary"]);
        var view = (await grain.GetView())!;
        Assert.Equal(("canary", enrolled.FirstSeenAt), (view.Identity.Tier, view.FirstSeenAt));
        var stored = (await Stored(grain))!;
        Assert.Equal(("canary", enrolled.FirstSeenAt), (stored.Identity!.Tier, stored.FirstSeenAt));
    }

    [Fact]
    public async Task A_forgotten_node_answered_before_its_row_is_read_gets_its_stored_identity_back_and_leaves_the_pop_the_report_named()
    {
        var (node, pop, other) = (TestStorage.Unique("node"), TestStorage.Unique("pop"), TestStorage.Unique("pop"));
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        await grain.Report(Report(node, pop, "canary"));
        var enrolled = (await Eventually.Until(() => Stored(grain), s => s is not null, $"node {node}'s row to be stored"))!;
        await Restart(grain);
        await fixture.Client.GetGrain<IPopGrain>(pop).Unregister(node);

        using (await HoldNodeRowWrites())
        {
            // Every slot taken: the row is not read, nor written, before the answer.
            await grain.Report(Report(node, other, "edge"));
            Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(other).Summary()).Nodes);

            // A view waits for the row: the stored identity stands and the PoP the report named lets the node go.
            var view = (await grain.GetView())!;
            Assert.Equal((pop, "canary", enrolled.FirstSeenAt), (view.Identity.Pop, view.Identity.Tier, view.FirstSeenAt));
            Assert.Equal(0, (await fixture.Client.GetGrain<IPopGrain>(other).Summary()).Nodes);
            var moved = await Assert.ThrowsAsync<SnapstoneException>(() => grain.Report(Report(node, other, "edge")));
            Assert.Contains($"is enrolled with pop '{pop}', tier 'canary'; this report says pop '{other}', tier 'edge'", moved.Message);
        }

        await grain.Report(Report(node, pop, "canary"));
        Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(pop).Summary()).ByTier["canary"]);
        Assert.Equal(pop, (await Stored(grain))!.Identity!.Pop);
    }

    [Fact]
    public async Task A_restarted_node_reads_the_row_its_enrolment_stored()
    {
        var (node, pop) = (TestStorage.Unique("node"), TestStorage.Unique("pop"));
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        var enrolledAt = fixture.Time.GetUtcNow();
        using (await HoldNodeRowWrites())
        {
            await grain.Report(Report(node, pop, "canary"));
        }
        await Eventually.Until(() => Stored(grain), s => s is not null, $"node {node}'s row to be written behind");
        await Restart(grain);
        fixture.Time.Advance(TimeSpan.FromMinutes(1));

        var view = (await grain.GetView())!;
        Assert.Equal((pop, "canary", enrolledAt, 0L), (view.Identity.Pop, view.Identity.Tier, view.FirstSeenAt, view.ReportsReceived));
        await grain.Report(Report(node, pop, "canary"));
        Assert.Equal(enrolledAt, (await grain.GetView())!.FirstSeenAt);
        Assert.Equal(1, (await fixture.Client.GetGrain<IPopGrain>(pop).Summary()).Nodes);
    }

    [Fact]
    public async Task A_nodes_write_behind_waits_for_a_free_row_write_slot_and_is_written_once_one_frees()
    {
        var (unit, _, v2, labels) = await fixture.UnitWithTwoPackages("row-test");
        var pop = TestStorage.Unique("pop");
        var node = $"{pop}-n1";
        var grain = fixture.Client.GetGrain<INodeHealthGrain>(node);
        var wrong = new NodeReport
        {
            Node = node, Pop = pop, Tier = "edge", Labels = labels,
            Applied = new Dictionary<string, AppliedPackage> { [unit] = new() { Version = 2, Sha256 = v2.Sha256 } },
            Metrics = new NodeMetrics { Requests = 100, Errors = 1, P99LatencyMs = 30 },
        };
        await grain.Report(wrong);
        var enrolled = (await Eventually.Until(() => Stored(grain), s => s is not null, $"node {node}'s row to be stored"))!;
        Assert.Null(Snapstone.Domain.Drift.DriftRules.Durable(enrolled.Drift.Marks.GetValueOrDefault(unit), fixture.Time.GetUtcNow(), TimeSpan.FromSeconds(2), new Snapstone.Domain.Drift.DriftSettings()));

        using (await HoldNodeRowWrites())
        {
            // Past the grace the node's drift mark must survive a restart: a write behind, which waits for a slot.
            fixture.Time.Advance(TimeSpan.FromSeconds(3));
            await grain.Report(wrong);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (watch.Elapsed < TimeSpan.FromSeconds(2))
            {
                Assert.Equal(enrolled.Drift.LastReportAt, (await Stored(grain))!.Drift.LastReportAt);
                await Task.Delay(100);
            }
        }

        var written = await Eventually.Until(() => Stored(grain), s => s!.Drift.LastReportAt != enrolled.Drift.LastReportAt, $"node {node}'s drift mark to be written behind");
        Assert.Equal(fixture.Time.GetUtcNow(), written!.Drift.LastReportAt);
        Assert.True(written.Drift.Marks.ContainsKey(unit));
    }

    private async Task Restart(INodeHealthGrain grain)
    {
        await fixture.Cluster.DeactivateAsync(grain);
        await fixture.Cluster.WaitForDeactivationAsync(grain);
    }

    /// <summary>The node's row as the grains table holds it, or null when none is stored.</summary>
    private async Task<NodeState?> Stored(INodeHealthGrain grain)
    {
        var storage = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Grains);
        var row = new GrainState<NodeState>(new NodeState());
        await storage.ReadStateAsync("node", grain.GetGrainId(), row);
        return row.RecordExists ? row.State : null;
    }

    /// <summary>Every enrolment-write slot of the process, so that enrolments by report are written behind until disposed (or the slots' lease ends).</summary>
    private static async Task<IDisposable> HoldNodeRowWrites()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var slots = new List<IDisposable>();
        for (var i = 0; i < NodeRowWrites.Slots; i++)
        {
            slots.Add(await NodeRowWrites.Take(timeout.Token));
        }
        return new Held(slots);
    }

    private sealed class Held(List<IDisposable> slots) : IDisposable
    {
        public void Dispose() => slots.ForEach(s => s.Dispose());
    }
}
