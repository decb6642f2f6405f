using Azure;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Snapstone.Grains.Storage;

namespace Snapstone.Server.Hosting;

/// <summary>
/// Set once shutdown starts (SIGTERM, or the host stopping for any reason): readiness turns false at once and the
/// gateway stops retrying, so that nothing holds the process past its grace period.
/// </summary>
public sealed class ShutdownState
{
    private int _stopping;

    public bool IsStopping => Volatile.Read(ref _stopping) == 1;

    /// <summary>True the first time only.</summary>
    public bool Begin() => Interlocked.Exchange(ref _stopping, 1) == 0;
}

/// <summary>What the last storage check found; readiness reads it and never waits on storage itself.</summary>
public sealed record StorageCheck(bool Answered, DateTimeOffset At, string Detail);

/// <summary>
/// Checks storage in the background every <see cref="HealthOptions.StorageCheckSeconds"/>, each check time-boxed
/// by <see cref="HealthOptions.StorageTimeoutSeconds"/>: a table query on the grain table and the package
/// container's existence. A stalled storage account makes a check time out; it never makes <c>/readyz</c> wait.
/// </summary>
public sealed class StorageProbe(StorageAccount account, IPackageStore packages, IOptions<ServerOptions> options, TimeProvider time, ILogger<StorageProbe> logger)
    : BackgroundService
{
    private StorageCheck? _latest;

    /// <summary>Null until the first check has finished.</summary>
    public StorageCheck? Latest => Volatile.Read(ref _latest);

    /// <summary>A result older than this means the checks themselves are stuck.</summary>
    public TimeSpan StaleAfter => TimeSpan.FromSeconds(options.Value.Health.StorageCheckSeconds + options.Value.Health.StorageTimeoutSeconds + 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var health = options.Value.Health;
        var table = account.ControlTables().GetTableClient(options.Value.Storage.GrainTable);
        using var period = new PeriodicTimer(TimeSpan.FromSeconds(health.StorageCheckSeconds), time);
        do
        {
            var check = await CheckAsync(table, TimeSpan.FromSeconds(health.StorageTimeoutSeconds), stoppingToken);
            var previous = Latest;
            Volatile.Write(ref _latest, check);
            if (previous is not null && previous.Answered != check.Answered)
            {
                if (check.Answered)
                    logger.LogInformation("Storage answers again: {Detail}", check.Detail);
                else
                    logger.LogWarning("Storage does not answer: {Detail}; readiness is false until it does", check.Detail);
            }
        }
        while (await WaitAsync(period, stoppingToken));
    }

    private async Task<StorageCheck> CheckAsync(Azure.Data.Tables.TableClient table, TimeSpan timeout, CancellationToken stopping)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        limit.CancelAfter(timeout);
        var started = time.GetTimestamp();
        try
        {
            await Task.WhenAll(QueryAsync(table, limit.Token), packages.PingAsync(limit.Token)).WaitAsync(limit.Token);
            return new StorageCheck(true, time.GetUtcNow(), $"tables and blobs answered in {time.GetElapsedTime(started).TotalMilliseconds:0} ms");
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            return new StorageCheck(false, time.GetUtcNow(), $"no answer within {timeout.TotalSeconds:0.#} s");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new StorageCheck(false, time.GetUtcNow(), $"{e.GetType().Name}: {FirstLine(e.Message)}");
        }
    }

    /// <summary>Any answer from the table service counts, a missing table included (it is created on first write).</summary>
    private static async Task QueryAsync(Azure.Data.Tables.TableClient table, CancellationToken ct)
    {
        try
        {
            await using var pages = table.QueryAsync<Azure.Data.Tables.TableEntity>("PartitionKey eq 'snapstone-readiness'", maxPerPage: 1, cancellationToken: ct)
                .AsPages().GetAsyncEnumerator(ct);
            await pages.MoveNextAsync();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
        }
    }

    private static async Task<bool> WaitAsync(PeriodicTimer period, CancellationToken ct)
    {
        try
        {
            return await period.WaitForNextTickAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}

/// <summary>Ready only while the last storage check answered, recently.</summary>
public sealed class StorageReadiness(StorageProbe probe, TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var latest = probe.Latest;
        var result = latest switch
        {
            null => HealthCheckResult.Unhealthy("storage not checked yet"),
            { Answered: false } => HealthCheckResult.Unhealthy($"storage does not answer: {latest.Detail}"),
            _ when time.GetUtcNow() - latest.At > probe.StaleAfter =>
                HealthCheckResult.Unhealthy($"storage check is {(time.GetUtcNow() - latest.At).TotalSeconds:0} s old (a check is stuck)"),
            _ => HealthCheckResult.Healthy(latest.Detail),
        };
        return Task.FromResult(result);
    }
}

/// <summary>Ready only while this silo is Active in cluster membership and not shutting down.</summary>
public sealed class SiloReadiness(IClusterMembershipService membership, ILocalSiloDetails silo, ShutdownState shutdown) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        if (shutdown.IsStopping)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("shutting down"));
        }
        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"active in membership as {silo.SiloAddress}")
            : HealthCheckResult.Unhealthy($"{status} in membership as {silo.SiloAddress}"));
    }
}

/// <summary>Started once this silo has been Active in membership: it has joined the cluster and run its startup tasks.</summary>
public sealed class SiloStarted(IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
{
    private int _started;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        if (Volatile.Read(ref _started) == 0 && membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress) == SiloStatus.Active)
        {
            Volatile.Write(ref _started, 1);
        }
        return Task.FromResult(Volatile.Read(ref _started) == 1
            ? HealthCheckResult.Healthy($"joined the cluster as {silo.SiloAddress}")
            : HealthCheckResult.Unhealthy("joining the cluster"));
    }
}

/// <summary>
/// Graceful shutdown: on SIGTERM readiness turns false at once; the gateway keeps serving for
/// <see cref="ShutdownOptions.DrainSeconds"/> while load balancers take the process out; then the silo stops
/// gracefully within <see cref="ShutdownOptions.GraceSeconds"/> — it deactivates its grains (their state is already
/// stored), hands its directory partition and reminder range to the other silos and marks itself dead in
/// membership, so the others need not wait for probes to time out — before the HTTP server and the process stop.
/// </summary>
public sealed class GracefulShutdown(ShutdownState state, Silo silo, IOptions<ServerOptions> options, IHostApplicationLifetime lifetime, ILogger<GracefulShutdown> logger)
    : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken ct)
    {
        lifetime.ApplicationStopping.Register(() => Begin("the host is stopping"));
        return Task.CompletedTask;
    }

    public async Task StoppingAsync(CancellationToken ct)
    {
        Begin("shutdown requested");
        var shutdown = options.Value.Shutdown;
        if (shutdown.DrainSeconds > 0)
        {
            logger.LogInformation("Draining for {Seconds} s before the silo stops (Snapstone:Shutdown:DrainSeconds)", shutdown.DrainSeconds);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(shutdown.DrainSeconds), ct);
            }
            catch (OperationCanceledException)
            {
            }
        }
        using var grace = CancellationTokenSource.CreateLinkedTokenSource(ct);
        grace.CancelAfter(TimeSpan.FromSeconds(shutdown.GraceSeconds));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await silo.StopAsync(grace.Token);
            logger.LogInformation("Silo {Silo} stopped in {Seconds:0.0} s: {Outcome}", silo.SiloAddress, clock.Elapsed.TotalSeconds,
                grace.IsCancellationRequested ? $"the grace period of {shutdown.GraceSeconds} s ran out, the rest was cut short" : "grains handed off");
        }
        catch (Exception e)
        {
            logger.LogError(e, "Silo {Silo} did not stop gracefully", silo.SiloAddress);
        }
    }

    private void Begin(string why)
    {
        if (state.Begin())
        {
            logger.LogInformation("Shutting down ({Why}): readiness is false from now on", why);
        }
    }

    public Task StartAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken ct) => Task.CompletedTask;
}
