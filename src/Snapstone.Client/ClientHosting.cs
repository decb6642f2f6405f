using Azure.Data.Tables;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Snapstone.Client;

/// <summary>How an internal service reaches the Snapstone cluster (section <c>Snapstone:Client</c>).</summary>
public sealed class SnapstoneClientOptions
{
    public string ClusterId { get; set; } = "snapstone";
    public string ServiceId { get; set; } = "snapstone";
    /// <summary>Azure Storage holding the cluster's membership table; when empty the client uses localhost clustering.</summary>
    public string? ClusteringConnectionString { get; set; }
    /// <summary>The silo gateway port for localhost clustering.</summary>
    public int GatewayPort { get; set; } = 30000;
}

public static class ClientHosting
{
    /// <summary>
    /// The one call an internal service makes: connects an Orleans client to the Snapstone cluster and
    /// registers <see cref="SnapstoneClient"/>. Options bind from <c>Snapstone:Client</c> and then <paramref name="configure"/>.
    /// </summary>
    public static IHostApplicationBuilder AddSnapstoneClient(this IHostApplicationBuilder builder, Action<SnapstoneClientOptions>? configure = null)
    {
        var options = new SnapstoneClientOptions();
        builder.Configuration.GetSection("Snapstone:Client").Bind(options);
        configure?.Invoke(options);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ServiceId;
            });
            if (string.IsNullOrEmpty(options.ClusteringConnectionString))
            {
                client.UseLocalhostClustering(options.GatewayPort, options.ServiceId, options.ClusterId);
            }
            else
            {
                client.UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(options.ClusteringConnectionString));
            }
        });
        builder.Services.AddSnapstoneOperations();
        return builder;
    }

    /// <summary>Registers <see cref="SnapstoneClient"/> over whatever <see cref="IGrainFactory"/> the host has (a silo's, or a client's).</summary>
    public static IServiceCollection AddSnapstoneOperations(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        return services.AddSingleton<SnapstoneClient>();
    }
}
