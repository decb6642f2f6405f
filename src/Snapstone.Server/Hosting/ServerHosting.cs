using Snapstone.Client;
using Snapstone.Server.Http;
using Snapstone.Server.OperatorConsole;

namespace Snapstone.Server.Hosting;

public static class ServerHosting
{
    /// <summary>Where the gateway listens unless <c>ASPNETCORE_URLS</c> or <c>--urls</c> says otherwise.</summary>
    public const string DefaultUrl = "http://127.0.0.1:5080";

    /// <summary>
    /// Resolves storage: the configured connection string or service endpoint, or an embedded Azurite started now
    /// (the caller disposes it on shutdown). With embedded storage and no tokens configured, a local admin token is
    /// generated into the data directory so that a fresh clone works without setup.
    /// </summary>
    public static async Task<(StorageAccount Account, EmbeddedAzurite? Azurite)> PrepareStorageAsync(WebApplicationBuilder builder, ILogger logger)
    {
        var options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
        var storage = options.Storage;
        if (!string.IsNullOrWhiteSpace(storage.ConnectionString))
        {
            if (storage.ServiceUri is not null)
            {
                throw new InvalidOperationException("set Snapstone:Storage:ConnectionString or Snapstone:Storage:ServiceUri, not both");
            }
            return (StorageAccount.FromConnectionString(storage.ConnectionString, maxConnections: storage.MaxConnections), null);
        }
        if (storage.ServiceUri is { } blobs)
        {
            var account = StorageAccount.FromServiceUri(blobs, storage.TableServiceUri, new Azure.Identity.DefaultAzureCredential(), storage.MaxConnections);
            logger.LogInformation("Storage: {Account}", account.Describe());
            return (account, null);
        }
        var dataDirectory = LocalFiles.PrivateDirectory(Path.GetFullPath(options.DataDirectory), logger);
        var azurite = await EmbeddedAzurite.StartAsync(Path.Combine(dataDirectory, "azurite"), storage.AzuriteVersion, logger);
        if (!builder.Configuration.GetSection("Snapstone:Auth:Tokens").GetChildren().Any())
        {
            var tokenFile = Path.Combine(dataDirectory, "admin-token");
            var token = LocalFiles.AdminToken(tokenFile, logger);
            builder.Configuration["Snapstone:Auth:Tokens:0:Name"] = "local-admin";
            builder.Configuration["Snapstone:Auth:Tokens:0:Token"] = token;
            builder.Configuration["Snapstone:Auth:Tokens:0:Scopes:0"] = Scopes.Admin;
            logger.LogWarning("No tokens configured: using the local admin token in {TokenFile} (embedded storage only)", tokenFile);
        }
        return (StorageAccount.FromConnectionString(azurite.ConnectionString, $"the embedded Azurite, data in {azurite.DataDirectory}", storage.MaxConnections), azurite);
    }

    public static WebApplicationBuilder AddSnapstoneServer(this WebApplicationBuilder builder, StorageAccount storage)
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
        builder.Services.Configure<ServerOptions>(builder.Configuration.GetSection(ServerOptions.Section));
        builder.UseOrleans(silo => silo
            .AddSnapstoneClustering(storage, options.Cluster)
            .AddSnapstoneStorage(storage, options.Storage)
            .AddSnapstoneDashboard()
            .AddActivityPropagation());

        builder.Services.AddSnapstoneOperations();
        builder.Services.AddSnapstoneAuth(builder.Configuration);
        builder.Services.AddSnapstoneAlarms();
        builder.Services.AddDashboardAccess();
        builder.Services.AddSingleton<Http.EventStreams>();
        builder.Services.AddSingleton<Http.StatusCache>();
        builder.Services.ConfigureHttpJsonOptions(o => SnapstoneJson.Configure(o.SerializerOptions));
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = c => c.ProblemDetails.Detail ??= c.ProblemDetails.Status switch
        {
            StatusCodes.Status415UnsupportedMediaType => "send the body as JSON with Content-Type: application/json",
            StatusCodes.Status404NotFound => $"no endpoint at {c.HttpContext.Request.Method} {c.HttpContext.Request.Path}",
            StatusCodes.Status405MethodNotAllowed => $"{c.HttpContext.Request.Method} is not allowed on {c.HttpContext.Request.Path}",
            _ => null,
        });
        builder.Services.AddSnapstoneApiDocument();
        builder.Services.AddSnapstoneConsole();
        return builder;
    }

    public static WebApplication MapSnapstone(this WebApplication app)
    {
        app.UseSnapstoneProblems();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseTransientFailures();
        app.MapSnapstoneConsole();

        app.MapServiceDefaults();
        app.MapOpenApi().AllowAnonymous();
        app.MapDashboard();
        app.MapSnapstoneApi();
        app.MapGet("/status", () => Results.Content(StatusPage.Value, "text/html; charset=utf-8")).AllowAnonymous().ExcludeFromDescription();
        app.Lifetime.ApplicationStarted.Register(() => LogShape(app.Services));
        return app;
    }

    /// <summary>One line that says how this process is exposed: what an operator checks first.</summary>
    private static void LogShape(IServiceProvider services)
    {
        var cluster = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ServerOptions>>().Value.Cluster;
        var listen = ClusterEndpoints.Resolve(cluster).Listen;
        services.GetRequiredService<ILoggerFactory>().CreateLogger("Snapstone.Hosting").LogInformation(
            "Cluster {ClusterId} of service {ServiceId}, {Clustering} clustering: silo port {SiloPort} and gateway port {GatewayPort} listen on {Listen} with {Tls}; storage: {Storage}",
            cluster.ClusterId, cluster.ServiceId, cluster.Clustering, cluster.SiloPort, cluster.GatewayPort,
            listen is null || listen.Equals(System.Net.IPAddress.Any) ? "every address" : listen.ToString(),
            cluster.Tls.Enabled ? "mutual TLS" : cluster.AllowUnencrypted ? "no TLS (Snapstone:Cluster:AllowUnencrypted)" : "no TLS",
            services.GetRequiredService<StorageAccount>().Describe());
    }

    /// <summary>The public status page: static HTML that reads <c>/v1/status</c> and refreshes itself.</summary>
    private static readonly Lazy<string> StatusPage = new(() =>
    {
        using var stream = typeof(ServerHosting).Assembly.GetManifestResourceStream("StatusPage.html")!;
        return new StreamReader(stream).ReadToEnd();
    });
}
