using Snapstone.Client;

namespace Snapstone.Server.Hosting;

/// <summary>Configuration section <c>Snapstone</c>. Every key is documented in the README.</summary>
public sealed class ServerOptions
{
    public const string Section = "Snapstone";

    /// <summary>Where the server keeps local files (embedded Azurite data, the generated local token). Relative paths are resolved against the working directory. Created with mode 0700.</summary>
    public string DataDirectory { get; set; } = ".snapstone";

    public StorageOptions Storage { get; set; } = new();
    public ClusterSettings Cluster { get; set; } = new();
    public GatewayOptions Gateway { get; set; } = new();
    public HealthOptions Health { get; set; } = new();
    public ShutdownOptions Shutdown { get; set; } = new();
    public DashboardOptions Dashboard { get; set; } = new();
}

public sealed class StorageOptions
{
    /// <summary>Azure Storage (or Azurite) connection string. Empty, and no <see cref="ServiceUri"/>: start an embedded Azurite on loopback.</summary>
    public string? ConnectionString { get; set; }
    /// <summary>
    /// The storage account's blob endpoint (<c>https://account.blob.core.windows.net</c>), reached with
    /// <c>DefaultAzureCredential</c> (managed identity, workload identity, environment): no key in configuration.
    /// The table endpoint is derived from it unless <see cref="TableServiceUri"/> says otherwise.
    /// </summary>
    public Uri? ServiceUri { get; set; }
    /// <summary>With <see cref="ServiceUri"/>: the table endpoint, when it is not the blob endpoint with <c>.blob.</c> replaced by <c>.table.</c>.</summary>
    public Uri? TableServiceUri { get; set; }
    /// <summary>The Azurite version installed from npm for the embedded default.</summary>
    public string AzuriteVersion { get; set; } = "3.35.0";
    /// <summary>Blob container for package content and records.</summary>
    public string PackageContainer { get; set; } = "snapstone-packages";
    /// <summary>Table for grain state.</summary>
    public string GrainTable { get; set; } = "SnapstoneGrains";
    /// <summary>Table for the hash-chained audit log (one partition per service id).</summary>
    public string AuditTable { get; set; } = "SnapstoneAudit";
    /// <summary>Table for the incident index: a row per incident.</summary>
    public string IncidentTable { get; set; } = "SnapstoneIncidents";
    /// <summary>Table for every rollout's whole timeline: a row per entry, a partition per rollout (the state row keeps the newest 50).</summary>
    public string TimelineTable { get; set; } = "SnapstoneTimeline";
    /// <summary>Blob container for the evidence of rollouts' verdicts (what <c>POST /v1/rollouts/{id}/judge</c> judges again).</summary>
    public string EvidenceContainer { get; set; } = "snapstone-evidence";
    /// <summary>Azure Storage for the audit table when it should not share the grain state's account; empty: <see cref="ConnectionString"/>.</summary>
    public string? AuditConnectionString { get; set; }

    public const int DefaultMaxConnections = 64;

    /// <summary>
    /// HTTP connections a silo opens to each storage endpoint for its data; requests beyond them wait for a free one.
    /// Membership and the storage probe have a pool of their own (<see cref="StorageAccount.ControlConnections"/>).
    /// </summary>
    public int MaxConnections { get; set; } = DefaultMaxConnections;
}

public enum ClusteringMode { Localhost, AzureTable }

public sealed class ClusterSettings
{
    public ClusteringMode Clustering { get; set; } = ClusteringMode.Localhost;
    public string ClusterId { get; set; } = "snapstone";
    public string ServiceId { get; set; } = "snapstone";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    /// <summary>AzureTable clustering: the address other silos and clients reach this one on. Empty: the listen address when it is a specific one, else loopback (one host). In Kubernetes: the pod's IP.</summary>
    public string? AdvertisedAddress { get; set; }
    /// <summary>
    /// The address the silo and gateway ports bind to. Empty: the advertised address (loopback by default; any
    /// address in Kubernetes). Anything but loopback needs <see cref="Tls"/> (or <see cref="AllowUnencrypted"/>).
    /// </summary>
    public string? ListenAddress { get; set; }
    /// <summary>Lets the silo and gateway ports listen beyond loopback without TLS: only where the network itself authenticates and encrypts (a service mesh with mutual TLS).</summary>
    public bool AllowUnencrypted { get; set; }
    /// <summary>Localhost clustering only: the first silo's port, for a second process on the same machine.</summary>
    public int? PrimarySiloPort { get; set; }
    /// <summary>Mutual TLS for silo-to-silo and client-to-gateway connections (section <c>Snapstone:Cluster:Tls</c>).</summary>
    public ClusterTlsOptions Tls { get; set; } = new();
    public MembershipSettings Membership { get; set; } = new();
    /// <summary>Run under Kubernetes: Orleans' Kubernetes hosting (pod name, IP and namespace from the downward API; silos whose pods are gone are declared dead).</summary>
    public bool Kubernetes { get; set; }
}

/// <summary>
/// How fast the cluster declares a silo dead (Orleans' <c>ClusterMembershipOptions</c>, section
/// <c>Snapstone:Cluster:Membership</c>). Until a dead silo is declared, calls to the grains it hosted fail or hang
/// and the gateway retries them. Each silo probes the others every probe timeout (adapted between the minimum and
/// maximum to the observed round trips); a silo that misses <see cref="NumMissedProbesLimit"/> probes in a row is
/// voted dead, and <see cref="NumVotesForDeathDeclaration"/> unexpired votes declare it. A vote is withheld while the
/// connection to the suspect carried a message within <see cref="MaxProbeTimeout"/> × <see cref="NumMissedProbesLimit"/>,
/// so a hung silo is declared no sooner than that after its last message: 9 s here, 60 s with Orleans' defaults.
/// A killed one, whose port refuses connections, goes in a few seconds either way (docs/performance.md, "Failover").
/// </summary>
public sealed class MembershipSettings
{
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan MinProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxProbeTimeout { get; set; } = TimeSpan.FromSeconds(3);
    public int NumMissedProbesLimit { get; set; } = 3;
    public int NumVotesForDeathDeclaration { get; set; } = 2;
    public TimeSpan DeathVoteExpirationTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How often each silo reads the membership table, besides gossip.</summary>
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>How often each silo writes its heartbeat to the membership table.</summary>
    public TimeSpan IAmAliveTablePublishTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>How long a starting silo tries to join before it gives up (the startup probe must allow this).</summary>
    public TimeSpan MaxJoinAttemptTime { get; set; } = TimeSpan.FromMinutes(2);
}

public sealed class GatewayOptions
{
    /// <summary>Largest request body accepted, in bytes (413 beyond it). Default 16 MiB.</summary>
    public long MaxRequestBytes { get; set; } = 16L * 1024 * 1024;
    /// <summary>How long an idempotent request is retried on transient cluster failures before it is answered 503.</summary>
    public double RetrySeconds { get; set; } = 15;
    /// <summary>The <c>Retry-After</c> of a 503, in seconds.</summary>
    public int RetryAfterSeconds { get; set; } = 2;
    /// <summary>Rollout event streams (<c>GET /v1/rollouts/{id}/events</c>) one token may hold open on one gateway (429 beyond it).</summary>
    public int MaxStreamsPerToken { get; set; } = 16;
    /// <summary>Seconds of quiet after which an event stream sends a <c>heartbeat</c> event, so proxies and clients see it alive.</summary>
    public double StreamHeartbeatSeconds { get; set; } = 15;
    /// <summary>How long this gateway serves the public status (<c>GET /v1/status</c>) from its last read of the cluster.</summary>
    public double StatusCacheSeconds { get; set; } = 2;
}

public sealed class HealthOptions
{
    /// <summary>How often storage is checked for readiness; <c>/readyz</c> reads the last result and never waits on storage.</summary>
    public double StorageCheckSeconds { get; set; } = 2;
    /// <summary>How long one storage check may take before it counts as storage not answering.</summary>
    public double StorageTimeoutSeconds { get; set; } = 3;
}

public sealed class ShutdownOptions
{
    /// <summary>After SIGTERM, how long the server keeps serving with readiness false, so load balancers stop sending to it first.</summary>
    public double DrainSeconds { get; set; }
    /// <summary>After the drain, how long the silo has to hand its grains off (deactivate them, leave membership) before it stops regardless.</summary>
    public double GraceSeconds { get; set; } = 30;

    /// <summary>The host's own shutdown budget: drain, grace and a margin for the HTTP server and the rest.</summary>
    public TimeSpan HostTimeout => TimeSpan.FromSeconds(DrainSeconds + GraceSeconds + 5);
}

public sealed class DashboardOptions
{
    /// <summary>How long a dashboard sign-in lasts.</summary>
    public double SessionMinutes { get; set; } = 480;
}
