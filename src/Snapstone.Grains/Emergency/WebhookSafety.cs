using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Options;
using Snapstone.Domain.Webhooks;

namespace Snapstone.Grains.Emergency;

/// <summary>Host settings for outgoing deliveries, webhooks and notifications alike (section <c>Snapstone:Webhooks</c>).</summary>
public sealed class WebhookOptions
{
    public const string Section = "Snapstone:Webhooks";

    /// <summary>
    /// Inward destinations that may be sent to anyway: CIDR blocks, addresses or whole host names
    /// (<c>Snapstone__Webhooks__AllowedDestinations__0=10.20.0.0/16</c>). Empty: none.
    /// </summary>
    public List<string> AllowedDestinations { get; set; } = [];

    /// <summary>
    /// The key that seals webhook and notification secrets at rest (32 characters or more, kept outside the storage
    /// account). Empty: a random key kept in the storage account's package container, shared by every silo.
    /// </summary>
    public string? SecretKey { get; set; }

    /// <summary>Consecutive failed attempts after which a receiver's circuit opens.</summary>
    public int BreakerFailures { get; set; } = 5;

    /// <summary>How long an open circuit holds every delivery before letting one probe through.</summary>
    public double BreakerCooldownSeconds { get; set; } = 30;

    /// <summary>How long one attempt may take, connection included.</summary>
    public double AttemptTimeoutSeconds { get; set; } = 10;

    public string? Problem()
    {
        if (SecretKey is { Length: > 0 and < 32 }) return $"{Section}:SecretKey must be at least 32 characters (got {SecretKey.Length})";
        if (BreakerFailures is < 1 or > 1000) return $"{Section}:BreakerFailures must be 1 to 1000 (got {BreakerFailures})";
        if (!double.IsFinite(BreakerCooldownSeconds) || BreakerCooldownSeconds is < 0.1 or > 86400) return $"{Section}:BreakerCooldownSeconds must be 0.1 to 86400 (got {BreakerCooldownSeconds})";
        if (!double.IsFinite(AttemptTimeoutSeconds) || AttemptTimeoutSeconds is < 0.1 or > 300) return $"{Section}:AttemptTimeoutSeconds must be 0.1 to 300 (got {AttemptTimeoutSeconds})";
        var (_, errors) = AllowList.Parse(AllowedDestinations);
        return errors.Count > 0 ? string.Join("; ", errors) : null;
    }
}

/// <summary>Refuses to start with a bad <see cref="WebhookOptions"/>, naming the key and its limit.</summary>
public sealed class WebhookOptionsValidation : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options) =>
        options.Problem() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}

/// <summary>
/// Where deliveries may go, applied twice: when a receiver is defined (its host, resolved, must not be inward) and
/// on every connection (<see cref="ConnectAsync"/>: the name is resolved again, every address checked, and the
/// connection made to a checked address, so a name that resolves elsewhere later — DNS rebinding — gains nothing).
/// </summary>
public sealed class DestinationGuard
{
    private static readonly TimeSpan DefinitionLookup = TimeSpan.FromSeconds(3);

    public DestinationGuard(IOptions<WebhookOptions> options)
    {
        Allowed = AllowList.Parse(options.Value.AllowedDestinations).List;
        ConnectTimeout = TimeSpan.FromSeconds(options.Value.AttemptTimeoutSeconds);
    }

    public AllowList Allowed { get; }

    private TimeSpan ConnectTimeout { get; }

    /// <summary>
    /// The refusal of <paramref name="url"/>'s host (starting "url …"), or null. A name that does not resolve now is
    /// let through (it may be created later); every connection to it is checked when it is made.
    /// </summary>
    public async Task<string?> CheckDefinitionAsync(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return null;
        }
        var host = uri.IdnHost;
        if (Literal(host) is { } literal)
        {
            return Destinations.Check(host, literal, Allowed) is { } refusal ? "url " + refusal : null;
        }
        IPAddress[] addresses;
        try
        {
            using var lookup = new CancellationTokenSource(DefinitionLookup);
            addresses = await Dns.GetHostAddressesAsync(host, lookup.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ArgumentException)
        {
            return null;
        }
        return Destinations.Check(host, addresses, Allowed) is { } found ? "url " + found : null;
    }

    /// <summary>The handler every delivery is sent through: no redirects followed, no proxy, connections only to checked addresses.</summary>
    public SocketsHttpHandler Handler() => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        ConnectTimeout = ConnectTimeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        ConnectCallback = ConnectAsync,
    };

    /// <summary>Resolves the request's host, refuses it if any address is inward (and not allowed), and connects to a checked address.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = Literal(host) is { } literal ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        if (addresses.Length == 0)
        {
            throw new HttpRequestException($"'{host}' resolves to no address");
        }
        if (Destinations.Check(host, addresses, Allowed) is { } refusal)
        {
            throw new InwardDestinationException(refusal);
        }
        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw new HttpRequestException($"could not connect to '{host}' ({string.Join(", ", addresses.Select(a => a.ToString()))}): {last?.Message}", last);
    }

    private static IPAddress? Literal(string host) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var address) ? address : null;
}

/// <summary>A connection refused by Snapstone itself: the destination is inward and the allow-list does not name it.</summary>
public sealed class InwardDestinationException(string message) : HttpRequestException(message);

/// <summary>
/// Seals webhook secrets and notification credentials at rest with AES-256-GCM. The key is
/// <see cref="WebhookOptions.SecretKey"/> (stretched with HKDF-SHA256), or, without one, a random key created once
/// in the storage account's package container (<c>{serviceId}/keys/webhook-secrets.key</c>) and shared by every silo.
/// A sealed value reads <c>snapstone-sealed:v1:</c> and base64 of nonce, tag and ciphertext.
/// </summary>
public sealed class SecretBox
{
    public const string Prefix = "snapstone-sealed:v1:";
    private static readonly byte[] Purpose = Encoding.UTF8.GetBytes("snapstone webhook secrets v1");
    private readonly Lazy<Task<byte[]>> _key;

    public SecretBox(IOptions<WebhookOptions> options, Func<BlobContainerClient>? keyContainer, string serviceId)
    {
        var configured = options.Value.SecretKey;
        _key = new Lazy<Task<byte[]>>(() => string.IsNullOrEmpty(configured)
            ? StoredKeyAsync(keyContainer ?? throw new InvalidOperationException($"{WebhookOptions.Section}:SecretKey is not set and no storage holds a key"), serviceId)
            : Task.FromResult(HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(configured), 32, info: Purpose)));
    }

    public static bool IsSealed(string? value) => value?.StartsWith(Prefix, StringComparison.Ordinal) == true;

    public async Task<string> SealAsync(string plain)
    {
        var key = await _key.Value;
        var text = Encoding.UTF8.GetBytes(plain);
        var sealedBytes = new byte[12 + 16 + text.Length];
        var nonce = sealedBytes.AsSpan(0, 12);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(nonce, text, sealedBytes.AsSpan(28), sealedBytes.AsSpan(12, 16), Purpose);
        return Prefix + Convert.ToBase64String(sealedBytes);
    }

    /// <summary>The plain value; a value stored before sealing existed (no prefix) is returned as it is.</summary>
    public async Task<string> OpenAsync(string value)
    {
        if (!IsSealed(value))
        {
            return value;
        }
        var key = await _key.Value;
        var sealedBytes = Convert.FromBase64String(value[Prefix.Length..]);
        var text = new byte[sealedBytes.Length - 28];
        using var aes = new AesGcm(key, 16);
        aes.Decrypt(sealedBytes.AsSpan(0, 12), sealedBytes.AsSpan(28), sealedBytes.AsSpan(12, 16), text, Purpose);
        return Encoding.UTF8.GetString(text);
    }

    private static async Task<byte[]> StoredKeyAsync(Func<BlobContainerClient> containerOf, string serviceId)
    {
        var container = containerOf();
        await container.CreateIfNotExistsAsync();
        var blob = container.GetBlobClient($"{serviceId}/keys/webhook-secrets.key");
        try
        {
            var key = RandomNumberGenerator.GetBytes(32);
            // Only the first silo's key is kept: every other upload is refused and reads it back.
            await blob.UploadAsync(BinaryData.FromString(Convert.ToBase64String(key)), new BlobUploadOptions { Conditions = new() { IfNoneMatch = ETag.All } });
            return key;
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            var stored = await blob.DownloadContentAsync();
            return Convert.FromBase64String(stored.Value.Content.ToString());
        }
    }
}
