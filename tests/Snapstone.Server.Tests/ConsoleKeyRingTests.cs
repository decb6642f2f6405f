using System.Security.Cryptography;
using System.Xml.Linq;
using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Snapstone.Server.Hosting;
using Snapstone.Server.OperatorConsole;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>The console's key ring in blob storage (the test Azurite), its encryption at rest, and the break-glass form's fields.</summary>
public sealed class ConsoleKeyRingTests
{
    private static KeyRingDecryptor Decryptor(string? secret) =>
        new(new ServiceCollection().AddSingleton(Options.Create(new ConsoleOptions { KeyRingKey = secret })).BuildServiceProvider());

    private const string Secret = "a-test-key-ring-secret-of-forty-characters";

    [Fact]
    public void A_key_encrypted_under_the_configured_secret_decrypts_under_it_and_under_no_other()
    {
        var key = new XElement("key", new XAttribute("id", "k1"), new XElement("masterKey", "c2VjcmV0IGtleSBtYXRlcmlhbA=="));
        var encrypted = new KeyRingEncryptor(new ConsoleOptions { KeyRingKey = Secret }.Key()!).Encrypt(key);
        Assert.Equal(typeof(KeyRingDecryptor), encrypted.DecryptorType);
        Assert.DoesNotContain("masterKey", encrypted.EncryptedElement.ToString());
        Assert.Equal(key.ToString(), Decryptor(Secret).Decrypt(encrypted.EncryptedElement).ToString());

        var other = Assert.Throws<CryptographicException>(() => Decryptor(Secret + "-rotated").Decrypt(encrypted.EncryptedElement));
        Assert.Contains("encrypted under another Snapstone:Console:KeyRingKey", other.Message);
        var none = Assert.Throws<CryptographicException>(() => Decryptor(null).Decrypt(encrypted.EncryptedElement));
        Assert.Contains("Snapstone:Console:KeyRingKey is not set", none.Message);

        // A stored key whose cipher text was changed does not decrypt (GCM's tag), even under the right key.
        var tampered = new XElement(encrypted.EncryptedElement);
        var value = Convert.FromBase64String((string)tampered.Element("value")!);
        value[0] ^= 1;
        tampered.Element("value")!.Value = Convert.ToBase64String(value);
        Assert.ThrowsAny<CryptographicException>(() => Decryptor(Secret).Decrypt(tampered));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("short-secret", "Snapstone:Console:KeyRingKey must be at least 32 characters (got 12)")]
    [InlineData("exactly-thirty-two-characters-ok", null)]
    public void The_key_ring_secret_is_at_least_32_characters(string? secret, string? problem)
    {
        Assert.Equal(problem, new ConsoleOptions { KeyRingKey = secret }.Problem());
        Assert.True(ConfigurationKeys.IsKnown("Snapstone__Console__KeyRingKey"));
    }

    [Fact]
    public async Task Two_gateways_adding_keys_at_once_to_one_blob_lose_none()
    {
        var container = new BlobContainerClient(await TestStorage.ConnectionStringAsync(), "snapstone-packages");
        var blob = container.GetBlobClient(SharedKeyRing.BlobName(TestStorage.Unique("svc")));
        var (first, second) = (new BlobKeyRing(blob), new BlobKeyRing(blob));
        Assert.Empty(first.GetAllElements());

        await Task.WhenAll(
            Task.Run(() => { for (var i = 0; i < 10; i++) first.StoreElement(new XElement("key", new XAttribute("id", $"a{i}")), $"a{i}"); }),
            Task.Run(() => { for (var i = 0; i < 10; i++) second.StoreElement(new XElement("key", new XAttribute("id", $"b{i}")), $"b{i}"); }));

        var ids = new BlobKeyRing(blob).GetAllElements().Select(e => (string)e.Attribute("id")!).Order(StringComparer.Ordinal).ToList();
        Assert.Equal([.. Enumerable.Range(0, 10).Select(i => $"a{i}"), .. Enumerable.Range(0, 10).Select(i => $"b{i}")], ids);
    }

    [Theory]
    [InlineData("freeze", "", "", "", null)]
    [InlineData("Freeze", "bot-features", "", "3600", null)]
    [InlineData("halt", "bot-features", "", "", "action must be one of freeze, unfreeze, rollback, deploy (got 'halt')")]
    [InlineData("1", "bot-features", "", "", "action must be one of freeze, unfreeze, rollback, deploy (got '1')")]
    [InlineData("deploy", "bot-features", "0", "", "version must be a whole number, 1 or more (got '0')")]
    [InlineData("deploy", "bot-features", "-3", "", "version must be a whole number, 1 or more (got '-3')")]
    [InlineData("deploy", "bot-features", "v2", "", "version must be a whole number, 1 or more (got 'v2')")]
    [InlineData("freeze", "bot-features", "", "0", "ttl must be between 1 and 604800 seconds (got '0')")]
    [InlineData("freeze", "bot-features", "", "604801", "ttl must be between 1 and 604800 seconds (got '604801')")]
    [InlineData("freeze", "bot features", "", "", "unit")]
    public void The_break_glass_fields_are_checked_and_a_bad_one_is_named(string action, string unit, string version, string ttl, string? problem)
    {
        var (request, found) = BreakGlassForm.Parse(action, unit, version, ttl);
        if (problem is null)
        {
            Assert.Null(found);
            Assert.NotNull(request);
        }
        else
        {
            Assert.Null(request);
            Assert.StartsWith(problem, found);
        }
    }

    [Fact]
    public void The_request_keeps_only_the_fields_its_action_reads_and_its_confirmation_path_names_them()
    {
        var (freeze, _) = BreakGlassForm.Parse("freeze", " bot-features ", "7", "60");
        Assert.Equal(new BreakGlassRequest(BreakGlassAction.Freeze, "bot-features", null, 60), freeze);
        Assert.Equal("/console/breakglass/confirm?action=freeze&unit=bot-features&ttl=60", freeze!.ConfirmPath);
        var (deploy, _) = BreakGlassForm.Parse("deploy", "bot-features", "7", "60");
        Assert.Equal(new BreakGlassRequest(BreakGlassAction.Deploy, "bot-features", 7, null), deploy);
        var (global, _) = BreakGlassForm.Parse("unfreeze", "", "", "");
        Assert.Equal("/console/breakglass/confirm?action=unfreeze", global!.ConfirmPath);
    }
}
