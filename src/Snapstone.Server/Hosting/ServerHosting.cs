using System.Security.Cryptography;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Orleans.Dashboard;
using Snapstone.Client;
using Snapstone.Server.Http;

namespace Snapstone.Server.Hosting;

public static class ServerHosting
{
    /// <summary>Where the gateway listens unless <c>ASPNETCORE_URLS</c> or <c>--urls</c> says otherwise.</summary>
    public const string DefaultUrl = "http://127.0.0.1:5080";

    /// <summary>
    /// Resolves storage: the configured connection string, or an embedded Azurite started now (the caller
    /// disposes it on shutdown). With embedded storage and no tokens configured, a local admin token is
    /// generated into the data directory so that a fresh clone works without setup.
    /// </summary>
    public static async Task<(string ConnectionString, EmbeddedAzurite? Azurite)> PrepareStorageAsync(WebApplicationBuilder builder, ILogger logger)
    {
        var options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
        if (!string.IsNullOrWhiteSpace(options.Storage.ConnectionString))
        {
            return (options.Storage.ConnectionString, null);
        }
        var dataDirectory = Path.GetFullPath(options.DataDirectory);
        var azurite = await EmbeddedAzurite.StartAsync(Path.Combine(dataDirectory, "azurite"), options.Storage.AzuriteVersion, logger);
        if (!builder.Configuration.GetSection("Snapstone:Auth:Tokens").GetChildren().Any())
        {
            var token = LocalAdminToken(dataDirectory);
            builder.Configuration["Snapstone:Auth:Tokens:0:Name"] = "local-admin";
            builder.Configuration["Snapstone:Auth:Tokens:0:Token"] = token;
            builder.Configuration["Snapstone:Auth:Tokens:0:Scopes:0"] = Scopes.Admin;
            logger.LogWarning("No tokens configured: using the local admin token in {TokenFile} (embedded storage only)", Path.Combine(dataDirectory, "admin-token"));
        }
        return (azurite.ConnectionString, azurite);
    }

    public static WebApplicationBuilder AddSnapstoneServer(this WebApplicationBuilder builder, string connectionString)
    {
        var options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
        var auth = builder.Configuration.GetSection("Snapstone:Auth").Get<AuthOptions>() ?? new AuthOptions();
        if (AuthSetup.Check(auth) is { Count: > 0 } tokenErrors)
        {
            throw new InvalidOperationException("invalid token configuration: " + string.Join("; ", tokenErrors));
        }
        if (auth.Tokens.Count == 0)
        {
            throw new InvalidOperationException("Snapstone:Auth:Tokens is empty: configure at least one token (see README, Configuration)");
        }

        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.Gateway.MaxRequestBytes);
        builder.UseOrleans(silo => silo
            .AddSnapstoneClustering(connectionString, options.Cluster)
            .AddSnapstoneStorage(connectionString, options.Storage)
            .AddSnapstoneDashboard());

        builder.Services.AddSnapstoneOperations();
        builder.Services.AddSnapstoneAuth(builder.Configuration);
        builder.Services.ConfigureHttpJsonOptions(o => SnapstoneJson.Configure(o.SerializerOptions));
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = c => c.ProblemDetails.Detail ??= c.ProblemDetails.Status switch
        {
            StatusCodes.Status415UnsupportedMediaType => "send the body as JSON with Content-Type: application/json",
            StatusCodes.Status404NotFound => $"no endpoint at {c.HttpContext.Request.Method} {c.HttpContext.Request.Path}",
            StatusCodes.Status405MethodNotAllowed => $"{c.HttpContext.Request.Method} is not allowed on {c.HttpContext.Request.Path}",
            _ => null,
        });
        builder.Services.AddOpenApi();
        builder.Services.AddHealthChecks()
            .AddCheck<StorageReadiness>("storage", tags: ["ready"])
            .AddCheck<SiloReadiness>("silo", tags: ["ready"]);
        return builder;
    }

    public static WebApplication MapSnapstone(this WebApplication app)
    {
        app.UseSnapstoneProblems();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = WriteReadiness });
        app.MapOpenApi();
        app.MapOrleansDashboard(routePrefix: "/dashboard");
        app.MapSnapstoneApi();
        app.MapGet("/status", () => Results.Content(StatusPage.Value, "text/html; charset=utf-8")).AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    private static Task WriteReadiness(HttpContext context, Microsoft.Extensions.Diagnostics.HealthChecks.HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString().ToLowerInvariant(), description = e.Value.Description }),
        });
    }

    /// <summary>The public status page: static HTML that reads <c>/v1/status</c> and refreshes itself.</summary>
    private static readonly Lazy<string> StatusPage = new(() =>
    {
        using var stream = typeof(ServerHosting).Assembly.GetManifestResourceStream("StatusPage.html")!;
        return new StreamReader(stream).ReadToEnd();
    });

    private static string LocalAdminToken(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, "admin-token");
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: >= 16 } existing)
        {
            return existing;
        }
        var token = "snp_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        File.WriteAllText(path, token + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return token;
    }
}
