using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Snapstone.Testing;

/// <summary>What one Prometheus job scrapes: a URL (its path is the metrics path) and, when it needs one, a bearer token.</summary>
public sealed record ScrapeTarget(string Job, Uri Url, string? BearerToken = null);

/// <summary>
/// Basic auth on Prometheus' own HTTP API (<c>--web.config.file</c> with <c>basic_auth_users</c>): the user, the password
/// this process sends, and its bcrypt hash as Prometheus stores it.
/// </summary>
public sealed record PrometheusBasicAuth(string User, string Password, string BcryptHash);

/// <summary>One element of an instant vector: its labels and its value (NaN and ±Inf as Prometheus gives them).</summary>
public sealed record PromSample(IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string Label(string name) =>
        Labels.TryGetValue(name, out var value) ? value : throw new KeyNotFoundException($"sample has no label '{name}': {string.Join(",", Labels)}");
}

/// <summary>Prometheus answered a query with <c>status: error</c>.</summary>
public sealed class PrometheusQueryException(string query, string errorType, string error)
    : Exception($"Prometheus refused '{query}': {errorType}: {error}")
{
    public string ErrorType { get; } = errorType;
}

/// <summary>
/// A real Prometheus server for a test: Debian's <c>prometheus</c> binary (2.42; <c>.ci/run</c> installs it,
/// <c>SNAPSTONE_PROMETHEUS</c> points elsewhere) started as a child process with a generated configuration that
/// scrapes the given targets every second, its own throw-away data folder and a free loopback port, never the
/// packaged service or its :9090. <see cref="StartAsync"/> returns once <c>/-/ready</c> answers; <see cref="QueryAsync"/>
/// asks the HTTP API for an instant vector; disposing stops the process and deletes its data.
/// </summary>
public sealed class PrometheusProcess : IAsyncDisposable
{
    private readonly string _directory;
    private readonly StringBuilder _log = new();
    private readonly HttpClient _http;
    private readonly EventHandler _onExit;
    private Process? _process;
    private Process? _watchdog;

    private readonly PrometheusBasicAuth? _basicAuth;

    private PrometheusProcess(string directory, int port, TimeSpan scrapeInterval, PrometheusBasicAuth? basicAuth = null)
    {
        _directory = directory;
        _basicAuth = basicAuth;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
        ScrapeInterval = scrapeInterval;
        _http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        if (basicAuth is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{basicAuth.User}:{basicAuth.Password}")));
        }
        _onExit = (_, _) => Kill();
        AppDomain.CurrentDomain.ProcessExit += _onExit;
    }

    public static string Executable =>
        Environment.GetEnvironmentVariable("SNAPSTONE_PROMETHEUS") is { Length: > 0 } path ? path : "/usr/bin/prometheus";

    /// <summary>The HTTP API, e.g. for <c>Snapstone:Metrics:Prometheus:Url</c>.</summary>
    public Uri BaseAddress { get; }

    public TimeSpan ScrapeInterval { get; }

    /// <summary>The generated <c>prometheus.yml</c>.</summary>
    public string ConfigPath => Path.Combine(_directory, "prometheus.yml");

    /// <summary>The generated <c>web.yml</c> (<c>--web.config.file</c>), written when the API has basic auth.</summary>
    public string WebConfigPath => Path.Combine(_directory, "web.yml");

    /// <summary>Everything the process wrote, for failure messages.</summary>
    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>
    /// Writes the configuration (one job per target, every <paramref name="scrapeInterval"/>, default 1 s), starts
    /// Prometheus on a free loopback port and waits until it is ready (at most <paramref name="readyTimeout"/>, default 30 s).
    /// </summary>
    public static async Task<PrometheusProcess> StartAsync(
        IReadOnlyList<ScrapeTarget> targets, TimeSpan? scrapeInterval = null, TimeSpan? readyTimeout = null, PrometheusBasicAuth? basicAuth = null)
    {
        if (!File.Exists(Executable))
        {
            throw new FileNotFoundException($"no Prometheus at {Executable}: install Debian's prometheus (apt-get install prometheus; .ci/run does) or set SNAPSTONE_PROMETHEUS");
        }
        var interval = scrapeInterval ?? TimeSpan.FromSeconds(1);
        var configuration = Configuration(targets, interval);
        for (var attempt = 1; ; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("snapstone-prometheus-").FullName;
            var prometheus = new PrometheusProcess(directory, Ports.Free(), interval, basicAuth);
            try
            {
                await File.WriteAllTextAsync(prometheus.ConfigPath, configuration);
                if (basicAuth is not null)
                {
                    await File.WriteAllTextAsync(prometheus.WebConfigPath, $"basic_auth_users:\n  {Quote(basicAuth.User)}: {Quote(basicAuth.BcryptHash)}\n");
                }
                await prometheus.StartAgainAsync(readyTimeout);
                return prometheus;
            }
            catch (InvalidOperationException) when (attempt < 3 && prometheus.Log.Contains("address already in use", StringComparison.Ordinal))
            {
                // Another process took the free port between our probe and Prometheus' bind: pick another.
                await prometheus.DisposeAsync();
            }
            catch
            {
                await prometheus.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>
    /// The configuration for <paramref name="targets"/>: <c>scrape_timeout</c> equal to the interval (Prometheus
    /// refuses a longer one), each target its own job so that it keeps its own path and token.
    /// </summary>
    public static string Configuration(IReadOnlyList<ScrapeTarget> targets, TimeSpan scrapeInterval)
    {
        if (targets.Select(t => t.Job).Distinct().Count() != targets.Count)
        {
            throw new ArgumentException("scrape targets need distinct job names");
        }
        var every = $"{(long)Math.Max(1, Math.Round(scrapeInterval.TotalMilliseconds))}ms";
        var yaml = new StringBuilder();
        yaml.AppendLine("global:");
        yaml.AppendLine($"  scrape_interval: {every}");
        yaml.AppendLine($"  scrape_timeout: {every}");
        yaml.AppendLine($"  evaluation_interval: {every}");
        yaml.AppendLine("scrape_configs:");
        foreach (var target in targets)
        {
            yaml.AppendLine($"  - job_name: {Quote(target.Job)}");
            yaml.AppendLine($"    scheme: {target.Url.Scheme}");
            yaml.AppendLine($"    metrics_path: {Quote(target.Url.AbsolutePath)}");
            if (target.BearerToken is { } token)
            {
                yaml.AppendLine("    authorization:");
                yaml.AppendLine("      type: Bearer");
                yaml.AppendLine($"      credentials: {Quote(token)}");
            }
            yaml.AppendLine("    static_configs:");
            yaml.AppendLine($"      - targets: [{Quote(target.Url.Authority)}]");
        }
        return yaml.ToString();
    }

    /// <summary>Starts the process (again, after <see cref="StopAsync"/>) on the same port and data, and waits for <c>/-/ready</c>.</summary>
    public async Task StartAgainAsync(TimeSpan? readyTimeout = null)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("Prometheus is already running");
        }
        var start = new ProcessStartInfo(Executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = _directory,
        };
        foreach (var argument in new[]
        {
            $"--config.file={ConfigPath}",
            $"--storage.tsdb.path={Path.Combine(_directory, "data")}",
            $"--web.listen-address={BaseAddress.Authority}",
            "--storage.tsdb.retention.time=1h",
            // Without these it reads Debian's console templates, which a test has no use for.
            $"--web.console.templates={Path.Combine(_directory, "consoles")}",
            $"--web.console.libraries={Path.Combine(_directory, "console_libraries")}",
        })
        {
            start.ArgumentList.Add(argument);
        }
        if (_basicAuth is not null)
        {
            start.ArgumentList.Add($"--web.config.file={WebConfigPath}");
        }
        _process?.Dispose();
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Executable}");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        _watchdog = Watchdog(process.Id);
        await Eventually.Until(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"Prometheus exited with {process.ExitCode} before it was ready:\n{Log}");
            }
            try
            {
                return (await _http.GetAsync("/-/ready")).StatusCode == HttpStatusCode.OK;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, $"Prometheus at {BaseAddress} to be ready", readyTimeout ?? TimeSpan.FromSeconds(30));
    }

    /// <summary>Stops the process (SIGTERM, as a stopped service would be; SIGKILL after 10 s) and keeps its data.</summary>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }
        using (var term = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await process.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        StopWatchdog();
    }

    /// <summary>An instant query, evaluated now. Throws <see cref="PrometheusQueryException"/> when Prometheus refuses it.</summary>
    public async Task<IReadOnlyList<PromSample>> QueryAsync(string promql)
    {
        using var response = await _http.GetAsync($"/api/v1/query?query={Uri.EscapeDataString(promql)}");
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = body.RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            throw new PrometheusQueryException(promql, root.GetProperty("errorType").GetString() ?? "?", root.GetProperty("error").GetString() ?? "?");
        }
        var data = root.GetProperty("data");
        var result = data.GetProperty("result");
        return data.GetProperty("resultType").GetString() switch
        {
            "vector" => result.EnumerateArray().Select(s => new PromSample(
                s.GetProperty("metric").EnumerateObject().ToDictionary(l => l.Name, l => l.Value.GetString() ?? ""),
                Number(s.GetProperty("value")[1].GetString()!))).ToArray(),
            "scalar" => [new PromSample(new Dictionary<string, string>(), Number(result[1].GetString()!))],
            var type => throw new InvalidOperationException($"'{promql}' gave a {type}; QueryAsync reads instant vectors and scalars"),
        };
    }

    /// <summary>Waits until <paramref name="promql"/> answers something <paramref name="done"/> accepts, and returns it.</summary>
    public Task<IReadOnlyList<PromSample>> UntilAsync(string promql, Func<IReadOnlyList<PromSample>, bool> done, string what, TimeSpan? timeout = null) =>
        Eventually.Until(() => QueryAsync(promql), done, $"{what} (query: {promql})", timeout);

    /// <summary>Waits until every configured target was scraped successfully at least once.</summary>
    public async Task WaitForTargetsUpAsync(TimeSpan? timeout = null)
    {
        await Eventually.Until(async () =>
        {
            using var body = JsonDocument.Parse(await _http.GetStringAsync("/api/v1/targets?state=active"));
            return body.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray()
                .Select(t => $"{t.GetProperty("labels").GetProperty("job").GetString()}: {t.GetProperty("health").GetString()} {t.GetProperty("lastError").GetString()}")
                .ToArray();
        }, targets => targets.Length > 0 && targets.All(t => t.Contains(": up", StringComparison.Ordinal)), "every scrape target to be up", timeout);
    }

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        await StopAsync();
        _process?.Dispose();
        _http.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static double Number(string text) => text switch
    {
        "NaN" => double.NaN,
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ => double.Parse(text, CultureInfo.InvariantCulture),
    };

    private static string Quote(string value) => "'" + value.Replace("'", "''") + "'";

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log) _log.AppendLine(line);
        }
    }

    private void Kill()
    {
        try
        {
            if (_process is { HasExited: false } process)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
        StopWatchdog();
    }

    /// <summary>A shell that stops Prometheus if the test process dies without disposing it (SIGKILL, a crash).</summary>
    private static Process? Watchdog(int prometheusPid)
    {
        var us = Environment.ProcessId;
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(
            $"while kill -0 {us} 2>/dev/null && kill -0 {prometheusPid} 2>/dev/null; do sleep 1; done; " +
            $"if ! kill -0 {us} 2>/dev/null; then kill -TERM {prometheusPid} 2>/dev/null; sleep 5; kill -KILL {prometheusPid} 2>/dev/null; fi");
        return Process.Start(start);
    }

    private void StopWatchdog()
    {
        try
        {
            if (_watchdog is { HasExited: false } watchdog)
            {
                watchdog.Kill();
            }
        }
        catch (InvalidOperationException)
        {
        }
        _watchdog?.Dispose();
        _watchdog = null;
    }
}
