using System.Net;
using Azure.Core;
using Snapstone.Client;
using Snapstone.Server.Hosting;

namespace Snapstone.Server.Tests;

/// <summary>Storage by endpoint and credential, and where the cluster ports listen: the rules, as tables.</summary>
public sealed class StorageAndEndpointsTests
{
    [Theory]
    [InlineData("https://acme.blob.core.windows.net", null, "https://acme.table.core.windows.net/")]
    [InlineData("https://acme.blob.core.chinacloudapi.cn/", null, "https://acme.table.core.chinacloudapi.cn/")]
    [InlineData("https://storage.example.net", "https://tables.example.net", "https://tables.example.net/")]
    public void A_service_uri_reaches_blobs_there_and_tables_at_the_matching_endpoint(string blobs, string? tables, string expectedTables)
    {
        var account = StorageAccount.FromServiceUri(new Uri(blobs), tables is null ? null : new Uri(tables), new NoCredential());
        Assert.Equal(new Uri(expectedTables), account.TableEndpoint);
        Assert.Equal(new Uri(blobs).Host, account.Blobs().Uri.Host);
        Assert.Equal(new Uri(expectedTables).Host, account.Tables().Uri.Host);
        Assert.Equal("snapstone-packages", account.Container("snapstone-packages").Name);
        Assert.Contains("DefaultAzureCredential", account.Describe());
    }

    [Theory]
    [InlineData("https://storage.example.net", null, "Snapstone:Storage:ServiceUri 'https://storage.example.net/' is not a '<account>.blob.<suffix>' endpoint: set Snapstone:Storage:TableServiceUri as well")]
    [InlineData("http://acme.blob.core.windows.net", null, "Snapstone:Storage:ServiceUri must be an https:// blob endpoint (got 'http://acme.blob.core.windows.net/')")]
    [InlineData("https://acme.blob.core.windows.net", "http://acme.table.core.windows.net", "Snapstone:Storage:TableServiceUri must be an https:// table endpoint (got 'http://acme.table.core.windows.net/')")]
    public void A_service_uri_that_cannot_be_used_is_refused_naming_the_key(string blobs, string? tables, string message)
    {
        var refusal = Assert.Throws<InvalidOperationException>(() => StorageAccount.FromServiceUri(new Uri(blobs), tables is null ? null : new Uri(tables), new NoCredential()));
        Assert.Equal(message, refusal.Message);
    }

    [Theory]
    [InlineData("Localhost", null, null, false, false, "127.0.0.1", "127.0.0.1")]
    [InlineData("AzureTable", null, null, false, false, "127.0.0.1", "127.0.0.1")]
    [InlineData("AzureTable", "127.0.0.2", null, false, false, "127.0.0.2", "127.0.0.2")]
    [InlineData("AzureTable", null, "10.0.0.11", true, false, "10.0.0.11", "10.0.0.11")]
    [InlineData("AzureTable", "0.0.0.0", "10.0.0.11", true, false, "0.0.0.0", "10.0.0.11")]
    [InlineData("AzureTable", "0.0.0.0", "10.0.0.11", false, true, "0.0.0.0", "10.0.0.11")]
    [InlineData("AzureTable:Kubernetes", null, null, true, false, "0.0.0.0", null)]
    public void The_cluster_ports_listen_and_advertise_as_configured(string clustering, string? listen, string? advertised, bool tls, bool unencrypted, string expectedListen, string? expectedAdvertised)
    {
        var endpoints = ClusterEndpoints.Resolve(Settings(clustering, listen, advertised, tls, unencrypted));
        Assert.Equal(IPAddress.Parse(expectedListen), endpoints.Listen);
        Assert.Equal(expectedAdvertised is null ? null : IPAddress.Parse(expectedAdvertised), endpoints.Advertised);
    }

    [Theory]
    [InlineData("AzureTable", null, "10.0.0.11", "the silo and gateway ports would listen on 10.0.0.11 without TLS: configure Snapstone:Cluster:Tls")]
    [InlineData("AzureTable", "0.0.0.0", "10.0.0.11", "the silo and gateway ports would listen on 0.0.0.0 without TLS: configure Snapstone:Cluster:Tls")]
    [InlineData("AzureTable:Kubernetes", null, null, "the silo and gateway ports would listen on 0.0.0.0 without TLS: configure Snapstone:Cluster:Tls")]
    [InlineData("AzureTable", "0.0.0.0", null, "Snapstone:Cluster:ListenAddress=0.0.0.0 needs Snapstone:Cluster:AdvertisedAddress")]
    [InlineData("AzureTable", "not-an-address", null, "Snapstone:Cluster:ListenAddress must be an IP address (got 'not-an-address')")]
    [InlineData("Localhost", "127.0.0.2", null, "Snapstone:Cluster:ListenAddress and AdvertisedAddress need Snapstone:Cluster:Clustering=AzureTable")]
    public void Ports_beyond_loopback_without_tls_and_incomplete_addresses_are_refused_at_start(string clustering, string? listen, string? advertised, string message)
    {
        var refusal = Assert.Throws<InvalidOperationException>(() => ClusterEndpoints.Resolve(Settings(clustering, listen, advertised, tls: false, unencrypted: false)));
        Assert.StartsWith(message, refusal.Message);
    }

    private static ClusterSettings Settings(string clustering, string? listen, string? advertised, bool tls, bool unencrypted) => new()
    {
        Clustering = Enum.Parse<ClusteringMode>(clustering.Split(':')[0]),
        Kubernetes = clustering.EndsWith(":Kubernetes", StringComparison.Ordinal),
        ListenAddress = listen,
        AdvertisedAddress = advertised,
        AllowUnencrypted = unencrypted,
        Tls = tls ? new ClusterTlsOptions { CertificatePath = "/etc/snapstone/tls/tls.crt" } : new ClusterTlsOptions(),
    };

    /// <summary>Building clients never asks for a token; a test that did would fail here instead of reaching out.</summary>
    private sealed class NoCredential : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("no token in tests");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("no token in tests");
    }
}
