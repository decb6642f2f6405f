using System.Text.Json.Nodes;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// A server of its own (drift incidents are about the whole fleet, so no other test's nodes may count): scans
/// every second, pages above 25 % and at least 2 nodes, excludes after 3 attempts, resolves incidents after 3 s of quiet.
/// </summary>
public sealed class DriftIncidentServerFixture : IAsyncLifetime
{
    public ServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Drift__ScanSeconds"] = "1",
            ["Snapstone__Drift__IncidentShare"] = "0.25",
            ["Snapstone__Drift__IncidentMinNodes"] = "2",
            ["Snapstone__Drift__MaxAttempts"] = "3",
            ["Snapstone__Incidents__QuietMinutes"] = "0.05",
        });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Fleet drift end to end: counts in <c>GET /v1/fleet</c>, one drift incident in <c>GET /v1/incidents</c>, and its settling.</summary>
public sealed class DriftIncidentTests(DriftIncidentServerFixture fixture) : IClassFixture<DriftIncidentServerFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly HttpClient _reader = fixture.Server.Client("reader");
    private readonly DriftDrill _drill = new(fixture.Server);

    private async Task<JsonNode> FleetDrift()
    {
        var (status, body) = await _reader.Get("/v1/fleet");
        Assert.True(status == 200, body.ToJsonString());
        return body["drift"]!;
    }

    private async Task<List<JsonNode>> DriftIncidents()
    {
        var (status, body) = await _reader.Get("/v1/incidents");
        Assert.True(status == 200, body.ToJsonString());
        return [.. body["incidents"]!.AsArray().Select(i => i!).Where(i => (string?)i["source"] == "drift")];
    }

    private static (int, int, int, int, int, double) Counts(JsonNode drift) =>
        ((int)drift["drifted"]!, (int)drift["outOfBand"]!, (int)drift["stale"]!, (int)drift["excluded"]!, (int)drift["affected"]!, (double)drift["share"]!);

    [Fact]
    public async Task Drift_over_the_share_opens_one_incident_naming_share_and_unit_counts_show_in_the_fleet_and_convergence_settles_it()
    {
        var (unit, sha1, sha2) = await _drill.UnitWithTwoPackages();
        var (ams, fra) = (TestStorage.Unique("pop"), TestStorage.Unique("pop"));
        var nodes = Enumerable.Range(1, 4).SelectMany(i => new[] { $"{ams}-n{i}", $"{fra}-n{i}" }).ToList();
        var foreign = new string('f', 64);
        var running = nodes.ToDictionary(n => n, _ => (Version: 1L, Sha: sha1));
        var agents = new Agents(async () =>
        {
            foreach (var node in nodes)
            {
                await _drill.Report(node, node.StartsWith(ams, StringComparison.Ordinal) ? ams : fra, unit, running[node].Version, running[node].Sha);
            }
        });
        async Task<JsonNode> FleetWhen(Func<JsonNode, bool> done, string what) =>
            await Eventually.Until(async () => { await agents.Tick(); return await FleetDrift(); }, done, what, Patience);

        await FleetWhen(d => (int)d["nodes"]! == 8 && (int)d["pops"]! == 2 && (int)d["affected"]! == 0, "8 converged nodes in 2 PoPs to be counted");

        // One drifted node of eight (12.5 %) is counted, but is under the 25 % threshold.
        running[$"{ams}-n1"] = (2, sha2);
        var one = await FleetWhen(d => (int)d["drifted"]! == 1, "one drifted node in the fleet's drift");
        Assert.Equal((1, 0, 0, 1, 0.125), ((int)one["drifted"]!, (int)one["outOfBand"]!, (int)one["stale"]!, (int)one["affected"]!, (double)one["share"]!));
        Assert.Empty(await DriftIncidents());

        // Two drifted and one out of band: 3 of 8 (37.5 %) opens one incident.
        running[$"{ams}-n2"] = (2, sha2);
        running[$"{fra}-n1"] = (1, foreign);
        var opened = await Eventually.Until(async () => { await agents.Tick(); return await DriftIncidents(); }, i => i.Count > 0, "a drift incident", Patience);
        var incident = Assert.Single(opened);
        var id = (string)incident["id"]!;
        Assert.Equal(("Drift on 37.5% of the fleet", "detected", "sev2"), ((string?)incident["title"], (string?)incident["status"], (string?)incident["severity"]));
        Assert.Equal([unit], incident["units"]!.AsArray().Select(u => (string)u!));
        Assert.Equal($"3 of 8 node(s) (37.5%) drifted or out of band (2 drifted, 1 out of band), over the 25% threshold; units: {unit} (3)",
            (string?)Assert.Single(incident["updates"]!.AsArray())!["message"]);

        // The fleet shows it, and the three nodes are excluded after three attempts each (the out-of-band one too: it never runs its desired hash).
        var drift = await FleetWhen(d => (int)d["excluded"]! == 3, "the three nodes to be excluded");
        Assert.Equal((2, 1, 0, 3, 3, 0.375), Counts(drift));
        Assert.Equal((3, id, 0.25, 2), ((int?)drift["units"]![unit], (string?)drift["incident"], (double?)drift["incidentShare"], (int?)drift["incidentMinNodes"]));

        // Many checks later, still one incident with one update: an unchanged share is not news.
        incident = Assert.Single(await DriftIncidents());
        Assert.Single(incident["updates"]!.AsArray());

        // A fourth node (50 %) moves the share by half the threshold: one update on the same incident.
        running[$"{fra}-n2"] = (1, foreign);
        var updated = await Eventually.Until(async () => { await agents.Tick(); return await DriftIncidents(); },
            i => i.Count != 1 || i[0]["updates"]!.AsArray().Count > 1, "an update of the drift incident", Patience);
        incident = Assert.Single(updated);
        Assert.Equal(id, (string?)incident["id"]);
        Assert.StartsWith("now 4 of 8 node(s) (50%) drifted or out of band (2 drifted, 2 out of band)", (string?)incident["updates"]![1]!["message"]);

        // Every node converges: monitoring, then resolved by the incident's quiet period.
        foreach (var node in nodes)
        {
            running[node] = (1, sha1);
        }
        var settled = await Eventually.Until(async () => { await agents.Tick(); return await DriftIncidents(); },
            i => i.Count != 1 || (string?)i[0]["status"] == "resolved", "the drift incident to resolve", Patience);
        incident = Assert.Single(settled);
        var updates = incident["updates"]!.AsArray();
        // The nodes converge one report at a time: a check that lands half way may see the share move by half the
        // threshold again while still over it, which is news (another "detected" update) — then monitoring, then resolved.
        var statuses = updates.Select(u => (string)u!["status"]!).ToList();
        Assert.Equal(["monitoring", "resolved"], statuses[^2..]);
        Assert.True(statuses.Count >= 4 && statuses[..^2].All(s => s == "detected"), string.Join(", ", statuses));
        Assert.StartsWith("drift back under the 25% threshold: ", (string?)updates[^2]!["message"]);
        Assert.NotNull((string?)incident["resolvedAt"]);

        var calm = await FleetWhen(d => (string?)d["incident"] is null, "the fleet to forget the resolved incident");
        Assert.Equal((0, 0, 0, 0, 0, 0.0), Counts(calm));
    }
}
