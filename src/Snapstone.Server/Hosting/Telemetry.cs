using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Snapstone.Grains.Telemetry;
using Snapstone.Server.Http;

namespace Snapstone.Server.Hosting;

/// <summary>
/// Snapstone observable through OpenTelemetry: the <c>Snapstone</c> meter, Orleans' meter, ASP.NET Core's and the
/// runtime's, served at <see cref="MetricsPath"/> in the Prometheus text format; and, when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, metrics, traces and logs over OTLP (the standard <c>OTEL_*</c>
/// variables configure it). A trace starts at the gateway's request and follows it through the grains (Orleans'
/// activity propagation carries it across grain calls and silos).
/// </summary>
public static class Telemetry
{
    public const string MetricsPath = "/metrics";

    /// <summary>The service name in OTLP resources and Prometheus' <c>target_info</c>, unless <c>OTEL_SERVICE_NAME</c> says otherwise.</summary>
    public const string ServiceName = "snapstone";

    /// <summary>Orleans' meter and its activity sources (grain calls as the application makes them, and the runtime's own).</summary>
    public const string OrleansMeter = "Microsoft.Orleans";
    public static readonly string[] OrleansSources = ["Microsoft.Orleans.Application", "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Storage", "Microsoft.Orleans.Lifecycle"];

    /// <summary>Whether an OTLP endpoint is configured (environment variable or any configuration source).</summary>
    public static bool OtlpConfigured(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);

    public static WebApplicationBuilder AddSnapstoneTelemetry(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(TelemetryOptions.Section);
        builder.Services.Configure<TelemetryOptions>(section);
        var options = section.Get<TelemetryOptions>() ?? new TelemetryOptions();
        if (!options.Enabled)
        {
            return builder;
        }
        var otlp = OtlpConfigured(builder.Configuration);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : ServiceName))
            .WithMetrics(metrics => metrics
                .AddMeter(SnapstoneMetrics.MeterName, OrleansMeter)
                .AddMeter("System.Runtime")
                .AddAspNetCoreInstrumentation()
                .AddPrometheusExporter());
        if (otlp)
        {
            // Traces and logs only go somewhere over OTLP: without an endpoint they are not collected at all.
            telemetry
                .WithTracing(tracing => tracing
                    .AddSource(OrleansSources)
                    .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsPlumbing(http.Request.Path)))
                .WithLogging(configureBuilder: null, configureOptions: o =>
                {
                    o.IncludeFormattedMessage = true;
                    o.IncludeScopes = true;
                })
                .UseOtlpExporter();
        }
        builder.Services.AddHostedService<FleetGauges>();
        return builder;
    }

    /// <summary>
    /// Maps <see cref="MetricsPath"/>: a token with the <c>read</c> scope, or none when
    /// <see cref="TelemetryOptions.AnonymousScrape"/> is set; and points <c>snapstone.silo.ready</c> at the readiness checks.
    /// </summary>
    public static WebApplication MapSnapstoneMetrics(this WebApplication app)
    {
        var options = app.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        if (!options.Enabled)
        {
            return app;
        }
        var endpoint = app.MapPrometheusScrapingEndpoint(MetricsPath);
        if (options.AnonymousScrape)
        {
            endpoint.AllowAnonymous();
        }
        else
        {
            endpoint.RequireAuthorization(Scopes.Read);
        }
        var checks = new IHealthCheck[]
        {
            ActivatorUtilities.CreateInstance<SiloReadiness>(app.Services),
            ActivatorUtilities.CreateInstance<StorageReadiness>(app.Services),
        };
        SnapstoneMetrics.ObserveReadiness(() => Ready(checks));
        return app;
    }

    /// <summary>What <c>/readyz</c> says, without a request: both checks answer synchronously from state they keep.</summary>
    private static bool Ready(IHealthCheck[] checks)
    {
        var context = new HealthCheckContext();
        foreach (var check in checks)
        {
            try
            {
                if (check.CheckHealthAsync(context).GetAwaiter().GetResult().Status != HealthStatus.Healthy)
                {
                    return false;
                }
            }
            catch (Exception)
            {
                // The membership service is gone while the silo stops: not ready.
                return false;
            }
        }
        return true;
    }

    /// <summary>Scrapes and probes: traced, they would bury the requests worth following.</summary>
    private static bool IsPlumbing(PathString path) =>
        path.StartsWithSegments(MetricsPath) || ServiceDefaults.ProbePaths.Any(p => path.StartsWithSegments(p));
}

/// <summary>
/// Reports as numbers at the gateway: one counter add per request or per batch, with tags made once
/// (<see cref="SnapstoneMetrics.ReportsRefused"/>), never a series per node.
/// </summary>
public static class ReportMetering
{
    /// <summary>
    /// Endpoint filter for <c>POST /v1/nodes/{node}/report</c>: an answered report is ingested, a refused one counted by
    /// the kind of its refusal.
    /// </summary>
    public static async ValueTask<object?> Single(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            var result = await next(context);
            SnapstoneMetrics.ReportsIngested(1);
            return result;
        }
        catch (SnapstoneException e)
        {
            SnapstoneMetrics.ReportsRefused(e.Kind);
            throw;
        }
    }

    /// <summary>Endpoint filter for <c>POST /v1/reports</c>: a batch refused whole counts once, by its kind; its slots are counted by <see cref="Counted"/>.</summary>
    public static async ValueTask<object?> Batch(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (SnapstoneException e)
        {
            SnapstoneMetrics.ReportsRefused(e.Kind);
            throw;
        }
    }

    /// <summary>Counts a batch's slots (accepted, and refused by kind) and answers them unchanged.</summary>
    public static IReadOnlyList<ReportResult> Counted(IReadOnlyList<ReportResult> outcomes)
    {
        var ingested = 0;
        foreach (var outcome in outcomes)
        {
            if (outcome.Error is null)
            {
                ingested++;
            }
            else
            {
                SnapstoneMetrics.ReportsRefused(outcome.Refusal ?? Domain.ProblemKind.Invalid);
            }
        }
        SnapstoneMetrics.ReportsIngested(ingested);
        return outcomes;
    }
}
