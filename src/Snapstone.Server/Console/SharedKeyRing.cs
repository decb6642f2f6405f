using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Snapstone.Server.Hosting;

namespace Snapstone.Server.OperatorConsole;

/// <summary>Configuration section <c>Snapstone:Console</c>.</summary>
public sealed class ConsoleOptions
{
    public const string Section = "Snapstone:Console";

    /// <summary>
    /// A secret of at least 32 characters that encrypts the console's key ring at rest (AES-256-GCM under a key
    /// derived from it). Empty (the default): the key ring is stored in plain XML, protected only by access to
    /// the storage account. Every gateway of a service needs the same value.
    /// </summary>
    public string? KeyRingKey { get; set; }

    public const int MinKeyRingKeyLength = 32;

    public string? Problem() =>
        KeyRingKey is { Length: > 0 and < MinKeyRingKeyLength } ? $"Snapstone:Console:KeyRingKey must be at least {MinKeyRingKeyLength} characters (got {KeyRingKey.Length})" : null;

    /// <summary>The AES-256 key: HKDF-SHA256 of the configured secret, so any secret of the minimum length will do.</summary>
    internal byte[]? Key() => string.IsNullOrEmpty(KeyRingKey) ? null
        : HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(KeyRingKey), 32, info: "snapstone-console-key-ring"u8.ToArray());

    /// <summary>Names the key without revealing it, so a key ring written under another key says so.</summary>
    internal static string KeyId(byte[] key) => Convert.ToHexStringLower(SHA256.HashData([.. "snapstone-key-id\n"u8, .. key]))[..16];
}

/// <summary>
/// The console's data-protection key ring (what encrypts and signs its session cookies and anti-forgery tokens), kept
/// in one blob of the storage account every gateway already uses, per service id: <c>{container}/{serviceId}/console/key-ring.xml</c>.
/// Gateways of one service read the same keys, so a session made on one is good on every other, and a restarted
/// gateway keeps the sessions it made. A write appends one key under the blob's ETag and retries when another
/// gateway wrote first, so no key is lost.
/// </summary>
public sealed class BlobKeyRing(BlobClient blob) : IXmlRepository
{
    // Keys are added every 90 days, so two gateways rarely race; each lost race means the other wrote.
    private const int MaxAttempts = 50;

    public IReadOnlyCollection<XElement> GetAllElements() => [.. Read().Document.Root?.Elements() ?? []];

    public void StoreElement(XElement element, string friendlyName)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (document, etag) = Read();
            var root = document.Root ?? new XElement("repository");
            if (document.Root is null)
            {
                document.Add(root);
            }
            root.Add(new XElement(element));
            var conditions = etag is { } tag ? new BlobRequestConditions { IfMatch = tag } : new BlobRequestConditions { IfNoneMatch = ETag.All };
            try
            {
                blob.Upload(BinaryData.FromString(document.ToString(SaveOptions.DisableFormatting)), new BlobUploadOptions
                {
                    Conditions = conditions,
                    HttpHeaders = new BlobHttpHeaders { ContentType = "application/xml" },
                });
                return;
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412 && attempt < MaxAttempts)
            {
                // Another gateway wrote the key ring since it was read: read it again and append to what it holds now.
            }
        }
    }

    private (XDocument Document, ETag? ETag) Read()
    {
        try
        {
            var content = blob.DownloadContent();
            return (XDocument.Parse(content.Value.Content.ToString()), content.Value.Details.ETag);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            if (e.ErrorCode == BlobErrorCode.ContainerNotFound)
            {
                blob.GetParentBlobContainerClient().CreateIfNotExists();
            }
            return (new XDocument(), null);
        }
    }
}

/// <summary>Encrypts each key of the ring with AES-256-GCM under <see cref="ConsoleOptions.KeyRingKey"/> before it is stored.</summary>
public sealed class KeyRingEncryptor(byte[] key) : IXmlEncryptor
{
    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var plain = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        var cipher = new byte[plain.Length];
        var tag = new byte[AesGcm.TagByteSizes.MaxSize];
        using (var aes = new AesGcm(key, tag.Length))
        {
            aes.Encrypt(nonce, plain, cipher, tag);
        }
        var element = new XElement("encryptedKey",
            new XAttribute("algorithm", "AES-256-GCM"),
            new XAttribute("keyId", ConsoleOptions.KeyId(key)),
            new XElement("nonce", Convert.ToBase64String(nonce)),
            new XElement("tag", Convert.ToBase64String(tag)),
            new XElement("value", Convert.ToBase64String(cipher)));
        return new EncryptedXmlInfo(element, typeof(KeyRingDecryptor));
    }
}

/// <summary>Decrypts a key that <see cref="KeyRingEncryptor"/> stored; data protection makes it from the services.</summary>
public sealed class KeyRingDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        var key = services.GetRequiredService<IOptions<ConsoleOptions>>().Value.Key()
            ?? throw new CryptographicException("the console's key ring is encrypted and Snapstone:Console:KeyRingKey is not set: set the key it was written with");
        var keyId = (string?)encryptedElement.Attribute("keyId");
        if (keyId != ConsoleOptions.KeyId(key))
        {
            throw new CryptographicException($"the console's key ring was encrypted under another Snapstone:Console:KeyRingKey (key id {keyId}, configured {ConsoleOptions.KeyId(key)})");
        }
        var nonce = Convert.FromBase64String((string)encryptedElement.Element("nonce")!);
        var tag = Convert.FromBase64String((string)encryptedElement.Element("tag")!);
        var cipher = Convert.FromBase64String((string)encryptedElement.Element("value")!);
        var plain = new byte[cipher.Length];
        using (var aes = new AesGcm(key, tag.Length))
        {
            aes.Decrypt(nonce, cipher, tag, plain);
        }
        return XElement.Parse(Encoding.UTF8.GetString(plain));
    }
}

public static class SharedKeyRing
{
    /// <summary>The key ring's blob name in the package container: one per service id, as grain state is.</summary>
    public static string BlobName(string serviceId) => $"{serviceId}/console/key-ring.xml";

    /// <summary>
    /// Data protection for the console with its key ring in the storage account (blob <see cref="BlobName"/>),
    /// encrypted at rest when <c>Snapstone:Console:KeyRingKey</c> is set. The application name is fixed, so gateways
    /// installed in different folders share the keys.
    /// </summary>
    public static IServiceCollection AddSharedKeyRing(this IServiceCollection services)
    {
        services.AddOptions<ConsoleOptions>().BindConfiguration(ConsoleOptions.Section)
            .Validate(o => o.Problem() is null, $"Snapstone:Console:KeyRingKey must be at least {ConsoleOptions.MinKeyRingKeyLength} characters").ValidateOnStart();
        services.AddDataProtection().SetApplicationName("snapstone-console");
        services.AddOptions<KeyManagementOptions>().Configure<StorageAccount, IOptions<ClusterOptions>, IOptions<ServerOptions>, IOptions<ConsoleOptions>, ILoggerFactory>(
            (o, account, cluster, server, console, logs) =>
            {
                var blob = account.Container(server.Value.Storage.PackageContainer).GetBlobClient(BlobName(cluster.Value.ServiceId));
                o.XmlRepository = new BlobKeyRing(blob);
                var log = logs.CreateLogger("Snapstone.Console");
                if (console.Value.Key() is { } key)
                {
                    o.XmlEncryptor = new KeyRingEncryptor(key);
                    log.LogInformation("Console key ring: blob {Blob}, encrypted at rest (key id {KeyId})", blob.Name, ConsoleOptions.KeyId(key));
                }
                else
                {
                    log.LogInformation("Console key ring: blob {Blob}, not encrypted at rest (set Snapstone:Console:KeyRingKey to encrypt it)", blob.Name);
                }
            });
        return services;
    }
}
