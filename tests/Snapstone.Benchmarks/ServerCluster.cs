using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Snapstone.Server.Hosting;
using Snapstone.Simulator.Cli;

namespace Snapstone.Benchmarks;

/// <summary>
/// The servers a benchmark run measures. One silo: the server as <c>dotnet run --project src/Snapstone.Simulator -- demo</c>
/// starts it, with its own embedded Azurite. Several: one Azurite started here, and that many server processes on
/// it with Azure Table clustering (one service and cluster id), the same tokens and free loopback ports each,
/// started one at a time as a rolling deployment brings silos up; clients may call any of them.
/// </summary>
public sealed class ServerCluster : IAsyncDisposable
{
    private readonly EmbeddedAzurite? _storage;
    private readonly string? _storageFolder;

    private ServerCluster(IReadOnlyList<ServerLauncher> silos, EmbeddedAzurite? storage, string? storageFolder)
    {
        Silos = silos;
        _storage = storage;
        _storageFolder = storageFolder;
    }

    /// <summary>Every silo, in the order started; each serves the HTTP API and the fleet's reports.</summary>
    public IReadOnlyList<ServerLauncher> Silos { get; }

    /// <summary>The silo the control plane (units, plans, rollouts, the fleet view) talks to: the first.</summary>
    public ServerLauncher First => Silos[0];

    public IReadOnlyList<Uri> Gateways => [.. Silos.Select(s => s.BaseAddress)];

    public IReadOnlyList<int> ProcessIds => [.. Silos.Select(s => s.ProcessId)];

    /// <summary>Starts <paramref name="silos"/> servers with <paramref name="settings"/> each, and waits until every one is ready.</summary>
    public static async Task<ServerCluster> StartAsync(int silos, IReadOnlyDictionary<string, string> settings, TextWriter log, CancellationToken cancellationToken)
    {
        if (silos == 1)
        {
            var server = await ServerLauncher.StartAsync(new ServerLaunchOptions { Settings = settings }, log, cancellationToken);
            return new ServerCluster([server], null, null);
        }
        var folder = Directory.CreateTempSubdirectory("snapstone-cluster-").FullName;
        var storage = await EmbeddedAzurite.StartAsync(folder, new StorageOptions().AzuriteVersion, NullLogger.Instance, cancellationToken);
        log.WriteLine($"cluster storage: Azurite in {folder} (pid {storage.Pid})");
        var started = new List<ServerLauncher>();
        var cluster = new ServerCluster(started, storage, folder);
        try
        {
            var id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));
            var clustered = new Dictionary<string, string>(settings)
            {
                ["Snapstone:Storage:ConnectionString"] = storage.ConnectionString,
                ["Snapstone:Cluster:Clustering"] = "AzureTable",
                ["Snapstone:Cluster:ServiceId"] = $"bench-{id}",
                ["Snapstone:Cluster:ClusterId"] = $"bench-{id}",
                // The benchmark measures load, not failure detection: on 2 shared cores a silo busy with 20,000 reports a
                // second can miss 2 s probes, and a silo voted dead mid-run would measure its restart instead.
                ["Snapstone:Cluster:Membership:ProbeTimeout"] = "00:00:10",
                ["Snapstone:Cluster:Membership:MaxProbeTimeout"] = "00:00:15",
                ["Snapstone:Cluster:Membership:NumMissedProbesLimit"] = "5",
            };
            var tokens = LaunchTokens.New();
            // Each silo's collector gets its share of the host's cores, as a pod's CPU limit gives it: server GC would
            // otherwise run a heap and a collector thread per core in every silo, N silos' worth on the same cores.
            var heaps = Math.Max(1, Environment.ProcessorCount / silos).ToString(CultureInfo.InvariantCulture);
            log.WriteLine($"each silo's GC: {heaps} heap(s) (DOTNET_GCHeapCount), {Environment.ProcessorCount} cores over {silos} silos");
            for (var i = 0; i < silos; i++)
            {
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"silo {i + 1} of {silos}:"));
                started.Add(await ServerLauncher.StartAsync(new ServerLaunchOptions
                {
                    Settings = clustered,
                    Tokens = tokens,
                    Environment = new Dictionary<string, string> { ["DOTNET_GCHeapCount"] = heaps },
                    Build = i == 0,
                }, log, cancellationToken));
            }
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in Silos.Reverse())
        {
            await silo.DisposeAsync();
        }
        if (_storage is not null)
        {
            await _storage.DisposeAsync();
        }
        if (_storageFolder is not null)
        {
            try
            {
                Directory.Delete(_storageFolder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Azurite may still be closing files; a temporary folder left behind is harmless.
            }
        }
    }
}
