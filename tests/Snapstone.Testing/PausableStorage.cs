using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Snapstone.Server.Hosting;

namespace Snapstone.Testing;

/// <summary>
/// An Azurite of one test's own (not the process-wide <see cref="TestStorage"/>, whose stall would stall every other
/// test), which the test can freeze with SIGSTOP and thaw with SIGCONT: storage that stops answering mid-request, as a
/// hung storage account does. Only the Azurite this instance started is ever signalled.
/// </summary>
public sealed class PausableStorage : IAsyncDisposable
{
    private readonly EmbeddedAzurite _azurite;
    private readonly string _folder;

    private PausableStorage(EmbeddedAzurite azurite, string folder)
    {
        _azurite = azurite;
        _folder = folder;
    }

    public string ConnectionString => _azurite.ConnectionString;

    public static async Task<PausableStorage> StartAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), "snapstone-tests", $"pausable-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var azurite = await EmbeddedAzurite.StartAsync(folder, new StorageOptions().AzuriteVersion, NullLogger.Instance);
        return new PausableStorage(azurite, folder);
    }

    /// <summary>SIGSTOP: connections stay open, requests get no answer until <see cref="Resume"/>.</summary>
    public Task Pause() => Signal("STOP");

    /// <summary>SIGCONT: the requests it held are answered.</summary>
    public Task Resume() => Signal("CONT");

    /// <summary>The Azurite (node) process whose command line names this instance's data folder.</summary>
    private int Pid() =>
        Directory.EnumerateDirectories("/proc").Select(p => Path.GetFileName(p)).Where(p => p.All(char.IsAsciiDigit)).Select(int.Parse).Single(pid =>
        {
            try
            {
                var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
                return cmdline.Length > 1 && Path.GetFileName(cmdline[0]) == "node" && cmdline.Any(a => a.Contains("azurite")) && cmdline.Contains(_folder);
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

    private async Task Signal(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { $"-{signal}", Pid().ToString() }, UseShellExecute = false })!;
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} of the test's Azurite exited with {kill.ExitCode}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Resume();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            // Already gone.
        }
        await _azurite.DisposeAsync();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }
}
