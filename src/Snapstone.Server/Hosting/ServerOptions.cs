namespace Snapstone.Server.Hosting;

/// <summary>Configuration section <c>Snapstone</c>. Every key is documented in the README.</summary>
public sealed class ServerOptions
{
    public const string Section = "Snapstone";

    /// <summary>Where the server keeps local files (embedded Azurite data, the generated local token). Relative paths are resolved against the working directory.</summary>
    public string DataDirectory { get; set; } = ".snapstone";

    public StorageOptions Storage { get; set; } = new();
    public ClusterSettings Cluster { get; set; } = new();
    public GatewayOptions Gateway { get; set; } = new();
}

public sealed class StorageOptions
{
    /// <summary>Azure Storage (or Azurite) connection string. Empty: start an embedded Azurite on loopback.</summary>
    public string? ConnectionString { get; set; }
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
    /// <summary>Azure Storage for the audit table when it should not share the grain state's account; empty: <see cref="ConnectionString"/>.</summary>
    public string? AuditConnectionString { get; set; }
}

public enum ClusteringMode { Localhost, AzureTable }

public sealed class ClusterSettings
{
    public ClusteringMode Clustering { get; set; } = ClusteringMode.Localhost;
    public string ClusterId { get; set; } = "snapstone";
    public string ServiceId { get; set; } = "snapstone";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    /// <summary>AzureTable clustering: the address other silos reach this one on. Empty: loopback (one host).</summary>
    public string? AdvertisedAddress { get; set; }
    /// <summary>Localhost clustering only: the first silo's port, for a second process on the same machine.</summary>
    public int? PrimarySiloPort { get; set; }
}

public sealed class GatewayOptions
{
    /// <summary>Largest request body accepted, in bytes (413 beyond it). Default 16 MiB.</summary>
    public long MaxRequestBytes { get; set; } = 16L * 1024 * 1024;
}
