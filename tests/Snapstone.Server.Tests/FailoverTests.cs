using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Snapstone.Client;
using Snapstone.Testing;
using Xunit.Abstractions;

namespace Snapstone.Server.Tests;

/// <summary>
/// A degraded cluster answers, it does not throw: three silos with Azure Table clustering on one Azurite (loopback),
/// one SIGKILLed (its ports refuse connections at once) or SIGSTOPped (a hung host: connections open, nothing
/// answers), and the grains it hosted read through a survivor. Until membership declares the silo dead, those calls
/// fail or hang; the gateway retries them, so each is answered 200 once the grain is active elsewhere, and never
/// 500. Prints how long after the fault the first and the last of those calls succeeded.
/// <c>SNAPSTONE_FAILOVER_MEMBERSHIP=orleans</c> runs it with Orleans' default membership timings instead, for comparison.
/// </summary>
public sealed class FailoverTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("SIGKILL")]
    [InlineData("SIGSTOP")]
    public async Task After_a_silo_of_three_dies_or_hangs_a_survivor_serves_its_grains_within_seconds_and_never_answers_500(string fault)
    {
        var orleansDefaults = Environment.GetEnvironmentVariable("SNAPSTONE_FAILOVER_MEMBERSHIP") == "orleans";
        var cluster = new Dictionary<string, string>
        {
            ["Snapstone__Cluster__Clustering"] = "AzureTable",
            ["Snapstone__Cluster__ServiceId"] = TestStorage.Unique("svc"),
            ["Snapstone__Cluster__ClusterId"] = TestStorage.Unique("cluster"),
        };
        if (orleansDefaults)
        {
            cluster["Snapstone__Cluster__Membership__ProbeTimeout"] = "00:00:05";
            cluster["Snapstone__Cluster__Membership__MinProbeTimeout"] = "00:00:02.5";
            cluster["Snapstone__Cluster__Membership__MaxProbeTimeout"] = "00:00:20";
            cluster["Snapstone__Cluster__Membership__DeathVoteExpirationTimeout"] = "00:02:00";
            cluster["Snapstone__Cluster__Membership__TableRefreshTimeout"] = "00:01:00";
            cluster["Snapstone__Cluster__Membership__IAmAliveTablePublishTimeout"] = "00:00:30";
            cluster["Snapstone__Gateway__RetrySeconds"] = "120";
        }
        await using var victim = await ServerProcess.StartAsync(cluster);
        await using var survivor = await ServerProcess.StartAsync(cluster);
        await using var third = await ServerProcess.StartAsync(cluster);

        // Grains activate on the silo whose gateway the request came through (placement prefers the local silo
        // while it is not much busier); the cluster says which of them the victim hosts.
        var units = Enumerable.Range(0, 24).Select(_ => TestStorage.Unique("unit")).ToList();
        foreach (var unit in units)
        {
            Assert.Equal(200, (await victim.Client("ci").Put($"/v1/units/{unit}", new { owner = "edge" })).Status);
        }
        var hosted = await UnitsHostedOn(victim, units);
        Assert.NotEmpty(hosted);

        var clock = Stopwatch.StartNew();
        if (fault == "SIGKILL")
        {
            await victim.KillAsync();
        }
        else
        {
            victim.Pause(true);
        }
        var killed = clock.Elapsed;
        // A write that is not idempotent is not retried: while the dead silo is not yet declared dead it is 503
        // with Retry-After, for the caller to send again.
        var write = Task.Run(async () =>
        {
            using var response = await survivor.Client("ci").PostAsync($"/v1/units/{hosted[0]}/packages", Http.Json(new { content = "{}" }));
            return (Status: (int)response.StatusCode, RetryAfter: response.Headers.RetryAfter?.Delta, Body: await response.Content.ReadAsStringAsync());
        });
        var reads = await Task.WhenAll(hosted.Select(async unit =>
        {
            using var reader = survivor.Client("reader");
            reader.Timeout = TimeSpan.FromSeconds(150);
            var (status, body) = await reader.Get($"/v1/units/{unit}");
            return (Unit: unit, Status: status, At: clock.Elapsed - killed, Body: body);
        }));
        foreach (var read in reads)
        {
            Assert.True(read.Status == 200, $"GET /v1/units/{read.Unit} through a survivor answered {read.Status} {read.Body.ToJsonString()} {read.At.TotalSeconds:0.0} s after {fault}");
        }
        var first = reads.Min(r => r.At);
        var last = reads.Max(r => r.At);
        output.WriteLine($"{fault}, membership: {(orleansDefaults ? "Orleans defaults" : "Snapstone defaults")}; {hosted.Count} of {units.Count} units were on the silo; " +
            $"reads through a survivor succeeded {first.TotalSeconds:0.00} s (first) to {last.TotalSeconds:0.00} s (last) after {fault}");

        var written = await write;
        output.WriteLine($"POST /v1/units/{hosted[0]}/packages right after {fault}: {written.Status} {written.Body}");
        Assert.True(written.Status is 201 or 503, $"a package POST during the failover answered {written.Status}: {written.Body}");
        if (written.Status == 503)
        {
            Assert.Equal(TimeSpan.FromSeconds(2), written.RetryAfter);
            Assert.Contains("retry after 2 s", written.Body);
            Assert.Equal(201, (await survivor.Client("ci").Post($"/v1/units/{hosted[0]}/packages", new { content = "{}" })).Status);
        }
        Assert.True(last < TimeSpan.FromSeconds(orleansDefaults ? 120 : 15), $"the last read succeeded {last.TotalSeconds:0.0} s after {fault}");
        if (fault == "SIGSTOP")
        {
            // Thawed, the silo finds itself declared dead and stops; the cluster goes on without it.
            victim.Pause(false);
        }
    }

    /// <summary>Which of <paramref name="units"/> have an activation on <paramref name="silo"/>, as the cluster's management grain reports.</summary>
    private static async Task<List<string>> UnitsHostedOn(ServerProcess silo, IReadOnlyCollection<string> units)
    {
        var storage = await TestStorage.ConnectionStringAsync();
        var builder = Host.CreateApplicationBuilder();
        builder.AddSnapstoneClient(o =>
        {
            o.ServiceId = silo.ServiceId;
            o.ClusterId = silo.ClusterId;
            o.ClusteringConnectionString = storage;
        });
        using var host = builder.Build();
        await host.StartAsync();
        var management = host.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
        var hosts = await management.GetHosts(onlyActive: true);
        var address = hosts.Keys.Single(a => a.Endpoint.Port == silo.SiloPort);
        var grains = await management.GetDetailedGrainStatistics(null, [address]);
        var names = new HashSet<string>(units, StringComparer.Ordinal);
        var hosted = grains.Select(g => g.GrainId.Key.ToString()).Where(k => k is not null && names.Contains(k)).Distinct().ToList()!;
        await host.StopAsync();
        return hosted!;
    }
}
