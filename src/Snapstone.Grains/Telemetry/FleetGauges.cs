using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Snapstone.Grains.Telemetry;

/// <summary>Section <c>Snapstone:Telemetry</c>: Snapstone's own metrics and traces.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Snapstone:Telemetry";

    /// <summary>False: no meters are collected, <c>/metrics</c> is not served and nothing is sent over OTLP.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Serve <c>/metrics</c> without a token, for a scraper on a private network that cannot hold one. Otherwise
    /// it needs a token with the <c>read</c> scope, as every GET does.
    /// </summary>
    public bool AnonymousScrape { get; set; }

    /// <summary>How often each silo samples the cluster-wide gauges (enrolled nodes, drift, open incidents).</summary>
    public int GaugeSeconds { get; set; } = 15;
}

/// <summary>
/// Samples the cluster-wide figures the fleet gauges report — nodes per PoP from the fleet grain, the latest drift
/// check, open incidents — every <see cref="TelemetryOptions.GaugeSeconds"/>, so that a scrape costs no grain call.
/// Every silo samples and exports the same figures (aggregate them with <c>max</c>). After three failed samples in a
/// row the gauges report nothing rather than an old figure.
/// </summary>
public sealed class FleetGauges(IGrainFactory grains, IHostApplicationLifetime lifetime, IOptions<TelemetryOptions> options,
    TimeProvider time, ILogger<FleetGauges> logger) : BackgroundService
{
    private const int FailuresBeforeClearing = 3;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The silo starts with the host: sample once it has.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try
            {
                await started.Task;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        using var period = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(1, options.Value.GaugeSeconds)), time);
        var failures = 0;
        do
        {
            try
            {
                SnapstoneMetrics.Fleet = await SampleAsync(grains);
                failures = 0;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                if (++failures == FailuresBeforeClearing)
                {
                    SnapstoneMetrics.Fleet = null;
                    logger.LogWarning("Fleet gauges cleared after {Failures} failed samples: {Reason}", failures, e.Message);
                }
            }
        }
        while (await Next(period, stoppingToken));
    }

    private static async Task<bool> Next(PeriodicTimer period, CancellationToken stoppingToken)
    {
        try
        {
            return await period.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One sample: three grain calls at once.</summary>
    internal static async Task<FleetSample> SampleAsync(IGrainFactory grains)
    {
        var fleet = grains.GetGrain<IFleetGrain>(IFleetGrain.Key).Summary();
        var drift = grains.GetGrain<IFleetDriftGrain>(IFleetDriftGrain.Key).Latest();
        var incidents = grains.GetGrain<IIncidentIndexGrain>(IIncidentIndexGrain.Key).List();
        // Every severity, with 0 when none is open, so a graph or an alert never meets a missing series.
        var open = Enum.GetValues<Domain.Incidents.IncidentSeverity>().ToDictionary(s => s.ToString().ToLowerInvariant(), _ => 0);
        foreach (var incident in (await incidents).Where(i => i.IsOpen))
        {
            open[incident.Severity.ToString().ToLowerInvariant()]++;
        }
        var latest = await drift;
        return new FleetSample((await fleet).Pops, latest.Pops > 0 ? latest.Counts : null, open);
    }
}
