using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Snapstone.Grains.Storage;

/// <summary>
/// Package content and metadata in blob storage. Content is content-addressed
/// (<c>{unit}/content/{sha256}</c>) and metadata is one immutable JSON document per version
/// (<c>{unit}/versions/000000000007.json</c>); grain state carries only hashes and sizes.
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

public sealed class BlobPackageStore(BlobContainerClient container) : IPackageStore
{
    private int _created;

    public async Task PutContentAsync(string unit, string sha256, byte[] content, CancellationToken ct = default)
    {
        await EnsureContainerAsync(ct);
        var blob = container.GetBlobClient($"{unit}/content/{sha256}");
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
        try
        {
            var result = await container.GetBlobClient($"{unit}/content/{sha256}").DownloadContentAsync(ct);
            return result.Value.Content.ToArray();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task PutRecordAsync(PackageRecord record, CancellationToken ct = default)
    {
        await EnsureContainerAsync(ct);
        var json = JsonSerializer.SerializeToUtf8Bytes(record, SnapstoneJson.Options);
        // Overwrite is deliberate: a version number is only taken once the unit's state records it,
        // so a record left behind by a crash before that is replaced, never a published one.
        await container.GetBlobClient(RecordName(record.Unit, record.Version))
            .UploadAsync(new BinaryData(json), new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } }, ct);
    }

    public async Task<PackageRecord?> GetRecordAsync(string unit, long version, CancellationToken ct = default)
    {
        try
        {
            var result = await container.GetBlobClient(RecordName(unit, version)).DownloadContentAsync(ct);
            return JsonSerializer.Deserialize<PackageRecord>(result.Value.Content.ToMemory().Span, SnapstoneJson.Options);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task PingAsync(CancellationToken ct = default) => await container.ExistsAsync(ct);

    private static string RecordName(string unit, long version) => $"{unit}/versions/{version:D12}.json";

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
