using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Snapstone.Client;
using Snapstone.Grains.Rollouts;

namespace Snapstone.Chaos.Tests;

/// <summary>
/// An Orleans client of the cluster (mutual TLS with a certificate of the cluster's CA), for what only the cluster can
/// say: which silo holds a grain's activation, asked of Orleans' management grain.
/// </summary>
public sealed class ClusterProbe : IAsyncDisposable
{
    private readonly IHost _host;

    private ClusterProbe(IHost host) => _host = host;

    public static async Task<ClusterProbe> ConnectAsync(string storage, string serviceId, string clusterId, ClusterTlsOptions tls)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.AddSnapstoneClient(o =>
        {
            o.ServiceId = serviceId;
            o.ClusterId = clusterId;
            o.ClusteringConnectionString = storage;
            o.Tls = tls;
        });
        // A call stuck on a gateway that was just cut off fails after 10 s rather than Orleans' 30, so a wait on the
        // cluster's answer is not spent on one lost call.
        builder.Services.Configure<Orleans.Configuration.ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(10));
        var host = builder.Build();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await host.StartAsync(limit.Token);
        return new ClusterProbe(host);
    }

    private IManagementGrain Management => _host.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);

    /// <summary>
    /// The address of every active silo that holds an activation of rollout <paramref name="rollout"/>, by the silos' own
    /// grain statistics (normally one; none when it is not active; two would be a split brain).
    /// </summary>
    public async Task<IReadOnlyList<IPAddress>> RolloutHostsAsync(string rollout)
    {
        var management = Management;
        var silos = (await management.GetHosts(onlyActive: true)).Keys.ToArray();
        var grains = await management.GetDetailedGrainStatistics(null, silos);
        // The statistics name a grain's class with its assembly: "Snapstone.Grains.Rollouts.RolloutGrain,Snapstone.Grains".
        var type = typeof(RolloutGrain).FullName!;
        return [.. grains.Where(g => g.GrainId.Key.ToString() == rollout && (g.GrainType == type || g.GrainType.StartsWith(type + ",", StringComparison.Ordinal)))
            .Select(g => g.SiloAddress.Endpoint.Address).Distinct()];
    }

    /// <summary>Where the grain directory says rollout <paramref name="rollout"/> is activated, if anywhere.</summary>
    public async Task<IPAddress?> RolloutDirectoryEntryAsync(string rollout)
    {
        var grain = _host.Services.GetRequiredService<IClusterClient>().GetGrain<IRolloutGrain>(rollout);
        return (await Management.GetActivationAddress(grain))?.Endpoint.Address;
    }

    public async ValueTask DisposeAsync()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _host.StopAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
        }
        _host.Dispose();
    }
}
