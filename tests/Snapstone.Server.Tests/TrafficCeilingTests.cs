using System.Globalization;
using System.Text.RegularExpressions;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// A node that claims more traffic than any edge server serves is refused at the gateway, before its claim can reach a
/// health window: in its own slot of a batch (the rest of the batch is answered) and with a 400 naming
/// <c>metrics.requests</c> and the limit for a single report. Each refusal is counted in <c>snapstone.reports.refused</c>.
/// </summary>
public sealed partial class TrafficCeilingTests : IAsyncLifetime
{
    private ServerProcess _server = null!;

    public async Task InitializeAsync() =>
        _server = await ServerProcess.StartAsync(new Dictionary<string, string> { ["Snapstone__Nodes__MaxRequestsPerSecond"] = "1000" });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task The_liars_report_is_refused_in_its_slot_and_counted_and_the_honest_ones_are_accepted()
    {
        var agent = _server.Client("agent");
        var reader = _server.Client("reader");
        var pop = TestStorage.Unique("pop");
        var (honest, atTheLimit, liar) = (TestStorage.Unique("node"), TestStorage.Unique("node"), TestStorage.Unique("node"));
        var refusedBefore = await RefusedInvalid(reader);
        var body = $$"""
        { "reports": [
            { "node": "{{honest}}", "pop": "{{pop}}", "tier": "canary", "intervalSeconds": 1, "metrics": { "requests": 800, "errors": 2, "p99LatencyMs": 5, "crashes": 0 } },
            { "node": "{{liar}}", "pop": "{{pop}}", "tier": "canary", "intervalSeconds": 1, "metrics": { "requests": 9000000000000000, "errors": 0, "p99LatencyMs": 5, "crashes": 0 } },
            { "node": "{{atTheLimit}}", "pop": "{{pop}}", "tier": "canary", "intervalSeconds": 5, "metrics": { "requests": 5000, "errors": 0, "p99LatencyMs": 5, "crashes": 0 } }
        ] }
        """;

        using var response = await agent.PostAsync("/v1/reports", Http.Json(body));
        Assert.Equal(200, (int)response.StatusCode);
        var results = (await response.ReadJson())["results"]!.AsArray();

        Assert.Equal(3, results.Count);
        Assert.Equal([honest, liar, atTheLimit], results.Select(r => (string?)r!["node"]));
        Assert.Null(results[0]!["error"]);
        Assert.NotNull(results[0]!["desired"]);
        Assert.Equal("metrics.requests must be at most 1000 for intervalSeconds 1 (1000 a second; got 9000000000000000)", (string?)results[1]!["error"]);
        Assert.Null(results[1]!["desired"]);
        Assert.Null(results[2]!["error"]);
        Assert.NotNull(results[2]!["desired"]);

        Assert.Equal(404, (await reader.Get($"/v1/nodes/{liar}")).Status);
        var (_, seen) = await reader.Get($"/v1/nodes/{honest}");
        Assert.Equal(800, (long?)seen["lastMetrics"]!["requests"]);
        Assert.Equal(5000, (long?)(await reader.Get($"/v1/nodes/{atTheLimit}")).Body["lastMetrics"]!["requests"]);

        // The single endpoint: a 400 problem naming the field and the limit, and the node is not enrolled.
        using var single = await agent.PostAsync($"/v1/nodes/{liar}/report", Http.Json(
            $$"""{ "pop": "{{pop}}", "intervalSeconds": 2, "metrics": { "requests": 2001, "errors": 0, "p99LatencyMs": 5, "crashes": 0 } }"""));
        Assert.Equal(400, (int)single.StatusCode);
        var problem = await single.ReadJson();
        Assert.Equal("metrics.requests must be at most 2000 for intervalSeconds 2 (1000 a second; got 2001)", (string?)problem["detail"]);
        Assert.Equal(404, (await reader.Get($"/v1/nodes/{liar}")).Status);

        // Both refusals are in the refusal counter, as invalid reports.
        await Eventually.Until(() => RefusedInvalid(reader), n => n == refusedBefore + 2,
            $"snapstone_reports_refused_total{{reason=\"invalid\"}} to go from {refusedBefore} to {refusedBefore + 2} (the batch's liar and the single one)",
            TimeSpan.FromSeconds(10));
    }

    /// <summary>The sum of <c>snapstone_reports_refused_total{reason="invalid"}</c> in the server's <c>/metrics</c>.</summary>
    private static async Task<double> RefusedInvalid(HttpClient reader)
    {
        var text = await reader.GetStringAsync("/metrics");
        return RefusedLine().Matches(text)
            .Where(m => m.Groups["labels"].Value.Contains("reason=\"invalid\"", StringComparison.Ordinal))
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"^snapstone_reports_refused_total\{(?<labels>[^}]*)\} (?<value>\S+)", RegexOptions.Multiline)]
    private static partial Regex RefusedLine();
}

/// <summary>The default ceiling (10,000,000 a second) on the shared server: the lie of issue 12 is a 400.</summary>
[Collection(ServerCollection.Name)]
public sealed class DefaultTrafficCeilingTests(ServerFixture fixture)
{
    [Fact]
    public async Task Nine_quadrillion_requests_in_a_second_is_400_naming_the_default_limit()
    {
        var node = TestStorage.Unique("node");
        using var response = await fixture.Server.Client("agent").PostAsync($"/v1/nodes/{node}/report", Http.Json(
            """{ "pop": "ams01", "intervalSeconds": 1, "metrics": { "requests": 9000000000000000, "errors": 0, "p99LatencyMs": 5, "crashes": 0 } }"""));
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal("metrics.requests must be at most 10000000 for intervalSeconds 1 (10000000 a second; got 9000000000000000)",
            (string?)(await response.ReadJson())["detail"]);
        Assert.Equal(404, (await fixture.Server.Client("reader").Get($"/v1/nodes/{node}")).Status);
    }
}
