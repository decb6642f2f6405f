using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Snapstone.Client;
using Snapstone.Domain.Units;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// Closed cluster ports: with <c>Snapstone:Cluster:Tls</c> the silo-to-silo and client-to-gateway connections are
/// mutual TLS and the ports bind where configured; without it they bind to loopback only.
/// </summary>
public sealed class TlsTests
{
    [Fact]
    public async Task Two_silos_and_an_embedded_client_speak_mutual_tls_and_a_client_without_the_clusters_certificate_is_refused()
    {
        using var ca = TestCertificates.CreateAuthority("snapstone-test-ca");
        using var rogue = TestCertificates.CreateAuthority("rogue-ca");
        var (siloCertificate, siloKey) = ca.Issue("snapstone-silo");
        var cluster = new Dictionary<string, string>
        {
            ["Snapstone__Cluster__Clustering"] = "AzureTable",
            ["Snapstone__Cluster__ServiceId"] = TestStorage.Unique("svc"),
            ["Snapstone__Cluster__ClusterId"] = TestStorage.Unique("cluster"),
            ["Snapstone__Cluster__Tls__CertificatePath"] = siloCertificate,
            ["Snapstone__Cluster__Tls__KeyPath"] = siloKey,
            ["Snapstone__Cluster__Tls__CaPath"] = ca.CaPath,
        };
        // Each silo binds the address it is configured with (two loopback addresses, so the test stays on this host).
        await using var first = await ServerProcess.StartAsync(new Dictionary<string, string>(cluster) { ["Snapstone__Cluster__ListenAddress"] = "127.0.0.2" });
        await using var second = await ServerProcess.StartAsync(new Dictionary<string, string>(cluster) { ["Snapstone__Cluster__ListenAddress"] = "127.0.0.3" });
        Assert.Equal([IPAddress.Parse("127.0.0.2")], Listening.On(first.SiloPort));
        Assert.Equal([IPAddress.Parse("127.0.0.2")], Listening.On(first.GatewayPort));
        Assert.Equal([IPAddress.Parse("127.0.0.3")], Listening.On(second.SiloPort));

        // Silo to silo: the two form one cluster over TLS, so a unit defined through one is read through the other.
        var unit = TestStorage.Unique("unit");
        Assert.Equal(200, (await first.Client("ci").Put($"/v1/units/{unit}", new { owner = "edge" })).Status);
        await Eventually.Until(async () => (await second.Client("reader").Get($"/v1/units/{unit}")).Status == 200,
            $"unit {unit}, defined on the first silo, to be read through the second");
        Assert.DoesNotContain("Authentication failed", first.Log + second.Log);

        // Client to gateway: the embedded client presents a certificate from the cluster's CA.
        var (clientCertificate, clientKey) = ca.Issue("billing-service");
        using (var client = await StartClientAsync(first, new ClusterTlsOptions { CertificatePath = clientCertificate, KeyPath = clientKey, CaPath = ca.CaPath }))
        {
            var snapstone = client.Services.GetRequiredService<SnapstoneClient>();
            var view = await snapstone.GetUnitAsync(unit);
            Assert.Equal("edge", view.Definition.Owner);
            await snapstone.DefineUnitAsync(TestStorage.Unique("unit"), new UnitDefinition { Owner = "billing" }, "billing-service");
            await client.StopAsync();
        }

        // A client with no certificate, or one the cluster's CA did not issue, never gets a connection: the Orleans
        // client keeps retrying the gateways until it gives up, and at the TLS level the gateway and the silo port
        // close the connection of a peer without an admissible certificate.
        var (rogueCertificate, rogueKey) = rogue.Issue("intruder");
        await AssertNeverConnectsAsync(first, new ClusterTlsOptions());
        await AssertNeverConnectsAsync(first, new ClusterTlsOptions { CertificatePath = rogueCertificate, KeyPath = rogueKey, CaPath = ca.CaPath });
        foreach (var port in new[] { first.GatewayPort, first.SiloPort })
        {
            Assert.True(await TlsSession.IsAdmittedAsync(IPAddress.Parse("127.0.0.2"), port, clientCertificate, clientKey), $"a certificate of the cluster's CA was refused on port {port}");
            Assert.False(await TlsSession.IsAdmittedAsync(IPAddress.Parse("127.0.0.2"), port, null, null), $"port {port} admitted a peer without a certificate");
            Assert.False(await TlsSession.IsAdmittedAsync(IPAddress.Parse("127.0.0.2"), port, rogueCertificate, rogueKey), $"port {port} admitted a certificate of another CA");
        }
    }

    [Fact]
    public async Task Without_tls_the_cluster_ports_listen_on_loopback_only_and_a_wider_address_is_refused_at_startup()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Cluster__Clustering"] = "AzureTable",
        });
        Assert.Equal([IPAddress.Loopback], Listening.On(server.SiloPort));
        Assert.Equal([IPAddress.Loopback], Listening.On(server.GatewayPort));

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Cluster__Clustering"] = "AzureTable",
            ["Snapstone__Cluster__ListenAddress"] = "0.0.0.0",
            ["Snapstone__Cluster__AdvertisedAddress"] = "127.0.0.1",
        }));
        Assert.Contains("without TLS: configure Snapstone:Cluster:Tls", refused.Message);
    }

    private static async Task<IHost> StartClientAsync(ServerProcess server, ClusterTlsOptions tls, TimeSpan? limit = null)
    {
        var storage = await TestStorage.ConnectionStringAsync();
        var builder = Host.CreateApplicationBuilder();
        builder.AddSnapstoneClient(o =>
        {
            o.ServiceId = server.ServiceId;
            o.ClusterId = server.ClusterId;
            o.ClusteringConnectionString = storage;
            o.Tls = tls;
        });
        var host = builder.Build();
        using var cancel = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(60));
        try
        {
            await host.StartAsync(cancel.Token);
        }
        catch
        {
            host.Dispose();
            throw;
        }
        return host;
    }

    /// <summary>The client that presents the cluster's certificate connects in well under this.</summary>
    private static async Task AssertNeverConnectsAsync(ServerProcess server, ClusterTlsOptions tls)
    {
        var refusal = await Assert.ThrowsAnyAsync<Exception>(async () => (await StartClientAsync(server, tls, TimeSpan.FromSeconds(15))).Dispose());
        Assert.True(refusal is OperationCanceledException or Orleans.Runtime.OrleansException or Orleans.Runtime.Messaging.ConnectionFailedException,
            $"unexpected failure: {refusal}");
    }
}

/// <summary>A bare TLS session to a cluster port: whether the port keeps a connection open for the certificate presented.</summary>
public static class TlsSession
{
    public static async Task<bool> IsAdmittedAsync(IPAddress address, int port, string? certificatePath, string? keyPath)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(address, port);
        await using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        var options = new System.Net.Security.SslClientAuthenticationOptions { TargetHost = "snapstone-silo" };
        if (certificatePath is not null)
        {
            using var pem = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            options.ClientCertificates = [System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(pem.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null)];
        }
        try
        {
            await tls.AuthenticateAsClientAsync(options);
            // With TLS 1.3 the server judges the client's certificate after the client's handshake is done: an
            // admitted peer's connection stays open (the server sends its preamble, or waits for ours), a refused one
            // is closed.
            var read = tls.ReadAsync(new byte[64]).AsTask();
            return await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(2))) != read || await read > 0;
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            return false;
        }
    }
}

/// <summary>The addresses a local TCP port listens on, read from <c>/proc/net/tcp</c> and <c>/proc/net/tcp6</c>.</summary>
public static class Listening
{
    public static IReadOnlyList<IPAddress> On(int port)
    {
        var found = new List<IPAddress>();
        foreach (var (file, ipv6) in new[] { ("/proc/net/tcp", false), ("/proc/net/tcp6", true) })
        {
            if (!File.Exists(file))
            {
                continue;
            }
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var local = fields[1].Split(':');
                if (fields[3] != "0A" || int.Parse(local[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) != port)
                {
                    continue;
                }
                var bytes = Convert.FromHexString(local[0]);
                // The kernel prints each 32-bit word in host (little-endian) order.
                for (var word = 0; word < bytes.Length; word += 4)
                {
                    Array.Reverse(bytes, word, 4);
                }
                found.Add(ipv6 && bytes.Length == 16 ? new IPAddress(bytes) is var v6 && v6.IsIPv4MappedToIPv6 ? v6.MapToIPv4() : v6 : new IPAddress(bytes));
            }
        }
        return found;
    }
}
