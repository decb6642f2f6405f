using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Orleans.Configuration;
using Orleans.Dashboard;
using Snapstone.Grains;
using Snapstone.Grains.Storage;
using Snapstone.Grains.Units;

namespace Snapstone.Server.Hosting;

/// <summary>The silo as Snapstone runs it: storage, clustering, reminders. Test clusters use the same storage setup.</summary>
public static class SiloSetup
{
    /// <summary>Grain state and reminders in Azure Tables, package content in Azure Blobs.</summary>
    public static ISiloBuilder AddSnapstoneStorage(this ISiloBuilder silo, string connectionString, StorageOptions storage)
    {
        // Orleans' own serializer, not the Newtonsoft default: state is made of immutable records that the
        // generated codecs read back exactly (and version-tolerantly, by [Id]).
        silo.AddAzureTableGrainStorage(StorageNames.Grains, options => options.Configure<Orleans.Serialization.Serializer>((o, serializer) =>
        {
            o.TableServiceClient = new TableServiceClient(connectionString);
            o.TableName = storage.GrainTable;
            o.GrainStorageSerializer = new Orleans.Storage.OrleansGrainStorageSerializer(serializer);
        }));
        silo.UseAzureTableReminderService(o => o.TableServiceClient = new TableServiceClient(connectionString));
        silo.Services.AddSnapstoneGrainServices(connectionString, storage);
        silo.AddStartupTask<Snapstone.Grains.Rollouts.RolloutRecovery>();
        silo.AddStartupTask<Snapstone.Grains.Drift.DriftRecovery>();
        silo.AddStartupTask<Snapstone.Grains.Emergency.BreakGlassRecovery>();
        return silo;
    }

    public static IServiceCollection AddSnapstoneGrainServices(this IServiceCollection services, string connectionString, StorageOptions storage)
    {
        // Packages and the audit log are kept per service id, as grain state is.
        static string Service(IServiceProvider sp) => sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClusterOptions>>().Value.ServiceId;
        services.AddSingleton<IPackageStore>(sp => new BlobPackageStore(new BlobContainerClient(connectionString, storage.PackageContainer), Service(sp)));
        // The audit log may live in its own storage account (Snapstone:Storage:AuditConnectionString); it is asked with short
        // timeouts, as a change never waits long for its entry (the entry follows from the change's outbox).
        var auditOptions = new TableClientOptions();
        auditOptions.Retry.MaxRetries = 2;
        auditOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        auditOptions.Retry.NetworkTimeout = TimeSpan.FromSeconds(5);
        services.AddSingleton(sp => new AuditStore(
            new TableClient(string.IsNullOrWhiteSpace(storage.AuditConnectionString) ? connectionString : storage.AuditConnectionString, storage.AuditTable, auditOptions),
            Service(sp)));
        services.AddSingleton(sp => new IncidentStore(new TableClient(connectionString, storage.IncidentTable), Service(sp)));
        services.AddOptions<Snapstone.Grains.Audit.AuditOptions>().BindConfiguration("Snapstone:Audit")
            .Validate(o => o.Problem() is null, "Snapstone:Audit:Key must be at least 32 characters").ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddOptions<CatalogOptions>().BindConfiguration("Snapstone:Catalog");
        services.AddSingleton<CatalogSnapshot>();
        services.AddOptions<Snapstone.Grains.Rollouts.RolloutOptions>().BindConfiguration("Snapstone:Rollouts");
        services.AddOptions<Snapstone.Grains.Emergency.IncidentOptions>().BindConfiguration("Snapstone:Incidents");
        services.AddHttpClient("webhooks");
        services.AddOptions<Snapstone.Grains.Drift.DriftOptions>().BindConfiguration("Snapstone:Drift");
        return services;
    }

    public static ISiloBuilder AddSnapstoneClustering(this ISiloBuilder silo, string connectionString, ClusterSettings cluster)
    {
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = cluster.ClusterId;
            o.ServiceId = cluster.ServiceId;
        });
        if (cluster.Clustering == ClusteringMode.AzureTable)
        {
            silo.UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(connectionString));
            var advertised = string.IsNullOrEmpty(cluster.AdvertisedAddress) ? System.Net.IPAddress.Loopback : System.Net.IPAddress.Parse(cluster.AdvertisedAddress);
            silo.ConfigureEndpoints(advertised, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: !System.Net.IPAddress.IsLoopback(advertised));
        }
        else
        {
            var primary = cluster.PrimarySiloPort is { } port ? new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port) : null;
            silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, primary, cluster.ServiceId, cluster.ClusterId);
        }
        return silo;
    }

    public static ISiloBuilder AddSnapstoneDashboard(this ISiloBuilder silo)
    {
        silo.AddDashboard();
        return silo;
    }
}
