using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Snapstone.Simulator.Cli;

/// <summary>
/// A real Snapstone server for one demo or benchmark run: built from this repository, started as a child
/// process on free loopback ports with embedded storage in a fresh temporary folder and tokens of its own,
/// and killed with its whole process tree (Azurite included) when disposed, on Ctrl-C and on process exit.
/// <para>
/// The simulator references no Snapstone project, so the server is found by walking up from the working
/// directory to <c>src/Snapstone.Server/Snapstone.Server.csproj</c>, built with <c>dotnet build</c>, and
/// started from its build output with <c>dotnet Snapstone.Server.dll</c>.
/// </para>
/// </summary>
public sealed class ServerLauncher : IAsyncDisposable
{
    public const string ServerProject = "src/Snapstone.Server/Snapstone.Server.csproj";

    private readonly Process _process;
    private readonly Process? _watchdog;
    private readonly StreamWriter _log;
    private readonly string _workDirectory;
    private readonly EventHandler _onExit;
    private int _disposed;

    private ServerLauncher(Process process, Process? watchdog, StreamWriter log, Uri baseAddress, string workDirectory, string adminToken, string agentToken, string approverToken)
    {
        _process = process;
        _watchdog = watchdog;
        _log = log;
        _workDirectory = workDirectory;
        BaseAddress = baseAddress;
        AdminToken = adminToken;
        AgentToken = agentToken;
        ApproverToken = approverToken;
        _onExit = (_, _) => Kill();
        AppDomain.CurrentDomain.ProcessExit += _onExit;
    }

    public Uri BaseAddress { get; }

    /// <summary>Token named <c>demo</c> with the <c>admin</c> scope.</summary>
    public string AdminToken { get; }

    /// <summary>Token named <c>fleet</c> with only the <c>agent</c> scope, as a real edge agent would hold.</summary>
    public string AgentToken { get; }

    /// <summary>
    /// Token named <c>approver</c> with the <c>approve</c> and <c>read</c> scopes: the second person who approves
    /// a high-risk rollout that the <c>demo</c> token started (the server refuses approval by the rollout's creator).
    /// </summary>
    public string ApproverToken { get; }

    /// <summary>The server's own process (not its Azurite), e.g. to read its memory.</summary>
    public int ProcessId => _process.Id;

    /// <summary>Everything the server wrote to stdout and stderr.</summary>
    public string LogPath => Path.Combine(_workDirectory, "server.log");

    /// <summary>
    /// Builds and starts the server and waits until <c>GET /readyz</c> answers 200. Progress lines go to
    /// <paramref name="progress"/>. On failure the server is stopped and the exception carries the end of its log.
    /// </summary>
    public static async Task<ServerLauncher> StartAsync(ServerLaunchOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        var root = options.RepositoryRoot ?? FindRepositoryRoot();
        var project = Path.Combine(root, ServerProject);
        if (options.Build)
        {
            progress.WriteLine($"building the server ({options.Configuration}) …");
            await BuildAsync(project, options.Configuration, cancellationToken);
        }
        var assembly = Path.Combine(Path.GetDirectoryName(project)!, "bin", options.Configuration, "net10.0", "Snapstone.Server.dll");
        if (!File.Exists(assembly))
        {
            throw new ServerLaunchException($"{assembly} is missing: build src/Snapstone.Server in {options.Configuration} first");
        }

        var workDirectory = Directory.CreateTempSubdirectory("snapstone-run-").FullName;
        var adminToken = options.Tokens?.Admin ?? NewToken();
        var agentToken = options.Tokens?.Agent ?? NewToken();
        var approverToken = options.Tokens?.Approver ?? NewToken();
        var http = FreePort();
        var start = StartInfo(assembly, workDirectory, http, adminToken, agentToken, options.Settings, approverToken);
        foreach (var (name, value) in options.Environment)
        {
            start.Environment[name] = value;
        }
        var log = new StreamWriter(Path.Combine(workDirectory, "server.log"), append: false, Encoding.UTF8) { AutoFlush = true };
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(log, e.Data);
        process.ErrorDataReceived += (_, e) => Append(log, e.Data);
        if (!process.Start())
        {
            throw new ServerLaunchException($"could not start dotnet {assembly}");
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var server = new ServerLauncher(process, StartWatchdog(process.Id), log, new Uri($"http://127.0.0.1:{http}"), workDirectory, adminToken, agentToken, approverToken);
        try
        {
            progress.WriteLine($"starting the server on {server.BaseAddress} (pid {process.Id}, data in {workDirectory}) …");
            var waited = Stopwatch.StartNew();
            await server.WaitUntilReadyAsync(options.ReadyTimeout, cancellationToken);
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"server ready after {waited.Elapsed.TotalSeconds:0.0} s"));
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The command line and environment for the server: loopback HTTP, free silo and gateway ports, embedded
    /// Azurite in <paramref name="workDirectory"/>, a <c>demo</c> admin token, a <c>fleet</c> agent token and, when
    /// given, an <c>approver</c> token.
    /// Token values travel in the environment rather than on the command line, where any local user could
    /// read them in the process list; names and scopes are plain configuration arguments.
    /// </summary>
    internal static ProcessStartInfo StartInfo(
        string assembly, string workDirectory, int httpPort, string adminToken, string agentToken, IReadOnlyDictionary<string, string> settings,
        string? approverToken = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // so the server never reads from or reacts to our terminal
            // The server reads appsettings.json from its content root, the working directory by default.
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
        };
        // Settings inherited from our own environment would point the server elsewhere (another storage
        // account, another address); this run must be self-contained.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("Snapstone__", StringComparison.OrdinalIgnoreCase) || k == "ASPNETCORE_URLS").ToArray())
        {
            start.Environment.Remove(key);
        }
        var arguments = new List<string>
        {
            assembly,
            "--urls", $"http://127.0.0.1:{httpPort}",
            $"--Snapstone:DataDirectory={Path.Combine(workDirectory, "data")}",
            $"--Snapstone:Cluster:SiloPort={FreePort()}",
            $"--Snapstone:Cluster:GatewayPort={FreePort()}",
            "--Snapstone:Auth:Tokens:0:Name=demo",
            "--Snapstone:Auth:Tokens:0:Scopes:0=admin",
            "--Snapstone:Auth:Tokens:1:Name=fleet",
            "--Snapstone:Auth:Tokens:1:Scopes:0=agent",
        };
        start.Environment["Snapstone__Auth__Tokens__0__Token"] = adminToken;
        start.Environment["Snapstone__Auth__Tokens__1__Token"] = agentToken;
        if (approverToken is not null)
        {
            arguments.Add("--Snapstone:Auth:Tokens:2:Name=approver");
            arguments.Add("--Snapstone:Auth:Tokens:2:Scopes:0=approve");
            arguments.Add("--Snapstone:Auth:Tokens:2:Scopes:1=read");
            start.Environment["Snapstone__Auth__Tokens__2__Token"] = approverToken;
        }
        foreach (var (key, value) in settings)
        {
            arguments.Add($"--{key}={value}");
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        return start;
    }

    /// <summary>The closest folder at or above the working directory, or above this program, that holds <see cref="ServerProject"/>.</summary>
    public static string FindRepositoryRoot()
    {
        foreach (var from in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(from); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, ServerProject)))
                {
                    return dir.FullName;
                }
            }
        }
        throw new ServerLaunchException(
            $"cannot find {ServerProject} above {Environment.CurrentDirectory}: run from the Snapstone repository, or pass --server URL for a running one");
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        Kill();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            // SIGKILL was sent; a process that still lingers is the kernel's to reap.
        }
        _process.Dispose();
        _watchdog?.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
        try
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Azurite may still be closing files; a temporary folder left behind is harmless.
        }
    }

    /// <summary>The last <paramref name="lines"/> lines of the server's log.</summary>
    public string LogTail(int lines = 40)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines)).TrimEnd();
        }
        catch (IOException)
        {
            return "(no server log)";
        }
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var probe = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        var last = "no answer yet";
        while (true)
        {
            if (_process.HasExited)
            {
                throw new ServerLaunchException($"the server exited with code {_process.ExitCode} before it was ready; its log ends with:\n{LogTail()}");
            }
            try
            {
                using var response = await probe.GetAsync("/readyz", cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
                last = $"/readyz answered {(int)response.StatusCode}";
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                last = e.Message;
            }
            if (deadline.Elapsed > timeout)
            {
                throw new ServerLaunchException(
                    $"the server at {BaseAddress} was not ready within {timeout.TotalSeconds:0} s ({last}); its log ends with:\n{LogTail()}");
            }
            await Task.Delay(250, cancellationToken);
        }
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
        try
        {
            if (_watchdog is { HasExited: false } watchdog)
            {
                watchdog.Kill();
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }

    /// <summary>
    /// A shell that kills the server if this process dies without disposing us (SIGKILL, a crash): nothing
    /// else would stop a server nobody uses any more. It leaves once either process is gone.
    /// </summary>
    private static Process? StartWatchdog(int serverPid)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }
        var us = Environment.ProcessId;
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(
            $"while kill -0 {us} 2>/dev/null && kill -0 {serverPid} 2>/dev/null; do sleep 1; done; " +
            $"if ! kill -0 {us} 2>/dev/null; then kill -TERM {serverPid} 2>/dev/null; sleep 5; kill -KILL {serverPid} 2>/dev/null; fi");
        return Process.Start(start);
    }

    private static async Task BuildAsync(string project, string configuration, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "build", project, "-c", configuration, "-nologo", "-v", "quiet" })
        {
            start.ArgumentList.Add(argument);
        }
        using var build = Process.Start(start) ?? throw new ServerLaunchException("could not run dotnet build");
        var output = build.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = build.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await build.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            build.Kill(entireProcessTree: true);
            throw;
        }
        if (build.ExitCode != 0)
        {
            var text = (await output + await errors).Trim();
            throw new ServerLaunchException($"dotnet build {project} -c {configuration} failed with code {build.ExitCode}:\n{text}");
        }
    }

    private static void Append(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    internal static string NewToken() => "snp_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));

    private static readonly HashSet<int> GivenPorts = [];

    /// <summary>
    /// A free port, never one this process handed out before: a released port may come back from the very next bind
    /// to 0, and two of the ports handed to one child must never be the same.
    /// </summary>
    private static int FreePort()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
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
}

/// <summary>How <see cref="ServerLauncher"/> builds and starts the server.</summary>
public sealed record ServerLaunchOptions
{
    /// <summary>The repository holding <see cref="ServerLauncher.ServerProject"/>; null: found from the working directory.</summary>
    public string? RepositoryRoot { get; init; }

    public string Configuration { get; init; } = "Release";

    /// <summary>False starts the existing build output without building first.</summary>
    public bool Build { get; init; } = true;

    /// <summary>The first start installs Azurite from npm, hence the generous default.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>More configuration for the server, e.g. <c>Logging:LogLevel:Default</c> → <c>Warning</c>.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The <c>demo</c>, <c>fleet</c> and <c>approver</c> tokens' values; null: new ones for this server. Silos of one
    /// cluster need the same tokens, since a client may reach any of them (<see cref="LaunchTokens.New"/>).
    /// </summary>
    public LaunchTokens? Tokens { get; init; }

    /// <summary>Environment variables for the server process besides ours, e.g. <c>DOTNET_GCHeapCount</c>.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>The values of the three tokens a launched server knows: <c>demo</c> (admin), <c>fleet</c> (agent) and <c>approver</c>.</summary>
public sealed record LaunchTokens(string Admin, string Agent, string Approver)
{
    public static LaunchTokens New() => new(ServerLauncher.NewToken(), ServerLauncher.NewToken(), ServerLauncher.NewToken());
}

public sealed class ServerLaunchException(string message) : Exception(message);
