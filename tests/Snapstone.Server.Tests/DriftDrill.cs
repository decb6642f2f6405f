using System.Diagnostics;
using System.Text.Json.Nodes;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>What drift tests do to a server: define a unit only their nodes consume, and report for those nodes as agents do.</summary>
public sealed class DriftDrill(ServerProcess server)
{
    private readonly HttpClient _ci = server.Client("ci");
    private readonly HttpClient _agent = server.Client("agent");

    /// <summary>A unit consumed only by nodes labelled with its own name, with v1 (the LKG) and v2 (valid, never rolled out).</summary>
    public async Task<(string Unit, string Sha1, string Sha2)> UnitWithTwoPackages(string plan = "standard")
    {
        var unit = TestStorage.Unique("unit");
        var (defined, body) = await _ci.Put($"/v1/units/{unit}", new { owner = "edge", plan, targets = new { labels = new Dictionary<string, string> { ["drift-test"] = unit } } });
        Assert.True(defined == 200, body.ToJsonString());
        var (_, v1) = await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"v\": 1}" });
        await _ci.RollOutFirstAsync(unit);
        var (_, v2) = await _ci.Post($"/v1/units/{unit}/packages", new { content = "{\"v\": 2}" });
        return (unit, (string)v1["sha256"]!, (string)v2["sha256"]!);
    }

    /// <summary>One report of a node running <paramref name="version"/> (hash <paramref name="sha"/>) of the unit, every second; answers the desired state.</summary>
    public async Task<JsonNode> Report(string node, string pop, string unit, long version, string sha, string tier = "edge")
    {
        var (status, body) = await _agent.Post($"/v1/nodes/{node}/report", new
        {
            pop,
            tier,
            labels = new Dictionary<string, string> { ["drift-test"] = unit },
            applied = new Dictionary<string, object> { [unit] = new { version, sha256 = sha, status = "ok" } },
            metrics = new { requests = 1000, errors = 0, p99LatencyMs = 20.0, crashes = 0 },
            intervalSeconds = 1,
        });
        Assert.True(status == 200, body.ToJsonString());
        return body;
    }
}

/// <summary>Runs <paramref name="round"/> when a report interval (1 s) has passed since the last: the agents' pace, however often the test looks.</summary>
public sealed class Agents(Func<Task> round)
{
    private readonly Stopwatch _since = new();

    public async Task Tick()
    {
        if (!_since.IsRunning || _since.Elapsed >= TimeSpan.FromSeconds(1))
        {
            _since.Restart();
            await round();
        }
    }
}
