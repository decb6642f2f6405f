using Azure.Core;
using Azure.Data.Tables;
using Azure.Storage.Blobs;

namespace Snapstone.Server.Hosting;

/// <summary>
/// The one storage account every part of the server uses (grain state, membership, reminders, audit, package
/// blobs), reached either by connection string or by endpoint and Azure AD credential (managed identity,
/// workload identity, or whatever <c>DefaultAzureCredential</c> finds), so no account key need be configured.
/// </summary>
public sealed class StorageAccount
{
    private readonly string? _connectionString;
    private readonly string _description;
    private readonly TokenCredential? _credential;

    private StorageAccount(string connectionString, string description)
    {
        _connectionString = connectionString;
        _description = description;
    }

    private StorageAccount(Uri blobs, Uri tables, TokenCredential credential)
    {
        BlobEndpoint = blobs;
        TableEndpoint = tables;
        _credential = credential;
        _description = $"{blobs} and {tables} with DefaultAzureCredential";
    }

    public static StorageAccount FromConnectionString(string connectionString, string description = "the configured connection string") =>
        new(connectionString, description);

    /// <summary>
    /// The account at <paramref name="blobs"/>; its table endpoint is <paramref name="tables"/>, or the blob
    /// endpoint's host with <c>.blob.</c> replaced by <c>.table.</c>:
    /// <c>https://acme.blob.core.windows.net</c> → <c>https://acme.table.core.windows.net</c>.
    /// </summary>
    public static StorageAccount FromServiceUri(Uri blobs, Uri? tables, TokenCredential credential)
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
        return new StorageAccount(blobs, tables, credential);
    }

    /// <summary>Null when reached by connection string.</summary>
    public Uri? BlobEndpoint { get; }

    /// <summary>Null when reached by connection string.</summary>
    public Uri? TableEndpoint { get; }

    /// <summary>How the log names it, without secrets.</summary>
    public string Describe() => _description;

    public TableServiceClient Tables(TableClientOptions? options = null) =>
        _connectionString is not null ? new TableServiceClient(_connectionString, options) : new TableServiceClient(TableEndpoint, _credential, options);

    public TableClient Table(string name, TableClientOptions? options = null) => Tables(options).GetTableClient(name);

    public BlobServiceClient Blobs() =>
        _connectionString is not null ? new BlobServiceClient(_connectionString) : new BlobServiceClient(BlobEndpoint, _credential);

    public BlobContainerClient Container(string name) => Blobs().GetBlobContainerClient(name);
}
