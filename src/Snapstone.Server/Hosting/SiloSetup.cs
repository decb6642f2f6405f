using System.Net;
using Azure.Data.Tables;
using Orleans.Configuration;
using Orleans.Dashboard;
using Snapstone.Grains;
using Snapstone.Grains.Storage;
using Snapstone.Grains.Units;

namespace Snapstone.Server.Hosting;

/// <summary>The silo as Snapstone runs it: storage, clustering, reminders. Test clusters use the same storage setup.</summary>
public static class SiloSetup
{
    public static ISiloBuilder AddSnapstoneStorage(this ISiloBuilder silo, string connectionString, StorageOptions storage) =>
        silo.AddSnapstoneStorage(StorageAccount.FromConnectionString(connectionString), storage);

    /// <summary>Grain state and reminders in Azure Tables, package content in Azure Blobs.</summary>
    public static ISiloBuilder AddSnapstoneStorage(this ISiloBuilder silo, StorageAccount account, StorageOptions storage)
    {
        // Orleans' own serializer, not the Newtonsoft default: state is made of immutable records that the
        // generated codecs read back exactly (and version-tolerantly, by [Id]).
        silo.AddAzureTableGrainStorage(StorageNames.Grains, options => options.Configure<Orleans.Serialization.Serializer>((o, serializer) =>
        {
            o.TableServiceClient = account.Tables();
            o.TableName = storage.GrainTable;
            o.GrainStorageSerializer = new Orleans.Storage.OrleansGrainStorageSerializer(serializer);
        }));
        silo.UseAzureTableReminderService(o => o.TableServiceClient = account.Tables());
        silo.Services.AddSnapstoneGrainServices(account, storage);
        silo.AddStartupTask<Snapstone.Grains.Rollouts.RolloutRecovery>();
        silo.AddStartupTask<Snapstone.Grains.Rollouts.RolloutFailover>();
        silo.AddStartupTask<Snapstone.Grains.Drift.DriftRecovery>();
        silo.AddStartupTask<Snapstone.Grains.Emergency.BreakGlassRecovery>();
        return silo;
    }

    public static IServiceCollection AddSnapstoneGrainServices(this IServiceCollection services, StorageAccount account, StorageOptions storage)
    {
        // Packages and the audit log are kept per service id, as grain state is.
        static string Service(IServiceProvider sp) => sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClusterOptions>>().Value.ServiceId;
        // A PoP's grain and its nodes' grains on one silo: a wave's fan-out from a PoP to its nodes stays on it.
        services.AddPlacementDirector<Snapstone.Grains.Fleet.PopKeyPlacement, Snapstone.Grains.Fleet.PopPlacementDirector>();
        services.AddPlacementDirector<Snapstone.Grains.Fleet.WithPopPlacement, Snapstone.Grains.Fleet.PopPlacementDirector>();
        services.AddSingleton(account);
        services.AddSingleton<IPackageStore>(sp => new BlobPackageStore(account.Container(storage.PackageContainer), Service(sp)));
        // The audit log may live in its own storage account (Snapstone:Storage:AuditConnectionString); it is asked with short
        // timeouts, as a change never waits long for its entry (the entry follows from the change's outbox).
        var auditOptions = new TableClientOptions();
        auditOptions.Retry.MaxRetries = 2;
        auditOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        auditOptions.Retry.NetworkTimeout = TimeSpan.FromSeconds(5);
        services.AddSingleton(sp => new AuditStore(
            string.IsNullOrWhiteSpace(storage.AuditConnectionString)
                ? account.Table(storage.AuditTable, auditOptions)
                : new TableClient(storage.AuditConnectionString, storage.AuditTable, auditOptions),
            Service(sp)));
        services.AddSingleton(sp => new IncidentStore(account.Table(storage.IncidentTable), Service(sp)));
        services.AddSingleton(sp => new TimelineStore(account.Table(storage.TimelineTable), Service(sp)));
        services.AddSingleton(sp => new EvidenceStore(account.Container(storage.EvidenceContainer), Service(sp), sp.GetRequiredService<Orleans.Serialization.Serializer>()));
        services.AddOptions<Snapstone.Grains.Audit.AuditOptions>().BindConfiguration("Snapstone:Audit")
            .Validate(o => o.Problem() is null, "Snapstone:Audit:Key must be at least 32 characters").ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddOptions<CatalogOptions>().BindConfiguration("Snapstone:Catalog");
        services.AddSingleton<CatalogSnapshot>();
        services.AddOptions<Snapstone.Grains.Rollouts.RolloutOptions>().BindConfiguration("Snapstone:Rollouts");
        services.AddOptions<Snapstone.Grains.Emergency.IncidentOptions>().BindConfiguration("Snapstone:Incidents");
        // Deliveries go only where DestinationGuard lets them: no redirects, no proxy, connections to checked addresses.
        services.AddOptions<Snapstone.Grains.Emergency.WebhookOptions>().BindConfiguration(Snapstone.Grains.Emergency.WebhookOptions.Section).ValidateOnStart();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<Snapstone.Grains.Emergency.WebhookOptions>, Snapstone.Grains.Emergency.WebhookOptionsValidation>();
        services.AddSingleton<Snapstone.Grains.Emergency.DestinationGuard>();
        services.AddSingleton(sp => new Snapstone.Grains.Emergency.SecretBox(
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<Snapstone.Grains.Emergency.WebhookOptions>>(), () => account.Container(storage.PackageContainer), Service(sp)));
        services.AddHttpClient("webhooks").ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<Snapstone.Grains.Emergency.DestinationGuard>().Handler());
        Snapstone.Grains.Metrics.PrometheusClient.AddPrometheus(services);
        services.AddOptions<Snapstone.Grains.Notifications.NotificationOptions>().BindConfiguration(Snapstone.Grains.Notifications.NotificationOptions.Section);
        services.AddOptions<Snapstone.Grains.Drift.DriftOptions>().BindConfiguration("Snapstone:Drift");
        services.AddOptions<Snapstone.Grains.Nodes.NodeOptions>().BindConfiguration("Snapstone:Nodes");
        return services;
    }

    /// <summary>
    /// Membership (localhost, or the Azure table), how fast a dead silo is declared, where the silo and gateway
    /// ports listen, and mutual TLS on them. Ports bind to loopback unless TLS is configured (or the network is
    /// declared to encrypt on its own): the cluster ports carry unauthenticated grain calls otherwise.
    /// </summary>
    public static ISiloBuilder AddSnapstoneClustering(this ISiloBuilder silo, StorageAccount account, ClusterSettings cluster)
    {
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = cluster.ClusterId;
            o.ServiceId = cluster.ServiceId;
        });
        silo.Configure<ClusterMembershipOptions>(o => Tune(o, cluster.Membership));
        var endpoints = ClusterEndpoints.Resolve(cluster);
        if (cluster.Clustering == ClusteringMode.AzureTable)
        {
            silo.UseAzureStorageClustering(o => o.TableServiceClient = account.ControlTables());
            silo.Configure<EndpointOptions>(o =>
            {
                o.SiloPort = cluster.SiloPort;
                o.GatewayPort = cluster.GatewayPort;
                // None under Kubernetes: its hosting fills in the pod's IP.
                if (endpoints.Advertised is { } advertised)
                {
                    o.AdvertisedIPAddress = advertised;
                }
                o.SiloListeningEndpoint = endpoints.Listen is { } listen ? new IPEndPoint(listen, cluster.SiloPort) : null;
                o.GatewayListeningEndpoint = endpoints.Listen is { } gateway ? new IPEndPoint(gateway, cluster.GatewayPort) : null;
            });
            if (cluster.Kubernetes)
            {
                silo.UseKubernetesHosting();
            }
        }
        else
        {
            var primary = cluster.PrimarySiloPort is { } port ? new IPEndPoint(IPAddress.Loopback, port) : null;
            silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, primary, cluster.ServiceId, cluster.ClusterId);
        }
        if (cluster.Tls.Enabled)
        {
            const string section = "Snapstone:Cluster:Tls";
            var certificate = cluster.Tls.LoadCertificate(section);
            var authorities = cluster.Tls.LoadAuthorities(section);
            silo.UseTls(tls => cluster.Tls.Apply(tls, certificate, authorities));
        }
        return silo;
    }

    /// <summary>The dashboard without its trace view, which streams the live log (reasons and actors included).</summary>
    public static ISiloBuilder AddSnapstoneDashboard(this ISiloBuilder silo)
    {
        silo.AddDashboard(o => o.HideTrace = true);
        return silo;
    }

    private static void Tune(ClusterMembershipOptions o, MembershipSettings m)
    {
        o.ProbeTimeout = m.ProbeTimeout;
        o.MinProbeTimeout = m.MinProbeTimeout;
        o.MaxProbeTimeout = m.MaxProbeTimeout;
        o.NumMissedProbesLimit = m.NumMissedProbesLimit;
        o.NumVotesForDeathDeclaration = m.NumVotesForDeathDeclaration;
        o.DeathVoteExpirationTimeout = m.DeathVoteExpirationTimeout;
        o.TableRefreshTimeout = m.TableRefreshTimeout;
        o.IAmAliveTablePublishTimeout = m.IAmAliveTablePublishTimeout;
        o.MaxJoinAttemptTime = m.MaxJoinAttemptTime;
    }
}

/// <summary>
/// Where the silo and gateway ports listen and which address they advertise, from <see cref="ClusterSettings"/>:
///
/// | Clustering | ListenAddress | AdvertisedAddress | listens on | advertises |
/// | --- | --- | --- | --- | --- |
/// | Localhost | – | – | 127.0.0.1 | 127.0.0.1 |
/// | AzureTable | – | – | 127.0.0.1 | 127.0.0.1 |
/// | AzureTable | – | 10.0.0.11 | 10.0.0.11 | 10.0.0.11 |
/// | AzureTable | 0.0.0.0 | 10.0.0.11 | every address | 10.0.0.11 |
/// | AzureTable, Kubernetes | – | – | every address | the pod IP |
///
/// Listening anywhere but loopback needs <c>Snapstone:Cluster:Tls</c> or <c>AllowUnencrypted</c>.
/// </summary>
public sealed record ClusterEndpoints(IPAddress? Listen, IPAddress? Advertised)
{
    public static ClusterEndpoints Resolve(ClusterSettings cluster)
    {
        if (cluster.Clustering == ClusteringMode.Localhost)
        {
            if (!string.IsNullOrEmpty(cluster.ListenAddress) || !string.IsNullOrEmpty(cluster.AdvertisedAddress))
            {
                throw new InvalidOperationException("Snapstone:Cluster:ListenAddress and AdvertisedAddress need Snapstone:Cluster:Clustering=AzureTable: localhost clustering is loopback only");
            }
            return new(IPAddress.Loopback, IPAddress.Loopback);
        }
        var listen = Parse(cluster.ListenAddress, "ListenAddress");
        var advertised = Parse(cluster.AdvertisedAddress, "AdvertisedAddress");
        if (listen is not null && advertised is null && IsAny(listen) && !cluster.Kubernetes)
        {
            throw new InvalidOperationException($"Snapstone:Cluster:ListenAddress={listen} needs Snapstone:Cluster:AdvertisedAddress: the address other silos reach this one on");
        }
        if (cluster.Kubernetes)
        {
            listen ??= IPAddress.Any;
        }
        else
        {
            advertised ??= listen ?? IPAddress.Loopback;
            listen ??= advertised;
        }
        if (!IPAddress.IsLoopback(listen) && !cluster.Tls.Enabled && !cluster.AllowUnencrypted)
        {
            throw new InvalidOperationException(
                $"the silo and gateway ports would listen on {listen} without TLS: configure Snapstone:Cluster:Tls (see deploy/README.md), " +
                "or set Snapstone:Cluster:AllowUnencrypted=true where the network itself encrypts and authenticates (a service mesh)");
        }
        return new(listen, advertised);
    }

    private static bool IsAny(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    private static IPAddress? Parse(string? value, string key) =>
        string.IsNullOrWhiteSpace(value) ? null
        : IPAddress.TryParse(value, out var address) ? address
        : throw new InvalidOperationException($"Snapstone:Cluster:{key} must be an IP address (got '{value}')");
}
