using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Snapstone.Testing;

/// <summary>
/// A private CA and certificates it issues, made at test time with <see cref="CertificateRequest"/> and written as
/// PEM files (certificate, key, CA) into a folder of their own, the way a cluster's Secret holds them.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly X509Certificate2 _authority;

    private TestCertificates(string folder, X509Certificate2 authority, string name)
    {
        Folder = folder;
        _authority = authority;
        CaPath = Path.Combine(folder, $"{name}-ca.crt");
        File.WriteAllText(CaPath, authority.ExportCertificatePem());
    }

    public string Folder { get; }

    /// <summary>The CA's certificate, PEM.</summary>
    public string CaPath { get; }

    /// <summary>A new CA named <paramref name="name"/>, with its files in a fresh temporary folder.</summary>
    public static TestCertificates CreateAuthority(string name)
    {
        var folder = Directory.CreateTempSubdirectory($"snapstone-tls-{name}-").FullName;
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return new TestCertificates(folder, authority, name);
    }

    /// <summary>A certificate for server and client authentication signed by this CA; answers its PEM certificate and key paths.</summary>
    public (string CertificatePath, string KeyPath) Issue(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        request.CertificateExtensions.Add(names.Build());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(_authority, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(12), serial);
        var certificatePath = Path.Combine(Folder, $"{name}.crt");
        var keyPath = Path.Combine(Folder, $"{name}.key");
        File.WriteAllText(certificatePath, issued.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    public void Dispose()
    {
        _authority.Dispose();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
