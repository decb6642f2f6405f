using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Snapstone.Client;
using Snapstone.Server.Hosting;
using Snapstone.Simulator;
using Snapstone.Simulator.Consumers;
using Snapstone.Simulator.Shape;
using Snapstone.Testing;

namespace Snapstone.Chaos.Tests;

/// <summary>
/// The cluster every chaos scenario runs on, started once for the suite: three Snapstone server processes with Azure
/// Table clustering on one Azurite, mutual TLS between them, each in a network namespace of its own with its own
/// address (<see cref="NamespaceNetwork"/>; on loopback addresses 127.0.0.2–4 where namespaces cannot be made), and
/// a simulated fleet in the test process that reports through all three HTTP gateways every
/// <see cref="ReportInterval"/>, failing over between them. Every exchange of the fleet and of the suite's own calls
/// goes through a <see cref="StatusTap"/> into <see cref="Statuses"/>. Each scenario heals the cluster first
/// (<see cref="HealAsync"/>), so one scenario's fault never leaks into the next.
/// </summary>
public sealed class ChaosCluster : IAsyncLifetime
{
    public const int SiloCount = 3;
    public static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>Units and how the fleet's nodes consume them (anything else: a plain consumer that takes any package).</summary>
    public static readonly IReadOnlyDictionary<string, IConsumer> Consumers = new Dictionary<string, IConsumer>
    {
        [Units.KillRollbackBad] = new LatencyConsumer(),
        [Units.PairBad] = new FeatureFileConsumer(FailureMode.FailClosed),
        [Units.SharedBad] = new FeatureFileConsumer(FailureMode.FailClosed),
    };

    private readonly CancellationTokenSource _stopFleet = new();
    private Task? _fleetRun;
    private HttpClient? _fleetHttp;
    private HttpClient? _apiHttp;
    private string? _azuriteFolder;

    public string RunId { get; } = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));

    /// <summary>Null when namespaces could not be made; <see cref="NamespacesUnavailable"/> says why.</summary>
    public NamespaceNetwork? Network { get; private set; }

    public string? NamespacesUnavailable { get; private set; }

    /// <summary>One line on how the cluster is laid out, for the report.</summary>
    public string Topology { get; private set; } = "";

    public EmbeddedAzurite Storage { get; private set; } = null!;
    public TestCertificates Certificates { get; private set; } = null!;
    public IReadOnlyList<ServerHost> Hosts { get; private set; } = [];
    public IReadOnlyList<ServerProcess> Silos { get; private set; } = [];
    public IReadOnlyList<Uri> Gateways { get; private set; } = [];
    public string ServiceId { get; private set; } = "";
    public string ClusterId { get; private set; } = "";
    public StatusLog Statuses { get; } = new();
    public GatewayApi Ci { get; private set; } = null!;
    public GatewayApi Reviewer { get; private set; } = null!;
    public GatewayApi Admin { get; private set; } = null!;
    public ClusterProbe Probe { get; private set; } = null!;
    public Fleet Fleet { get; private set; } = null!;
    public AgentHold Hold { get; private set; } = null!;
    public ChaosReport Report { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        try
        {
            await StartAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync()
    {
        (Network, NamespacesUnavailable) = await NamespaceNetwork.TryCreateAsync(SiloCount);
        var storageAddress = Network?.BridgeAddress ?? IPAddress.Loopback;
        _azuriteFolder = Path.Combine(Path.GetTempPath(), "snapstone-tests", $"chaos-azurite-{RunId}");
        Storage = await EmbeddedAzurite.StartAsync(_azuriteFolder, new StorageOptions().AzuriteVersion, NullLogger.Instance, storageAddress);
        Certificates = TestCertificates.CreateAuthority($"chaos-ca-{RunId}");
        ServiceId = $"chaos-svc-{RunId}";
        ClusterId = $"chaos-{RunId}";
        Hosts = Network is { } network
            // A namespace is a host of its own: the usual ports, on its own address.
            ? [.. network.Hosts.Select(h => new ServerHost(h.Address, 8080, 11111, 30000, network.Launcher(h.Index)))]
            : [.. Enumerable.Range(0, SiloCount).Select(i => IPAddress.Parse($"127.0.0.{i + 2}"))
                .Select(a => new ServerHost(a, ServerProcess.FreePort(a), ServerProcess.FreePort(a), ServerProcess.FreePort(a), []))];
        Topology = Network is { } n
            ? $"3 silos in network namespaces on {n.Subnet} ({string.Join(", ", Hosts.Select(h => h.Address))}), Azurite and the fleet on the bridge at {n.BridgeAddress}"
            : $"3 silos on loopback addresses {string.Join(", ", Hosts.Select(h => h.Address))} (no namespaces: {NamespacesUnavailable}), Azurite on 127.0.0.1";

        Silos = [.. Hosts.Select((host, i) => ServerProcess.Prepare(host, SiloSettings(host, i), storage: Storage.ConnectionString))];
        // One at a time, as a StatefulSet's ordered start or a rolling deployment brings silos up: three joining at once
        // on a loaded machine time out each other's TLS handshakes and probes, and vote one of them dead.
        for (var i = 0; i < Silos.Count; i++)
        {
            await StartSiloAsync(i, _ => { });
        }
        if (JoinRestarts > 0)
        {
            Topology += $"; {JoinRestarts} silo start(s) declared dead while joining and started again";
        }
        Report = new ChaosReport(Topology);
        Gateways = [.. Silos.Select(s => s.BaseAddress)];

        _apiHttp = new HttpClient(new StatusTap(Statuses, "suite", new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2) }))
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        Ci = new GatewayApi(Gateways, _apiHttp, ServerProcess.Tokens["ci"].Token);
        Reviewer = new GatewayApi(Gateways, _apiHttp, ServerProcess.Tokens["reviewer"].Token);
        Admin = new GatewayApi(Gateways, _apiHttp, ServerProcess.Tokens["admin"].Token);

        var (probeCertificate, probeKey) = Certificates.Issue("chaos-probe");
        Probe = await ClusterProbe.ConnectAsync(Storage.ConnectionString, ServiceId, ClusterId,
            new ClusterTlsOptions { CertificatePath = probeCertificate, KeyPath = probeKey, CaPath = Certificates.CaPath });

        Hold = new AgentHold(new StatusTap(Statuses, "fleet", new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(1) }));
        _fleetHttp = new HttpClient(Hold) { Timeout = Timeout.InfiniteTimeSpan };
        Fleet = new Fleet(new FleetOptions
        {
            Shape = new FleetShape
            {
                Nodes = 60,
                Pops = 6,
                Regions = ["eu-west", "us-east"],
                CanaryShare = 0.1,
                LowTrafficPopShare = 0,
                FlakyNodeShare = 0,
                // PoPs alike in latency: with 6 canaries, a spread of 15–60 ms between PoPs puts the canary cohort's
                // p99 up to 4× the control's with no change at all, and the p99 gate (1.5×) halts a good package.
                MinPopP99LatencyMs = 30,
                MaxPopP99LatencyMs = 40,
                Seed = 16,
            },
            Consumers = Consumers,
            Token = ServerProcess.Tokens["agent"].Token,
            Gateways = Gateways,
            ReportInterval = ReportInterval,
            RequestTimeout = TimeSpan.FromSeconds(3),
            MaxConcurrentRequests = 6,
        }, _fleetHttp, TimeProvider.System);
        Hold.Fleet = Fleet;
        _fleetRun = Fleet.RunAsync(ReportInterval, _stopFleet.Token);
        await Eventually.Until(async () => (await Ci.Get("/v1/fleet")).Body["nodes"]?.GetValue<int>() == Fleet.Nodes.Count,
            $"the cluster to register all {Fleet.Nodes.Count} nodes", TimeSpan.FromMinutes(2));
        var first = await Ci.Put($"/v1/plans/{FirstPlan}", new { waves = new[] { new { name = "all", select = new { percent = 100 }, bakeSeconds = 1 } } });
        if (first.Status != 200)
        {
            throw new InvalidOperationException($"PUT /v1/plans/{FirstPlan} answered {first.Status}: {first.Body.ToJsonString()}");
        }
    }

    /// <summary>A one-wave plan for a unit's first package, for servers where it goes through waves.</summary>
    public const string FirstPlan = "chaos-first";

    private Dictionary<string, string> SiloSettings(ServerHost host, int index)
    {
        var (certificate, key) = Certificates.Issue($"snapstone-silo-{index}");
        return new Dictionary<string, string>
        {
            ["Snapstone__Cluster__Clustering"] = "AzureTable",
            ["Snapstone__Cluster__ServiceId"] = ServiceId,
            ["Snapstone__Cluster__ClusterId"] = ClusterId,
            ["Snapstone__Cluster__ListenAddress"] = host.Address.ToString(),
            ["Snapstone__Cluster__AdvertisedAddress"] = host.Address.ToString(),
            ["Snapstone__Cluster__Tls__CertificatePath"] = certificate,
            ["Snapstone__Cluster__Tls__KeyPath"] = key,
            ["Snapstone__Cluster__Tls__CaPath"] = Certificates.CaPath,
            ["Snapstone__Rollouts__TickMilliseconds"] = "250",
            ["Snapstone__Shutdown__DrainSeconds"] = "1",
            // Membership's own account of deaths, for the scenarios' logs.
            ["Logging__LogLevel__Orleans.Runtime.MembershipService"] = "Information",
        };
    }

    /// <summary>
    /// The status of silo <paramref name="silo"/>'s newest incarnation in the membership table (<c>Active</c>,
    /// <c>Dead</c>, …), as every silo reads it; null before it ever joined.
    /// </summary>
    public async Task<string?> MembershipStatusAsync(int silo)
    {
        var table = new Azure.Data.Tables.TableClient(Storage.ConnectionString, "OrleansSiloInstances");
        var host = Hosts[silo];
        Azure.Data.Tables.TableEntity? newest = null;
        await foreach (var row in table.QueryAsync<Azure.Data.Tables.TableEntity>(r => r.PartitionKey == ClusterId))
        {
            if (row.GetString("Address") == host.Address.ToString() && row["Port"]?.ToString() == host.SiloPort.ToString(CultureInfo.InvariantCulture) &&
                (newest is null || Generation(row) > Generation(newest)))
            {
                newest = row;
            }
        }
        return newest?.GetString("Status");

        static long Generation(Azure.Data.Tables.TableEntity row) => long.Parse(row["Generation"]!.ToString()!, CultureInfo.InvariantCulture);
    }

    /// <summary>Which silo has <paramref name="address"/>; -1 for none.</summary>
    public int SiloAt(IPAddress address) => Hosts.Select((h, i) => (h, i)).FirstOrDefault(x => x.h.Address.Equals(address), (null!, -1)).Item2;

    /// <summary>
    /// Undoes whatever a scenario left: every link up, storage running, every silo process running and ready (one that
    /// runs but stays unready, say declared dead, is killed and started again).
    /// </summary>
    public async Task HealAsync(Action<string> say)
    {
        if (Network is { } network)
        {
            foreach (var host in network.Hosts)
            {
                await network.RestoreAsync(host.Index);
            }
        }
        Signals.Send(Storage.Pid, Signals.Continue);
        Hold.Release();
        await Task.WhenAll(Silos.Select(async (silo, i) =>
        {
            if (!silo.HasExited && !await ReadyWithinAsync(silo, TimeSpan.FromSeconds(20)))
            {
                say($"silo {i} runs but is not ready: killing it to start it again");
                await silo.KillAsync();
            }
            if (silo.HasExited)
            {
                say($"starting silo {i} again");
                await StartSiloAsync(i, say);
            }
        }));
    }

    /// <summary>How often a silo declared dead while it joins is started again before the suite gives up.</summary>
    private const int JoinAttempts = 3;

    /// <summary>
    /// Starts silo <paramref name="index"/> and waits until it is ready. One that the others declare dead while it joins
    /// (its probes timed out on a loaded machine) exits with Orleans' fail-fast code 134 and is started again, as its
    /// supervisor would (systemd's <c>Restart=always</c>, a pod's restart policy), at most <see cref="JoinAttempts"/>
    /// times; any other exit fails the start. Each such restart is said, so a run shows how often it happened.
    /// </summary>
    public async Task StartSiloAsync(int index, Action<string> say)
    {
        var silo = Silos[index];
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await silo.StartAgainAsync(TimeSpan.FromMinutes(3));
                return;
            }
            catch (InvalidOperationException) when (silo.ExitCode == FailFastExitCode && attempt < JoinAttempts)
            {
                JoinRestarts++;
                say($"silo {index} was declared dead while it joined (exit {FailFastExitCode}); starting it again, as its supervisor would");
            }
        }
    }

    /// <summary>Orleans' exit code when a silo finds itself declared dead (it fails fast).</summary>
    public const int FailFastExitCode = 134;

    /// <summary>How many times a silo had to be started again because it was declared dead while it joined.</summary>
    public int JoinRestarts { get; private set; }

    public async Task<bool> ReadyWithinAsync(ServerProcess silo, TimeSpan timeout)
    {
        try
        {
            await Eventually.Until(async () => (await Admin.OnceAsync(silo.BaseAddress, "/readyz", TimeSpan.FromSeconds(3), anonymous: true)).Status == 200,
                $"{silo.BaseAddress} to be ready", timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public async Task DisposeAsync()
    {
        await _stopFleet.CancelAsync();
        if (_fleetRun is not null)
        {
            await _fleetRun;
        }
        if (Probe is not null)
        {
            await Probe.DisposeAsync();
        }
        foreach (var silo in Silos)
        {
            await silo.DisposeAsync();
        }
        if (Storage is not null)
        {
            await Storage.DisposeAsync();
        }
        if (Network is not null)
        {
            await Network.DisposeAsync();
        }
        Certificates?.Dispose();
        _fleetHttp?.Dispose();
        _apiHttp?.Dispose();
        if (_azuriteFolder is not null)
        {
            try { Directory.Delete(_azuriteFolder, recursive: true); } catch (IOException) { }
        }
        _stopFleet.Dispose();
    }

    /// <summary>The units of the scenarios. The service id is the run's own, so the names need not be.</summary>
    public static class Units
    {
        public const string KillBake = "kill-bake";
        public const string KillRollbackBad = "kill-rollback";
        public const string Cut = "cut-off";
        public const string Stall = "storage-stall";
        public const string Restart = "rolling-restart";
        public const string PairGood = "pair-good";
        public const string PairBad = "pair-bad";
        public const string SharedGood = "shared-good";
        public const string SharedBad = "shared-bad";
    }

    public static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";
}
