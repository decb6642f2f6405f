using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Azure.Data.Tables;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace Snapstone.Client;

/// <summary>How an internal service reaches the Snapstone cluster (section <c>Snapstone:Client</c>).</summary>
public sealed class SnapstoneClientOptions
{
    public string ClusterId { get; set; } = "snapstone";
    public string ServiceId { get; set; } = "snapstone";
    /// <summary>Azure Storage holding the cluster's membership table; when empty (and no <see cref="ClusteringServiceUri"/>) the client uses localhost clustering.</summary>
    public string? ClusteringConnectionString { get; set; }
    /// <summary>The membership table's endpoint (<c>https://account.table.core.windows.net</c>), reached with <c>DefaultAzureCredential</c>.</summary>
    public Uri? ClusteringServiceUri { get; set; }
    /// <summary>The silo gateway port for localhost clustering.</summary>
    public int GatewayPort { get; set; } = 30000;
    /// <summary>
    /// How often the client rereads the membership table's list of live gateways (Orleans' default is a minute). A
    /// gateway cut off from the network answers nothing and resets nothing, so until the client rereads the list and
    /// drops the silo the cluster declared dead, every call routed through it waits out its response timeout.
    /// </summary>
    public int GatewayListRefreshSeconds { get; set; } = 5;
    /// <summary>The client certificate and the cluster's CA, when the cluster's ports use mutual TLS (section <c>Snapstone:Client:Tls</c>).</summary>
    public ClusterTlsOptions Tls { get; set; } = new();
}

/// <summary>
/// Mutual TLS between silos and between clients and gateways. Each side presents a certificate and accepts
/// the other's only if it chains to <see cref="CaPath"/> (the cluster's own CA: every certificate it issued is a
/// member), or, without one, to the system's trusted roots. Silos are dialled by IP address, so the
/// certificate's names are not checked; the CA is what admits a peer.
/// The certificate comes from files (<see cref="CertificatePath"/>: PEM with <see cref="KeyPath"/>, or
/// PKCS#12 with <see cref="Password"/>) or from the certificate store (<see cref="Thumbprint"/>).
/// </summary>
public sealed class ClusterTlsOptions
{
    /// <summary>A PEM certificate (with <see cref="KeyPath"/>, or its key in the same file), or a PKCS#12 (.pfx/.p12) file.</summary>
    public string? CertificatePath { get; set; }
    /// <summary>The PEM private key of <see cref="CertificatePath"/>, when it is a separate file.</summary>
    public string? KeyPath { get; set; }
    /// <summary>Password of a PKCS#12 file or of an encrypted PEM key.</summary>
    public string? Password { get; set; }
    /// <summary>Thumbprint (SHA-1 hex) of a certificate in <see cref="StoreName"/>/<see cref="StoreLocation"/>, instead of files.</summary>
    public string? Thumbprint { get; set; }
    public StoreName StoreName { get; set; } = StoreName.My;
    public StoreLocation StoreLocation { get; set; } = StoreLocation.CurrentUser;
    /// <summary>PEM file of the CA certificate(s) a peer's certificate must chain to. Empty: the system's trusted roots.</summary>
    public string? CaPath { get; set; }
    /// <summary>Check revocation of peer certificates online (needs the CA's CRL or OCSP endpoint to be reachable).</summary>
    public bool CheckRevocation { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath) || !string.IsNullOrWhiteSpace(Thumbprint);

    /// <summary>The local certificate with its private key; a clear error naming the key when it cannot be loaded.</summary>
    public X509Certificate2 LoadCertificate(string section)
    {
        X509Certificate2 certificate;
        if (!string.IsNullOrWhiteSpace(Thumbprint))
        {
            using var store = new X509Store(StoreName, StoreLocation);
            store.Open(OpenFlags.ReadOnly);
            var found = store.Certificates.Find(X509FindType.FindByThumbprint, Thumbprint.Replace(" ", "", StringComparison.Ordinal), validOnly: false);
            certificate = found.Count > 0 ? found[0]
                : throw new InvalidOperationException($"{section}:Thumbprint: no certificate {Thumbprint} in the {StoreLocation}/{StoreName} store");
        }
        else
        {
            var path = CertificatePath!;
            if (!File.Exists(path))
            {
                throw new InvalidOperationException($"{section}:CertificatePath: no file at {path}");
            }
            try
            {
                certificate = IsPem(path)
                    ? Reloaded(string.IsNullOrEmpty(Password)
                        ? X509Certificate2.CreateFromPemFile(path, KeyPath)
                        : X509Certificate2.CreateFromEncryptedPemFile(path, Password, KeyPath))
                    : X509CertificateLoader.LoadPkcs12FromFile(path, Password);
            }
            catch (System.Security.Cryptography.CryptographicException e)
            {
                throw new InvalidOperationException($"{section}:CertificatePath: cannot load {path}{(KeyPath is null ? "" : $" with key {KeyPath}")}: {e.Message}", e);
            }
        }
        if (!certificate.HasPrivateKey)
        {
            throw new InvalidOperationException($"{section}: certificate {certificate.Subject} has no private key (set {section}:KeyPath for a PEM key file)");
        }
        return certificate;
    }

    /// <summary>The CA certificates peers must chain to; empty for the system's trusted roots.</summary>
    public X509Certificate2Collection LoadAuthorities(string section)
    {
        var authorities = new X509Certificate2Collection();
        if (string.IsNullOrWhiteSpace(CaPath))
        {
            return authorities;
        }
        if (!File.Exists(CaPath))
        {
            throw new InvalidOperationException($"{section}:CaPath: no file at {CaPath}");
        }
        authorities.ImportFromPemFile(CaPath);
        return authorities.Count > 0 ? authorities : throw new InvalidOperationException($"{section}:CaPath: {CaPath} holds no PEM certificate");
    }

    /// <summary>Both sides present their certificate and require the other's; the peer is admitted by its chain.</summary>
    public void Apply(TlsOptions tls, X509Certificate2 certificate, X509Certificate2Collection authorities)
    {
        tls.LocalCertificate = certificate;
        tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.CheckCertificateRevocation = CheckRevocation;
        var revocation = CheckRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck;
        tls.RemoteCertificateValidation = (peer, _, errors) => ChainsToAuthority(peer, authorities, revocation, errors);
    }

    /// <summary>
    /// Admits <paramref name="peer"/> when it chains to one of <paramref name="authorities"/> (or, with none, when
    /// the platform found no chain error). Name mismatches are ignored: peers are addressed by IP.
    /// </summary>
    public static bool ChainsToAuthority(X509Certificate2 peer, X509Certificate2Collection authorities, X509RevocationMode revocation, SslPolicyErrors errors)
    {
        if (authorities.Count == 0)
        {
            return (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = revocation;
        return chain.Build(peer);
    }

    private static bool IsPem(string path)
    {
        using var reader = new StreamReader(path);
        var buffer = new char[4096];
        var read = reader.Read(buffer, 0, buffer.Length);
        return new string(buffer, 0, read).Contains("-----BEGIN", StringComparison.Ordinal);
    }

    /// <summary>A PEM-loaded key is ephemeral; a PKCS#12 round trip gives SslStream a key it can use on every platform.</summary>
    private static X509Certificate2 Reloaded(X509Certificate2 pem)
    {
        using (pem)
        {
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
    }
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
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(Math.Clamp(options.GatewayListRefreshSeconds, 1, 300)));
            if (!string.IsNullOrEmpty(options.ClusteringConnectionString))
            {
                client.UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(options.ClusteringConnectionString));
            }
            else if (options.ClusteringServiceUri is { } tables)
            {
                client.UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(tables, new Azure.Identity.DefaultAzureCredential()));
            }
            else
            {
                client.UseLocalhostClustering(options.GatewayPort, options.ServiceId, options.ClusterId);
            }
            if (options.Tls.Enabled)
            {
                const string section = "Snapstone:Client:Tls";
                var certificate = options.Tls.LoadCertificate(section);
                var authorities = options.Tls.LoadAuthorities(section);
                client.UseTls(tls => options.Tls.Apply(tls, certificate, authorities));
            }
        });
        builder.Services.AddSnapstoneOperations();
        return builder;
    }

    /// <summary>Registers <see cref="SnapstoneClient"/> over whatever <see cref="IGrainFactory"/> the host has (a silo's, or a client's).</summary>
    public static IServiceCollection AddSnapstoneOperations(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<ReportOptions>().BindConfiguration(ReportOptions.Section)
            .Validate(o => o.Problem() is null, $"{ReportOptions.Section}:MaxRequestsPerSecond must be a finite number of 1 or more").ValidateOnStart();
        return services.AddSingleton<SnapstoneClient>();
    }
}
