using System.Diagnostics;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging.Abstractions;
using Snapstone.Server.Hosting;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>Liveness, readiness and startup as an orchestrator probes them, and graceful shutdown on SIGTERM.</summary>
public sealed class HealthTests
{
    private static readonly TimeSpan OneSecond = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task The_probes_need_no_token_and_readiness_names_membership_and_storage()
    {
        await using var server = await ServerProcess.StartAsync();
        using var anonymous = server.Client(null);
        var (live, _) = await anonymous.Get(ServiceDefaults.LivenessPath);
        var (started, startup) = await anonymous.Get(ServiceDefaults.StartupPath);
        var (ready, readiness) = await anonymous.Get(ServiceDefaults.ReadinessPath);
        Assert.Equal((200, 200, 200), (live, started, ready));
        Assert.StartsWith("joined the cluster as S127.0.0.1:", (string?)startup["checks"]!["started"]!["description"]);
        Assert.StartsWith("active in membership as S127.0.0.1:", (string?)readiness["checks"]!["silo"]!["description"]);
        Assert.Matches("^tables and blobs answered in [0-9]+ ms$", (string?)readiness["checks"]!["storage"]!["description"]);
    }

    [Fact]
    public async Task While_storage_is_stalled_readiness_is_false_and_every_probe_answers_within_a_second()
    {
        var folder = Path.Combine(Path.GetTempPath(), "snapstone-tests", TestStorage.Unique("stalled"));
        await using var azurite = await EmbeddedAzurite.StartAsync(folder, new StorageOptions().AzuriteVersion, NullLogger.Instance);
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Storage__ConnectionString"] = azurite.ConnectionString,
        });
        using var anonymous = server.Client(null);
        anonymous.Timeout = TimeSpan.FromSeconds(5);
        Assert.Equal(200, (await Probe(anonymous, ServiceDefaults.ReadinessPath)).Status);

        Signals.Send(azurite.Pid, Signals.Stop);
        try
        {
            var stalled = await Eventually.Until(() => Probe(anonymous, ServiceDefaults.ReadinessPath), p => p.Status == 503,
                "readiness to turn false while storage is stopped", TimeSpan.FromSeconds(20));
            Assert.StartsWith("storage does not answer: no answer within 3 s", (string?)stalled.Body["checks"]!["storage"]!["description"]);
            Assert.Equal("healthy", (string?)stalled.Body["checks"]!["silo"]!["status"]);
            // Storage stays stopped: every probe keeps answering at once, readiness false, liveness true.
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(503, (await Probe(anonymous, ServiceDefaults.ReadinessPath)).Status);
                Assert.Equal(200, (await Probe(anonymous, ServiceDefaults.LivenessPath)).Status);
                Assert.Equal(200, (await Probe(anonymous, ServiceDefaults.StartupPath)).Status);
                await Task.Delay(300);
            }
        }
        finally
        {
            Signals.Send(azurite.Pid, Signals.Continue);
        }
        await Eventually.Until(async () => (await Probe(anonymous, ServiceDefaults.ReadinessPath)).Status == 200,
            "readiness to turn true again after storage resumed", TimeSpan.FromSeconds(20));
        Assert.Contains("Storage does not answer", server.Log);
        Assert.Contains("Storage answers again", server.Log);
    }

    [Fact]
    public async Task Sigterm_turns_readiness_false_at_once_then_hands_the_grains_off_and_leaves_membership_before_the_process_exits()
    {
        var cluster = new Dictionary<string, string>
        {
            ["Snapstone__Cluster__Clustering"] = "AzureTable",
            ["Snapstone__Cluster__ServiceId"] = TestStorage.Unique("svc"),
            ["Snapstone__Cluster__ClusterId"] = TestStorage.Unique("cluster"),
        };
        await using var leaving = await ServerProcess.StartAsync(new Dictionary<string, string>(cluster) { ["Snapstone__Shutdown__DrainSeconds"] = "3" });
        await using var staying = await ServerProcess.StartAsync(cluster);
        var units = Enumerable.Range(0, 8).Select(_ => TestStorage.Unique("unit")).ToList();
        foreach (var unit in units)
        {
            Assert.Equal(200, (await leaving.Client("ci").Put($"/v1/units/{unit}", new { owner = "edge" })).Status);
        }

        using var anonymous = leaving.Client(null);
        anonymous.Timeout = TimeSpan.FromSeconds(5);
        var exit = leaving.TerminateAsync(TimeSpan.FromSeconds(45));
        // During the drain the process still serves: readiness says why it is false, liveness is still true.
        var draining = await Eventually.Until(() => Probe(anonymous, ServiceDefaults.ReadinessPath), p => p.Status == 503,
            "readiness to turn false after SIGTERM", TimeSpan.FromSeconds(3));
        Assert.Equal("shutting down", (string?)draining.Body["checks"]!["silo"]!["description"]);
        Assert.Equal(200, (await Probe(anonymous, ServiceDefaults.LivenessPath)).Status);

        Assert.Equal(0, await exit);
        Assert.Contains("grains handed off", leaving.Log);
        // Gone from membership by the time the process exits (a crashed silo stays Active until probes time out
        // and the others vote it dead, seconds later).
        var row = await MembershipRow(cluster["Snapstone__Cluster__ClusterId"], leaving.SiloPort);
        Assert.Equal("Dead", row.GetString("Status"));

        // The silo that stayed serves every grain the other one hosted, without waiting for membership.
        foreach (var unit in units)
        {
            var clock = Stopwatch.StartNew();
            var (status, _) = await staying.Client("reader").Get($"/v1/units/{unit}");
            Assert.Equal(200, status);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"unit {unit} took {clock.Elapsed.TotalSeconds:0.0} s to be served by the remaining silo");
        }
    }

    /// <summary>One probe, which must answer within a second whatever storage does.</summary>
    private static async Task<(int Status, JsonNode Body)> Probe(HttpClient client, string path)
    {
        var clock = Stopwatch.StartNew();
        var answer = await client.Get(path);
        Assert.True(clock.Elapsed < OneSecond, $"{path} took {clock.Elapsed.TotalMilliseconds:0} ms to answer");
        return answer;
    }

    /// <summary>The Azure-table membership row of the silo on <paramref name="siloPort"/>.</summary>
    internal static async Task<TableEntity> MembershipRow(string clusterId, int siloPort)
    {
        var table = new TableClient(await TestStorage.ConnectionStringAsync(), "OrleansSiloInstances");
        await foreach (var row in table.QueryAsync<TableEntity>(r => r.PartitionKey == clusterId))
        {
            if (row["Port"]?.ToString() == siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                return row;
            }
        }
        throw new InvalidOperationException($"no membership row for silo port {siloPort} in cluster {clusterId}");
    }
}
