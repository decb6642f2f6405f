using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Snapstone.Server.Hosting;

/// <summary>
/// The embedded default storage: an Azurite process on loopback, installed from npm at a pinned version on
/// first use, keeping its data in a folder of ours and stopped with us. A watchdog shell ends Azurite if
/// this process dies without stopping it (a crash or <c>kill -9</c>), so no emulator outlives its server.
/// </summary>
public sealed class EmbeddedAzurite : IAsyncDisposable
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private readonly Process _process;

    private EmbeddedAzurite(Process process, int pid, IPAddress host, int blobPort, int queuePort, int tablePort, string dataDirectory)
    {
        _process = process;
        Pid = pid;
        DataDirectory = dataDirectory;
        ConnectionString =
            $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};" +
            $"BlobEndpoint=http://{host}:{blobPort}/devstoreaccount1;" +
            $"QueueEndpoint=http://{host}:{queuePort}/devstoreaccount1;" +
            $"TableEndpoint=http://{host}:{tablePort}/devstoreaccount1;";
    }

    public string ConnectionString { get; }

    public string DataDirectory { get; }

    /// <summary>The Azurite (node) process itself, not its watchdog shell: tests stop and resume it to stall storage.</summary>
    public int Pid { get; }

    /// <summary>Where pinned Azurite versions are installed: <c>SNAPSTONE_AZURITE_HOME</c>, else <c>~/.cache/snapstone</c>.</summary>
    public static string InstallRoot =>
        Environment.GetEnvironmentVariable("SNAPSTONE_AZURITE_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "snapstone");

    public static Task<EmbeddedAzurite> StartAsync(string dataDirectory, string version, ILogger logger, CancellationToken ct = default) =>
        StartAsync(dataDirectory, version, logger, IPAddress.Loopback, ct);

    /// <summary>
    /// Azurite listening on <paramref name="host"/> instead of loopback: for tests whose servers run in network
    /// namespaces of their own and reach storage over a bridge. The server itself always uses loopback.
    /// </summary>
    public static async Task<EmbeddedAzurite> StartAsync(string dataDirectory, string version, ILogger logger, IPAddress host, CancellationToken ct = default)
    {
        var script = await EnsureInstalledAsync(version, logger, ct);
        Directory.CreateDirectory(dataDirectory);
        var (blob, queue, table) = (FreePort(host), FreePort(host), FreePort(host));
        var azurite = $"exec node '{script}' --silent --disableTelemetry --skipApiVersionCheck --location '{dataDirectory}' " +
                      $"--blobHost {host} --blobPort {blob} --queueHost {host} --queuePort {queue} --tableHost {host} --tablePort {table}";
        // The shell runs Azurite and watches us: when our pid is gone it stops Azurite.
        var watchdog = $"({azurite}) & child=$!; echo \"azurite-pid $child\"; trap 'kill $child 2>/dev/null' TERM INT; " +
                       $"while kill -0 {Environment.ProcessId} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; kill $child 2>/dev/null; wait $child";
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(watchdog);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start /bin/sh for Azurite");
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        var pid = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith("azurite-pid ", StringComparison.Ordinal) && int.TryParse(line["azurite-pid ".Length..], out var child))
            {
                pid.TrySetResult(child);
            }
        };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        foreach (var port in new[] { blob, queue, table })
        {
            while (!await ListensAsync(host, port, ct))
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"Azurite exited with code {process.ExitCode} before listening: {stderr}");
                }
                if (DateTime.UtcNow > deadline)
                {
                    process.Kill(entireProcessTree: true);
                    throw new TimeoutException($"Azurite did not listen on {host}:{port} within 30 s: {stderr}");
                }
                await Task.Delay(50, ct);
            }
        }
        logger.LogInformation("Embedded Azurite {Version} listening on {Host} (blob {Blob}, queue {Queue}, table {Table}); data in {DataDirectory}",
            version, host, blob, queue, table, dataDirectory);
        return new EmbeddedAzurite(process, await pid.Task.WaitAsync(TimeSpan.FromSeconds(5), ct), host, blob, queue, table, dataDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    /// <summary>Installs <c>azurite@version</c> with npm into the install root unless it is there; returns its entry script.</summary>
    public static Task<string> EnsureInstalledAsync(string version, ILogger logger, CancellationToken ct = default) =>
        NpmPackages.EnsureInstalledAsync(InstallRoot, "azurite", version, Path.Combine("dist", "src", "azurite.js"), logger, ct);

    private static readonly HashSet<int> GivenPorts = [];

    /// <summary>
    /// A free port, never one this process handed out before: a released port may come back from the very next bind
    /// to 0, and two of the ports handed to one child must never be the same.
    /// </summary>
    private static int FreePort(IPAddress host)
    {
        while (true)
        {
            using var listener = new TcpListener(host, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (GivenPorts)
            {
                if (GivenPorts.Add(port))
                {
                    return port;
                }
            }
        }
    }

    private static async Task<bool> ListensAsync(IPAddress host, int port, CancellationToken ct)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(host, port, ct);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
