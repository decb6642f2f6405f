using Microsoft.Extensions.Logging.Abstractions;
using Snapstone.Server.Hosting;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>The local data folder and the generated admin token are readable by the server's own user only.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LocalFilesTests
{
    private const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public async Task On_embedded_defaults_the_data_folder_is_0700_and_the_generated_token_file_0600()
    {
        var data = Path.Combine(Path.GetTempPath(), "snapstone-tests", TestStorage.Unique("private"));
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["Snapstone__Storage__ConnectionString"] = "",
            ["Snapstone__DataDirectory"] = data,
        }, withTokens: false);
        Assert.Equal(Mode0700, File.GetUnixFileMode(data));
        var tokenFile = Path.Combine(data, "admin-token");
        Assert.Equal(Mode0600, File.GetUnixFileMode(tokenFile));
        var token = (await File.ReadAllTextAsync(tokenFile)).Trim();
        Assert.Equal(200, (await server.Client(token).Get("/v1/units")).Status);
    }

    [Fact]
    public void A_token_file_is_created_0600_with_the_token_and_a_wider_existing_folder_or_file_is_narrowed()
    {
        var folder = Path.Combine(Path.GetTempPath(), "snapstone-tests", TestStorage.Unique("modes"));
        Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        try
        {
            Assert.Equal(folder, LocalFiles.PrivateDirectory(folder, NullLogger.Instance));
            Assert.Equal(Mode0700, File.GetUnixFileMode(folder));

            var path = Path.Combine(folder, "admin-token");
            var token = LocalFiles.AdminToken(path, NullLogger.Instance);
            Assert.Matches("^snp_[0-9a-f]{48}$", token);
            Assert.Equal(Mode0600, File.GetUnixFileMode(path));
            Assert.Equal(token + "\n", File.ReadAllText(path));

            File.SetUnixFileMode(path, Mode0600 | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            Assert.Equal(token, LocalFiles.AdminToken(path, NullLogger.Instance));
            Assert.Equal(Mode0600, File.GetUnixFileMode(path));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
