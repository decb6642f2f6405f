using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Snapstone.Server.Hosting;

/// <summary>
/// What every Snapstone process has whatever else it runs: a log an operator can read, health endpoints as
/// Orleans' hosting guidance has them, and graceful shutdown. Telemetry (OpenTelemetry metrics and traces) is
/// added here too, in <see cref="AddServiceDefaults"/>, so that it is configured in one place.
/// </summary>
public static class ServiceDefaults
{
    public const string LivenessPath = "/healthz";
    public const string ReadinessPath = "/readyz";
    public const string StartupPath = "/startupz";

    /// <summary>The probe paths the server answers, for deploy manifests and their test.</summary>
    public static readonly IReadOnlyList<string> ProbePaths = [LivenessPath, ReadinessPath, StartupPath];

    /// <summary>
    /// Log levels an operator wants by default, below every other configuration source so appsettings,
    /// environment variables and the command line override them: Snapstone's own lines, the silo's start and
    /// stop, the listening URLs, and warnings from everything else. Orleans' placement pipeline logs two Polly
    /// lines per grain placement at Information, and ASP.NET Core one line per request: both are Warning here.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> LogDefaults = new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft"] = "Warning",
        ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information",
        ["Logging:LogLevel:Orleans"] = "Warning",
        ["Logging:LogLevel:Orleans.Runtime.Silo"] = "Information",
        ["Logging:LogLevel:Orleans.Runtime.SiloOptionsLogger"] = "Warning",
        ["Logging:LogLevel:Polly"] = "Warning",
        ["Logging:LogLevel:Azure"] = "Warning",
        ["Logging:LogLevel:System.Net.Http"] = "Warning",
        // One line per failed probe, at Error, while storage is down; Snapstone logs the change of state instead.
        ["Logging:LogLevel:Microsoft.Extensions.Diagnostics.HealthChecks"] = "Critical",
        // A line per request without a valid token.
        ["Logging:LogLevel:Snapstone.Server.Http.BearerTokenHandler"] = "Warning",
        ["Logging:LogLevel:Snapstone.Server.Hosting.DashboardSessionHandler"] = "Warning",
    };

    public static WebApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder)
    {
        // Logging. Logging:Console:FormatterName=json writes one JSON object per line (for log shippers),
        // with a UTC timestamp; the default is the plain console format.
        var defaults = new Dictionary<string, string?>(LogDefaults);
        if (string.Equals(builder.Configuration["Logging:Console:FormatterName"], "json", StringComparison.OrdinalIgnoreCase))
        {
            defaults["Logging:Console:FormatterOptions:TimestampFormat"] = "yyyy-MM-ddTHH:mm:ss.fffZ";
            defaults["Logging:Console:FormatterOptions:UseUtcTimestamp"] = "true";
        }
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = defaults });

        // Health: liveness checks nothing outside the process (a stalled storage account or a dead peer must not
        // get a healthy silo restarted); readiness needs this silo active in membership, storage answering and no
        // shutdown begun; startup needs the silo to have joined once.
        builder.Services.AddSingleton<ShutdownState>();
        builder.Services.AddSingleton<StorageProbe>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StorageProbe>());
        builder.Services.AddSingleton<IHostedService, GracefulShutdown>();
        builder.Services.AddHealthChecks()
            .AddCheck<SiloReadiness>("silo", tags: ["ready"], timeout: TimeSpan.FromSeconds(1))
            .AddCheck<StorageReadiness>("storage", tags: ["ready"], timeout: TimeSpan.FromSeconds(1))
            .AddCheck<SiloStarted>("started", tags: ["startup"], timeout: TimeSpan.FromSeconds(1));
        builder.Services.AddSingleton<SiloStarted>();

        // Shutdown: the host waits for the drain, the silo's grace period and a margin.
        var shutdown = builder.Configuration.GetSection($"{ServerOptions.Section}:Shutdown").Get<ShutdownOptions>() ?? new ShutdownOptions();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdown.HostTimeout);

        // Telemetry: the Snapstone, Orleans, ASP.NET Core and runtime meters at /metrics, and OTLP when configured.
        builder.AddSnapstoneTelemetry();
        return builder;
    }

    public static WebApplication MapServiceDefaults(this WebApplication app)
    {
        app.MapHealthChecks(LivenessPath, new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks(ReadinessPath, new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = WriteReport }).AllowAnonymous();
        app.MapHealthChecks(StartupPath, new HealthCheckOptions { Predicate = c => c.Tags.Contains("startup"), ResponseWriter = WriteReport }).AllowAnonymous();
        app.MapSnapstoneMetrics();
        return app;
    }

    private static Task WriteReport(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString().ToLowerInvariant(), description = e.Value.Description }),
        });
    }
}
