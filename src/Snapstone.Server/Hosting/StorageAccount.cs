using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Azure.Storage.Blobs;

namespace Snapstone.Server.Hosting;

/// <summary>
/// The one storage account every part of the server uses (grain state, membership, reminders, audit, package
/// blobs), reached either by connection string or by endpoint and Azure AD credential (managed identity,
/// workload identity, or whatever <c>DefaultAzureCredential</c> finds), so no account key need be configured.
/// </summary>
/// <remarks>
/// Every client it makes shares one of two connection pools, each capped per endpoint: the data pool (grain state,
/// reminders, packages, audit, incidents, timelines, evidence) at <see cref="StorageOptions.MaxConnections"/>, and a
/// small pool of its own for cluster membership and the storage probe, so a silo's liveness and readiness never
/// queue behind its data. .NET opens a new connection for every request that finds none free, without limit: a silo
/// writing thousands of rows at once opened tens of thousands, ran out of local ports and starved the account it
/// was writing to. With the cap, the requests beyond it wait for a free connection.
/// </remarks>
public sealed class StorageAccount
{
    private readonly string? _connectionString;
    private readonly string _description;
    private readonly TokenCredential? _credential;

    /// <summary>Connections per endpoint for membership and the storage probe: a few requests every few seconds.</summary>
    public const int ControlConnections = 4;

    private const int MaxMaxConnections = 10_000;

    private readonly HttpPipelineTransport _data;
    private readonly HttpPipelineTransport _control;

    private StorageAccount(string? connectionString, string description, int maxConnections)
    {
        if (maxConnections is < 1 or > MaxMaxConnections)
        {
            throw new InvalidOperationException($"Snapstone:Storage:MaxConnections must be between 1 and {MaxMaxConnections} (got {maxConnections})");
        }
        _connectionString = connectionString;
        _description = description;
        _data = Transport(maxConnections);
        _control = Transport(ControlConnections);
    }

    private StorageAccount(Uri blobs, Uri tables, TokenCredential credential, int maxConnections)
        : this(null, $"{blobs} and {tables} with DefaultAzureCredential", maxConnections)
    {
        BlobEndpoint = blobs;
        TableEndpoint = tables;
        _credential = credential;
    }

    public static StorageAccount FromConnectionString(
        string connectionString, string description = "the configured connection string", int maxConnections = StorageOptions.DefaultMaxConnections) =>
        new(connectionString, description, maxConnections);

    /// <summary>
    /// The account at <paramref name="blobs"/>; its table endpoint is <paramref name="tables"/>, or the blob
    /// endpoint's host with <c>.blob.</c> replaced by <c>.table.</c>:
    /// <c>https://acme.blob.core.windows.net</c> → <c>https://acme.table.core.windows.net</c>.
    /// </summary>
    public static StorageAccount FromServiceUri(Uri blobs, Uri? tables, TokenCredential credential, int maxConnections = StorageOptions.DefaultMaxConnections)
    {
        if (!blobs.IsAbsoluteUri || blobs.Scheme != Uri.UriSchemeHttps)
        {
            throw new InvalidOperationException($"Snapstone:Storage:ServiceUri must be an https:// blob endpoint (got '{blobs}')");
        }
        if (tables is null)
        {
            var host = blobs.Host;
            var at = host.IndexOf(".blob.", StringComparison.OrdinalIgnoreCase);
            if (at < 0)
            {
                throw new InvalidOperationException(
                    $"Snapstone:Storage:ServiceUri '{blobs}' is not a '<account>.blob.<suffix>' endpoint: set Snapstone:Storage:TableServiceUri as well");
            }
            tables = new UriBuilder(blobs) { Host = string.Concat(host.AsSpan(0, at), ".table.", host.AsSpan(at + ".blob.".Length)) }.Uri;
        }
        else if (!tables.IsAbsoluteUri || tables.Scheme != Uri.UriSchemeHttps)
        {
            throw new InvalidOperationException($"Snapstone:Storage:TableServiceUri must be an https:// table endpoint (got '{tables}')");
        }
        return new StorageAccount(blobs, tables, credential, maxConnections);
    }

    /// <summary>Null when reached by connection string.</summary>
    public Uri? BlobEndpoint { get; }

    /// <summary>Null when reached by connection string.</summary>
    public Uri? TableEndpoint { get; }

    /// <summary>How the log names it, without secrets.</summary>
    public string Describe() => _description;

    /// <summary>Tables on the data pool; <paramref name="options"/>' own transport is replaced by it.</summary>
    public TableServiceClient Tables(TableClientOptions? options = null) => TablesOn(_data, options);

    public TableClient Table(string name, TableClientOptions? options = null) => Tables(options).GetTableClient(name);

    /// <summary>Tables on the control pool: cluster membership and the storage probe.</summary>
    public TableServiceClient ControlTables() => TablesOn(_control, null);

    public BlobServiceClient Blobs()
    {
        var options = new BlobClientOptions { Transport = _data };
        return _connectionString is not null ? new BlobServiceClient(_connectionString, options) : new BlobServiceClient(BlobEndpoint, _credential, options);
    }

    public BlobContainerClient Container(string name) => Blobs().GetBlobContainerClient(name);

    private TableServiceClient TablesOn(HttpPipelineTransport transport, TableClientOptions? options)
    {
        options ??= new TableClientOptions();
        options.Transport = transport;
        return _connectionString is not null ? new TableServiceClient(_connectionString, options) : new TableServiceClient(TableEndpoint, _credential, options);
    }

    /// <summary>
    /// One pool capped at <paramref name="maxConnections"/> per endpoint. Connections are replaced after five minutes, as
    /// the Azure SDK's own transport does, so a changed endpoint address is picked up.
    /// </summary>
    private static HttpClientTransport Transport(int maxConnections) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = maxConnections,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    });
}
