using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;

namespace Snapstone.Testing;

/// <summary>
/// The real Snapstone server as a child process on loopback ports, against the test Azurite. It can be
/// killed (SIGKILL, no goodbye) and started again on the same storage and service id.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    public static readonly IReadOnlyDictionary<string, (string Token, string[] Scopes)> Tokens = new Dictionary<string, (string, string[])>
    {
        ["admin"] = ("test-admin-token-0001", ["admin"]),
        ["ci"] = ("test-ci-token-000002", ["deploy", "read"]),
        ["reviewer"] = ("test-reviewer-token3", ["approve", "read"]),
        ["agent"] = ("test-agent-token-0004", ["agent"]),
        ["reader"] = ("test-reader-token-005", ["read"]),
        ["oncall"] = ("test-oncall-token-006", ["breakglass", "read"]),
        ["ci-approver"] = ("test-ci-approver-0007", ["deploy", "approve", "read"]),
        ["alertmanager"] = ("test-alertmanager-0008", ["alarm"]),
    };

    private readonly Dictionary<string, string> _environment;
    private readonly StringBuilder _log = new();
    private Process? _process;

    private readonly IReadOnlyList<string> _launcher;

    private ServerProcess(Dictionary<string, string> environment, Uri baseAddress, IReadOnlyList<string> launcher)
    {
        _environment = environment;
        BaseAddress = baseAddress;
        _launcher = launcher;
    }

    public Uri BaseAddress { get; }

    /// <summary>The Orleans gateway port, for embedded clients.</summary>
    public int GatewayPort => int.Parse(_environment["Snapstone__Cluster__GatewayPort"]);

    public string ServiceId => _environment["Snapstone__Cluster__ServiceId"];

    public string ClusterId => _environment["Snapstone__Cluster__ClusterId"];

    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    /// <summary>Starts a server on fresh ports with its own service id, and waits until /readyz says ready.</summary>
    public static Task<ServerProcess> StartAsync(IDictionary<string, string>? settings = null, bool withTokens = true) =>
        StartAsync(ServerHost.Loopback(), settings, withTokens);

    /// <summary>
    /// Starts a server at <paramref name="host"/>'s address and ports, run through its launcher (a network namespace of
    /// its own, say), and waits until /readyz says ready. Storage is the test Azurite unless the settings name another.
    /// </summary>
    public static async Task<ServerProcess> StartAsync(ServerHost host, IDictionary<string, string>? settings = null, bool withTokens = true)
    {
        var server = Prepare(host, settings, withTokens, settings?.ContainsKey("Snapstone__Storage__ConnectionString") == true ? null : await TestStorage.ConnectionStringAsync());
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>A server at <paramref name="host"/> with its settings, not started yet: <see cref="StartAgainAsync"/> starts it.</summary>
    public static ServerProcess Prepare(ServerHost host, IDictionary<string, string>? settings, bool withTokens = true, string? storage = null)
    {
        var authority = host.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{host.Address}]" : host.Address.ToString();
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = $"http://{authority}:{host.HttpPort}",
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["Snapstone__Cluster__ServiceId"] = TestStorage.Unique("svc"),
            ["Snapstone__Cluster__ClusterId"] = TestStorage.Unique("cluster"),
            ["Snapstone__Cluster__SiloPort"] = host.SiloPort.ToString(),
            ["Snapstone__Cluster__GatewayPort"] = host.GatewayPort.ToString(),
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Snapstone"] = "Information",
        };
        var i = 0;
        foreach (var (name, (token, scopes)) in withTokens ? Tokens : new Dictionary<string, (string Token, string[] Scopes)>())
        {
            environment[$"Snapstone__Auth__Tokens__{i}__Name"] = name;
            environment[$"Snapstone__Auth__Tokens__{i}__Token"] = token;
            for (var s = 0; s < scopes.Length; s++)
            {
                environment[$"Snapstone__Auth__Tokens__{i}__Scopes__{s}"] = scopes[s];
            }
            i++;
        }
        if (storage is not null)
        {
            environment["Snapstone__Storage__ConnectionString"] = storage;
        }
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }
        return new ServerProcess(environment, new Uri($"http://{authority}:{host.HttpPort}"), host.Launcher);
    }

    /// <summary>Starts the process (again, after a kill or an exit) with the same settings and waits for readiness.</summary>
    public async Task StartAgainAsync(TimeSpan? readyTimeout = null)
    {
        var start = new ProcessStartInfo(_launcher.Count > 0 ? _launcher[0] : "dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (_launcher.Count > 0)
        {
            foreach (var argument in _launcher.Skip(1))
            {
                start.ArgumentList.Add(argument);
            }
            start.ArgumentList.Add("dotnet");
        }
        start.ArgumentList.Add(ServerAssembly());
        foreach (var (key, value) in _environment)
        {
            start.Environment[key] = value;
        }
        lock (_log)
        {
            _log.AppendLine($"--- {DateTime.UtcNow:O}: starting {string.Join(' ', start.ArgumentList.Prepend(start.FileName))}");
        }
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var probe = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        await Eventually.Until(async () =>
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"server exited with {_process.ExitCode}:\n{Log}");
            }
            try
            {
                return (await probe.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, $"the server at {BaseAddress} to be ready", readyTimeout ?? TimeSpan.FromSeconds(90));
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the process to exit by itself; answers its exit code, or null if it still runs.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException("the server has not been started");
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
            return process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>A setting the server was started with (its environment variable), e.g. <c>Snapstone__Cluster__ClusterId</c>.</summary>
    public string Setting(string key) => _environment[key];

    /// <summary>Kills the process at once, as a crash would.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>The server's process id while it runs.</summary>
    public int Pid => _process?.Id ?? throw new InvalidOperationException("the server has not been started");

    public bool HasExited => _process is null || _process.HasExited;

    /// <summary>The exit code of the last run once it has exited; null while it runs or before it ever started.</summary>
    public int? ExitCode => _process is { HasExited: true } process ? process.ExitCode : null;

    /// <summary>The silo-to-silo port.</summary>
    public int SiloPort => int.Parse(_environment["Snapstone__Cluster__SiloPort"]);

    /// <summary>
    /// Sends SIGTERM, as an orchestrator does before it stops a server, and waits up to <paramref name="timeout"/>
    /// for the process to exit; answers its exit code.
    /// </summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException("the server has not been started");
        Signals.Send(process.Id, Signals.Term);
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the server did not exit within {timeout.TotalSeconds:0} s of SIGTERM:\n{Log}");
        }
        return process.ExitCode;
    }

    /// <summary>Freezes the process (SIGSTOP) or thaws it (SIGCONT): a silo that stops answering without dying.</summary>
    public void Pause(bool paused) => Signals.Send(Pid, paused ? Signals.Stop : Signals.Continue);

    /// <summary>An HTTP client for the server carrying the named test token (none for null).</summary>
    public HttpClient Client(string? token = "admin")
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.TryGetValue(token, out var t) ? t.Token : token);
        }
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }

    private static string ServerAssembly()
    {
        // tests/X/bin/<Configuration>/net10.0 → src/Snapstone.Server/bin/<Configuration>/net10.0
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = here.Name;
        var configuration = here.Parent!.Name;
        var root = here.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(root, "src", "Snapstone.Server", "bin", configuration, framework, "Snapstone.Server.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"build the server first: {path} is missing");
    }

    /// <summary>A port nobody listens on at <paramref name="address"/> now.</summary>
    public static int FreePort(IPAddress? address = null) => Ports.Free(address);
}

/// <summary>
/// Where a <see cref="ServerProcess"/> runs: the address its HTTP gateway, silo and gateway ports use, and the command
/// it is run through (empty: this host's own network; <c>ip netns exec NAME</c>: a network namespace of its own).
/// </summary>
public sealed record ServerHost(IPAddress Address, int HttpPort, int SiloPort, int GatewayPort, IReadOnlyList<string> Launcher)
{
    /// <summary>Loopback with free ports, run directly: what every test used before namespaces.</summary>
    public static ServerHost Loopback() =>
        new(IPAddress.Loopback, ServerProcess.FreePort(), ServerProcess.FreePort(), ServerProcess.FreePort(), []);
}

/// <summary>POSIX signals for test processes: a graceful stop (SIGTERM) and a freeze (SIGSTOP, SIGCONT).</summary>
public static class Signals
{
    public const int Term = 15;
    public const int Stop = 19;
    public const int Continue = 18;

    public static void Send(int pid, int signal)
    {
        if (Kill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed with errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
