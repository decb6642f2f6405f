using System.Net;
using System.Net.Sockets;
using System.Text;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Options;
using Snapstone.Grains.Emergency;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// The delivery handler's connection-time check, on its own: whatever a url passed at definition, the connection
/// is refused when the name resolves inward at send time (DNS rebinding), and redirects are not followed.
/// </summary>
public sealed class DestinationGuardTests
{
    private static DestinationGuard Guard(params string[] allowed) => new(Options.Create(new WebhookOptions { AllowedDestinations = [.. allowed] }));

    /// <summary>A one-connection HTTP server on loopback that answers every request with <paramref name="response"/>.</summary>
    private static (int Port, Task<int> Served) Serve(string response)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var served = Task.Run(async () =>
        {
            var count = 0;
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                while (true)
                {
                    using var client = await listener.AcceptTcpClientAsync(stop.Token);
                    count++;
                    var stream = client.GetStream();
                    var buffer = new byte[8192];
                    _ = await stream.ReadAsync(buffer, stop.Token);   // the request, unread: every one gets the same answer
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(response), stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                listener.Stop();
            }
            return count;
        });
        return (port, served);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    public async Task A_connection_to_an_inward_name_is_refused_at_connect_time(string host)
    {
        var (port, _) = Serve("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        using var client = new HttpClient(Guard().Handler());
        var refused = await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.PostAsync($"http://{host}:{port}/hook", new StringContent("{}")));
        var inward = refused as InwardDestinationException ?? refused.InnerException as InwardDestinationException;
        Assert.True(inward is not null, refused.ToString());
        Assert.Contains("loopback", inward!.Message);
    }

    [Fact]
    public async Task An_allowed_address_is_connected_to_and_a_redirect_is_answered_not_followed()
    {
        var (port, served) = Serve("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        using var client = new HttpClient(Guard("127.0.0.1").Handler());
        using var response = await client.PostAsync($"http://127.0.0.1:{port}/hook", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("http://127.0.0.1:9/elsewhere", response.Headers.Location?.ToString());
        Assert.Equal(1, await served);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/x", "url '127.0.0.1' is loopback (127.0.0.0/8)")]
    [InlineData("https://169.254.169.254/latest/meta-data/", "url '169.254.169.254' is link-local")]
    [InlineData("https://[fd00::1]/x", "url 'fd00::1' is unique-local (fc00::/7)")]
    [InlineData("https://localhost/x", "url 'localhost' resolves to ")]
    public async Task Definitions_are_checked_with_the_same_rule(string url, string refusal) =>
        Assert.StartsWith(refusal, await Guard().CheckDefinitionAsync(url));

    [Fact]
    public async Task A_name_that_does_not_resolve_is_left_to_the_connection_check() =>
        Assert.Null(await Guard().CheckDefinitionAsync("https://hooks.example/x"));
}

/// <summary>Secrets sealed at rest: under a configured key, or a key kept once in storage and shared by every silo.</summary>
public sealed class SecretBoxTests
{
    private const string Secret = "webhook-secret-0123456789";

    [Fact]
    public async Task Two_silos_without_a_configured_key_share_the_one_kept_in_storage()
    {
        var container = new BlobContainerClient(await TestStorage.ConnectionStringAsync(), "snapstone-packages");
        var service = TestStorage.Unique("svc");
        var options = Options.Create(new WebhookOptions());
        var first = new SecretBox(options, () => container, service);
        var second = new SecretBox(options, () => container, service);
        var sealedByFirst = await first.SealAsync(Secret);
        Assert.StartsWith(SecretBox.Prefix, sealedByFirst);
        Assert.DoesNotContain(Secret, sealedByFirst);
        Assert.NotEqual(sealedByFirst, await first.SealAsync(Secret));
        Assert.Equal(Secret, await second.OpenAsync(sealedByFirst));
        // Another service has another key: its box cannot open this one's secrets.
        var other = new SecretBox(options, () => container, TestStorage.Unique("svc"));
        await Assert.ThrowsAnyAsync<System.Security.Cryptography.CryptographicException>(() => other.OpenAsync(sealedByFirst));
    }

    [Fact]
    public async Task A_configured_key_seals_without_storage_and_a_value_stored_before_sealing_opens_as_it_is()
    {
        var box = new SecretBox(Options.Create(new WebhookOptions { SecretKey = new string('k', 32) }), null, "svc");
        var again = new SecretBox(Options.Create(new WebhookOptions { SecretKey = new string('k', 32) }), null, "other");
        Assert.Equal(Secret, await again.OpenAsync(await box.SealAsync(Secret)));
        Assert.Equal("legacy-plain-secret-000", await box.OpenAsync("legacy-plain-secret-000"));
        var wrong = new SecretBox(Options.Create(new WebhookOptions { SecretKey = new string('x', 32) }), null, "svc");
        await Assert.ThrowsAnyAsync<System.Security.Cryptography.CryptographicException>(async () => await wrong.OpenAsync(await box.SealAsync(Secret)));
    }

    [Theory]
    [InlineData("short", null, "Snapstone:Webhooks:SecretKey must be at least 32 characters (got 5)")]
    [InlineData(null, "10.0.0.0/40", "Snapstone:Webhooks:AllowedDestinations entry '10.0.0.0/40' is not a CIDR block (e.g. 10.20.0.0/16)")]
    public void Bad_settings_are_named(string? key, string? allowed, string problem) =>
        Assert.Equal(problem, new WebhookOptions { SecretKey = key, AllowedDestinations = allowed is null ? [] : [allowed] }.Problem());
}
