using System.Text;
using Snapstone.Domain.Incidents;
using Snapstone.Domain.Nodes;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>A cluster of its own: the fleet's drift counts every node, so no other test's nodes may be in it.</summary>
[CollectionDefinition(Name)]
public sealed class FleetDriftCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "fleet-drift";
}

/// <summary>The fleet's drift grain on real grains and storage, with fake time and the default thresholds (over 5 %, at least 3 nodes).</summary>
[Collection(FleetDriftCollection.Name)]
public sealed class FleetDriftTests(ClusterFixture fixture)
{
    [Fact]
    public async Task One_incident_survives_checks_and_a_restart_a_persons_resolution_holds_until_drift_clears_and_new_drift_opens_a_new_one()
    {
        var unit = TestStorage.Unique("unit");
        var labels = new Dictionary<string, string> { ["fleet-drift-test"] = unit };
        var units = fixture.Client.GetGrain<IUnitGrain>(unit);
        await units.Define(new UnitDefinition { Owner = "edge", Targets = new UnitTargets(labels) }, "ci");
        var v1 = (await units.CreatePackage(new PackageDraft { Content = Encoding.UTF8.GetBytes("one") }, "ci")).Record.Sha256;
        await fixture.CompleteRollout(unit, 1);
        var v2 = (await units.CreatePackage(new PackageDraft { Content = Encoding.UTF8.GetBytes("two") }, "ci")).Record.Sha256;
        var pops = new[] { TestStorage.Unique("pop"), TestStorage.Unique("pop") };
        var nodes = pops.SelectMany(pop => Enumerable.Range(1, 5).Select(i => (Pop: pop, Node: $"{pop}-n{i}"))).ToList();
        var drifting = nodes.Where(n => n.Node.EndsWith("-n1", StringComparison.Ordinal) || n.Node == $"{pops[0]}-n2").Select(n => n.Node).ToHashSet();
        var fleet = fixture.Client.GetGrain<IFleetDriftGrain>(IFleetDriftGrain.Key);

        // Every node reports (the drifting ones v2, which they are never told to run), past the grace, then each PoP is scanned and the fleet checked.
        async Task<FleetDrift> Round(bool drift)
        {
            foreach (var (pop, node) in nodes)
            {
                var (version, sha) = drift && drifting.Contains(node) ? (2L, v2) : (1L, v1);
                await fixture.Client.GetGrain<INodeHealthGrain>(node).Report(new NodeReport
                {
                    Node = node, Pop = pop, Tier = "edge", Labels = labels,
                    Applied = new Dictionary<string, AppliedPackage> { [unit] = new() { Version = version, Sha256 = sha } },
                    Metrics = new NodeMetrics { Requests = 100 },
                });
            }
            fixture.Time.Advance(TimeSpan.FromSeconds(3));
            foreach (var pop in pops)
            {
                await fixture.Client.GetGrain<IDriftGrain>(pop).Scan();
            }
            return await fleet.Check();
        }
        async Task<List<Incident>> DriftIncidents() =>
            [.. (await fixture.Client.GetGrain<IIncidentIndexGrain>(IIncidentIndexGrain.Key).List()).Where(i => i.Source == "drift")];

        Assert.Null((await Round(drift: false)).Incident);
        var first = await Round(drift: true);
        Assert.Equal((2, 10, 3, 3, 0.3), (first.Pops, first.Counts.Nodes, first.Counts.Affected, first.Counts.Drifted, first.Counts.Share));
        var id = Assert.IsType<string>(first.Incident);

        // Checks with the same share, and a fresh activation of the fleet grain, keep the one incident as it is.
        await fleet.Check();
        await fixture.Cluster.DeactivateAsync(fleet);
        await fixture.Cluster.WaitForDeactivationAsync(fleet);
        Assert.Equal(id, (await Round(drift: true)).Incident);
        var incident = Assert.Single(await DriftIncidents());
        Assert.Equal((id, IncidentStatus.Detected, IncidentSeverity.Sev2, 1), (incident.Id, incident.Status, incident.Severity, incident.Updates.Count));
        Assert.Equal([unit], incident.Units);

        // A person resolves it while the drift stays: no new incident until the drift has cleared.
        await fixture.Client.GetGrain<IIncidentWriterGrain>(id).Update(IncidentStatus.Resolved, "known: a staged migration", "oncall");
        Assert.Null((await Round(drift: true)).Incident);
        Assert.Null((await Round(drift: false)).Incident);
        Assert.Single(await DriftIncidents());

        // Drift after it cleared is news: a new incident.
        var again = await Round(drift: true);
        Assert.NotNull(again.Incident);
        Assert.NotEqual(id, again.Incident);
        Assert.Equal([again.Incident, id], (await DriftIncidents()).OrderByDescending(i => i.IsOpen).Select(i => i.Id));
    }
}
