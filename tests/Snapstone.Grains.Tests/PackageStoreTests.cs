using System.Security.Cryptography;
using System.Text;
using Azure.Storage.Blobs;
using Snapstone.Domain.Packages;
using Snapstone.Domain.Risk;
using Snapstone.Grains.Storage;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>The blob package store against Azurite: what two services sharing one container see of each other.</summary>
public sealed class PackageStoreTests
{
    [Fact]
    public async Task Two_services_in_one_container_each_read_their_own_version_of_the_same_unit()
    {
        var container = await ContainerAsync();
        var blue = new BlobPackageStore(container, TestStorage.Unique("blue"));
        var green = new BlobPackageStore(container, TestStorage.Unique("green"));
        var (blueContent, greenContent) = ("{\"features\":[1]}"u8.ToArray(), "{\"features\":[1,2,3]}"u8.ToArray());
        await Publish(blue, "bot-features", 2, blueContent);
        await Publish(green, "bot-features", 2, greenContent);

        var blueRecord = await blue.GetRecordAsync("bot-features", 2);
        var greenRecord = await green.GetRecordAsync("bot-features", 2);

        Assert.Equal(Sha(blueContent), blueRecord!.Sha256);
        Assert.Equal(Sha(greenContent), greenRecord!.Sha256);
        Assert.Equal(blueContent, await blue.GetContentAsync("bot-features", blueRecord.Sha256));
        Assert.Null(await blue.GetContentAsync("bot-features", greenRecord.Sha256));
        Assert.Null(await green.GetRecordAsync("bot-features", 3));
    }

    [Fact]
    public async Task Blobs_written_before_they_were_kept_per_service_are_still_read_but_only_when_they_are_what_was_asked_for()
    {
        var container = await ContainerAsync();
        var store = new BlobPackageStore(container, "snapstone");
        var content = Encoding.UTF8.GetBytes("{\"features\":[7]}");
        var sha = Sha(content);
        await container.GetBlobClient($"bot-features/content/{sha}").UploadAsync(new BinaryData(content));
        await container.GetBlobClient($"bot-features/content/{Sha("other"u8.ToArray())}").UploadAsync(new BinaryData(content));
        await container.GetBlobClient("bot-features/versions/000000000001.json").UploadAsync(new BinaryData(
            System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(Record("bot-features", 1, content), SnapstoneJson.Options)));

        Assert.Equal(content, await store.GetContentAsync("bot-features", sha));
        Assert.Null(await store.GetContentAsync("bot-features", Sha("other"u8.ToArray())));
        Assert.Equal(sha, (await store.GetRecordAsync("bot-features", 1))!.Sha256);
    }

    private static async Task<BlobContainerClient> ContainerAsync()
    {
        var container = new BlobContainerClient(await TestStorage.ConnectionStringAsync(), TestStorage.Unique("packages"));
        await container.CreateIfNotExistsAsync();
        return container;
    }

    private static async Task Publish(BlobPackageStore store, string unit, long version, byte[] content)
    {
        var record = Record(unit, version, content);
        await store.PutContentAsync(unit, record.Sha256, content);
        await store.PutRecordAsync(record);
    }

    private static PackageRecord Record(string unit, long version, byte[] content) => new()
    {
        Unit = unit,
        Version = version,
        Sha256 = Sha(content),
        SizeBytes = content.Length,
        Validation = new ValidationReport([]),
        Risk = new RiskAssessment(RiskLevel.Standard, 0, []),
        Shape = new ContentShape { SizeBytes = content.Length, Parsed = true },
    };

    private static string Sha(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));
}
