using System.Globalization;
using System.IO.Compression;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Orleans.Serialization;

namespace Snapstone.Grains.Storage;

/// <summary>
/// The evidence of a rollout's verdicts, one blob per recorded look, outside the rollout's state row:
/// <c>{service}/{rollout}/{wave:00}/latest</c> (the wave's newest look, replaced) and
/// <c>{service}/{rollout}/{wave:00}/look-{ticks}</c> (a look kept because its result changed or the rollout acted on it;
/// its kind in the metadata, so a look first kept as changed and then acted on is one blob).
/// </summary>
/// <remarks>
/// A look is stored as Orleans' own binary encoding of <see cref="RecordedLook"/>, gzipped: the codecs that read grain
/// state back exactly (doubles bit for bit, times to the tick), so judging stored evidence again with the same gates
/// gives the same verdict, and version-tolerant by <c>[Id]</c>. A 100-node canary beside 2,000 control nodes is about
/// 2,100 × 64 slots of three numbers: a few hundred kilobytes before compression, far less after (mostly zeros and
/// repeats). Each blob's metadata carries its wave, kind, time and result, so a listing says what is kept without
/// reading it.
/// </remarks>
public sealed class EvidenceStore(BlobContainerClient container, string service, Serializer serializer)
{
    private int _created;

    /// <summary>One stored look as a listing sees it.</summary>
    public sealed record Stored(string Name, int Wave, LookKind Kind, DateTimeOffset At);

    public async Task WriteAsync(RecordedLook look, CancellationToken ct = default)
    {
        await EnsureContainerAsync(ct);
        var bytes = serializer.SerializeToArray(look);
        using var packed = new MemoryStream();
        await using (var gzip = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true))
        {
            await gzip.WriteAsync(bytes, ct);
        }
        packed.Position = 0;
        await container.GetBlobClient(Name(look)).UploadAsync(packed, new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/x-orleans", ContentEncoding = "gzip" },
            Metadata = new Dictionary<string, string>
            {
                ["wave"] = look.Wave.ToString(CultureInfo.InvariantCulture),
                ["kind"] = look.Kind.ToString(),
                ["at"] = look.At.UtcTicks.ToString(CultureInfo.InvariantCulture),
                ["result"] = look.Verdict.Result.ToString(),
            },
        }, ct);
    }

    /// <summary>The looks stored for <paramref name="rollout"/> (one wave's, or every wave's), oldest first; nothing is downloaded.</summary>
    public async Task<IReadOnlyList<Stored>> ListAsync(string rollout, int? wave = null, CancellationToken ct = default)
    {
        await EnsureContainerAsync(ct);
        var found = new List<Stored>();
        var prefix = wave is { } k ? $"{Prefix(rollout)}{k:00}/" : Prefix(rollout);
        await foreach (var blob in container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix, Traits = BlobTraits.Metadata }, ct))
        {
            if (blob.Metadata.TryGetValue("wave", out var w) && int.TryParse(w, NumberStyles.None, CultureInfo.InvariantCulture, out var number) &&
                blob.Metadata.TryGetValue("kind", out var kind) && Enum.TryParse<LookKind>(kind, out var parsed) &&
                blob.Metadata.TryGetValue("at", out var at) && long.TryParse(at, NumberStyles.None, CultureInfo.InvariantCulture, out var ticks))
            {
                found.Add(new Stored(blob.Name, number, parsed, new DateTimeOffset(ticks, TimeSpan.Zero)));
            }
        }
        return [.. found.OrderBy(s => s.Wave).ThenBy(s => s.At)];
    }

    /// <summary>The look stored under <paramref name="name"/>, or null when it is gone.</summary>
    public async Task<RecordedLook?> ReadAsync(string name, CancellationToken ct = default)
    {
        try
        {
            var content = await container.GetBlobClient(name).DownloadContentAsync(ct);
            await using var gzip = new GZipStream(content.Value.Content.ToStream(), CompressionMode.Decompress);
            using var bytes = new MemoryStream();
            await gzip.CopyToAsync(bytes, ct);
            return serializer.Deserialize<RecordedLook>(bytes.ToArray());
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task DeleteAsync(string name, CancellationToken ct = default) =>
        await container.GetBlobClient(name).DeleteIfExistsAsync(cancellationToken: ct);

    private string Prefix(string rollout) => $"{service}/{rollout}/";

    private string Name(RecordedLook look) => look.Kind == LookKind.Latest
        ? $"{Prefix(look.Rollout)}{look.Wave:00}/latest"
        : $"{Prefix(look.Rollout)}{look.Wave:00}/look-{look.At.UtcTicks:D19}";

    private async Task EnsureContainerAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _created) == 1) return;
        await container.CreateIfNotExistsAsync(cancellationToken: ct);
        Volatile.Write(ref _created, 1);
    }
}
