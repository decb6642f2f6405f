using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Snapstone.Grains.Storage;

/// <summary>
/// Package content and metadata in blob storage. Content is content-addressed
/// (<c>{service}/{unit}/content/{sha256}</c>) and metadata is one immutable JSON document per version
/// (<c>{service}/{unit}/versions/000000000007.json</c>); grain state carries only hashes and sizes.
/// </summary>
public interface IPackageStore
{
    Task PutContentAsync(string unit, string sha256, byte[] content, CancellationToken ct = default);

    Task<byte[]?> GetContentAsync(string unit, string sha256, CancellationToken ct = default);

    Task PutRecordAsync(PackageRecord record, CancellationToken ct = default);

    Task<PackageRecord?> GetRecordAsync(string unit, long version, CancellationToken ct = default);

    /// <summary>Throws when storage cannot be reached; used by readiness checks.</summary>
    Task PingAsync(CancellationToken ct = default);
}

/// <summary>
/// Every blob name starts with the service id, as grain state, reminders and the audit log are keyed by it: two
/// Snapstone services sharing a storage account must never read each other's packages. Both have a unit's
/// version 2, and without the prefix one would serve the other's record, so a node told one hash would fetch
/// content of another. Blobs written before the prefix existed (<c>{unit}/...</c>, a single service per
/// account) are still read when the prefixed one is missing: content only when it hashes to what was asked for,
/// a record only when it is this unit's.
/// </summary>
public sealed class BlobPackageStore(BlobContainerClient container, string service) : IPackageStore
{
    private int _created;

    public async Task PutContentAsync(string unit, string sha256, byte[] content, CancellationToken ct = default)
    {
        await EnsureContainerAsync(ct);
        var blob = container.GetBlobClient(ContentName(service, unit, sha256));
        try
        {
            // Content-addressed: if the blob exists it already holds these bytes.
            await blob.UploadAsync(new BinaryData(content), overwrite: false, ct);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
        }
    }

    public async Task<byte[]?> GetContentAsync(string unit, string sha256, CancellationToken ct = default)
    {
        if (await DownloadAsync(ContentName(service, unit, sha256), ct) is { } content)
        {
            return content.ToArray();
        }
        return await DownloadAsync(ContentName(null, unit, sha256), ct) is { } legacy &&
               Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(legacy.ToMemory().Span)) == sha256
            ? legacy.ToArray()
            : null;
    }

    public async Task PutRecordAsync(PackageRecord record, CancellationToken ct = default)
    {
        await EnsureContainerAsync(ct);
        var json = JsonSerializer.SerializeToUtf8Bytes(record, SnapstoneJson.Options);
        // Overwrite is deliberate: a version number is only taken once the unit's state records it,
        // so a record left behind by a crash before that is replaced, never a published one.
        await container.GetBlobClient(RecordName(service, record.Unit, record.Version))
            .UploadAsync(new BinaryData(json), new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } }, ct);
    }

    public async Task<PackageRecord?> GetRecordAsync(string unit, long version, CancellationToken ct = default)
    {
        var json = await DownloadAsync(RecordName(service, unit, version), ct) ?? await DownloadAsync(RecordName(null, unit, version), ct);
        var record = json is null ? null : JsonSerializer.Deserialize<PackageRecord>(json.ToMemory().Span, SnapstoneJson.Options);
        return record is not null && record.Unit == unit && record.Version == version ? record : null;
    }

    public async Task PingAsync(CancellationToken ct = default) => await container.ExistsAsync(ct);

    private static string ContentName(string? service, string unit, string sha256) => $"{Prefix(service)}{unit}/content/{sha256}";

    private static string RecordName(string? service, string unit, long version) => $"{Prefix(service)}{unit}/versions/{version:D12}.json";

    /// <summary>Null: the names blobs had before they were kept per service.</summary>
    private static string Prefix(string? service) => service is null ? "" : $"{Uri.EscapeDataString(service)}/";

    private async Task<BinaryData?> DownloadAsync(string name, CancellationToken ct)
    {
        try
        {
            return (await container.GetBlobClient(name).DownloadContentAsync(ct)).Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    private async Task EnsureContainerAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _created) == 1)
        {
            return;
        }
        await container.CreateIfNotExistsAsync(cancellationToken: ct);
        Volatile.Write(ref _created, 1);
    }
}
