using Microsoft.Extensions.Logging.Abstractions;
using Snapstone.Server.Hosting;

namespace Snapstone.Testing;

/// <summary>
/// One Azurite per test process, started the way the server starts its embedded one (pinned version from
/// npm, loopback, free ports), with a throw-away data folder. Tests isolate themselves by unique names and
/// service ids, never by sharing state.
/// </summary>
public static class TestStorage
{
    private static readonly Lazy<Task<EmbeddedAzurite>> Shared = new(StartAsync);

    public static async Task<string> ConnectionStringAsync() => (await Shared.Value).ConnectionString;

    private static async Task<EmbeddedAzurite> StartAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), "snapstone-tests", $"azurite-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var azurite = await EmbeddedAzurite.StartAsync(folder, new StorageOptions().AzuriteVersion, NullLogger.Instance);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            azurite.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        };
        return azurite;
    }

    /// <summary>A name no other test uses: <c>prefix-1a2b3c4d</c>.</summary>
    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];
}
