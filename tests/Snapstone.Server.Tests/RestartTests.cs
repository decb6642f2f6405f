using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>State lives in storage: what was acknowledged before a crash is there after it.</summary>
public sealed class RestartTests
{
    [Fact]
    public async Task A_package_created_before_a_kill_is_listed_after_restart_with_identical_bytes_and_hash()
    {
        await using var server = await ServerProcess.StartAsync();
        var ci = server.Client("ci");
        var unit = TestStorage.Unique("unit");
        await ci.Put($"/v1/units/{unit}", Http.FeatureUnit());
        var content = Http.Features(42);
        var (_, created) = await ci.Post($"/v1/units/{unit}/packages", new { content, message = "before the crash" });
        var node = TestStorage.Unique("node");
        await server.Client("agent").Post($"/v1/nodes/{node}/report", new { pop = "ams01" });

        await server.KillAsync();
        await server.StartAgainAsync();

        ci = server.Client("ci");
        var (status, list) = await ci.Get($"/v1/units/{unit}/packages");
        Assert.Equal(200, status);
        var listed = Assert.Single(list["packages"]!.AsArray())!;
        Assert.Equal((string?)created["sha256"], (string?)listed["sha256"]);
        Assert.Equal("before the crash", (string?)listed["message"]);
        Assert.Equal(content, await ci.GetStringAsync($"/v1/units/{unit}/packages/1/content"));
        var (_, unitView) = await ci.Get($"/v1/units/{unit}");
        Assert.Equal(1, (long?)unitView["latestVersion"]);
        Assert.Null(unitView["lkgVersion"]);
        var (nodeStatus, nodeView) = await ci.Get($"/v1/nodes/{node}");
        Assert.Equal(200, nodeStatus);
        Assert.Equal("ams01", (string?)nodeView["pop"]);

        var (next, second) = await ci.Post($"/v1/units/{unit}/packages", new { content = Http.Features(43) });
        Assert.Equal(201, next);
        Assert.Equal(2, (long?)second["version"]);
    }
}

/// <summary>The README's run command: no connection string, so the server starts and stops its own Azurite.</summary>
public sealed class EmbeddedDefaultsTests
{
    [Fact]
    public async Task Without_a_connection_string_the_server_runs_its_own_azurite_and_a_local_admin_token()
    {
        var data = Path.Combine(Path.GetTempPath(), "snapstone-tests", TestStorage.Unique("embedded"));
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Storage__ConnectionString"] = "",
            ["Snapstone__DataDirectory"] = data,
            ["Snapstone__Auth__Tokens"] = "",
        }, withTokens: false);
        Assert.Contains("Embedded Azurite", server.Log);
        Assert.Contains(data, server.Log);

        var token = (await File.ReadAllTextAsync(Path.Combine(data, "admin-token"))).Trim();
        using var admin = server.Client(token);
        var (status, _) = await admin.Put("/v1/units/embedded-check", new { owner = "edge" });
        Assert.Equal(200, status);
        Assert.True(Directory.EnumerateFileSystemEntries(Path.Combine(data, "azurite")).Any(), "Azurite wrote nothing to its data folder");

        await server.KillAsync();
        await Eventually.Until(() => Task.FromResult(!AzuriteRunsOn(data)), "the embedded Azurite to stop after its server died", TimeSpan.FromSeconds(15));
    }

    private static bool AzuriteRunsOn(string data) =>
        Directory.EnumerateDirectories("/proc").Any(p =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(p, "cmdline")).Contains(data) && File.ReadAllText(Path.Combine(p, "cmdline")).Contains("azurite");
            }
            catch (IOException)
            {
                return false;
            }
            catch (UnauthorizedAccessException)
            {
                return false;
            }
        });
}
