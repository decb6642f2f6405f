using System.Text.Json;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>The default log holds what an operator needs; <c>Logging:Console:FormatterName=json</c> makes it one JSON object per line.</summary>
public sealed class LoggingTests
{
    [Fact]
    public async Task By_default_grain_placements_and_options_dumps_stay_out_of_the_log_and_the_servers_shape_is_in_it()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            // The server's own default; the test harness otherwise keeps servers quiet at Warning.
            ["Logging__LogLevel__Default"] = "Information",
        });
        await PlaceGrainsAsync(server);
        var log = server.Log;
        Assert.DoesNotContain("Polly", log);
        Assert.DoesNotContain("Orleans.Runtime.SiloOptionsLogger", log);
        Assert.DoesNotContain("Microsoft.AspNetCore.Routing", log);
        Assert.Contains("Started silo S127.0.0.1:", log);
        Assert.Contains($"silo port {server.SiloPort} and gateway port {server.GatewayPort} listen on 127.0.0.1 with no TLS", log);
    }

    [Fact]
    public async Task With_the_json_formatter_every_line_is_a_json_object_with_a_utc_timestamp()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Information",
            ["Logging__Console__FormatterName"] = "json",
        });
        await PlaceGrainsAsync(server);
        // The test harness marks each start of the process in its captured log ("--- <time>: starting …"); every other line is the server's.
        var lines = server.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("--- ", StringComparison.Ordinal)).ToArray();
        Assert.True(lines.Length > 5, $"only {lines.Length} log lines");
        foreach (var line in lines)
        {
            using var entry = JsonDocument.Parse(line);
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", entry.RootElement.GetProperty("Timestamp").GetString());
            Assert.False(string.IsNullOrEmpty(entry.RootElement.GetProperty("Category").GetString()));
            Assert.False(string.IsNullOrEmpty(entry.RootElement.GetProperty("LogLevel").GetString()));
        }
        Assert.Contains(lines, l => l.Contains("\"Category\":\"Snapstone.Hosting\"", StringComparison.Ordinal));
    }

    /// <summary>Units defined and nodes reported: each activates grains, which Orleans places through its Polly pipeline.</summary>
    private static async Task PlaceGrainsAsync(ServerProcess server)
    {
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(200, (await server.Client("ci").Put($"/v1/units/{TestStorage.Unique("unit")}", new { owner = "edge" })).Status);
            Assert.Equal(200, (await server.Client("agent").Post($"/v1/nodes/{TestStorage.Unique("node")}/report", new { pop = "ams01" })).Status);
        }
    }
}
